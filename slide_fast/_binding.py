"""Build the fast classes from the reference ones.

A fast class is the reference class with its ``_kernels`` attribute pointing
at the Cython kernel package: the estimator logic exists once, in ``slide_ref``.
"""
import slide_fast._kernels as KERNELS
# imported for attribute access on the package (``KERNELS.network.dense_forward``)
from slide_fast._kernels import (active, bf16, hashing, negative, network, rng,  # noqa: F401
                                 scoring,
                                 sketch, tables, zsl)


def bind(ref_cls, module_name, **extra):
    """Subclass ``ref_cls`` in ``module_name`` with ``_kernels`` bound to the fast kernels.

    ``extra`` class attributes are kept for the classes that still take per-module
    bindings (the NW sketch and zero-shot modules).
    """
    attrs = {"__doc__": ref_cls.__doc__, "__module__": module_name,
             "__qualname__": ref_cls.__qualname__, "_kernels": KERNELS, **extra}
    return type(ref_cls.__name__, (ref_cls,), attrs)
