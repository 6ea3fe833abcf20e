"""NumPy kernels: the reference implementation of every hot loop.

Each module here has a twin in ``slide_fast._kernels`` with the same function
names, signatures and results.  Estimators reach their kernels only through
one class attribute, ``_kernels``, bound to this package (for example
``self._kernels.network.dense_forward``); the fast classes bind the fast
package there, so the estimator code exists once and no class can silently
fall back to these loops.
"""
from . import active, bf16, hashing, negative, network, rng, scoring, sketch, tables, zsl

#: the kernel modules, the same in both backends
MODULES = ("network", "active", "bf16", "hashing", "tables", "negative", "rng", "scoring",
           "sketch", "zsl")

__all__ = list(MODULES)
