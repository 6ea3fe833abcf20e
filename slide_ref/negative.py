"""Output-layer samplers: which classes each sample's softmax is computed over.

A sampler plugs into :class:`slide_ref.network.SlideNetwork` as
``output_sampler``. Every batch it gets the penultimate activations
``H = E(X)``, the labels and the current output weights, and returns each
sample's active classes as CSR ``(indptr, ids)`` plus, where defined, a
per-pair ``adjust`` that is subtracted from the logit (the logQ correction,
or a mask). The softmax and its gradient then run over the active classes
only (LNS notes, sections 2-4; baselines, section 6):

* :class:`LSHSampler` -- the two adaptive LNS distributions.
  ``query="embedding"`` hashes ``h = E(x)`` into tables of the label vectors
  ``w_c`` (rows of the output weights) and takes the union of the hit
  buckets: classes with large logits are likely (this is also SLIDE's
  output-layer selection). ``query="label"`` queries with the true labels'
  vectors ``w_y``: classes confusable with the positive. Positives are always
  active; short sets are padded with random classes; the tables are rehashed
  from the current weights on a schedule. The cost per sample does not depend
  on the number of classes.
* :class:`UniformSampler`, :class:`UnigramSampler`,
  :class:`LogUniformSampler` -- static proposals, with ``n_negatives`` per
  sample or shared by the batch, optional logQ correction and
  accidental-hit removal (as TensorFlow's ``sampled_softmax_loss`` offers).
* :class:`FullSoftmax` -- every class (the network then uses its dense
  output path).

Static samplers lay out each sample's set as its labels first, then the
drawn negatives. A negative equal to one of the sample's labels is an
*accidental hit*: with ``remove_accidental_hits`` its logit becomes a finite
large negative number (probability 0, no target, no gradient), otherwise it
stays as an extra negative. With ``logq`` every pair's logit is reduced by
the log of its expected count under the proposal (``m * q_c`` for draws with
replacement, ``m / N`` for uniform draws without replacement), positives
included, so the sampled softmax estimates the full one. A batch-shared set
(``batch_labels=True``) is deduplicated, so there the correction is the log of
the probability that the class is drawn at all, ``1 - (1 - q_c)^m``: for a
frequent class ``m * q_c`` can be far above 1 while that probability is ~1.

With ``shared=True, batch_labels=True`` the batch has one candidate set (its
labels and the shared draws; :meth:`~UniformSampler.sample_block`), which the
network computes as dense products over those rows. ``hard_negatives=t`` then
adds an adaptive part: each label remembers the ``t`` candidates that scored
highest against its last sample (:meth:`~UniformSampler.observe_block`), and
they join the set of the next batch that holds the label.
:class:`LSHBlockSampler` adds LSH hard negatives to that set: each sample's most
frequent hits in tables of the class rows, queried with its hidden vector.
"""
import importlib
import math

import numpy as np

from ._backend import KERNELS, sibling
from ._kernels.rng import counter_randint as _ref_randint
from ._params import store_params
from ._validation import (StateError, check_choice, check_float, check_int,
                          check_random_state, seed_from)
from ._memory import check_allocation
from .lsh import LSHParams

try:  # get_params / set_params / clone, as for the estimators
    from sklearn.base import BaseEstimator
except ImportError:  # pragma: no cover - scikit-learn is a declared dependency
    BaseEstimator = object

__all__ = ["OutputSampler", "FullSoftmax", "LSHSampler", "UniformSampler", "UnigramSampler",
           "LogUniformSampler", "LSHParams", "SAMPLERS", "make_sampler", "sampler_spec",
           "sampler_from_spec", "MASK", "LSHBlockSampler", "BLOCK_LSH"]

#: ``adjust`` of a masked pair: its logit ``z - MASK`` is finite and far below any other
MASK = np.float32(1e30)
#: the most hard negatives a static sampler remembers per class
MAX_HARD_NEGATIVES = 64


