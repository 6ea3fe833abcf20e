# cython: freethreading_compatible = True
"""Cython kernels for the LSH hash families; twin of the reference ``_kernels.hashing``.

Rows are processed in parallel (OpenMP, ``n_threads``) with per-thread
scratch.  The dense float32 kernels dispatch on the SIMD level of
``slide_fast._kernels._cpu``; float64 and CSR kernels are scalar C.
"""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange, parallel
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t, int8_t
from libc.stdlib cimport malloc, free
from libc.math cimport floor

from slide_fast._kernels._cpu cimport get_level
from slide_fast._kernels._checks cimport check_indptr_any, check_length

cnp.import_array()

ctypedef fused floating:
    float
    double

ctypedef fused index_t:
    int32_t
    int64_t

cdef extern from "wta.h" nogil:
    ctypedef void (*slide_wta_f32_fn)(const float *x, const int32_t *slots_t, int n_hashes,
                                      int bin_size, int32_t *out) noexcept nogil
    slide_wta_f32_fn slide_wta_f32_for_level(int level)
    void slide_wta_f64(const double *x, const int32_t *slots_t, int n_hashes, int bin_size,
                       int32_t *out)

cdef extern from "simhash.h" nogil:
    ctypedef void (*slide_simhash_f32_fn)(const float *x, const int32_t *idx_t,
                                          const int8_t *sign_t, int n_hashes, int m,
                                          int32_t *out) noexcept nogil
    slide_simhash_f32_fn slide_simhash_f32_for_level(int level)
    void slide_simhash_f64(const double *x, const int32_t *idx_t, const int8_t *sign_t,
                           int n_hashes, int m, int32_t *out)

cdef extern from "axpy.h" nogil:
    ctypedef void (*slide_axpy_f64_fn)(double a, const double *w, double *acc,
                                       int64_t n) noexcept nogil
    slide_axpy_f64_fn slide_axpy_f64_for_level(int level)

cdef extern from "densify.h" nogil:
    void slide_densify_row(int32_t *codes, int32_t *scratch, int n_hashes, uint32_t probe_seed)

cdef extern from "rng.h" nogil:
    uint64_t slide_splitmix64(uint64_t x)


def densify(codes, probe_seed):
    """Fill the empty bins (code -1) of int32 ``codes`` [n, n_hashes] in place by SLIDE's
    probing densification and return ``codes`` (see the reference).

    The probed bins are computed in ``[0, n_hashes)``; no index arrays.
    """
    cdef int32_t[:, ::1] c = codes
    cdef Py_ssize_t n = c.shape[0], n_hashes = c.shape[1], i
    cdef uint32_t seed = <uint32_t>(int(probe_seed) & 0xFFFFFFFF)
    scratch_a = np.empty(max(n_hashes, 1), dtype=np.int32)
    cdef int32_t[::1] scratch = scratch_a
    if n_hashes == 0:
        return codes
    with nogil:
        for i in range(n):
            slide_densify_row(&c[i, 0], &scratch[0], <int>n_hashes, seed)
    return codes


cdef inline void _project_row(const floating *x, Py_ssize_t d, const double *W, int n_hashes,
                              double *acc, slide_axpy_f64_fn axpy) noexcept nogil:
    """``acc = x @ W`` for one dense row and ``W`` [d][n_hashes]: an AXPY per non-zero
    coordinate, in ascending coordinate order (the reference's summation order)."""
    cdef Py_ssize_t c
    cdef int h
    for h in range(n_hashes):
        acc[h] = 0.0
    for c in range(d):
        if x[c] != 0.0:
            axpy(x[c], W + c * n_hashes, acc, n_hashes)


