"""Build the fast classes from the reference ones.

A fast class is the reference class with its ``_kernels`` attribute pointing
at Cython kernels: the estimator logic exists once, in ``slide_ref``.
"""


def bind(ref_cls, module_name, **kernels):
    """Subclass ``ref_cls`` in ``module_name`` with the given kernel modules bound."""
    attrs = {"__doc__": ref_cls.__doc__, "__module__": module_name,
             "__qualname__": ref_cls.__qualname__, **kernels}
    return type(ref_cls.__name__, (ref_cls,), attrs)
