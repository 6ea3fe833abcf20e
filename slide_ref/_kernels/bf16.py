"""Reference kernels of the BF16 modes of Optimized SLIDE (notes ``slide.md`` section 4).

bfloat16 (bf16) is the upper half of a float32: sign, the 8 exponent bits and
7 mantissa bits.  Converting float32 to bf16 therefore only drops the low 16
bits, either rounding to nearest with ties to even (RNE, the rounding of
mode 1 and of VCVTNEPS2BF16) or truncating (the high half that mode 2 keeps).

Data model (the same in ``slide_fast._kernels.bf16``)
-----------------------------------------------------
Inside the engine a bf16 array is a **float32 array whose low 16 bits are
zero**, not a ``uint16`` array of bf16 bits.  Why:

* every fp32 kernel of the engine (GEMM, AXPY, softmax, Adam, hashing) reads
  such arrays unchanged, so a BF16 mode adds rounding steps, not a second copy
  of every kernel;
* the product of two bf16 values has at most 16 significant bits and is exact
  in float32, so a fused multiply-add and a multiply-then-add give the same
  bits: gradient accumulation over bf16 operands is bitwise equal between the
  reference and every SIMD level when the summation order is the same;
* converting such an array to bf16 bits (for VDPBF16PS or for storage) is
  exact.  The price: these arrays take 4 bytes per value, not 2 (no memory
  bandwidth saved on activations and gradients).

The only 16-bit array is the low half ``W_lo`` (``uint16``) of mode 2's split
weights: mode 2 stores ``W`` as its high half (float32, low bits zero) plus
``W_lo``, and ``join(W, W_lo)`` is the exact fp32 master weight.

Where a training step rounds (``bf16 >= 1``; see ``SlideNetwork``)
-----------------------------------------------------------------
1. hidden activations, after bias and ReLU: RNE (:func:`round_bf16`);
2. the forward products of a sampled layer use RNE(W) (mode 1; on the fly,
   as VDPBF16PS consumes them; :func:`sampled_forward_bf16`) or the stored
   high half (mode 2; :func:`sampled_forward_hi`), times the bf16
   activations, accumulated in fp32; dense
   layers multiply their stored weights (fp32 in mode 1, the high half in
   mode 2) in fp32; logits stay fp32;
3. the output deltas from the softmax, and every per-sample delta passed to
   the layer below (after the ReLU mask): RNE;
4. the gradient accumulators ``gW``, ``gb``: the batch's contributions are
   summed in fp32 onto the stored value and the sum is rounded (RNE) **once**,
   when it is stored (the ``*_backward_bf16`` kernels).  Optimized SLIDE rounds
   after every accumulation; one rounding per batch is more accurate, and
   matches the fast backward, which sums each gradient row over the whole
   batch in one pass;
5. Adam: ``m`` and ``v`` are fp32; mode 1 updates the fp32 weights, mode 2
   rebuilds the exact fp32 weight from both halves, updates it and splits it
   again (:func:`adam_step_split`), so the master weights stay exact.

``n_threads`` is accepted for signature parity and ignored.
"""
import numpy as np

from . import network as _nn

#: the low 16 bits of a float32 word
LOW = np.uint32(0xFFFF)
HIGH = np.uint32(0xFFFF0000)


def _bits(x):
    """The uint32 bits of a float32 array (a view)."""
    return np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)


# --------------------------------------------------------------------------- conversions
def rne_bits(x):
    """float32 -> bf16 bits (``uint16``), round to nearest, ties to even.

    NaN stays NaN (quiet, sign and high payload kept; a NaN whose payload is
    only in the low bits would otherwise truncate to infinity), infinities
    stay infinite, finite values above the largest bf16 round to infinity,
    subnormals round like any other value (no flush to zero).
    """
    u = _bits(x).astype(np.uint32)
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    lsb = (u >> np.uint32(16)) & np.uint32(1)
    r = (u + np.uint32(0x7FFF) + lsb) >> np.uint32(16)   # no overflow: NaNs are handled below
    q = (u | np.uint32(0x00400000)) >> np.uint32(16)
    return np.where(nan, q, r).astype(np.uint16)


def trunc_bits(x):
    """float32 -> bf16 bits (``uint16``) by truncation: the high half of the word."""
    return (_bits(x) >> np.uint32(16)).astype(np.uint16)


