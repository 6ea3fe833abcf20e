"""The SLIDE training engine: a network whose wide layers compute only LSH-selected neurons.

:class:`SlideNetwork` holds plain arrays (weights, biases, Adam moments, hash
tables) and trains them batch by batch (SLIDE, MLSys'20, section 3; research
notes ``slide.md`` section 1):

1. layer 0 is a dense ReLU layer over the sparse input;
2. every later layer is dense, or *sampled*: the previous layer's activation
   is hashed into the layer's LSH tables, the union of the hit buckets (plus
   the labels and random padding) is the active set, and only active neurons
   are computed;
3. the output layer is a softmax, over the active set when sampled, with the
   target ``1/|Y|`` on each label;
4. backpropagation touches the active neurons only; gradients accumulate
   over the batch, then Adam (dense, as in the papers, or lazy) updates;
5. tables are rehashed from the updated weights, and rebuilt with new hash
   functions, on a fixed or exponentially decaying schedule.

The BF16 modes of Optimized SLIDE (``bf16=1`` or ``2``; notes ``slide.md``
section 4) round activations, deltas and gradients to bfloat16; the rounding
points are defined in ``slide_ref._kernels.bf16``.

The work is done by kernels (``slide_ref._kernels.network`` and ``.active``);
``slide_fast`` binds compiled ones with the same signatures.
"""
import math

import numpy as np
import scipy.sparse as sp

from . import lsh as _lsh
from . import negative as _negative
from ._kernels import active as _active
from ._kernels import bf16 as _bf16
from ._kernels import hashing as _hashing
from ._kernels import network as _nn
from ._kernels import tables as _tables
from ._memory import aligned_copy, aligned_zeros
from ._schedule import TableSchedule
from ._validation import (check_choice, check_float, check_int, check_labels, check_matrix,
                          check_random_state, effective_n_threads, seed_from)

try:
    from sklearn.base import clone as _clone
except ImportError:  # pragma: no cover - scikit-learn is a declared dependency
    import copy as _copy
    _clone = _copy.deepcopy

__all__ = ["SlideNetwork", "TableSchedule", "check_labels"]

_FAMILIES = _negative.FAMILIES
_SELECTIONS = _negative.SELECTIONS
_OPTIMIZERS = {"adam", "lazy_adam", "lazy_input_adam", "catchup_adam", "sgd"}


def _check_bf16(bf16):
    """Validate the BF16 mode: 0 (fp32), 1 or 2 (Optimized SLIDE's BF16 modes); returns an int."""
    if isinstance(bf16, bool) or not isinstance(bf16, (int, np.integer)):
        raise TypeError("bf16 must be the int 0 (fp32), 1 (bf16 activations and gradients) or "
                        f"2 (also split weights), got {type(bf16).__name__} {bf16!r}")
    if int(bf16) not in (0, 1, 2):
        raise ValueError("bf16 must be 0 (fp32), 1 (bf16 activations and gradients) or 2 (also "
                         f"split weights), got {int(bf16)}")
    return int(bf16)


class _Layer:
    """Arrays of one layer; ``W`` is [in][out] when dense, [out][in] when sampled.

    With ``bf16=2``, ``W`` and ``b`` hold the high halves of the fp32 weights
    (float32 with zero low bits: the truncated bf16 the forward pass uses) and
    ``W_lo``, ``b_lo`` (uint16) the low halves; ``join`` rebuilds them exactly.
    """

    def __init__(self, n_in, n_out, sampled, relu, rng, init, init_std, optimizer, first,
                 bf16=0):
        self.n_in, self.n_out, self.sampled, self.relu = n_in, n_out, sampled, relu
        shape = (n_out, n_in) if sampled else (n_in, n_out)
        if init == "slide":      # SLIDE's code: N(0, 0.01) for every weight and bias
            self.W = (rng.standard_normal(shape) * init_std).astype(np.float32)
            self.b = (rng.standard_normal(n_out) * init_std).astype(np.float32)
        elif first:              # an embedding of the sparse input: unit-scale hidden units
            self.W = rng.standard_normal(shape).astype(np.float32)
            self.b = np.zeros(n_out, dtype=np.float32)
        else:                    # U(+-1/sqrt(fan_in)), the usual default of linear layers
            bound = 1.0 / np.sqrt(n_in)
            self.W = rng.uniform(-bound, bound, shape).astype(np.float32)
            self.b = rng.uniform(-bound, bound, n_out).astype(np.float32)
        self.W_lo = self.b_lo = None
        if bf16 == 2:
            self.W, self.W_lo = _bf16.split(self.W)
            self.b, self.b_lo = _bf16.split(self.b)
        # every per-layer array starts on a cache line (see slide_ref._memory)
        self.W, self.b = aligned_copy(self.W), aligned_copy(self.b)
        if bf16 == 2:
            self.W_lo, self.b_lo = aligned_copy(self.W_lo), aligned_copy(self.b_lo)
        self.gW = aligned_zeros(self.W.shape)
        self.gb = aligned_zeros(self.b.shape)
        if optimizer != "sgd":
            self.mW, self.vW = aligned_zeros(self.W.shape), aligned_zeros(self.W.shape)
            self.mb, self.vb = aligned_zeros(self.b.shape), aligned_zeros(self.b.shape)
        # catch-up Adam: the step (1-based) at which each row was last updated
        self.last = np.zeros(self.W.shape[0], np.int64) \
            if optimizer == "catchup_adam" and (sampled or first) else None
        self.family = None
        self.tables = None
        self.fill_perm = None
        self.schedule = None

    ARRAYS = ("W", "b", "W_lo", "b_lo", "mW", "vW", "mb", "vb", "fill_perm", "last")


