"""Build each fast module from its reference module, by one rule.

The estimator logic exists once, in ``slide_ref``; a module of this package is
its reference module with the kernels swapped.  :func:`mirror` fills a fast
module's namespace from the reference module's ``__all__``:

- a class with a ``_kernels`` attribute is subclassed with ``_kernels`` bound
  to the Cython kernel package (one defined in another reference module is
  taken from that module's fast twin, so each fast class exists once);
- a function with a ``module=`` parameter (the backend module to build from,
  e.g. ``make_sampler``) is wrapped so that ``module`` defaults to the fast
  twin of the module the function lives in;
- everything else (data classes, constants, pure functions) is re-exported as is.
"""
import functools
import importlib
import inspect
import sys

import slide_fast._kernels as KERNELS

#: the package whose modules mirror the reference's
FAST_PACKAGE = __name__.rpartition(".")[0]


def bind(ref_cls, module_name):
    """Subclass ``ref_cls`` in ``module_name`` with ``_kernels`` bound to the fast kernels."""
    attrs = {"__doc__": ref_cls.__doc__, "__module__": module_name,
             "__qualname__": ref_cls.__qualname__, "_kernels": KERNELS}
    return type(ref_cls.__name__, (ref_cls,), attrs)


def mirror(ref_module, namespace, also=()):
    """Fill ``namespace`` (a fast module's ``globals()``) from ``ref_module``.

    Every name of ``ref_module.__all__``, plus the names in ``also``, is
    translated by :func:`fast_twin`; ``namespace["__all__"]`` becomes the
    reference's ``__all__``.
    """
    module_name = namespace["__name__"]
    names = list(ref_module.__all__)
    for name in (*names, *also):
        namespace[name] = fast_twin(getattr(ref_module, name), ref_module, module_name)
    namespace["__all__"] = names


def fast_twin(obj, ref_module, module_name):
    """What the fast module ``module_name`` exports for ``obj`` of ``ref_module``."""
    if inspect.isclass(obj) and hasattr(obj, "_kernels"):
        if obj.__module__ != ref_module.__name__:     # re-exported: bound in its own module
            return getattr(_fast_module_of(obj.__module__), obj.__name__)
        return bind(obj, module_name)
    if inspect.isfunction(obj) and "module" in inspect.signature(obj).parameters:
        return _default_module(obj, module_name)
    return obj


def _fast_module_of(ref_module_name):
    """The fast twin of the reference module named ``ref_module_name``."""
    return importlib.import_module(f"{FAST_PACKAGE}.{ref_module_name.rpartition('.')[2]}")


def _default_module(func, module_name):
    """``func`` with its ``module`` argument defaulting to the module ``module_name``
    (looked up at call time: the module is still being built when this runs)."""
    signature = inspect.signature(func)

    @functools.wraps(func)
    def with_fast_module(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        if bound.arguments.get("module") is None:
            bound.arguments["module"] = sys.modules[module_name]
        return func(*bound.args, **bound.kwargs)

    with_fast_module.__module__ = module_name
    return with_fast_module
