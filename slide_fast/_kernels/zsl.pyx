# cython: freethreading_compatible = True
"""Cython kernels of soft-label zero-shot learning; twin of the reference ``_kernels.zsl``.

The two products with the frozen attribute matrix (logits ``s F A`` and the
gradient ``dZ A^T``) are single-precision BLAS calls (scipy's Cython BLAS).
Between them, one fused OpenMP pass per sample does the softmax over all
classes, the soft target or the unseen-class KL term, the loss and the scaled
gradient in place of the logits.  Each sample writes its own row, so there are
no races and the result does not depend on the number of threads.
"""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t
from libc.math cimport log
from scipy.linalg.cython_blas cimport sgemm

from slide_fast._kernels._cpu cimport get_level
from slide_fast._kernels._checks cimport check_ids, check_length

cnp.import_array()

cdef extern from "softmax.h" nogil:
    ctypedef double (*slide_exp_row_fn)(const float *z, int64_t n, float zmax,
                                        float *e) noexcept nogil
    slide_exp_row_fn slide_exp_row_for_level(int level)

cdef enum:
    MODE_SOFT_LABEL = 0
    MODE_CE_KL = 1

    # softmax entries below which the fused pass runs on one thread (waking threads costs more)
    MIN_PARALLEL_WORK = 1 << 18

SOFT_LABEL = MODE_SOFT_LABEL
CE_KL = MODE_CE_KL


cdef void _logits(const float[:, ::1] F, const float[:, ::1] A, float alpha,
                  float[:, ::1] Z) noexcept nogil:
    # row-major Z[B, C] = alpha F[B, K] A[K, C] is column-major Z^T = alpha A^T F^T
    cdef int B = F.shape[0], K = F.shape[1], C = A.shape[1]
    cdef float beta = 0.0
    cdef char tr = b'N'
    sgemm(&tr, &tr, &C, &B, &K, &alpha, <float *>&A[0, 0], &C, <float *>&F[0, 0], &K, &beta,
          &Z[0, 0], &C)


def standardize(const float[:, ::1] X, const float[::1] mean, const float[::1] scale,
                int n_threads=1):
    """``(X - mean) / scale`` per column, float32 [n, D]: one pass, rows split among
    threads (the same float32 operations as the reference, so the same bits).

    No index arrays; ``mean`` and ``scale`` checked against ``X``'s width.
    """
    cdef Py_ssize_t n = X.shape[0], D = X.shape[1], i, j
    if mean.shape[0] != D or scale.shape[0] != D:
        raise ValueError(f"mean and scale need {D} entries, got {mean.shape[0]} and "
                         f"{scale.shape[0]}")
    out_a = np.empty((n, D), dtype=np.float32)
    cdef float[:, ::1] out = out_a
    if n * D < MIN_PARALLEL_WORK:
        n_threads = 1
    for i in prange(n, nogil=True, num_threads=n_threads, schedule="static"):
        for j in range(D):
            out[i, j] = (X[i, j] - mean[j]) / scale[j]
    return out_a


def attribute_logits(const float[:, ::1] F, const float[:, ::1] A, double logit_scale,
                     int n_threads=1):
    """Class logits ``z = s * F @ A`` [B, C] (one BLAS call).

    No index arrays."""
    Z_a = np.empty((F.shape[0], A.shape[1]), dtype=np.float32)
    cdef float[:, ::1] Z = Z_a
    if F.shape[0] == 0 or A.shape[1] == 0:
        return Z_a
    if F.shape[1] == 0:
        Z_a[...] = 0
        return Z_a
    with nogil:
        _logits(F, A, <float>logit_scale, Z)
    return Z_a


