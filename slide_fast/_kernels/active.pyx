# cython: freethreading_compatible = True
"""Active-set selection of sampled layers; twin of the reference ``_kernels.active``.

One pass over the batch (OpenMP over samples): each sample writes its sorted
set into a slot sized by an upper bound, then the slots are compacted.
Per-thread scratch: a mark per neuron, kept between calls (allocated once per
thread and size, always left cleared) so that a call costs nothing in the
number of neurons, and a small sort buffer.
"""
import threading

import numpy as np
cimport numpy as cnp
cimport openmp
from cython.parallel cimport prange, parallel
from libc.stdint cimport int32_t, int64_t, uint64_t, uint8_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy

from slide_fast._kernels._checks cimport check_ids, check_ids_2d, check_indptr, check_length

cnp.import_array()

UNION, THRESHOLD, TOPK = 0, 1, 2

cdef extern from "rng.h" nogil:
    int64_t slide_counter_randint(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t n)

cdef extern from "sort.h" nogil:
    void slide_sort_ids(int32_t *a, int64_t n, int32_t *tmp, int32_t max_value)
    int64_t slide_collect_marked(uint8_t *mark, int64_t n, int32_t *out)


# ------------------------------------------------------------------ per-thread marks
_marks_lock = threading.Lock()      # one caller at a time uses the shared marks
cdef uint8_t **_marks = NULL
cdef Py_ssize_t _marks_len = 0
cdef Py_ssize_t _marks_count = 0


cdef uint8_t **_thread_marks(Py_ssize_t n_threads, Py_ssize_t n_outputs) except NULL:
    """Zeroed mark arrays of at least ``n_outputs + 8`` bytes for ``n_threads`` threads
    (call with ``_marks_lock`` held)."""
    global _marks, _marks_len, _marks_count
    cdef Py_ssize_t t
    if _marks != NULL and n_threads <= _marks_count and n_outputs + 8 <= _marks_len:
        return _marks
    for t in range(_marks_count):
        free(_marks[t])
    free(_marks)
    _marks, _marks_count = NULL, 0
    _marks_len = max(n_outputs + 8, _marks_len)
    _marks = <uint8_t **>calloc(n_threads, sizeof(uint8_t *))
    if _marks == NULL:
        raise MemoryError("active-set selection: no memory for the per-thread marks")
    _marks_count = n_threads
    for t in range(n_threads):
        _marks[t] = <uint8_t *>calloc(_marks_len, 1)
        if _marks[t] == NULL:
            raise MemoryError("active-set selection: no memory for the per-thread marks")
    return _marks


cdef inline void _sorted_and_clear(uint8_t *mark, int32_t *out, Py_ssize_t size,
                                   Py_ssize_t n_outputs, int32_t *tmp) noexcept nogil:
    """Sort the set in ``out`` and clear its marks: by scanning the marks when the set
    is dense in its range, else by sorting the ids."""
    cdef Py_ssize_t s
    if n_outputs <= 64 * size:
        slide_collect_marked(mark, n_outputs, out)
    else:
        for s in range(size):
            mark[out[s]] = 0
        slide_sort_ids(out, size, tmp, <int32_t>n_outputs)


cdef inline Py_ssize_t _add(int32_t j, uint8_t *mark, int32_t *out, Py_ssize_t size) noexcept nogil:
    if not mark[j]:
        mark[j] = 1
        out[size] = j
        size += 1
    return size


cdef inline Py_ssize_t _pad(uint8_t *mark, int32_t *out, Py_ssize_t size, Py_ssize_t n_outputs,
                            Py_ssize_t min_active, Py_ssize_t fill_below,
                            const int32_t *fill_perm, uint64_t seed, uint64_t step,
                            Py_ssize_t sample) noexcept nogil:
    """Random padding from ``fill_perm`` (same walk as the reference)."""
    cdef Py_ssize_t target = min_active if min_active < n_outputs else n_outputs, t, start, pos
    if size >= fill_below or size >= target:
        return size
    start = slide_counter_randint(seed, step, sample, 0, n_outputs)
    t = 0
    pos = start
    while size < target and t < n_outputs:
        size = _add(fill_perm[pos], mark, out, size)
        pos += 1
        if pos == n_outputs:        # wrap around without a division per step
            pos = 0
        t += 1
    return size