# --------------------------------------------------------------------------- WTA / DWTA
def wta_dense(const floating[:, ::1] X, const int32_t[:, ::1] slots, int n_threads=1):
    """WTA codes of dense rows (see the reference ``_kernels.hashing.wta_dense``).

    Index arrays: ``slots`` [n_hashes, m] each in ``[0, X.shape[1])``, drawn by the hash
    family in range and checked by its state loader."""
    cdef Py_ssize_t n = X.shape[0], i
    cdef int n_hashes = slots.shape[0], bin_size = slots.shape[1]
    cdef const int32_t[:, ::1] slots_t = np.ascontiguousarray(np.asarray(slots).T)
    codes = np.empty((n, n_hashes), dtype=np.int32)
    cdef int32_t[:, ::1] out = codes
    cdef slide_wta_f32_fn fn = slide_wta_f32_for_level(get_level())
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="static"):
        if floating is float:
            fn(&X[i, 0], &slots_t[0, 0], n_hashes, bin_size, &out[i, 0])
        else:
            slide_wta_f64(&X[i, 0], &slots_t[0, 0], n_hashes, bin_size, &out[i, 0])
    return codes


def wta_dense_packed(const floating[:, ::1] X, const int32_t[:, ::1] slots, int n_tables, int K,
                     int shift, int range_pow, int n_threads=1):
    """Bucket ids of dense rows: WTA codes into per-thread scratch, packed at once.

    Index arrays: ``slots`` as in :func:`wta_dense`, drawn by the hash family in range
    and checked by its state loader."""
    cdef Py_ssize_t n = X.shape[0], i
    cdef int n_hashes = slots.shape[0], bin_size = slots.shape[1], t, j, failed = 0
    cdef int *failp = &failed  # a flag threads share (assigned names are private)
    cdef const int32_t[:, ::1] slots_t = np.ascontiguousarray(np.asarray(slots).T)
    buckets = np.empty((n, n_tables), dtype=np.int32)
    cdef int32_t[:, ::1] out = buckets
    cdef slide_wta_f32_fn fn = slide_wta_f32_for_level(get_level())
    cdef uint64_t packed, mask = (<uint64_t>1 << range_pow) - 1
    cdef int32_t *codes
    with nogil, parallel(num_threads=n_threads):
        codes = <int32_t *>malloc(n_hashes * sizeof(int32_t))
        if codes == NULL:
            failp[0] = 1
        else:
            for i in prange(n, schedule="static"):
                if floating is float:
                    fn(&X[i, 0], &slots_t[0, 0], n_hashes, bin_size, codes)
                else:
                    slide_wta_f64(&X[i, 0], &slots_t[0, 0], n_hashes, bin_size, codes)
                for t in range(n_tables):
                    packed = 0
                    for j in range(K):
                        if (K - 1 - j) * shift < range_pow:
                            packed = packed + (<uint64_t><int64_t>codes[t * K + j]
                                               << ((K - 1 - j) * shift))
                    out[i, t] = <int32_t>(packed & mask)
            free(codes)
    if failed:
        raise MemoryError("wta_dense_packed: could not allocate per-thread scratch")
    return buckets


def wta_csr(const index_t[::1] indptr, const index_t[::1] indices, const floating[::1] data,
            Py_ssize_t n_features, const int32_t[:, ::1] slots, int n_threads=1):
    """WTA codes of CSR rows with absent coordinates taken as 0.

    Relies on: ``indices`` each in ``[0, n_features)``, checked by ``check_matrix`` (one
    per non-zero: not re-checked here). Checked here: ``indptr`` runs from 0 to
    ``len(indices)`` without decreasing, ``data`` aligned with ``indices``. ``slots``
    each in ``[0, n_features)``, drawn by the hash family in range and checked by its
    state loader."""
    check_indptr_any(indptr, indptr.shape[0] - 1, indices.shape[0], "indptr", "wta_csr")
    check_length(data.shape[0], indices.shape[0], "data", "wta_csr")
    cdef Py_ssize_t n = indptr.shape[0] - 1, i, k, z
    cdef int n_hashes = slots.shape[0], bin_size = slots.shape[1], failed = 0
    cdef int *failp = &failed  # a flag threads share (assigned names are private)
    cdef const int32_t[:, ::1] slots_t = np.ascontiguousarray(np.asarray(slots).T)
    codes = np.empty((n, n_hashes), dtype=np.int32)
    cdef int32_t[:, ::1] out = codes
    cdef slide_wta_f32_fn fn = slide_wta_f32_for_level(get_level())
    cdef floating *row
    with nogil, parallel(num_threads=n_threads):
        row = <floating *>malloc(n_features * sizeof(floating))
        if row == NULL:
            failp[0] = 1
        else:
            for z in range(n_features):
                row[z] = 0
            for i in prange(n, schedule="static"):
                for k in range(indptr[i], indptr[i + 1]):
                    row[indices[k]] = data[k]
                if floating is float:
                    fn(row, &slots_t[0, 0], n_hashes, bin_size, &out[i, 0])
                else:
                    slide_wta_f64(row, &slots_t[0, 0], n_hashes, bin_size, &out[i, 0])
                for k in range(indptr[i], indptr[i + 1]):
                    row[indices[k]] = 0
            free(row)
    if failed:
        raise MemoryError("wta_csr: could not allocate per-thread scratch")
    return codes


