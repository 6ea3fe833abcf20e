"""Re-export of :mod:`slide_ref.datasets` (pure Python; no kernels to bind)."""
from slide_ref import datasets as _ref

from ._binding import mirror

# the loaders' error is importable from here as from slide_ref, though not in __all__
mirror(_ref, globals(), also=["ArchiveUnavailableError"])
