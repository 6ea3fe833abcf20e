# cython: freethreading_compatible = True
"""Cython kernels of the BF16 modes; twin of the reference ``_kernels.bf16`` (same signatures).

Data model and rounding points: see the reference module.  The SIMD variants
(scalar, AVX2, AVX-512, AVX512-BF16 for the dot product) are in
``slide_fast/_simd/bf16.h`` and follow the level of ``set_simd_level``.  The
bit conversions used outside the training loop (``rne_bits``, ``split``,
``join``...) are serial loops over the scalar helpers of ``bf16.h``.  The layer
kernels reuse the fp32 engine's C-level helpers, declared in ``network.pxd``.
"""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t, uint16_t, uint32_t

from slide_fast._kernels._cpu cimport get_level
from slide_fast._kernels.network cimport (DOT_BF16, DOT_HI, _check_rows, _dense_backward,
                                          _dense_backward_csr, _sampled_backward,
                                          _sampled_forward)

cnp.import_array()

__all__ = ["rne_bits", "trunc_bits", "bits_to_f32", "split", "join", "round_bf16",
           "sampled_forward_bf16", "sampled_forward_hi", "sampled_backward_bf16", "dense_backward_bf16",
           "dense_backward_csr_bf16", "adam_step_split", "sgd_step_split", "refresh_bf16_rows",
           "block_forward_bf16", "block_input_delta_bf16"]

cdef extern from "bf16.h" nogil:
    ctypedef void (*slide_round_bf16_fn)(float *x, int64_t n) noexcept nogil
    ctypedef void (*slide_adam_split_fn)(float *w, uint16_t *lo, float *g, float *m, float *v,
                                         int64_t n, float lr, float b1, float c1, float b2,
                                         float c2, float eps) noexcept nogil
    slide_round_bf16_fn slide_round_bf16_for_level(int level)
    slide_adam_split_fn slide_adam_split_for_level(int level)
    uint32_t slide_f32_bits(float x)
    float slide_bits_f32(uint32_t u)
    float slide_rne_bf16(float x)

cdef extern from "gemm_bf16.h" nogil:
    ctypedef void (*slide_gemm_bf16_fn)(int64_t M, int64_t N, int64_t K, const float *Af,
                                           const uint16_t *Ah, int64_t lda, const uint16_t *B,
                                           int64_t ldb, const int32_t *idx, float *C,
                                           int64_t ldc) noexcept nogil
    ctypedef void (*slide_rne_bits_fn)(const float *x, uint16_t *out, int64_t n) noexcept nogil
    slide_gemm_bf16_fn slide_gemm_nt_bf16_for_level(int level)
    slide_gemm_bf16_fn slide_gemm_nn_bf16_for_level(int level)
    int64_t slide_gemm_nt_bf16_width(int level)
    slide_rne_bits_fn slide_rne_bits_for_level(int level)

# elements per parallel task of the in-place rounding
cdef enum:
    ROUND_CHUNK = 16384


# --------------------------------------------------------------------------- conversions
cdef enum:
    HIGH_HALF = 0xFFFF0000u
    LOW_HALF = 0x0000FFFFu


def _flat_f32(x):
    """``x`` as a C-contiguous float32 array and its flat view."""
    a = np.ascontiguousarray(x, dtype=np.float32)
    return a, a.reshape(-1)


def _bf16_bits(x, bint rne):
    """float32 -> bf16 bits (``uint16``): rounded to nearest even, or the truncated high
    half of the word."""
    a, flat = _flat_f32(x)
    out_a = np.empty(a.shape, dtype=np.uint16)
    cdef const float[::1] src = flat
    cdef uint16_t[::1] out = out_a.reshape(-1)
    cdef Py_ssize_t i
    with nogil:
        for i in range(src.shape[0]):
            out[i] = <uint16_t>(slide_f32_bits(slide_rne_bf16(src[i]) if rne else src[i]) >> 16)
    return out_a


def rne_bits(x):
    """float32 -> bf16 bits (``uint16``), round to nearest, ties to even (NaN stays a quiet
    NaN, infinities stay infinite; see the reference)."""
    return _bf16_bits(x, True)


def trunc_bits(x):
    """float32 -> bf16 bits (``uint16``) by truncation: the high half of the word."""
    return _bf16_bits(x, False)


