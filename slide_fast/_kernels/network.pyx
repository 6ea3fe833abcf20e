# cython: freethreading_compatible = True
"""Cython kernels of the training engine; twin of the reference ``_kernels.network``.

Parallel over samples (OpenMP) wherever each sample writes its own output.
Gradient accumulation is parallel over *output rows* instead: the active
pairs (or the input's non-zeros) are regrouped by row with a counting sort, so
each thread owns its rows.  There are no races, and the result does not
depend on the number of threads: the summation order per row is the
reference's (samples in ascending order).  Dense layers and the batch-shared
candidate blocks use the SIMD GEMMs of ``gemm.h`` on the OpenMP threads: a BLAS
with its own thread pool measured slower inside the training loop (two pools
spinning on the same cores), although faster alone.

Index arrays.  The kernels run without bounds checks.  Each entry point's
docstring names the invariant its index arrays must satisfy and who checks
it: the per-non-zero feature ids of an input matrix are checked once per
``fit``/call by ``check_matrix`` (the kernels never re-check them); row
pointers, row and label ids, whose check costs O(rows) or O(ids) next to more
work on the same ids, are checked here (``_checks.pxd``), and a bad one raises
``ValueError`` naming the kernel and the argument.
"""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange, parallel
from openmp cimport omp_get_thread_num
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport malloc, free
from libc.math cimport expf, logf, log, pow, sqrt, sqrtf

from slide_fast._kernels._cpu cimport get_level
from slide_fast._kernels._checks cimport (check_ids, check_indptr, check_indptr_any,
                                          check_length)

cnp.import_array()

ctypedef fused index_t:
    int32_t
    int64_t

cdef extern from "dense.h" nogil:
    ctypedef float (*slide_dot_f32_fn)(const float *a, const float *b, int64_t n) noexcept nogil
    ctypedef void (*slide_axpy_f32_fn)(float alpha, const float *x, float *y,
                                       int64_t n) noexcept nogil
    ctypedef void (*slide_adam_f32_fn)(float *w, float *g, float *m, float *v, int64_t n,
                                       float lr, float b1, float c1, float b2, float c2,
                                       float eps) noexcept nogil
    slide_dot_f32_fn slide_dot_f32_for_level(int level)
    slide_axpy_f32_fn slide_axpy_f32_for_level(int level)
    slide_adam_f32_fn slide_adam_f32_for_level(int level)
    ctypedef void (*slide_axpy2_f32_fn)(float alpha, const float *x1, float *y1, const float *x2,
                                        float *y2, int64_t n) noexcept nogil
    slide_axpy2_f32_fn slide_axpy2_f32_for_level(int level)
    ctypedef void (*slide_catchup_f32_fn)(float *w, float *m, float *v, int64_t n, float f,
                                          float d1, float d2, float eps) noexcept nogil
    slide_catchup_f32_fn slide_catchup_f32_for_level(int level)
    void slide_prefetch_adam_row(const float *w, const float *g, const float *m, const float *v,
                                 int64_t n)


from slide_fast._kernels._gemm cimport (slide_gemm_fn, slide_gemm_idx_fn, slide_gemm_nn_for_level,
                                        slide_gemm_tn_for_level, slide_gemm_nt_for_level,
                                        slide_gemm_nn_idx_for_level, slide_gemm_nt_idx_for_level)

cdef extern from "bf16.h" nogil:
    ctypedef void (*slide_round_bf16_fn)(float *x, int64_t n) noexcept nogil
    slide_round_bf16_fn slide_round_bf16_for_level(int level)
    slide_dot_f32_fn slide_dot_bf16_for_level(int level)
    slide_dot_f32_fn slide_dot_hi_for_level(int level)

cdef extern from "softmax.h" nogil:
    ctypedef double (*slide_exp_row_fn)(const float *z, int64_t n, float zmax,
                                        float *e) noexcept nogil
    slide_exp_row_fn slide_exp_row_for_level(int level)

# columns of C per parallel task of the dense-layer GEMMs (a multiple of the 16-wide tile);
# the fewest candidate rows per task of block_backward's weight gradient (a multiple of
# the AVX2 tile's 6 rows, so few rows take the edge path)
cdef enum:
    COL_BLOCK = 64
    DW_ROWS = 48

cdef enum:
    # how many rows ahead the row-wise Adam loops prefetch their next scattered row: a
    # row's four arrays take about a DRAM latency to arrive, and a 128-wide row is
    # stepped in less, so fetching only the row after next left the loops latency-bound
    AHEAD = 6


def _group_by(const int32_t[::1] keys, Py_ssize_t n_keys, str name="keys"):
    """Counting sort: ``(ptr [n_keys+1], order)``; ``order[ptr[k]:ptr[k+1]]`` are the positions
    of key ``k`` in ascending order (O(n), unlike a comparison sort).

    Every key must lie in ``[0, n_keys)``: the counting pass checks it (one compare per
    key, in a pass that is memory-bound anyway) and raises ``ValueError`` naming
    ``name``, since a key outside would write outside ``ptr``."""
    cdef Py_ssize_t n = keys.shape[0], i, k
    cdef bint outside = False
    ptr_a = np.zeros(n_keys + 1, dtype=np.int64)
    order_a = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] ptr = ptr_a, order = order_a
    cdef int64_t[::1] fill
    with nogil:
        for i in range(n):
            if <size_t>keys[i] >= <size_t>n_keys:     # negative ids wrap to huge values
                outside = True
                break
            ptr[keys[i] + 1] += 1
    if outside:
        raise ValueError(f"{name}: an id is outside [0, {n_keys})")
    with nogil:
        for k in range(n_keys):
            ptr[k + 1] += ptr[k]
    fill_a = ptr_a[:n_keys].copy()
    fill = fill_a
    with nogil:
        for i in range(n):
            order[fill[keys[i]]] = i
            fill[keys[i]] += 1
    return ptr_a, order_a


def _rows_of(indptr):
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))


