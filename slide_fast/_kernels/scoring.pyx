# cython: freethreading_compatible = True
"""Cython twin of ``slide_ref._kernels.scoring``: inference's fused score + top-k.

Each parallel task owns a tile of rows: it computes their logits one tile of classes
at a time with the SIMD GEMM of ``gemm.h`` into a buffer of its own (at most
``ROW_TILE x CLASS_TILE`` floats) and folds them into each row's running top ``k``,
so no [rows x classes] score matrix and no int64 index temporaries exist.  Rows
are independent, so the result does not depend on the number of threads.
"""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport malloc, free
from libc.math cimport INFINITY

from slide_fast._kernels._cpu cimport get_level

cnp.import_array()

from slide_fast._kernels._gemm cimport (slide_gemm_fn, slide_gemm_nn_for_level,
                                        slide_gemm_nt_for_level)

cdef enum:
    ROW_TILE = 64       # rows per task: W is streamed once per 64 rows
    CLASS_TILE = 1024   # classes per GEMM call: a 64 x 1024 tile of logits (256 KB)


cdef inline void _insert(const float *z, Py_ssize_t n, Py_ssize_t offset, Py_ssize_t k,
                         float *val, int64_t *pos, Py_ssize_t *held) noexcept nogil:
    """Fold logits ``z[0..n)`` of classes ``offset + j`` into the sorted top ``k``
    (``val``/``pos``, ``held`` filled); classes come in increasing order, so an equal
    logit goes after those held (ties to the smaller id).  NaN and -inf never enter."""
    cdef Py_ssize_t j, p, h = held[0]
    cdef float x
    for j in range(n):
        x = z[j]
        if x != x or x == -INFINITY or (h == k and not (x > val[k - 1])):
            continue
        p = h if h < k else k - 1
        while p > 0 and x > val[p - 1]:
            val[p] = val[p - 1]
            pos[p] = pos[p - 1]
            p -= 1
        val[p] = x
        pos[p] = offset + j
        if h < k:
            h += 1
    held[0] = h


def score_topk(const float[:, ::1] H, const float[:, ::1] W, const float[::1] b, Py_ssize_t k,
               bint rows_layout, int n_threads=1):
    """Top-``k`` outputs of every row of ``H`` [B, d]: ``(ids [B, k] int64, scores [B, k]
    float32)``; ``W`` is ``[N][d]`` when ``rows_layout`` else ``[d][N]``.

    Relies on: shapes consistent (checked here, O(1)); ``1 <= k <= N`` (checked here).
    """
    cdef Py_ssize_t B = H.shape[0], d, N, t, r0, r1, c0, c1, i, j, nr, nc
    if rows_layout:
        N, d = W.shape[0], W.shape[1]
    else:
        d, N = W.shape[0], W.shape[1]
    if H.shape[1] != d or b.shape[0] != N:
        raise ValueError(f"score_topk: H is ({B}, {H.shape[1]}), W ({W.shape[0]}, "
                         f"{W.shape[1]}) ({'[out][in]' if rows_layout else '[in][out]'}), "
                         f"b ({b.shape[0]},)")
    if k < 1 or k > N:
        raise ValueError(f"score_topk: k={k} is outside [1, {N}]")
    ids_a = np.full((B, k), -1, dtype=np.int64)
    scores_a = np.full((B, k), -np.inf, dtype=np.float32)
    cdef int64_t[:, ::1] ids = ids_a
    cdef float[:, ::1] scores = scores_a
    if B == 0:
        return ids_a, scores_a
    cdef int level = get_level()
    cdef slide_gemm_fn gemm = slide_gemm_nt_for_level(level) if rows_layout \
        else slide_gemm_nn_for_level(level)
    cdef float *Z
    cdef Py_ssize_t *held
    cdef Py_ssize_t n_tasks = (B + ROW_TILE - 1) // ROW_TILE
    for t in prange(n_tasks, nogil=True, num_threads=n_threads, schedule="dynamic"):
        r0 = t * ROW_TILE
        r1 = r0 + ROW_TILE
        if r1 > B:
            r1 = B
        nr = r1 - r0
        Z = <float *> malloc(ROW_TILE * CLASS_TILE * sizeof(float))
        held = <Py_ssize_t *> malloc(ROW_TILE * sizeof(Py_ssize_t))
        for i in range(nr):
            held[i] = 0
        c0 = 0
        while c0 < N:
            c1 = c0 + CLASS_TILE
            if c1 > N:
                c1 = N
            nc = c1 - c0
            if rows_layout:
                gemm(nr, nc, d, &H[r0, 0], d, &W[c0, 0], d, Z, nc, 0)
            else:
                gemm(nr, nc, d, &H[r0, 0], d, &W[0, c0], N, Z, nc, 0)
            for i in range(nr):
                for j in range(nc):
                    Z[i * nc + j] = Z[i * nc + j] + b[c0 + j]
                _insert(Z + i * nc, nc, c0, k, &scores[r0 + i, 0], &ids[r0 + i, 0], &held[i])
            c0 = c1
        free(Z)
        free(held)
    return ids_a, scores_a
