"""The layers of the SLIDE engine, one class per kind.

Every layer owns its arrays (weights ``W``, biases ``b``, gradient
accumulators ``gW``/``gb``, optimizer moments ``mW, vW, mb, vb``, the low
halves ``W_lo``/``b_lo`` of split bf16 weights, and for catch-up Adam the step
``last`` at which each row was updated) and offers the same steps:

* ``forward(A, ctx)`` -> ``(Z, record)``: the layer's output for the batch and
  its per-batch record (which neurons were computed), kept by the caller;
* ``backward(A, record, delta, relu_in, ctx)`` -> the delta of the layer's input;
* ``touched_rows(record, ctx)``: rows of ``W`` with a gradient (None: all);
* ``step(record, ctx)``: the optimizer step of the batch;
* ``get_state()`` / ``load_state(...)``: the layer's named arrays, checked on load.

The kinds (``W`` is [in][out] when dense, [out][in] when rows are neurons):

* :class:`InputLayer` -- dense ReLU layer over the sparse (CSR) input;
* :class:`DenseLayer` -- dense hidden layer, or the dense (full softmax) output;
* :class:`SampledHiddenLayer` -- computes the neurons its :class:`~slide_ref.lsh_index.LSHIndex`
  selects per sample;
* :class:`SampledOutputLayer` -- the softmax over each sample's classes from the
  output sampler;
* :class:`BlockOutputLayer` -- the softmax over one candidate set shared by the
  batch (three dense products over the gathered rows).

A layer's optimizer (:mod:`slide_ref.optimizers`) steps its arrays; the only
place both meet inside a pass is the *fused* backward of the input layer and
of the block output, where the lazy fp32 Adam step of ``W`` runs in the same
kernel as its gradient (``fused`` below).
"""
import math

import numpy as np

from ._backend import KERNELS, sibling
from ._memory import aligned_copy, aligned_zeros
from ._validation import StateError
from .optimizers import Param

__all__ = ["BatchContext", "ActiveSet", "Block", "InputRecord", "InputLayer", "DenseLayer",
           "SampledHiddenLayer", "SampledOutputLayer", "BlockOutputLayer"]


class BatchContext:
    """The batch a pass works on: labels (CSR ``(indptr int64, ids int32)``, empty rows
    in inference), step (0-based; keys the random draws), training flag, the network's
    seed and the kernels' thread count."""

    __slots__ = ("labels", "step", "training", "seed", "n_threads")

    def __init__(self, labels, step, training, seed, n_threads):
        self.labels, self.step, self.training = labels, step, training
        self.seed, self.n_threads = seed, n_threads

    @property
    def t(self):
        """The optimizer's step number (1-based)."""
        return self.step + 1

    @property
    def forced(self):
        """Neurons a sampler must keep active: the labels in training, none otherwise."""
        return self.labels if self.training else no_labels(len(self.labels[0]) - 1)


def no_labels(n_rows):
    """An empty label CSR of ``n_rows`` rows."""
    return np.zeros(n_rows + 1, np.int64), np.empty(0, np.int32)


class ActiveSet:
    """Per-sample active neurons of a sampled layer: CSR ``(indptr, ids)``."""

    __slots__ = ("indptr", "ids")

    def __init__(self, indptr, ids):
        self.indptr, self.ids = indptr, ids


class Block:
    """The batch-shared candidate set of a block output: distinct sorted ``rows`` and
    their logQ ``adjust`` (or None); ``fused`` when the backward pass stepped ``W``."""

    __slots__ = ("rows", "adjust", "fused")

    def __init__(self, rows, adjust):
        self.rows, self.adjust, self.fused = rows, adjust, False


class InputRecord:
    """The input layer's batch: the CSR input and the rows of ``W`` it touched (None
    until known); ``fused`` when the backward pass stepped ``W`` already."""

    __slots__ = ("X", "rows", "fused")

    def __init__(self, X, rows=None):
        self.X, self.rows, self.fused = X, rows, False