# --------------------------------------------------------------------------- forward
def dense_forward_csr(const index_t[::1] indptr, const index_t[::1] indices,
                      const float[::1] data, const float[:, ::1] W, const float[::1] b,
                      bint relu, int n_threads=1):
    """``X @ W + b`` for CSR ``X``: one AXPY of a row of ``W`` per non-zero.

    Relies on: ``indices`` (int32 or int64, the type of ``indptr``) each in
    ``[0, W.shape[0])``, checked by ``check_matrix`` (not here: one per non-zero).
    Checked here: ``indptr`` runs from 0 to ``len(indices)`` without decreasing,
    ``data`` aligned with ``indices``, ``b`` of length ``W.shape[1]``."""
    cdef Py_ssize_t B = indptr.shape[0] - 1, n_out = W.shape[1], i, k, j
    check_indptr_any(indptr, B, indices.shape[0], "indptr", "dense_forward_csr")
    check_length(data.shape[0], indices.shape[0], "data", "dense_forward_csr")
    check_length(b.shape[0], n_out, "b", "dense_forward_csr")
    Z_a = np.zeros((B, n_out), dtype=np.float32)
    cdef float[:, ::1] Z = Z_a
    cdef slide_axpy_f32_fn axpy = slide_axpy_f32_for_level(get_level())
    for i in prange(B, nogil=True, num_threads=n_threads, schedule="dynamic", chunksize=4):
        for k in range(indptr[i], indptr[i + 1]):
            axpy(data[k], &W[indices[k], 0], &Z[i, 0], n_out)
        for j in range(n_out):
            Z[i, j] = Z[i, j] + b[j]
            if relu and Z[i, j] < 0:
                Z[i, j] = 0
    return Z_a


def dense_forward(const float[:, ::1] A, const float[:, ::1] W, const float[::1] b, bint relu,
                  int n_threads=1):
    """``A @ W + b`` (``W`` [in][out]): column blocks of the SIMD GEMM in parallel.
    No index arrays; the shapes are checked."""
    cdef Py_ssize_t B = A.shape[0], n_in = A.shape[1], n_out = W.shape[1], i, j, t, j0, j1
    check_length(W.shape[0], n_in, "W (rows)", "dense_forward")
    check_length(b.shape[0], n_out, "b", "dense_forward")
    cdef Py_ssize_t n_blocks = (n_out + COL_BLOCK - 1) // COL_BLOCK
    Z_a = np.empty((B, n_out), dtype=np.float32)
    cdef float[:, ::1] Z = Z_a
    if B == 0:
        return Z_a
    cdef slide_gemm_fn gemm = slide_gemm_nn_for_level(get_level())
    for t in prange(n_blocks, nogil=True, num_threads=n_threads, schedule="dynamic"):
        j0 = t * COL_BLOCK
        j1 = j0 + COL_BLOCK
        if j1 > n_out:
            j1 = n_out
        gemm(B, j1 - j0, n_in, &A[0, 0], n_in, &W[0, j0], n_out, &Z[0, j0], n_out, 0)
        for i in range(B):
            for j in range(j0, j1):
                Z[i, j] = Z[i, j] + b[j]
                if relu and Z[i, j] < 0:
                    Z[i, j] = 0
    return Z_a


def sampled_forward(const float[:, ::1] A, const float[:, ::1] W, const float[::1] b,
                    const int64_t[::1] act_indptr, const int32_t[::1] act_ids, bint relu,
                    int n_threads=1):
    """``W[j] . A[i] + b[j]`` for every active pair, grouped by neuron ``j`` so each
    weight row is read once per batch (the batch's activations stay in cache).

    Index arrays, checked here: ``act_indptr`` (int64) has ``A.shape[0] + 1``
    entries from 0 to ``len(act_ids)``, never decreasing; ``act_ids`` (int32) each in
    ``[0, W.shape[0])`` (checked by the counting sort that groups the pairs).  They
    come from the active-set kernels, which produce them so."""
    return _sampled_forward(A, W, b, act_indptr, act_ids, relu, n_threads, DOT_F32)


cdef object _sampled_forward(const float[:, ::1] A, const float[:, ::1] W, const float[::1] b,
                             const int64_t[::1] act_indptr, const int32_t[::1] act_ids,
                             bint relu, int n_threads, int dot_kind):
    """:func:`sampled_forward` with the dot product ``dot_kind`` (the BF16 modes use it)."""
    cdef Py_ssize_t n_in = A.shape[1], n_out = W.shape[0], j, e, k
    cdef float zk
    check_indptr(act_indptr, A.shape[0], act_ids.shape[0], "act_indptr", "sampled_forward")
    check_length(W.shape[1], n_in, "W (columns)", "sampled_forward")
    check_length(b.shape[0], n_out, "b", "sampled_forward")
    z_a = np.empty(act_ids.shape[0], dtype=np.float32)
    cdef float[::1] z = z_a
    if act_ids.shape[0] == 0:
        return z_a
    ptr_a, order_a = _group_by(act_ids, n_out, "act_ids")
    rows_a = _rows_of(np.asarray(act_indptr))
    cdef const int64_t[::1] ptr = ptr_a, order = order_a
    cdef const int32_t[::1] rows = rows_a
    cdef slide_dot_f32_fn dot = slide_dot_f32_for_level(get_level())
    if dot_kind == DOT_BF16:
        dot = slide_dot_bf16_for_level(get_level())
    elif dot_kind == DOT_HI:
        dot = slide_dot_hi_for_level(get_level())
    for j in prange(n_out, nogil=True, num_threads=n_threads, schedule="dynamic", chunksize=32):
        for e in range(ptr[j], ptr[j + 1]):
            k = order[e]
            zk = dot(&W[j, 0], &A[rows[k], 0], n_in) + b[j]
            if relu and zk < 0:
                zk = 0
            z[k] = zk
    return z_a


# --------------------------------------------------------------------------- softmax
# logits at or below are masked (the reference's MASK_BELOW)
cdef float MASK_BELOW = -1e29


cdef inline bint _has(const int32_t *labels, Py_ssize_t n, int32_t j) noexcept nogil:
    cdef Py_ssize_t t
    for t in range(n):
        if labels[t] == j:
            return True
    return False


