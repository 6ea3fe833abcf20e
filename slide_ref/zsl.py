"""Zero-shot learning: a soft-label network with a frozen attribute layer, and baselines.

:class:`SoftLabelZSL` follows the soft-label / similarity-distribution-matching
model of Daghaghi, Medini and Shrivastava (arXiv 1909.04790; specification and
the choices we had to make in ``research/zsl.md`` section 2): a fully connected
network ``f: R^D -> R^K`` followed by a *non-trainable* layer holding the class
attribute vectors, so the logits ``z = s A^T f(x)`` cover the seen **and** the
unseen classes, and a softmax over all of them.  Training sees seen-class
images only; the unseen classes receive probability mass through soft labels
built from attribute similarity.  Every estimator reaches its kernels through
one class attribute, ``_kernels`` (the backend's kernel package): the layers
of the network are ``_kernels.zsl.dense_forward``/``dense_backward`` (the
engine's dense kernels in the reference, BLAS calls in the fast backend), Adam
is the engine's optimizer object (:class:`slide_ref.optimizers.Adam`), and the attribute layer,
softmax and soft-target gradient are one fused kernel
(``_kernels.zsl.attribute_softmax_grad``).

The estimators follow scikit-learn's conventions (``BaseEstimator``):
constructor parameters are stored as given and validated by ``fit``;
``get_params``, ``set_params`` and ``sklearn.base.clone`` come from the base
class.

Baselines (GBU re-implementations, section 4): :class:`ESZSL` (closed form) and
:class:`SJE` (structured hinge, SGD).  All three share the prediction code:
zero-shot (argmax over the unseen classes) and generalised zero-shot (argmax
over all classes, with calibrated stacking: a constant ``calibration_``
subtracted from the seen classes' scores, Chao et al. 2016).

:func:`gbu_protocol` runs the GBU model-selection protocol: choose
hyperparameters and the calibration on the class-disjoint train/val split,
retrain on trainval, evaluate once on test_seen/test_unseen.
"""
import itertools
import math

import numpy as np
from sklearn.base import BaseEstimator, clone

from . import _kernels as _kernel_package
from . import metrics
from ._backend import sibling
from ._params import store_params
from .optimizers import Param
from ._validation import (check_choice, check_float, check_int, check_matrix,
                          check_random_state, effective_n_threads)

__all__ = ["SoftLabelZSL", "ESZSL", "SJE", "similarity_targets", "evaluate_zsl",
           "tune_calibration", "gbu_protocol"]

LOSSES = {"soft": _kernel_package.zsl.SOFT_LABEL, "kl": _kernel_package.zsl.CE_KL}


# ----------------------------------------------------------------------------- helpers
def similarity_targets(attributes_seen, attributes_unseen, temperature=0.1):
    """Soft-label distribution over the unseen classes for each seen class.

    ``r_{y,u} = softmax_u(cos(a_y, a_u) / T)`` (``research/zsl.md`` section 2);
    a lower temperature gives a peakier target.

    Parameters
    ----------
    attributes_seen : ndarray [K, S]
    attributes_unseen : ndarray [K, U]
    temperature : float, > 0

    Returns
    -------
    ndarray [S, U], float32; rows sum to 1.
    """
    T = check_float(temperature, "temperature", low=0.0, low_open=True)
    As = _unit(np.asarray(attributes_seen, np.float64))
    Au = _unit(np.asarray(attributes_unseen, np.float64))
    logits = As.T @ Au / T
    logits -= logits.max(axis=1, keepdims=True)
    R = np.exp(logits)
    return (R / R.sum(axis=1, keepdims=True)).astype(np.float32)


def _blas_pool(n_threads):
    """Limit the BLAS pool to the kernels' thread count while a model trains or predicts.

    Both backends run their matrix products through BLAS; its default pool uses
    every core, and on a machine where other work runs, a multi-threaded call
    waits for its slowest (descheduled) thread: on 2 busy cores that made a
    small-network epoch over 10x slower than on one thread.  ``n_threads`` then
    means the same thing for the BLAS calls and the OpenMP kernels.
    """
    global _CONTROLLER
    if _CONTROLLER is None:     # scanning the loaded libraries costs milliseconds: do it once
        from threadpoolctl import ThreadpoolController
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=n_threads, user_api="blas")


