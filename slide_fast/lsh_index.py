"""The LSH index of a sampled layer on the Cython kernels (API of :mod:`slide_ref.lsh_index`)."""
from slide_ref import lsh_index as _ref

from ._binding import mirror

mirror(_ref, globals())