def _finite(a):
    """Whether every value of the 1-D float array ``a`` is finite, checked every batch: the
    dot product ``a . a`` (one BLAS call, no temporary) is NaN or infinite whenever a value
    is; only a non-finite result, also reached by huge finite values, needs the
    element-wise test. Call it under ``np.errstate(over="ignore", invalid="ignore")``."""
    return math.isfinite(np.dot(a, a)) or bool(np.isfinite(a).all())


def init_weights(shape, n_in, n_out, rng, init, init_std, first):
    """Initial ``(W, b)``: "slide" draws N(0, init_std) everywhere (SLIDE's code); "scaled"
    draws an embedding-like N(0, 1) first layer and U(+-1/sqrt(fan_in)) later layers."""
    if init == "slide":
        W = (rng.standard_normal(shape) * init_std).astype(np.float32)
        b = (rng.standard_normal(n_out) * init_std).astype(np.float32)
    elif first:      # an embedding of the sparse input: unit-scale hidden units
        W = rng.standard_normal(shape).astype(np.float32)
        b = np.zeros(n_out, dtype=np.float32)
    else:
        bound = 1.0 / np.sqrt(n_in)
        W = rng.uniform(-bound, bound, shape).astype(np.float32)
        b = rng.uniform(-bound, bound, n_out).astype(np.float32)
    return W, b


