"""The number format of training: fp32, or Optimized SLIDE's bfloat16 modes.

:class:`Numerics` decides, for ``bf16`` = 0, 1 or 2 (notes ``slide.md``
section 4), which kernel computes a sampled layer's products and gradients and
where values are rounded to bfloat16; the rounding points themselves are
defined in ``_kernels.bf16``:

* 0: fp32 throughout.
* 1: hidden activations, the output deltas and the gradient accumulators are
  bf16; sampled layers multiply bf16-rounded weights by bf16 activations.
* 2: as 1, and every weight is stored as two 16-bit halves: the high half (a
  truncated bf16) is used in the forward and backward passes, the optimizer
  rebuilds the exact fp32 weight from both (:class:`~slide_ref.optimizers.SplitAdam`).
* 3: bf16 on the batch-shared output block only (``batch_labels=True``
  samplers): the block keeps a bf16 (``uint16``) shadow of its fp32 weight rows;
  its forward product multiplies the bf16-rounded hidden activations by the
  shadow rows, and the delta it passes to the hidden layer is the bf16-rounded
  output delta times the same shadow rows, both with fp32 accumulation
  (VDPBF16PS where the CPU has AVX512-BF16).  Everything else is mode 0:
  activations, the deltas of the other layers, the weight gradients and the
  Adam state are fp32, Adam (catch-up and fused) steps the fp32 master weights,
  and inference scores with them.  The shadow is never saved; it is refreshed from
  the masters for the rows a batch's block reads, after catch-up Adam brought
  them up to date (:class:`~slide_ref.layers.BlockOutputLayer`).
"""
import numpy as np

from ._backend import KERNELS

__all__ = ["Numerics", "check_bf16", "BF16_MODES"]


#: the BF16 modes and what each means, for the error messages
BF16_MODES = ("0 (fp32), 1 (bf16 activations and gradients), 2 (also split weights) or "
              "3 (bf16 weight shadow of the batch-shared output block)")


def check_bf16(bf16):
    """Validate the BF16 mode: 0 (fp32), 1 or 2 (Optimized SLIDE's BF16 modes) or 3 (the
    batch-shared block's bf16 shadow); returns an int."""
    if isinstance(bf16, bool) or not isinstance(bf16, (int, np.integer)):
        raise TypeError(f"bf16 must be the int {BF16_MODES}, got {type(bf16).__name__} "
                        f"{bf16!r}")
    if int(bf16) not in (0, 1, 2, 3):
        raise ValueError(f"bf16 must be {BF16_MODES}, got {int(bf16)}")
    return int(bf16)


class Numerics:
    """Kernels and rounding points of one BF16 mode (``bf16`` in 0, 1, 2, 3)."""

    _kernels = KERNELS

    def __init__(self, bf16=0):
        self.bf16 = check_bf16(bf16)
        # Optimized SLIDE's modes round activations, deltas and gradients everywhere
        self._rounded = self.bf16 in (1, 2)

    @property
    def split(self):
        """Weights are stored as two halves (mode 2)."""
        return self.bf16 == 2

    @property
    def fp32(self):
        """Activations, deltas, gradients and weights in fp32 (modes 0 and 3; mode 3's bf16
        shadow is the block's own): the fused fp32 kernels may be used."""
        return not self._rounded

    @property
    def block_shadow(self):
        """The batch-shared output block multiplies a bf16 shadow of its weights (mode 3)."""
        return self.bf16 == 3

    def new_shadow(self, W, n_threads=1):
        """The bf16 shadow (``uint16`` bits, RNE) of every row of ``W`` (mode 3), else None."""
        if not self.block_shadow:
            return None
        shadow = np.empty(W.shape, dtype=np.uint16)
        self._kernels.bf16.refresh_bf16_rows(W, None, shadow, n_threads)
        return shadow

    def split_weights(self, W):
        """``(high, low)`` halves of fp32 weights (mode 2)."""
        return self._kernels.bf16.split(W)

    def round_hidden(self, A, relu, n_threads):
        """Round a hidden layer's activations to bf16 in place (logits, ``relu=False``, are
        not rounded); returns ``A``."""
        if self._rounded and relu:
            self._kernels.bf16.round_bf16(A, n_threads)
        return A

    def round_delta(self, delta, n_threads):
        """The output deltas are bf16 in modes 1 and 2 (the logits and loss are not)."""
        if self._rounded:
            self._kernels.bf16.round_bf16(delta, n_threads)

    def inference_weights(self, W, n_threads):
        """A sampled layer's weights as the training forward multiplies them: bf16-rounded
        in modes 1 and 2 (a rounded copy), as they are otherwise."""
        if not self._rounded:
            return W
        return self._kernels.bf16.round_bf16(np.array(W, dtype=np.float32, order="C"),
                                             n_threads)

    # ------------------------------------------------------------------ kernels
    def sampled_forward(self, A, W, b, indptr, ids, relu, n_threads):
        k = self._kernels
        if self.bf16 == 2:     # the stored high halves are bf16 values already
            return k.bf16.sampled_forward_hi(A, W, b, indptr, ids, relu, n_threads)
        if self._rounded:
            return k.bf16.sampled_forward_bf16(A, W, b, indptr, ids, relu, n_threads)
        return k.network.sampled_forward(A, W, b, indptr, ids, relu, n_threads)

    def sampled_backward(self, A, W, indptr, ids, delta, gW, gb, relu_in, n_threads):
        k = self._kernels.bf16.sampled_backward_bf16 if self._rounded else \
            self._kernels.network.sampled_backward
        return k(A, W, indptr, ids, delta, gW, gb, relu_in, True, n_threads)

    def dense_backward(self, A, W, delta, gW, gb, relu_in, n_threads):
        k = self._kernels.bf16.dense_backward_bf16 if self._rounded else \
            self._kernels.network.dense_backward
        return k(A, W, delta, gW, gb, relu_in, True, n_threads)

    def dense_backward_csr(self, X, delta, gW, gb, n_threads):
        k = self._kernels.bf16.dense_backward_csr_bf16 if self._rounded else \
            self._kernels.network.dense_backward_csr
        k(X.indptr, X.indices, X.data, delta, gW, gb, n_threads)
