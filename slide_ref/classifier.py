"""``SlideClassifier``: a scikit-learn-style estimator for extreme classification.

It wraps :class:`slide_ref.network.SlideNetwork` with what practitioners
expect: input validation, epochs over shuffled batches, a tqdm progress bar,
logging to the ``slide`` logger, periodic evaluation on a shuffled sample of
validation data (SLIDE's protocol: test files are often sorted by label),
callbacks, ``predict(X, k)``, ``score`` and ``save``/``load``.
"""
import functools
import importlib
import json
import logging
import os

import numpy as np
import scipy.sparse as sp

from . import metrics as _metrics
from ._backend import KERNELS, sibling
from ._compat import nest_lsh_params, upgrade_estimator_params
from .lsh import LSHParams
from .negative import OutputSampler
from .negative import sampler_spec as _sampler_spec
from .network import check_labels
from ._validation import (StateError, check_choice, check_csr, check_float, check_int,
                          check_random_state)
from .numerics import check_bf16
from .optimizers import OPTIMIZERS
from .model_io import (META, AnyJSON, Bool, Int, ListOf, MapOf, Null, NpzReader, OneOf, Real,
                       Record, Str, check_memory, check_path, save_npz_atomic)
from .training import (EvalSchedule, FitLoop, NetworkTrainer, SampledBatches, SequentialBatches,
                       ShuffledBatches, TrainingData, check_sample_weight)

try:  # scikit-learn's base class gives get_params/set_params/clone/repr
    from sklearn.base import BaseEstimator
except ImportError:  # pragma: no cover - scikit-learn is a declared dependency
    BaseEstimator = object

__all__ = ["SlideClassifier", "FORMAT", "PRESETS", "DEFAULT_PRESET", "preset_components"]

logger = logging.getLogger("slide")
logger.addHandler(logging.NullHandler())

FORMAT = "slide-model-v1"

#: named configurations of the output layer and its optimizer (see :func:`preset_components`
#: and ``docs/real_data.md`` for what each costs on the real Debian XC set)
PRESETS = ("shared_uniform_hard", "shared_uniform", "slide_paper", "lns_embedding",
           "full_softmax")
#: the preset of ``SlideClassifier()``: the best measured time-to-accuracy on the real
#: Debian XC set (``python -m paper_figures.fig06_debian_xc``, ``docs/real_data.md``)
DEFAULT_PRESET = "shared_uniform_hard"