class _Layer:
    """Arrays, optimizer step and persistence shared by every kind."""

    _kernels = KERNELS
    #: rows of ``W`` are output neurons (the bias is stepped on the same rows)
    sampled = False
    #: the names :meth:`get_state` saves (those that exist)
    ARRAYS = ("W", "b", "W_lo", "b_lo", "mW", "vW", "mb", "vb", "last")

    def __init__(self, n_in, n_out, *, relu, optimizer, numerics, rng, init="scaled",
                 init_std=0.01, first=False):
        self.n_in, self.n_out, self.relu = n_in, n_out, relu
        self.optimizer, self.numerics = optimizer, numerics
        shape = (n_out, n_in) if self.sampled else (n_in, n_out)
        W, b = init_weights(shape, n_in, n_out, rng, init, init_std, first)
        self.W_lo = self.b_lo = None
        if numerics.split:
            (W, W_lo), (b, b_lo) = numerics.split_weights(W), numerics.split_weights(b)
            self.W_lo, self.b_lo = aligned_copy(W_lo), aligned_copy(b_lo)
        # every per-layer array starts on a cache line (see slide_ref._memory)
        self.W, self.b = aligned_copy(W), aligned_copy(b)
        del W, b        # the unaligned draws: not kept alive while the state is allocated
        self.gW, self.gb = aligned_zeros(self.W.shape), aligned_zeros(self.b.shape)
        self.mW = self.vW = self.mb = self.vb = None
        if optimizer.moments:
            self.mW, self.vW = aligned_zeros(self.W.shape), aligned_zeros(self.W.shape)
            self.mb, self.vb = aligned_zeros(self.b.shape), aligned_zeros(self.b.shape)
        # catch-up Adam: the step (1-based) at which each row was last updated
        self.last = np.zeros(self.W.shape[0], np.int64) if optimizer.tracks_rows else None

    # ------------------------------------------------------------------ parameters
    @property
    def weight(self):
        """``W`` with its gradient and optimizer state."""
        return Param(self.W, self.gW, self.mW, self.vW, self.W_lo)

    @property
    def bias(self):
        """``b`` as a column (its rows are the output neurons), with its state."""
        col = (lambda a: None if a is None else a[:, None])
        return Param(self.b[:, None], self.gb[:, None], col(self.mb), col(self.vb),
                     col(self.b_lo))

    def _row_params(self):
        """The arrays indexed by the rows of ``W``."""
        return [self.weight, self.bias] if self.sampled else [self.weight]

    @property
    def fused(self):
        """Whether this layer's backward pass may run the optimizer's step on ``W``."""
        return False

    def _catch_up(self, rows, ctx):
        """Before a training pass reads ``rows``, let the optimizer bring them up to date."""
        if ctx.training and self.last is not None:
            self.optimizer.before_read(self._row_params(), rows, self.last, ctx.t,
                                       ctx.n_threads)

    # ------------------------------------------------------------------ training
    def touched_rows(self, record, ctx):
        """Rows of ``W`` with a non-zero gradient this batch (None: all of them)."""
        return None

    def step(self, record, ctx):
        """The optimizer step of the batch (``W`` only if the backward pass did not)."""
        opt, n = self.optimizer, ctx.n_threads
        rows = self.touched_rows(record, ctx) if opt.lazy else None
        if self.last is not None:
            opt.mark_stepped(rows, self.last, ctx.t)
        if not getattr(record, "fused", False):
            opt.step(self.weight, rows, ctx.t, n)
        opt.step(self.bias, rows if self.sampled else None, ctx.t, n)

    def after_step(self, step):
        """Table maintenance after the optimizer step of batch ``step`` (sampled layers)."""

    def rehash(self, rebuild=False):
        """Re-insert the neurons of an LSH-sampled layer into its tables now (with new hash
        functions first when ``rebuild``); a no-op for other layers."""

    def sync(self, t, n_threads):
        """Bring every row up to date before step ``t`` (catch-up Adam; a no-op otherwise)."""
        if self.last is not None and t > 1:
            rows = np.arange(self.W.shape[0], dtype=np.int32)
            self.optimizer.before_read(self._row_params(), rows, self.last, t, n_threads)

    def finite_biases(self):
        """Whether the biases and their Adam moments are finite: a cheap check (every sample's
        gradient reaches them) that training has not overflowed."""
        with np.errstate(over="ignore", invalid="ignore"):    # a . a of huge values
            return all(a is None or _finite(a) for a in (self.b, self.mb, self.vb))

    # ------------------------------------------------------------------ state
    def get_state(self):
        """The layer's arrays by name."""
        return {name: getattr(self, name) for name in self.ARRAYS
                if getattr(self, name) is not None}

    def load_state(self, arrays, source="<state>", prefix="", step=0):
        """Check and take the arrays of :meth:`get_state` (names without ``prefix``).

        Raises :class:`~slide_ref._validation.StateError` for a missing array, a
        wrong dtype or shape, a non-finite weight or moment, a negative ``v``, a
        ``last`` step outside ``[0, step]``, or split halves that do not fit.
        """
        loaded = {}
        for name in self.ARRAYS:
            current = getattr(self, name)
            if current is None:
                continue
            if name not in arrays:
                raise StateError(source, prefix + name, "missing")
            loaded[name] = _checked_array(name, np.asarray(arrays[name]), current, source,
                                          prefix + name, step)
        if self.numerics.split:
            for name in ("W", "b"):
                high = np.asarray(loaded[name], dtype=getattr(self, name).dtype)
                if np.any(high.view(np.uint32) & 0xFFFF):
                    raise StateError(source, prefix + name,
                                     "a bf16=2 model stores high halves here (their low 16 bits "
                                     f"must be 0; they belong in {prefix}{name}_lo)")
        # copied into the layer's own aligned arrays, once all are checked: loading never
        # holds a second set of arrays, and the layer shares no memory with the saved ones
        for name, value in loaded.items():
            getattr(self, name)[...] = value


def _checked_array(name, saved, current, source, field, step):
    """A saved layer array checked against the one it replaces (returned as it is)."""
    if saved.shape != current.shape:
        raise StateError(source, field, f"shape {saved.shape}, expected {current.shape}")
    kind = current.dtype.kind
    if (kind == "f" and saved.dtype.kind not in "fiu") or (kind in "iu"
                                                          and saved.dtype.kind not in "iu"):
        raise StateError(source, field, f"dtype {saved.dtype}, expected {current.dtype}")
    if kind == "f" and not np.isfinite(saved).all():
        raise StateError(source, field, "non-finite values")
    if name in ("vW", "vb") and (saved < 0).any():
        raise StateError(source, field, "Adam's second moment must be >= 0")
    if name in ("W_lo", "b_lo") and saved.size and (saved.min() < 0 or saved.max() > 0xFFFF):
        raise StateError(source, field, "low halves must lie in [0, 65535]")
    if name == "last" and saved.size and (saved.min() < 0 or saved.max() > step):
        raise StateError(source, field, f"steps outside [0, {step}]")
    return saved