def softmax_xent_pairs(const float[::1] z, const int64_t[::1] act_indptr,
                       const int32_t[::1] act_ids, const int64_t[::1] label_indptr,
                       const int32_t[::1] label_ids, const double[::1] sample_weight,
                       double scale, int n_threads=1):
    """Softmax and cross-entropy over each sample's active set (see the reference).

    Index arrays, checked here: ``act_indptr`` from 0 to ``len(z)`` (= ``len(act_ids)``)
    and ``label_indptr`` (its rows) from 0 to ``len(label_ids)``, never decreasing;
    ``sample_weight`` one per row.  Ids are only compared, never used as indices."""
    cdef Py_ssize_t B = act_indptr.shape[0] - 1, i, k, lo, hi, nl
    check_length(z.shape[0], act_ids.shape[0], "z", "softmax_xent_pairs")
    check_indptr(act_indptr, B, act_ids.shape[0], "act_indptr", "softmax_xent_pairs")
    check_indptr(label_indptr, B, label_ids.shape[0], "label_indptr", "softmax_xent_pairs")
    check_length(sample_weight.shape[0], B, "sample_weight", "softmax_xent_pairs")
    cdef float zmax
    cdef double denom, p, t, lossi, w
    cdef const int32_t *lab
    delta_a = np.empty(z.shape[0], dtype=np.float32)
    loss_a = np.zeros(B, dtype=np.float64)
    cdef float[::1] delta = delta_a
    cdef double[::1] loss = loss_a
    cdef slide_exp_row_fn exp_row = slide_exp_row_for_level(get_level())
    for i in prange(B, nogil=True, num_threads=n_threads, schedule="dynamic", chunksize=4):
        lo = act_indptr[i]
        hi = act_indptr[i + 1]
        if hi == lo:
            continue
        nl = label_indptr[i + 1] - label_indptr[i]
        lab = &label_ids[label_indptr[i]] if nl > 0 else NULL
        zmax = z[lo]
        for k in range(lo + 1, hi):
            if z[k] > zmax:
                zmax = z[k]
        # exp into delta, then turn it into the gradient in place
        denom = exp_row(&z[lo], hi - lo, zmax, &delta[lo])
        w = sample_weight[i] * scale
        lossi = 0.0
        for k in range(lo, hi):
            if z[k] <= MASK_BELOW:     # a masked accidental hit: no mass, no gradient
                delta[k] = 0.0
                continue
            p = delta[k] / denom
            t = 0.0
            if nl > 0 and _has(lab, nl, act_ids[k]) and not _has(&act_ids[lo], k - lo,
                                                                   act_ids[k]):
                t = 1.0 / nl
                # log p in the log domain: finite however small p is
                lossi = lossi - t * ((z[k] - zmax) - log(denom))
            delta[k] = <float>(w * (p - t))
        loss[i] = lossi
    return delta_a, loss_a


def softmax_xent_dense(const float[:, ::1] Z, const int64_t[::1] label_indptr,
                       const int32_t[::1] label_ids, const double[::1] sample_weight,
                       double scale, int n_threads=1):
    """Full softmax over all outputs: ``(delta [B, N], loss [B])``.

    Index arrays, checked here: ``label_indptr`` has ``B + 1`` entries from 0 to
    ``len(label_ids)``, never decreasing; ``label_ids`` (int32) each in ``[0, N)``
    (O(labels) next to the O(B N) softmax; ``check_labels`` checked them already);
    ``sample_weight`` one per row."""
    cdef Py_ssize_t B = Z.shape[0], N = Z.shape[1], i, j, k, nl
    check_indptr(label_indptr, B, label_ids.shape[0], "label_indptr", "softmax_xent_dense")
    check_ids(label_ids, N, "label_ids", "softmax_xent_dense")
    check_length(sample_weight.shape[0], B, "sample_weight", "softmax_xent_dense")
    cdef float zmax, ws
    cdef double denom, w, logden
    delta_a = np.empty((B, N), dtype=np.float32)
    loss_a = np.zeros(B, dtype=np.float64)
    cdef float[:, ::1] delta = delta_a
    cdef double[::1] loss = loss_a
    cdef slide_exp_row_fn exp_row = slide_exp_row_for_level(get_level())
    for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
        zmax = Z[i, 0]
        for j in range(1, N):
            if Z[i, j] > zmax:
                zmax = Z[i, j]
        denom = exp_row(&Z[i, 0], N, zmax, &delta[i, 0])
        w = sample_weight[i] * scale
        ws = <float>(w / denom)
        for j in range(N):
            delta[i, j] = delta[i, j] * ws
        nl = label_indptr[i + 1] - label_indptr[i]
        logden = log(denom)
        loss[i] = 0.0
        for k in range(label_indptr[i], label_indptr[i + 1]):
            j = label_ids[k]
            delta[i, j] = <float>(w * (expf(Z[i, j] - zmax) / denom - 1.0 / nl))
            loss[i] = loss[i] - ((Z[i, j] - zmax) - logden) / nl
    return delta_a, loss_a


# --------------------------------------------------------------------------- backward
# neuron blocks of the sampled backward; each accumulates its own partial input delta, so
# the result does not depend on the number of threads
cdef enum:
    N_ROW_BLOCKS = 16


def sampled_backward(const float[:, ::1] A, const float[:, ::1] W, const int64_t[::1] act_indptr,
                     const int32_t[::1] act_ids, const float[::1] delta, float[:, ::1] gW,
                     float[::1] gb, bint relu_input, bint need_dA, int n_threads=1):
    """Gradients of a sampled layer.

    Pairs are grouped by neuron ``j``: each weight row and gradient row is
    touched once per batch, and threads own disjoint rows (no races).  The input
    delta is accumulated in a fixed number of neuron blocks, then summed in
    block order.

    Index arrays, checked here: as in :func:`sampled_forward` (``act_indptr`` over
    the rows of ``A``, ``act_ids`` in ``[0, W.shape[0])``); ``delta`` aligned with
    ``act_ids``; ``gW`` and ``gb`` shaped like ``W`` and its rows.
    """
    return _sampled_backward(A, W, act_indptr, act_ids, delta, gW, gb, relu_input, need_dA,
                             n_threads, False)


