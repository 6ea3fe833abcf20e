# cython: freethreading_compatible = True
"""The instruction-set level every kernel dispatches on (one global per process)."""
from cython.parallel cimport parallel
cimport openmp

cdef extern from "dispatch.h" nogil:
    int slide_cpu_max_level()
    int SLIDE_EMULATED

cdef int _level = 0
cdef int _max_level = slide_cpu_max_level()
_level = _max_level


cdef int get_level() noexcept nogil:
    return _level


def cpu_max_level():
    """Highest level this CPU and OS support (0 scalar, 1 avx2, 2 avx512, 3 avx512_bf16)."""
    return _max_level


def emulated():
    """True in the SIMDe test build, where every level is emulated in portable code."""
    return bool(SLIDE_EMULATED)


def current_level():
    return _level


def set_level(int level):
    """Set the level kernels use; the caller checks it against ``cpu_max_level()``."""
    global _level
    if level < 0 or level > _max_level:
        raise ValueError(f"level {level} is not supported by this CPU (max {_max_level})")
    _level = level


def openmp_max_threads():
    """``omp_get_max_threads()`` of the OpenMP runtime the kernels link."""
    return openmp.omp_get_max_threads()