def dwta_csr(const index_t[::1] indptr, const index_t[::1] indices, const floating[::1] data,
             const int64_t[::1] coord_ptr, const int32_t[::1] coord_bin,
             const int32_t[::1] coord_pos, int n_hashes, uint64_t probe_seed, int n_threads=1):
    """Densified WTA codes of CSR rows (see the reference for the tie rule).

    Relies on: ``indices`` each in ``[0, n_features)``, checked by ``check_matrix`` (one
    per non-zero: not re-checked here). Checked here: ``indptr`` runs from 0 to
    ``len(indices)`` without decreasing, ``data`` aligned with ``indices``. The
    coordinate lists (``coord_ptr`` [n_features + 1] over ``coord_bin``/``coord_pos``,
    bins in ``[0, n_hashes)``) are built by the family from its slots, drawn by the hash
    family in range and checked by its state loader."""
    check_indptr_any(indptr, indptr.shape[0] - 1, indices.shape[0], "indptr", "dwta_csr")
    check_length(data.shape[0], indices.shape[0], "data", "dwta_csr")
    cdef Py_ssize_t n = indptr.shape[0] - 1, i, k, e
    cdef int failed = 0, b, pos, h
    cdef int *failp = &failed  # a flag threads share (assigned names are private)
    cdef floating v
    codes = np.empty((n, n_hashes), dtype=np.int32)
    cdef int32_t[:, ::1] out = codes
    cdef floating *best
    cdef int32_t *scratch
    cdef int32_t *code
    with nogil, parallel(num_threads=n_threads):
        best = <floating *>malloc(n_hashes * sizeof(floating))
        scratch = <int32_t *>malloc(n_hashes * sizeof(int32_t))
        if best == NULL or scratch == NULL:
            failp[0] = 1
        else:
            for i in prange(n, schedule="dynamic", chunksize=64):
                code = &out[i, 0]
                for h in range(n_hashes):
                    code[h] = -1
                for k in range(indptr[i], indptr[i + 1]):
                    v = data[k]
                    for e in range(coord_ptr[indices[k]], coord_ptr[indices[k] + 1]):
                        b = coord_bin[e]
                        pos = coord_pos[e]
                        if code[b] == -1 or v > best[b] or (v == best[b] and pos < code[b]):
                            best[b] = v
                            code[b] = pos
                slide_densify_row(code, scratch, n_hashes, <uint32_t>probe_seed)
        free(best)
        free(scratch)
    if failed:
        raise MemoryError("dwta_csr: could not allocate per-thread scratch")
    return codes


# --------------------------------------------------------------------------- SimHash
# a dense sign matrix [d, n_hashes] of doubles up to this many entries (32 MB)
DENSE_SIGNS_MAX = 1 << 22