class OutputSampler(BaseEstimator):
    """Base class of the output-layer samplers.

    Subclasses implement :meth:`sample`; :meth:`setup` is called once by the
    network that owns the sampler, :meth:`prepare` with the training labels
    before training, :meth:`after_step` after every optimizer step.
    """

    #: the network computes the full softmax instead of calling :meth:`sample`
    dense = False
    #: the batch shares one candidate set: the network calls :meth:`sample_block`
    block = False
    _kernels = KERNELS

    def setup(self, W, *, batch_size, n_threads, rng):
        """Attach to an output layer of weights ``W`` ``[N][d]``.

        ``batch_size`` converts table schedules to batches, ``n_threads`` is the
        kernels' thread count and ``rng`` the owner's generator, which draws the
        sampler's seed (and hash functions) unless it has its own ``random_state``.
        """
        self.n_outputs_ = W.shape[0]
        self.n_threads_ = n_threads
        if self.random_state is not None:
            rng = check_random_state(self.random_state)
        self._rng = rng
        self.seed_ = seed_from(rng)
        self.batch_size_ = batch_size

    def _threads(self):
        return self.n_threads_

    def prepare(self, Y):
        """See the training labels (CSR [n, N]) once before training; most samplers ignore them."""
        return self

    def sample(self, H, labels, W, b, step, training=True):
        """Active classes of a batch.

        Parameters
        ----------
        H : ndarray [B, d], float32
            Penultimate activations.
        labels : tuple (indptr [B + 1] int64, ids int32)
            The batch's labels (empty rows in inference).
        W, b : output weights ``[N][d]`` and biases ``[N]`` (current values).
        step : int
            Batch counter; keys the random draws.
        training : bool

        Returns
        -------
        indptr : ndarray [B + 1], int64
        ids : ndarray [n_pairs], int32
        adjust : ndarray [n_pairs], float32, or None
            Subtracted from each pair's logit (log expected count, or ``MASK``).
        """
        raise NotImplementedError

    def after_step(self, step, W):
        """Called after the optimizer step of batch ``step`` (table maintenance)."""

    def observe_block(self, Z, rows, label_indptr, label_cols):
        """Called with a training batch's logits over its shared candidate set (samplers
        with :attr:`block`); see :meth:`UniformSampler.observe_block`."""

    def get_state(self):
        """The sampler's arrays by name, to save beside the network."""
        if not hasattr(self, "seed_"):      # never set up: the dense output path
            return {}
        return {"seed": np.array([self.seed_], dtype=np.int64)}

    def load_state(self, arrays, source="<state>", prefix="", step=0):
        """Check and restore what :meth:`get_state` saved (names without ``prefix``);
        raises :class:`~slide_ref._validation.StateError` naming ``source`` and the field."""
        if "seed" in arrays:
            seed = np.asarray(arrays["seed"])
            if seed.shape != (1,) or seed.dtype.kind not in "iu" or seed[0] < 0:
                raise StateError(source, prefix + "seed", "must be one non-negative integer")
            self.seed_ = int(seed[0])


# --------------------------------------------------------------------------- full softmax
class FullSoftmax(OutputSampler):
    """Every class is active: the exact softmax (the network's dense output path)."""

    dense = True

    def __init__(self):
        self.random_state = None

    def sample(self, H, labels, W, b, step, training=True):
        B, N = H.shape[0], b.shape[0]
        indptr = np.arange(B + 1, dtype=np.int64) * N
        return indptr, np.tile(np.arange(N, dtype=np.int32), B), None


