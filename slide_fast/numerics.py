"""The bf16 number formats on the Cython kernels (API of :mod:`slide_ref.numerics`)."""
from slide_ref import numerics as _ref

from ._binding import bind

__all__ = list(_ref.__all__)

Numerics = bind(_ref.Numerics, __name__)
check_bf16 = _ref.check_bf16
