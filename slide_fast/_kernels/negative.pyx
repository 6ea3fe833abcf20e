"""Static negative samplers; twin of the reference ``_kernels.negative`` (same draws, same ids)."""
import numpy as np
from cython.parallel cimport parallel, prange
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from slide_fast._kernels._checks cimport check_ids, check_ids_2d, check_indptr

cdef extern from "topk.h" nogil:
    int64_t slide_topk_row(const float *z, int64_t n, const int32_t *skip, int64_t n_skip,
                           int64_t t, float *val, int32_t *pos)

cdef extern from "rng.h" nogil:
    int64_t slide_counter_randint(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t n)
    double slide_counter_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)


cdef inline bint _insert(int32_t *slots, uint64_t mask, int32_t key) noexcept nogil:
    """Insert ``key`` into an open-addressing set of ``mask + 1`` slots (-1: empty);
    False if it was already there."""
    cdef uint64_t h = (<uint64_t>key * 0x9E3779B97F4A7C15ULL) >> 40
    while True:
        h = h & mask
        if slots[h] == key:
            return False
        if slots[h] == -1:
            slots[h] = key
            return True
        h = h + 1


def draw_uniform_unique(Py_ssize_t n_rows, Py_ssize_t m, Py_ssize_t n_classes, seed, step,
                        int n_threads=1):
    """``m`` distinct class ids per row by Floyd's algorithm (see the reference).

    Membership goes through a per-thread hash set of about ``4 m`` slots, so
    the cost does not depend on the number of classes.

    No index arrays: draws ids in ``[0, n_classes)``.
    """
    if m > n_classes:
        raise ValueError(f"cannot draw {m} distinct classes out of {n_classes}")
    if n_classes >= 2**31:
        raise ValueError("n_classes must be below 2**31")
    out_a = np.empty((n_rows, m), dtype=np.int32)
    if n_rows == 0 or m == 0:
        return out_a
    cdef int32_t[:, ::1] out = out_a
    cdef uint64_t s = <uint64_t>int(seed), st = <uint64_t>int(step)
    cdef Py_ssize_t r, d, j, t, n_slots = 16
    while n_slots < 4 * m:
        n_slots *= 2
    cdef uint64_t mask = <uint64_t>(n_slots - 1)
    cdef int failed = 0
    cdef int *failp = &failed
    cdef int32_t *slots
    with nogil, parallel(num_threads=n_threads):
        slots = <int32_t *>malloc(n_slots * sizeof(int32_t))
        if slots == NULL:
            failp[0] = 1
        for r in prange(n_rows, schedule="static"):
            if slots == NULL:
                continue
            memset(slots, 0xFF, n_slots * sizeof(int32_t))     # every slot -1
            for d in range(m):
                j = n_classes - m + d
                t = slide_counter_randint(s, st, r, d, j + 1)
                if not _insert(slots, mask, <int32_t>t):
                    t = j
                    _insert(slots, mask, <int32_t>t)
                out[r, d] = <int32_t>t
        free(slots)
    if failed:
        raise MemoryError("no memory for the sampler's scratch array")
    return out_a


def draw_from_cdf(Py_ssize_t n_rows, Py_ssize_t m, const double[::1] cdf, seed, step,
                  int n_threads=1):
    """``m`` inverse-CDF draws with replacement per row (see the reference).

    No index arrays: draws ids in ``[0, len(cdf))``."""
    cdef Py_ssize_t n = cdf.shape[0], r, d, lo, hi, mid
    if n == 0:
        raise ValueError("cdf is empty")
    out_a = np.empty((n_rows, m), dtype=np.int32)
    if n_rows == 0 or m == 0:
        return out_a
    cdef int32_t[:, ::1] out = out_a
    cdef uint64_t s = <uint64_t>int(seed), st = <uint64_t>int(step)
    cdef double u
    for r in prange(n_rows, nogil=True, num_threads=n_threads, schedule="static"):
        for d in range(m):
            u = slide_counter_uniform(s, st, r, d)
            lo = 0          # first index with cdf[idx] > u, as searchsorted(side="right")
            hi = n
            while lo < hi:
                mid = (lo + hi) >> 1
                if cdf[mid] > u:
                    hi = mid
                else:
                    lo = mid + 1
            out[r, d] = <int32_t>(lo if lo < n else n - 1)
    return out_a


cdef float MASK = 1e30