# --------------------------------------------------------------------------- static samplers
class _StaticSampler(OutputSampler):
    """Shared machinery: draw ids, lay out labels + negatives, logQ and masking."""

    def _check(self):
        # ids of negatives reach the kernels as int32
        check_int(self.n_negatives, "n_negatives", low=1, high=2**31 - 1)
        check_choice(self.shared, "shared", {True, False})
        check_choice(self.logq, "logq", {True, False})
        check_choice(self.remove_accidental_hits, "remove_accidental_hits", {True, False})
        check_choice(self.batch_labels, "batch_labels", {True, False})
        if self.batch_labels and not self.shared:
            raise ValueError("batch_labels=True needs shared=True: the batch's labels join "
                             "one candidate set shared by the whole batch")
        check_int(self.hard_negatives, "hard_negatives", low=0, high=MAX_HARD_NEGATIVES)
        if self.hard_negatives and not self.batch_labels:
            raise ValueError("hard_negatives needs batch_labels=True (and shared=True): the "
                             "memory is filled from the logits of the batch's shared set")

    def setup(self, W, **kw):
        self._check()
        super().setup(W, **kw)
        N = self.n_outputs_
        if self.n_negatives > N and isinstance(self, UniformSampler):
            raise ValueError(f"n_negatives={self.n_negatives} exceeds the {N} classes")
        # a batch's draws and their logits (ids, scores, gradients): refused before training
        check_allocation(16 * self.batch_size_ * (self.n_negatives + 1),
                         f"{type(self).__name__} with n_negatives={self.n_negatives} and "
                         f"batch_size={self.batch_size_}")
        # per class: the candidates that outscored it most when it was last a label
        self.memory_ = np.full((N, self.hard_negatives), -1, dtype=np.int32)

    def _draw(self, n_rows, step):
        """Negative ids [n_rows, m] and the log expected count of every class (or a constant)."""
        raise NotImplementedError

    @property
    def block(self):
        """Whether the whole batch shares one candidate set (see :meth:`sample_block`)."""
        return bool(self.shared and self.batch_labels)

    def sample_block(self, labels, step, training=True):
        """The batch's shared candidate set (``batch_labels=True``).

        Every sample is scored against the same classes: all labels of the
        batch (each sample's labels are the other samples' negatives, as in
        TensorFlow's and PyTorch's sampled softmax), the shared negatives and,
        with ``hard_negatives``, the remembered hard negatives of the batch's
        labels, deduplicated. No pair is masked: a negative equal to a label is
        the label itself after deduplication.

        Returns
        -------
        rows : ndarray [C], int32
            Sorted distinct class ids.
        adjust : ndarray [C], float32, or None
            Subtracted from every sample's logit of each class (logQ), or None.
        """
        negs, log_count = self._draw(1, step)
        lab_ids = labels[1] if training else np.empty(0, np.int32)
        if self.hard_negatives and len(lab_ids):
            hard = self.memory_[lab_ids].ravel()
            negs = np.concatenate([negs.ravel(), hard[hard >= 0]])
        rows = self._kernels.negative.batch_candidates(lab_ids, negs, self.n_outputs_,
                                                       self._threads())
        if not self.logq:
            return rows, None
        # the set is deduplicated: a class is in it or not, so the correction is the log of
        # its inclusion probability, not of its expected count among the draws
        log_p, const = self._log_inclusion()
        if len(log_p):
            return rows, np.asarray(log_p[rows], dtype=np.float32)
        return rows, np.full(len(rows), const, dtype=np.float32)

    def _log_inclusion(self):
        """Log-probability that a class is among one deduplicated draw of ``n_negatives``:
        ``(per-class array, or empty, constant)``."""
        raise NotImplementedError

    def observe_block(self, Z, rows, label_indptr, label_cols):
        """See the logits ``Z`` [B, C] of a training batch over its candidate set ``rows``
        (the columns of sample ``i``'s labels: ``label_cols[label_indptr[i]:label_indptr[i +
        1]]``). With ``hard_negatives = t``, each label's memory becomes the ``t`` other
        candidates that scored highest against its sample; they join the candidate set of
        the next batch that holds the label."""
        if self.hard_negatives:
            self._kernels.negative.update_hard_negatives(Z, rows, label_indptr, label_cols,
                                                         self.memory_, self._threads())

    def get_state(self):
        state = super().get_state()
        if getattr(self, "memory_", None) is not None and self.memory_.size:
            state["hard_negatives"] = self.memory_
        return state

    def load_state(self, arrays, source="<state>", prefix="", step=0):
        super().load_state(arrays, source, prefix, step)
        if "hard_negatives" in arrays:
            memory = np.asarray(arrays["hard_negatives"])
            shape = getattr(self, "memory_", np.empty((0, 0))).shape
            if memory.shape != shape or memory.dtype.kind not in "iu" or (memory.size and (
                    memory.min() < -1 or memory.max() >= shape[0])):
                raise StateError(source, prefix + "hard_negatives",
                                 f"shape {memory.shape} or ids outside [-1, {shape[0]}); "
                                 f"expected integers of shape {shape}")
            self.memory_ = np.array(memory, dtype=np.int32)

    def sample(self, H, labels, W, b, step, training=True):
        B = H.shape[0]
        negs, log_count = self._draw(1 if self.shared else B, step)
        if not self.logq:
            log_count = np.zeros(0, np.float32), 0.0
        lab_indptr, lab_ids = labels if training else (np.zeros(B + 1, np.int64),
                                                       np.empty(0, np.int32))
        return self._kernels.negative.assemble_sets(lab_indptr, lab_ids, negs, log_count[0],
                                                    log_count[1], self.remove_accidental_hits,
                                                    self._threads())


