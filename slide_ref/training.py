"""The training loop shared by every trainer of the library.

``SlideClassifier.fit``/``partial_fit``, :func:`slide_ref.nwsketch.train_with_sampler`
and the figure scripts all train through :class:`FitLoop`.  The pieces, one job each:

* :func:`prepare_training_data` checks the training set ONCE per fit and returns a
  :class:`TrainingData` (float32 CSR features with int32 indices, a label CSR,
  float64 sample weights) whose row batches need no further checks;
* a trainer turns a batch of rows into one optimizer step:
  :class:`NetworkTrainer` calls the network's pre-validated ``_train_step`` on
  slices of the checked data, :class:`ModelTrainer` calls ``train_batch`` of any
  other model (the comparison models of the figures);
* a batch source says which rows form each batch: :class:`ShuffledBatches`
  (a fresh permutation per epoch), :class:`SequentialBatches` (rows in order) or
  :class:`SampledBatches` (an example sampler of :mod:`slide_ref.nwsketch`);
* :class:`EvalSchedule` says after which batches to evaluate;
* :class:`FitLoop` runs epochs of batches, times training with evaluation
  excluded, shows a progress bar, evaluates on schedule, lets callbacks stop the
  run and stops at a time budget.
"""
import numbers
import time

import numpy as np

from ._validation import check_csr, check_int, check_labels
from ._validation import check_sample_weight as _check_weights

__all__ = ["CSRBatch", "TrainingData", "prepare_training_data", "check_sample_weight",
           "check_time_budget", "NetworkTrainer", "ModelTrainer", "trainer_for", "ShuffledBatches",
           "SequentialBatches", "SampledBatches", "EvalSchedule", "FitLoop", "progress_bar",
           "per_sample_losses"]


# ============================================================================ data
def check_sample_weight(sample_weight, n_samples, name="sample_weight"):
    """Per-sample loss weights as float64 ``[n_samples]`` (see
    :func:`slide_ref._validation.check_sample_weight`); ``None`` stays ``None``, every
    weight 1, so that batches need not slice an array of ones."""
    return None if sample_weight is None else _check_weights(sample_weight, n_samples, name)


def check_time_budget(value, name="max_time"):
    """A training-time budget in seconds: ``None`` (no budget) or a real >= 0 (inf allowed)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number of seconds or None, got "
                        f"{type(value).__name__}")
    if not value >= 0:          # also refuses NaN
        raise ValueError(f"{name} must be >= 0 seconds, got {value}")
    return float(value)


class CSRBatch:
    """Rows of a checked CSR matrix as the training step reads them: ``indptr`` from 0,
    ``indices`` (int32) and ``data`` (float32) and ``shape``; no SciPy object.

    A batch of consecutive rows shares ``indices`` and ``data`` with the matrix (views);
    only its ``indptr`` (``B + 1`` offsets) is new.
    """

    __slots__ = ("indptr", "indices", "data", "shape")

    def __init__(self, indptr, indices, data, shape):
        self.indptr, self.indices, self.data, self.shape = indptr, indices, data, shape

    @property
    def nnz(self):
        return len(self.indices)

    @classmethod
    def of_rows(cls, X, rows):
        """The batch of ``X``'s ``rows``: views for a slice of step 1, else a SciPy gather."""
        if isinstance(rows, slice) and rows.step in (None, 1):
            lo, hi, _ = rows.indices(X.shape[0])
            hi = max(lo, hi)
            start, stop = X.indptr[lo], X.indptr[hi]
            # the kernels take offsets of the indices' type; a batch's offsets fit it
            indptr = (X.indptr[lo:hi + 1] - start).astype(X.indices.dtype, copy=False)
            return cls(indptr, X.indices[start:stop], X.data[start:stop],
                       (hi - lo, X.shape[1]))
        Xb = X[rows]
        if Xb.indices.dtype != np.int32:     # scipy may widen the indices of a slice
            Xb = check_csr(Xb)
        return cls(Xb.indptr, Xb.indices, Xb.data, Xb.shape)