cdef object _sampled_backward(const float[:, ::1] A, const float[:, ::1] W,
                              const int64_t[::1] act_indptr, const int32_t[::1] act_ids,
                              const float[::1] delta, float[:, ::1] gW, float[::1] gb,
                              bint relu_input, bint need_dA, int n_threads, bint bf16):
    """:func:`sampled_backward`; with ``bf16``, each touched gradient row (summed over the
    batch in fp32) and each row of the input delta is rounded to bf16 once, when stored."""
    cdef Py_ssize_t B = act_indptr.shape[0] - 1, n_in = A.shape[1], n_out = W.shape[0]
    cdef Py_ssize_t i, j, k, e, blk, j0, j1, c
    cdef Py_ssize_t per_block = (n_out + N_ROW_BLOCKS - 1) // N_ROW_BLOCKS
    check_indptr(act_indptr, A.shape[0], act_ids.shape[0], "act_indptr", "sampled_backward")
    check_length(delta.shape[0], act_ids.shape[0], "delta", "sampled_backward")
    check_length(W.shape[1], n_in, "W (columns)", "sampled_backward")
    if gW.shape[0] != n_out or gW.shape[1] != n_in or gb.shape[0] != n_out:
        raise ValueError("sampled_backward: gW and gb must have the shape of W and its rows")
    ptr_a, order_a = _group_by(act_ids, n_out, "act_ids")
    rows_a = _rows_of(np.asarray(act_indptr))
    cdef const int64_t[::1] ptr = ptr_a, order = order_a
    cdef const int32_t[::1] rows = rows_a
    cdef slide_axpy_f32_fn axpy = slide_axpy_f32_for_level(get_level())
    cdef slide_axpy2_f32_fn axpy2 = slide_axpy2_f32_for_level(get_level())
    cdef slide_round_bf16_fn rnd = slide_round_bf16_for_level(get_level())
    cdef float gbj
    part_a = np.zeros((N_ROW_BLOCKS if need_dA else 1, B, n_in), dtype=np.float32)
    cdef float[:, :, ::1] part = part_a
    for blk in prange(N_ROW_BLOCKS, nogil=True, num_threads=n_threads, schedule="dynamic"):
        j0 = blk * per_block
        j1 = j0 + per_block
        if j1 > n_out:
            j1 = n_out
        for j in range(j0, j1):
            if ptr[j] == ptr[j + 1]:
                continue
            gbj = gb[j]
            for e in range(ptr[j], ptr[j + 1]):
                k = order[e]
                gbj = gbj + delta[k]
                if need_dA:
                    axpy2(delta[k], &A[rows[k], 0], &gW[j, 0], &W[j, 0], &part[blk, rows[k], 0],
                          n_in)
                else:
                    axpy(delta[k], &A[rows[k], 0], &gW[j, 0], n_in)
            gb[j] = gbj
            if bf16:
                rnd(&gW[j, 0], n_in)
                rnd(&gb[j], 1)
    if not need_dA:
        return None
    dA_a = np.empty((B, n_in), dtype=np.float32)
    cdef float[:, ::1] dA = dA_a
    for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
        for c in range(n_in):
            dA[i, c] = part[0, i, c]
        for blk in range(1, N_ROW_BLOCKS):
            for c in range(n_in):
                dA[i, c] = dA[i, c] + part[blk, i, c]
        if relu_input:
            for c in range(n_in):
                if A[i, c] <= 0:
                    dA[i, c] = 0
        if bf16:
            rnd(&dA[i, 0], n_in)
    return dA_a


cdef inline void _nt_call(slide_gemm_idx_fn gemm_nt, Py_ssize_t M, Py_ssize_t j0, Py_ssize_t j1,
                          Py_ssize_t K, const float *A, Py_ssize_t lda, const float *Bm,
                          Py_ssize_t ldb, const int32_t *idx, float *C,
                          Py_ssize_t ldc) noexcept nogil:
    if idx == NULL:
        gemm_nt(M, j1 - j0, K, A, lda, Bm + j0 * ldb, ldb, NULL, C + j0, ldc, 0)
    else:
        gemm_nt(M, j1 - j0, K, A, lda, Bm, ldb, idx + j0, C + j0, ldc, 0)