class InputLayer(_Layer):
    """The first layer: dense, ReLU, over the sparse input (``W`` [n_features][width])."""

    @property
    def fused(self):
        return self.optimizer.fusable and self.numerics.fp32

    def _input_rows(self, X, n_threads):
        return self._kernels.active.unique_ids(X.indices.astype(np.int32, copy=False),
                                               self.n_in, n_threads)

    def forward(self, X, ctx):
        record = InputRecord(X)
        if ctx.training and self.last is not None:
            record.rows = self._input_rows(X, ctx.n_threads)
            self._catch_up(record.rows, ctx)
        return self.forward_all(X, ctx.n_threads), record

    def forward_all(self, X, n_threads):
        """Activations of a CSR batch (every neuron; training and inference alike)."""
        Z = self._kernels.network.dense_forward_csr(X.indptr, X.indices, X.data, self.W,
                                                    self.b, self.relu, n_threads)
        return self.numerics.round_hidden(Z, self.relu, n_threads)

    def backward(self, X, record, delta, relu_in, ctx):
        if not self.fused:
            self.numerics.dense_backward_csr(X, delta, self.gW, self.gb, ctx.n_threads)
            return None
        # lazy Adam on the batch's feature rows in the same pass as their gradient; the
        # rows it stepped are the touched rows the bias step reads
        record.rows = self._kernels.network.dense_backward_csr_adam(
            X.indptr, X.indices, X.data, delta, self.W, self.mW, self.vW, self.gb,
            *self.optimizer.adam_args(ctx.t), ctx.n_threads)
        record.fused = True
        return None

    def touched_rows(self, record, ctx):
        if record.rows is None:
            record.rows = self._input_rows(record.X, ctx.n_threads)
        return record.rows


class DenseLayer(_Layer):
    """A dense layer over dense activations: a ReLU hidden layer, or the output logits of
    the full softmax (``relu=False``)."""

    def forward(self, A, ctx):
        return self.forward_all(A, ctx.n_threads), None

    def forward_all(self, A, n_threads):
        Z = self._kernels.network.dense_forward(A, self.W, self.b, self.relu, n_threads)
        return self.numerics.round_hidden(Z, self.relu, n_threads)

    def backward(self, A, record, delta, relu_in, ctx):
        return self.numerics.dense_backward(A, self.W, delta, self.gW, self.gb, relu_in,
                                            ctx.n_threads)

    def loss(self, Z, record, labels, w, scale, n_threads):
        """Softmax cross-entropy over every output: ``(delta, per-sample loss)``."""
        return self._kernels.network.softmax_xent_dense(Z, *labels, w, scale, n_threads)

    def scores(self, H, n_threads):
        """Logits of every output."""
        return self._kernels.network.dense_forward(H, self.W, self.b, False, n_threads)

    def top_scores(self, H, k, n_threads):
        """The ``k`` best outputs of each row of ``H`` and their logits, without the score
        matrix (``W`` is [in][out] here)."""
        return self._kernels.scoring.score_topk(H, self.W, self.b, k, False, n_threads)


class _RowsAreNeurons(_Layer):
    """A layer whose ``W`` rows are its neurons ([out][in]), computed a subset at a time."""

    sampled = True

    def touched_rows(self, record, ctx):
        return self._kernels.active.unique_ids(record.ids, self.n_out, ctx.n_threads)

    def _forward_pairs(self, A, record, relu, ctx):
        """Catch up and compute the active pairs of ``record``."""
        if ctx.training and self.last is not None:
            self._catch_up(self.touched_rows(record, ctx), ctx)
        return self.numerics.sampled_forward(A, self.W, self.b, record.indptr, record.ids,
                                             relu, ctx.n_threads)

    def _backward_pairs(self, A, record, delta, relu_in, ctx):
        return self.numerics.sampled_backward(A, self.W, record.indptr, record.ids, delta,
                                              self.gW, self.gb, relu_in, ctx.n_threads)

    def scores(self, H, n_threads):
        """Logits of every output."""
        return H @ self.W.T + self.b

    def top_scores(self, H, k, n_threads):
        """The ``k`` best outputs of each row of ``H`` and their logits, without the score
        matrix (``W`` rows are the outputs here)."""
        return self._kernels.scoring.score_topk(H, self.W, self.b, k, True, n_threads)


