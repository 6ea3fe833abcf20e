"""slide_fast: the API of :mod:`slide_ref` on Cython kernels with SIMD and OpenMP.

Swap backends by import::

    import slide_fast as slide      # instead of: import slide_ref as slide

Extra functions of this backend: :func:`simd_level`, :func:`set_simd_level`,
:func:`available_simd_levels` and :func:`show_config`; the environment
variable ``SLIDE_FAST_SIMD`` picks the level at import.
"""
from ._simd_config import available_simd_levels, set_simd_level, simd_level
from ._simd_config import _init_from_env
from ._sysinfo import show_config
from . import datasets, lsh, metrics, network

from slide_ref import __version__

_init_from_env()
del _init_from_env

__all__ = ["lsh", "network", "datasets", "metrics", "simd_level", "set_simd_level",
           "available_simd_levels", "show_config", "__version__"]
