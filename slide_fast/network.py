"""The SLIDE training engine on the Cython kernels (API of :mod:`slide_ref.network`)."""
from slide_ref import network as _ref

from ._binding import mirror

mirror(_ref, globals())