def attribute_softmax_grad(const float[:, ::1] F, const float[:, ::1] A, const int32_t[::1] y,
                           const float[:, ::1] R, Py_ssize_t n_seen, int mode, double q,
                           double lam, double logit_scale, double grad_scale, int n_threads=1):
    """Loss and gradient of the frozen attribute layer (see the reference):
    ``(dF [B, K] float32, loss [B] float64)``.

    Index arrays, checked here: ``y`` (int32, one per row of ``F``) each in
    ``[0, n_seen)`` (the estimator maps its checked labels to these positions),
    ``0 < n_seen < C``, ``A`` [K, C] and ``R`` [n_seen, C - n_seen]."""
    cdef Py_ssize_t B = F.shape[0], K = F.shape[1], C = A.shape[1], U = C - n_seen
    if n_seen <= 0 or n_seen >= C or A.shape[0] != K or R.shape[0] != n_seen \
            or R.shape[1] != U:
        raise ValueError(f"attribute_softmax_grad: F is {B}x{K}, A {A.shape[0]}x{C}, R "
                         f"{R.shape[0]}x{R.shape[1]} with n_seen={n_seen}")
    check_length(y.shape[0], B, "y", "attribute_softmax_grad")
    check_ids(y, n_seen, "y", "attribute_softmax_grad")
    cdef Py_ssize_t i, c, u, yi
    cdef float zmax, zmaxu, inv, ws
    cdef double denom, denu, logden, logdenu, t, r, lossi, kl
    cdef int Bi = <int>B, Ki = <int>K, Ci = <int>C
    cdef float one = 1.0, beta = 0.0
    cdef char tr_t = b'T', tr_n = b'N'
    Z_a = np.empty((B, C), dtype=np.float32)
    G_a = np.empty((B, C), dtype=np.float32)
    E_a = np.empty((B, U if mode == MODE_CE_KL else 1), dtype=np.float32)
    loss_a = np.zeros(B, dtype=np.float64)
    dF_a = np.zeros((B, K), dtype=np.float32)
    cdef float[:, ::1] Z = Z_a, G = G_a, E = E_a, dF = dF_a
    cdef double[::1] loss = loss_a
    if B == 0 or K == 0 or C == 0:
        return dF_a, loss_a
    cdef slide_exp_row_fn exp_row = slide_exp_row_for_level(get_level())
    with nogil:
        _logits(F, A, <float>logit_scale, Z)
    ws = <float>(logit_scale * grad_scale)
    if B * C < MIN_PARALLEL_WORK:
        n_threads = 1
    for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
        yi = y[i]
        zmax = Z[i, 0]
        for c in range(1, C):
            if Z[i, c] > zmax:
                zmax = Z[i, c]
        denom = exp_row(&Z[i, 0], C, zmax, &G[i, 0])
        logden = log(denom)
        inv = <float>(1.0 / denom)
        for c in range(C):
            G[i, c] = G[i, c] * inv
        if mode == MODE_SOFT_LABEL:
            t = 1.0 - q
            lossi = -t * ((Z[i, yi] - zmax) - logden)
            G[i, yi] = G[i, yi] - <float>t
            for u in range(U):
                t = q * R[yi, u]
                G[i, n_seen + u] = G[i, n_seen + u] - <float>t
                lossi = lossi - t * ((Z[i, n_seen + u] - zmax) - logden)
        else:
            lossi = -((Z[i, yi] - zmax) - logden)
            G[i, yi] = G[i, yi] - 1.0
            zmaxu = Z[i, n_seen]
            for u in range(1, U):
                if Z[i, n_seen + u] > zmaxu:
                    zmaxu = Z[i, n_seen + u]
            denu = exp_row(&Z[i, n_seen], U, zmaxu, &E[i, 0])
            logdenu = log(denu)
            kl = 0.0
            for u in range(U):
                r = R[yi, u]
                G[i, n_seen + u] = G[i, n_seen + u] + <float>(lam * (E[i, u] / denu - r))
                if r > 0:
                    kl = kl + r * (log(r) - ((Z[i, n_seen + u] - zmaxu) - logdenu))
            lossi = lossi + lam * kl
        for c in range(C):
            G[i, c] = G[i, c] * ws
        loss[i] = lossi
    with nogil:
        # row-major dF[B, K] = G[B, C] A^T is column-major dF^T = A G^T
        sgemm(&tr_t, &tr_n, &Ki, &Bi, &Ci, &one, <float *>&A[0, 0], &Ci, &G[0, 0], &Ci, &beta,
              &dF[0, 0], &Ki)
    return dF_a, loss_a