_CONTROLLER = None


def _unit(M):
    norms = np.linalg.norm(M, axis=0, keepdims=True)
    return M / np.where(norms > 0, norms, 1.0)


def _check_labels(y, n, n_classes, name="y"):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    if y.size != n:
        raise ValueError(f"{name} has {y.size} entries for {n} samples")
    if y.size and not (np.issubdtype(y.dtype, np.integer)
                       or (np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all()
                           and np.array_equal(y, np.round(y)))):
        raise TypeError(f"{name} must hold integer class ids, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name} must lie in [0, {n_classes}) (columns of attributes), got "
                         f"{y.min()}..{y.max()}")
    return y


def _class_ids(ids, n_classes, name):
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of class ids")
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class ids, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    if ids.min() < 0 or ids.max() >= n_classes:
        raise ValueError(f"{name} must lie in [0, {n_classes}), got {ids.min()}..{ids.max()}")
    if np.unique(ids).size != ids.size:
        raise ValueError(f"{name} lists a class twice")
    return ids


def _check_attributes(attributes):
    A = np.asarray(attributes)
    if A.dtype.kind not in "iuf":      # complex too: casting would drop the imaginary part
        raise TypeError(f"attributes must be an array of real numbers, got dtype {A.dtype}")
    if A.ndim != 2 or A.shape[0] == 0 or A.shape[1] < 2:
        raise ValueError("attributes must be [n_attributes, n_classes] with at least 2 classes, "
                         f"got shape {A.shape}")
    if not np.isfinite(A).all():
        raise ValueError("attributes contain NaN or infinite values")
    return A.astype(np.float64)


