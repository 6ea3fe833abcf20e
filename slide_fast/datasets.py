"""Re-export of :mod:`slide_ref.datasets` (pure Python; no kernels to bind)."""
from slide_ref.datasets import *  # noqa: F401,F403
from slide_ref.datasets import __all__  # noqa: F401
