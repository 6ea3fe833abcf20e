"""NW sketch and example samplers on the Cython kernels (API of :mod:`slide_ref.nwsketch`)."""
from slide_ref import nwsketch as _ref

from ._binding import bind

__all__ = list(_ref.__all__)

# the hash families and the sampler's sketch are found in this package (slide_fast.lsh,
# this module) from the class's module, so the kernel package is the only binding
NWSketch = bind(_ref.NWSketch, __name__)
NWSampler = bind(_ref.NWSampler, __name__)
UniformExamples = _ref.UniformExamples
LossImportance = _ref.LossImportance
SelectiveBackprop = _ref.SelectiveBackprop
train_with_sampler = _ref.train_with_sampler
per_sample_losses = _ref.per_sample_losses
pstable_collision_probability = _ref.pstable_collision_probability
FORMAT = _ref.FORMAT
MAX_LOSS = _ref.MAX_LOSS
MAX_COUNT = _ref.MAX_COUNT
