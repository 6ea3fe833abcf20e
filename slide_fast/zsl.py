"""Soft-label zero-shot learning on the Cython kernels (API of :mod:`slide_ref.zsl`).

Each estimator is the reference class with ``_kernels`` bound to this backend's
kernel package: ``_kernels.zsl`` provides the attribute layer's fused kernel,
``standardize`` and the network's ``dense_forward``/``dense_backward`` as BLAS
calls (the batches are dense), and ``_kernels.network.adam_step`` is the
engine's SIMD Adam.  ESZSL and SJE are NumPy code apart from the input
standardisation, which they share.
"""
from slide_ref import zsl as _ref

from ._binding import mirror

mirror(_ref, globals())