class UniformSampler(_StaticSampler):
    """``n_negatives`` distinct classes drawn uniformly (each included with probability m/N).

    Parameters
    ----------
    n_negatives : int, default 1000
    shared : bool, default False
        One draw for the whole batch (TensorFlow's convention) instead of one per sample.
    logq : bool, default False
        Subtract ``log(m / N)`` from every logit (a constant shift for this
        sampler: it changes nothing but is offered for symmetry).
    remove_accidental_hits : bool, default True
    batch_labels : bool, default False
        With ``shared=True``: score every sample against the labels of the
        whole batch too, so the batch has one candidate set (its labels and the
        negatives, deduplicated), as the sampled softmax of TensorFlow and
        PyTorch does. The network then computes the output layer as three
        dense matrix products over the gathered rows (much faster than pair
        dot products) and ``remove_accidental_hits`` has no effect.
    hard_negatives : int, default 0
        With ``batch_labels=True``: remember for every class the ``t`` other
        candidates that scored highest against its last training sample, and
        add the remembered ones of the batch's labels to the candidate set (on
        top of the ``n_negatives`` draws). An adaptive proposal at the cost of a
        top-``t`` pass over the batch's logits: hard negatives found by chance
        (or by an earlier memory) stay in play while they keep outscoring the
        label. At most 64.
    random_state : int, Generator or None
        Seed of the draws (by default, drawn from the network's generator).
    """

    def __init__(self, n_negatives=1000, *, shared=False, logq=False,
                 remove_accidental_hits=True, batch_labels=False, hard_negatives=0,
                 random_state=None):
        store_params(self, locals())

    def _draw(self, n_rows, step):
        m, N = self.n_negatives, self.n_outputs_
        negs = self._kernels.negative.draw_uniform_unique(n_rows, m, N, self.seed_, step,
                                                          self._threads())
        return negs, (np.zeros(0, np.float32), math.log(m / N))

    def _log_inclusion(self):
        # draws without replacement: the expected count m / N is the inclusion probability
        return np.zeros(0, np.float32), math.log(self.n_negatives / self.n_outputs_)


class _CDFSampler(_StaticSampler):
    """Draws with replacement from a fixed distribution ``q`` over the classes."""

    def _probabilities(self):
        raise NotImplementedError

    def setup(self, W, **kw):
        N = W.shape[0]
        self.counts_ = None if self.counts is None else _as_counts(self.counts)
        if self.counts_ is not None and (self.counts_.shape != (N,)
                                         or not np.isfinite(self.counts_).all()
                                         or (self.counts_ < 0).any()):
            raise ValueError(f"counts must be {N} finite non-negative numbers")
        super().setup(W, **kw)
        self._tabulate()

    def prepare(self, Y):
        """Take the label frequencies of ``Y`` unless ``counts`` was given."""
        if self.counts is None:
            self.counts_ = self._counts_from(Y)
            self._tabulate()
        return self

    def _tabulate(self):
        q = self._probabilities()
        if q is None:
            self.cdf_ = None
            return
        q = np.asarray(q, dtype=np.float64)
        q = q / q.sum()
        self.cdf_ = np.cumsum(q)
        with np.errstate(divide="ignore"):
            # expected count of class c among m draws with replacement (per-sample sets keep
            # duplicates, so this is their correction) ...
            self.log_q_ = np.log(self.n_negatives * q).astype(np.float32)
            # ... and the probability that c is drawn at all, 1 - (1 - q_c)^m, for deduplicated
            # sets: m q_c overstates it for frequent classes (m q_c >> 1 while it is ~1)
            incl = -np.expm1(self.n_negatives * np.log1p(-np.minimum(q, 1.0)))
            self.log_inclusion_ = np.log(incl).astype(np.float32)

    def _draw(self, n_rows, step):
        if getattr(self, "cdf_", None) is None:
            raise RuntimeError(f"{type(self).__name__} needs label counts: pass counts= or call "
                               "prepare(Y) with the training labels before training")
        negs = self._kernels.negative.draw_from_cdf(n_rows, self.n_negatives, self.cdf_,
                                                    self.seed_, step, self._threads())
        return negs, (self.log_q_, 0.0)

    def _log_inclusion(self):
        return self.log_inclusion_, 0.0

    def _counts_from(self, Y):
        if Y.shape[1] != self.n_outputs_:
            raise ValueError(f"Y has {Y.shape[1]} classes, the network {self.n_outputs_}")
        Y = Y.tocsr()   # exact integer counts, whatever the dtype of Y
        return np.bincount(Y.indices, minlength=Y.shape[1]).astype(np.float64)

    def get_state(self):
        state = super().get_state()
        if getattr(self, "counts_", None) is not None:
            state["counts"] = np.asarray(self.counts_, dtype=np.float64)
        return state

    def load_state(self, arrays, source="<state>", prefix="", step=0):
        super().load_state(arrays, source, prefix, step)
        if "counts" in arrays:
            counts = np.asarray(arrays["counts"])
            if counts.shape != (self.n_outputs_,) or counts.dtype.kind not in "fiu" or not (
                    np.isfinite(counts).all() and (counts >= 0).all()):
                raise StateError(source, prefix + "counts",
                                 f"must be {self.n_outputs_} finite non-negative numbers")
            self.counts_ = counts.astype(np.float64)
        self._tabulate()


