"""Soft-label zero-shot learning: one training epoch and the fused attribute-layer kernel.

Configuration shaped like the GBU benchmark (``research/zsl.md`` section 3):
2048-d ResNet-101-like features, 85 attributes, 50 classes (40 seen, 10 unseen,
as AWA), 4,096 seen-class training samples, one hidden layer of 1024 units,
Adam, 2 threads and the BLAS pool pinned to 2.

* ``TimeEpoch.time_epoch``: one epoch of ``SoftLabelZSL.partial_fit`` (shuffled
  mini-batches: forward, fused softmax/soft-target gradient, backward, Adam),
  at batch sizes 64, 128 (the default) and 256;
* ``TimeGemmFloor.time_epoch_gemms``: only the two large GEMMs of every step
  of that epoch (forward ``X W1`` and gradient ``X^T delta`` of the first layer)
  through NumPy's BLAS: a lower bound on any epoch of either backend, so
  ``ref / floor`` bounds the speed-up any fast backend can reach with fp32 BLAS;
* ``TimeAttributeLayer.time_softmax_grad``: the fused attribute-layer kernel
  alone (logits GEMM, softmax and soft-target gradient, gradient GEMM) on a
  CUB-sized batch: 256 samples, 312 attributes, 200 classes (150 seen).
"""
import functools

import numpy as np

from .common import N_THREADS, Pinned, backend

N, D, HIDDEN, K, N_SEEN, N_UNSEEN = 4096, 2048, 1024, 85, 40, 10


@functools.lru_cache(maxsize=None)
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D), dtype=np.float32)
    A = rng.random((K, N_SEEN + N_UNSEEN)).astype(np.float32)
    y = rng.integers(0, N_SEEN, N)
    for a in (X, A, y):
        a.flags.writeable = False
    return X, A, y


class TimeEpoch(Pinned):
    params = (["ref", "fast"], [64, 128, 256], ["soft", "kl"])
    param_names = ["backend", "batch_size", "loss"]
    timeout = 600
    number = 1
    repeat = (1, 3, 20.0)

    def setup(self, name, batch_size, loss):
        self.pin()
        self.X, A, self.y = data()
        slide = backend(name)
        self.model = slide.zsl.SoftLabelZSL(hidden=(HIDDEN,), loss=loss, batch_size=batch_size,
                                            epochs=0, n_threads=N_THREADS, random_state=0)
        self.model.fit(self.X, self.y, A, seen=np.arange(N_SEEN))
        self.model.partial_fit(self.X[:512], self.y[:512])     # warm-up: first touch, threads

    def time_epoch(self, name, batch_size, loss):
        self.model.partial_fit(self.X, self.y)


class TimeGemmFloor(Pinned):
    params = ([64, 128, 256],)
    param_names = ["batch_size"]
    number = 1
    repeat = (1, 3, 20.0)

    def setup(self, batch_size):
        self.pin()
        X, _, _ = data()
        rng = np.random.default_rng(2)
        self.Xb = np.ascontiguousarray(X[:batch_size])
        self.W = rng.standard_normal((D, HIDDEN), dtype=np.float32)
        self.delta = rng.standard_normal((batch_size, HIDDEN), dtype=np.float32)
        self.steps = -(-N // batch_size)

    def time_epoch_gemms(self, batch_size):
        for _ in range(self.steps):
            self.Xb @ self.W
            self.Xb.T @ self.delta


class TimeAttributeLayer(Pinned):
    params = (["ref", "fast"], ["soft", "kl"], [1, N_THREADS])
    param_names = ["backend", "loss", "threads"]

    def setup(self, name, loss, threads):
        from threadpoolctl import threadpool_limits
        self._limits = threadpool_limits(limits=threads, user_api="blas")
        self.threads = threads
        rng = np.random.default_rng(1)
        B, Ka, S, U = 256, 312, 150, 50
        self.F = rng.standard_normal((B, Ka), dtype=np.float32)
        self.A = rng.random((Ka, S + U)).astype(np.float32)
        self.A /= np.linalg.norm(self.A, axis=0)
        self.y = rng.integers(0, S, B).astype(np.int32)
        slide = backend(name)
        self.R = slide.zsl.similarity_targets(self.A[:, :S], self.A[:, S:], 0.1)
        self.k = slide.zsl.SoftLabelZSL._kernels.zsl
        self.S, self.mode = S, (0 if loss == "soft" else 1)

    def time_softmax_grad(self, name, loss, threads):
        self.k.attribute_softmax_grad(self.F, self.A, self.y, self.R, self.S, self.mode, 0.2,
                                      1.0, 1.0, 1.0 / 256, self.threads)


class TimeEpochOneThread(TimeEpoch):
    """``TimeEpoch`` with one thread and a one-thread BLAS pool: on a shared machine,
    a loaded core makes multi-threaded BLAS calls wait on their slowest thread, and this
    variant stays comparable between runs."""
    params = (["ref", "fast"], [64, 128], ["soft"])

    def setup(self, name, batch_size, loss):
        from threadpoolctl import threadpool_limits
        self._limits = threadpool_limits(limits=1, user_api="blas")
        self.X, A, self.y = data()
        slide = backend(name)
        self.model = slide.zsl.SoftLabelZSL(hidden=(HIDDEN,), loss=loss, batch_size=batch_size,
                                            epochs=0, n_threads=1, random_state=0)
        self.model.fit(self.X, self.y, A, seen=np.arange(N_SEEN))
        self.model.partial_fit(self.X[:512], self.y[:512])