# ----------------------------------------------------------------------------- base
class _ZSLEstimator(BaseEstimator):
    """Shared validation, preprocessing and prediction of the zero-shot models.

    Subclasses implement ``fit`` (through :meth:`_setup`, which returns the
    preprocessed samples, the seen-class positions and ``A`` [K, C] in
    ``classes_`` order) and ``_scores(X) -> [n, C]``.
    """

    #: the backend's kernel package (``standardize`` here; SoftLabelZSL's layers and loss)
    _kernels = _kernel_package

    # -- data
    def _setup(self, X, y, attributes, seen, unseen):
        X, sparse = check_matrix(X, "X")
        if sparse:
            raise TypeError("X must be a dense array (zero-shot features are dense)")
        A = _check_attributes(attributes)
        C = A.shape[1]
        y = _check_labels(y, X.shape[0], C)
        seen = np.unique(y) if seen is None else _class_ids(seen, C, "seen")
        if not np.isin(y, seen).all():
            raise ValueError("y holds classes that are not in seen")
        unseen = (np.setdiff1d(np.arange(C), seen) if unseen is None
                  else _class_ids(unseen, C, "unseen"))
        if unseen.size == 0:
            raise ValueError("there are no unseen classes (every attribute column is seen)")
        both = np.intersect1d(seen, unseen)
        if both.size:
            raise ValueError(f"classes {both.tolist()[:10]} are both seen and unseen")
        self.classes_ = np.concatenate([seen, unseen])
        self.n_seen_ = int(seen.size)
        self.n_features_in_ = X.shape[1]
        self.calibration_ = 0.0
        pos = np.empty(C, dtype=np.int64)
        pos[self.classes_] = np.arange(self.classes_.size)
        self._fit_preprocessing(X)
        return self._transform(X), pos[y], A[:, self.classes_]

    def _fit_preprocessing(self, X):
        mode = self.normalize
        if mode is not None and mode not in ("l2", "standard"):
            raise ValueError(f"normalize must be 'standard', 'l2' or None, got {mode!r}")
        if mode == "standard":
            self.mean_ = X.mean(axis=0).astype(np.float32)
            std = X.std(axis=0)
            self.scale_ = np.where(std > 1e-12, std, 1.0).astype(np.float32)

    def _transform(self, X):
        X = np.asarray(X, dtype=np.float32)
        if self.normalize == "l2":
            n = np.linalg.norm(X, axis=1, keepdims=True)
            X = X / np.where(n > 0, n, 1.0)
        elif self.normalize == "standard":
            n = effective_n_threads(getattr(self, "n_threads", None))
            return self._kernels.zsl.standardize(np.ascontiguousarray(X), self.mean_,
                                                 self.scale_, n)
        return np.ascontiguousarray(X, dtype=np.float32)

    def _check_X(self, X):
        if not hasattr(self, "classes_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted; call fit first")
        X, sparse = check_matrix(X, "X", n_features=self.n_features_in_, allow_empty=True)
        if sparse:
            raise TypeError("X must be a dense array (zero-shot features are dense)")
        return self._transform(X)

    # -- prediction
    def decision_function(self, X):
        """Class scores [n, C], columns in ``classes_`` order (seen first, then unseen)."""
        return self._scores(self._check_X(X))

    def predict(self, X, mode="gzsl", calibration=None):
        """Predicted class ids.

        Parameters
        ----------
        X : ndarray [n, D]
        mode : {"gzsl", "zsl"}
            ``"zsl"``: argmax over the unseen classes only; ``"gzsl"``: over all
            classes, after subtracting ``calibration`` from the seen classes' scores.
        calibration : float, optional
            Calibrated-stacking constant; default ``calibration_`` (0 after
            ``fit``, set by :meth:`calibrate`).
        """
        check_choice(mode, "mode", {"gzsl", "zsl"})
        S = self.decision_function(X)
        if mode == "zsl":
            return self.classes_[self.n_seen_ + np.argmax(S[:, self.n_seen_:], axis=1)]
        gamma = self.calibration_ if calibration is None else check_float(calibration,
                                                                           "calibration")
        S[:, :self.n_seen_] -= gamma
        return self.classes_[np.argmax(S, axis=1)]

    def calibrate(self, X_seen, y_seen, X_unseen, y_unseen, n_grid=101):
        """Choose ``calibration_`` maximising the GZSL harmonic mean H on the given data."""
        self.calibration_ = tune_calibration(self, X_seen, y_seen, X_unseen, y_unseen, n_grid)
        return self

    def evaluate(self, X_seen, y_seen, X_unseen, y_unseen, calibration=None):
        """ZSL accuracy and GZSL U, S, H (fractions); see :func:`evaluate_zsl`."""
        return evaluate_zsl(self, X_seen, y_seen, X_unseen, y_unseen, calibration)


