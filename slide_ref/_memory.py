"""Allocation of the engine's large arrays: alignment and memory estimates.

Alignment
---------

NumPy aligns its buffers to 16 bytes.  Starting weight, gradient and moment arrays
on a cache-line (64-byte) boundary means a row whose width is a multiple of 16
floats never has a SIMD load that straddles two cache lines, the reason Optimized
SLIDE allocates with ``aligned_alloc(64)``.  The arrays stay plain NumPy arrays
(views of a slightly larger byte buffer), so saving, loading and both backends see
nothing different.  Large NumPy buffers are already advised as transparent huge
pages by NumPy itself (``slide_fast.show_config()`` reports it).

Memory estimates
----------------
A network with 10**9 outputs, tables with ``range_pow=30`` or a sketch of
terabytes would otherwise be allocated piece by piece until NumPy fails (after
gigabytes are taken) or the kernel's OOM killer ends the process.  The
``*_nbytes`` helpers compute what a structure will take before anything is
allocated, and :func:`check_allocation` compares that with the memory
available, refusing with :class:`InsufficientMemoryError` (both a
``MemoryError`` and a ``ValueError``) whose message gives both numbers in GiB
and names what was being built.  Where the helpers must be called:

* ``SlideNetwork.__init__`` (and ``from_state``):
  ``check_allocation(network_nbytes(...), "a SlideNetwork ...")`` before the
  first layer is created;
* ``LSHTables.build`` / ``_fill``: ``lsh_tables_nbytes(...)`` before the kernels
  build the tables;
* ``NWSketch.__init__`` / ``reset``: ``sketch_nbytes(n_rows, n_buckets)``;
* loaders (model, sketch and state files): the sizes their metadata implies,
  before any member is read.
"""
import math
import os

import numpy as np

ALIGN = 64

__all__ = ["ALIGN", "aligned_empty", "aligned_zeros", "aligned_copy", "is_aligned",
           "InsufficientMemoryError", "available_memory", "check_allocation",
           "array_nbytes", "network_nbytes", "lsh_tables_nbytes", "sketch_nbytes"]


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


# ----------------------------------------------------------------------------
# Memory estimates
# ----------------------------------------------------------------------------

GIB = 2**30
MEMORY_LIMIT_ENV = "SLIDE_MEMORY_LIMIT"


class InsufficientMemoryError(MemoryError, ValueError):
    """An allocation refused before it started, because it would not fit.

    A ``MemoryError`` (what running out of memory raises anyway) and a
    ``ValueError`` (the request is a bad argument for this machine), so either
    ``except`` catches it.  ``nbytes`` is the estimate, ``available`` the memory
    available when it was checked, ``what`` names the structure.
    """

    def __init__(self, what, nbytes, available):
        self.what, self.nbytes, self.available = what, nbytes, available
        super().__init__(f"{what} needs about {nbytes / GIB:.3g} GiB but only "
                         f"{available / GIB:.3g} GiB of memory is available")


def _meminfo_available(path="/proc/meminfo"):
    """``MemAvailable`` from /proc/meminfo in bytes, or None where there is none."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_int(path):
    try:
        with open(path) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_headroom():
    """Bytes left below this process's cgroup memory limit (v2, else v1), or None.

    In a container /proc/meminfo describes the host, while the cgroup limit is
    what the OOM killer enforces.
    """
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 2**62:   # v1 "no limit" is huge
            return max(0, limit - usage)
    return None


def _sysconf_available():
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _env_limit():
    """The ``SLIDE_MEMORY_LIMIT`` override in bytes, or None when unset."""
    text = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"{MEMORY_LIMIT_ENV} must be a number of bytes, got {text!r}")
    return int(text)


def available_memory():
    """Bytes this process can still allocate, or None when it cannot be told.

    ``SLIDE_MEMORY_LIMIT`` (bytes) overrides everything, for tests and for
    machines shared with other jobs.  Otherwise the smaller of /proc/meminfo's
    ``MemAvailable`` and the cgroup headroom; where neither exists, the free
    physical pages that ``sysconf`` reports.
    """
    override = _env_limit()
    if override is not None:
        return override
    known = [v for v in (_meminfo_available(), _cgroup_headroom()) if v is not None]
    if known:
        return min(known)
    return _sysconf_available()


def check_allocation(nbytes, what):
    """Refuse to build ``what`` when its estimated ``nbytes`` exceed the memory available.

    Raises :class:`InsufficientMemoryError` (a ``MemoryError`` and a
    ``ValueError``) naming ``what`` with the estimate and the available memory
    in GiB; does nothing where the available memory cannot be told.  Returns
    ``nbytes``.  Call it before the first array of the structure is allocated.
    """
    nbytes = int(nbytes)
    available = available_memory()
    if available is not None and nbytes > available:
        raise InsufficientMemoryError(what, nbytes, available)
    return nbytes


def array_nbytes(shape, dtype=np.float32):
    """Bytes of an array of ``shape`` and ``dtype`` (exact integers, no overflow)."""
    shape = (shape,) if np.isscalar(shape) else tuple(shape)
    return math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize


def network_nbytes(n_features, hidden, n_outputs, optimizer="adam", bf16=0):
    """Estimated peak bytes of a ``SlideNetwork``'s arrays while it is created.

    Per layer of ``n_in * n_out`` weights: the float32 weights and gradients
    (8 bytes a weight), Adam's two moments unless ``optimizer="sgd"`` (8 more),
    the uint16 low halves with ``bf16=2`` or the bf16 shadow with ``bf16=3`` (2 more;
    counted on every layer, an upper bound), and the same per bias.  While
    a layer is initialised its weights exist once more as float64 and float32
    (12 bytes a weight), so the largest layer adds that on top.

    An upper bound: a layer's initial draws are freed before its gradient and
    moments are allocated, so with Adam the measured peak of building (or
    loading, the saved arrays aside) is the final size, the first sum above
    (``tests/test_memory.py`` measures it; ``docs/slide.md``, "Memory and scale",
    has the 670k- and 3M-label shapes).
    """
    widths = [int(n_features)] + [int(h) for h in hidden] + [int(n_outputs)]
    per_value = 8 + (0 if optimizer == "sgd" else 8) + (2 if int(bf16) in (2, 3) else 0)
    sizes = [n_in * n_out + n_out for n_in, n_out in zip(widths[:-1], widths[1:])]
    return sum(sizes) * per_value + max(sizes) * 12


def lsh_tables_nbytes(L, range_pow, n_items, capacity=0):
    """Estimated bytes of ``L`` compact hash tables of ``2**range_pow`` buckets.

    Offsets and per-bucket counts (at most 12 bytes a bucket per table while they
    are built) plus one int32 member per stored item and table; with a
    ``capacity`` (items per bucket, 0 for none) a table stores at most
    ``capacity * 2**range_pow`` items.
    """
    n_buckets = 2 ** int(range_pow)
    stored = int(n_items) if not capacity else min(int(n_items), int(capacity) * n_buckets)
    return int(L) * ((n_buckets + 1) * 12 + stored * 4)


def sketch_nbytes(n_rows, n_buckets):
    """Bytes of an NW-sketch table: ``n_rows * n_buckets`` (count, sum) float64 pairs."""
    return array_nbytes((n_rows, n_buckets, 2), np.float64)