def simhash_dense(const floating[:, ::1] X, const int32_t[:, ::1] idx, const int8_t[:, ::1] sign,
                  int n_threads=1):
    """Sign bits of sparse +-1 projections of dense rows.

    Every path sums each function's terms in ascending coordinate order, the
    order of the reference, so the bits are identical.  When the sign matrix is
    small it is expanded to a dense ``[d, n_hashes]`` array and each row is
    projected by contiguous AXPYs over its non-zero coordinates (SIMD, and
    zeros skipped); otherwise each function gathers its coordinates.

    Index arrays: ``idx`` [n_hashes, m] each in ``[0, X.shape[1])``, drawn by the hash
    family in range and checked by its state loader.
    """
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], i
    cdef int n_hashes = idx.shape[0], m = idx.shape[1]
    if d * n_hashes <= DENSE_SIGNS_MAX:
        dense = np.zeros((d, n_hashes), dtype=np.float64)
        dense[np.asarray(idx), np.arange(n_hashes)[:, None]] = np.asarray(sign)
        return _projection_codes(X, dense, None, 0.0, n_threads)
    codes = np.empty((n, n_hashes), dtype=np.int32)
    cdef int32_t[:, ::1] out = codes
    cdef const int32_t[:, ::1] idx_t = np.ascontiguousarray(np.asarray(idx).T)
    cdef const int8_t[:, ::1] sign_t = np.ascontiguousarray(np.asarray(sign).T)
    cdef slide_simhash_f32_fn fn = slide_simhash_f32_for_level(get_level())
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="static"):
        if floating is float:
            fn(&X[i, 0], &idx_t[0, 0], &sign_t[0, 0], n_hashes, m, &out[i, 0])
        else:
            slide_simhash_f64(&X[i, 0], &idx_t[0, 0], &sign_t[0, 0], n_hashes, m, &out[i, 0])
    return codes


