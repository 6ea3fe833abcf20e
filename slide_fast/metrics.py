"""Re-export of :mod:`slide_ref.metrics` (pure Python; no kernels to bind)."""
from slide_ref import metrics as _ref

from ._binding import mirror

mirror(_ref, globals())
