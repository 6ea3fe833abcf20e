"""The kernel handle and sibling classes of a backend.

Every class of the engine reaches its kernels through one class attribute,
``_kernels``: the backend's kernel package (``slide_ref._kernels`` here,
``slide_fast._kernels`` for the fast twins), whose submodules are ``network``,
``active``, ``bf16``, ``hashing``, ``tables``, ``negative``, ``rng``, ``sketch``
and ``zsl``.  Classes that build other classes of the same backend (the
network its layers and samplers, a sampler its LSH index) find them in the
package their own class lives in, with :func:`sibling`.
"""
import importlib

from . import _kernels

KERNELS = _kernels


def sibling(obj, module):
    """The module ``module`` (e.g. ``"lsh"``) of the backend package ``obj``'s class lives in."""
    cls = obj if isinstance(obj, type) else type(obj)
    package = cls.__module__.split(".")[0]
    return importlib.import_module(f"{package}.{module}")
