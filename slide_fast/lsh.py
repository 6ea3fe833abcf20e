"""LSH hash families and tables on the Cython kernels (API of :mod:`slide_ref.lsh`)."""
from slide_ref import lsh as _ref

from ._binding import mirror

mirror(_ref, globals(), also=["LSHParams", "SELECTIONS"])
