"""Optimizers on the Cython kernels (API of :mod:`slide_ref.optimizers`)."""
from slide_ref import optimizers as _ref

from ._binding import mirror

mirror(_ref, globals())