cdef Py_ssize_t _select_one(Py_ssize_t i, const int64_t *cand_indptr, const int32_t *cand_ids,
                            const int32_t *cand_counts, const int64_t *label_indptr,
                            const int32_t *label_ids, Py_ssize_t n_outputs, int method,
                            Py_ssize_t param, Py_ssize_t min_active, Py_ssize_t fill_below,
                            const int32_t *fill_perm, uint64_t seed, uint64_t step,
                            uint8_t *mark, int32_t *out, Py_ssize_t *hist) noexcept nogil:
    cdef Py_ssize_t size = 0, k, lo = cand_indptr[i], hi = cand_indptr[i + 1], c, above, need
    cdef int32_t cut
    if method == 0:
        for k in range(lo, hi):
            size = _add(cand_ids[k], mark, out, size)
    elif method == 1:
        for k in range(lo, hi):
            if cand_counts[k] >= param:
                size = _add(cand_ids[k], mark, out, size)
    else:
        if hi - lo <= param:
            for k in range(lo, hi):
                size = _add(cand_ids[k], mark, out, size)
        else:
            # counts are small integers: find the count at the k-th place, keep all above
            # it and, in ascending id order, as many at it as still fit
            c = 0
            for k in range(lo, hi):
                if cand_counts[k] > c:
                    c = cand_counts[k]
            for k in range(c + 1):
                hist[k] = 0
            for k in range(lo, hi):
                hist[cand_counts[k]] += 1
            above = 0
            cut = <int32_t>c
            while cut > 0 and above + hist[cut] < param:
                above = above + hist[cut]
                cut -= 1
            need = param - above
            for k in range(lo, hi):
                if cand_counts[k] > cut:
                    size = _add(cand_ids[k], mark, out, size)
                elif cand_counts[k] == cut and need > 0:
                    size = _add(cand_ids[k], mark, out, size)
                    need -= 1
    for k in range(label_indptr[i], label_indptr[i + 1]):
        size = _add(label_ids[k], mark, out, size)
    return _pad(mark, out, size, n_outputs, min_active, fill_below, fill_perm, seed, step, i)


cdef tuple _slots(bound_a):
    """Per-sample slots of a scratch array, sample ``i`` getting ``bound_a[i]`` entries:
    the slot offsets [B + 1], the scratch (int32) and the sizes written (zeros, [B])."""
    cdef Py_ssize_t B = bound_a.shape[0]
    slot_a = np.zeros(B + 1, dtype=np.int64)
    np.cumsum(bound_a, out=slot_a[1:])
    tmp_a = np.empty(max(int(slot_a[B]), 1), dtype=np.int32)
    return slot_a, tmp_a, np.zeros(B, dtype=np.int64)


cdef tuple _compact(slot_a, tmp_a, sizes_a, int n_threads):
    """CSR ``(indptr, ids)`` of the first ``sizes[i]`` entries of every slot."""
    cdef Py_ssize_t B = sizes_a.shape[0], i
    indptr_a = np.zeros(B + 1, dtype=np.int64)
    np.cumsum(sizes_a, out=indptr_a[1:])
    ids_a = np.empty(indptr_a[B], dtype=np.int32)
    if ids_a.shape[0] == 0:
        return indptr_a, ids_a
    cdef int32_t[::1] ids = ids_a
    cdef const int64_t[::1] indptr = indptr_a, slot = slot_a, sizes = sizes_a
    cdef const int32_t[::1] tmp = tmp_a
    for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
        memcpy(&ids[indptr[i]], &tmp[slot[i]], sizes[i] * sizeof(int32_t))
    return indptr_a, ids_a


