"""Re-export of :mod:`slide_ref.metrics` (pure Python; no kernels to bind)."""
from slide_ref import metrics as _ref

__all__ = list(getattr(_ref, "__all__", [n for n in dir(_ref) if not n.startswith("_") and callable(getattr(_ref, n)) and getattr(getattr(_ref, n), "__module__", "") == _ref.__name__]))
globals().update({_name: getattr(_ref, _name) for _name in __all__})
