"""The LSH index of a sampled layer on the Cython kernels (API of :mod:`slide_ref.lsh_index`)."""
from slide_ref import lsh_index as _ref

from ._binding import bind

__all__ = list(_ref.__all__)

LSHIndex = bind(_ref.LSHIndex, __name__)