def bits_to_f32(h):
    """bf16 bits (``uint16``) -> float32 (exact)."""
    return (np.asarray(h, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def round_bf16(x, n_threads=1):
    """Round a float32 array to bf16 values in place (RNE) and return it.

    ``x`` must be a C-contiguous float32 array; afterwards every low half is 0.
    """
    x.view(np.uint32)[...] = rne_bits(x).astype(np.uint32) << np.uint32(16)
    return x


def split(W):
    """fp32 -> ``(hi, lo)``: the high half as float32 (low bits zero) and the low half (uint16).

    ``hi`` is the truncated bf16 value mode 2 uses in the forward pass;
    ``join(hi, lo)`` is ``W`` bit for bit.
    """
    u = _bits(W)
    return (u & HIGH).view(np.float32), (u & LOW).astype(np.uint16)


def join(hi, lo):
    """Exact fp32 weights from mode 2's halves (the inverse of :func:`split`)."""
    return (_bits(hi) & HIGH | np.asarray(lo, np.uint16).astype(np.uint32)).view(np.float32)


# --------------------------------------------------------------------------- forward
def sampled_forward_bf16(A, W, b, act_indptr, act_ids, relu, n_threads=1):
    """``RNE(W[j]) . A[i] + b[j]`` per active pair, products summed in fp32.

    The bf16 dot product of a sampled layer (VDPBF16PS in Optimized SLIDE).
    ``A`` holds bf16 values (the previous layer's rounded activations) and is
    used as is; ``W`` is rounded on the fly, which leaves mode 2's high half
    unchanged.  Returns ``z`` [n_pairs] float32 (ReLU applied when ``relu``),
    not rounded: the caller rounds hidden activations, logits stay fp32.
    """
    rows = _nn._rows_of(act_indptr)
    Wb = round_bf16(np.ascontiguousarray(W[act_ids], dtype=np.float32))   # a gathered copy
    z = np.einsum("ij,ij->i", Wb, A[rows]).astype(np.float32) + b[act_ids]
    return np.maximum(z, 0, out=z) if relu else z


def sampled_forward_hi(A, W, b, act_indptr, act_ids, relu, n_threads=1):
    """Mode 2's forward: :func:`sampled_forward_bf16` for ``W`` that already holds bf16
    values (the high halves), which need no rounding.

    The products of two bf16 values are exact in fp32, so this is the fp32
    kernel; the fast backend uses VDPBF16PS here where the CPU has AVX512-BF16.
    """
    return _nn.sampled_forward(A, W, b, act_indptr, act_ids, relu, n_threads)


# --------------------------------------------------------------------------- backward
def sampled_backward_bf16(A, W, act_indptr, act_ids, delta, gW, gb, relu_input, need_dA,
                          n_threads=1):
    """:func:`~slide_ref._kernels.network.sampled_backward` with bf16 storage.

    The batch's contributions to ``gW``/``gb`` are summed in fp32 (in pair
    order) onto the stored values, then rounded once; the returned input delta
    is masked by the ReLU and rounded.  Rows without pairs keep their (already
    bf16) values, so rounding the whole array equals rounding the touched rows.
    """
    dA = _nn.sampled_backward(A, W, act_indptr, act_ids, delta, gW, gb, relu_input, need_dA)
    round_bf16(gW)
    round_bf16(gb)
    return None if dA is None else round_bf16(dA)


def dense_backward_bf16(A, W, delta, gW, gb, relu_input, need_dA, n_threads=1):
    """:func:`~slide_ref._kernels.network.dense_backward` with bf16 storage (see above)."""
    dA = _nn.dense_backward(A, W, delta, gW, gb, relu_input, need_dA)
    round_bf16(gW)
    round_bf16(gb)
    return None if dA is None else round_bf16(np.ascontiguousarray(dA))


def dense_backward_csr_bf16(indptr, indices, data, delta, gW, gb, n_threads=1):
    """First-layer gradients over the input's non-zeros, summed in fp32, rounded once."""
    _nn.dense_backward_csr(indptr, indices, data, delta, gW, gb)
    round_bf16(gW)
    round_bf16(gb)


# --------------------------------------------------------------------------- optimizers
def adam_step_split(W, W_lo, gW, m, v, rows, lr_t, beta1, beta2, eps, n_threads=1):
    """Mode 2's Adam: rebuild fp32 from ``(W, W_lo)``, one Adam step, split again.

    ``W`` (float32 high halves) and ``W_lo`` (uint16 low halves) have the same
    shape; ``rows`` as in :func:`~slide_ref._kernels.network.adam_step`.  The
    update is that of the fp32 Adam on the exact master weights, bit for bit.
    """
    full = join(W, W_lo)
    _nn.adam_step(full, gW, m, v, rows, lr_t, beta1, beta2, eps)
    W[...], W_lo[...] = split(full)


def sgd_step_split(W, W_lo, gW, rows, lr, n_threads=1):
    """Mode 2's SGD step on the exact fp32 weights rebuilt from both halves."""
    full = join(W, W_lo)
    _nn.sgd_step(full, gW, rows, lr)
    W[...], W_lo[...] = split(full)


# --------------------------------------------------------------------------- bf16=3: the block
def refresh_bf16_rows(W, rows, W16, n_threads=1):
    """``W16[rows] = rne_bits(W[rows])`` in place: the bf16 shadow (``uint16`` bits) of the
    fp32 master weights ``W`` for the int32 ``rows`` (None: every row)."""
    if W16.shape != W.shape:
        raise ValueError(f"refresh_bf16_rows: W16 has shape {W16.shape}, W {W.shape}")
    if rows is None:
        W16[...] = rne_bits(W)
        return
    _nn._check_block_rows(rows, W.shape[0], "refresh_bf16_rows")
    W16[rows] = rne_bits(W[rows])


def block_forward_bf16(A, W16, rows, b, n_threads=1):
    """Logits of the batch-shared block in bf16=3: ``RNE(A) @ W16[rows].T + b[rows]`` [B, C].

    ``W16`` holds the bf16 bits of the weights (the shadow of :func:`refresh_bf16_rows`),
    ``A`` the fp32 hidden activations, rounded here (RNE).  The products of two bf16
    values are exact in float32, so the sum over ``p`` in order, one float32 addition at
    a time, is what a chain of fp32 FMAs computes: the fast kernel's levels below
    AVX512-BF16 give these bits; VDPBF16PS adds two products per step (another order).
    """
    if W16.shape[1] != A.shape[1] or b.shape[0] != W16.shape[0]:
        raise ValueError(f"block_forward_bf16: A is {A.shape[0]}x{A.shape[1]}, W16 "
                         f"{W16.shape[0]}x{W16.shape[1]}, b {b.shape[0]}")
    _nn._check_block_rows(rows, W16.shape[0], "block_forward_bf16")
    Ab = bits_to_f32(rne_bits(A))
    Wb = bits_to_f32(W16[rows])
    Z = np.zeros((A.shape[0], len(rows)), dtype=np.float32)
    for p in range(A.shape[1]):     # exact float32 products, one rounded sum per step
        Z += np.outer(Ab[:, p], Wb[:, p])
    return Z + b[rows]


def block_input_delta_bf16(delta, W16, rows, A, relu_input, n_threads=1):
    """The block's input delta in bf16=3: ``RNE(delta) @ W16[rows]`` [B, d], the exact
    products summed over the candidates in order in float32 (as
    :func:`block_forward_bf16`), then zero where ``A <= 0`` when ``relu_input``.
    ``W16`` is the shadow the forward pass read: the weights before this batch's step."""
    if len(rows) != delta.shape[1] or A.shape != (delta.shape[0], W16.shape[1]):
        raise ValueError(f"block_input_delta_bf16: delta is {delta.shape[0]}x{delta.shape[1]}, "
                         f"rows {len(rows)}, W16 {W16.shape[0]}x{W16.shape[1]}, A "
                         f"{A.shape[0]}x{A.shape[1]}")
    _nn._check_block_rows(rows, W16.shape[0], "block_input_delta_bf16")
    Db = bits_to_f32(rne_bits(delta))
    Wb = bits_to_f32(W16[rows])
    dA = np.zeros(A.shape, dtype=np.float32)
    for p in range(len(rows)):
        dA += np.outer(Db[:, p], Wb[p])
    if relu_input:
        dA[A <= 0] = 0
    return dA
