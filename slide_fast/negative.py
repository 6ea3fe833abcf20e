"""Output-layer samplers on the Cython kernels (API of :mod:`slide_ref.negative`)."""
from slide_ref import negative as _ref

from ._binding import mirror

mirror(_ref, globals(), also=["MAX_HARD_NEGATIVES"])
