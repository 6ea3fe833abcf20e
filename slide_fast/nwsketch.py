"""NW sketch and example samplers on the Cython kernels (API of :mod:`slide_ref.nwsketch`)."""
from slide_ref import nwsketch as _ref

from ._binding import mirror

mirror(_ref, globals())