def bits_to_f32(h):
    """bf16 bits (``uint16``) -> float32 (exact)."""
    a = np.ascontiguousarray(h, dtype=np.uint16)
    out_a = np.empty(a.shape, dtype=np.float32)
    cdef const uint16_t[::1] src = a.reshape(-1)
    cdef float[::1] out = out_a.reshape(-1)
    cdef Py_ssize_t i
    with nogil:
        for i in range(src.shape[0]):
            out[i] = slide_bits_f32(<uint32_t>src[i] << 16)
    return out_a


def split(W):
    """fp32 -> ``(hi, lo)``: the high half as float32 (low bits zero) and the low half
    (uint16); ``join(hi, lo)`` is ``W`` bit for bit."""
    a, flat = _flat_f32(W)
    hi_a = np.empty(a.shape, dtype=np.float32)
    lo_a = np.empty(a.shape, dtype=np.uint16)
    cdef const float[::1] src = flat
    cdef float[::1] hi = hi_a.reshape(-1)
    cdef uint16_t[::1] lo = lo_a.reshape(-1)
    cdef Py_ssize_t i
    cdef uint32_t u
    with nogil:
        for i in range(src.shape[0]):
            u = slide_f32_bits(src[i])
            hi[i] = slide_bits_f32(u & HIGH_HALF)
            lo[i] = <uint16_t>(u & LOW_HALF)
    return hi_a, lo_a


def join(hi, lo):
    """Exact fp32 weights from mode 2's halves (the inverse of :func:`split`)."""
    h, hflat = _flat_f32(hi)
    l = np.ascontiguousarray(lo, dtype=np.uint16)
    if h.shape != l.shape:
        raise ValueError(f"join: hi has shape {h.shape}, lo {l.shape}")
    out_a = np.empty(h.shape, dtype=np.float32)
    cdef const float[::1] src = hflat
    cdef const uint16_t[::1] low = l.reshape(-1)
    cdef float[::1] out = out_a.reshape(-1)
    cdef Py_ssize_t i
    with nogil:
        for i in range(src.shape[0]):
            out[i] = slide_bits_f32((slide_f32_bits(src[i]) & HIGH_HALF) | low[i])
    return out_a