# ----------------------------------------------------------------------------- SoftLabelZSL
class SoftLabelZSL(_ZSLEstimator):
    """Soft-label zero-shot network with a frozen attribute layer (arXiv 1909.04790).

    ``f: R^D -> R^K`` is a ReLU MLP (``hidden`` widths, linear last layer);
    logits ``z = logit_scale * A^T f(x)`` over all seen and unseen classes with
    the attribute matrix ``A`` frozen (columns L2-normalised); ``p = softmax(z)``.
    Soft targets ``r_y = softmax_u(cos(a_y, a_u)/temperature)`` over the unseen
    classes (:func:`similarity_targets`).  Losses (``research/zsl.md`` section 2):

    ``"soft"``
        cross-entropy against the target ``1 - q`` on the true class and
        ``q r_{y,u}`` on unseen class ``u``;
    ``"kl"``
        ``-log p_y + lam KL(r_y || softmax(z_unseen))``.

    Trained with Adam on shuffled mini-batches (dense-layer kernels and the
    engine's :class:`~slide_ref.optimizers.Adam`), optional L2 weight decay.  While it trains or predicts, the
    BLAS pool is limited to ``n_threads``.

    Parameters
    ----------
    hidden : tuple of int, default=(1024,)
        Hidden widths; ``()`` gives a linear (bilinear-compatibility) model.
    loss : {"soft", "kl"}, default="soft"
    q : float in [0, 1), default=0.2
        Probability mass given to the unseen classes (``"soft"``).
    lam : float >= 0, default=1.0
        Weight of the KL term (``"kl"``).
    temperature : float > 0, default=0.1
    logit_scale : float > 0, default=1.0
    lr : float, default=1e-3
    batch_size : int, default=128
    epochs : int, default=30
    weight_decay : float, default=0.0
    normalize : {"standard", "l2", None}, default="standard"
        Input preprocessing, fitted on the training data.
    n_threads : int, optional
    random_state : int, Generator or None
    show_progress : bool, default=False

    Attributes
    ----------
    classes_ : ndarray [C]
        Class ids in output order: the seen classes, then the unseen ones.
    n_seen_ : int
    calibration_ : float
    history_ : list of float
        Mean training loss of every epoch.
    """

    def __init__(self, hidden=(1024,), loss="soft", q=0.2, lam=1.0, temperature=0.1,
                 logit_scale=1.0, lr=1e-3, batch_size=128, epochs=30, weight_decay=0.0,
                 normalize="standard", n_threads=None, random_state=None, show_progress=False):
        store_params(self, locals())

    def _check_params(self):
        check_choice(self.loss, "loss", set(LOSSES))
        check_float(self.q, "q", low=0.0, high=1.0)
        if self.q >= 1.0:
            raise ValueError("q must be < 1 (the true class keeps mass 1 - q)")
        check_float(self.lam, "lam", low=0.0)
        check_float(self.temperature, "temperature", low=0.0, low_open=True)
        check_float(self.logit_scale, "logit_scale", low=0.0, low_open=True)
        check_float(self.lr, "lr", low=0.0, low_open=True)
        check_int(self.batch_size, "batch_size", low=1)
        check_int(self.epochs, "epochs", low=0)
        check_float(self.weight_decay, "weight_decay", low=0.0)
        hidden = tuple(self.hidden) if not isinstance(self.hidden, int) else (self.hidden,)
        return tuple(check_int(h, "hidden width", low=1) for h in hidden)

    def fit(self, X, y, attributes, seen=None, unseen=None):
        """Train on seen-class samples.

        Parameters
        ----------
        X : ndarray [n, D]
            Features of seen-class samples.
        y : ndarray [n] of int
            Their class ids (columns of ``attributes``).
        attributes : ndarray [K, C]
            One attribute column per class (GBU ``att`` layout).
        seen : array of int, optional
            Seen class ids (default: the classes in ``y``).
        unseen : array of int, optional
            Unseen class ids (default: every other column of ``attributes``).

        Returns
        -------
        self
        """
        self._initialize(X, y, attributes, seen, unseen)
        epochs = range(self.epochs)
        if self.show_progress:
            from tqdm.auto import tqdm
            epochs = tqdm(epochs, unit="epoch", leave=False, dynamic_ncols=True)
        with _blas_pool(effective_n_threads(self.n_threads)):
            for _ in epochs:
                self._epoch(self._X, self._y)
        return self

    def partial_fit(self, X, y, attributes=None, seen=None, unseen=None):
        """One epoch over ``(X, y)``; the first call also needs ``attributes``."""
        if not hasattr(self, "layers_"):
            if attributes is None:
                raise ValueError("the first call of partial_fit needs attributes")
            self._initialize(X, y, attributes, seen, unseen)
            with _blas_pool(effective_n_threads(self.n_threads)):
                self._epoch(self._X, self._y)
            return self
        Xt = self._check_X(X)
        pos = {c: i for i, c in enumerate(self.classes_[:self.n_seen_].tolist())}
        y = _check_labels(y, Xt.shape[0], int(self.classes_.max()) + 1)
        if not all(c in pos for c in y.tolist()):
            raise ValueError("y holds classes that are not seen classes of this model")
        with _blas_pool(effective_n_threads(self.n_threads)):
            self._epoch(Xt, np.array([pos[c] for c in y.tolist()], dtype=np.int64))
        return self

    def _initialize(self, X, y, attributes, seen, unseen):
        hidden = self._check_params()
        Xt, y_idx, A = self._setup(X, y, attributes, seen, unseen)
        self._rng = check_random_state(self.random_state)
        self.attributes_ = np.ascontiguousarray(_unit(A), dtype=np.float32)
        S = self.n_seen_
        self.soft_targets_ = similarity_targets(self.attributes_[:, :S],
                                                self.attributes_[:, S:], self.temperature)
        sizes = (Xt.shape[1],) + hidden + (A.shape[0],)
        self.layers_ = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            bound = math.sqrt(6.0 / (n_in + n_out))        # Glorot uniform
            W = self._rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32)
            b = np.zeros(n_out, np.float32)
            self.layers_.append({"W": W, "b": b, "gW": np.zeros_like(W), "gb": np.zeros_like(b),
                                 "mW": np.zeros_like(W), "vW": np.zeros_like(W),
                                 "mb": np.zeros_like(b), "vb": np.zeros_like(b)})
        # Adam as the engine's optimizer object (same kernel, same bias correction)
        self.optimizer_ = sibling(self, "optimizers").Adam(lr=self.lr)
        self.step_ = 0
        self.history_ = []
        self._X, self._y = Xt, y_idx

    def _forward(self, X, n):
        acts = [X]
        last = len(self.layers_) - 1
        for i, layer in enumerate(self.layers_):
            acts.append(self._kernels.zsl.dense_forward(acts[-1], layer["W"], layer["b"],
                                                        i < last, n))
        return acts

    def _epoch(self, X, y_idx):
        n = effective_n_threads(self.n_threads)
        mode = LOSSES[self.loss]
        order = self._rng.permutation(X.shape[0])
        total, count = 0.0, 0
        for lo in range(0, order.size, self.batch_size):
            idx = order[lo:lo + self.batch_size]
            Xb = np.ascontiguousarray(X[idx])
            yb = y_idx[idx].astype(np.int32)
            acts = self._forward(Xb, n)
            delta, loss = self._kernels.zsl.attribute_softmax_grad(
                acts[-1], self.attributes_, yb, self.soft_targets_, self.n_seen_, mode,
                float(self.q), float(self.lam), float(self.logit_scale), 1.0 / idx.size, n)
            for i in range(len(self.layers_) - 1, -1, -1):
                layer = self.layers_[i]
                delta = self._kernels.zsl.dense_backward(acts[i], layer["W"], delta,
                                                         layer["gW"], layer["gb"], i > 0,
                                                         i > 0, n)
            self.step_ += 1
            for layer in self.layers_:
                if self.weight_decay:
                    layer["gW"] += np.float32(self.weight_decay) * layer["W"]
                for param in _layer_params(layer):
                    self.optimizer_.step(param, None, self.step_, n)
            total += float(loss.sum())
            count += idx.size
        self.history_.append(total / max(count, 1))

    def embed(self, X):
        """Network outputs ``f(x)`` [n, K] (the attribute-space embedding)."""
        X = self._check_X(X)
        n = effective_n_threads(self.n_threads)
        with _blas_pool(n):
            return self._forward(X, n)[-1]

    def _scores(self, X):
        n = effective_n_threads(self.n_threads)
        if X.shape[0] == 0:
            return np.zeros((0, self.classes_.size), np.float32)
        with _blas_pool(n):
            F = self._forward(X, n)[-1]
            return self._kernels.zsl.attribute_logits(F, self.attributes_,
                                                      float(self.logit_scale), n)


