# cython: freethreading_compatible = True
"""Compact LSH tables; twin of the reference ``_kernels.tables`` (same layout and results)."""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange, parallel
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memset

from slide_fast._kernels._checks cimport check_ids_2d, check_length

cnp.import_array()

cdef extern from "rng.h" nogil:
    int64_t slide_counter_randint(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t n)


def build_tables(const int32_t[:, ::1] buckets, int range_pow, int capacity, bint reservoir,
                 uint64_t seed, uint64_t build_id, int n_threads=1):
    """Group items by bucket in every table (counting sort per table, tables in parallel).

    Index arrays, checked here: ``buckets`` [n_items, L] each in ``[0, 2**range_pow)``
    (O(n_items L), the cost of the counting pass itself; the hash families produce
    them so)."""
    cdef Py_ssize_t n = buckets.shape[0], t, b, i
    cdef int n_tables = buckets.shape[1], failed = 0
    cdef int *failp = &failed  # a flag threads share (assigned names are private)
    if range_pow < 0 or range_pow > 30:
        raise ValueError(f"build_tables: range_pow must lie in [0, 30], got {range_pow}")
    cdef Py_ssize_t n_buckets = (<Py_ssize_t>1) << range_pow
    check_ids_2d(buckets, n_buckets, "buckets", "build_tables")
    # one table's buckets contiguous: the passes below walk tables, not items
    cdef const int32_t[:, ::1] by_table = np.ascontiguousarray(np.asarray(buckets).T)
    offsets_a = np.empty((n_tables, n_buckets + 1), dtype=np.int32)
    cdef int32_t[:, ::1] offsets = offsets_a
    counts_a = np.zeros((n_tables, n_buckets), dtype=np.int32)
    cdef int32_t[:, ::1] counts = counts_a
    sizes_a = np.zeros(n_tables, dtype=np.int64)
    cdef int64_t[::1] sizes = sizes_a
    cdef int64_t acc, kept, r, j, skip, base

    # pass 1: items per bucket, and kept items per bucket as relative offsets
    for t in prange(n_tables, nogil=True, num_threads=n_threads, schedule="dynamic"):
        for i in range(n):
            counts[t, by_table[t, i]] += 1
        acc = 0
        for b in range(n_buckets):
            offsets[t, b] = <int32_t>acc
            kept = counts[t, b]
            if capacity > 0 and kept > capacity:
                kept = capacity
            acc = acc + kept
        offsets[t, n_buckets] = <int32_t>acc
        sizes[t] = acc
    starts = np.zeros(n_tables, dtype=np.int64)
    np.cumsum(sizes_a[:n_tables - 1], out=starts[1:])
    cdef const int64_t[::1] start = starts
    members_a = np.empty(int(sizes_a.sum()), dtype=np.int32)
    cdef int32_t[::1] members = members_a
    cdef int32_t *seen

    # pass 2: place the items, applying FIFO or reservoir per bucket
    with nogil, parallel(num_threads=n_threads):
        seen = <int32_t *>malloc(n_buckets * sizeof(int32_t))
        if seen == NULL:
            failp[0] = 1
        else:
            for t in prange(n_tables, schedule="dynamic"):
                memset(seen, 0, n_buckets * sizeof(int32_t))
                for i in range(n):
                    b = by_table[t, i]
                    r = seen[b]
                    seen[b] += 1
                    base = start[t] + offsets[t, b]
                    if capacity == 0 or counts[t, b] <= capacity:
                        members[base + r] = <int32_t>i
                    elif not reservoir:
                        skip = counts[t, b] - capacity
                        if r >= skip:
                            members[base + r - skip] = <int32_t>i
                    elif r < capacity:
                        members[base + r] = <int32_t>i
                    else:
                        j = slide_counter_randint(seed, t, build_id, i, r + 1)
                        if j < capacity:
                            members[base + j] = <int32_t>i
                for b in range(n_buckets + 1):
                    offsets[t, b] = <int32_t>(offsets[t, b] + start[t])
        free(seen)
    if failed:
        raise MemoryError("build_tables: could not allocate per-thread counters")
    return offsets_a, members_a


cdef extern from "sort.h" nogil:
    void slide_sort_ids(int32_t *a, int64_t n, int32_t *tmp, int32_t max_value)


cdef inline Py_ssize_t _union(const int32_t *bucket_row, int n_tables, const int32_t *offsets,
                              Py_ssize_t stride, const int32_t *members, int32_t *count,
                              int32_t *touched) noexcept nogil:
    """Count the members of one query's buckets into `count`; list distinct ids in `touched`.

    Raw pointers, not memoryviews: passing memoryview slices to a helper costs
    an atomic reference-count update per call."""
    cdef Py_ssize_t size = 0, k
    cdef int t
    cdef int32_t b, m
    for t in range(n_tables):
        b = bucket_row[t]
        for k in range(offsets[t * stride + b], offsets[t * stride + b + 1]):
            m = members[k]
            if count[m] == 0:
                touched[size] = m
                size += 1
            count[m] += 1
    return size