def select_active(const int64_t[::1] cand_indptr, const int32_t[::1] cand_ids,
                  const int32_t[::1] cand_counts, const int64_t[::1] label_indptr,
                  const int32_t[::1] label_ids, Py_ssize_t n_outputs, int method,
                  Py_ssize_t param, Py_ssize_t min_active, Py_ssize_t fill_below,
                  const int32_t[::1] fill_perm, uint64_t seed, uint64_t step, int n_threads=1):
    """Active neurons of every sample (see the reference ``_kernels.active.select_active``).

    One pass: each sample writes its sorted set into a slot sized by an upper
    bound (candidates + labels + padding), then the slots are compacted.

    Index arrays.  Relies on: ``cand_ids`` (int32) each in ``[0, n_outputs)``: the
    members of tables built over ``n_outputs`` items (``query_tables`` of tables that
    ``LSHTables`` built or whose state loader checked the members); ``fill_perm``
    (int32) a permutation of ``[0, n_outputs)`` (drawn by the sampler; checked by the
    state loader).  Checked here: ``cand_indptr`` and ``label_indptr`` (int64) have one
    entry per sample plus one and run from 0 to the length of their ids without
    decreasing; ``cand_counts`` aligned with ``cand_ids``; ``label_ids`` each in
    ``[0, n_outputs)`` (``check_labels`` checked them already; O(labels)).
    """
    cdef Py_ssize_t B = cand_indptr.shape[0] - 1, i, s, size, max_count = 1, k
    check_indptr(cand_indptr, B, cand_ids.shape[0], "cand_indptr", "select_active")
    check_length(cand_counts.shape[0], cand_ids.shape[0], "cand_counts", "select_active")
    check_indptr(label_indptr, B, label_ids.shape[0], "label_indptr", "select_active")
    check_ids(label_ids, n_outputs, "label_ids", "select_active")
    if min_active > 0 and fill_below > 0:      # the padding walks fill_perm
        check_length(fill_perm.shape[0], n_outputs, "fill_perm", "select_active")
    cdef int failed = 0
    cdef int *failp = &failed  # a flag threads share (assigned names are private)
    for k in range(cand_counts.shape[0]):
        if cand_counts[k] > max_count:
            max_count = cand_counts[k]
    bound_a = (np.diff(np.asarray(cand_indptr)) + np.diff(np.asarray(label_indptr))
               + min(min_active, n_outputs))
    bound_a = np.minimum(bound_a, n_outputs)
    slot_a, tmp_a, sizes_a = _slots(bound_a)
    cdef const int64_t[::1] slot = slot_a
    cdef int32_t[::1] tmp = tmp_a
    cdef int64_t[::1] sizes = sizes_a
    cdef const int32_t *cids = &cand_ids[0] if cand_ids.shape[0] else NULL
    cdef const int32_t *ccnt = &cand_counts[0] if cand_counts.shape[0] else NULL
    cdef const int32_t *lids = &label_ids[0] if label_ids.shape[0] else NULL
    cdef uint8_t *mark
    cdef int32_t *tmpbuf
    cdef int32_t *out
    cdef Py_ssize_t *hist
    cdef Py_ssize_t max_bound = max(int(bound_a.max()) if B else 1, 1)
    cdef uint8_t **marks
    with _marks_lock:
        marks = _thread_marks(n_threads, n_outputs)
        with nogil, parallel(num_threads=n_threads):
            mark = marks[openmp.omp_get_thread_num()]
            tmpbuf = <int32_t *>malloc((max_bound + 1) * sizeof(int32_t))
            hist = <Py_ssize_t *>malloc((max_count + 2) * sizeof(Py_ssize_t))
            if tmpbuf == NULL or hist == NULL:
                failp[0] = 1
            else:
                for i in prange(B, schedule="dynamic", chunksize=4):
                    out = &tmp[slot[i]]
                    size = _select_one(i, &cand_indptr[0], cids, ccnt, &label_indptr[0], lids,
                                       n_outputs, method, param, min_active, fill_below,
                                       &fill_perm[0], seed, step, mark, out, hist)
                    _sorted_and_clear(mark, out, size, n_outputs, tmpbuf)
                    sizes[i] = size
            free(tmpbuf)
            free(hist)
    if failed:
        raise MemoryError("select_active: could not allocate per-thread scratch")
    return _compact(slot_a, tmp_a, sizes_a, n_threads)


