# cython: freethreading_compatible = True
"""Cython kernels of the NW sketch; twin of the reference ``_kernels.sketch``.

``mix_buckets`` and ``query`` run in parallel over points; ``insert`` runs in
parallel over sketch rows, each thread owning whole rows, so there are no
races and every bucket receives its points in input order (the reference's
order, hence the same float64 sums).  The loops are gathers and scatters of
a few bytes each: memory-bound scalar C, except the bucket mixing (``_simd/mix.h``:
scalar and AVX2 splitmix64 chains, chosen at run time).
"""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from slide_fast._kernels._cpu cimport get_level
from slide_fast._kernels._checks cimport check_ids, check_ids_2d, check_length

cnp.import_array()

# Below this many bucket updates a kernel runs on one thread: a batch insert is tens of
# microseconds of work, less than waking a second thread that may be descheduled.
MIN_PARALLEL = 1 << 16

cdef extern from "rng.h" nogil:
    uint64_t slide_splitmix64(uint64_t x)
    double slide_counter_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)


ctypedef void (*slide_mix_rows_fn)(const int32_t *codes, int n_rows, int K,
                                   const uint64_t *seeds, uint64_t W, int32_t *out) noexcept nogil

cdef extern from "mix.h" nogil:
    slide_mix_rows_fn slide_mix_rows_for_level(int level)


def mix_buckets(const int32_t[:, ::1] codes, int n_rows, int K, const uint64_t[::1] seeds,
                int n_buckets, int n_threads=1):
    """Bucket of each row from a splitmix64 chain over its ``K`` codes, scaled into ``[0, W)``.

    No index arrays: ``codes`` [n, n_rows * K] are only mixed; checked here: its width
    and one seed per row."""
    if codes.shape[1] != <Py_ssize_t>n_rows * K or seeds.shape[0] < n_rows:
        raise ValueError(f"mix_buckets: codes needs {n_rows} x {K} columns and seeds "
                         f"{n_rows} entries, got {codes.shape[1]} and {seeds.shape[0]}")
    cdef Py_ssize_t n = codes.shape[0], i
    buckets = np.empty((n, n_rows), dtype=np.int32)
    cdef int32_t[:, ::1] out = buckets
    if n == 0:
        return buckets
    cdef slide_mix_rows_fn mix = slide_mix_rows_for_level(get_level())
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="static"):
        mix(&codes[i, 0], n_rows, K, &seeds[0], <uint64_t>n_buckets, &out[i, 0])
    return buckets


cdef int _check_buckets(const int32_t[:, ::1] buckets, const double[:, :, ::1] table,
                        str kernel) except -1:
    """One bucket per sketch row, each a column of ``table`` [R, width, 2]."""
    if buckets.shape[1] != table.shape[0] or table.shape[2] != 2:
        raise ValueError(f"{kernel}: buckets has {buckets.shape[1]} columns for a table of "
                         f"shape ({table.shape[0]}, {table.shape[1]}, {table.shape[2]})")
    check_ids_2d(buckets, table.shape[1], "buckets", kernel)
    return 0


def insert(const int32_t[:, ::1] buckets, const double[::1] values, double[:, :, ::1] table,
           int n_threads=1):
    """``table[r, b] += (1, value)`` for every point and row, in place.

    Index arrays, checked here: ``buckets`` [n, R] each in ``[0, table.shape[1])``
    (O(n R), the cost of the insert itself; ``mix_buckets`` produces them so); one
    value per point."""
    cdef Py_ssize_t n = buckets.shape[0], i
    cdef int R = <int>table.shape[0], r
    cdef int32_t b
    _check_buckets(buckets, table, "insert")
    check_length(values.shape[0], n, "values", "insert")
    if n * R < MIN_PARALLEL:
        n_threads = 1
    for r in prange(R, nogil=True, num_threads=n_threads, schedule="static"):
        for i in range(n):
            b = buckets[i, r]
            table[r, b, 0] += 1.0
            table[r, b, 1] += values[i]


def insert_rows(const int32_t[:, ::1] buckets, const int64_t[::1] rows, const double[::1] values,
                double[:, :, ::1] table, int n_threads=1):
    """:func:`insert` of the points ``buckets[rows[i]]`` (gather fused, rows in order).

    Index arrays, checked here: ``rows`` (int64) each in ``[0, buckets.shape[0])``,
    ``buckets`` as in :func:`insert`, one value per entry of ``rows``."""
    cdef Py_ssize_t n = rows.shape[0], i
    cdef int R = <int>table.shape[0], r
    cdef int32_t b
    _check_buckets(buckets, table, "insert_rows")
    check_ids(rows, buckets.shape[0], "rows", "insert_rows")
    check_length(values.shape[0], n, "values", "insert_rows")
    if n * R < MIN_PARALLEL:
        n_threads = 1
    for r in prange(R, nogil=True, num_threads=n_threads, schedule="static"):
        for i in range(n):
            b = buckets[rows[i], r]
            table[r, b, 0] += 1.0
            table[r, b, 1] += values[i]


def query(const int32_t[:, ::1] buckets, const double[:, :, ::1] table, double prior,
          double prior_weight, int n_threads=1):
    """Ratio of row sums shrunk towards ``prior`` (``prior`` where the denominator is 0).

    Index arrays, checked here: ``buckets`` as in :func:`insert`."""
    cdef Py_ssize_t n = buckets.shape[0], i
    cdef int R = <int>table.shape[0], r
    cdef int32_t b
    _check_buckets(buckets, table, "query")
    cdef double c, s, den, pw = prior_weight * R
    scores = np.empty(n, dtype=np.float64)
    cdef double[::1] out = scores
    if n * R < MIN_PARALLEL:
        n_threads = 1
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="static"):
        c = 0.0
        s = 0.0
        for r in range(R):
            b = buckets[i, r]
            c = c + table[r, b, 0]
            s = s + table[r, b, 1]
        den = c + pw
        if den > 0:
            out[i] = (s + pw * prior) / den
        else:
            out[i] = prior
    return scores


def sample_cdf(const double[::1] cdf, uint64_t seed, uint64_t step, Py_ssize_t n_draws,
               int n_threads=1):
    """Indices drawn from a running sum: first ``i`` with ``cdf[i] > u * cdf[-1]``.

    No index arrays: the draws are searched in ``cdf``."""
    cdef Py_ssize_t N = cdf.shape[0], j, lo, hi, mid
    cdef double u, total = cdf[N - 1]
    out_a = np.empty(n_draws, dtype=np.int64)
    cdef int64_t[::1] out = out_a
    with nogil:
        for j in range(n_draws):
            u = slide_counter_uniform(seed, step, <uint64_t>j, 0) * total
            lo = 0
            hi = N          # searchsorted(side="right"): first index with cdf > u
            while lo < hi:
                mid = (lo + hi) >> 1
                if cdf[mid] <= u:
                    lo = mid + 1
                else:
                    hi = mid
            out[j] = lo if lo < N else N - 1
    return out_a
