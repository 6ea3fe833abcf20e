"""What the benchmark suite (``asv_bench/``) and the figure scripts (``paper_figures/``) share.

* :mod:`slide_bench.configs`: Optimized SLIDE's configurations (A, B, the 670k-label
  shape), the named models trained on them (``slide_fast`` models and PyTorch peers)
  and the batch loop both use;
* :mod:`slide_bench.peers`: the PyTorch CPU peers (used only when torch is installed);
* :mod:`slide_bench.machine`: a description of the machine a measurement ran on.

Installed with the package (``pip install -e .``), so asv's ``existing`` environment
and ``python -m paper_figures...`` import it without path edits.
"""
