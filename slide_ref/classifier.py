"""``SlideClassifier``: a scikit-learn-style estimator for extreme classification.

It wraps :class:`slide_ref.network.SlideNetwork` with what practitioners
expect: input validation, epochs over shuffled batches, a tqdm progress bar,
logging to the ``slide`` logger, periodic evaluation on a shuffled sample of
validation data (SLIDE's protocol: test files are often sorted by label),
callbacks, ``predict(X, k)``, ``score`` and ``save``/``load``.
"""
import json
import logging
import os
import time
import zipfile

import numpy as np
import scipy.sparse as sp

from . import metrics as _metrics
from ._backend import KERNELS, sibling
from ._compat import upgrade_estimator_params
from .lsh import LSHParams
from .network import _sampler_spec, check_labels
from ._validation import save_npz_atomic, check_int, check_matrix, check_random_state

try:  # scikit-learn's base class gives get_params/set_params/clone/repr
    from sklearn.base import BaseEstimator
except ImportError:  # pragma: no cover - scikit-learn is a declared dependency
    BaseEstimator = object

__all__ = ["SlideClassifier", "FORMAT"]

logger = logging.getLogger("slide")
logger.addHandler(logging.NullHandler())

FORMAT = "slide-model-v1"


class SlideClassifier(BaseEstimator):
    """Extreme multi-label classifier trained with SLIDE's LSH-sampled softmax.

    Parameters
    ----------
    hidden : int or tuple of int, default 128
        Widths of the ReLU hidden layers.
    sampled_output : bool, default True
        LSH-sampled softmax (SLIDE) or the full softmax (when ``sampler`` is None).
    sampler : slide.negative.OutputSampler, optional
        The output layer's sampler (LSH Embedding or Label, uniform, unigram,
        log-uniform, full softmax); by default SLIDE's LSH selection built from
        the parameters below. Frequency-based samplers see the training labels
        at the start of ``fit``.
    lsh : LSHParams or dict, optional
        Hash family, ``K``, ``L``, tables, selection, padding and the
        rehash/rebuild schedule of the default LSH output selection (a
        ``sampler`` given keeps its own); see :class:`~slide_ref.lsh.LSHParams`.
    optimizer : {"adam", "lazy_adam", "lazy_input_adam", "catchup_adam", "sgd"}
        Default "adam".
    lr : float, default 1e-3
    init : {"scaled", "slide"}, default "scaled"
        Weight initialization; see :class:`SlideNetwork`.
    bf16 : {0, 1, 2}, default 0
        Number format of training: 0 fp32; 1 bf16 activations, deltas and
        gradient accumulators with fp32 weights; 2 as 1 with each weight stored
        as two 16-bit halves, the high one used in the forward pass and Adam on
        the exact fp32 value (Optimized SLIDE's BF16 modes, notes ``slide.md``
        section 4). See :class:`SlideNetwork` for the rounding points.
    batch_size : int, default 128
    eval_every : int, default 50
        Batches between evaluations on ``validation_data`` during ``fit``.
    eval_size : int, default 2048
        Validation rows per periodic evaluation (a fixed shuffled sample).
    n_threads : int, optional
    random_state : int, Generator or None
    show_progress : bool, default True
        tqdm progress bar during ``fit``.
    example_sampler : example sampler, optional
        Chooses the training examples of each batch and their loss weights
        instead of shuffled epochs (``slide.nwsketch``: ``NWSampler``,
        ``UniformExamples``, ``LossImportance``, ``SelectiveBackprop``); an epoch
        is still ``ceil(n / batch_size)`` batches.  Not saved by :meth:`save`.

    Attributes
    ----------
    network_ : SlideNetwork
    n_features_in_, n_outputs_ : int
    history_ : list of dict
        One entry per evaluation: step, epoch, samples, train_time (s, evaluation
        excluded), loss (mean over the batches since the last entry), and
        ``val_p@1`` / ``val_p@5`` when validation data was given.
    """

    #: the backend's kernels (the network it builds is found beside this class)
    _kernels = KERNELS

    def __init__(self, hidden=128, *, sampled_output=True, sampler=None, lsh=None,
                 optimizer="adam", lr=1e-3, init="scaled", bf16=0, batch_size=128,
                 eval_every=50, eval_size=2048, n_threads=None, random_state=None,
                 show_progress=True, example_sampler=None):
        self.hidden = hidden
        self.sampled_output = sampled_output
        self.sampler = sampler
        self.lsh = lsh
        self.optimizer = optimizer
        self.lr = lr
        self.init = init
        self.bf16 = bf16
        self.batch_size = batch_size
        self.eval_every = eval_every
        self.eval_size = eval_size
        self.n_threads = n_threads
        self.random_state = random_state
        self.show_progress = show_progress
        self.example_sampler = example_sampler

    # ------------------------------------------------------------------ fitting
    def _make_network(self, n_features, n_outputs, rng):
        hidden = tuple(np.atleast_1d(self.hidden).tolist())
        sampled = (False,) * len(hidden) + (bool(self.sampled_output),)
        if self.sampler is not None:
            sampled = None      # the sampler decides whether the output is dense
        return sibling(self, "network").SlideNetwork(
            n_features, n_outputs, hidden=hidden, sampled=sampled, output_sampler=self.sampler,
            lsh=self.lsh, optimizer=self.optimizer, lr=self.lr, init=self.init, bf16=self.bf16,
            batch_size=self.batch_size, n_threads=self.n_threads, random_state=rng)

    def _check_xy(self, X, Y, reset):
        X, sparse = check_matrix(X, "X", n_features=None if reset else self.n_features_in_)
        X = X if sparse else sp.csr_matrix(X)
        n_outputs = _n_outputs(Y) if reset else self.n_outputs_
        Y = check_labels(Y, X.shape[0], n_outputs)
        return X.astype(np.float32), Y

    def fit(self, X, Y, *, epochs=1, validation_data=None, callbacks=()):
        """Train from scratch for ``epochs`` passes over ``(X, Y)``.

        Parameters
        ----------
        X : CSR matrix [n, n_features] (dense arrays are converted)
        Y : CSR label indicator [n, n_labels], 1-D class ids, or label lists
        epochs : int, default 1
        validation_data : tuple (X_val, Y_val), optional
            Evaluated (P@1, P@5 on a shuffled sample) every ``eval_every`` batches
            and at the end of every epoch.
        callbacks : iterable of callables
            ``callback(clf, entry)`` after every evaluation; returning True stops
            training.

        Returns
        -------
        self
        """
        X, Y = self._check_xy(X, Y, reset=True)
        self._rng = check_random_state(self.random_state)
        self.n_features_in_, self.n_outputs_ = X.shape[1], Y.shape[1]
        self.network_ = self._make_network(X.shape[1], Y.shape[1], self._rng)
        self.network_.sampler_.prepare(Y)
        self.history_ = []
        self._train_time = 0.0
        self._samples = 0
        return self._run(X, Y, check_int(epochs, "epochs", low=1), validation_data, callbacks)

    def partial_fit(self, X, Y, sample_weight=None):
        """One pass over ``(X, Y)`` in order (creating the network on the first call)."""
        first = not hasattr(self, "network_")
        X, Y = self._check_xy(X, Y, reset=first)
        if first:
            self._rng = check_random_state(self.random_state)
            self.n_features_in_, self.n_outputs_ = X.shape[1], Y.shape[1]
            self.network_ = self._make_network(X.shape[1], Y.shape[1], self._rng)
            self.network_.sampler_.prepare(Y)
            self.history_, self._train_time, self._samples = [], 0.0, 0
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            if sample_weight.shape != (X.shape[0],):
                raise ValueError(f"sample_weight has shape {sample_weight.shape}, expected "
                                 f"({X.shape[0]},)")
        B = self.batch_size
        t0 = time.perf_counter()
        for start in range(0, X.shape[0], B):
            w = None if sample_weight is None else sample_weight[start:start + B]
            self.network_.train_batch(X[start:start + B], Y[start:start + B], w)
        self._train_time += time.perf_counter() - t0
        self._samples += X.shape[0]
        return self

    def _run(self, X, Y, epochs, validation_data, callbacks):
        val = self._validation_sample(validation_data)
        n, B = X.shape[0], self.batch_size
        n_batches = -(-n // B)
        bar = _progress(epochs * n_batches, self.show_progress)
        losses, stop = [], False
        sampler = self.example_sampler
        if sampler is not None:
            t0 = time.perf_counter()
            sampler.start(X, B)
            self._train_time += time.perf_counter() - t0
        try:
            for epoch in range(epochs):
                order = self._rng.permutation(n) if sampler is None else None
                for b in range(n_batches):
                    t0 = time.perf_counter()
                    if sampler is None:
                        idx, w = order[b * B:(b + 1) * B], None
                    else:
                        idx, w = sampler.next_batch(self._example_losses(X, Y)
                                                    if sampler.needs_losses else None)
                    losses.append(self.network_.train_batch(X[idx], Y[idx], w))
                    if sampler is not None:
                        sampler.observe(idx, self.network_.last_losses_)
                    self._train_time += time.perf_counter() - t0
                    self._samples += len(idx)
                    bar.update(1)
                    last = b == n_batches - 1
                    if (self.eval_every and (b + 1) % self.eval_every == 0) or last:
                        entry = self._record(epoch, losses, val)
                        losses = []
                        bar.set_postfix({k: f"{v:.3f}" for k, v in entry.items()
                                         if k in ("loss", "val_p@1")})
                        if any(cb(self, entry) for cb in callbacks):
                            stop = True
                            break
                if stop:
                    logger.info("a callback stopped training at step %d", self.network_.step_)
                    break
        finally:
            bar.close()
        return self

    def _example_losses(self, X, Y):
        from .nwsketch import per_sample_losses
        return lambda idx: per_sample_losses(self.network_, X[idx], Y[idx])

    def _validation_sample(self, validation_data):
        if validation_data is None:
            return None
        Xv, Yv = validation_data
        Xv, Yv = self._check_xy(Xv, Yv, reset=False)
        rows = self._rng.permutation(Xv.shape[0])[:self.eval_size]   # shuffled: files are sorted
        return Xv[rows], Yv[rows]

    def _record(self, epoch, losses, val):
        entry = {"step": self.network_.step_, "epoch": epoch, "samples": self._samples,
                 "train_time": self._train_time,
                 "loss": float(np.mean(losses)) if losses else float("nan")}
        if val is not None:
            idx, _ = self.predict(val[0], k=5)
            p = _metrics.precision_at_k(val[1], idx, k=5)
            entry["val_p@1"], entry["val_p@5"] = float(p[0]), float(p[4])
        self.history_.append(entry)
        logger.info("step %(step)d epoch %(epoch)d loss %(loss).4f", entry)
        return entry

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self):
        if not hasattr(self, "network_"):
            raise RuntimeError("this SlideClassifier is not fitted yet: call fit or load first")

    def predict(self, X, k=5, sampled=False):
        """Top-``k`` labels of each row: ``(indices [n, k] int64, scores [n, k] float32)``.

        ``sampled`` scores only the LSH-selected labels (faster for huge label
        sets, as SLIDE's sampled inference); the default scores every label.
        """
        self._check_fitted()
        X, sparse = check_matrix(X, "X", n_features=self.n_features_in_, allow_empty=True)
        X = X if sparse else sp.csr_matrix(X)
        return self.network_.predict_topk(X, k=k, sampled=sampled)

    def score(self, X, Y, k=1):
        """Precision at ``k`` on ``(X, Y)``."""
        self._check_fitted()
        X, Y = self._check_xy(X, Y, reset=False)
        idx, _ = self.predict(X, k=k)
        return float(_metrics.precision_at_k(Y, idx, k=k)[k - 1])

    @property
    def samples_per_second(self):
        """Training throughput so far (evaluation excluded)."""
        return self._samples / self._train_time if getattr(self, "_train_time", 0) else 0.0

    # ------------------------------------------------------------------ persistence
    def save(self, path, *, overwrite=False):
        """Write the fitted model to ``path`` (``.npz``: arrays plus JSON parameters).

        The file loads in either backend. An existing file is kept unless
        ``overwrite=True``; the write goes to a temporary file first.
        """
        self._check_fitted()
        path = os.fspath(path)
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        params, arrays = self.network_.get_state()
        meta = {"format": FORMAT, "estimator": self.get_params(deep=False),
                "network": params, "n_features_in": self.n_features_in_,
                "n_outputs": self.n_outputs_, "history": self.history_,
                "train_time": self._train_time, "samples": self._samples}
        meta["estimator"]["random_state"] = None
        meta["estimator"]["sampler"] = _sampler_spec(self.sampler)
        meta["estimator"]["lsh"] = None if self.lsh is None else \
            LSHParams.coerce(self.lsh).get_params()
        meta["estimator"]["example_sampler"] = None     # an object: not saved
        payload = {"__meta__": np.array(json.dumps(meta))}
        payload.update({f"net/{k}": v for k, v in arrays.items()})
        return save_npz_atomic(path, payload)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save` (by either backend) into this class."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no model file at {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["__meta__"]))
                arrays = {k[4:]: data[k] for k in data.files if k.startswith("net/")}
        except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError) as exc:
            raise ValueError(f"{path} is not a slide model file ({exc})") from None
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} has format {meta.get('format')!r}, expected {FORMAT!r}")
        meta["estimator"] = upgrade_estimator_params(meta["estimator"])
        spec = meta["estimator"].pop("sampler", None)
        if spec is not None:
            negative = sibling(cls, "negative")
            meta["estimator"]["sampler"] = getattr(negative, spec["class"])(**spec["params"])
        clf = cls(**meta["estimator"])
        try:
            clf.network_ = sibling(cls, "network").SlideNetwork.from_state(
                meta["network"], arrays, source=path)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path} is missing model data ({exc})") from None
        clf.n_features_in_ = meta["n_features_in"]
        clf.n_outputs_ = meta["n_outputs"]
        clf.history_ = meta["history"]
        clf._train_time, clf._samples = meta["train_time"], meta["samples"]
        clf._rng = check_random_state(None)
        return clf


def _n_outputs(Y):
    if sp.issparse(Y):
        return Y.shape[1]
    if isinstance(Y, np.ndarray) and Y.ndim == 1 and np.issubdtype(Y.dtype, np.integer):
        return int(Y.max()) + 1 if Y.size else 0
    raise ValueError("with label lists, give Y as a sparse indicator matrix so the number of "
                     "labels is known")


def _progress(total, show):
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