def preset_components(name, negative, lsh=None, n_outputs=None):
    """``(sampler, optimizer)`` of the preset ``name``, with samplers of ``negative``.

    ``negative`` is a backend's ``negative`` module; ``lsh`` the :class:`LSHParams` of the
    LSH presets (their defaults when None); ``n_outputs`` the classes, which caps the
    uniform presets' 1000 negatives at half of them (small label sets).  The presets:

    - ``"shared_uniform_hard"``: 1000 uniform negatives shared by the batch, plus the
      batch's labels and 4 remembered hard negatives per class, with catch-up Adam.
    - ``"shared_uniform"``: the same without the hard-negative memory.
    - ``"slide_paper"``: SLIDE's LSH-selected output (DWTA tables built from ``lsh``,
      padding) with dense Adam; the sampler is None (the network's own LSH selection).
    - ``"lns_embedding"``: LSH Embedding negatives (SimHash tables, K=10, of the centred
      class rows queried with the hidden vector), dense Adam.
    - ``"full_softmax"``: every class, dense Adam.
    """
    check_choice(name, "preset", set(PRESETS))
    if name in ("shared_uniform_hard", "shared_uniform"):
        hard = 4 if name == "shared_uniform_hard" else 0
        m = 1000 if n_outputs is None else max(1, min(1000, n_outputs // 2))
        return (negative.UniformSampler(m, shared=True, batch_labels=True,
                                        hard_negatives=hard), "catchup_adam")
    if name == "slide_paper":
        return None, "adam"
    if name == "lns_embedding":
        # K=10: choose_KL's pair for the 5% cap at L=50 on centred rows (docs/lns.md)
        params = lsh if lsh is not None else LSHParams(hash_family="simhash", center=True,
                                                       K=10)
        return negative.LSHSampler("embedding", lsh=params), "adam"
    return negative.FullSoftmax(), "adam"


class SlideClassifier(BaseEstimator):
    """Extreme multi-label classifier: a sparse-input network with a sampled softmax.

    The output layer and its optimizer come from a named preset (``preset``), or
    from ``sampler`` / ``optimizer`` when given (those override the preset).  The
    default is the configuration with the best measured time-to-accuracy on the
    real Debian XC set (``docs/real_data.md``): 1000 uniform negatives shared by
    the batch, the batch's labels and a hard-negative memory, with catch-up Adam.
    SLIDE's configuration is ``preset="slide_paper"``.

    Parameters
    ----------
    hidden : int or tuple of int, default 128
        Widths of the ReLU hidden layers.
    preset : str, optional
        One of :data:`PRESETS` (see :func:`preset_components`):
        ``"shared_uniform_hard"`` (the default), ``"shared_uniform"``,
        ``"slide_paper"`` (SLIDE: LSH-selected output, dense Adam),
        ``"lns_embedding"`` (LSH Embedding negatives with SimHash, dense Adam),
        ``"full_softmax"``.  None: ``"slide_paper"`` when ``lsh`` is given (its
        settings are for SLIDE's LSH output), :data:`DEFAULT_PRESET` otherwise.
        Stored as given and resolved at ``fit``.
    sampled_output : bool, default True
        False (without ``sampler``) trains the full softmax, whatever the preset.
    sampler : slide.negative.OutputSampler, optional
        The output layer's sampler (LSH Embedding or Label, uniform, unigram,
        log-uniform, full softmax); overrides the preset's. Frequency-based
        samplers see the training labels at the start of ``fit``.
    lsh : LSHParams or dict, optional
        Hash family, ``K``, ``L``, tables, selection, padding and the
        rehash/rebuild schedule of the LSH output of ``"slide_paper"`` (and of the
        tables of ``"lns_embedding"``); see :class:`~slide_ref.lsh.LSHParams`.
    optimizer : {"adam", "lazy_adam", "lazy_input_adam", "catchup_adam", "sgd"}, optional
        Overrides the preset's ("catchup_adam" for the uniform presets, "adam"
        for the others).
    lr : float, default 1e-3
    init : {"scaled", "slide"}, default "scaled"
        Weight initialization; see :class:`SlideNetwork`.
    bf16 : {0, 1, 2, 3}, default 0
        Number format of training: 0 fp32; 1 bf16 activations, deltas and
        gradient accumulators with fp32 weights; 2 as 1 with each weight stored
        as two 16-bit halves, the high one used in the forward pass and Adam on
        the exact fp32 value (Optimized SLIDE's BF16 modes, notes ``slide.md``
        section 4); 3 fp32 except the batch-shared output block's products over
        its weights, on a bf16 copy of them (the uniform presets). See
        :class:`SlideNetwork` for the rounding points.
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

    def __init__(self, hidden=128, *, preset=None, sampled_output=True, sampler=None,
                 lsh=None, optimizer=None, lr=1e-3, init="scaled", bf16=0, batch_size=128,
                 eval_every=50, eval_size=2048, n_threads=None, random_state=None,
                 show_progress=True, example_sampler=None):
        self.hidden = hidden
        self.preset = preset
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
        sampler, optimizer = self._resolve_output(n_outputs)
        sampled = None if sampler is not None else \
            (False,) * len(hidden) + (bool(self.sampled_output),)
        return sibling(self, "network").SlideNetwork(
            n_features, n_outputs, hidden=hidden, sampled=sampled, output_sampler=sampler,
            lsh=self.lsh, optimizer=optimizer, lr=self.lr, init=self.init, bf16=self.bf16,
            batch_size=self.batch_size, n_threads=self.n_threads, random_state=rng)

    def resolved_preset(self):
        """The preset that configures the output layer: ``preset``, or when it is None,
        ``"slide_paper"`` if ``lsh`` is given and :data:`DEFAULT_PRESET` otherwise."""
        if self.preset is not None:
            if not isinstance(self.preset, str):
                raise TypeError(f"preset must be a preset name or None, got "
                                f"{type(self.preset).__name__}")
            return check_choice(self.preset, "preset", set(PRESETS))
        return "slide_paper" if self.lsh is not None else DEFAULT_PRESET

    def _resolve_output(self, n_outputs):
        """``(sampler, optimizer)`` of the network: the explicit arguments, else the preset's.

        ``sampled_output=False`` without a ``sampler`` is the full softmax (dense output
        layer), whatever the preset."""
        preset = self.resolved_preset()
        sampler, optimizer = preset_components(preset, sibling(self, "negative"), self.lsh,
                                               n_outputs)
        if self.sampler is not None or not self.sampled_output:
            sampler = self.sampler
        return sampler, (optimizer if self.optimizer is None else self.optimizer)

    def _check_xy(self, X, Y, reset):
        X = check_csr(X, "X", n_features=None if reset else self.n_features_in_)
        n_outputs = _n_outputs(Y) if reset else self.n_outputs_
        Y = check_labels(Y, X.shape[0], n_outputs)
        return X, Y

    def _start_network(self, X, Y):
        """A fresh network for ``(X, Y)`` (checked) and zeroed training records."""
        self._rng = check_random_state(self.random_state)
        self.n_features_in_, self.n_outputs_ = X.shape[1], Y.shape[1]
        self.network_ = self._make_network(X.shape[1], Y.shape[1], self._rng)
        self.network_.sampler_.prepare(Y)
        self.history_, self._train_time, self._samples = [], 0.0, 0

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
        epochs = check_int(epochs, "epochs", low=1)
        self._start_network(X, Y)
        return self._run(TrainingData(X, Y), epochs, validation_data, callbacks)

    def partial_fit(self, X, Y, sample_weight=None):
        """One pass over ``(X, Y)`` in order (creating the network on the first call)."""
        first = not hasattr(self, "network_")
        X, Y = self._check_xy(X, Y, reset=first)
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        if first:
            self._start_network(X, Y)
        trainer = NetworkTrainer(self.network_, TrainingData(X, Y, sample_weight))
        loop = FitLoop(trainer, SequentialBatches(X.shape[0], self.batch_size),
                       train_time=self._train_time, samples=self._samples).run()
        self._train_time, self._samples = loop.train_time, loop.samples
        return self

    def _run(self, data, epochs, validation_data, callbacks):
        """The training loop of :meth:`fit` over checked ``data``."""
        val = self._validation_sample(validation_data)
        trainer = NetworkTrainer(self.network_, data)
        loop = FitLoop(trainer, self._batches(data, trainer), epochs=epochs,
                       evaluate=lambda lp: self._record(lp, val),
                       schedule=EvalSchedule(self.eval_every, per_epoch=True, at_epoch_end=True),
                       callbacks=[functools.partial(cb, self) for cb in callbacks],
                       show_progress=self.show_progress,
                       train_time=self._train_time, samples=self._samples)
        loop.run()
        self._train_time, self._samples = loop.train_time, loop.samples
        if loop.stopped:
            logger.info("a callback stopped training at step %d", self.network_.step_)
        return self

    def _batches(self, data, trainer):
        """Shuffled epochs, or the batches of ``example_sampler`` when one is set."""
        if self.example_sampler is None:
            return ShuffledBatches(data.n_samples, self.batch_size, self._rng)
        return SampledBatches(self.example_sampler, data.X, self.batch_size,
                              loss_fn=trainer.sample_losses)

    def _validation_sample(self, validation_data):
        if validation_data is None:
            return None
        Xv, Yv = validation_data
        Xv, Yv = self._check_xy(Xv, Yv, reset=False)
        eval_size = check_int(self.eval_size, "eval_size", low=1)
        rows = self._rng.permutation(Xv.shape[0])[:eval_size]   # shuffled: files are sorted
        return Xv[rows], Yv[rows]

    def _record(self, loop, val):
        """One ``history_`` entry at the current point of ``loop`` (the loop's evaluation)."""
        self._train_time, self._samples = loop.train_time, loop.samples
        entry = {"step": self.network_.step_, "epoch": loop.epoch, "samples": self._samples,
                 "train_time": self._train_time, "loss": loop.mean_loss()}
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

        The file loads in either backend.  An existing file is kept unless
        ``overwrite=True``; the write is atomic (see
        :func:`slide_ref.model_io.save_npz_atomic`).
        """
        self._check_fitted()
        path = check_path(path)
        if not isinstance(overwrite, (bool, np.bool_)):
            raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        params, arrays = self.network_.get_state()
        meta = {"format": FORMAT, "estimator": self.get_params(deep=False),
                "network": params, "n_features_in": self.n_features_in_,
                "n_outputs": self.n_outputs_, "history": self.history_,
                "train_time": self._train_time, "samples": self._samples}
        meta["estimator"]["random_state"] = None
        # the preset by name, so that the file keeps its meaning if the default changes
        meta["estimator"]["preset"] = self.resolved_preset()
        meta["estimator"]["sampler"] = _sampler_spec(self.sampler)
        meta["estimator"]["lsh"] = None if self.lsh is None else \
            LSHParams.coerce(self.lsh).get_params()
        meta["estimator"]["example_sampler"] = None     # an object: not saved
        payload = {META: np.array(json.dumps(meta))}
        payload.update({f"net/{k}": v for k, v in arrays.items()})
        return save_npz_atomic(path, payload, overwrite=overwrite)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save` (by either backend) into this class.

        Everything in the file is checked before use (see :mod:`slide_ref.model_io`);
        a bad file raises :class:`slide_ref._validation.StateError` naming the file
        and the field.
        """
        path = check_path(path)
        with NpzReader(path, "slide model") as reader:
            meta = reader.read_meta(_MODEL_SCHEMA, FORMAT)
            meta["estimator"] = upgrade_estimator_params(meta["estimator"])
            _check_model_meta(meta, path, _package_of(cls))
            _check_estimator_params(meta["estimator"], path)
            names = [n for n in reader.members if n.startswith("net/")]
            _check_model_sizes(reader, meta["network"], names)
            arrays = {n[len("net/"):]: reader.read(n) for n in names}
        estimator = dict(meta["estimator"])
        # files written before the presets: their default output was SLIDE's LSH selection
        estimator.setdefault("preset", "slide_paper")
        estimator["sampler"] = _decode_sampler(estimator.get("sampler"), _package_of(cls), path)
        clf = _construct(lambda: cls(**estimator), path, "estimator")
        network_cls = sibling(cls, "network").SlideNetwork
        clf.network_ = _construct(
            lambda: network_cls.from_state(meta["network"], arrays, source=path), path, "network")
        clf.n_features_in_ = meta["n_features_in"]
        clf.n_outputs_ = meta["n_outputs"]
        clf.history_ = meta["history"]
        clf._train_time, clf._samples = meta["train_time"], meta["samples"]
        clf._rng = check_random_state(None)
        return clf


# ---------------------------------------------------------------------- model file contents
_SAMPLER_SPEC = OneOf(Null(), Record({"class": Str(), "params": MapOf(AnyJSON())}),
                      expected="null or an object with class and params")
_POSITIVE = Int(1, 2**31 - 1)
_NETWORK_SCHEMA = Record(
    {"n_features": _POSITIVE, "n_outputs": _POSITIVE, "hidden": ListOf(_POSITIVE, max_len=64),
     "sampled": ListOf(Bool(), max_len=65), "K": Int(1, 64), "L": Int(1, 2**20),
     "range_pow": OneOf(Null(), Int(1, 30), expected="null or an integer"),
     "output_sampler": _SAMPLER_SPEC},
    optional=("sampled", "K", "L", "range_pow", "output_sampler"), extra=True)
_ESTIMATOR_SCHEMA = Record(
    {"sampler": _SAMPLER_SPEC, "batch_size": _POSITIVE, "eval_size": _POSITIVE,
     "eval_every": OneOf(Null(), Int(0), expected="null or an integer"),
     "show_progress": Bool()},
    optional=("sampler", "batch_size", "eval_size", "eval_every", "show_progress"), extra=True)
_COUNT = Int(0)
_FRACTION = Real(low=0.0, high=1.0)
_HISTORY_ENTRY = Record(
    {"step": _COUNT, "epoch": _COUNT, "samples": _COUNT, "train_time": Real(low=0.0),
     "loss": Real(finite=False), "val_p@1": _FRACTION, "val_p@5": _FRACTION},
    optional=("step", "epoch", "samples", "train_time", "loss", "val_p@1", "val_p@5"),
    extra=OneOf(Real(finite=False), Null(), expected="a number"))
_MODEL_SCHEMA = Record(
    {"format": Str(), "estimator": _ESTIMATOR_SCHEMA, "network": _NETWORK_SCHEMA,
     "n_features_in": _POSITIVE, "n_outputs": _POSITIVE, "history": ListOf(_HISTORY_ENTRY),
     "train_time": Real(low=0.0), "samples": _COUNT})

#: generous bytes per weight of everything a layer may save (weights, bf16 low halves,
#: Adam moments, catch-up steps, padding permutation), for the upper bound of a file
_BYTES_PER_WEIGHT_BOUND = 32


def _check_model_meta(meta, path, package):
    """The estimator's sizes must be the network's; a saved sampler must be a sampler."""
    spec = meta["network"].get("output_sampler")
    if spec is not None:
        _sampler_class(spec, package, path, "network.output_sampler")
    for mine, theirs in (("n_features_in", "n_features"), ("n_outputs", "n_outputs")):
        if meta[mine] != meta["network"][theirs]:
            raise StateError(path, mine, f"{meta[mine]} differs from network.{theirs} = "
                                         f"{meta['network'][theirs]}")


#: how each network setting of the estimator is checked when the network is built; a loaded
#: estimator is checked the same way, since its constructor stores values unchecked
_ESTIMATOR_CHECKS = {
    "hidden": lambda v: [check_int(h, "hidden width", low=1) for h in np.atleast_1d(v).tolist()],
    "sampled_output": lambda v: _check_bool(v, "sampled_output"),
    "lsh": lambda v: None if v is None else LSHParams.coerce(v).validate(),
    "optimizer": lambda v: None if v is None else check_choice(v, "optimizer", set(OPTIMIZERS)),
    "preset": lambda v: None if v is None else check_choice(v, "preset", set(PRESETS)),
    "lr": lambda v: check_float(v, "lr", low=0.0, low_open=True),
    "init": lambda v: check_choice(v, "init", {"scaled", "slide"}),
    "bf16": check_bf16,
    "n_threads": lambda v: None if v is None else check_int(v, "n_threads"),
}


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _check_estimator_params(estimator, path):
    """The saved estimator's settings, checked as ``fit`` would check them (StateError)."""
    for name, check in _ESTIMATOR_CHECKS.items():
        if name in estimator:
            try:
                check(estimator[name])
            except (TypeError, ValueError) as exc:
                raise StateError(path, f"estimator.{name}", str(exc)) from None
    if estimator.get("n_threads") == 0:
        raise StateError(path, "estimator.n_threads", "n_threads must not be 0")


def _check_model_sizes(reader, network, names):
    """Before reading arrays: the sizes the metadata implies against the file and memory."""
    widths = [network["n_features"], *network["hidden"], network["n_outputs"]]
    weights = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    biases = sum(widths[1:])
    lsh = _lsh_bound_bytes(network, widths)
    total = reader.check_declared_bytes(
        names, at_least=4 * weights, what="network arrays", field="network",
        at_most=2 * (_BYTES_PER_WEIGHT_BOUND * (weights + biases) + lsh) + 2**20)
    # the arrays read, then the network built from them (weights, gradients, tables)
    check_memory(2 * total + 8 * weights, "loading this model",
                 lambda msg: StateError(reader.path, "network", msg))


def _lsh_bound_bytes(network, widths):
    """Upper bound of the LSH state (hash functions, tables, sampler memory) of the layers
    that may be sampled: those flagged in ``sampled``, else the output layer."""
    spec = network.get("output_sampler") or {}
    sampler = spec.get("params", {}) if isinstance(spec, dict) else {}
    # the LSH settings, nested (current files) or flat (older ones)
    net_lsh = _mapping(nest_lsh_params(network).get("lsh"))
    out_lsh = _mapping(nest_lsh_params(sampler).get("lsh") if isinstance(sampler, dict) else None)
    K = _int_or(out_lsh.get("K"), _int_or(net_lsh.get("K"), 6))
    L = _int_or(out_lsh.get("L"), _int_or(net_lsh.get("L"), 50))
    range_pow = _int_or(out_lsh.get("range_pow"), _int_or(net_lsh.get("range_pow"), 20))
    hard = _int_or(sampler.get("hard_negatives") if isinstance(sampler, dict) else None, 0)
    flags = network.get("sampled")
    if not (isinstance(flags, list) and len(flags) == len(widths) - 1):
        flags = [False] * (len(widths) - 2) + [True]
    total = 0
    for n_in, n_out, sampled in zip(widths[:-1], widths[1:], flags):
        if sampled or n_out == widths[-1]:
            functions = 16 * (n_in + 1) * K * L + 64 * L
            tables = 4 * L * (2**min(range_pow, 30) + 1) + 4 * L * n_out
            total += functions + tables + 4 * n_out * hard + 16 * n_out
    return total


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _int_or(value, default):
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _package_of(cls):
    """The backend package (``slide_ref`` or ``slide_fast``) a class belongs to."""
    return cls.__module__.split(".")[0]


def _sampler_class(spec, package, path, field):
    """The output-sampler class a saved spec names, looked up among ``package``'s samplers."""
    negative = importlib.import_module(f"{package}.negative")
    name = spec["class"]
    cls = getattr(negative, name, None) if name in negative.__all__ else None
    if not (isinstance(cls, type) and issubclass(cls, OutputSampler)):
        raise StateError(path, f"{field}.class", f"{name!r} is not an output sampler")
    return cls


def _decode_sampler(spec, package, path):
    """The estimator's output sampler a saved spec describes (None stays None)."""
    if spec is None:
        return None
    cls = _sampler_class(spec, package, path, "estimator.sampler")
    return _construct(lambda: cls(**spec["params"]), path, "estimator.sampler.params")


def _construct(build, path, field):
    """``build()``, its complaints about saved values turned into StateError."""
    try:
        return build()
    except StateError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise StateError(path, field, f"{type(exc).__name__}: {exc}") from None


def _n_outputs(Y):
    if sp.issparse(Y):
        return Y.shape[1]
    if isinstance(Y, np.ndarray) and Y.ndim == 1 and np.issubdtype(Y.dtype, np.integer):
        return int(Y.max()) + 1 if Y.size else 0
    raise ValueError("with label lists, give Y as a sparse indicator matrix so the number of "
                     "labels is known")
