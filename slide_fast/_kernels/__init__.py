"""Cython kernels: same modules, names, signatures and results as ``slide_ref._kernels``.

The package is the fast backend's kernel handle: every fast class has it as its
``_kernels`` attribute and calls, for example, ``self._kernels.network.dense_forward``.
``_cpu`` holds the SIMD-level dispatch shared by the modules.
"""
from . import _cpu
from . import active, bf16, hashing, negative, network, rng, scoring, sketch, tables, zsl

#: the kernel modules, the same in both backends
MODULES = ("network", "active", "bf16", "hashing", "tables", "negative", "rng", "scoring",
           "sketch", "zsl")

__all__ = list(MODULES)
