"""Allocation of the engine's large arrays on 64-byte boundaries.

NumPy aligns its buffers to 16 bytes.  Starting weight, gradient and moment arrays
on a cache-line (64-byte) boundary means a row whose width is a multiple of 16
floats never has a SIMD load that straddles two cache lines, the reason Optimized
SLIDE allocates with ``aligned_alloc(64)``.  The arrays stay plain NumPy arrays
(views of a slightly larger byte buffer), so saving, loading and both backends see
nothing different.  Large NumPy buffers are already advised as transparent huge
pages by NumPy itself (``slide_fast.show_config()`` reports it).
"""
import numpy as np

ALIGN = 64

__all__ = ["ALIGN", "aligned_empty", "aligned_zeros", "aligned_copy", "is_aligned"]


def aligned_empty(shape, dtype=np.float32, align=ALIGN):
    """An uninitialized C-contiguous array whose first element sits on ``align`` bytes."""
    dtype = np.dtype(dtype)
    shape = (shape,) if np.isscalar(shape) else tuple(shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buf = np.empty(nbytes + align, dtype=np.uint8)
    offset = (-buf.ctypes.data) % align
    return buf[offset:offset + nbytes].view(dtype).reshape(shape)


def aligned_zeros(shape, dtype=np.float32, align=ALIGN):
    """Like :func:`numpy.zeros`, on an ``align``-byte boundary."""
    out = aligned_empty(shape, dtype, align)
    out[...] = 0
    return out


def aligned_copy(a, dtype=None, align=ALIGN):
    """A C-contiguous copy of ``a`` (cast to ``dtype`` if given) on an ``align``-byte boundary."""
    a = np.asarray(a)
    out = aligned_empty(a.shape, a.dtype if dtype is None else dtype, align)
    out[...] = a
    return out


def is_aligned(a, align=ALIGN):
    return a.ctypes.data % align == 0