cdef Py_ssize_t _vanilla_one(Py_ssize_t i, const int32_t[:, ::1] buckets,
                             const int32_t[:, ::1] offsets, const int32_t *members,
                             const int64_t *label_indptr, const int32_t *label_ids,
                             Py_ssize_t n_outputs, Py_ssize_t budget, Py_ssize_t min_active,
                             Py_ssize_t fill_below, const int32_t *fill_perm, uint64_t seed,
                             uint64_t step, uint8_t *mark, int32_t *out,
                             int32_t *order) noexcept nogil:
    cdef Py_ssize_t L = buckets.shape[1], t, j, k, size = 0
    cdef int32_t tmp, b
    for t in range(L):
        order[t] = <int32_t>t
    for t in range(L - 1):
        j = t + slide_counter_randint(seed, step, i, 1 + t, L - t)
        tmp = order[t]
        order[t] = order[j]
        order[j] = tmp
    for k in range(label_indptr[i], label_indptr[i + 1]):
        size = _add(label_ids[k], mark, out, size)
    for t in range(L):
        if size >= budget:
            break
        b = buckets[i, order[t]]
        for k in range(offsets[order[t], b], offsets[order[t], b + 1]):
            size = _add(members[k], mark, out, size)
    return _pad(mark, out, size, n_outputs, min_active, fill_below, fill_perm, seed, step, i)


