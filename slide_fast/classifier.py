"""``SlideClassifier`` on the fast engine (API of :mod:`slide_ref.classifier`)."""
from slide_ref import classifier as _ref

from ._binding import mirror

mirror(_ref, globals())