class SlideNetwork:
    """A feed-forward network trained with LSH-selected active neurons (SLIDE).

    Parameters
    ----------
    n_features : int
        Width of the sparse input.
    n_outputs : int
        Number of output classes (labels).
    hidden : tuple of int, default (128,)
        Widths of the ReLU hidden layers.
    sampled : tuple of bool, optional
        Whether each layer (hidden layers, then the output) is sampled. By default
        only the output layer is. Layer 0 reads the sparse input and must be dense.
    hash_family : {"dwta", "wta", "simhash", "minhash"}, default "dwta"
    K, L : int, default 6, 50
        Hash codes per table and tables per sampled layer.
    range_pow : int, optional
        log2 of the buckets per table; by default the smallest that holds every
        bucket id of the packing (14 for DWTA with K=6), capped at 20.
    bucket_capacity : int, default 128
    bucket_policy : {"fifo", "reservoir"}, default "fifo"
    selection : {"union", "threshold", "topk", "vanilla"}, default "union"
        How candidates become the active set: all of them (SLIDE's code
        default), those seen in at least ``selection_param`` tables, the
        ``selection_param`` most frequent, or whole buckets from tables visited in
        random order until ``selection_param`` neurons are active.
    selection_param : int, optional
        2 for "threshold", 1000 for "topk" and "vanilla" by default.
    min_active, fill_below : int, default 1000, 1500
        A sample with fewer than ``fill_below`` active neurons is padded with
        random ones up to ``min_active`` (SLIDE's constants); 0 disables padding.
    optimizer : {"adam", "lazy_adam", "lazy_input_adam", "catchup_adam", "sgd"}
        Default "adam".
        "adam" updates every weight each batch, as the papers do; "lazy_adam"
        only the rows the batch touched; "lazy_input_adam" only the touched
        rows of layer 0 (the features present in the batch: an embedding
        table) and every weight of the later layers. Lazy Adam moves a row
        only when it has a gradient, so a rarely sampled output row takes a
        much smaller total step than dense Adam's momentum gives it: on the
        100k-label benchmark set, lazy output rows cost ~0.04 P@1 after 400
        batches where a lazy input layer cost nothing measurable.
        "catchup_adam" is lazy, but when a row is touched again it first applies,
        in closed form, the zero-gradient steps dense Adam took on it since its
        last update (momentum decay; see ``_kernels.network.adam_catchup``), so
        it follows dense Adam at lazy Adam's cost (dense hidden layers are
        updated densely).
    lr : float, default 1e-3
    beta1, beta2, eps : float
        Adam constants.
    init : {"scaled", "slide"}, default "scaled"
        "slide" draws every weight and bias from N(0, ``init_std``) as the SLIDE
        code does. "scaled" draws the first layer from N(0, 1) (an embedding:
        L2-normalized sparse rows then give unit-scale hidden units) and later
        layers from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the default of common
        frameworks. On the synthetic 10k-label set of the benchmarks, "slide"
        reached P@1 0.37 after 400 steps where "scaled" reached 0.71, so
        "scaled" is the default.
    init_std : float, default 0.01
        Standard deviation of the "slide" initialization.
    batch_size : int, default 128
        Used by the table schedule to convert samples to batches.
    rehash_every, rebuild_every : int, default 6400, 128000
        Samples between rehashes and rebuilds.
    table_schedule : {"fixed", "exponential"}, default "fixed"
    schedule_first, schedule_growth : int, float
        ``N0`` (batches) and ``lambda`` of the exponential schedule.
    output_sampler : slide.negative.OutputSampler, optional
        Chooses each sample's active output classes (see :mod:`slide_ref.negative`):
        LSH Embedding or LSH Label, uniform, unigram, log-uniform, or
        :class:`FullSoftmax`. By default an ``LSHSampler(query="embedding")``
        with this network's LSH parameters (SLIDE); with the default
        ``sampled``, a dense sampler makes the output layer dense. The network
        works on a clone (``sampler_``). A sampler given here keeps its own LSH
        and schedule parameters: ``K``, ``L``, ``rehash_every`` etc. of the
        network then apply to sampled hidden layers only.
    bf16 : {0, 1, 2}, default 0
        Number format of training (Optimized SLIDE, MLSys'21; notes ``slide.md``
        section 4). 0: fp32 throughout. 1: hidden activations, per-sample
        deltas and the gradient accumulators ``gW``/``gb`` are bfloat16
        (round to nearest even); weights stay fp32, and the forward pass of
        sampled layers multiplies bf16-rounded weights by the bf16 activations,
        accumulating in fp32 (VDPBF16PS where the CPU has AVX512-BF16). 2: as
        1, but every weight and bias is stored as two 16-bit halves: the high
        half (a truncated bf16) is used in the forward and backward passes and
        the LSH tables; Adam rebuilds the exact fp32 weight from both halves,
        so the master weights stay exact. Adam's moments are fp32 in every
        mode. Each batch's gradients are summed in fp32 and rounded once, when
        stored (more accurate than Optimized SLIDE's rounding per
        accumulation); see ``slide_ref._kernels.bf16`` for every rounding
        point. Scoring every output (``predict_topk``, ``output_scores``)
        multiplies the stored weights by the bf16 hidden activations in fp32.
        bf16 values are kept in float32 arrays with zero low halves, so these
        modes change the numerics but do not shrink memory (mode 2 adds 2 bytes
        per weight for the low halves).
    n_threads : int, optional
        Threads of the fast kernels (``None`` follows ``OMP_NUM_THREADS``). With
        more than one thread the fast backend accumulates gradients HOGWILD-style
        (racy, as SLIDE); ``n_threads=1`` is bitwise reproducible.
    random_state : int, Generator or None

    Attributes
    ----------
    layers : list
        Per layer: ``W``, ``b``, optimizer moments and, for sampled layers,
        ``family`` and ``tables``.
    step_ : int
        Batches trained so far.
    sampler_ : OutputSampler
        The output layer's sampler in use.
    last_losses_ : ndarray [B], float64
        Per-sample (unweighted) cross-entropy of the last trained batch.
    """

    _nn = _nn
    _bf16 = _bf16
    _active = _active
    _hashing = _hashing
    _tables = _tables
    _lsh = _lsh
    _negative = _negative

    def __init__(self, n_features, n_outputs, hidden=(128,), sampled=None, hash_family="dwta",
                 K=6, L=50, range_pow=None, bucket_capacity=128, bucket_policy="fifo",
                 selection="union", selection_param=None, min_active=1000, fill_below=1500,
                 optimizer="adam", lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, init="scaled",
                 init_std=0.01,
                 batch_size=128, rehash_every=6400, rebuild_every=128000,
                 table_schedule="fixed", schedule_first=50, schedule_growth=0.1,
                 output_sampler=None, bf16=0, n_threads=None, random_state=None):
        self.n_features = check_int(n_features, "n_features", low=1)
        self.bf16 = _check_bf16(bf16)
        self.n_outputs = check_int(n_outputs, "n_outputs", low=2)
        self.hidden = tuple(check_int(h, "hidden width", low=1) for h in np.atleast_1d(hidden))
        n_layers = len(self.hidden) + 1
        if output_sampler is not None and not isinstance(output_sampler,
                                                         _negative.OutputSampler):
            raise TypeError("output_sampler must be a sampler of the negative module (for "
                            f"example LSHSampler()), got {type(output_sampler).__name__}")
        dense_out = output_sampler is not None and output_sampler.dense
        if sampled is None:
            sampled = (False,) * (n_layers - 1) + (not dense_out,)
        self.sampled = tuple(bool(s) for s in sampled)
        if len(self.sampled) != n_layers:
            raise ValueError(f"sampled has {len(self.sampled)} entries, expected {n_layers} "
                             "(one per hidden layer and one for the output)")
        if output_sampler is not None and dense_out == self.sampled[-1]:
            raise ValueError(f"{type(output_sampler).__name__} needs "
                             f"sampled[-1]={not dense_out}")
        self.output_sampler = output_sampler
        if self.sampled[0]:
            raise ValueError("layer 0 reads the sparse input and must be dense (sampled[0])")
        self.hash_family = check_choice(hash_family, "hash_family", set(_FAMILIES))
        self.K = check_int(K, "K", low=1, high=32)
        self.L = check_int(L, "L", low=1)
        self.range_pow = None if range_pow is None else check_int(range_pow, "range_pow",
                                                                  low=1, high=30)
        self.bucket_capacity = check_int(bucket_capacity, "bucket_capacity", low=0)
        self.bucket_policy = check_choice(bucket_policy, "bucket_policy", {"fifo", "reservoir"})
        self.selection = check_choice(selection, "selection", set(_SELECTIONS))
        default_param = {"union": 0, "threshold": 2, "topk": 1000, "vanilla": 1000}
        self.selection_param = check_int(
            default_param[selection] if selection_param is None else selection_param,
            "selection_param", low=0)
        self.min_active = check_int(min_active, "min_active", low=0)
        self.fill_below = check_int(fill_below, "fill_below", low=0)
        self.optimizer = check_choice(optimizer, "optimizer", _OPTIMIZERS)
        self.lr = check_float(lr, "lr", low=0.0, low_open=True)
        self.beta1 = check_float(beta1, "beta1", low=0.0, high=1.0)
        self.beta2 = check_float(beta2, "beta2", low=0.0, high=1.0)
        self.eps = check_float(eps, "eps", low=0.0, low_open=True)
        self.init = check_choice(init, "init", {"scaled", "slide"})
        self.init_std = check_float(init_std, "init_std", low=0.0)
        self.batch_size = check_int(batch_size, "batch_size", low=1)
        self.rehash_every = check_int(rehash_every, "rehash_every", low=0)
        self.rebuild_every = check_int(rebuild_every, "rebuild_every", low=0)
        self.table_schedule = table_schedule
        self.schedule_first = schedule_first
        self.schedule_growth = schedule_growth
        self.n_threads = n_threads
        self.random_state = random_state
        self._rng = check_random_state(random_state)
        self._seed = seed_from(self._rng)
        self.step_ = 0
        self.layers = []
        widths = (self.n_features,) + self.hidden + (self.n_outputs,)
        for i in range(n_layers):
            relu = i < n_layers - 1
            layer = _Layer(widths[i], widths[i + 1], self.sampled[i], relu, self._rng,
                           self.init, self.init_std, self.optimizer, first=i == 0,
                           bf16=self.bf16)
            if layer.sampled and relu:
                self._attach_tables(layer)
            self.layers.append(layer)
        for layer in self.layers[:-1]:
            if layer.sampled:
                self._build_tables(layer)
        self.sampler_ = self._make_sampler()
        if self.sampled[-1]:
            self.sampler_.setup(self, self.layers[-1])
        if self.optimizer == "catchup_adam" and self.bf16 == 2:
            raise ValueError("optimizer='catchup_adam' is not implemented for bf16=2 (split "
                             "weights); use bf16=0 or 1, or another optimizer")
        if self._block_output() and self.bf16:
            raise ValueError("bf16 modes are not implemented for a batch-shared candidate set "
                             "(batch_labels=True); use bf16=0 or a per-sample sampler")

    # ------------------------------------------------------------------ tables
    def _make_sampler(self):
        """The output sampler: a clone of the one given, or SLIDE's LSH selection."""
        if self.output_sampler is not None:
            return _clone(self.output_sampler)
        if not self.sampled[-1]:
            return self._negative.FullSoftmax()
        return self._negative.LSHSampler(
            query="embedding", hash_family=self.hash_family, K=self.K, L=self.L,
            range_pow=self.range_pow, bucket_capacity=self.bucket_capacity,
            bucket_policy=self.bucket_policy, selection=self.selection,
            selection_param=self.selection_param, min_active=self.min_active,
            fill_below=self.fill_below, rehash_every=self.rehash_every,
            rebuild_every=self.rebuild_every, table_schedule=self.table_schedule,
            schedule_first=self.schedule_first, schedule_growth=self.schedule_growth)

    def _attach_tables(self, layer):
        schedule = TableSchedule(self.batch_size, self.rehash_every, self.rebuild_every,
                                 self.table_schedule, self.schedule_first, self.schedule_growth)
        _negative._attach_lsh(layer, self._lsh, self.hash_family, self.K, self.L,
                              self.range_pow, self.bucket_capacity, self.bucket_policy,
                              self._rng, schedule)

    def _build_tables(self, layer):
        """Hash every neuron's weight row into the layer's tables."""
        _negative._fill_tables(layer, layer.W, self._threads())

    def _block_output(self):
        """Whether the output layer is computed as a block over a batch-shared candidate set."""
        return self.sampled[-1] and self.sampler_.block

    def _lsh_output(self):
        out = self.layers[-1]
        return out.sampled and isinstance(self.sampler_, _negative.LSHSampler)

    def rehash(self):
        """Re-insert every sampled layer's neurons from their current weights."""
        for layer in self.layers[:-1]:
            if layer.sampled:
                self._build_tables(layer)
        if self._lsh_output():
            self.sampler_.rehash(self.layers[-1].W)

    def rebuild(self):
        """Draw new hash functions for every sampled layer, then rehash."""
        for layer in self.layers[:-1]:
            if layer.sampled:
                layer.family.redraw()
                self._build_tables(layer)
        if self._lsh_output():
            self.sampler_.rebuild(self.layers[-1].W)

    def _threads(self):
        return effective_n_threads(self.n_threads)

    # ------------------------------------------------------------------ active sets
    def _select(self, layer, A, labels, step):
        """Active neurons of a sampled layer for the batch activations ``A`` [B, in]."""
        n = self._threads()
        fam, tab = layer.family, layer.tables
        buckets = fam._buckets(A, False, tab.range_pow, n)
        lab_indptr, lab_ids = labels
        if self.selection == "vanilla":
            return self._active.select_vanilla(
                buckets, tab.offsets, tab.members, lab_indptr, lab_ids, layer.n_out,
                self.selection_param, self.min_active, self.fill_below, layer.fill_perm,
                self._seed, step, n)
        cand = self._tables.query_tables(buckets, tab.offsets, tab.members, tab.n_items, n)
        return self._active.select_active(
            *cand, lab_indptr, lab_ids, layer.n_out, _SELECTIONS[self.selection],
            self.selection_param, self.min_active, self.fill_below, layer.fill_perm,
            self._seed, step, n)

    # ------------------------------------------------------------------ training
    def train_batch(self, X, Y, sample_weight=None):
        """One SGD step on a batch: forward, backward, optimizer, table maintenance.

        Parameters
        ----------
        X : CSR matrix [B, n_features]
        Y : label matrix (see :func:`check_labels`)
        sample_weight : array [B], optional
            Per-sample loss weights (importance weights of example samplers).

        Returns
        -------
        float
            Mean (weighted) cross-entropy of the batch over the active sets.
        """
        X, Y, w = self._check_batch(X, Y, sample_weight)
        loss = self._train_step(X, Y, w)
        return float(loss)

    def _check_batch(self, X, Y, sample_weight):
        X, sparse = check_matrix(X, "X", n_features=self.n_features)
        if not sparse:
            X = sp.csr_matrix(X)
        X = self._as_f32_csr(X)
        Y = check_labels(Y, X.shape[0], self.n_outputs)
        if sample_weight is None:
            w = np.ones(X.shape[0], dtype=np.float64)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != (X.shape[0],):
                raise ValueError(f"sample_weight has shape {w.shape}, expected ({X.shape[0]},)")
            if not np.isfinite(w).all() or (w < 0).any():
                raise ValueError("sample_weight must be finite and non-negative")
        return X, Y, w

    @staticmethod
    def _as_f32_csr(X):
        if X.dtype != np.float32:
            X = X.astype(np.float32)
        if X.indices.dtype != np.int32 and X.shape[1] < 2**31 and X.nnz < 2**31:
            X = sp.csr_matrix((X.data, X.indices.astype(np.int32), X.indptr.astype(np.int32)),
                              shape=X.shape)
        return X

    def _forward(self, X, labels, step, training):
        """Activations of every layer; sampled layers also return their active sets."""
        n = self._threads()
        first = self.layers[0]
        actives = [None]
        if training and first.last is not None:
            # layer 0's touched rows, kept in actives[0] for the optimizer step
            actives[0] = self._touched_rows(0, X, actives)
            self._catch_up(first, actives[0])
        acts = [self._hidden(self._nn.dense_forward_csr(X.indptr, X.indices, X.data, first.W,
                                                        first.b, first.relu, n), first)]
        empty = (np.zeros(X.shape[0] + 1, np.int64), np.empty(0, np.int32))
        for i, layer in enumerate(self.layers[1:], start=1):
            A = acts[-1]
            if not layer.sampled:
                acts.append(self._hidden(self._nn.dense_forward(A, layer.W, layer.b, layer.relu,
                                                                n), layer))
                actives.append(None)
                continue
            is_out = i == len(self.layers) - 1
            if is_out and self.sampler_.block:
                block = _Block(*self.sampler_.sample_block(labels if training else empty, step,
                                                          training))
                if training and layer.last is not None:
                    self._catch_up(layer, block.rows)
                z = self._nn.block_forward(A, layer.W, block.rows, layer.b, n)
                if block.adjust is not None:    # logQ correction, one value per class
                    z -= block.adjust
                actives.append(block)
                acts.append(z)
                continue
            if is_out:
                indptr, ids, adjust = self.sampler_.sample(A, labels if training else empty,
                                                           layer.W, layer.b, step, training)
                act = (indptr, ids)
            else:
                act, adjust = self._select(layer, A, empty, step), None
            if training and layer.last is not None:
                self._catch_up(layer, self._active.unique_ids(act[1], layer.n_out, n))
            z = self._sampled_forward()(A, layer.W, layer.b, act[0], act[1], layer.relu, n)
            if adjust is not None:   # logQ correction and masked accidental hits
                z -= adjust
            actives.append(act)
            if is_out:
                acts.append(z)
            else:   # a sampled hidden layer feeds the next one as a dense row of zeros
                z = self._hidden(z, layer)
                dense = np.zeros((X.shape[0], layer.n_out), dtype=np.float32)
                rows = np.repeat(np.arange(X.shape[0]), np.diff(act[0]))
                dense[rows, act[1]] = z
                acts.append(dense)
        return acts, actives

    def _hidden(self, A, layer):
        """A hidden layer's activations, rounded to bf16 in the BF16 modes (logits are not)."""
        if self.bf16 and layer.relu:
            self._bf16.round_bf16(A, self._threads())
        return A

    def _sampled_forward(self):
        """The sampled-layer forward kernel: fp32, or bf16 products in the BF16 modes."""
        if self.bf16 == 2:     # the stored high halves are bf16 values already
            return self._bf16.sampled_forward_hi
        return self._bf16.sampled_forward_bf16 if self.bf16 else self._nn.sampled_forward

    def _train_step(self, X, Y, w):
        n = self._threads()
        step = self.step_
        labels = (Y.indptr.astype(np.int64), Y.indices.astype(np.int32))
        acts, actives = self._forward(X, labels, step, training=True)
        out = self.layers[-1]
        scale = 1.0 / X.shape[0]
        if isinstance(actives[-1], _Block):     # label ids -> columns of the block
            cols = np.searchsorted(actives[-1].rows, labels[1]).astype(np.int32)
            self.sampler_.observe_block(acts[-1], actives[-1].rows, labels[0], cols)
            delta, loss = self._nn.softmax_xent_dense(acts[-1], labels[0], cols, w, scale, n)
        elif out.sampled:
            delta, loss = self._nn.softmax_xent_pairs(acts[-1], *actives[-1], *labels, w, scale,
                                                      n)
        else:
            delta, loss = self._nn.softmax_xent_dense(acts[-1], *labels, w, scale, n)
        self.last_losses_ = loss    # per-sample, unweighted: read by example samplers
        if self.bf16:                # the output deltas are bf16 (logits and loss are not)
            self._bf16.round_bf16(delta, n)
        self._backward(X, acts, actives, delta)
        self._update(X, actives)
        self.step_ += 1
        self._maintain_tables(step)
        return np.dot(w, loss) / X.shape[0]

    def _backward(self, X, acts, actives, delta):
        n = self._threads()
        k = self._bf16 if self.bf16 else None
        sampled_backward = k.sampled_backward_bf16 if k else self._nn.sampled_backward
        dense_backward = k.dense_backward_bf16 if k else self._nn.dense_backward
        backward_csr = k.dense_backward_csr_bf16 if k else self._nn.dense_backward_csr
        for i in range(len(self.layers) - 1, 0, -1):
            layer, A = self.layers[i], acts[i - 1]
            relu_in = self.layers[i - 1].relu
            if isinstance(actives[i], _Block) and self._fused_step(i):
                # lazy Adam on the block's rows in the same pass as their gradient
                delta = self._nn.block_backward_adam(
                    A, layer.W, actives[i].rows, delta, layer.mW, layer.vW, layer.gb,
                    self._lr_t(), self.beta1, self.beta2, self.eps, relu_in, True, n)
            elif isinstance(actives[i], _Block):
                delta = self._nn.block_backward(A, layer.W, actives[i].rows, delta,
                                                layer.gW, layer.gb, relu_in, True, n)
            elif layer.sampled:
                delta = sampled_backward(A, layer.W, *actives[i], delta, layer.gW, layer.gb,
                                         relu_in, True, n)
            else:
                delta = dense_backward(A, layer.W, delta, layer.gW, layer.gb, relu_in, True, n)
            if self.layers[i - 1].sampled:   # only the previous layer's active neurons
                act = actives[i - 1]
                rows = np.repeat(np.arange(X.shape[0]), np.diff(act[0]))
                delta = delta[rows, act[1]]
        first = self.layers[0]
        if self._fused_step(0):
            # lazy Adam on layer 0 in the same pass as its gradient; the rows it stepped are
            # layer 0's touched rows, kept in actives[0] for _update (as catch-up Adam does)
            actives[0] = self._nn.dense_backward_csr_adam(
                X.indptr, X.indices, X.data, delta, first.W, first.mW, first.vW, first.gb,
                self._lr_t(), self.beta1, self.beta2, self.eps, n)
            return
        backward_csr(X.indptr, X.indices, X.data, delta, first.gW, first.gb, n)

    def _fused_step(self, i):
        """Whether layer ``i``'s lazy Adam step on ``W`` runs inside its backward pass: the
        first layer (its rows are the batch's features) and a batch-shared output block,
        whenever those rows get lazy Adam in fp32."""
        if self.bf16:
            return False
        if i == 0:
            return (self.optimizer in ("lazy_adam", "lazy_input_adam", "catchup_adam")
                    and not self.layers[0].sampled)
        return (i == len(self.layers) - 1 and self.optimizer in ("lazy_adam", "catchup_adam")
                and self._block_output())

    def _lr_t(self):
        """Adam's bias-corrected step size of the current step."""
        t = self.step_ + 1
        return self.lr * math.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)

    def _update(self, X, actives):
        n = self._threads()
        t = self.step_ + 1
        lr_t = self._lr_t()
        for i, layer in enumerate(self.layers):
            rows = None
            if self.optimizer in ("lazy_adam", "sgd", "catchup_adam") or (
                    i == 0 and self.optimizer == "lazy_input_adam"):
                rows = self._touched_rows(i, X, actives)
            brows = rows if layer.sampled else None
            if layer.last is not None:     # caught up in the forward pass; now current
                layer.last[rows] = t
            if self.bf16 == 2:
                self._update_split(layer, rows, brows, lr_t, n)
                continue
            if self.optimizer == "sgd":
                self._nn.sgd_step(layer.W, layer.gW, rows, self.lr, n)
                self._nn.sgd_step(layer.b[:, None], layer.gb[:, None], brows, self.lr, n)
                continue
            if not self._fused_step(i):     # else W was stepped in the backward pass
                self._nn.adam_step(layer.W, layer.gW, layer.mW, layer.vW, rows, lr_t,
                                   self.beta1, self.beta2, self.eps, n)
            self._nn.adam_step(layer.b[:, None], layer.gb[:, None], layer.mb[:, None],
                               layer.vb[:, None], brows, lr_t, self.beta1, self.beta2, self.eps,
                               n)

    def _update_split(self, layer, rows, brows, lr_t, n):
        """Mode 2: the optimizer step on the exact fp32 weights rebuilt from both halves."""
        k = self._bf16
        if self.optimizer == "sgd":
            k.sgd_step_split(layer.W, layer.W_lo, layer.gW, rows, self.lr, n)
            k.sgd_step_split(layer.b[:, None], layer.b_lo[:, None], layer.gb[:, None], brows,
                             self.lr, n)
            return
        k.adam_step_split(layer.W, layer.W_lo, layer.gW, layer.mW, layer.vW, rows, lr_t,
                          self.beta1, self.beta2, self.eps, n)
        k.adam_step_split(layer.b[:, None], layer.b_lo[:, None], layer.gb[:, None],
                          layer.mb[:, None], layer.vb[:, None], brows, lr_t, self.beta1,
                          self.beta2, self.eps, n)

    def _catch_up(self, layer, rows):
        """Catch-up Adam: before the batch reads ``rows`` (distinct int32 ids), apply the
        zero-gradient steps dense Adam took on them since their last update."""
        n = self._threads()
        t = self.step_ + 1
        args = (rows, t - 1 - layer.last[rows], t, self.lr, self.beta1, self.beta2, self.eps, n)
        self._nn.adam_catchup(layer.W, layer.mW, layer.vW, *args)
        if layer.sampled:
            self._nn.adam_catchup(layer.b[:, None], layer.mb[:, None], layer.vb[:, None], *args)
        layer.last[rows] = t - 1

    def sync_optimizer(self):
        """Catch-up Adam: bring every row up to date (as dense Adam would have it now).

        Rows untouched since their last update still owe the steps dense Adam took on
        them; training applies those lazily, when a row is next read. Call this before
        using the weights elsewhere; :meth:`predict_topk`, :meth:`output_scores`,
        :meth:`embed` and :meth:`get_state` call it. A no-op for other optimizers.
        """
        for layer in self.layers:
            if layer.last is not None and self.step_:
                self._catch_up(layer, np.arange(layer.W.shape[0], dtype=np.int32))

    def _touched_rows(self, i, X, actives):
        """Rows of ``W`` with a non-zero gradient this batch (``None``: all of them)."""
        layer = self.layers[i]
        n = self._threads()
        if isinstance(actives[i], _Block):
            return actives[i].rows
        if layer.sampled:
            return self._active.unique_ids(actives[i][1], layer.n_out, n)
        if i == 0:
            if actives[0] is not None:      # computed by the forward pass (catch-up Adam)
                return actives[0]
            return self._active.unique_ids(X.indices.astype(np.int32, copy=False), layer.n_in,
                                           n)
        return None

    def _maintain_tables(self, step):
        for layer in self.layers[:-1]:
            if layer.sampled:
                rehash, rebuild = layer.schedule.due(step)
                if rebuild:
                    layer.family.redraw()
                if rehash:
                    self._build_tables(layer)
        if self.sampled[-1]:
            self.sampler_.after_step(step, self.layers[-1].W)

    # ------------------------------------------------------------------ inference
    def output_scores(self, X, sampled=False):
        """Output logits of a batch.

        Returns a dense array [B, n_outputs] for the full softmax (default), or
        ``(indptr, ids, logits)`` of the LSH-selected neurons when ``sampled``.
        """
        self.sync_optimizer()
        X, sparse = check_matrix(X, "X", n_features=self.n_features, allow_empty=True)
        X = self._as_f32_csr(X if sparse else sp.csr_matrix(X))
        H = self.embed(X)
        out = self.layers[-1]
        n = self._threads()
        if sampled and out.sampled:
            if not self._lsh_output():
                raise ValueError(f"sampled scoring needs an LSHSampler output, not "
                                 f"{type(self.sampler_).__name__}")
            empty = (np.zeros(X.shape[0] + 1, np.int64), np.empty(0, np.int32))
            act = self.sampler_.sample(H, empty, out.W, out.b, self.step_, training=False)[:2]
            return act[0], act[1], self._sampled_forward()(H, out.W, out.b, *act, False, n)
        if out.sampled:
            return H @ out.W.T + out.b
        return self._nn.dense_forward(H, out.W, out.b, False, n)

    def retrieval_quality(self, X, Y=None, top=50):
        """LSH retrieval statistics of the output sampler on a batch (see
        :meth:`LSHSampler.retrieval_stats`); ``Y`` is needed for ``query="label"``."""
        if not self._lsh_output():
            raise ValueError("retrieval_quality needs an LSHSampler output")
        X, sparse = check_matrix(X, "X", n_features=self.n_features)
        X = self._as_f32_csr(X if sparse else sp.csr_matrix(X))
        labels = None
        if Y is not None:
            Yc = check_labels(Y, X.shape[0], self.n_outputs)
            labels = (Yc.indptr.astype(np.int64), Yc.indices.astype(np.int32))
        out = self.layers[-1]
        return self.sampler_.retrieval_stats(self.embed(X), out.W, out.b, labels, top)

    def embed(self, X):
        """Penultimate activations ``h = E(x)`` [B, hidden[-1]] (all neurons computed)."""
        self.sync_optimizer()
        n = self._threads()
        first = self.layers[0]
        A = self._hidden(self._nn.dense_forward_csr(X.indptr, X.indices, X.data, first.W,
                                                    first.b, True, n), first)
        for layer in self.layers[1:-1]:
            W = layer.W.T if layer.sampled else layer.W
            if layer.sampled and self.bf16:     # the products of the training forward
                W = self._bf16.round_bf16(np.array(W, dtype=np.float32, order="C"), n)
            A = self._hidden(self._nn.dense_forward(A, np.ascontiguousarray(W), layer.b, True,
                                                    n), layer)
        return A

    def predict_topk(self, X, k=5, sampled=False, batch_size=None):
        """Top-``k`` outputs of each row: ``(indices [n, k] int64, scores [n, k] float32)``.

        Scores are logits, best first (ties: smaller index). With ``sampled``,
        only LSH-selected outputs are scored and missing slots are -1 / -inf.
        Rows are scored ``batch_size`` at a time; by default as many as keep the
        block of scores near 2**26 floats (256 MB), so 670k labels stay in memory.
        """
        k = check_int(k, "k", low=1, high=self.n_outputs)
        if batch_size is None:
            batch_size = max(1, min(4096, (1 << 26) // self.n_outputs))
        batch_size = check_int(batch_size, "batch_size", low=1)
        X, sparse = check_matrix(X, "X", n_features=self.n_features, allow_empty=True)
        X = self._as_f32_csr(X if sparse else sp.csr_matrix(X))
        idx = np.full((X.shape[0], k), -1, dtype=np.int64)
        scores = np.full((X.shape[0], k), -np.inf, dtype=np.float32)
        for start in range(0, X.shape[0], batch_size):
            block = X[start:start + batch_size]
            res = self.output_scores(block, sampled=sampled)
            if isinstance(res, tuple):
                res = sp.csr_matrix((res[2], res[1], res[0]),
                                    shape=(block.shape[0], self.n_outputs))
                res = _sparse_to_dense_scores(res)
            top = _topk_rows(res, k)
            idx[start:start + len(top)] = top
            scores[start:start + len(top)] = np.take_along_axis(res, top, axis=1)
        scores[idx < 0] = -np.inf
        return idx, scores

    # ------------------------------------------------------------------ state
    def get_state(self):
        """Everything needed to rebuild this network: ``(params, arrays)``.

        ``params`` is JSON-serializable; ``arrays`` maps names to NumPy arrays.
        """
        self.sync_optimizer()
        params = {k: getattr(self, k) for k in self._PARAMS}
        params["hidden"] = list(self.hidden)
        params["sampled"] = list(self.sampled)
        params["random_state"] = None
        params["output_sampler"] = _sampler_spec(self.output_sampler)
        arrays = {"seed": np.array([self._seed], dtype=np.int64),
                  "step": np.array([self.step_], dtype=np.int64)}
        for i, layer in enumerate(self.layers):
            for name in _Layer.ARRAYS:
                if getattr(layer, name, None) is not None:
                    arrays[f"layer{i}.{name}"] = getattr(layer, name)
            if layer.sampled and layer.family is not None:
                state = layer.family.get_state()
                for name, value in state["arrays"].items():
                    arrays[f"layer{i}.family.{name}"] = np.asarray(value)
                # the tables hold the weights of the last rehash, not the current ones
                arrays[f"layer{i}.tables.offsets"] = layer.tables.offsets
                arrays[f"layer{i}.tables.members"] = layer.tables.members
                sched = layer.schedule.state()
                arrays[f"layer{i}.schedule"] = np.array([sched["next_exp"], sched["n_exp"],
                                                         layer.tables.n_builds], dtype=np.int64)
        for name, value in self.sampler_.get_state().items():
            arrays[f"sampler.{name}"] = np.asarray(value)
        return params, arrays

    @classmethod
    def from_state(cls, params, arrays):
        """Rebuild a network from :meth:`get_state` output (of either backend)."""
        params = dict(params)
        spec = params.pop("output_sampler", None)
        if spec is not None:
            params["output_sampler"] = getattr(cls._negative, spec["class"])(**spec["params"])
        net = cls(**params)
        net._seed = int(arrays["seed"][0])
        net.step_ = int(arrays["step"][0])
        for i, layer in enumerate(net.layers):
            for name in _Layer.ARRAYS:
                key = f"layer{i}.{name}"
                if getattr(layer, name, None) is None:
                    continue
                if key not in arrays:
                    raise ValueError(f"saved state lacks {key!r}")
                saved = np.asarray(arrays[key])
                if saved.shape != getattr(layer, name).shape:
                    raise ValueError(f"saved {key!r} has shape {saved.shape}, expected "
                                     f"{getattr(layer, name).shape}")
                # a copy: the loaded network must not share arrays with the saved one
                setattr(layer, name, aligned_copy(saved, getattr(layer, name).dtype))
            if layer.sampled and layer.family is not None:
                for pname in type(layer.family)._param_names:
                    key = f"layer{i}.family.{pname}"
                    current = np.asarray(getattr(layer.family, pname))
                    saved = np.asarray(arrays[key])
                    if saved.shape != current.shape:
                        raise ValueError(f"saved {key!r} has shape {saved.shape}, expected "
                                         f"{current.shape}")
                    value = saved.astype(current.dtype, copy=True)
                    setattr(layer.family, pname, value if value.ndim else value.item())
                sched = arrays[f"layer{i}.schedule"]
                layer.schedule.load_state({"next_exp": sched[0], "n_exp": sched[1]})
                offsets = np.array(arrays[f"layer{i}.tables.offsets"], dtype=np.int32)
                members = np.array(arrays[f"layer{i}.tables.members"], dtype=np.int32)
                if offsets.shape != layer.tables.offsets.shape or (
                        members.size and (members.min() < 0 or members.max() >= layer.n_out)) or (
                        offsets.size and offsets[-1, -1] != members.size):
                    raise ValueError(f"saved tables of layer {i} do not fit the layer")
                layer.tables.offsets, layer.tables.members = offsets, members
                layer.tables.n_builds = int(sched[2])
        if net.bf16 == 2:
            _check_split(net.layers)
        sampler_state = {k[len("sampler."):]: v for k, v in arrays.items()
                         if k.startswith("sampler.")}
        if sampler_state:
            net.sampler_.load_state(sampler_state)
        return net

    _PARAMS = ("n_features", "n_outputs", "hash_family", "K", "L", "range_pow",
               "bucket_capacity", "bucket_policy", "selection", "selection_param", "min_active",
               "fill_below", "optimizer", "lr", "beta1", "beta2", "eps", "init", "init_std",
               "batch_size",
               "rehash_every", "rebuild_every", "table_schedule", "schedule_first",
               "schedule_growth", "bf16", "n_threads")

    def __repr__(self):
        kinds = ["sampled" if s else "dense" for s in self.sampled]
        widths = list(self.hidden) + [self.n_outputs]
        body = ", ".join(f"{w} {k}" for w, k in zip(widths, kinds))
        return f"{type(self).__name__}({self.n_features} -> {body})"


class _Block:
    """The output layer's batch-shared candidate set: distinct sorted ``rows`` and their
    logQ ``adjust`` (or None)."""

    __slots__ = ("rows", "adjust")

    def __init__(self, rows, adjust):
        self.rows, self.adjust = rows, adjust


def _check_split(layers):
    """Mode 2 stores high halves in ``W``/``b``: their low 16 bits must be zero."""
    for i, layer in enumerate(layers):
        for name in ("W", "b"):
            if np.any(getattr(layer, name).view(np.uint32) & 0xFFFF):
                raise ValueError(f"saved layer{i}.{name} of a bf16=2 model is not made of high "
                                 "halves (its low 16 bits must be 0; they belong in "
                                 f"layer{i}.{name}_lo)")


def _sampler_spec(sampler):
    """A JSON description of a sampler: class name and constructor parameters."""
    if sampler is None:
        return None
    params = sampler.get_params(deep=False)
    if "random_state" in params:
        params["random_state"] = None   # the draws are keyed by the saved seed
    for key in ("counts",):         # saved as arrays (see OutputSampler.get_state)
        if key in params:
            params[key] = None
    return {"class": type(sampler).__name__, "params": params}


def _sparse_to_dense_scores(S):
    dense = np.full(S.shape, -np.inf, dtype=np.float32)
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    dense[rows, S.indices] = S.data
    return dense


def _topk_rows(scores, k):
    """Indices of the ``k`` largest entries of each row, best first.

    Ties inside the top ``k`` go to the smaller index; which of several tied
    entries at the ``k``-th place is kept is up to ``argpartition``.
    """
    n = scores.shape[1]
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int64)
