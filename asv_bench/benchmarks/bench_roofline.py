"""Roofline of the training kernels: achieved GFLOP/s and GB/s against the machine's peaks.

Machine peaks, measured on ``N_THREADS`` threads (:func:`machine_peaks`):

* ``gemm``: NumPy (OpenBLAS) float32 matmul of two 1024 x 1024 matrices, BLAS
  pinned to the same threads, ``2 n^3`` flops: the GEMM peak;
* ``gemm_block``: the same BLAS on the output block's forward shape
  (``[B, d] @ [d, C]``): what a tuned GEMM reaches at this small size;
* ``copy``: ``np.copyto`` of a 64 MB float32 array (beyond the last-level cache),
  counted as read + write (``2 x 64 MB``; the write-allocate reads are not counted).

Peaks are the best of ``3 x REPEATS`` calls, each short (tens of milliseconds), so that
on a shared machine some run undisturbed.

``slide_fast`` kernels at the shapes of a training step of the ``batch-hard`` model of
configuration A (batch 128, 128 hidden units, one candidate set of 1,247 rows
shared by the batch out of 10,000 output rows: the batch's labels, 1,000 shared
negatives and the remembered hard negatives); flops counted from the shapes, one
multiply-add = 2 flops (:func:`kernel_rates`):

* ``block_forward``: ``Z = A W[rows]^T + b[rows]``: ``2 B d C``;
* ``block_backward``: ``dA = delta W[rows]`` and ``gW[rows] += delta^T A``: ``4 B d C``;
* ``block_backward_adam``: the same with lazy Adam on the ``C`` rows fused in;
  rated by its flops (the Adam traffic comes on top);
* ``dense_forward`` / ``dense_backward``: a dense layer with W [128][10,000];
* ``sampled_forward`` / ``sampled_backward``: the per-pair kernels of SLIDE's sampled
  output, 1,000 distinct random active rows per sample out of 100,000 (rows of W
  [100,000][128]): ``2 d nnz`` and ``4 d nnz`` (the same useful work as the block
  kernels at ~1,000 active rows per sample);
* ``adam_step``: dense Adam over 100,000 x 128 weights, bytes moved ``28 n``
  (w, g, m, v read; w, m, v written and g zeroed, 4 bytes each); ``lazy_adam``:
  the same restricted to 30,000 random rows;
* ``adam_catchup_rows``: catch-up Adam of 30,000 random rows (w, m, v read and
  written: ``24`` bytes per weight).

Each value is the best of ``REPEATS`` calls (after one warm-up call): the kernel's peak
rate, not an average over a training run. ``Kernels`` reports each rate at every
SIMD level of the CPU (``SLIDE_FAST_SIMD`` / ``slide_fast.set_simd_level``) and its
share of the matching machine peak (``track_*_pct``, :func:`peak_for`): the GEMMs
against the better of ``gemm`` and ``gemm_block``, Adam against ``copy``.
``paper_figures/fig12_roofline.py`` renders the same measurements as the docs table.
"""
import time

import numpy as np

from .common import N_THREADS, QUICK, OneShot, Pinned, backend

B, D = 128, 128
N_DENSE = 10_000
N_OUT = 10_000
BLOCK = 1_247
N_ADAM = 100_000
LAZY_ROWS = 30_000
REPEATS = 1 if QUICK else 5
#: full sizes, and the tiny ones of ``--smoke`` figure runs
ACTIVE = 1_000
SHAPES = dict(B=B, D=D, N_DENSE=N_DENSE, N_OUT=N_OUT, BLOCK=BLOCK, N_ADAM=N_ADAM,
              LAZY_ROWS=LAZY_ROWS, ACTIVE=ACTIVE, GEMM_N=1024, COPY_MB=64)
SMOKE_SHAPES = dict(B=32, D=32, N_DENSE=500, N_OUT=1_000, BLOCK=100, N_ADAM=2_000,
                    LAZY_ROWS=500, ACTIVE=100, GEMM_N=256, COPY_MB=8)
ADAM = (1e-3, 0.9, 0.999, 1e-8)
#: which peak bounds each kernel's rate, and its unit
PEAK_OF = {"block_forward": "gemm", "block_backward": "gemm", "block_backward_adam": "gemm",
           "dense_forward": "gemm", "dense_backward": "gemm", "sampled_forward": "gemm",
           "sampled_backward": "gemm", "adam_step": "copy",
           "lazy_adam": "copy", "adam_catchup_rows": "copy"}


def peak_for(name, peaks):
    """The machine peak that bounds kernel ``name``: for GEMMs the better of BLAS on the
    square and on the block's shape, for Adam the copy bandwidth."""
    if PEAK_OF[name] == "copy":
        return peaks["copy"]
    return max(peaks["gemm"], peaks["gemm_block"])


