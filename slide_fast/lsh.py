"""LSH hash families and tables on the Cython kernels (API of :mod:`slide_ref.lsh`)."""
import sys

from slide_ref import lsh as _ref

from ._binding import bind
from ._kernels import hashing as _hashing
from ._kernels import tables as _tables

__all__ = list(_ref.__all__)

WTAHash = bind(_ref.WTAHash, __name__, _kernels=_hashing)
DWTAHash = bind(_ref.DWTAHash, __name__, _kernels=_hashing)
SimHash = bind(_ref.SimHash, __name__, _kernels=_hashing)
DensifiedMinHash = bind(_ref.DensifiedMinHash, __name__, _kernels=_hashing)
PStableHash = bind(_ref.PStableHash, __name__, _kernels=_hashing)
LSHTables = bind(_ref.LSHTables, __name__, _kernels=_tables)


def hash_family_from_state(state, module=None, random_state=None):
    return _ref.hash_family_from_state(state, module or sys.modules[__name__], random_state)


hash_family_from_state.__doc__ = _ref.hash_family_from_state.__doc__