def _as_counts(counts):
    """``counts`` as float64 (TypeError naming it for what holds no numbers)."""
    try:
        arr = np.asarray(counts)
        if arr.dtype.kind not in "biuf":
            raise TypeError
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"counts must be numbers, one per class, got {counts!r:.80}") from None


class UnigramSampler(_CDFSampler):
    """Negatives drawn with replacement in proportion to ``(count_c + 1) ** power``.

    The counts are the training label frequencies (``counts=`` or
    :meth:`prepare`); adding one keeps classes unseen in training possible
    negatives with a finite log-probability. ``power=0.75`` is word2vec's
    distortion.

    Parameters
    ----------
    n_negatives : int, default 1000
    counts : array [N], optional
    power : float, default 1.0
    shared, logq, remove_accidental_hits, batch_labels, hard_negatives, random_state : see
        :class:`UniformSampler`
        With ``logq`` the logit of class ``c`` is reduced by ``log(m * q_c)``.
    """

    def __init__(self, n_negatives=1000, *, counts=None, power=1.0, shared=False, logq=False,
                 remove_accidental_hits=True, batch_labels=False, hard_negatives=0,
                 random_state=None):
        store_params(self, locals())

    def setup(self, W, **kw):
        check_float(self.power, "power", low=0.0)
        super().setup(W, **kw)

    def _probabilities(self):
        if self.counts_ is None:
            return None
        return (self.counts_ + 1.0) ** self.power


class LogUniformSampler(_CDFSampler):
    """Zipfian negatives: the class of frequency rank ``r`` has probability
    ``(log(r + 2) - log(r + 1)) / log(N + 1)`` (TensorFlow's log-uniform sampler).

    The rank order comes from ``counts`` (or :meth:`prepare`), most frequent
    first, ties by class id; without counts the class ids are taken to be
    frequency ranks already, as TensorFlow assumes.

    Parameters
    ----------
    n_negatives : int, default 1000
    counts : array [N], optional
    shared, logq, remove_accidental_hits, batch_labels, hard_negatives, random_state : see
        :class:`UnigramSampler`
    """

    def __init__(self, n_negatives=1000, *, counts=None, shared=False, logq=False,
                 remove_accidental_hits=True, batch_labels=False, hard_negatives=0,
                 random_state=None):
        store_params(self, locals())

    def _probabilities(self):
        N = self.n_outputs_
        r = np.arange(N, dtype=np.float64)
        by_rank = (np.log(r + 2) - np.log(r + 1)) / np.log(N + 1)
        if self.counts_ is None:
            return by_rank
        order = np.lexsort((np.arange(N), -self.counts_))    # rank -> class
        q = np.empty(N)
        q[order] = by_rank
        return q


# --------------------------------------------------------------------------- LSH
class _SavesIndex:
    """Saves and loads a sampler's ``index_`` (its :class:`LSHIndex`) with its own state."""

    def get_state(self):
        state = super().get_state()
        if hasattr(self, "index_"):
            state.update(self.index_.get_state())
        return state

    def load_state(self, arrays, source="<state>", prefix="", step=0):
        super().load_state(arrays, source, prefix, step)
        self.index_.load_state(arrays, source, prefix, step)


