"""Build the fast classes from the reference ones.

A fast class is the reference class with its ``_kernels`` attribute pointing
at the Cython kernel package: the estimator logic exists once, in ``slide_ref``.
"""
import slide_fast._kernels as KERNELS


def bind(ref_cls, module_name):
    """Subclass ``ref_cls`` in ``module_name`` with ``_kernels`` bound to the fast kernels
    (the one rule that makes every fast class)."""
    attrs = {"__doc__": ref_cls.__doc__, "__module__": module_name,
             "__qualname__": ref_cls.__qualname__, "_kernels": KERNELS}
    return type(ref_cls.__name__, (ref_cls,), attrs)
