"""Re-export of :mod:`slide_ref.metrics` (pure Python; no kernels to bind)."""
from slide_ref import metrics as _ref

__all__ = list(_ref.__all__)
globals().update({_name: getattr(_ref, _name) for _name in __all__})