class SampledHiddenLayer(_RowsAreNeurons):
    """A ReLU hidden layer computing only the neurons its LSH index selects per sample.

    The index (:class:`~slide_ref.lsh_index.LSHIndex`) is built from ``lsh``
    after the weights are drawn; :meth:`build_index` fills its tables.
    """

    def __init__(self, n_in, n_out, *, lsh, batch_size, n_threads, **kw):
        super().__init__(n_in, n_out, **kw)
        self.index = sibling(self, "lsh_index").LSHIndex(
            lsh, n_out, n_in, batch_size=batch_size, rng=kw["rng"], n_threads=n_threads)

    def build_index(self):
        """Hash every neuron's weight row into the tables."""
        self.index.build(self.W)

    def forward(self, A, ctx):
        B = A.shape[0]
        record = ActiveSet(*self.index.select(A, no_labels(B), ctx.seed, ctx.step))
        z = self.numerics.round_hidden(self._forward_pairs(A, record, self.relu, ctx),
                                       self.relu, ctx.n_threads)
        # the next layer reads a dense row of zeros with the active neurons filled in
        dense = np.zeros((B, self.n_out), dtype=np.float32)
        dense[np.repeat(np.arange(B), np.diff(record.indptr)), record.ids] = z
        return dense, record

    def forward_all(self, A, n_threads):
        """Every neuron (inference): the products the training forward computes."""
        W = self.numerics.inference_weights(self.W.T, n_threads)
        Z = self._kernels.network.dense_forward(A, np.ascontiguousarray(W), self.b, True,
                                                n_threads)
        return self.numerics.round_hidden(Z, self.relu, n_threads)

    def backward(self, A, record, delta, relu_in, ctx):
        # the next layer's delta is dense over all neurons: keep the active pairs
        rows = np.repeat(np.arange(A.shape[0]), np.diff(record.indptr))
        return self._backward_pairs(A, record, delta[rows, record.ids], relu_in, ctx)

    def after_step(self, step):
        self.index.after_step(step, self.W)

    def rehash(self, rebuild=False):
        (self.index.rebuild if rebuild else self.index.rehash)(self.W)

    def get_state(self):
        state = super().get_state()
        state.update(self.index.get_state())
        return state

    def load_state(self, arrays, source="<state>", prefix="", step=0):
        super().load_state(arrays, source, prefix, step)
        self.index.load_state(arrays, source, prefix, step)


class _OutputLayer(_RowsAreNeurons):
    """An output layer whose classes per batch come from an output sampler."""

    def attach(self, sampler):
        """Use ``sampler`` (set up by the network) to choose the classes of each batch."""
        self.sampler = sampler

    def after_step(self, step):
        self.sampler.after_step(step, self.W)

    def rehash(self, rebuild=False):
        if hasattr(self.sampler, "rebuild"):     # an LSH sampler
            (self.sampler.rebuild if rebuild else self.sampler.rehash)(self.W)


class SampledOutputLayer(_OutputLayer):
    """The softmax over each sample's own classes (labels, negatives, padding)."""

    def forward(self, H, ctx):
        indptr, ids, adjust = self.sampler.sample(H, ctx.forced, self.W, self.b, ctx.step,
                                                  ctx.training)
        record = ActiveSet(indptr, ids)
        z = self._forward_pairs(H, record, False, ctx)
        if adjust is not None:   # logQ correction and masked accidental hits
            z -= adjust
        return z, record

    def sampled_scores(self, H, step, n_threads):
        """``(indptr, ids, logits)`` of the classes the sampler selects without labels."""
        indptr, ids = self.sampler.sample(H, no_labels(H.shape[0]), self.W, self.b, step,
                                          training=False)[:2]
        return indptr, ids, self.numerics.sampled_forward(H, self.W, self.b, indptr, ids,
                                                          False, n_threads)

    def loss(self, z, record, labels, w, scale, n_threads):
        """Softmax cross-entropy over the active pairs: ``(delta, per-sample loss)``."""
        return self._kernels.network.softmax_xent_pairs(z, record.indptr, record.ids, *labels,
                                                        w, scale, n_threads)

    def backward(self, A, record, delta, relu_in, ctx):
        return self._backward_pairs(A, record, delta, relu_in, ctx)