cdef void _gemm_nt_rows(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const float *A,
                        Py_ssize_t lda, const float *Bm, Py_ssize_t ldb, const int32_t *idx,
                        float *C, Py_ssize_t ldc, int n_threads) noexcept nogil:
    """``C = A Bm^T`` ([M, N]; ``Bm`` has N rows of length K, or row ``j`` is
    ``Bm[idx[j]]``), one register-tile width of rows of ``Bm`` (16, or 32 with AVX-512)
    per parallel task, each task owning those columns of ``C``."""
    cdef int level = get_level()
    cdef slide_gemm_idx_fn gemm_nt = slide_gemm_nt_idx_for_level(level)
    cdef Py_ssize_t t, j0, j1, width = 32 if level >= 2 else 16
    for t in prange((N + width - 1) // width, num_threads=n_threads, schedule="dynamic"):
        j0 = t * width
        j1 = j0 + width
        if j1 > N:
            j1 = N
        _nt_call(gemm_nt, M, j0, j1, K, A, lda, Bm, ldb, idx, C, ldc)


def dense_backward(const float[:, ::1] A, const float[:, ::1] W, const float[:, ::1] delta,
                   float[:, ::1] gW, float[::1] gb, bint relu_input, bint need_dA,
                   int n_threads=1):
    """Gradients of ``Z = A @ W + b``: ``gW += A^T delta``, ``gb += sum(delta)``,
    ``dA = delta W^T`` (SIMD GEMMs over column blocks in parallel).  No index arrays;
    the shapes are checked."""
    return _dense_backward(A, W, delta, gW, gb, relu_input, need_dA, n_threads)


cdef object _dense_backward(const float[:, ::1] A, const float[:, ::1] W,
                            const float[:, ::1] delta, float[:, ::1] gW, float[::1] gb,
                            bint relu_input, bint need_dA, int n_threads):
    cdef Py_ssize_t B = A.shape[0], n_in = A.shape[1], n_out = W.shape[1], i, j, t, j0, j1
    cdef Py_ssize_t n_blocks = (n_out + COL_BLOCK - 1) // COL_BLOCK
    if W.shape[0] != n_in or delta.shape[0] != B or delta.shape[1] != n_out \
            or gW.shape[0] != n_in or gW.shape[1] != n_out or gb.shape[0] != n_out:
        raise ValueError(f"dense_backward: A is {B}x{n_in}, W {W.shape[0]}x{n_out}, delta "
                         f"{delta.shape[0]}x{delta.shape[1]}, gW {gW.shape[0]}x{gW.shape[1]}, "
                         f"gb {gb.shape[0]}")
    if B == 0:
        return np.zeros((0, n_in), np.float32) if need_dA else None
    cdef slide_gemm_fn gemm_tn = slide_gemm_tn_for_level(get_level())
    for t in prange(n_blocks, nogil=True, num_threads=n_threads, schedule="dynamic"):
        j0 = t * COL_BLOCK
        j1 = j0 + COL_BLOCK
        if j1 > n_out:
            j1 = n_out
        gemm_tn(n_in, j1 - j0, B, &A[0, 0], n_in, &delta[0, j0], n_out, &gW[0, j0], n_out, 1)
        for i in range(B):
            for j in range(j0, j1):
                gb[j] += delta[i, j]
    if not need_dA:
        return None
    dA_a = np.empty((B, n_in), dtype=np.float32)
    cdef float[:, ::1] dA = dA_a
    with nogil:     # dA[:, rows of W] = delta @ W[rows]^T
        _gemm_nt_rows(B, n_in, n_out, &delta[0, 0], n_out, &W[0, 0], n_out, NULL, &dA[0, 0],
                      n_in, n_threads)
    if relu_input:
        for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
            for j in range(n_in):
                if A[i, j] <= 0:
                    dA[i, j] = 0
    return dA_a


def dense_backward_csr(const index_t[::1] indptr, const index_t[::1] indices,
                       const float[::1] data, const float[:, ::1] delta, float[:, ::1] gW,
                       float[::1] gb, int n_threads=1):
    """First-layer gradients ``gW[f] += x_f * delta_i``, parallel over features (race-free).

    Index arrays: ``indices`` (int32 or int64) each in ``[0, gW.shape[0])``, checked by
    ``check_matrix`` and again by the counting sort that groups the non-zeros by
    feature; checked here: ``indptr`` over the rows of ``delta`` from 0 to
    ``len(indices)``, never decreasing, and ``data`` aligned with ``indices``."""
    _dense_backward_csr(indptr, indices, data, delta, gW, gb, n_threads, False)


cdef int _check_csr_batch(indptr, indices, data, Py_ssize_t n_rows, str kernel) except -1:
    """The row pointers of a CSR batch of ``n_rows`` rows and its data (O(rows)); the
    feature ids are checked where they are grouped (``_group_by``)."""
    check_indptr_any(indptr, n_rows, len(indices), "indptr", kernel)
    check_length(len(data), len(indices), "data", kernel)
    return 0


def _by_feature(indptr, indices, Py_ssize_t n_feat):
    """A batch's non-zeros grouped by feature: ``(ptr, order, rows, present)``: the
    positions ``order[ptr[f]:ptr[f + 1]]`` hold feature ``f``, ``rows`` is each non-zero's
    sample, and ``present`` lists the features with work (sorted int32)."""
    ptr_a, order_a = _group_by(np.asarray(indices).astype(np.int32, copy=False), n_feat,
                               "indices")
    present_a = np.flatnonzero(np.diff(ptr_a)).astype(np.int32)
    return ptr_a, order_a, _rows_of(np.asarray(indptr)), present_a


cdef object _dense_backward_csr(object indptr, object indices, const float[::1] data,
                                const float[:, ::1] delta, float[:, ::1] gW, float[::1] gb,
                                int n_threads, bint bf16):
    """:func:`dense_backward_csr`; with ``bf16``, each touched row of ``gW`` and ``gb`` is
    rounded to bf16 once, after the batch's fp32 sum.  ``indptr`` and ``indices`` are the
    int32 or int64 arrays (or memoryviews) of the caller, read only by ``_by_feature``."""
    cdef Py_ssize_t B = delta.shape[0], n_out = delta.shape[1], n_feat = gW.shape[0]
    cdef Py_ssize_t i, j, f, e, k
    _check_csr_batch(indptr, indices, data, B, "dense_backward_csr")
    if gW.shape[1] != n_out or gb.shape[0] != n_out:
        raise ValueError("dense_backward_csr: gW and gb must have the columns of delta")
    ptr_a, order_a, rows_a, present_a = _by_feature(indptr, indices, n_feat)
    cdef const int64_t[::1] ptr = ptr_a, order = order_a
    cdef const int32_t[::1] rows = rows_a, present = present_a
    cdef slide_axpy_f32_fn axpy = slide_axpy_f32_for_level(get_level())
    cdef slide_round_bf16_fn rnd = slide_round_bf16_for_level(get_level())
    for e in prange(present.shape[0], nogil=True, num_threads=n_threads, schedule="dynamic",
                    chunksize=8):
        f = present[e]
        for k in range(ptr[f], ptr[f + 1]):
            axpy(data[order[k]], &delta[rows[order[k]], 0], &gW[f, 0], n_out)
        if bf16:
            rnd(&gW[f, 0], n_out)
    for j in prange(n_out, nogil=True, num_threads=n_threads, schedule="static"):
        for i in range(B):
            gb[j] += delta[i, j]
        if bf16:
            rnd(&gb[j], 1)


def dense_backward_csr_adam(const index_t[::1] indptr, const index_t[::1] indices,
                            const float[::1] data, const float[:, ::1] delta,
                            float[:, ::1] W, float[:, ::1] m, float[:, ::1] v, float[::1] gb,
                            double lr_t, double beta1, double beta2, double eps,
                            int n_threads=1):
    """:func:`dense_backward_csr` and lazy :func:`adam_step` fused (see the reference):
    each present feature's gradient row is summed in a per-thread buffer (same order as
    ``dense_backward_csr``) and stepped at once, while its rows of ``W``, ``m``, ``v``
    are the only memory touched: no gradient array is written, read back and zeroed.
    Returns the present features (sorted int32).

    Index arrays: as in :func:`dense_backward_csr` (``indices`` in ``[0, W.shape[0])``)."""
    cdef Py_ssize_t B = delta.shape[0], n_out = delta.shape[1], n_feat = W.shape[0]
    cdef Py_ssize_t i, j, f, e, k, c
    _check_csr_batch(indptr, indices, data, B, "dense_backward_csr_adam")
    if W.shape[1] != n_out or m.shape[0] != n_feat or v.shape[0] != n_feat or \
            m.shape[1] != n_out or v.shape[1] != n_out or gb.shape[0] != n_out:
        raise ValueError("dense_backward_csr_adam: W, m, v, gb and delta do not match")
    ptr_a, order_a, rows_a, present_a = _by_feature(indptr, indices, n_feat)
    cdef const int64_t[::1] ptr = ptr_a, order = order_a
    cdef const int32_t[::1] rows = rows_a, present = present_a
    cdef Py_ssize_t n_present = present.shape[0]
    cdef slide_axpy_f32_fn axpy = slide_axpy_f32_for_level(get_level())
    cdef slide_adam_f32_fn adam = slide_adam_f32_for_level(get_level())
    cdef float lr = <float>lr_t, b1 = <float>beta1, b2 = <float>beta2
    cdef float c1 = <float>(1.0 - beta1), c2 = <float>(1.0 - beta2), ep = <float>eps
    # one zeroed gradient row per thread; the Adam kernel zeroes it again after each row
    g_a = np.zeros((max(n_threads, 1), max(n_out, 1)), dtype=np.float32)
    cdef float[:, ::1] g = g_a
    cdef int tid
    if n_out and n_present:
        with nogil, parallel(num_threads=n_threads):
            tid = omp_get_thread_num()
            for e in prange(n_present, schedule="dynamic", chunksize=8):
                f = present[e]
                if e + AHEAD < n_present:   # scattered rows: fetch ahead (see AHEAD)
                    c = present[e + AHEAD]
                    slide_prefetch_adam_row(&W[c, 0], &m[c, 0], &m[c, 0], &v[c, 0], n_out)
                for k in range(ptr[f], ptr[f + 1]):
                    axpy(data[order[k]], &delta[rows[order[k]], 0], &g[tid, 0], n_out)
                adam(&W[f, 0], &g[tid, 0], &m[f, 0], &v[f, 0], n_out, lr, b1, c1, b2, c2, ep)
    for j in prange(n_out, nogil=True, num_threads=n_threads, schedule="static"):
        for i in range(B):
            gb[j] += delta[i, j]
    return present_a


# --------------------------------------------------------------------------- shared candidate sets
cdef int _check_rows(const int32_t[::1] rows, Py_ssize_t n, str kernel) except -1:
    """A clear error instead of an out-of-bounds write for a row id outside ``[0, n)``
    (O(len(rows)), next to kernels that do O(len(rows) * width) work on them)."""
    cdef Py_ssize_t r
    for r in range(rows.shape[0]):
        if rows[r] < 0 or rows[r] >= n:
            raise ValueError(f"{kernel}: a row id is outside [0, {n}) in rows")
    return 0


def block_forward(const float[:, ::1] A, const float[:, ::1] W, const int32_t[::1] rows,
                  const float[::1] b, int n_threads=1):
    """``A @ W[rows].T + b[rows]`` [B, C]: the NT GEMM reading the candidate rows of ``W``
    in place (packed per register tile), tiles of rows in parallel.

    Index arrays, checked here: ``rows`` (int32) each in ``[0, W.shape[0])``."""
    cdef Py_ssize_t B = A.shape[0], d = A.shape[1], C = rows.shape[0], i, j
    if W.shape[1] != d or b.shape[0] != W.shape[0]:
        raise ValueError(f"block_forward: A is {B}x{d}, W {W.shape[0]}x{W.shape[1]}, "
                         f"b {b.shape[0]}")
    _check_rows(rows, W.shape[0], "block_forward")
    Z_a = np.empty((B, C), dtype=np.float32)
    cdef float[:, ::1] Z = Z_a
    if B == 0 or C == 0:
        return Z_a
    with nogil:
        _gemm_nt_rows(B, C, d, &A[0, 0], d, &W[0, 0], d, &rows[0], &Z[0, 0], C, n_threads)
    for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
        for j in range(C):
            Z[i, j] = Z[i, j] + b[rows[j]]
    return Z_a


def block_backward(const float[:, ::1] A, const float[:, ::1] W, const int32_t[::1] rows,
                   const float[:, ::1] delta, float[:, ::1] gW, float[::1] gb, bint relu_input,
                   bint need_dA, int n_threads=1):
    """Gradients of :func:`block_forward` (see the reference): ``dA = delta @ W[rows]`` by
    the NN GEMM over the rows of ``W`` in place, per block of 64 columns, then
    ``gW[rows] += delta.T @ A`` by the GEMM per block of candidate rows (distinct rows:
    no races).

    Index arrays: ``rows`` (int32) each in ``[0, W.shape[0])``, checked here, and
    distinct (threads own rows), which the batch-shared sampler guarantees
    (``batch_candidates`` returns sorted distinct ids)."""
    if gW.shape[0] != W.shape[0] or gW.shape[1] != W.shape[1]:
        raise ValueError("block_backward: gW or gb does not match W")
    # unfused: gW is the output; the moment arguments are not read
    return _block_backward(A, W, rows, delta, gW, gW, gW, gb, 0, 0, 0, 0, relu_input,
                           need_dA, n_threads, False)


def block_backward_adam(const float[:, ::1] A, float[:, ::1] W, const int32_t[::1] rows,
                        const float[:, ::1] delta, float[:, ::1] m, float[:, ::1] v,
                        float[::1] gb, double lr_t, double beta1, double beta2, double eps,
                        bint relu_input, bint need_dA, int n_threads=1):
    """:func:`block_backward` and lazy :func:`adam_step` on ``W[rows]`` fused (see the
    reference): each candidate row's gradient goes from the GEMM's output block straight
    into its Adam step, so no gradient array is written, read back and zeroed. ``dA``
    is computed first, from the weights before the step.

    Index arrays: ``rows`` as in :func:`block_backward`."""
    if m.shape[0] != W.shape[0] or v.shape[0] != W.shape[0] or m.shape[1] != W.shape[1] \
            or v.shape[1] != W.shape[1]:
        raise ValueError("block_backward_adam: m or v does not match W")
    return _block_backward(A, W, rows, delta, W, m, v, gb, lr_t, beta1, beta2, eps,
                           relu_input, need_dA, n_threads, True)


def _block_backward(const float[:, ::1] A, const float[:, ::1] W, const int32_t[::1] rows,
                    const float[:, ::1] delta, float[:, ::1] out, float[:, ::1] m,
                    float[:, ::1] v, float[::1] gb, double lr_t, double beta1, double beta2,
                    double eps, bint relu_input, bint need_dA, int n_threads, bint fused):
    """``out`` is ``gW`` (accumulated), or with ``fused`` the weights ``W`` themselves,
    stepped by Adam with ``m`` and ``v``."""
    cdef Py_ssize_t B = A.shape[0], d = A.shape[1], C = rows.shape[0], i, j, c, t, j0, j1, r
    # about four tasks per thread, each a multiple of the AVX2 tile's 6 rows: every task
    # packs all of A again, so smaller ones would mostly copy
    cdef Py_ssize_t per_task = max(DW_ROWS, (C // (4 * max(n_threads, 1)) + 5) // 6 * 6)
    cdef Py_ssize_t n_blocks = (C + per_task - 1) // per_task
    cdef float acc
    cdef float lr = <float>lr_t, b1 = <float>beta1, b2 = <float>beta2
    cdef float c1 = <float>(1.0 - beta1), c2 = <float>(1.0 - beta2), ep = <float>eps
    cdef slide_adam_f32_fn adam = slide_adam_f32_for_level(get_level())
    kernel = "block_backward_adam" if fused else "block_backward"
    if delta.shape[0] != B or delta.shape[1] != C or W.shape[1] != d:
        raise ValueError(f"{kernel}: delta, rows and W do not match")
    if gb.shape[0] != W.shape[0]:
        raise ValueError(f"{kernel}: gW or gb does not match W")
    _check_rows(rows, W.shape[0], kernel)
    if B == 0:
        return np.zeros((0, d), np.float32) if need_dA else None
    dA_a = None
    cdef float[:, ::1] dA
    cdef slide_gemm_idx_fn gemm_nn = slide_gemm_nn_idx_for_level(get_level())
    if need_dA:     # first: the fused step changes W
        dA_a = np.zeros((B, d), dtype=np.float32)
        dA = dA_a
        if C:
            for t in prange((d + COL_BLOCK - 1) // COL_BLOCK, nogil=True,
                            num_threads=n_threads, schedule="dynamic"):
                j0 = t * COL_BLOCK
                j1 = j0 + COL_BLOCK
                if j1 > d:
                    j1 = d
                gemm_nn(B, j1 - j0, C, &delta[0, 0], C, &W[0, j0], d, &rows[0], &dA[0, j0], d,
                        0)
        if relu_input:
            for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
                for j in range(d):
                    if A[i, j] <= 0:
                        dA[i, j] = 0
    if C == 0:
        return dA_a
    gWc_a = np.empty((C, d), dtype=np.float32)
    deltaT_a = np.empty((C, B), dtype=np.float32)
    cdef float[:, ::1] gWc = gWc_a, deltaT = deltaT_a
    cdef slide_gemm_fn gemm_nn_plain = slide_gemm_nn_for_level(get_level())
    for t in prange(n_blocks, nogil=True, num_threads=n_threads, schedule="dynamic"):
        j0 = t * per_task
        j1 = j0 + per_task
        if j1 > C:
            j1 = C
        # delta's columns j0..j1 as rows: the GEMM then reads its left operand
        # contiguously (strided columns cost a TLB miss per step of the inner loop)
        for i in range(B):
            for j in range(j0, j1):
                deltaT[j, i] = delta[i, j]
        gemm_nn_plain(j1 - j0, d, B, &deltaT[j0, 0], B, &A[0, 0], d, &gWc[j0, 0], d, 0)
        for j in range(j0, j1):
            acc = 0
            for i in range(B):
                acc = acc + deltaT[j, i]
            r = rows[j]
            gb[r] += acc
            if fused:
                if j + AHEAD < j1:      # scattered rows: fetch ahead (see AHEAD)
                    c = rows[j + AHEAD]
                    slide_prefetch_adam_row(&out[c, 0], &m[c, 0], &m[c, 0], &v[c, 0], d)
                adam(&out[r, 0], &gWc[j, 0], &m[r, 0], &v[r, 0], d, lr, b1, c1, b2, c2, ep)
            else:
                for c in range(d):
                    out[r, c] += gWc[j, c]
    return dA_a


# --------------------------------------------------------------------------- optimizers
cdef int _check_like_W(Py_ssize_t n_rows, Py_ssize_t width, str kernel, others) except -1:
    """The optimizer kernels index every array at the rows and columns of ``W``."""
    for a in others:
        if a.shape[0] != n_rows or a.shape[1] != width:
            raise ValueError(f"{kernel}: gW and the moments must have the shape of W "
                             f"({n_rows}, {width}), got ({a.shape[0]}, {a.shape[1]})")
    return 0


def adam_step(float[:, ::1] W, float[:, ::1] gW, float[:, ::1] m, float[:, ::1] v, rows,
              double lr_t, double beta1, double beta2, double eps, int n_threads=1):
    """One Adam step (all rows, or the int32 ``rows``), then ``gW = 0`` (see the reference).

    Index arrays, checked here: ``rows`` each in ``[0, W.shape[0])`` (O(len(rows)) next
    to the O(len(rows) width) step); distinct, as the touched-row sets the callers
    pass (``unique_ids``, the active sets) are; ``gW``, ``m``, ``v`` shaped like ``W``."""
    cdef Py_ssize_t n_rows = W.shape[0], width = W.shape[1], r, t, lo, hi, chunk
    cdef float lr = <float>lr_t, b1 = <float>beta1, b2 = <float>beta2
    cdef float c1 = <float>(1.0 - beta1), c2 = <float>(1.0 - beta2), ep = <float>eps
    cdef slide_adam_f32_fn adam = slide_adam_f32_for_level(get_level())
    cdef const int32_t[::1] sel
    cdef Py_ssize_t total = n_rows * width, n_chunks
    _check_like_W(n_rows, width, "adam_step", (gW, m, v))
    if n_rows == 0 or width == 0:
        return
    if rows is None:
        # the arrays are contiguous: split the flat range into cache-sized chunks
        chunk = 16384
        n_chunks = (total + chunk - 1) // chunk
        for t in prange(n_chunks, nogil=True, num_threads=n_threads, schedule="static"):
            lo = t * chunk
            hi = lo + chunk
            if hi > total:
                hi = total
            adam(&W[0, 0] + lo, &gW[0, 0] + lo, &m[0, 0] + lo, &v[0, 0] + lo, hi - lo, lr, b1,
                 c1, b2, c2, ep)
        return
    sel = rows
    _check_rows(sel, n_rows, "adam_step")
    cdef Py_ssize_t n_sel = sel.shape[0], ahead
    for t in prange(n_sel, nogil=True, num_threads=n_threads, schedule="static"):
        if t + AHEAD < n_sel:      # scattered rows: fetch ahead while updating this one
            ahead = sel[t + AHEAD]
            slide_prefetch_adam_row(&W[ahead, 0], &gW[ahead, 0], &m[ahead, 0], &v[ahead, 0],
                                    width)
        r = sel[t]
        adam(&W[r, 0], &gW[r, 0], &m[r, 0], &v[r, 0], width, lr, b1, c1, b2, c2, ep)


# see the reference's CATCHUP_MAX (the C constant serves the nogil helpers)
cdef enum:
    CATCHUP_KMAX = 200
CATCHUP_MAX = CATCHUP_KMAX


cdef object _catchup_table(long t, double lr, double beta1, double beta2):
    """``[f(k), beta1^k, beta2^k]`` for ``k = 0 .. CATCHUP_MAX`` before step ``t`` (see
    :func:`adam_catchup`)."""
    cdef long k, kmax = CATCHUP_KMAX
    cdef double ratio = beta1 / sqrt(beta2), dk1, dk2
    tab_a = np.zeros((kmax + 1, 3))     # f(k), beta1^k, beta2^k
    cdef double[:, ::1] tab = tab_a
    tab[0, 1] = 1
    tab[0, 2] = 1
    for k in range(kmax):
        if t - 1 - k >= 1:      # lr of step t-1-k, bias-corrected
            dk1 = pow(beta1, t - 1 - k)
            dk2 = pow(beta2, t - 1 - k)
            tab[k + 1, 0] = ratio * (tab[k, 0] + lr * sqrt(1 - dk2) / (1 - dk1))
        tab[k + 1, 1] = tab[k, 1] * beta1
        tab[k + 1, 2] = tab[k, 2] * beta2
    return tab_a


cdef struct CatchupFactors:
    float f       # the weight's step factor
    float f1      # beta1^k: the decay of m
    float f2      # beta2^k: the decay of v


cdef inline CatchupFactors _catchup_factors(const double[:, ::1] tab, long k, long t,
                                            double lr, double beta1,
                                            double beta2) noexcept nogil:
    """The factors of a row that missed ``k >= 1`` steps: from the table, or beyond it the
    first CATCHUP_MAX terms of its series (later terms are below ratio^kmax)."""
    cdef long j, kmax = CATCHUP_KMAX
    cdef double f, pw, dk1, dk2, ratio = beta1 / sqrt(beta2)
    cdef CatchupFactors out
    if k <= kmax:
        out.f = <float>tab[k, 0]
        out.f1 = <float>tab[k, 1]
        out.f2 = <float>tab[k, 2]
        return out
    f = 0
    pw = 1
    dk1 = pow(beta1, t - k - 1)     # beta^s of the step before the first skipped one
    dk2 = pow(beta2, t - k - 1)
    for j in range(1, kmax + 1):
        pw = pw * ratio
        dk1 = dk1 * beta1
        dk2 = dk2 * beta2
        f = f + lr * sqrt(1 - dk2) / (1 - dk1) * pw
    out.f = <float>f
    out.f1 = <float>pow(beta1, k)
    out.f2 = <float>pow(beta2, k)
    return out


def adam_catchup(float[:, ::1] W, float[:, ::1] m, float[:, ::1] v, const int32_t[::1] rows,
                 skipped, long t, double lr, double beta1, double beta2, double eps,
                 int n_threads=1):
    """The zero-gradient Adam steps each row missed, in closed form (see the reference):
    one factor per row, then one pass over the row's weights.

    The factor of a row depends only on ``t`` and its ``k`` missed steps:
    ``f(k) = sum_{u<k} lr_(t-1-u) ratio^(k-u)``, so ``f(k + 1) = ratio (f(k) +
    lr_(t-1-k))`` tabulates every ``k <= CATCHUP_MAX`` once per call (with ``beta^k``);
    only rows that missed more steps sum their capped series themselves.

    Index arrays, checked here: ``rows`` (int32) each in ``[0, W.shape[0])``, and
    ``skipped`` one per row."""
    cdef const int64_t[::1] missed = np.ascontiguousarray(skipped, dtype=np.int64)
    cdef Py_ssize_t n_rows = rows.shape[0], width = W.shape[1], i
    cdef long k, r
    cdef float ep = <float>eps
    cdef CatchupFactors fac
    cdef slide_catchup_f32_fn catchup = slide_catchup_f32_for_level(get_level())
    if missed.shape[0] != n_rows:
        raise ValueError("adam_catchup: rows and skipped differ in length")
    _check_rows(rows, W.shape[0], "adam_catchup")
    if n_rows == 0 or width == 0:
        return
    cdef const double[:, ::1] tab = _catchup_table(t, lr, beta1, beta2)
    for i in prange(n_rows, nogil=True, num_threads=n_threads, schedule="static"):
        if i + AHEAD < n_rows:      # scattered rows: fetch ahead (see AHEAD)
            r = rows[i + AHEAD]
            slide_prefetch_adam_row(&W[r, 0], &m[r, 0], &m[r, 0], &v[r, 0], width)
        k = missed[i]
        if k <= 0:
            continue
        r = rows[i]
        fac = _catchup_factors(tab, k, t, lr, beta1, beta2)
        catchup(&W[r, 0], &m[r, 0], &v[r, 0], width, fac.f, fac.f1, fac.f2, ep)


def adam_catchup_rows(float[:, ::1] W, float[:, ::1] m, float[:, ::1] v, b, mb, vb,
                      const int32_t[::1] rows, int64_t[::1] last, long t, double lr,
                      double beta1, double beta2, double eps, int n_threads=1):
    """:func:`adam_catchup` of a layer's rows before step ``t`` reads them, in one call:
    each row's missed steps are ``t - 1 - last[row]``, the rows of ``W`` and (unless
    ``b`` is None) of the bias ``b`` with its moments ``mb``, ``vb`` catch up with the
    same factors, and ``last[row]`` becomes ``t - 1`` (see the reference). Bit for bit
    the two :func:`adam_catchup` calls it replaces, without their index temporaries.

    Index arrays, checked here: ``rows`` (int32) each in ``[0, W.shape[0])``; distinct
    (threads own rows), as the touched-row sets the layers pass are."""
    cdef Py_ssize_t n_rows = rows.shape[0], width = W.shape[1], i
    cdef long k, r
    cdef float ep = <float>eps
    cdef CatchupFactors fac
    cdef bint has_bias = b is not None
    cdef float[::1] b_v, mb_v, vb_v
    cdef slide_catchup_f32_fn catchup = slide_catchup_f32_for_level(get_level())
    _check_like_W(W.shape[0], width, "adam_catchup_rows", (m, v))
    if last.shape[0] != W.shape[0]:
        raise ValueError("adam_catchup_rows: last must have one entry per row of W")
    if has_bias:
        b_v, mb_v, vb_v = b, mb, vb
        if b_v.shape[0] != W.shape[0] or mb_v.shape[0] != W.shape[0] or \
                vb_v.shape[0] != W.shape[0]:
            raise ValueError("adam_catchup_rows: b, mb and vb must have one entry per row of W")
    _check_rows(rows, W.shape[0], "adam_catchup_rows")
    if n_rows == 0:
        return
    cdef const double[:, ::1] tab = _catchup_table(t, lr, beta1, beta2)
    for i in prange(n_rows, nogil=True, num_threads=n_threads, schedule="static"):
        if i + AHEAD < n_rows and width:    # scattered rows: fetch ahead (see AHEAD)
            r = rows[i + AHEAD]
            slide_prefetch_adam_row(&W[r, 0], &m[r, 0], &m[r, 0], &v[r, 0], width)
        r = rows[i]
        k = t - 1 - last[r]
        last[r] = t - 1
        if k <= 0:
            continue
        fac = _catchup_factors(tab, k, t, lr, beta1, beta2)
        if width:
            catchup(&W[r, 0], &m[r, 0], &v[r, 0], width, fac.f, fac.f1, fac.f2, ep)
        if has_bias:
            catchup(&b_v[r], &mb_v[r], &vb_v[r], 1, fac.f, fac.f1, fac.f2, ep)


def sgd_step(float[:, ::1] W, float[:, ::1] gW, rows, double lr, int n_threads=1):
    """``W -= lr * gW`` (all rows, or the int32 ``rows``), then ``gW = 0``.

    Index arrays, checked here: ``rows`` each in ``[0, W.shape[0])``; ``gW`` shaped like
    ``W``."""
    cdef Py_ssize_t n_rows = W.shape[0], width = W.shape[1], r, t, c
    cdef float step = <float>lr
    cdef const int32_t[::1] sel
    _check_like_W(n_rows, width, "sgd_step", (gW,))
    if rows is None:
        for r in prange(n_rows, nogil=True, num_threads=n_threads, schedule="static"):
            for c in range(width):
                W[r, c] -= step * gW[r, c]
                gW[r, c] = 0
        return
    sel = rows
    _check_rows(sel, n_rows, "sgd_step")
    for t in prange(sel.shape[0], nogil=True, num_threads=n_threads, schedule="static"):
        r = sel[t]
        for c in range(width):
            W[r, c] -= step * gW[r, c]
            gW[r, c] = 0
