"""LSH hash families and tables on the Cython kernels (API of :mod:`slide_ref.lsh`)."""
import sys

from slide_ref import lsh as _ref

from ._binding import bind

__all__ = list(_ref.__all__)

WTAHash = bind(_ref.WTAHash, __name__)
DWTAHash = bind(_ref.DWTAHash, __name__)
SimHash = bind(_ref.SimHash, __name__)
DensifiedMinHash = bind(_ref.DensifiedMinHash, __name__)
PStableHash = bind(_ref.PStableHash, __name__)
LSHTables = bind(_ref.LSHTables, __name__)
LSHParams = _ref.LSHParams
HASH_FAMILIES = _ref.HASH_FAMILIES
SELECTIONS = _ref.SELECTIONS


def hash_family_class(name, module=None):
    return _ref.hash_family_class(name, module or sys.modules[__name__])


def hash_family_from_state(state, module=None, random_state=None, source="<state>"):
    return _ref.hash_family_from_state(state, module or sys.modules[__name__], random_state,
                                       source)


hash_family_class.__doc__ = _ref.hash_family_class.__doc__
hash_family_from_state.__doc__ = _ref.hash_family_from_state.__doc__