class LSHSampler(_SavesIndex, OutputSampler):
    """LSH negative sampling (LNS): the classes whose label vectors collide with a query.

    Every class ``c`` is stored in ``L`` hash tables under the codes of its
    label vector ``w_c`` (row ``c`` of the output weights). A sample's
    candidates are the union of the buckets its query hits, so class ``c`` is
    a candidate with probability ``1 - (1 - p^K)^L``, where ``p`` is the
    collision probability of the query and ``w_c`` (``1 - angle / pi`` for
    SimHash): an adaptive proposal that costs ``O(K L)`` hashing and ``L``
    look-ups per sample, independent of the number of classes.  The family,
    tables, selection, padding and schedule are the sampler's
    :class:`~slide_ref.lsh_index.LSHIndex` (``index_``).

    Parameters
    ----------
    query : {"embedding", "label"}, default "embedding"
        "embedding" queries with ``h = E(x)`` (LSH Embedding; also SLIDE's
        output-layer selection); "label" with the true labels' vectors
        ``w_y`` (LSH Label). Inference (no labels) always queries with ``h``.
    label_query : {"random", "all"}, default "random"
        For "label" on multi-label points: one label drawn at random (the
        optimized C++ build) or the union over every label (its reference
        build).
    lsh : LSHParams or dict, optional
        Hash family, ``K``, ``L``, tables, selection, ``max_active`` (by default
        5% of the classes for the union: the optimized C++ build's value),
        padding and the rehash/rebuild schedule; see :class:`LSHParams`.
    faithful : bool, default False
        The reference C++ code rehashes and rebuilds only with
        ``query="label"``: its LSH Embedding keeps the tables of the initial
        random weights for the whole run, which defeats the adaptivity the
        method is built on. By default both modes rehash; ``faithful=True``
        reproduces the original behaviour.
    random_state : int, Generator or None
        Seed of the hash functions and draws (default: from the network).
    """

    def __init__(self, query="embedding", *, label_query="random", lsh=None, faithful=False,
                 random_state=None):
        store_params(self, locals())

    def setup(self, W, **kw):
        check_choice(self.query, "query", {"embedding", "label"})
        check_choice(self.label_query, "label_query", {"all", "random"})
        check_choice(self.faithful, "faithful", {True, False})
        lsh = LSHParams.coerce(self.lsh).validate()
        super().setup(W, **kw)
        several = self.query == "label" and self.label_query == "all"
        self.index_ = sibling(self, "lsh_index").LSHIndex(
            lsh, W.shape[0], W.shape[1], batch_size=self.batch_size_, rng=self._rng,
            n_threads=self.n_threads_, output=True, several_queries=several)
        self.index_.build(W)

    # ---------------------------------------------------------------- queries
    def _queries(self, H, labels, W, step, training):
        """Query vectors, and the sample each belongs to when a sample has several."""
        if self.query == "embedding" or not training:
            return H, None
        lab_indptr, lab_ids = labels
        B = len(lab_indptr) - 1
        n_lab = np.diff(lab_indptr)
        if self.label_query == "all":
            return np.ascontiguousarray(W[lab_ids]), np.repeat(np.arange(B), n_lab)
        # one label per sample; its own stream, apart from the padding and table-order draws
        pick = _ref_randint(self.seed_ + 1, step, np.arange(B), 0, np.maximum(n_lab, 1))
        has = n_lab > 0
        Q = np.zeros((B, W.shape[1]), dtype=np.float32)
        Q[has] = W[lab_ids[lab_indptr[:-1][has] + pick[has]]]
        return Q, None

    def sample(self, H, labels, W, b, step, training=True):
        if not training:
            labels = _no_labels(H.shape[0])
        Q, owner = self._queries(H, labels, W, step, training)
        indptr, ids = self.index_.select(Q, labels, self.seed_, step, owner)
        return indptr, ids, None

    # ---------------------------------------------------------------- tables
    def after_step(self, step, W):
        if self.faithful and self.query == "embedding":
            return      # the reference code never refreshes LSH Embedding's tables
        self.index_.after_step(step, W)

    def rehash(self, W):
        """Re-insert every class from ``W`` now."""
        self.index_.rehash(W)

    def rebuild(self, W):
        """New hash functions, then rehash."""
        self.index_.rebuild(W)


    # ---------------------------------------------------------------- diagnostics
    def retrieval_stats(self, H, W, b, labels=None, top=50):
        """Where each sample's classes come from, and how good the table ones are.

        Returns means over the batch: ``candidates`` (distinct classes in the
        hit buckets, before any cap), ``from_tables`` (those in the final set),
        ``padding`` (random classes in the set), ``active`` (set size; labels
        are not forced in) and ``top_recall`` (fraction of the sample's ``top``
        largest logits ``H W^T + b`` among its table classes in the set), plus
        the tables' ``coverage`` (classes stored in at least one table) and
        ``table_fill`` (mean fraction of the classes each table stores), from
        :meth:`~slide_ref.lsh.LSHTables.coverage`.
        ``query="label"`` needs ``labels`` (CSR tuple).
        """
        B = H.shape[0]
        if self.query == "label" and labels is None:
            raise ValueError("retrieval_stats of query='label' needs the labels")
        training = labels is not None
        Q, owner = self._queries(H, labels if training else _no_labels(B), W, 0, training)
        index, none = self.index_, _no_labels(B)
        cand_indptr, _, _ = index.candidates(index.buckets(Q), owner, B)
        act_indptr, _ = index.select(Q, none, self.seed_, 0, owner)
        tab_indptr, tab_ids = index.select(Q, none, self.seed_, 0, owner, pad=False)
        top = min(top, W.shape[0])
        logits = H @ W.T + b
        best = np.argpartition(-logits, top - 1, axis=1)[:, :top]
        recall = [np.isin(best[i], tab_ids[tab_indptr[i]:tab_indptr[i + 1]]).mean()
                  for i in range(B)]
        active, from_tables = np.diff(act_indptr), np.diff(tab_indptr)
        coverage = index.tables.coverage()
        return {"coverage": coverage["stored"], "table_fill": coverage["per_table"],
                "candidates": float(np.diff(cand_indptr).mean()),
                "from_tables": float(from_tables.mean()),
                "padding": float((active - from_tables).mean()),
                "active": float(active.mean()), "top_recall": float(np.mean(recall))}


