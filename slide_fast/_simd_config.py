"""Choosing the instruction-set level of the fast kernels.

The level is chosen once at import: the highest the CPU supports, unless the
environment variable ``SLIDE_FAST_SIMD`` names another.  ``set_simd_level``
changes it at run time (tests use it to check every level against the
reference).  Kernels read the level once per call.
"""
import os
import warnings

from ._kernels import _cpu

LEVELS = ("scalar", "avx2", "avx512", "avx512_bf16")
ENV_VAR = "SLIDE_FAST_SIMD"


def available_simd_levels():
    """Levels this CPU can run, lowest first."""
    return list(LEVELS[: _cpu.cpu_max_level() + 1])


def simd_level():
    """Name of the level the kernels use now."""
    return LEVELS[_cpu.current_level()]


def set_simd_level(name):
    """Make every kernel use ``name`` ("scalar", "avx2", "avx512", "avx512_bf16" or "best").

    Raises
    ------
    ValueError
        For an unknown name or a level this CPU lacks.
    """
    if name == "best":
        name = available_simd_levels()[-1]
    if name not in LEVELS:
        raise ValueError(f"unknown SIMD level {name!r}; choose from {list(LEVELS)} or 'best'")
    if name not in available_simd_levels():
        raise ValueError(f"this CPU does not support SIMD level {name!r}; "
                         f"available: {available_simd_levels()}")
    _cpu.set_level(LEVELS.index(name))
    return name


def _init_from_env():
    requested = os.environ.get(ENV_VAR, "").strip().lower()
    if not requested:
        return
    try:
        set_simd_level(requested)
    except ValueError as exc:
        warnings.warn(f"{ENV_VAR}={requested!r} ignored: {exc}", RuntimeWarning, stacklevel=3)
