"""Optimizers on the Cython kernels (API of :mod:`slide_ref.optimizers`)."""
import sys

from slide_ref import optimizers as _ref

from ._binding import bind

__all__ = list(_ref.__all__)

Param = _ref.Param
Adam = bind(_ref.Adam, __name__)
LazyAdam = bind(_ref.LazyAdam, __name__)
CatchUpAdam = bind(_ref.CatchUpAdam, __name__)
SGD = bind(_ref.SGD, __name__)
SplitAdam = bind(_ref.SplitAdam, __name__)
SplitSGD = bind(_ref.SplitSGD, __name__)
OPTIMIZERS = _ref.OPTIMIZERS


def make_optimizer(name, role, *, module=None, **kw):
    """An optimizer object of this backend (see :func:`slide_ref.optimizers.make_optimizer`)."""
    return _ref.make_optimizer(name, role, module=module or sys.modules[__name__], **kw)
