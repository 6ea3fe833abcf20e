"""Counter-based random numbers; twin of the reference ``_kernels.rng`` (used by tests)."""
import numpy as np
from libc.stdint cimport uint64_t, int64_t

cdef extern from "rng.h" nogil:
    uint64_t slide_splitmix64(uint64_t x)
    double slide_counter_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
    uint64_t slide_counter_hash(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
    int64_t slide_counter_randint(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t n)


def _words(*arrays):
    shape = np.broadcast_shapes(*(np.shape(w) for w in arrays))
    flat = [np.ascontiguousarray(np.broadcast_to(np.asarray(w).astype(np.uint64), shape)).ravel()
            for w in arrays]
    return shape, flat


def counter_hash(seed, a, b=0, c=0):
    """64 random bits for the draws ``(a, b, c)`` of stream ``seed`` (arrays broadcast)."""
    shape, (sa, sb, sc) = _words(a, b, c)
    cdef const uint64_t[::1] va = sa, vb = sb, vc = sc
    out = np.empty(len(sa), dtype=np.uint64)
    cdef uint64_t[::1] vo = out
    cdef uint64_t s = <uint64_t>int(seed)
    cdef Py_ssize_t i
    with nogil:
        for i in range(va.shape[0]):
            vo[i] = slide_counter_hash(s, va[i], vb[i], vc[i])
    return out.reshape(shape)


def counter_randint(seed, a, b, c, n):
    """Integers uniform in ``[0, n)`` (``1 <= n < 2**32``), arrays broadcast."""
    shape, (sa, sb, sc, sn) = _words(a, b, c, n)
    cdef const uint64_t[::1] va = sa, vb = sb, vc = sc, vn = sn
    out = np.empty(len(sa), dtype=np.int64)
    cdef int64_t[::1] vo = out
    cdef uint64_t s = <uint64_t>int(seed)
    cdef Py_ssize_t i
    with nogil:
        for i in range(va.shape[0]):
            vo[i] = slide_counter_randint(s, va[i], vb[i], vc[i], vn[i])
    return out.reshape(shape)


def splitmix64(x):
    """The splitmix64 output function of ``x + golden ratio`` (uint64, wraps; arrays)."""
    shape, (sx,) = _words(x)
    cdef const uint64_t[::1] vx = sx
    out = np.empty(len(sx), dtype=np.uint64)
    cdef uint64_t[::1] vo = out
    cdef Py_ssize_t i
    with nogil:
        for i in range(vx.shape[0]):
            vo[i] = slide_splitmix64(vx[i])
    return out.reshape(shape)


def counter_uniform(seed, a, b=0, c=0):
    """Uniform floats in [0, 1) with 53 random bits (arrays broadcast)."""
    shape, (sa, sb, sc) = _words(a, b, c)
    cdef const uint64_t[::1] va = sa, vb = sb, vc = sc
    out = np.empty(len(sa), dtype=np.float64)
    cdef double[::1] vo = out
    cdef uint64_t s = <uint64_t>int(seed)
    cdef Py_ssize_t i
    with nogil:
        for i in range(va.shape[0]):
            vo[i] = slide_counter_uniform(s, va[i], vb[i], vc[i])
    return out.reshape(shape)
