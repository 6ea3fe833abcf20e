"""Output-layer samplers on the Cython kernels (API of :mod:`slide_ref.negative`)."""
import sys

from slide_ref import negative as _ref

from ._binding import bind

__all__ = list(_ref.__all__)

OutputSampler = bind(_ref.OutputSampler, __name__)
FullSoftmax = bind(_ref.FullSoftmax, __name__)
LSHSampler = bind(_ref.LSHSampler, __name__)
UniformSampler = bind(_ref.UniformSampler, __name__)
UnigramSampler = bind(_ref.UnigramSampler, __name__)
LogUniformSampler = bind(_ref.LogUniformSampler, __name__)
LSHParams = _ref.LSHParams
SAMPLERS = _ref.SAMPLERS
MASK = _ref.MASK
MAX_HARD_NEGATIVES = _ref.MAX_HARD_NEGATIVES
sampler_spec = _ref.sampler_spec


def make_sampler(name, module=None, **params):
    """A sampler by its command-line name, built from this backend by default."""
    return _ref.make_sampler(name, sys.modules[__name__] if module is None else module, **params)


def sampler_from_spec(spec, module=None, source="<state>"):
    """Rebuild a sampler from its description, from this backend by default."""
    return _ref.sampler_from_spec(spec, sys.modules[__name__] if module is None else module,
                                  source)