def _no_labels(B):
    return np.zeros(B + 1, np.int64), np.empty(0, np.int32)


#: the tables of :class:`LSHBlockSampler` unless ``lsh`` is given: SimHash of the centred
#: class rows (see ``docs/lns.md``, "LSH quality on real data")
BLOCK_LSH = {"hash_family": "simhash", "hash_params": {"ratio": 1}, "K": 10, "L": 16,
             "center": True}


class LSHBlockSampler(_SavesIndex, UniformSampler):
    """The batch-shared uniform block plus hard negatives looked up in LSH tables.

    The candidate set of :class:`UniformSampler` with ``shared=True,
    batch_labels=True`` (the batch's labels, ``n_negatives`` uniform classes and,
    with ``hard_negatives``, the memory of the batch's labels), to which every
    sample adds the ``table_negatives`` classes its hidden vector ``h`` hits in
    the most tables of the class rows (LSH Embedding's query): classes with
    large logits for this batch, found without scoring every class and without
    waiting for the memory to have seen them.  The tables are rehashed from the
    current weights on the ``lsh`` schedule.

    No logQ correction is applied (there is no ``logq``): the table hits have no
    closed-form inclusion probability, and for the uniform part the correction
    is a constant that changes nothing.  The hits are treated as the memory's
    hard negatives are: extra negatives of every sample of the batch.

    Parameters
    ----------
    n_negatives : int, default 1000
        Uniform classes shared by the batch.
    table_negatives : int, default 16
        Table hits each sample adds: the classes returned by the most tables
        (ties: smaller id); fewer when the buckets hold fewer.
    lsh : LSHParams or dict, optional
        Hash family, ``K``, ``L``, tables and schedule; by default
        :data:`BLOCK_LSH` (SimHash K=10, L=16 of the centred class rows). Its
        selection, ``max_active`` and padding settings are replaced by the
        ``table_negatives`` most frequent hits, unpadded.
    hard_negatives : int, default 4
        The memory of :class:`UniformSampler` (0: none).
    random_state : int, Generator or None
    """

    shared = True
    batch_labels = True
    logq = False
    remove_accidental_hits = True
    #: the block layer passes the batch's hidden vectors and the class rows to
    #: :meth:`sample_block`
    queries_block = True

    def __init__(self, n_negatives=1000, *, table_negatives=16, lsh=None, hard_negatives=4,
                 random_state=None):
        store_params(self, locals())

    def _index_params(self):
        """The ``lsh`` settings with the selection of the table negatives."""
        params = LSHParams.coerce(BLOCK_LSH if self.lsh is None else self.lsh, "lsh")
        params = LSHParams(**params.get_params()).validate()
        return params.set_params(selection="topk", selection_param=self.table_negatives,
                                 max_active=None, min_active=0, fill_below=0)

    def setup(self, W, **kw):
        check_int(self.table_negatives, "table_negatives", low=1, high=2**31 - 1)
        params = self._index_params()
        super().setup(W, **kw)
        self.index_ = sibling(self, "lsh_index").LSHIndex(
            params, W.shape[0], W.shape[1], batch_size=self.batch_size_, rng=self._rng,
            n_threads=self.n_threads_, output=True)
        self.index_.build(W)

    def table_hits(self, H):
        """The distinct classes the rows of ``H`` [B, d] hit most often (``table_negatives``
        per row), int32."""
        index = self.index_
        _, ids = index.select(H, _no_labels(H.shape[0]), self.seed_, 0, pad=False)
        return ids

    def sample_block(self, labels, step, training=True, H=None, W=None):
        """:meth:`UniformSampler.sample_block`, plus the table hits of the hidden vectors
        ``H`` when given (``W``, the current class rows, is not needed: the tables are
        rehashed in :meth:`after_step`)."""
        rows, adjust = super().sample_block(labels, step, training)
        if H is None:
            return rows, adjust
        hits = self.table_hits(H)
        return self._kernels.negative.batch_candidates(rows, hits.reshape(1, -1),
                                                       self.n_outputs_, self._threads()), None

    def after_step(self, step, W):
        self.index_.after_step(step, W)


