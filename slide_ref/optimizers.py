"""Optimizers as small objects that act on arrays and row ids.

An optimizer knows its hyper-parameters and which rows a step touches; the
arrays are the caller's, passed as :class:`Param` records (value, gradient,
Adam moments, and the low halves of ``bf16=2`` split weights).  The first axis
of every array is the row axis: a lazy optimizer steps only the rows it is
given, a dense one every row.  Nothing here knows about layers, so any
training loop over NumPy arrays can use these (the SLIDE engine's layers, the
zero-shot network).

The kernels are ``_kernels.network.adam_step`` / ``sgd_step`` /
``adam_catchup`` and, for split weights, ``_kernels.bf16.adam_step_split`` /
``sgd_step_split`` (fp32 master weights rebuilt from their two halves).
"""
import math

from ._backend import KERNELS
from ._validation import check_choice, check_float

__all__ = ["Param", "Adam", "LazyAdam", "CatchUpAdam", "SGD", "SplitAdam", "SplitSGD",
           "OPTIMIZERS", "make_optimizer"]

#: the ``optimizer`` names of the network and the estimators
OPTIMIZERS = ("adam", "lazy_adam", "lazy_input_adam", "catchup_adam", "sgd")


class Param:
    """A trainable array with its gradient accumulator and optimizer state.

    ``m``, ``v`` are Adam's moments (None for SGD) and ``lo`` the low 16 bits of
    split bf16 weights (``bf16=2``; ``value`` then holds the high halves).
    """

    __slots__ = ("value", "grad", "m", "v", "lo")

    def __init__(self, value, grad, m=None, v=None, lo=None):
        self.value, self.grad, self.m, self.v, self.lo = value, grad, m, v, lo


class Adam:
    """Dense Adam: every row moves every step (the papers' optimizer).

    Parameters
    ----------
    lr : float, default 1e-3
    beta1, beta2, eps : float, default 0.9, 0.999, 1e-8
    """

    #: steps only the rows a batch touched
    lazy = False
    #: keeps Adam's moments ``m`` and ``v``
    moments = True
    #: needs the step at which each row was last updated (catch-up)
    tracks_rows = False
    #: its fp32 step on a layer's weights may run inside that layer's backward pass
    fusable = False
    _kernels = KERNELS

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr = check_float(lr, "lr", low=0.0, low_open=True)
        self.beta1 = check_float(beta1, "beta1", low=0.0, high=1.0)
        self.beta2 = check_float(beta2, "beta2", low=0.0, high=1.0)
        self.eps = check_float(eps, "eps", low=0.0, low_open=True)

    def lr_t(self, t):
        """The bias-corrected step size of step ``t`` (1-based)."""
        return self.lr * math.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)

    def adam_args(self, t):
        """``(lr_t, beta1, beta2, eps)`` of step ``t``: what a fused kernel needs."""
        return self.lr_t(t), self.beta1, self.beta2, self.eps

    def before_read(self, params, rows, last, t, n_threads):
        """Bring ``rows`` of ``params`` up to date before step ``t`` reads them (catch-up
        Adam; a no-op otherwise)."""

    def step(self, param, rows, t, n_threads):
        """Step ``t`` on ``param``'s ``rows`` (int32 ids; None: every row), from its gradient."""
        self._kernels.network.adam_step(param.value, param.grad, param.m, param.v,
                                        rows if self.lazy else None, *self.adam_args(t),
                                        n_threads)

    def mark_stepped(self, rows, last, t):
        """Record that ``rows`` were updated at step ``t`` (catch-up Adam)."""


class LazyAdam(Adam):
    """Adam on the rows with a gradient only (a rarely touched row moves less than with
    dense Adam's momentum)."""

    lazy = True
    fusable = True


