"""The bf16 number formats on the Cython kernels (API of :mod:`slide_ref.numerics`)."""
from slide_ref import numerics as _ref

from ._binding import mirror

mirror(_ref, globals())
