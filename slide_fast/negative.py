"""Output-layer samplers on the Cython kernels (API of :mod:`slide_ref.negative`)."""
import sys

from slide_ref import negative as _ref

from . import lsh as _lsh
from ._binding import bind
from ._kernels import active as _active
from ._kernels import negative as _neg
from ._kernels import tables as _tables

__all__ = list(_ref.__all__)

_KERNELS = dict(_neg=_neg, _lsh=_lsh, _tables=_tables, _active=_active)
OutputSampler = bind(_ref.OutputSampler, __name__, **_KERNELS)
FullSoftmax = bind(_ref.FullSoftmax, __name__, **_KERNELS)
LSHSampler = bind(_ref.LSHSampler, __name__, **_KERNELS)
UniformSampler = bind(_ref.UniformSampler, __name__, **_KERNELS)
UnigramSampler = bind(_ref.UnigramSampler, __name__, **_KERNELS)
LogUniformSampler = bind(_ref.LogUniformSampler, __name__, **_KERNELS)
SAMPLERS = _ref.SAMPLERS
MASK = _ref.MASK
MAX_HARD_NEGATIVES = _ref.MAX_HARD_NEGATIVES


def make_sampler(name, module=None, **params):
    """A sampler by its command-line name, built from this backend by default."""
    return _ref.make_sampler(name, sys.modules[__name__] if module is None else module, **params)