# --------------------------------------------------------------------------- by name
#: command-line names of the samplers
SAMPLERS = ("lsh-embedding", "lsh-label", "uniform", "unigram", "loguniform", "full")
_CLASSES = {"uniform": "UniformSampler", "unigram": "UnigramSampler",
            "loguniform": "LogUniformSampler", "full": "FullSoftmax"}


def make_sampler(name, module=None, **params):
    """A sampler by its command-line name (one of :data:`SAMPLERS`).

    ``module`` is the ``negative`` module of the backend to build it from
    (default: this one); ``params`` go to the sampler's constructor (for the
    LSH samplers, ``lsh=LSHParams(...)`` carries the table settings).
    """
    name = check_choice(name, "sampler", set(SAMPLERS))
    mod = module if module is not None else importlib.import_module(__name__)
    if name.startswith("lsh-"):
        return mod.LSHSampler(query=name[4:], **params)
    return getattr(mod, _CLASSES[name])(**params)


def sampler_spec(sampler):
    """A JSON description of a sampler: class name and constructor parameters (arrays such
    as ``counts`` and the seed are saved with :meth:`OutputSampler.get_state`)."""
    if sampler is None:
        return None
    params = sampler.get_params(deep=False)
    if "random_state" in params:
        params["random_state"] = None   # the draws are keyed by the saved seed
    if "counts" in params:
        params["counts"] = None
    if "lsh" in params and params["lsh"] is not None:
        params["lsh"] = LSHParams.coerce(params["lsh"]).get_params()
    return {"class": type(sampler).__name__, "params": params}


def sampler_from_spec(spec, module=None, source="<state>"):
    """Rebuild a sampler described by :func:`sampler_spec` from the backend's ``negative``
    ``module``; a malformed description raises :class:`~slide_ref._validation.StateError`."""
    mod = module if module is not None else importlib.import_module(__name__)
    names = {"LSHSampler", "LSHBlockSampler", "FullSoftmax", *_CLASSES.values()}
    if not isinstance(spec, dict) or spec.get("class") not in names or not isinstance(
            spec.get("params"), dict):
        raise StateError(source, "output_sampler", f"not a sampler description: {spec!r}")
    try:
        return getattr(mod, spec["class"])(**spec["params"])
    except TypeError as exc:
        raise StateError(source, "output_sampler", str(exc)) from None
