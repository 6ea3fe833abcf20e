"""``show_config()``: what the fast backend runs with."""
import os
import platform
import sys

import numpy as np

from . import _simd_config
from ._kernels import _cpu


def config_info():
    """The facts ``show_config`` prints, as a dict."""
    from threadpoolctl import threadpool_info

    import scipy
    info = {
        "slide": _version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "simd_level": _simd_config.simd_level(),
        "simd_available": _simd_config.available_simd_levels(),
        "simd_emulated": _cpu.emulated(),
        "bf16_dot": ("VDPBF16PS" if _simd_config.simd_level() == "avx512_bf16"
                     else "emulated: integer rounding, fp32 multiply-add"),
        "openmp_max_threads": _cpu.openmp_max_threads(),
        "transparent_hugepages": _thp_mode(),
        "numpy_madvise_hugepage": _numpy_hugepage(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(runtime default)"),
        "threadpools": [{k: p.get(k) for k in ("user_api", "internal_api", "num_threads",
                                               "version", "filepath")}
                        for p in threadpool_info()],
    }
    return info


def _thp_mode():
    """The kernel's transparent-hugepage mode ("always", "madvise", "never") or None."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            text = f.read()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None


def _numpy_hugepage():
    """Whether NumPy advises huge pages (madvise) for its large arrays: the weight, moment
    and table arrays of the engine are plain NumPy arrays, so this is what backs them."""
    try:
        from numpy._core.multiarray import _get_madvise_hugepage
    except ImportError:       # older layout or another platform
        return None
    return bool(_get_madvise_hugepage())


def _version():
    try:
        from importlib.metadata import version
        return version("slide")
    except Exception:  # not installed as a distribution (for example run from a checkout)
        return "unknown"


def show_config(file=None):
    """Print the SIMD level, OpenMP threads, BLAS and library versions."""
    info = config_info()
    out = file or sys.stdout
    print("slide_fast configuration", file=out)
    for key in ("slide", "python", "platform", "numpy", "scipy"):
        print(f"  {key:<20}{info[key]}", file=out)
    print(f"  {'simd_level':<20}{info['simd_level']} "
          f"(available: {', '.join(info['simd_available'])}; override with "
          f"{_simd_config.ENV_VAR})", file=out)
    if info["simd_emulated"]:
        print(f"  {'':<20}EMULATED by SIMDe: a test build, far slower than native", file=out)
    print(f"  {'huge pages':<20}kernel THP {info['transparent_hugepages']}, NumPy madvise "
          f"{info['numpy_madvise_hugepage']}", file=out)
    print(f"  {'bf16 dot product':<20}{info['bf16_dot']} (bf16=1, 2)", file=out)
    print(f"  {'openmp threads':<20}{info['openmp_max_threads']} "
          f"(wait policy {info['omp_wait_policy']})", file=out)
    for pool in info["threadpools"]:
        print(f"  {pool['user_api']:<20}{pool['internal_api']} {pool['version']}, "
              f"{pool['num_threads']} threads ({pool['filepath']})", file=out)
