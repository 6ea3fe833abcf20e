"""slide_ref: the readable NumPy reference of slide's randomized training algorithms.

Modules
-------
lsh
    Hash families (DWTA, WTA, SimHash, densified MinHash, p-stable) and
    compact LSH tables (SLIDE section 2).
datasets
    Extreme-classification files and synthetic data.
negative
    Output-layer samplers: LSH Embedding / LSH Label (LNS) and static baselines.
network
    The SLIDE training engine.
metrics
    P@k, nDCG@k and their propensity-scored versions.
nwsketch
    NW sketch of the loss regression and example samplers (importance sampling
    of training examples).
zsl
    Soft-label zero-shot learning with a frozen attribute layer; ESZSL and
    SJE baselines; the GBU evaluation protocol.

``slide_fast`` has the same API on compiled kernels; change the import to
switch.
"""
__version__ = "0.1.0"

from . import classifier, datasets, lsh, metrics, negative, network, nwsketch, zsl
from .classifier import SlideClassifier
from .network import SlideNetwork

__all__ = ["lsh", "network", "negative", "classifier", "datasets", "metrics", "nwsketch", "zsl", "SlideNetwork", "SlideClassifier", "__version__"]