def best_time(fn, repeats=REPEATS):
    """The fastest of ``repeats`` calls of ``fn`` after one warm-up call, in seconds."""
    fn()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def machine_peaks(shapes=SHAPES, repeats=REPEATS, n_threads=N_THREADS):
    """``{"gemm", "gemm_block": GFLOP/s, "copy": GB/s}`` with BLAS on ``n_threads`` threads."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=n_threads, user_api="blas"):
        return _peaks(shapes, repeats)


def _peaks(shapes, repeats):
    repeats *= 3
    rng = np.random.default_rng(0)
    n = shapes["GEMM_N"]
    a, b = rng.standard_normal((2, n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    gemm = 2 * n ** 3 / best_time(lambda: np.matmul(a, b, out=c), repeats) / 1e9
    Bn, d, C = shapes["B"], shapes["D"], shapes["BLOCK"]
    A = rng.standard_normal((Bn, d), dtype=np.float32)
    Wt = rng.standard_normal((d, C), dtype=np.float32)
    Z = np.empty((Bn, C), np.float32)
    gemm_block = 2 * Bn * d * C / best_time(lambda: np.matmul(A, Wt, out=Z), repeats) / 1e9
    src = np.ones(shapes["COPY_MB"] * 2 ** 18, np.float32)
    dst = np.zeros_like(src)
    copy = 2 * src.nbytes / best_time(lambda: np.copyto(dst, src), repeats) / 1e9
    return {"gemm": gemm, "gemm_block": gemm_block, "copy": copy}


class KernelCase:
    """The arrays of every timed kernel call, at ``shapes``; :meth:`rates` times them."""

    def __init__(self, shapes=SHAPES, n_threads=N_THREADS, seed=0):
        from slide_fast._kernels import network as nn
        self.nn, s, self.n_threads = nn, shapes, n_threads
        rng = np.random.default_rng(seed)
        self.B, self.D, self.C = s["B"], s["D"], s["BLOCK"]
        self.A = np.maximum(rng.standard_normal((s["B"], s["D"]), dtype=np.float32), 0)
        # dense layer [in][out]
        self.Wd = rng.standard_normal((s["D"], s["N_DENSE"]), dtype=np.float32) * 0.1
        self.bd = np.zeros(s["N_DENSE"], np.float32)
        self.delta_d = rng.standard_normal((s["B"], s["N_DENSE"]), dtype=np.float32) * 1e-3
        self.gWd, self.gbd = np.zeros_like(self.Wd), np.zeros_like(self.bd)
        # output layer [out][in] and its block
        self.Wo = rng.standard_normal((s["N_OUT"], s["D"]), dtype=np.float32) * 0.1
        self.bo = np.zeros(s["N_OUT"], np.float32)
        self.gWo, self.gbo = np.zeros_like(self.Wo), np.zeros_like(self.bo)
        self.mo = np.zeros_like(self.Wo)
        self.vo = np.full_like(self.Wo, 1e-6)
        self.rows = np.sort(rng.choice(s["N_OUT"], s["BLOCK"], replace=False)).astype(np.int32)
        self.delta_b = rng.standard_normal((s["B"], s["BLOCK"]), dtype=np.float32) * 1e-3
        # Adam over a large layer
        self.W = rng.standard_normal((s["N_ADAM"], s["D"]), dtype=np.float32)
        self.g = rng.standard_normal((s["N_ADAM"], s["D"]), dtype=np.float32) * 1e-3
        self.m = np.zeros_like(self.W)
        self.v = np.full_like(self.W, 1e-6)
        self.lazy_rows = np.sort(rng.choice(s["N_ADAM"], s["LAZY_ROWS"],
                                            replace=False)).astype(np.int32)
        self.last = np.zeros(s["N_ADAM"], np.int64)
        self.t = 10
        # SLIDE's per-sample active sets over the rows of W
        ids = [np.sort(rng.choice(s["N_ADAM"], s["ACTIVE"], replace=False))
               for _ in range(s["B"])]
        self.act_ids = np.concatenate(ids).astype(np.int32)
        self.act_indptr = np.arange(0, s["B"] * s["ACTIVE"] + 1, s["ACTIVE"], dtype=np.int64)
        self.delta_s = rng.standard_normal(self.act_ids.size, dtype=np.float32) * 1e-3
        self.bs, self.gWs = np.zeros(s["N_ADAM"], np.float32), np.zeros_like(self.W)
        self.gbs = np.zeros_like(self.bs)

    def _catchup(self):
        # every call catches up rows that missed 9 steps (``last`` moves, so it is reset)
        self.last[:] = 0
        self.nn.adam_catchup_rows(self.W, self.m, self.v, None, None, None, self.lazy_rows,
                                  self.last, self.t, *ADAM, self.n_threads)

    def calls(self):
        """``{kernel: (call, work)}``: work in flops (GEMMs) or bytes (Adam)."""
        nn, B, d, C, T = self.nn, self.B, self.D, self.C, self.n_threads
        n_dense, n_w, n_lazy = self.Wd.shape[1], self.W.size, self.lazy_rows.size * self.D
        n_pairs = self.act_ids.size
        return {
            "block_forward": (lambda: nn.block_forward(self.A, self.Wo, self.rows, self.bo, T),
                              2 * B * d * C),
            "block_backward": (lambda: nn.block_backward(self.A, self.Wo, self.rows,
                                                         self.delta_b, self.gWo, self.gbo,
                                                         True, True, T), 4 * B * d * C),
            "block_backward_adam": (lambda: nn.block_backward_adam(
                self.A, self.Wo, self.rows, self.delta_b, self.mo, self.vo, self.gbo,
                *ADAM, True, True, T), 4 * B * d * C),
            "dense_forward": (lambda: nn.dense_forward(self.A, self.Wd, self.bd, False, T),
                              2 * B * d * n_dense),
            "dense_backward": (lambda: nn.dense_backward(self.A, self.Wd, self.delta_d,
                                                         self.gWd, self.gbd, True, True, T),
                               4 * B * d * n_dense),
            "sampled_forward": (lambda: nn.sampled_forward(self.A, self.W, self.bs,
                                                           self.act_indptr, self.act_ids,
                                                           False, T), 2 * d * n_pairs),
            "sampled_backward": (lambda: nn.sampled_backward(self.A, self.W, self.act_indptr,
                                                             self.act_ids, self.delta_s,
                                                             self.gWs, self.gbs, True, True,
                                                             T), 4 * d * n_pairs),
            "adam_step": (lambda: nn.adam_step(self.W, self.g, self.m, self.v, None, *ADAM, T),
                          28 * n_w),
            "lazy_adam": (lambda: nn.adam_step(self.W, self.g, self.m, self.v, self.lazy_rows,
                                               *ADAM, T), 28 * n_lazy),
            "adam_catchup_rows": (self._catchup, 24 * n_lazy),
        }

    def rates(self, repeats=REPEATS):
        """``{kernel: GFLOP/s or GB/s}`` at the current SIMD level."""
        return {name: work / best_time(call, repeats) / 1e9
                for name, (call, work) in self.calls().items()}


def roofline(levels=None, shapes=SHAPES, repeats=REPEATS, n_threads=N_THREADS):
    """``{"peaks": machine_peaks(), "levels": {level: {kernel: rate}}}`` on ``n_threads``
    threads at each SIMD level (default: every level of this CPU), restoring the level in
    use afterwards."""
    fast = backend("fast")
    levels = fast.available_simd_levels() if levels is None else levels
    before = fast.simd_level()
    out = {"peaks": machine_peaks(shapes, repeats, n_threads), "levels": {}}
    case = KernelCase(shapes, n_threads)
    try:
        for level in levels:
            fast.set_simd_level(level)
            out["levels"][level] = case.rates(repeats)
    finally:
        fast.set_simd_level(before)
    return out


class Peaks(OneShot, Pinned):
    timeout = 300

    def setup(self):
        self.pin()
        self.peaks = machine_peaks()

    def track_gemm_gflops(self):
        return self.peaks["gemm"]

    track_gemm_gflops.unit = "GFLOP/s"

    def track_gemm_block_shape_gflops(self):
        return self.peaks["gemm_block"]

    track_gemm_block_shape_gflops.unit = "GFLOP/s"

    def track_copy_gbps(self):
        return self.peaks["copy"]

    track_copy_gbps.unit = "GB/s"


class Kernels(OneShot, Pinned):
    """Each kernel's rate, and its share of the bounding machine peak, per SIMD level."""

    params = (["scalar", "avx2", "avx512"],)
    param_names = ["simd"]
    timeout = 600

    def setup(self, simd):
        self.pin()
        fast = backend("fast")
        if simd not in fast.available_simd_levels():
            raise NotImplementedError(f"this CPU lacks SIMD level {simd!r}")
        self.peaks = machine_peaks()
        fast.set_simd_level(simd)
        self.rates = KernelCase().rates()

    def _pct(self, name):
        return 100 * self.rates[name] / peak_for(name, self.peaks)


def _add_tracks(cls):
    """``track_<kernel>`` (its rate) and ``track_<kernel>_pct`` (share of its peak)."""
    for name, peak in PEAK_OF.items():
        unit = "GB/s" if peak == "copy" else "GFLOP/s"

        def rate(self, simd, _name=name):
            return self.rates[_name]

        def pct(self, simd, _name=name):
            return self._pct(_name)
        rate.unit, pct.unit = unit, "%"
        setattr(cls, f"track_{name}_{'gbps' if peak == 'copy' else 'gflops'}", rate)
        setattr(cls, f"track_{name}_pct", pct)
    return cls


_add_tracks(Kernels)
