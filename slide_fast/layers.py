"""The engine's layers on the Cython kernels (API of :mod:`slide_ref.layers`)."""
from slide_ref import layers as _ref

from ._binding import bind

__all__ = list(_ref.__all__)

InputLayer = bind(_ref.InputLayer, __name__)
DenseLayer = bind(_ref.DenseLayer, __name__)
SampledHiddenLayer = bind(_ref.SampledHiddenLayer, __name__)
SampledOutputLayer = bind(_ref.SampledOutputLayer, __name__)
BlockOutputLayer = bind(_ref.BlockOutputLayer, __name__)
BatchContext = _ref.BatchContext
ActiveSet = _ref.ActiveSet
Block = _ref.Block
InputRecord = _ref.InputRecord
