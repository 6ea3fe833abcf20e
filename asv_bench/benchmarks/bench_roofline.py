"""Roofline of the training kernels: achieved GFLOP/s and GB/s against the machine's peaks.

Machine peaks, measured on ``N_THREADS`` threads:

* ``Peaks.track_gemm_gflops``: NumPy float32 matmul of two 2048 x 2048 matrices
  (BLAS pinned to 2 threads), ``2 n^3`` flops;
* ``Peaks.track_copy_gbps``: ``np.copyto`` of a 256 MB float32 array, counted as
  read + write (``2 x 256 MB``; the write-allocate reads are not counted).

``slide_fast`` kernels at the shapes of a training step (batch 128, 128 hidden
units; flops counted from the shapes, one multiply-add = 2 flops):

* ``dense_forward``: ``Z = A W + b`` with W [128][10,000]: ``2 B d N``;
* ``dense_backward``: ``gW += A^T delta`` and ``dA = delta W^T``: ``4 B d N``;
* ``sampled_forward``: 1,000 distinct random active neurons per sample out of
  100,000 (rows of W [100,000][128]): ``2 d nnz``;
* ``sampled_backward``: the gradient AXPY and the input delta: ``4 d nnz``;
* ``block_forward`` / ``block_backward``: the output layer over a batch-shared
  candidate set of 1,128 rows read in place from W (``batch_labels=True``: 128
  labels plus 1,000 shared negatives): ``2 B d C`` and ``4 B d C`` (the
  same useful work as ``sampled_*`` at ~1,000 active rows per sample);
* ``adam_step``: dense Adam over 100,000 x 128 weights, bytes moved
  ``28 n`` (w, g, m, v read; w, m, v written and g zeroed, 4 bytes each);
  ``lazy_adam_step``: the same restricted to 30,000 random rows.

Each value is the best of 5 calls (after one warm-up call): the kernel's peak
rate, not an average over a training run.
"""
import time

import numpy as np

from .common import N_THREADS, QUICK, OneShot, Pinned, backend

B, D = 128, 128
N_DENSE = 10_000
N_SAMPLED = 100_000
ACTIVE = 1_000
BLOCK = 1_128
N_ADAM = 100_000
LAZY_ROWS = 30_000
REPEATS = 1 if QUICK else 5


def best_time(fn, repeats=REPEATS):
    fn()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


class Peaks(OneShot, Pinned):
    timeout = 300

    def setup(self):
        self.pin()

    def track_gemm_gflops(self):
        n = 2048
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), np.float32)
        return 2 * n ** 3 / best_time(lambda: np.matmul(a, b, out=c)) / 1e9

    track_gemm_gflops.unit = "GFLOP/s"

    def track_copy_gbps(self):
        src = np.ones(64 * 2 ** 20, np.float32)       # 256 MB
        dst = np.zeros_like(src)
        return 2 * src.nbytes / best_time(lambda: np.copyto(dst, src)) / 1e9

    track_copy_gbps.unit = "GB/s"


class Kernels(OneShot, Pinned):
    params = (["scalar", "avx2", "avx512"],)
    param_names = ["simd"]
    timeout = 300

    def setup(self, simd):
        self.pin()
        fast = backend("fast")
        if simd not in fast.available_simd_levels():
            raise NotImplementedError(f"this CPU lacks SIMD level {simd!r}")
        fast.set_simd_level(simd)
        from slide_fast._kernels import network as nn
        self.nn = nn
        rng = np.random.default_rng(0)
        self.A = np.maximum(rng.standard_normal((B, D), dtype=np.float32), 0)
        self.Wd = rng.standard_normal((D, N_DENSE), dtype=np.float32) * 0.1
        self.bd = np.zeros(N_DENSE, np.float32)
        self.delta_d = rng.standard_normal((B, N_DENSE), dtype=np.float32) * 1e-3
        self.gWd = np.zeros_like(self.Wd)
        self.gbd = np.zeros_like(self.bd)
        self.Ws = rng.standard_normal((N_SAMPLED, D), dtype=np.float32) * 0.1
        self.bs = np.zeros(N_SAMPLED, np.float32)
        self.gWs = np.zeros_like(self.Ws)
        self.gbs = np.zeros_like(self.bs)
        ids = [np.sort(rng.choice(N_SAMPLED, ACTIVE, replace=False)) for _ in range(B)]
        self.act_ids = np.concatenate(ids).astype(np.int32)
        self.act_indptr = np.arange(0, B * ACTIVE + 1, ACTIVE, dtype=np.int64)
        self.delta_s = rng.standard_normal(B * ACTIVE, dtype=np.float32) * 1e-3
        self.block_rows = np.sort(rng.choice(N_SAMPLED, BLOCK, replace=False)).astype(np.int32)
        self.delta_b = rng.standard_normal((B, BLOCK), dtype=np.float32) * 1e-3
        self.W = rng.standard_normal((N_ADAM, D), dtype=np.float32)
        self.g = rng.standard_normal((N_ADAM, D), dtype=np.float32) * 1e-3
        self.m = np.zeros_like(self.W)
        self.v = np.zeros_like(self.W)
        self.rows = np.sort(rng.choice(N_ADAM, LAZY_ROWS, replace=False)).astype(np.int32)

    def track_dense_forward_gflops(self, simd):
        t = best_time(lambda: self.nn.dense_forward(self.A, self.Wd, self.bd, False, N_THREADS))
        return 2 * B * D * N_DENSE / t / 1e9

    def track_dense_backward_gflops(self, simd):
        t = best_time(lambda: self.nn.dense_backward(self.A, self.Wd, self.delta_d, self.gWd,
                                                     self.gbd, True, True, N_THREADS))
        return 4 * B * D * N_DENSE / t / 1e9

    def track_sampled_forward_gflops(self, simd):
        t = best_time(lambda: self.nn.sampled_forward(self.A, self.Ws, self.bs, self.act_indptr,
                                                      self.act_ids, False, N_THREADS))
        return 2 * D * self.act_ids.size / t / 1e9

    def track_sampled_backward_gflops(self, simd):
        t = best_time(lambda: self.nn.sampled_backward(self.A, self.Ws, self.act_indptr,
                                                       self.act_ids, self.delta_s, self.gWs,
                                                       self.gbs, True, True, N_THREADS))
        return 4 * D * self.act_ids.size / t / 1e9

    def track_block_forward_gflops(self, simd):
        t = best_time(lambda: self.nn.block_forward(self.A, self.Ws, self.block_rows, self.bs,
                                                    N_THREADS))
        return 2 * B * D * BLOCK / t / 1e9

    def track_block_backward_gflops(self, simd):
        t = best_time(lambda: self.nn.block_backward(self.A, self.Ws, self.block_rows,
                                                     self.delta_b, self.gWs, self.gbs, True, True,
                                                     N_THREADS))
        return 4 * B * D * BLOCK / t / 1e9

    def track_adam_gbps(self, simd):
        t = best_time(lambda: self.nn.adam_step(self.W, self.g, self.m, self.v, None, 1e-3, 0.9,
                                                0.999, 1e-8, N_THREADS))
        return 28 * self.W.size / t / 1e9

    def track_lazy_adam_gbps(self, simd):
        t = best_time(lambda: self.nn.adam_step(self.W, self.g, self.m, self.v, self.rows, 1e-3,
                                                0.9, 0.999, 1e-8, N_THREADS))
        return 28 * self.rows.size * D / t / 1e9

    for _name in list(locals()):
        if _name.startswith("track_"):
            locals()[_name].unit = "GB/s" if "gbps" in _name else "GFLOP/s"
    del _name