def _layer_params(layer):
    """A dense layer's weight and bias as optimizer parameters (rows along the first axis)."""
    row = {k: layer[k][None, :] for k in ("b", "gb", "mb", "vb")}
    return (Param(layer["W"], layer["gW"], layer["mW"], layer["vW"]),
            Param(row["b"], row["gb"], row["mb"], row["vb"]))


# ----------------------------------------------------------------------------- ESZSL
class ESZSL(_ZSLEstimator):
    """Embarrassingly simple zero-shot learning (Romera-Paredes and Torr, ICML 2015).

    Minimises ``||X V S - Y||^2 + gamma ||V S||^2 + lam ||X V||^2 + gamma lam ||V||^2``
    (``X`` [n, D] the samples, ``S`` [K, seen] the seen attribute columns, ``Y``
    the +-1 class-indicator matrix), whose minimiser is
    ``V = (X^T X + gamma I)^-1 X^T Y S^T (S S^T + lam I)^-1``; computed with two
    linear solves, not inverses.  Score of class ``c``: ``x^T V a_c``.

    Parameters
    ----------
    feature_reg : float > 0, default=1e3
        ``gamma`` (GBU grid: 10^-3 .. 10^3).
    attribute_reg : float > 0, default=1.0
        ``lam``.
    normalize : {"standard", "l2", None}, default=None
    """

    def __init__(self, feature_reg=1e3, attribute_reg=1.0, normalize=None):
        store_params(self, locals())

    def fit(self, X, y, attributes, seen=None, unseen=None):
        """Fit the closed form on seen-class samples (arguments as in :class:`SoftLabelZSL`)."""
        g = check_float(self.feature_reg, "feature_reg", low=0.0, low_open=True)
        lam = check_float(self.attribute_reg, "attribute_reg", low=0.0, low_open=True)
        Xt, y_idx, A = self._setup(X, y, attributes, seen, unseen)
        Xd = Xt.astype(np.float64)
        S = A[:, :self.n_seen_]
        Y = -np.ones((Xd.shape[0], self.n_seen_))
        Y[np.arange(Xd.shape[0]), y_idx] = 1.0
        P = Xd.T @ Xd + g * np.eye(Xd.shape[1])
        Q = S @ S.T + lam * np.eye(S.shape[0])
        V = np.linalg.solve(P, Xd.T @ Y @ S.T)            # P^-1 X^T Y S^T
        self.V_ = np.linalg.solve(Q, V.T).T                 # ... Q^-1 (Q symmetric)
        self.attributes_ = A
        return self

    def _scores(self, X):
        return (X.astype(np.float64) @ self.V_ @ self.attributes_).astype(np.float32)