def select_vanilla(const int32_t[:, ::1] buckets, const int32_t[:, ::1] offsets,
                   const int32_t[::1] members, const int64_t[::1] label_indptr,
                   const int32_t[::1] label_ids, Py_ssize_t n_outputs, Py_ssize_t budget,
                   Py_ssize_t min_active, Py_ssize_t fill_below, const int32_t[::1] fill_perm,
                   uint64_t seed, uint64_t step, int n_threads=1):
    """SLIDE's vanilla sampling (see the reference ``_kernels.active.select_vanilla``).

    One pass: a sample's set is at most its labels, plus fewer than ``budget``
    ids and then one more bucket (the largest it can hit), or the padding
    target; that bounds its slot.

    Index arrays.  Relies on the tables' invariants, checked where they are built
    or loaded (``LSHTables``, the state loaders): each row of ``offsets`` [L,
    n_buckets + 1] runs from 0 to at most ``len(members)`` without decreasing, and
    ``members`` are ids in ``[0, n_outputs)``; ``fill_perm`` a permutation of
    ``[0, n_outputs)``.  Checked here: ``buckets`` [B, L] each in ``[0, n_buckets)``
    (O(B L), the cost of reading them); ``offsets`` has ``L`` rows;
    ``label_indptr`` over the ``B`` samples from 0 to ``len(label_ids)``, never
    decreasing; ``label_ids`` each in ``[0, n_outputs)``.
    """
    cdef Py_ssize_t B = buckets.shape[0], L = buckets.shape[1], i, t, size, big, nl
    check_length(offsets.shape[0], L, "offsets (rows, one per table)", "select_vanilla")
    check_ids_2d(buckets, offsets.shape[1] - 1, "buckets", "select_vanilla")
    check_indptr(label_indptr, B, label_ids.shape[0], "label_indptr", "select_vanilla")
    check_ids(label_ids, n_outputs, "label_ids", "select_vanilla")
    if min_active > 0 and fill_below > 0:      # the padding walks fill_perm
        check_length(fill_perm.shape[0], n_outputs, "fill_perm", "select_vanilla")
    cdef int failed = 0
    cdef int *failp = &failed  # a flag threads share (assigned names are private)
    bound_a = np.empty(B, dtype=np.int64)
    cdef int64_t[::1] bound = bound_a
    cdef int32_t b
    for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
        big = 0
        for t in range(L):
            b = buckets[i, t]
            if offsets[t, b + 1] - offsets[t, b] > big:
                big = offsets[t, b + 1] - offsets[t, b]
        nl = label_indptr[i + 1] - label_indptr[i]
        size = nl + (budget + big if budget > 0 else 0)
        if size < min_active:
            size = min_active
        bound[i] = size if size < n_outputs else n_outputs
    slot_a, tmp_a, sizes_a = _slots(bound_a)
    cdef const int64_t[::1] slot = slot_a
    cdef int32_t[::1] tmp = tmp_a
    cdef int64_t[::1] sizes = sizes_a
    cdef Py_ssize_t max_bound = max(int(bound_a.max()) if B else 1, 1)
    cdef const int32_t *mem = &members[0] if members.shape[0] else NULL
    cdef const int32_t *lids = &label_ids[0] if label_ids.shape[0] else NULL
    cdef uint8_t *mark
    cdef int32_t *tmpbuf
    cdef int32_t *out
    cdef int32_t *order
    cdef uint8_t **marks
    with _marks_lock:
        marks = _thread_marks(n_threads, n_outputs)
        with nogil, parallel(num_threads=n_threads):
            mark = marks[openmp.omp_get_thread_num()]
            tmpbuf = <int32_t *>malloc((max_bound + 1) * sizeof(int32_t))
            order = <int32_t *>malloc((L + 1) * sizeof(int32_t))
            if tmpbuf == NULL or order == NULL:
                failp[0] = 1
            else:
                for i in prange(B, schedule="dynamic", chunksize=4):
                    out = &tmp[slot[i]]
                    size = _vanilla_one(i, buckets, offsets, mem, &label_indptr[0], lids,
                                        n_outputs, budget, min_active, fill_below,
                                        &fill_perm[0], seed, step, mark, out, order)
                    _sorted_and_clear(mark, out, size, n_outputs, tmpbuf)
                    sizes[i] = size
            free(tmpbuf)
            free(order)
    if failed:
        raise MemoryError("select_vanilla: could not allocate per-thread scratch")
    return _compact(slot_a, tmp_a, sizes_a, n_threads)


def unique_ids(const int32_t[::1] ids, Py_ssize_t n_values, int n_threads=1):
    """Sorted distinct values of ``ids`` (see the reference ``_kernels.active.unique_ids``).

    Marks each id in a per-thread byte array of ``n_values`` (kept between
    calls and left cleared), then collects the marks in order: linear in
    ``len(ids) + n_values / 8``, where a sort is ``len(ids) log len(ids)``.
    ``n_threads`` is accepted for a uniform kernel signature; one thread marks.

    Index arrays, checked here: ``ids`` each in ``[0, n_values)`` (in the marking pass).
    """
    cdef Py_ssize_t n = ids.shape[0], k, count = 0
    cdef int32_t j
    cdef int32_t[::1] out
    cdef uint8_t *mark
    cdef uint8_t **marks
    cdef int bad = 0
    if n_values < 0:
        raise ValueError("n_values must be non-negative")
    with _marks_lock:
        marks = _thread_marks(1, n_values)
        mark = marks[0]
        with nogil:
            for k in range(n):
                j = ids[k]
                if j < 0 or j >= n_values:
                    bad = 1
                    break
                if not mark[j]:
                    mark[j] = 1
                    count += 1
        out_a = np.empty(count, dtype=np.int32)
        if bad:
            for k in range(n_values):       # leave the marks cleared
                mark[k] = 0
            raise ValueError(f"unique_ids: an id is outside [0, {n_values})")
        if count:
            out = out_a
            with nogil:
                slide_collect_marked(mark, n_values, &out[0])
    return out_a