def assemble_sets(const int64_t[::1] label_indptr, const int32_t[::1] label_ids,
                  const int32_t[:, ::1] negs, const float[::1] log_q, double log_q_const,
                  bint mask_hits, int n_threads=1):
    """Each sample's labels followed by its negatives, with the per-pair adjust (see the
    reference).

    Index arrays, checked here: ``label_indptr`` from 0 to ``len(label_ids)``, never
    decreasing; with a per-class ``log_q``, ``label_ids`` and ``negs`` each in
    ``[0, len(log_q))`` (O(labels + negatives), the cost of reading them; otherwise the
    ids are only copied and compared).  The samplers draw ``negs`` in range and
    ``check_labels`` checked the labels."""
    cdef Py_ssize_t B = label_indptr.shape[0] - 1, m = negs.shape[1], i, k, t, nl, pos, r
    if negs.shape[0] != B and negs.shape[0] != 1:
        raise ValueError(f"negs has {negs.shape[0]} rows, expected {B} or 1")
    check_indptr(label_indptr, B, label_ids.shape[0], "label_indptr", "assemble_sets")
    if log_q.shape[0] > 0:
        check_ids(label_ids, log_q.shape[0], "label_ids", "assemble_sets")
        check_ids_2d(negs, log_q.shape[0], "negs", "assemble_sets")
    n_lab = np.diff(np.asarray(label_indptr))
    indptr_a = np.zeros(B + 1, dtype=np.int64)
    np.cumsum(n_lab + m, out=indptr_a[1:])
    cdef const int64_t[::1] indptr = indptr_a
    ids_a = np.empty(indptr_a[B], dtype=np.int32)
    adjust_a = np.empty(indptr_a[B], dtype=np.float32)
    if indptr_a[B] == 0:
        return indptr_a, ids_a, adjust_a
    cdef int32_t[::1] ids = ids_a
    cdef float[::1] adjust = adjust_a
    cdef bint per_class = log_q.shape[0] > 0
    cdef float const_adj = <float>log_q_const
    cdef int32_t c
    cdef bint hit
    for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
        pos = indptr[i]
        nl = label_indptr[i + 1] - label_indptr[i]
        for k in range(nl):
            c = label_ids[label_indptr[i] + k]
            ids[pos + k] = c
            adjust[pos + k] = log_q[c] if per_class else const_adj
        pos = pos + nl
        r = i if negs.shape[0] == B else 0
        for k in range(m):
            c = negs[r, k]
            ids[pos + k] = c
            adjust[pos + k] = log_q[c] if per_class else const_adj
            if mask_hits:
                hit = False
                for t in range(nl):
                    if label_ids[label_indptr[i] + t] == c:
                        hit = True
                if hit:
                    adjust[pos + k] = MASK
    return indptr_a, ids_a, adjust_a


def batch_candidates(label_ids, negs, Py_ssize_t n_classes, int n_threads=1):
    """The batch's shared candidate set: sorted distinct ids of the labels and of ``negs``
    [1, m] (see the reference); deduplicated by ``active.unique_ids``' marks, linear time.

    Index arrays, checked here (by ``unique_ids``): every id in ``[0, n_classes)``."""
    from slide_fast._kernels.active import unique_ids
    ids = np.concatenate([np.asarray(label_ids, dtype=np.int32).ravel(),
                          np.asarray(negs, dtype=np.int32).ravel()])
    try:
        return unique_ids(ids, n_classes, n_threads)
    except ValueError:
        raise ValueError(f"batch_candidates: an id is outside [0, {n_classes})") from None


def update_hard_negatives(const float[:, ::1] Z, const int32_t[::1] rows,
                          const int64_t[::1] label_indptr, const int32_t[::1] label_cols,
                          int32_t[:, ::1] memory, int n_threads=1):
    """Each labelled sample's ``t`` best other candidates become its labels' memory (see
    the reference). The top ``t`` of each row are found in parallel (``topk.h``); the
    writes into ``memory`` then run in sample order.

    Index arrays, checked here: ``rows`` (one per column of ``Z``) each in
    ``[0, memory.shape[0])``; ``label_cols`` each in ``[0, Z.shape[1])``; ``label_indptr``
    over the rows of ``Z`` from 0 to ``len(label_cols)``, never decreasing."""
    cdef Py_ssize_t B = Z.shape[0], C = Z.shape[1], t = memory.shape[1], i, k, p, n_best
    if rows.shape[0] != C or label_indptr.shape[0] != B + 1:
        raise ValueError(f"update_hard_negatives: Z is {B}x{C}, rows has {rows.shape[0]} ids "
                         f"and label_indptr {label_indptr.shape[0]} entries")
    rows_np, cols_np, ptr_np = np.asarray(rows), np.asarray(label_cols), np.asarray(label_indptr)
    if C and (rows_np.min() < 0 or rows_np.max() >= memory.shape[0]):
        raise ValueError(f"update_hard_negatives: a class id is outside [0, {memory.shape[0]})")
    if cols_np.size and (cols_np.min() < 0 or cols_np.max() >= C):
        raise ValueError(f"update_hard_negatives: a label column is outside [0, {C})")
    if ptr_np[0] != 0 or ptr_np[B] != cols_np.size or (np.diff(ptr_np) < 0).any():
        raise ValueError("update_hard_negatives: label_indptr is not a valid CSR index")
    if B == 0 or t == 0:
        return
    best_a = np.full((B, t), -1, dtype=np.int32)
    score_a = np.empty((B, t), dtype=np.float32)
    cdef int32_t[:, ::1] best = best_a
    cdef float[:, ::1] score = score_a
    cdef const int32_t *own
    for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
        if label_indptr[i + 1] == label_indptr[i] or C == 0:
            continue
        own = &label_cols[label_indptr[i]]
        n_best = slide_topk_row(&Z[i, 0], C, own, label_indptr[i + 1] - label_indptr[i], t,
                                &score[i, 0], &best[i, 0])
        for p in range(n_best):     # columns -> class ids
            best[i, p] = rows[best[i, p]]
    for i in range(B):      # in sample order: a later sample with the same label wins
        for k in range(label_indptr[i], label_indptr[i + 1]):
            for p in range(t):
                memory[rows[label_cols[k]], p] = best[i, p]
