"""The SLIDE training engine: a network whose wide layers compute only LSH-selected neurons.

:class:`SlideNetwork` (SLIDE, MLSys'20, section 3; notes ``slide.md`` section 1)
assembles layers by kind (:mod:`slide_ref.layers`: sampled ones choose their neurons
with an :class:`~slide_ref.lsh_index.LSHIndex`, the output with a sampler of
:mod:`slide_ref.negative`), an optimizer per layer (:mod:`slide_ref.optimizers`) and
a number format (:mod:`slide_ref.numerics`).  A training step is every layer's
``forward``, the output's ``loss`` (softmax cross-entropy, target ``1/|Y|`` per
label), every ``backward`` from last to first, every optimizer ``step``, then table
maintenance.  Kernels do the work; ``slide_fast`` binds compiled ones.
"""
import math

import numpy as np

from . import negative as _negative
from ._backend import KERNELS, sibling
from ._schedule import TableSchedule
from ._validation import (check_choice, check_csr, check_float, check_int,
                          check_labels, check_random_state, check_sample_weight,
                          effective_n_threads, seed_from)
from ._memory import check_allocation, network_nbytes
from ._ranking import dense_scores, topk_rows
from .layers import BatchContext
from .lsh import LSHParams
from .network_state import load_network, network_state
from .numerics import check_bf16
from .optimizers import OPTIMIZERS, make_optimizer

try:
    from sklearn.base import clone as _clone
except ImportError:  # pragma: no cover - scikit-learn is a declared dependency
    import copy as _copy
    _clone = _copy.deepcopy

__all__ = ["SlideNetwork", "LSHParams", "TableSchedule", "check_labels"]


def _check_sampled(n_layers, sampled, output_sampler):
    """Which layers are sampled, checked against the number of layers and the sampler."""
    if output_sampler is not None and not isinstance(output_sampler, _negative.OutputSampler):
        raise TypeError("output_sampler must be a sampler of the negative module (for "
                        f"example LSHSampler()), got {type(output_sampler).__name__}")
    dense_out = output_sampler is not None and output_sampler.dense
    if sampled is not None and not isinstance(sampled, (list, tuple, np.ndarray)):
        raise TypeError(f"sampled must be a tuple of bools (one per layer) or None, got "
                        f"{type(sampled).__name__}")
    if sampled is None:
        sampled = (False,) * (n_layers - 1) + (not dense_out,)
    sampled = tuple(bool(s) for s in sampled)
    if len(sampled) != n_layers:
        raise ValueError(f"sampled has {len(sampled)} entries, expected {n_layers} "
                         "(one per hidden layer and one for the output)")
    if output_sampler is not None and dense_out == sampled[-1]:
        raise ValueError(f"{type(output_sampler).__name__} needs sampled[-1]={not dense_out}")
    if sampled[0]:
        hint = ("; with hidden=() it is the output: pass sampled=(False,) or a dense "
                "output_sampler" if n_layers == 1 else "")
        raise ValueError(f"layer 0 reads the sparse input and must be dense (sampled[0]){hint}")
    return sampled


def _check_batch(X, Y, sample_weight, n_features, n_outputs):
    """A training batch validated: float32 CSR ``X``, label CSR ``Y``, float64 weights."""
    X = check_csr(X, "X", n_features=n_features)
    return X, check_labels(Y, X.shape[0], n_outputs), check_sample_weight(sample_weight,
                                                                          X.shape[0])


def _diverged(lr, step, what):
    raise FloatingPointError(
        f"training diverged at step {step}: {what}. Likely causes: a learning rate too "
        f"large (lr={lr}), features of extreme scale, or extreme sample_weight values; the "
        "weights of this network may no longer be usable")


