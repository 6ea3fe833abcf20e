"""One script per figure of the papers, each run from the repository root as a module,
e.g. ``python -m paper_figures.fig04_lns_samplers --smoke``; ``python -m
paper_figures.make_docs`` rewrites the results tables of ``docs/`` from their JSON."""
