"""``SlideClassifier`` on the fast engine (API of :mod:`slide_ref.classifier`)."""
from slide_ref import classifier as _ref

from ._binding import bind

__all__ = list(_ref.__all__)

SlideClassifier = bind(_ref.SlideClassifier, __name__)
FORMAT = _ref.FORMAT
PRESETS = _ref.PRESETS
DEFAULT_PRESET = _ref.DEFAULT_PRESET
preset_components = _ref.preset_components