# --------------------------------------------------------------------------- dense layers
# The network f of SoftLabelZSL is made of dense layers with the signatures of the
# engine's (the reference ``_kernels.zsl`` re-exports the engine's own).  Its batches are
# dense and its layers narrow, the shape BLAS is tuned for, so the fast twins here are
# single BLAS calls.  Adam is the engine's ``network.adam_step``.
def dense_forward(const float[:, ::1] A, const float[:, ::1] W, const float[::1] b, bint relu,
                  int n_threads=1):
    """``A @ W + b`` (``W`` [in][out]), ReLU if ``relu``: one sgemm.

    ``n_threads`` is for signature parity: the BLAS pool sets the threads.

    No index arrays.
    """
    cdef int B = A.shape[0], n_in = A.shape[1], n_out = W.shape[1]
    cdef Py_ssize_t i, j
    cdef float one = 1.0, zero = 0.0
    cdef char tr = b'N'
    Z_a = np.empty((B, n_out), dtype=np.float32)
    cdef float[:, ::1] Z = Z_a
    if B == 0 or n_out == 0:
        return Z_a
    # the bias is the GEMM's initial value (beta = 1); the element-wise passes are serial:
    # they are short next to the GEMM, and OpenMP threads would compete with the BLAS
    # pool's for the same cores
    with nogil:
        for i in range(B):
            for j in range(n_out):
                Z[i, j] = b[j]
        if n_in > 0:
            # column-major: Z^T [out, B] = W^T [out, in] A^T [in, B] + Z^T
            sgemm(&tr, &tr, &n_out, &B, &n_in, &one, <float *>&W[0, 0], &n_out,
                  <float *>&A[0, 0], &n_in, &one, &Z[0, 0], &n_out)
        if relu:
            for i in range(B):
                for j in range(n_out):
                    if Z[i, j] < 0:
                        Z[i, j] = 0
    return Z_a


def dense_backward(const float[:, ::1] A, const float[:, ::1] W, const float[:, ::1] delta,
                   float[:, ::1] gW, float[::1] gb, bint relu_input, bint need_dA,
                   int n_threads=1):
    """``gW += A^T delta``, ``gb += sum(delta)`` and ``dA = delta W^T`` (masked by
    ``A > 0`` when ``relu_input``): two sgemm calls (threads: the BLAS pool's).

    No index arrays.
    """
    cdef int B = A.shape[0], n_in = A.shape[1], n_out = W.shape[1]
    cdef Py_ssize_t i, j
    cdef float one = 1.0, zero = 0.0
    cdef char tr_n = b'N', tr_t = b'T'
    if B == 0:
        return np.zeros((0, n_in), np.float32) if need_dA else None
    with nogil:
        # column-major: gW^T [out, in] += delta^T [out, B] A [B, in]
        sgemm(&tr_n, &tr_t, &n_out, &n_in, &B, &one, <float *>&delta[0, 0], &n_out,
              <float *>&A[0, 0], &n_in, &one, &gW[0, 0], &n_out)
    with nogil:
        for i in range(B):
            for j in range(n_out):
                gb[j] += delta[i, j]
    if not need_dA:
        return None
    dA_a = np.empty((B, n_in), dtype=np.float32)
    cdef float[:, ::1] dA = dA_a
    with nogil:
        # column-major: dA^T [in, B] = W [in, out] delta^T [out, B]
        sgemm(&tr_t, &tr_n, &n_in, &B, &n_out, &one, <float *>&W[0, 0], &n_out,
              <float *>&delta[0, 0], &n_out, &zero, &dA[0, 0], &n_in)
        if relu_input:
            for i in range(B):
                for j in range(n_in):
                    if A[i, j] <= 0:
                        dA[i, j] = 0
    return dA_a
