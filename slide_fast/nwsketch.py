"""NW sketch and example samplers on the Cython kernels (API of :mod:`slide_ref.nwsketch`)."""
from slide_ref import nwsketch as _ref

from . import lsh as _lsh
from ._binding import bind
from ._kernels import sketch as _sketch

__all__ = list(_ref.__all__)

NWSketch = bind(_ref.NWSketch, __name__, _sk=_sketch, _lsh=_lsh)
NWSampler = bind(_ref.NWSampler, __name__, _sketch_cls=NWSketch)
UniformExamples = _ref.UniformExamples
LossImportance = _ref.LossImportance
SelectiveBackprop = _ref.SelectiveBackprop
train_with_sampler = _ref.train_with_sampler
per_sample_losses = _ref.per_sample_losses
pstable_collision_probability = _ref.pstable_collision_probability
FORMAT = _ref.FORMAT