# ----------------------------------------------------------------------------- SJE
class SJE(_ZSLEstimator):
    """Structured joint embedding (Akata et al., CVPR 2015), trained by SGD.

    Compatibility ``F(x, c) = x^T W a_c``.  For each sample, the most violating
    class ``c* = argmax_c [margin 1(c != y) + F(x, c)]`` over the seen classes;
    if ``c* != y``, ``W += lr x (a_y - a_c*)^T`` (averaged over a mini-batch when
    ``batch_size > 1``; 1 is the original per-sample SGD).

    Parameters
    ----------
    lr : float, default=0.1
    margin : float, default=1.0
    epochs : int, default=20
    batch_size : int, default=1
    normalize : {"standard", "l2", None}, default="l2"
    random_state : int, Generator or None
    """

    def __init__(self, lr=0.1, margin=1.0, epochs=20, batch_size=1, normalize="l2",
                 random_state=None):
        store_params(self, locals())

    def fit(self, X, y, attributes, seen=None, unseen=None):
        """Train on seen-class samples (arguments as in :class:`SoftLabelZSL`)."""
        lr = check_float(self.lr, "lr", low=0.0, low_open=True)
        margin = check_float(self.margin, "margin", low=0.0)
        epochs = check_int(self.epochs, "epochs", low=0)
        bs = check_int(self.batch_size, "batch_size", low=1)
        Xt, y_idx, A = self._setup(X, y, attributes, seen, unseen)
        rng = check_random_state(self.random_state)
        S = A[:, :self.n_seen_]
        W = rng.standard_normal((Xt.shape[1], A.shape[0])) / np.sqrt(Xt.shape[1])
        Xd = Xt.astype(np.float64)
        rows = np.arange(bs)
        for _ in range(epochs):
            order = rng.permutation(Xd.shape[0])
            for lo in range(0, order.size, bs):
                idx = order[lo:lo + bs]
                xb, yb = Xd[idx], y_idx[idx]
                scores = xb @ W @ S + margin
                scores[rows[:idx.size], yb] -= margin
                worst = np.argmax(scores, axis=1)
                wrong = worst != yb
                if wrong.any():
                    diff = S[:, yb[wrong]] - S[:, worst[wrong]]          # [K, m]
                    W += (lr / idx.size) * (xb[wrong].T @ diff.T)
        self.W_ = W
        self.attributes_ = A
        return self

    def _scores(self, X):
        return (X.astype(np.float64) @ self.W_ @ self.attributes_).astype(np.float32)