cdef struct _UnionScratch:
    # one thread's working memory of a bucket union: a zeroed count per item and the
    # list of the items touched (each pass leaves the counts zero again)
    int32_t *count
    int32_t *touched


cdef inline _UnionScratch _union_scratch(Py_ssize_t n_items) noexcept nogil:
    """Allocate one thread's union scratch (NULL members when out of memory)."""
    cdef _UnionScratch sc
    sc.count = <int32_t *>calloc(n_items + 1, sizeof(int32_t))
    sc.touched = <int32_t *>malloc((n_items + 1) * sizeof(int32_t))
    return sc


cdef inline void _union_scratch_free(_UnionScratch sc) noexcept nogil:
    free(sc.count)
    free(sc.touched)


cdef int _union_pass(const int32_t[:, ::1] buckets, const int32_t[:, ::1] offsets,
                     const int32_t[::1] members, Py_ssize_t n_items, int64_t[::1] indptr,
                     int32_t[::1] ids, int32_t[::1] counts, bint write,
                     int n_threads) except -1:
    """One parallel pass of :func:`query_tables` over the queries.

    Without ``write``: query ``q``'s union size into ``indptr[q + 1]``.  With
    ``write`` (``indptr`` now the offsets): its ids, sorted, and their table
    counts into ``ids``/``counts`` from ``indptr[q]``."""
    cdef Py_ssize_t n_queries = buckets.shape[0], stride = offsets.shape[1], q, s, size
    cdef int n_tables = buckets.shape[1], failed = 0
    cdef int *failp = &failed  # a flag threads share (assigned names are private)
    cdef const int32_t *mem = &members[0] if members.shape[0] > 0 else NULL
    cdef _UnionScratch sc
    cdef int32_t *count
    cdef int32_t *touched
    cdef int32_t *dst
    with nogil, parallel(num_threads=n_threads):
        sc = _union_scratch(n_items)
        count, touched = sc.count, sc.touched
        if count == NULL or touched == NULL:
            failp[0] = 1
        else:
            for q in prange(n_queries, schedule="dynamic", chunksize=16):
                if not write:
                    size = _union(&buckets[q, 0], n_tables, &offsets[0, 0], stride, mem,
                                  count, touched)
                    indptr[q + 1] = size
                    for s in range(size):
                        count[touched[s]] = 0
                elif indptr[q + 1] > indptr[q]:
                    dst = &ids[indptr[q]]
                    size = _union(&buckets[q, 0], n_tables, &offsets[0, 0], stride, mem,
                                  count, dst)
                    slide_sort_ids(dst, size, touched, <int32_t>n_items)
                    for s in range(size):
                        counts[indptr[q] + s] = count[dst[s]]
                        count[dst[s]] = 0
        _union_scratch_free(sc)
    if failed:
        raise MemoryError("query_tables: could not allocate per-thread scratch")
    return 0


def query_tables(const int32_t[:, ::1] buckets, const int32_t[:, ::1] offsets,
                 const int32_t[::1] members, Py_ssize_t n_items, int n_threads=1):
    """Union of each query's buckets over all tables, sorted by id, with table counts.

    Index arrays.  Relies on the tables' invariants, checked where they are built or
    loaded (``LSHTables``, the state loaders): each row of ``offsets`` runs from 0 to at
    most ``len(members)`` without decreasing, and ``members`` are ids in
    ``[0, n_items)``.  Checked here: ``offsets`` has one row per column of ``buckets``,
    and ``buckets`` [n_queries, L] each in ``[0, offsets.shape[1] - 1)`` (O(n_queries L),
    the cost of reading them)."""
    cdef Py_ssize_t n_queries = buckets.shape[0], stride = offsets.shape[1]
    cdef int n_tables = buckets.shape[1]
    check_length(offsets.shape[0], n_tables, "offsets (rows, one per table)", "query_tables")
    check_ids_2d(buckets, stride - 1, "buckets", "query_tables")
    indptr_a = np.zeros(n_queries + 1, dtype=np.int64)
    empty = np.empty(0, dtype=np.int32)
    # pass 1: union sizes; pass 2: the sorted ids and their counts, at their offsets
    _union_pass(buckets, offsets, members, n_items, indptr_a, empty, empty, False, n_threads)
    np.cumsum(indptr_a, out=indptr_a)
    ids_a = np.empty(indptr_a[n_queries], dtype=np.int32)
    counts_a = np.empty(indptr_a[n_queries], dtype=np.int32)
    _union_pass(buckets, offsets, members, n_items, indptr_a, ids_a, counts_a, True, n_threads)
    return indptr_a, ids_a, counts_a