class BlockOutputLayer(_OutputLayer):
    """The softmax over one candidate set shared by the batch, as dense products over the
    gathered rows (fp32; with ``bf16=3`` the logits and the hidden layer's delta read a
    bf16 shadow of the weights, ``W_bf16`` (``uint16`` bits, never saved))."""

    def __init__(self, n_in, n_out, **kw):
        super().__init__(n_in, n_out, **kw)
        self.W_bf16 = self.numerics.new_shadow(self.W)

    @property
    def fused(self):
        return self.optimizer.fusable and self.numerics.fp32

    def forward(self, H, ctx):
        queries = {"H": H, "W": self.W} if getattr(self.sampler, "queries_block", False) else {}
        record = Block(*self.sampler.sample_block(ctx.forced, ctx.step, ctx.training, **queries))
        self._catch_up(record.rows, ctx)
        z = self._block_logits(H, record.rows, ctx.n_threads)
        if record.adjust is not None:    # logQ correction, one value per class
            z -= record.adjust
        return z, record

    def loss(self, Z, record, labels, w, scale, n_threads):
        """Softmax cross-entropy over the block; the sampler sees the logits first (its
        hard-negative memory)."""
        cols = np.searchsorted(record.rows, labels[1]).astype(np.int32)
        self.sampler.observe_block(Z, record.rows, labels[0], cols)
        return self._kernels.network.softmax_xent_dense(Z, labels[0], cols, w, scale,
                                                        n_threads)

    def backward(self, A, record, delta, relu_in, ctx):
        if self.W_bf16 is not None:
            return self._backward_shadow(A, record, delta, relu_in, ctx)
        k, n = self._kernels.network, ctx.n_threads
        if not self.fused:
            return k.block_backward(A, self.W, record.rows, delta, self.gW, self.gb, relu_in,
                                    True, n)
        # lazy Adam on the block's rows in the same pass as their gradient
        record.fused = True
        return k.block_backward_adam(A, self.W, record.rows, delta, self.mW, self.vW, self.gb,
                                     *self.optimizer.adam_args(ctx.t), relu_in, True, n)

    def touched_rows(self, record, ctx):
        return record.rows

    def _block_logits(self, H, rows, n_threads):
        """``H @ W[rows].T + b[rows]``; with the bf16 shadow, its ``rows`` are first refreshed
        from the fp32 masters (up to date after catch-up; the same rows this batch's Adam
        step then updates, so each row is converted once per batch that uses it)."""
        if self.W_bf16 is None:
            return self._kernels.network.block_forward(H, self.W, rows, self.b, n_threads)
        bf = self._kernels.bf16
        bf.refresh_bf16_rows(self.W, rows, self.W_bf16, n_threads)
        return bf.block_forward_bf16(H, self.W_bf16, rows, self.b, n_threads)

    def load_state(self, arrays, source="<state>", prefix="", step=0):
        super().load_state(arrays, source, prefix, step)
        if self.W_bf16 is not None:     # the file holds the fp32 masters only
            self.W_bf16 = self.numerics.new_shadow(self.W)

    def _backward_shadow(self, A, record, delta, relu_in, ctx):
        """bf16=3: the fp32 weight gradient (fused with Adam where it may be), then the input
        delta from the shadow, which still holds the weights the forward read."""
        k, n = self._kernels, ctx.n_threads
        if self.fused:
            record.fused = True
            k.network.block_backward_adam(A, self.W, record.rows, delta, self.mW, self.vW,
                                          self.gb, *self.optimizer.adam_args(ctx.t), relu_in,
                                          False, n)
        else:
            k.network.block_backward(A, self.W, record.rows, delta, self.gW, self.gb, relu_in,
                                     False, n)
        return k.bf16.block_input_delta_bf16(delta, self.W_bf16, record.rows, A, relu_in, n)