# ----------------------------------------------------------------------------- evaluation
def _gzsl_parts(model, X_seen, y_seen, X_unseen, y_unseen):
    Ss, Su = model.decision_function(X_seen), model.decision_function(X_unseen)
    return Ss, _check_labels(y_seen, Ss.shape[0], 2**62, "y_seen"), Su, \
        _check_labels(y_unseen, Su.shape[0], 2**62, "y_unseen")


def _gzsl_at(model, Ss, ys, Su, yu, gamma):
    S = model.n_seen_
    seen_cls, unseen_cls = model.classes_[:S], model.classes_[S:]

    def pred(M):
        M = M.copy()
        M[:, :S] -= gamma
        return model.classes_[np.argmax(M, axis=1)]

    s = metrics.per_class_accuracy(ys, pred(Ss), classes=np.intersect1d(seen_cls, ys))
    u = metrics.per_class_accuracy(yu, pred(Su), classes=np.intersect1d(unseen_cls, yu))
    return u, s, metrics.gzsl_harmonic(u, s)


def evaluate_zsl(model, X_seen, y_seen, X_unseen, y_unseen, calibration=None):
    """Zero-shot and generalised zero-shot scores of a fitted model (GBU metrics).

    Parameters
    ----------
    model : fitted SoftLabelZSL, ESZSL or SJE
    X_seen, y_seen : test samples of seen classes
    X_unseen, y_unseen : test samples of unseen classes
    calibration : float, optional
        Calibrated-stacking constant for GZSL (default ``model.calibration_``).

    Returns
    -------
    dict
        ``zsl`` (per-class accuracy on unseen samples, searched over unseen
        classes), ``U``, ``S``, ``H`` (GZSL, searched over all classes), all
        fractions, and the ``calibration`` used.
    """
    Ss, ys, Su, yu = _gzsl_parts(model, X_seen, y_seen, X_unseen, y_unseen)
    S = model.n_seen_
    zsl_pred = model.classes_[S + np.argmax(Su[:, S:], axis=1)]
    zsl = metrics.per_class_accuracy(yu, zsl_pred)
    gamma = model.calibration_ if calibration is None else check_float(calibration,
                                                                       "calibration")
    u, s, h = _gzsl_at(model, Ss, ys, Su, yu, gamma)
    return {"zsl": zsl, "U": u, "S": s, "H": h, "calibration": float(gamma)}


def tune_calibration(model, X_seen, y_seen, X_unseen, y_unseen, n_grid=101):
    """Calibrated-stacking constant maximising H on the given (validation) data.

    The candidates are 0 and ``n_grid`` quantiles of the per-sample gap between
    the best seen and the best unseen score: the GZSL predictions change only
    where the constant crosses one of these gaps.
    """
    n_grid = check_int(n_grid, "n_grid", low=2)
    Ss, ys, Su, yu = _gzsl_parts(model, X_seen, y_seen, X_unseen, y_unseen)
    S = model.n_seen_
    M = np.concatenate([Ss, Su])
    gap = M[:, :S].max(axis=1) - M[:, S:].max(axis=1)
    cands = np.unique(np.concatenate([[0.0], np.quantile(gap, np.linspace(0, 1, n_grid)),
                                      [gap.max() + 1e-3]]))
    best, best_h = 0.0, -1.0
    for g in cands:
        h = _gzsl_at(model, Ss, ys, Su, yu, g)[2]
        if h > best_h + 1e-12 or (abs(h - best_h) <= 1e-12 and abs(g) < abs(best)):
            best, best_h = float(g), h
    return best