class CatchUpAdam(LazyAdam):
    """Lazy Adam that, before a row is read again, applies in closed form the
    zero-gradient steps dense Adam took on it since its last update
    (``_kernels.network.adam_catchup``): dense Adam's trajectory at lazy cost."""

    tracks_rows = True

    def before_read(self, params, rows, last, t, n_threads):
        hyper = (t, self.lr, self.beta1, self.beta2, self.eps, n_threads)
        if not _weight_and_bias_column(params):
            for p in params:     # any other list of row-indexed arrays
                self._kernels.network.adam_catchup(p.value, p.m, p.v, rows, t - 1 - last[rows],
                                                   *hyper)
            last[rows] = t - 1
            return
        # a layer's weight, then the bias column of a layer whose rows are neurons: one
        # kernel call catches up both and moves ``last``
        weight, bias = params[0], (params[1] if len(params) > 1 else None)
        b, mb, vb = (None,) * 3 if bias is None else (bias.value[:, 0], bias.m[:, 0],
                                                      bias.v[:, 0])
        self._kernels.network.adam_catchup_rows(weight.value, weight.m, weight.v, b, mb, vb,
                                                rows, last, *hyper)

    def mark_stepped(self, rows, last, t):
        last[rows] = t


def _weight_and_bias_column(params):
    """Whether ``params`` are a layer's 2-D weight, optionally followed by its bias as a
    column (what ``adam_catchup_rows`` takes in one call)."""
    if not 1 <= len(params) <= 2 or params[0].value.ndim != 2:
        return False
    return len(params) == 1 or params[1].value.shape[1:] == (1,)


class SGD(Adam):
    """Plain SGD on the rows with a gradient: ``W -= lr * g``."""

    lazy = True
    moments = False

    def __init__(self, lr=1e-3):
        super().__init__(lr)

    def step(self, param, rows, t, n_threads):
        self._kernels.network.sgd_step(param.value, param.grad, rows, self.lr, n_threads)


class SplitAdam(Adam):
    """Adam on split bf16 weights (``bf16=2``): each step rebuilds the exact fp32 weight
    from its high (``value``) and low (``lo``) halves, updates it and splits it again.

    ``lazy`` chooses lazy (touched rows) or dense steps.
    """

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, lazy=False):
        super().__init__(lr, beta1, beta2, eps)
        self.lazy = bool(lazy)

    def step(self, param, rows, t, n_threads):
        self._kernels.bf16.adam_step_split(param.value, param.lo, param.grad, param.m,
                                           param.v, rows if self.lazy else None,
                                           *self.adam_args(t), n_threads)


class SplitSGD(SGD):
    """SGD on split bf16 weights (``bf16=2``), on the rows with a gradient."""

    def step(self, param, rows, t, n_threads):
        self._kernels.bf16.sgd_step_split(param.value, param.lo, param.grad, rows, self.lr,
                                          n_threads)


def make_optimizer(name, role, *, split=False, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                   module=None):
    """The optimizer object of a layer of the engine.

    Parameters
    ----------
    name : one of :data:`OPTIMIZERS`
        "lazy_input_adam" is lazy on the input layer only; "catchup_adam" catches
        up the input and sampled layers (a dense hidden layer is stepped densely).
    role : {"input", "dense", "sampled"}
        The layer's kind: the sparse-input layer, a dense layer, or a layer whose
        rows are neurons chosen per batch.
    split : bool
        Split bf16 weights (``bf16=2``).
    module : module, optional
        The backend's ``optimizers`` module (default: this one).
    """
    check_choice(name, "optimizer", set(OPTIMIZERS))
    mod = module if module is not None else _this_module()
    if name == "sgd":
        return mod.SplitSGD(lr) if split else mod.SGD(lr)
    args = (lr, beta1, beta2, eps)
    lazy = name == "lazy_adam" or (name in ("lazy_input_adam", "catchup_adam")
                                   and role == "input")
    if name == "catchup_adam" and role != "dense":
        if split:
            raise ValueError("optimizer='catchup_adam' is not implemented for bf16=2 (split "
                             "weights); use bf16=0 or 1, or another optimizer")
        return mod.CatchUpAdam(*args)
    if split:
        return mod.SplitAdam(*args, lazy=lazy)
    return mod.LazyAdam(*args) if lazy else mod.Adam(*args)


def _this_module():
    import sys
    return sys.modules[__name__]