# --------------------------------------------------------------------------- layers
def round_bf16(x, int n_threads=1):
    """Round a C-contiguous float32 array to bf16 values in place (RNE); returns it."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or not x.flags.c_contiguous:
        raise TypeError("round_bf16 needs a C-contiguous float32 array")
    if x.size == 0:
        return x
    cdef float[::1] flat = x.reshape(-1)
    cdef Py_ssize_t n = flat.shape[0], t, lo, hi
    cdef Py_ssize_t n_chunks = (n + ROUND_CHUNK - 1) // ROUND_CHUNK
    cdef slide_round_bf16_fn rnd = slide_round_bf16_for_level(get_level())
    for t in prange(n_chunks, nogil=True, num_threads=n_threads, schedule="static"):
        lo = t * ROUND_CHUNK
        hi = lo + ROUND_CHUNK
        if hi > n:
            hi = n
        rnd(&flat[lo], hi - lo)
    return x


def sampled_forward_bf16(const float[:, ::1] A, const float[:, ::1] W, const float[::1] b,
                         const int64_t[::1] act_indptr, const int32_t[::1] act_ids, bint relu,
                         int n_threads=1):
    """``RNE(W[j]) . A[i] + b[j]`` per active pair, fp32 accumulation (VDPBF16PS where the
    CPU has AVX512-BF16); pairs grouped by neuron as in the fp32 kernel.

    Index arrays: as in ``network.sampled_forward`` (checked there).
    """
    return _sampled_forward(A, W, b, act_indptr, act_ids, relu, n_threads, DOT_BF16)


def sampled_forward_hi(const float[:, ::1] A, const float[:, ::1] W, const float[::1] b,
                       const int64_t[::1] act_indptr, const int32_t[::1] act_ids, bint relu,
                       int n_threads=1):
    """Mode 2's forward: ``W`` holds bf16 values already, so no rounding (the fp32 dot
    product, or VDPBF16PS where the CPU has AVX512-BF16).

    Index arrays: as in ``network.sampled_forward`` (checked there).
    """
    return _sampled_forward(A, W, b, act_indptr, act_ids, relu, n_threads, DOT_HI)


def sampled_backward_bf16(A, W, act_indptr, act_ids, delta, gW, gb, bint relu_input,
                          bint need_dA, int n_threads=1):
    """Sampled-layer gradients summed over the batch in fp32 and rounded once per touched
    row; the input delta is masked and rounded (see the reference).

    Index arrays: as in ``network.sampled_backward`` (checked there).
    """
    return _sampled_backward(A, W, act_indptr, act_ids, delta, gW, gb, relu_input, need_dA,
                             n_threads, True)


def dense_backward_bf16(A, W, delta, gW, gb, bint relu_input, bint need_dA, int n_threads=1):
    """Dense-layer gradients (fp32 GEMM onto the stored values), then ``gW``, ``gb`` and the
    input delta rounded to bf16."""
    dA = _dense_backward(A, W, delta, gW, gb, relu_input, need_dA, n_threads)
    round_bf16(np.asarray(gW), n_threads)
    round_bf16(np.asarray(gb), n_threads)
    return None if dA is None else round_bf16(dA, n_threads)


def dense_backward_csr_bf16(indptr, indices, data, delta, gW, gb, int n_threads=1):
    """First-layer gradients summed in fp32 per feature row, rounded once per touched row.

    Index arrays: as in ``network.dense_backward_csr`` (checked there)."""
    _dense_backward_csr(indptr, indices, data, delta, gW, gb, n_threads, True)


def adam_step_split(float[:, ::1] W, uint16_t[:, ::1] W_lo, float[:, ::1] gW, float[:, ::1] m,
                    float[:, ::1] v, rows, double lr_t, double beta1, double beta2, double eps,
                    int n_threads=1):
    """Mode 2's Adam on the fp32 weights rebuilt from ``W`` (high halves) and ``W_lo``, then
    split again and ``gW = 0``; bitwise equal to the reference at every level.

    Index arrays, checked here: ``rows`` (int32 or None) each in ``[0, W.shape[0])``,
    distinct as the callers' touched-row sets are.
    """
    cdef Py_ssize_t n_rows = W.shape[0], width = W.shape[1], r, t, lo, hi, chunk = 16384
    _check_shapes(W, W_lo, gW, m, v)
    cdef float lr = <float>lr_t, b1 = <float>beta1, b2 = <float>beta2
    cdef float c1 = <float>(1.0 - beta1), c2 = <float>(1.0 - beta2), ep = <float>eps
    cdef slide_adam_split_fn adam = slide_adam_split_for_level(get_level())
    cdef const int32_t[::1] sel
    cdef Py_ssize_t total = n_rows * width, n_chunks
    if n_rows == 0 or width == 0:
        return
    if rows is None:
        n_chunks = (total + chunk - 1) // chunk
        for t in prange(n_chunks, nogil=True, num_threads=n_threads, schedule="static"):
            lo = t * chunk
            hi = lo + chunk
            if hi > total:
                hi = total
            adam(&W[0, 0] + lo, &W_lo[0, 0] + lo, &gW[0, 0] + lo, &m[0, 0] + lo, &v[0, 0] + lo,
                 hi - lo, lr, b1, c1, b2, c2, ep)
        return
    sel = rows
    _check_rows(sel, n_rows, "adam_step_split")
    for t in prange(sel.shape[0], nogil=True, num_threads=n_threads, schedule="static"):
        r = sel[t]
        adam(&W[r, 0], &W_lo[r, 0], &gW[r, 0], &m[r, 0], &v[r, 0], width, lr, b1, c1, b2, c2, ep)


def _check_shapes(W, *others):
    """The optimizer kernels write every array at the indices of ``W``."""
    shape = tuple(W.shape[:2])
    for a in others:
        if tuple(a.shape[:2]) != shape:
            raise ValueError(f"W_lo, gW and the moments must have the shape of W {shape}, "
                             f"got {tuple(a.shape[:2])}")


cdef inline void _sgd_split_row(float *w, uint16_t *lo, float *g, Py_ssize_t n,
                                float step) noexcept nogil:
    cdef Py_ssize_t c
    cdef uint32_t u
    cdef float wi
    for c in range(n):
        wi = slide_bits_f32((slide_f32_bits(w[c]) & 0xFFFF0000u) | lo[c])
        wi = wi - step * g[c]
        u = slide_f32_bits(wi)
        w[c] = slide_bits_f32(u & 0xFFFF0000u)
        lo[c] = <uint16_t>(u & 0xFFFFu)
        g[c] = 0


def sgd_step_split(float[:, ::1] W, uint16_t[:, ::1] W_lo, float[:, ::1] gW, rows, double lr,
                   int n_threads=1):
    """Mode 2's SGD step ``w -= lr * g`` on the rebuilt fp32 weights, then ``gW = 0``.

    Index arrays, checked here: ``rows`` (int32 or None) each in ``[0, W.shape[0])``."""
    cdef Py_ssize_t n_rows = W.shape[0], width = W.shape[1], r, t
    cdef float step = <float>lr
    cdef const int32_t[::1] sel
    _check_shapes(W, W_lo, gW)
    if n_rows == 0 or width == 0:
        return
    if rows is None:
        for r in prange(n_rows, nogil=True, num_threads=n_threads, schedule="static"):
            _sgd_split_row(&W[r, 0], &W_lo[r, 0], &gW[r, 0], width, step)
        return
    sel = rows
    _check_rows(sel, n_rows, "sgd_step_split")
    for t in prange(sel.shape[0], nogil=True, num_threads=n_threads, schedule="static"):
        r = sel[t]
        _sgd_split_row(&W[r, 0], &W_lo[r, 0], &gW[r, 0], width, step)


# --------------------------------------------------------------------------- bf16=3: the block
def refresh_bf16_rows(const float[:, ::1] W, rows, uint16_t[:, ::1] W16, int n_threads=1):
    """``W16[rows] = rne_bits(W[rows])``: the bf16 shadow of the fp32 master weights, for
    the int32 ``rows`` (None: every row), in place.

    Index arrays, checked here: ``rows`` each in ``[0, W.shape[0])``."""
    cdef Py_ssize_t n_rows = W.shape[0], width = W.shape[1], r, t
    cdef const int32_t[::1] sel
    cdef slide_rne_bits_fn rne = slide_rne_bits_for_level(get_level())
    if W16.shape[0] != n_rows or W16.shape[1] != width:
        raise ValueError(f"refresh_bf16_rows: W16 has shape ({W16.shape[0]}, {W16.shape[1]}),"
                         f" W ({n_rows}, {width})")
    if n_rows == 0 or width == 0:
        return
    if rows is None:
        for r in prange(n_rows, nogil=True, num_threads=n_threads, schedule="static"):
            rne(&W[r, 0], &W16[r, 0], width)
        return
    sel = rows
    _check_rows(sel, n_rows, "refresh_bf16_rows")
    for t in prange(sel.shape[0], nogil=True, num_threads=n_threads, schedule="static"):
        r = sel[t]
        rne(&W[r, 0], &W16[r, 0], width)


def _bf16_operand(const float[:, ::1] A, int n_threads):
    """``A`` rounded to bf16 in the two forms the block GEMMs read: ``(Af, Ah)``, float32
    words and bf16 bits, each [B, d rounded up to even] with the padding column zero."""
    cdef Py_ssize_t B = A.shape[0], d = A.shape[1], lda = d + (d & 1), i, c
    Ah_a = np.zeros((B, lda), dtype=np.uint16)
    Af_a = np.zeros((B, lda), dtype=np.float32)
    cdef uint16_t[:, ::1] Ah = Ah_a
    cdef float[:, ::1] Af = Af_a
    cdef slide_rne_bits_fn rne = slide_rne_bits_for_level(get_level())
    if d:
        for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
            rne(&A[i, 0], &Ah[i, 0], d)
            for c in range(d):
                Af[i, c] = slide_bits_f32(<uint32_t>Ah[i, c] << 16)
    return Af_a, Ah_a


def block_forward_bf16(const float[:, ::1] A, const uint16_t[:, ::1] W16,
                       const int32_t[::1] rows, const float[::1] b, int n_threads=1):
    """``RNE(A) @ W16[rows].T + b[rows]`` [B, C], the bf16 shadow's rows read in place,
    fp32 accumulation: VDPBF16PS where the CPU has AVX512-BF16, the fp32 register tiles
    over the widened values below (see ``gemm_bf16.h`` and the reference). Tiles of
    candidate rows in parallel, each task owning its columns of the result.

    Index arrays, checked here: ``rows`` (int32) each in ``[0, W16.shape[0])``."""
    cdef Py_ssize_t B = A.shape[0], d = A.shape[1], C = rows.shape[0], i, j, t, j0, j1
    if W16.shape[1] != d or b.shape[0] != W16.shape[0]:
        raise ValueError(f"block_forward_bf16: A is {B}x{d}, W16 {W16.shape[0]}x"
                         f"{W16.shape[1]}, b {b.shape[0]}")
    _check_rows(rows, W16.shape[0], "block_forward_bf16")
    Z_a = np.empty((B, C), dtype=np.float32)
    cdef float[:, ::1] Z = Z_a
    if B == 0 or C == 0:
        return Z_a
    if d == 0:      # no products: the biases
        Z_a[...] = np.asarray(b)[np.asarray(rows)]
        return Z_a
    Af_a, Ah_a = _bf16_operand(A, n_threads)
    cdef const float[:, ::1] Af = Af_a
    cdef const uint16_t[:, ::1] Ah = Ah_a
    cdef int level = get_level()
    cdef slide_gemm_bf16_fn gemm = slide_gemm_nt_bf16_for_level(level)
    cdef Py_ssize_t width = slide_gemm_nt_bf16_width(level), lda = Af.shape[1]
    for t in prange((C + width - 1) // width, nogil=True, num_threads=n_threads,
                    schedule="dynamic"):
        j0 = t * width
        j1 = j0 + width
        if j1 > C:
            j1 = C
        gemm(B, j1 - j0, d, &Af[0, 0], &Ah[0, 0], lda, &W16[0, 0], d, &rows[j0], &Z[0, j0], C)
    for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
        for j in range(C):
            Z[i, j] = Z[i, j] + b[rows[j]]
    return Z_a


def block_input_delta_bf16(const float[:, ::1] delta, const uint16_t[:, ::1] W16,
                           const int32_t[::1] rows, const float[:, ::1] A, bint relu_input,
                           int n_threads=1):
    """The block's input delta from the bf16 shadow: ``RNE(delta) @ W16[rows]`` [B, d],
    fp32 accumulation over the candidates in order (VDPBF16PS: two at a time), zero
    where ``A <= 0`` when ``relu_input``.  Column blocks of the result in parallel.

    Index arrays, checked here: ``rows`` (int32) each in ``[0, W16.shape[0])``."""
    cdef Py_ssize_t B = delta.shape[0], C = delta.shape[1], d = W16.shape[1], i, j, t, j0, j1
    if rows.shape[0] != C or A.shape[0] != B or A.shape[1] != d:
        raise ValueError(f"block_input_delta_bf16: delta is {B}x{C}, rows {rows.shape[0]}, "
                         f"W16 {W16.shape[0]}x{d}, A {A.shape[0]}x{A.shape[1]}")
    _check_rows(rows, W16.shape[0], "block_input_delta_bf16")
    dA_a = np.zeros((B, d), dtype=np.float32)
    cdef float[:, ::1] dA = dA_a
    if B == 0 or C == 0 or d == 0:
        return dA_a
    Df_a, Dh_a = _bf16_operand(delta, n_threads)
    cdef const float[:, ::1] Df = Df_a
    cdef const uint16_t[:, ::1] Dh = Dh_a
    cdef int level = get_level()
    cdef slide_gemm_bf16_fn gemm = slide_gemm_nn_bf16_for_level(level)
    cdef Py_ssize_t width = slide_gemm_nt_bf16_width(level), ldd = Df.shape[1]
    for t in prange((d + width - 1) // width, nogil=True, num_threads=n_threads,
                    schedule="dynamic"):
        j0 = t * width
        j1 = j0 + width
        if j1 > d:
            j1 = d
        gemm(B, j1 - j0, C, &Df[0, 0], &Dh[0, 0], ldd, &W16[0, j0], d, &rows[0], &dA[0, j0], d)
    if relu_input:
        for i in prange(B, nogil=True, num_threads=n_threads, schedule="static"):
            for j in range(d):
                if A[i, j] <= 0:
                    dA[i, j] = 0
    return dA_a
