"""The engine's layers on the Cython kernels (API of :mod:`slide_ref.layers`)."""
from slide_ref import layers as _ref

from ._binding import mirror

mirror(_ref, globals())
