"""Soft-label zero-shot learning on the Cython kernels (API of :mod:`slide_ref.zsl`).

The network's layers are the engine's dense layers: the reference binds
``slide_ref._kernels.network``; here ``slide_fast._kernels.zsl`` provides the
twins of its ``dense_forward``/``dense_backward`` as BLAS calls (the batches
are dense) and re-exports the engine's SIMD ``adam_step``.  The baselines
(closed-form ESZSL, SJE) are NumPy code without kernels of their own and are
the reference classes themselves.
"""
from slide_ref import zsl as _ref

from ._binding import bind
from ._kernels import zsl as _zk

__all__ = list(_ref.__all__)

SoftLabelZSL = bind(_ref.SoftLabelZSL, __name__, _nn=_zk, _zk=_zk)
ESZSL = _ref.ESZSL
SJE = _ref.SJE
similarity_targets = _ref.similarity_targets
evaluate_zsl = _ref.evaluate_zsl
tune_calibration = _ref.tune_calibration
gbu_protocol = _ref.gbu_protocol