class SlideNetwork:
    """A feed-forward network trained with LSH-selected active neurons (SLIDE).

    Parameters
    ----------
    n_features, n_outputs : int
        Width of the sparse input; number of output classes (labels).
    hidden : tuple of int, default (128,)
        Widths of the ReLU hidden layers.
    sampled : tuple of bool, optional
        Whether each layer (hidden layers, then the output) is sampled; by default
        only the output. Layer 0 reads the sparse input and must be dense.
    lsh : LSHParams or dict, optional
        Hashing, selection, padding and table schedule of the sampled hidden
        layers and of the default output selection (:class:`LSHParams`).
    optimizer : {"adam", "lazy_adam", "lazy_input_adam", "catchup_adam", "sgd"}
        "adam" (default) steps every weight each batch, as the papers do;
        "lazy_adam" only the rows the batch touched (a rarely sampled output row
        then moves less: ~0.04 P@1 on the 100k-label benchmark); "lazy_input_adam"
        lazy on layer 0 only (an embedding table); "catchup_adam" lazy, but a row
        first catches up, in closed form, the steps dense Adam took on it (dense
        Adam at lazy cost). See :mod:`slide_ref.optimizers`.
    lr, beta1, beta2, eps : float, default 1e-3, 0.9, 0.999, 1e-8
    init : {"scaled", "slide"}, default "scaled"
        "slide": N(0, ``init_std``) everywhere (SLIDE's code); "scaled": N(0, 1) for layer
        0, U(+-1/sqrt(fan_in)) later (P@1 0.71 against 0.37 on the 10k-label set).
    init_std : float, default 0.01
    batch_size : int, default 128
        Converts the table schedules' samples to batches.
    output_sampler : slide.negative.OutputSampler, optional
        Chooses each sample's output classes (LSH Embedding or Label, uniform,
        unigram, log-uniform, :class:`FullSoftmax`); by default
        ``LSHSampler(query="embedding", lsh=lsh)`` (SLIDE). A dense sampler
        makes the default output dense. The network works on a clone
        (``sampler_``), which keeps its own ``lsh`` settings.
    bf16 : {0, 1, 2, 3}, default 0
        Number format (Optimized SLIDE): 0 fp32; 1 bf16 activations, deltas and
        gradients; 2 also split weights; 3 the batch-shared output block's products
        over its weights (logits, hidden delta) on a bf16 copy of them, fp32 otherwise
        (needs a ``batch_labels=True`` sampler; see :mod:`slide_ref.numerics`).
    n_threads : int, optional
        Threads of the fast kernels (``None`` follows ``OMP_NUM_THREADS``); more
        than one accumulates gradients HOGWILD-style, 1 is bitwise reproducible.
    random_state : int, Generator or None

    Attributes
    ----------
    layers : the layers (:mod:`slide_ref.layers`), input first
    step_ : int, batches trained so far
    sampler_ : the output layer's sampler in use
    last_losses_ : ndarray [B], per-sample cross-entropy of the last batch (unweighted)
    """

    _kernels = KERNELS
    _PARAMS = ("n_features", "n_outputs", "optimizer", "lr", "beta1", "beta2", "eps", "init",
               "init_std", "batch_size", "bf16", "n_threads")

    def __init__(self, n_features, n_outputs, hidden=(128,), sampled=None, lsh=None,
                 optimizer="adam", lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, init="scaled",
                 init_std=0.01, batch_size=128, output_sampler=None, bf16=0, n_threads=None,
                 random_state=None):
        self.n_features = check_int(n_features, "n_features", low=1)
        self.n_outputs = check_int(n_outputs, "n_outputs", low=2)
        self.hidden = tuple(check_int(h, "hidden width", low=1) for h in np.atleast_1d(hidden))
        self.output_sampler = output_sampler
        self.sampled = _check_sampled(len(self.hidden) + 1, sampled, output_sampler)
        self.lsh = LSHParams.coerce(lsh).validate()
        self.optimizer = check_choice(optimizer, "optimizer", set(OPTIMIZERS))
        self.lr = check_float(lr, "lr", low=0.0, low_open=True)
        self.beta1 = check_float(beta1, "beta1", low=0.0, high=1.0)
        self.beta2 = check_float(beta2, "beta2", low=0.0, high=1.0)
        self.eps = check_float(eps, "eps", low=0.0, low_open=True)
        self.init = check_choice(init, "init", {"scaled", "slide"})
        self.init_std = check_float(init_std, "init_std", low=0.0)
        self.batch_size = check_int(batch_size, "batch_size", low=1)
        self.bf16 = check_bf16(bf16)
        self.n_threads, self.random_state = n_threads, random_state
        self._n_threads = effective_n_threads(n_threads)
        self.numerics = sibling(self, "numerics").Numerics(self.bf16)
        self.sampler_ = self._make_sampler()
        block = self.sampled[-1] and self.sampler_.block
        if block and self.bf16 in (1, 2):
            raise ValueError("bf16 modes 1 and 2 are not implemented for a batch-shared "
                             "candidate set (batch_labels=True); use bf16=0, bf16=3 or a "
                             "per-sample sampler")
        if self.bf16 == 3 and not block:
            raise ValueError("bf16=3 (the bf16 shadow of the batch-shared output block) needs "
                             "a batch-shared candidate set (a sampler with batch_labels=True)")
        self._rng = check_random_state(random_state)
        self._seed = seed_from(self._rng)
        self.step_ = 0
        check_allocation(network_nbytes(self.n_features, self.hidden, self.n_outputs,
                                        self.optimizer, self.bf16),
                         f"a SlideNetwork of n_features={self.n_features} -> hidden="
                         f"{list(self.hidden)} -> n_outputs={self.n_outputs}")
        self.layers = self._make_layers()
        for layer in self.layers[:-1]:      # after every layer drew its weights
            if layer.sampled:
                layer.build_index()
        if self.sampled[-1]:
            self.sampler_.setup(self.layers[-1].W, batch_size=self.batch_size,
                                n_threads=self._n_threads, rng=self._rng)
            self.layers[-1].attach(self.sampler_)

    # ------------------------------------------------------------------ assembly
    def _make_sampler(self):
        """The output sampler: a clone of the one given, or SLIDE's LSH selection."""
        negative = sibling(self, "negative")
        if self.output_sampler is not None:
            return _clone(self.output_sampler)
        if not self.sampled[-1]:
            return negative.FullSoftmax()
        return negative.LSHSampler(query="embedding", lsh=self.lsh)

    def _make_layers(self):
        """The layers, input first, each drawing its weights from the network's generator."""
        kinds = sibling(self, "layers")
        widths = (self.n_features,) + self.hidden + (self.n_outputs,)
        last = len(widths) - 2
        layers = []
        for i in range(last + 1):
            role = "input" if i == 0 else "sampled" if self.sampled[i] else "dense"
            opt = make_optimizer(self.optimizer, role, split=self.numerics.split, lr=self.lr,
                                 beta1=self.beta1, beta2=self.beta2, eps=self.eps,
                                 module=sibling(self, "optimizers"))
            kw = dict(relu=i < last, optimizer=opt, numerics=self.numerics, rng=self._rng,
                      init=self.init, init_std=self.init_std, first=i == 0)
            if i == 0:
                cls = kinds.InputLayer
            elif not self.sampled[i]:
                cls = kinds.DenseLayer
            elif i < last:
                cls = kinds.SampledHiddenLayer
                kw.update(lsh=self.lsh, batch_size=self.batch_size, n_threads=self._n_threads)
            else:
                cls = kinds.BlockOutputLayer if self.sampler_.block else kinds.SampledOutputLayer
            layers.append(cls(widths[i], widths[i + 1], **kw))
        return layers

    def _lsh_output(self):
        return self.sampled[-1] and isinstance(self.sampler_, _negative.LSHSampler)

    def rehash(self):
        """Re-insert every LSH-sampled layer's neurons from their current weights."""
        for layer in self.layers:
            layer.rehash()

    def rebuild(self):
        """Draw new hash functions for every LSH-sampled layer, then rehash."""
        for layer in self.layers:
            layer.rehash(rebuild=True)

    # ------------------------------------------------------------------ training
    def train_batch(self, X, Y, sample_weight=None):
        """One SGD step on a batch ``X`` (CSR [B, n_features]), ``Y`` (labels, see
        :func:`check_labels`) with optional per-sample loss weights (importance weights of
        example samplers); returns the mean weighted cross-entropy over the active sets.
        Raises FloatingPointError, naming the step, when the loss, a bias or its Adam state
        becomes non-finite (a diverging step: lr, feature scale or sample_weight)."""
        X, Y, w = _check_batch(X, Y, sample_weight, self.n_features, self.n_outputs)
        labels = (Y.indptr.astype(np.int64, copy=False), Y.indices.astype(np.int32, copy=False))
        return float(self._train_step(X, labels, w))

    def _train_step(self, X, labels, w):
        """One step on a validated batch: float32 CSR ``X`` (int32 indices; a SciPy matrix or
        a :class:`~slide_ref.training.CSRBatch`), the label CSR as ``labels = (indptr int64,
        ids int32)``, float64 weights ``w``; returns the mean weighted loss."""
        ctx = BatchContext(labels, self.step_, True, self._seed, self._n_threads)
        acts, records, A = [], [], X
        for layer in self.layers:
            A, record = layer.forward(A, ctx)
            acts.append(A)
            records.append(record)
        delta, loss = self.layers[-1].loss(acts[-1], records[-1], ctx.labels, w,
                                           1.0 / X.shape[0], ctx.n_threads)
        self.last_losses_ = loss    # per-sample, unweighted: read by example samplers
        mean = float(np.dot(w, loss)) / X.shape[0]
        if not math.isfinite(mean):
            _diverged(self.lr, ctx.step, f"the mean loss is {mean}")
        self.numerics.round_delta(delta, ctx.n_threads)
        inputs = [X] + acts[:-1]
        for i in range(len(self.layers) - 1, -1, -1):
            relu_in = i > 0 and self.layers[i - 1].relu
            delta = self.layers[i].backward(inputs[i], records[i], delta, relu_in, ctx)
        for layer, record in zip(self.layers, records):
            layer.step(record, ctx)
        self.step_ += 1
        for layer in self.layers:
            layer.after_step(ctx.step)
        if not all(layer.finite_biases() for layer in self.layers):
            _diverged(self.lr, ctx.step, "a bias or its optimizer state became non-finite")
        return mean

    def sync_optimizer(self):
        """Catch-up Adam: apply now the steps dense Adam took on rows untouched since their
        last update (training applies them when a row is next read). Inference and
        :meth:`get_state` call it first; a no-op for other optimizers."""
        for layer in self.layers:
            layer.sync(self.step_ + 1, self._n_threads)

    # ------------------------------------------------------------------ inference
    def _checked_csr(self, X):
        return check_csr(X, "X", n_features=self.n_features, allow_empty=True)

    def output_scores(self, X, sampled=False):
        """Output logits of a batch: dense [B, n_outputs] (default), or ``(indptr, ids,
        logits)`` of the LSH-selected outputs when ``sampled``."""
        self.sync_optimizer()
        self._check_sampled_scoring(sampled)
        H = self._embed(self._checked_csr(X))
        out = self.layers[-1]
        if sampled and out.sampled:
            return out.sampled_scores(H, self.step_, self._n_threads)
        return out.scores(H, self._n_threads)

    def _check_sampled_scoring(self, sampled):
        """``sampled`` scoring selects outputs with LSH: a sampled output needs an
        LSHSampler (a dense output scores every class either way)."""
        if sampled and self.layers[-1].sampled and not self._lsh_output():
            raise ValueError(f"sampled=True scoring needs an LSHSampler output, not "
                             f"{type(self.sampler_).__name__}; use sampled=False")

    def retrieval_quality(self, X, Y=None, top=50):
        """LSH retrieval statistics of the output sampler on a batch (see
        :meth:`LSHSampler.retrieval_stats`); ``Y`` is needed for ``query="label"``."""
        if not self._lsh_output():
            raise ValueError("retrieval_quality needs an LSHSampler output")
        X = self._checked_csr(X)
        labels = None
        if Y is not None:
            Yc = check_labels(Y, X.shape[0], self.n_outputs)
            labels = (Yc.indptr.astype(np.int64), Yc.indices.astype(np.int32))
        out = self.layers[-1]
        return self.sampler_.retrieval_stats(self._embed(X), out.W, out.b, labels, top)

    def embed(self, X):
        """Penultimate activations ``h = E(x)`` [B, hidden[-1]] (all neurons computed) of
        ``X`` (CSR or dense [B, n_features], checked as in :meth:`predict_topk`)."""
        return self._embed(self._checked_csr(X))

    def _embed(self, X):
        """:meth:`embed` of a validated float32 CSR ``X``."""
        self.sync_optimizer()
        A = X
        for layer in self.layers[:-1]:
            A = layer.forward_all(A, self._n_threads)
        return A

    def predict_topk(self, X, k=5, sampled=False, batch_size=None):
        """Top-``k`` outputs of each row: ``(indices [n, k] int64, scores [n, k] float32)``.

        Scores are logits, best first (ties: smaller index); slots no output filled
        (NaN logits, or fewer than ``k`` LSH-selected outputs with ``sampled``) are
        -1 / -inf. Every output is scored by a fused score + top-k kernel that keeps
        no score matrix, ``batch_size`` rows at a time (default 4096), so memory does
        not grow with the number of rows or outputs. With ``sampled``, only
        LSH-selected outputs are scored (a sampled output then needs an
        :class:`~slide_ref.negative.LSHSampler`).
        """
        k = check_int(k, "k", low=1, high=self.n_outputs)
        batch_size = check_int(4096 if batch_size is None else batch_size, "batch_size", low=1)
        self._check_sampled_scoring(sampled)
        X = self._checked_csr(X)
        idx = np.full((X.shape[0], k), -1, dtype=np.int64)
        scores = np.full((X.shape[0], k), -np.inf, dtype=np.float32)
        self.sync_optimizer()
        for start in range(0, X.shape[0], batch_size):
            rows = slice(start, start + batch_size)
            idx[rows], scores[rows] = self._block_topk(X[rows], k, sampled)
        return idx, scores

    def _block_topk(self, X, k, sampled):
        """Top-``k`` of one block of validated rows."""
        if not (sampled and self.layers[-1].sampled):
            return self.layers[-1].top_scores(self._embed(X), k, self._n_threads)
        res = dense_scores(*self.output_scores(X, sampled=True), self.n_outputs)
        top = topk_rows(res, k)
        top_scores = np.take_along_axis(res, top, axis=1)
        return np.where(top_scores == -np.inf, -1, top), top_scores

    # ------------------------------------------------------------------ state
    def get_state(self):
        """Everything needed to rebuild this network: ``(params, arrays)``: JSON-serializable
        parameters, and the arrays of the network (``seed``, ``step``), of each layer
        (``layer{i}.``) and of the output sampler (``sampler.``) by name."""
        return network_state(self)

    @classmethod
    def from_state(cls, params, arrays, source="<state>"):
        """Rebuild a network from :meth:`get_state` output (of either backend). Every component
        checks its own arrays: :class:`~slide_ref._validation.StateError` names ``source``
        (a file name) and the field at fault."""
        return load_network(cls, params, arrays, source)

    def __repr__(self):
        kinds = ["sampled" if s else "dense" for s in self.sampled]
        widths = list(self.hidden) + [self.n_outputs]
        body = ", ".join(f"{w} {k}" for w, k in zip(widths, kinds))
        return f"{type(self).__name__}({self.n_features} -> {body})"
