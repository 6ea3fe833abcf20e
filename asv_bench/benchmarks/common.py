"""Shared data, parameters and helpers of the benchmark suite.

Data are seeded and cached per process (``functools.lru_cache``), made
read-only so that no benchmark can change another's input.  Every benchmark
runs on ``N_THREADS`` threads and pins the BLAS pool to the same number, so
the reference's matrix products and the fast kernels use the same cores.
"""
import functools
import importlib
import os

import numpy as np
import scipy.sparse as sp

#: Threads of every timed call (the benchmark machine has 2 cores).
N_THREADS = 2
SEED = 0

#: ``make bench-quick`` sets ``SLIDE_BENCH_QUICK=1``: the end-to-end benchmarks then
#: train a handful of steps on small data (asv itself does not tell a benchmark that
#: it runs under ``--quick``). Their numbers are meaningless in that mode.
QUICK = os.environ.get("SLIDE_BENCH_QUICK", "") == "1"

BACKENDS = ["ref", "fast"]
#: SIMD levels benchmarked for ``fast``; those the CPU lacks are skipped.
SIMD_LEVELS = ["scalar", "avx2", "avx512"]
#: The reference has no SIMD levels: it runs under this value only.
REF_SIMD = "scalar"

_MODULES = {"ref": "slide_ref", "fast": "slide_fast"}

# Imported here so that asv's fork server loads them once, not in every
# benchmark process; a missing backend fails later, in the benchmarks using it.
for _name in _MODULES.values():
    try:
        importlib.import_module(_name)
    except ImportError:
        pass


def backend(name):
    """The ``slide_ref`` or ``slide_fast`` module for ``"ref"`` or ``"fast"``."""
    return importlib.import_module(_MODULES[name])


def select(name, simd):
    """Backend module for one (backend, simd) parameter pair, for ``setup``.

    Sets the SIMD level of ``slide_fast``.  Raises ``NotImplementedError``
    (asv then reports the combination as skipped) for ``ref`` with any level
    but ``REF_SIMD`` and for a level this CPU lacks.
    """
    module = backend(name)
    if name == "ref":
        if simd != REF_SIMD:
            raise NotImplementedError("the reference has no SIMD levels")
        return module
    if simd not in module.available_simd_levels():
        raise NotImplementedError(f"this CPU lacks SIMD level {simd!r}")
    module.set_simd_level(simd)
    return module


def reset_simd():
    """Back to the best level (``teardown`` of benchmarks that call :func:`select`)."""
    backend("fast").set_simd_level("best")


class Pinned:
    """Mixin: BLAS pool pinned to ``N_THREADS`` around each benchmark.

    Subclasses call ``self.pin()`` in ``setup``; ``teardown`` restores the
    pool and the SIMD level.
    """

    _limits = None

    def pin(self):
        from threadpoolctl import threadpool_limits
        self._limits = threadpool_limits(limits=N_THREADS, user_api="blas")

    def teardown(self, *params):
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None
        reset_simd()


class OneShot:
    """Mixin: one call per sample, no warm-up (benchmarks that train or time their own
    loop and return a tracked value)."""

    number = 1
    repeat = 1
    warmup_time = 0


def train_window(model, X, Y, n_batches, start=0, batch=128):
    """Train ``n_batches`` consecutive batches of ``batch`` rows; batch ``b`` starts at
    row ``(b * batch) % (n - batch)``, so the windows slide over the data and wrap."""
    for b in range(start, start + n_batches):
        lo = (b * batch) % (X.shape[0] - batch)
        model.train_batch(X[lo:lo + batch], Y[lo:lo + batch])


def _readonly(a):
    a.flags.writeable = False
    return a


@functools.lru_cache(maxsize=None)
def dense(n, d=128, seed=SEED):
    """Standard Gaussian ``float32`` matrix ``[n, d]``."""
    rng = np.random.default_rng(seed)
    return _readonly(rng.standard_normal((n, d), dtype=np.float32))


@functools.lru_cache(maxsize=None)
def queries(n_queries, n_items, d=128, noise=0.5, seed=SEED + 1):
    """Queries near the first ``n_queries`` items of :func:`dense` (``item + noise * N(0, I)``).

    Query ``q`` is a noisy copy of item ``q``, so the recall of one's own
    item is a meaningful (and deterministic) tracked quantity.
    """
    if n_queries > n_items:
        raise ValueError("n_queries must not exceed n_items")
    rng = np.random.default_rng(seed)
    q = dense(n_items, d)[:n_queries] + noise * rng.standard_normal((n_queries, d),
                                                                     dtype=np.float32)
    return _readonly(q.astype(np.float32))


@functools.lru_cache(maxsize=None)
def csr(n=10_000, d=10_000, nnz_per_row=40, seed=SEED):
    """Random CSR ``float32`` matrix ``[n, d]`` with about ``nnz_per_row`` entries per row.

    Columns are uniform (duplicates merged, so slightly fewer than
    ``nnz_per_row``), values uniform in ``[0, 1)`` like tf-idf features.
    """
    rng = np.random.default_rng(seed)
    cols = np.sort(rng.integers(0, d, size=(n, nnz_per_row), dtype=np.int32), axis=1)
    keep = np.ones(cols.shape, dtype=bool)
    keep[:, 1:] = cols[:, 1:] != cols[:, :-1]
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(keep.sum(axis=1), out=indptr[1:])
    data = rng.random(int(indptr[-1]), dtype=np.float32) + np.float32(1e-3)
    X = sp.csr_matrix((data, cols[keep], indptr), shape=(n, d))
    X.sum_duplicates()  # no-op that marks the canonical format, so no copy per call
    for a in (X.data, X.indices, X.indptr):
        _readonly(a)
    return X
