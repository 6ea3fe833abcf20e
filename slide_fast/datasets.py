"""Re-export of :mod:`slide_ref.datasets` (pure Python; no kernels to bind)."""
from slide_ref import datasets as _ref

__all__ = list(_ref.__all__)
globals().update({_name: getattr(_ref, _name) for _name in __all__})
ArchiveUnavailableError = _ref.ArchiveUnavailableError  # the loaders' error, as in slide_ref