def _coordinate_lists(idx, sign, n_features):
    """For each coordinate, the hash functions that read it and their signs (CSR)."""
    n_hashes, m = idx.shape
    flat = np.asarray(idx).ravel()
    order = np.argsort(flat, kind="stable")
    ptr = np.zeros(n_features + 1, dtype=np.int64)
    np.cumsum(np.bincount(flat, minlength=n_features), out=ptr[1:])
    return (ptr, (order // m).astype(np.int32),
            np.asarray(sign).ravel()[order].astype(np.float64))


def simhash_csr(const index_t[::1] indptr, const index_t[::1] indices, const floating[::1] data,
                Py_ssize_t n_features, const int32_t[:, ::1] idx, const int8_t[:, ::1] sign,
                int n_threads=1):
    """SimHash bits of CSR rows, accumulated per coordinate in the reference's order.

    Relies on: ``indices`` each in ``[0, n_features)``, checked by ``check_matrix`` (one
    per non-zero: not re-checked here). Checked here: ``indptr`` runs from 0 to
    ``len(indices)`` without decreasing, ``data`` aligned with ``indices``. ``idx`` each
    in ``[0, n_features)``, drawn by the hash family in range and checked by its state
    loader."""
    check_indptr_any(indptr, indptr.shape[0] - 1, indices.shape[0], "indptr", "simhash_csr")
    check_length(data.shape[0], indices.shape[0], "data", "simhash_csr")
    ptr_a, fn_a, sg_a = _coordinate_lists(idx, sign, n_features)
    cdef const int64_t[::1] cptr = ptr_a
    cdef const int32_t[::1] cfn = fn_a
    cdef const double[::1] csg = sg_a
    cdef Py_ssize_t n = indptr.shape[0] - 1, i, k, e
    cdef int n_hashes = idx.shape[0], h, failed = 0
    cdef int *failp = &failed  # a flag threads share (assigned names are private)
    cdef double v
    codes = np.empty((n, n_hashes), dtype=np.int32)
    cdef int32_t[:, ::1] out = codes
    cdef double *acc
    with nogil, parallel(num_threads=n_threads):
        acc = <double *>malloc(n_hashes * sizeof(double))
        if acc == NULL:
            failp[0] = 1
        else:
            for i in prange(n, schedule="dynamic", chunksize=64):
                for h in range(n_hashes):
                    acc[h] = 0.0
                for k in range(indptr[i], indptr[i + 1]):
                    v = data[k]
                    for e in range(cptr[indices[k]], cptr[indices[k] + 1]):
                        acc[cfn[e]] += v * csg[e]
                for h in range(n_hashes):
                    out[i, h] = acc[h] < 0.0
            free(acc)
    if failed:
        raise MemoryError("simhash_csr: could not allocate per-thread scratch")
    return codes


# --------------------------------------------------------------------------- densified MinHash
cdef inline void _topk_push(double v, int64_t c, double *top_v, int64_t *top_c, int *size,
                            int k) noexcept nogil:
    """Insert (v, c) into the k best seen so far: larger value first, then smaller id."""
    cdef int s = size[0], p
    if s == k and not (v > top_v[s - 1] or (v == top_v[s - 1] and c < top_c[s - 1])):
        return
    p = s if s < k else k - 1
    while p > 0 and (v > top_v[p - 1] or (v == top_v[p - 1] and c < top_c[p - 1])):
        top_v[p] = top_v[p - 1]
        top_c[p] = top_c[p - 1]
        p -= 1
    top_v[p] = v
    top_c[p] = c
    if s < k:
        size[0] = s + 1


cdef struct _MinHashScratch:
    # one thread's working memory: the row's top-k values and coordinates, then
    # each bin's best rank and the densification's scratch
    double *top_v
    int64_t *top_c
    uint32_t *best
    int32_t *scratch


cdef inline _MinHashScratch _minhash_scratch(int topk, int n_hashes) noexcept nogil:
    """Allocate one thread's scratch (check it with :func:`_minhash_scratch_ok`)."""
    cdef _MinHashScratch s
    s.top_v = <double *>malloc(topk * sizeof(double))
    s.top_c = <int64_t *>malloc(topk * sizeof(int64_t))
    s.best = <uint32_t *>malloc(n_hashes * sizeof(uint32_t))
    s.scratch = <int32_t *>malloc(n_hashes * sizeof(int32_t))
    return s


cdef inline bint _minhash_scratch_ok(_MinHashScratch s) noexcept nogil:
    return s.top_v != NULL and s.top_c != NULL and s.best != NULL and s.scratch != NULL


cdef inline void _minhash_scratch_free(_MinHashScratch s) noexcept nogil:
    free(s.top_v)
    free(s.top_c)
    free(s.best)
    free(s.scratch)


cdef inline void _minhash_finish(_MinHashScratch s, int size, const int32_t *coord_bin,
                                 const uint32_t *coord_rank, int32_t *code, int n_hashes,
                                 uint32_t probe_seed) noexcept nogil:
    """A row's codes from its ``size`` top coordinates (in ``s.top_c``): per bin the
    coordinate of smallest rank, ties by id; empty bins densified."""
    cdef int t, h, b
    cdef int64_t c
    for h in range(n_hashes):
        code[h] = -1
    for t in range(size):
        c = s.top_c[t]
        b = coord_bin[c]
        if code[b] == -1 or coord_rank[c] < s.best[b] or (coord_rank[c] == s.best[b]
                                                          and c < code[b]):
            code[b] = <int32_t>c
            s.best[b] = coord_rank[c]
    slide_densify_row(code, s.scratch, n_hashes, probe_seed)


def minhash_dense(const floating[:, ::1] X, const int32_t[::1] coord_bin,
                  const uint32_t[::1] coord_rank, int n_hashes, int topk, uint64_t probe_seed,
                  int n_threads=1):
    """Densified MinHash of each dense row's ``topk`` largest coordinates.

    Index arrays: ``coord_bin`` [X.shape[1]] each in ``[0, n_hashes)``, drawn by the
    hash family in range and checked by its state loader."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], i, c
    cdef int failed = 0, size
    cdef int *failp = &failed  # a flag threads share (assigned names are private)
    codes = np.empty((n, n_hashes), dtype=np.int32)
    cdef int32_t[:, ::1] out = codes
    cdef _MinHashScratch s
    with nogil, parallel(num_threads=n_threads):
        s = _minhash_scratch(topk, n_hashes)
        if not _minhash_scratch_ok(s):
            failp[0] = 1
        else:
            for i in prange(n, schedule="dynamic", chunksize=64):
                size = 0
                for c in range(d):
                    _topk_push(X[i, c], c, s.top_v, s.top_c, &size, topk)
                _minhash_finish(s, size, &coord_bin[0], &coord_rank[0], &out[i, 0], n_hashes,
                                <uint32_t>probe_seed)
        _minhash_scratch_free(s)
    if failed:
        raise MemoryError("minhash_dense: could not allocate per-thread scratch")
    return codes


def minhash_csr(const index_t[::1] indptr, const index_t[::1] indices, const floating[::1] data,
                const int32_t[::1] coord_bin, const uint32_t[::1] coord_rank, int n_hashes,
                int topk, uint64_t probe_seed, int n_threads=1):
    """Densified MinHash of CSR rows (listed coordinates only).

    Relies on: ``indices`` each in ``[0, len(coord_bin))``, checked by ``check_matrix``
    (one per non-zero: not re-checked here). Checked here: ``indptr`` runs from 0 to
    ``len(indices)`` without decreasing, ``data`` aligned with ``indices``.
    ``coord_bin`` each in ``[0, n_hashes)``, drawn by the hash family in range and
    checked by its state loader."""
    check_indptr_any(indptr, indptr.shape[0] - 1, indices.shape[0], "indptr", "minhash_csr")
    check_length(data.shape[0], indices.shape[0], "data", "minhash_csr")
    cdef Py_ssize_t n = indptr.shape[0] - 1, i, k
    cdef int failed = 0, size
    cdef int *failp = &failed  # a flag threads share (assigned names are private)
    codes = np.empty((n, n_hashes), dtype=np.int32)
    cdef int32_t[:, ::1] out = codes
    cdef _MinHashScratch s
    with nogil, parallel(num_threads=n_threads):
        s = _minhash_scratch(topk, n_hashes)
        if not _minhash_scratch_ok(s):
            failp[0] = 1
        else:
            for i in prange(n, schedule="dynamic", chunksize=64):
                size = 0
                for k in range(indptr[i], indptr[i + 1]):
                    _topk_push(data[k], indices[k], s.top_v, s.top_c, &size, topk)
                _minhash_finish(s, size, &coord_bin[0], &coord_rank[0], &out[i, 0], n_hashes,
                                <uint32_t>probe_seed)
        _minhash_scratch_free(s)
    if failed:
        raise MemoryError("minhash_csr: could not allocate per-thread scratch")
    return codes


# --------------------------------------------------------------------------- p-stable (L2)
cdef inline int32_t _floor_code(double proj, double offset, double width) noexcept nogil:
    cdef double q = floor((proj + offset) / width)
    if q < -2147483648.0:
        return -2147483647 - 1
    if q > 2147483647.0:
        return 2147483647
    return <int32_t>q


def _projection_codes(const floating[:, ::1] X, const double[:, ::1] W, offset, double width,
                      int n_threads):
    """Codes of the dense projections ``x @ W`` of every row: the sign bit (SimHash, when
    ``offset`` is None) or ``floor((proj + offset) / width)`` (p-stable)."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], i
    cdef int n_hashes = W.shape[1], h, failed = 0
    cdef int *failp = &failed  # a flag threads share (assigned names are private)
    cdef bint signs = offset is None
    cdef const double[::1] off = np.zeros(n_hashes) if signs else offset
    codes = np.empty((n, n_hashes), dtype=np.int32)
    cdef int32_t[:, ::1] out = codes
    cdef slide_axpy_f64_fn axpy = slide_axpy_f64_for_level(get_level())
    cdef double *acc
    with nogil, parallel(num_threads=n_threads):
        acc = <double *>malloc(n_hashes * sizeof(double))
        if acc == NULL:
            failp[0] = 1
        else:
            for i in prange(n, schedule="static"):
                _project_row(&X[i, 0], d, &W[0, 0], n_hashes, acc, axpy)
                for h in range(n_hashes):
                    if signs:
                        out[i, h] = acc[h] < 0.0
                    else:
                        out[i, h] = _floor_code(acc[h], off[h], width)
            free(acc)
    if failed:
        raise MemoryError("dense projection: could not allocate per-thread scratch")
    return codes


def pstable_dense(const floating[:, ::1] X, const double[:, ::1] A, const double[::1] offset,
                  double width, int n_threads=1):
    """L2 LSH codes ``floor((x . a + b) / w)`` of dense rows.

    No index arrays."""
    return _projection_codes(X, A, np.asarray(offset), width, n_threads)


def pstable_csr(const index_t[::1] indptr, const index_t[::1] indices, const floating[::1] data,
                const double[:, ::1] A, const double[::1] offset, double width, int n_threads=1):
    """L2 LSH codes of CSR rows.

    Relies on: ``indices`` each in ``[0, A.shape[0])``, checked by ``check_matrix`` (one
    per non-zero: not re-checked here). Checked here: ``indptr`` runs from 0 to
    ``len(indices)`` without decreasing, ``data`` aligned with ``indices``."""
    check_indptr_any(indptr, indptr.shape[0] - 1, indices.shape[0], "indptr", "pstable_csr")
    check_length(data.shape[0], indices.shape[0], "data", "pstable_csr")
    cdef Py_ssize_t n = indptr.shape[0] - 1, i, k
    cdef int n_hashes = A.shape[1], h, failed = 0
    cdef int *failp = &failed  # a flag threads share (assigned names are private)
    codes = np.empty((n, n_hashes), dtype=np.int32)
    cdef int32_t[:, ::1] out = codes
    cdef slide_axpy_f64_fn axpy = slide_axpy_f64_for_level(get_level())
    cdef double *acc
    with nogil, parallel(num_threads=n_threads):
        acc = <double *>malloc(n_hashes * sizeof(double))
        if acc == NULL:
            failp[0] = 1
        else:
            for i in prange(n, schedule="dynamic", chunksize=64):
                for h in range(n_hashes):
                    acc[h] = 0.0
                for k in range(indptr[i], indptr[i + 1]):
                    axpy(data[k], &A[indices[k], 0], acc, n_hashes)
                for h in range(n_hashes):
                    out[i, h] = _floor_code(acc[h], offset[h], width)
            free(acc)
    if failed:
        raise MemoryError("pstable_csr: could not allocate per-thread scratch")
    return codes


# --------------------------------------------------------------------------- packing
def pack_shift(const int32_t[:, ::1] codes, int n_tables, int K, int shift, int range_pow,
               int n_threads=1):
    """Bucket ids ``sum_j code_j << ((K-1-j) * shift)`` masked to ``range_pow`` bits.

    No index arrays: the codes are only shifted and masked."""
    cdef Py_ssize_t n = codes.shape[0], i
    cdef int t, j
    cdef uint64_t packed, mask = (<uint64_t>1 << range_pow) - 1
    buckets = np.empty((n, n_tables), dtype=np.int32)
    cdef int32_t[:, ::1] out = buckets
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="static"):
        for t in range(n_tables):
            packed = 0
            for j in range(K):
                # terms shifted past the mask cannot change the bucket (and C would overflow)
                if (K - 1 - j) * shift < range_pow:
                    packed = packed + (<uint64_t><int64_t>codes[i, t * K + j] << ((K - 1 - j) * shift))
            out[i, t] = <int32_t>(packed & mask)
    return buckets


def pack_mix(const int32_t[:, ::1] codes, int n_tables, int K, const uint64_t[::1] seeds,
             int range_pow, int n_threads=1):
    """Bucket ids from a splitmix64 chain over each table's codes (top ``range_pow`` bits).

    No index arrays: the codes are only mixed."""
    cdef Py_ssize_t n = codes.shape[0], i
    cdef int t, j
    cdef uint64_t h
    buckets = np.empty((n, n_tables), dtype=np.int32)
    cdef int32_t[:, ::1] out = buckets
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="static"):
        for t in range(n_tables):
            h = seeds[t]
            for j in range(K):
                h = slide_splitmix64(h ^ <uint64_t><uint32_t>codes[i, t * K + j])
            out[i, t] = <int32_t>(h >> (64 - range_pow))
    return buckets
