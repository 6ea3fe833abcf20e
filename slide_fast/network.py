"""The SLIDE training engine on the Cython kernels (API of :mod:`slide_ref.network`)."""
from slide_ref import network as _ref

from . import lsh as _lsh
from . import negative as _negative
from ._binding import bind
from ._kernels import active as _active
from ._kernels import bf16 as _bf16
from ._kernels import hashing as _hashing
from ._kernels import network as _nn
from ._kernels import tables as _tables

__all__ = list(_ref.__all__)

SlideNetwork = bind(_ref.SlideNetwork, __name__, _nn=_nn, _bf16=_bf16, _active=_active,
                    _hashing=_hashing, _tables=_tables, _lsh=_lsh, _negative=_negative)
TableSchedule = _ref.TableSchedule
check_labels = _ref.check_labels
