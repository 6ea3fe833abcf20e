"""Re-export of :mod:`slide_ref.metrics` (pure Python; no kernels to bind)."""
from slide_ref.metrics import *  # noqa: F401,F403
from slide_ref.metrics import __all__  # noqa: F401