def _grid(param_grid):
    if not param_grid:
        return [{}]
    if isinstance(param_grid, dict):
        param_grid = [param_grid]
    out = []
    for g in param_grid:
        keys = sorted(g)
        out += [dict(zip(keys, vals)) for vals in itertools.product(*(g[k] for k in keys))]
    return out


def gbu_protocol(estimator, data, param_grid=None, val_seen_fraction=0.2, criterion="H",
                 random_state=None, show_progress=False):
    """Model selection and evaluation under the GBU protocol (Xian et al. 2018).

    1. For each parameter setting: fit on ``train_loc`` images (minus a fraction
       ``val_seen_fraction`` of each train class, held out as validation-seen)
       with the validation classes as the unseen ones; tune the calibration on
       validation-seen + ``val_loc``; score (``criterion``: ``"H"`` or ``"zsl"``).
    2. Refit the best setting on ``trainval_loc`` with the real unseen classes,
       keep the calibration chosen on validation.
    3. Evaluate once on ``test_seen_loc`` / ``test_unseen_loc``.

    Parameters
    ----------
    estimator : SoftLabelZSL, ESZSL or SJE (unfitted; used as a template)
    data : ZSLData
    param_grid : dict of lists, or list of such dicts, optional
    val_seen_fraction : float, default=0.2
    criterion : {"H", "zsl"}
    random_state : int, Generator or None
        Draws the validation-seen images.
    show_progress : bool

    Returns
    -------
    dict
        ``params`` (chosen), ``calibration``, ``val`` (scores of the chosen
        setting), ``test`` (scores with the tuned calibration), ``test_uncalibrated``
        (calibration 0), ``model`` (the refitted estimator) and ``search``
        (every setting's validation scores).
    """
    check_choice(criterion, "criterion", {"H", "zsl"})
    frac = check_float(val_seen_fraction, "val_seen_fraction", low=0.0, high=0.9)
    rng = check_random_state(random_state)
    X, labels, A = data.features, data.labels, data.attributes
    tr = data.train_loc
    fit_idx, vs_idx = [], []
    for c in np.unique(labels[tr]):
        members = rng.permutation(tr[labels[tr] == c])
        k = int(round(frac * members.size))
        vs_idx.append(members[:k])
        fit_idx.append(members[k:])
    fit_idx, vs_idx = np.sort(np.concatenate(fit_idx)), np.sort(np.concatenate(vs_idx))
    if vs_idx.size == 0:
        raise ValueError("val_seen_fraction leaves no validation-seen images")
    search = []
    settings = _grid(param_grid)
    if show_progress:
        from tqdm.auto import tqdm
        settings = tqdm(settings, unit="setting", leave=False, dynamic_ncols=True)
    for params in settings:
        model = clone(estimator).set_params(**params)
        model.fit(X[fit_idx], labels[fit_idx], A, seen=data.train_classes,
                  unseen=data.val_classes)
        model.calibrate(X[vs_idx], labels[vs_idx], X[data.val_loc], labels[data.val_loc])
        scores = model.evaluate(X[vs_idx], labels[vs_idx], X[data.val_loc],
                                labels[data.val_loc])
        search.append({"params": params, **scores})
    best = max(search, key=lambda r: r[criterion])
    model = clone(estimator).set_params(**best["params"])
    model.fit(X[data.trainval_loc], labels[data.trainval_loc], A, seen=data.seen,
              unseen=data.unseen)
    model.calibration_ = best["calibration"]
    Xs, ys = data.split("test_seen")
    Xu, yu = data.split("test_unseen")
    return {"params": best["params"], "calibration": best["calibration"],
            "val": {k: best[k] for k in ("zsl", "U", "S", "H")},
            "test": model.evaluate(Xs, ys, Xu, yu),
            "test_uncalibrated": model.evaluate(Xs, ys, Xu, yu, calibration=0.0),
            "model": model, "search": search}