class TrainingData:
    """Training rows checked once, so that every batch is a plain slice.

    Build it with :func:`prepare_training_data` (or from arrays that already went
    through the same checks).

    Parameters
    ----------
    X : CSR matrix [n, n_features], float32 data, int32 indices
    Y : label CSR [n, n_outputs] from :func:`slide_ref._validation.check_labels`
    sample_weight : float64 ndarray [n], optional
    """

    def __init__(self, X, Y, sample_weight=None):
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        # the label arrays as the kernels take them, converted once
        self._label_indptr = Y.indptr.astype(np.int64, copy=False)
        self._label_ids = Y.indices.astype(np.int32, copy=False)
        self._ones = np.ones(0)

    @property
    def n_samples(self):
        return self.X.shape[0]

    def batch(self, rows, weights=None):
        """``(X, Y, w)`` of the given rows (a slice or an index array).

        ``weights`` (from an example sampler) multiply the stored sample
        weights; the result is always a float64 array, ones when neither is set.
        """
        Xb, Yb = self.X[rows], self.Y[rows]
        if Xb.indices.dtype != np.int32:     # scipy may widen the indices of a slice
            Xb = check_csr(Xb)
        w = self._weights(rows, Xb.shape[0], weights)
        return Xb, Yb, w if w.flags.writeable else w.copy()

    def step_batch(self, rows, weights=None):
        """``(X, labels, w)`` of the given rows as the training step reads them: a
        :class:`CSRBatch`, the label CSR as ``(indptr int64, ids int32)`` and the float64
        weights (a shared read-only array of ones when neither weights is set). A slice
        of rows costs no copy of the features or labels."""
        Xb = CSRBatch.of_rows(self.X, rows)
        return Xb, self._labels_of(rows), self._weights(rows, Xb.shape[0], weights)

    def _labels_of(self, rows):
        indptr, ids = self._label_indptr, self._label_ids
        if isinstance(rows, slice) and rows.step in (None, 1):
            lo, hi, _ = rows.indices(len(indptr) - 1)
            hi = max(lo, hi)
            return indptr[lo:hi + 1] - indptr[lo], ids[indptr[lo]:indptr[hi]]
        Yb = self.Y[rows]
        return Yb.indptr.astype(np.int64, copy=False), Yb.indices.astype(np.int32, copy=False)

    def _weights(self, rows, n, weights):
        if self.sample_weight is not None:
            w = self.sample_weight[rows]
            return w if weights is None else w * weights
        if weights is not None:
            return np.asarray(weights, dtype=np.float64)
        if len(self._ones) < n:          # one array of ones, read-only, for every batch
            self._ones = np.ones(n)
            self._ones.flags.writeable = False
        return self._ones[:n]


def prepare_training_data(X, Y, n_outputs, *, n_features=None, sample_weight=None):
    """Check a training set once and return it as :class:`TrainingData`.

    Parameters
    ----------
    X : dense array or sparse matrix [n, n_features]
    Y : labels (CSR indicator, 1-D class ids or label lists)
    n_outputs : int
        Number of labels ``Y`` ids must lie below.
    n_features : int, optional
        Required width of ``X``.
    sample_weight : array [n], optional
    """
    X = check_csr(X, "X", n_features=n_features)
    Y = check_labels(Y, X.shape[0], n_outputs)
    return TrainingData(X, Y, check_sample_weight(sample_weight, X.shape[0]))


def per_sample_losses(network, X, Y):
    """Cross-entropy of each row under ``network``'s full softmax (target ``1/|Y_i|`` per label).

    Parameters
    ----------
    network : SlideNetwork
    X : CSR or dense [n, n_features]
    Y : label matrix (see :func:`slide_ref._validation.check_labels`)

    Returns
    -------
    ndarray [n], float64
    """
    Z = np.asarray(network.output_scores(X), dtype=np.float64)
    Y = check_labels(Y, Z.shape[0], network.n_outputs)
    Z = Z - Z.max(axis=1, keepdims=True)
    logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    rows = np.repeat(np.arange(Z.shape[0]), np.diff(Y.indptr))
    n_labels = np.maximum(np.diff(Y.indptr), 1)
    out = np.zeros(Z.shape[0])
    np.add.at(out, rows, -logp[rows, Y.indices])
    return out / n_labels


# ============================================================================ trainers
class NetworkTrainer:
    """One step of a ``SlideNetwork`` on a batch of checked rows (no per-batch checks)."""

    def __init__(self, network, data):
        self.network, self.data = network, data

    def step(self, rows, weights=None):
        """Train on ``rows``; returns the batch's mean (weighted) loss."""
        return float(self.network._train_step(*self.data.step_batch(rows, weights)))

    @property
    def last_losses(self):
        """Per-sample losses of the last step (for example samplers)."""
        return self.network.last_losses_

    def sample_losses(self, rows):
        """Current per-sample losses of ``rows`` (an extra forward pass)."""
        return per_sample_losses(self.network, self.data.X[rows], self.data.Y[rows])


