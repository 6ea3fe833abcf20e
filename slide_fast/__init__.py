"""slide_fast: the API of :mod:`slide_ref` on Cython kernels with SIMD and OpenMP.

Swap backends by import::

    import slide_fast as slide      # instead of: import slide_ref as slide

Extra functions of this backend: :func:`simd_level`, :func:`set_simd_level`,
:func:`available_simd_levels` and :func:`show_config`; the environment
variable ``SLIDE_FAST_SIMD`` picks the level at import.

Every class reaches its kernels through one attribute, ``_kernels``, bound to
the package ``slide_fast._kernels`` (the reference binds ``slide_ref._kernels``).
Each module of this package is its reference module mirrored by one rule,
:func:`slide_fast._binding.mirror`: kernel classes bound, ``module=`` defaults
pointed at this package, everything else re-exported.
The ``slide`` command line is :mod:`slide_fast.cli` (the reference's command
line with both backends).
"""
import os as _os

# OpenMP threads that busy-wait between parallel regions steal the cores from
# the next region, from BLAS threads and from other processes; on small machines
# that made training several times slower under any other load.  Passive waiting
# costs a few microseconds per region.  Only effective if no library loaded the
# OpenMP runtime before this import; an explicit OMP_WAIT_POLICY always wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ._simd_config import available_simd_levels, set_simd_level, simd_level
from ._simd_config import _init_from_env
from ._sysinfo import show_config
from . import classifier, datasets, lsh, metrics, negative, network, nwsketch, zsl
from .classifier import SlideClassifier
from .network import SlideNetwork

from slide_ref import __version__

_init_from_env()
del _init_from_env

__all__ = ["lsh", "network", "negative", "classifier", "datasets", "metrics", "nwsketch", "zsl", "SlideNetwork", "SlideClassifier", "simd_level", "set_simd_level",
           "available_simd_levels", "show_config", "__version__"]
