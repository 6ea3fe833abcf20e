"""The SLIDE training engine on the Cython kernels (API of :mod:`slide_ref.network`)."""
from slide_ref import network as _ref

from ._binding import bind

__all__ = list(_ref.__all__)

SlideNetwork = bind(_ref.SlideNetwork, __name__)
LSHParams = _ref.LSHParams
TableSchedule = _ref.TableSchedule
check_labels = _ref.check_labels