class ModelTrainer:
    """One step of any model with ``train_batch(X, Y)`` (it checks its own input)."""

    def __init__(self, model, X, Y):
        self.model, self.X, self.Y = model, X, Y

    def step(self, rows, weights=None):
        if weights is not None:
            raise ValueError(f"{type(self.model).__name__} does not take sample weights")
        loss = self.model.train_batch(self.X[rows], self.Y[rows])
        return None if loss is None else float(loss)


def trainer_for(model, X, Y):
    """The trainer of ``model``: checked data and the fast path for a ``SlideNetwork``."""
    from .network import SlideNetwork
    if isinstance(model, SlideNetwork):
        data = prepare_training_data(X, Y, model.n_outputs, n_features=model.n_features)
        return NetworkTrainer(model, data)
    return ModelTrainer(model, X, Y)


# ============================================================================ batch sources
class _BatchSource:
    """Which rows form each batch.  An epoch is ``ceil(n / batch_size)`` batches."""

    def __init__(self, n_samples, batch_size):
        self.n_samples, self.batch_size = n_samples, batch_size

    @property
    def batches_per_epoch(self):
        return -(-self.n_samples // self.batch_size)

    def start(self):
        """Work before the first batch (counted as training time)."""

    def begin_epoch(self, epoch):
        """Work at the start of every epoch."""

    def next_batch(self, b):
        """``(rows, weights)`` of batch ``b`` of the epoch; ``weights`` None means ones."""
        raise NotImplementedError

    def observe(self, rows, trainer):
        """Called after each step (example samplers learn from its losses)."""


class SequentialBatches(_BatchSource):
    """The rows in their order, as contiguous slices."""

    def next_batch(self, b):
        B = self.batch_size
        return slice(b * B, min((b + 1) * B, self.n_samples)), None


class ShuffledBatches(_BatchSource):
    """A fresh random permutation of the rows every epoch, drawn from ``rng``."""

    def __init__(self, n_samples, batch_size, rng):
        super().__init__(n_samples, batch_size)
        self.rng = rng

    def begin_epoch(self, epoch):
        self._order = self.rng.permutation(self.n_samples)

    def next_batch(self, b):
        B = self.batch_size
        return self._order[b * B:(b + 1) * B], None


class SampledBatches(_BatchSource):
    """Batches chosen by an example sampler (``start``/``next_batch``/``observe`` protocol).

    Parameters
    ----------
    sampler : UniformExamples, NWSampler, LossImportance, SelectiveBackprop, ...
    X : the rows the sampler hashes at ``start`` (dense or CSR)
    batch_size : int
    loss_fn : callable, optional
        ``loss_fn(rows) -> per-sample losses``, for samplers with ``needs_losses``.
    """

    def __init__(self, sampler, X, batch_size, loss_fn=None):
        super().__init__(X.shape[0], batch_size)
        self.sampler, self.X, self.loss_fn = sampler, X, loss_fn

    def start(self):
        self.sampler.start(self.X, self.batch_size)

    def next_batch(self, b):
        rows, w = self.sampler.next_batch(self.loss_fn if self.sampler.needs_losses else None)
        return rows, _check_sampler_weights(w, len(rows))

    def observe(self, rows, trainer):
        # samplers refuse negative losses; a float32 softmax can round a sure prediction's
        # cross-entropy to about -1e-7, which is a loss of 0
        self.sampler.observe(rows, np.maximum(trainer.last_losses, 0.0))


def _check_sampler_weights(w, n):
    # a sampler's weights reach the kernels unchecked otherwise; O(batch), cheap
    return None if w is None else check_sample_weight(w, n, name="example sampler weights")


# ============================================================================ the loop
class EvalSchedule:
    """After which batches :class:`FitLoop` evaluates.

    Parameters
    ----------
    every : int or None
        Batches between evaluations; ``None`` or 0 for none on a count.
    per_epoch : bool, default False
        Count ``every`` from the start of each epoch (the classifier's rule)
        instead of from the start of the run.
    at_epoch_end : bool, default False
        Also evaluate after the last batch of every epoch.

    The last batch of the run is always evaluated.
    """

    def __init__(self, every=None, *, per_epoch=False, at_epoch_end=False):
        every = None if every is None else check_int(every, "eval_every", low=0)
        self.every, self.per_epoch, self.at_epoch_end = every or None, per_epoch, at_epoch_end

    def due(self, batch_in_epoch, step, last_in_epoch, last_in_run):
        count = batch_in_epoch + 1 if self.per_epoch else step + 1
        return ((self.every is not None and count % self.every == 0)
                or (self.at_epoch_end and last_in_epoch) or last_in_run)


class FitLoop:
    """Epochs of batches through a trainer, timed, with evaluation and early stopping.

    Parameters
    ----------
    trainer : NetworkTrainer or ModelTrainer (``step(rows, weights) -> loss``)
    batches : a batch source (:class:`ShuffledBatches`, :class:`SequentialBatches`,
        :class:`SampledBatches`)
    epochs : int, default 1
    evaluate : callable, optional
        ``evaluate(loop) -> entry`` (a dict) on the :class:`EvalSchedule`; it reads
        ``loop.epoch``, ``loop.steps``, ``loop.samples``, ``loop.train_time`` and
        ``loop.mean_loss()``.  Its time is not training time.
    schedule : EvalSchedule, optional
        By default: after the last batch only.
    callbacks : iterable of callables
        ``callback(entry) -> bool`` after every evaluation; the first True stops
        the run (later callbacks are not called).
    max_time : float, optional
        Stop (after an evaluation) once this many seconds of training time passed.
    show_progress : bool, default False
        A tqdm bar over the batches.
    train_time, samples : float, int
        Starting values of the clocks (a model trained before keeps counting).

    Attributes after :meth:`run`: ``steps`` (batches trained), ``samples``,
    ``train_time`` (seconds, evaluation excluded), ``stopped`` (by a callback or
    the time budget).
    """

    def __init__(self, trainer, batches, *, epochs=1, evaluate=None, schedule=None,
                 callbacks=(), max_time=None, show_progress=False, train_time=0.0, samples=0):
        self.trainer, self.batches, self.epochs = trainer, batches, epochs
        self.evaluate, self.callbacks = evaluate, list(callbacks)
        self.schedule = schedule or EvalSchedule()
        self.max_time, self.show_progress = max_time, show_progress
        self.train_time, self.samples = float(train_time), samples
        self.steps, self.epoch, self.stopped = 0, 0, False
        self.losses = []

    def mean_loss(self):
        """Mean training loss of the batches since the last evaluation (NaN if none)."""
        return float(np.mean(self.losses)) if self.losses else float("nan")

    def run(self):
        """Train; returns ``self``."""
        n_batches = self.batches.batches_per_epoch
        bar = progress_bar(self.epochs * n_batches, self.show_progress)
        try:
            self._timed(self.batches.start)
            for self.epoch in range(self.epochs):
                self._timed(self.batches.begin_epoch, self.epoch)
                for b in range(n_batches):
                    self._timed(self._one_step, b)
                    bar.update(1)
                    if self._after_step(b, n_batches, bar):
                        self.stopped = True
                        return self
        finally:
            bar.close()
        return self

    def _timed(self, fn, *args):
        t0 = time.perf_counter()
        fn(*args)
        self.train_time += time.perf_counter() - t0

    def _one_step(self, b):
        rows, weights = self.batches.next_batch(b)
        loss = self.trainer.step(rows, weights)
        self.batches.observe(rows, self.trainer)
        if loss is not None:
            self.losses.append(loss)
        self.samples += _n_rows(rows, self.batches.n_samples)
        self.steps += 1

    def _after_step(self, b, n_batches, bar):
        """Evaluate when due; True when the run must stop."""
        last_in_epoch = b == n_batches - 1
        last_in_run = last_in_epoch and self.epoch == self.epochs - 1
        out_of_time = self.max_time is not None and self.train_time >= self.max_time
        due = self.schedule.due(b, self.steps - 1, last_in_epoch, last_in_run)
        if (due or out_of_time) and self._evaluate_now(bar):
            return True
        return out_of_time

    def _evaluate_now(self, bar):
        """Run the evaluation and the callbacks; True when a callback asks to stop."""
        if self.evaluate is None:
            return False
        entry = self.evaluate(self)
        self.losses = []
        if isinstance(entry, dict):
            bar.set_postfix({k: f"{v:.3f}" for k, v in entry.items()
                             if k in ("loss", "val_p@1")})
        return any(cb(entry) for cb in self.callbacks)


def _n_rows(rows, n_samples):
    if isinstance(rows, slice):
        return len(range(n_samples)[rows])
    return len(rows)


# ============================================================================ progress bar
def progress_bar(total, show):
    """A tqdm bar over ``total`` batches, or a silent stand-in when ``show`` is false."""
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm
    return tqdm(total=total, unit="batch", leave=False, dynamic_ncols=True)


class _NoBar:
    def update(self, n):
        pass

    def set_postfix(self, *a, **k):
        pass

    def close(self):
        pass
