"""End-to-end training of the SLIDE engine against the reference and PyTorch.

Configuration of the issue's peer table: a synthetic power-law XC set with 10k
features and 10k labels (single-label), 128 hidden units, batch 128, Adam
lr 1e-3, DWTA K=6 L=50 for SLIDE, 2 threads.  ``output`` is ``sampled``
(SLIDE's LSH-sampled softmax; for PyTorch, 1000 uniform negatives shared by
the batch) or ``full`` (the full softmax).

* ``track_samples_per_second``: throughput over a fixed number of batches
  (after warm-up batches), the unit every peer reports;
* ``track_p1_after_steps``: P@1 on 5,000 test points after a fixed number of
  steps (deterministic for the fast backend with ``n_threads=1``; here 2);
* ``peakmem_train``: peak memory of building the model and training 20 batches.
"""
import functools
import time

import numpy as np

from slide_bench import peers
from .common import N_THREADS, OneShot, Pinned, backend, train_window

N_FEATURES = N_LABELS = 10_000
BATCH = 128


@functools.lru_cache(maxsize=None)
def data(n_train=60_000, n_test=5_000):
    slide = backend("ref")
    return slide.datasets.make_xc(n_train, N_FEATURES, N_LABELS, n_test=n_test,
                                  random_state=0)


def make_model(name, output):
    if name == "torch":
        if not peers.available():
            raise NotImplementedError("PyTorch is not installed")
        return peers.TorchXC(N_FEATURES, N_LABELS, sampled=output == "sampled",
                             fused=output == "sampled-fused", n_threads=N_THREADS)
    if output == "sampled-fused":
        raise NotImplementedError("fused Adam is a PyTorch option")
    slide = backend(name)
    return slide.network.SlideNetwork(N_FEATURES, N_LABELS, hidden=(128,),
                                      sampled=(False, output == "sampled"),
                                      lsh=slide.lsh.LSHParams(K=6, L=50),
                                      lr=1e-3, batch_size=BATCH, n_threads=N_THREADS,
                                      random_state=0)


def train(model, X, Y, n_batches, start=0):
    """The benchmark's training loop: :func:`~.common.train_window` with ``BATCH``."""
    train_window(model, X, Y, n_batches, start, BATCH)


def top1(model, X):
    if isinstance(model, peers.TorchXC if peers.available() else ()):
        return model.predict_top1(X)
    return model.predict_topk(X, k=1)[0][:, 0]


class Training(OneShot, Pinned):
    params = (["ref", "fast", "torch"], ["sampled", "full", "sampled-fused"])
    param_names = ["backend", "output"]
    timeout = 600

    def setup(self, name, output):
        self.pin()
        self.X, self.Y, self.Xt, self.Yt = data()
        self.model = make_model(name, output)
        self.n_batches = 10 if name == "ref" else 100
        train(self.model, self.X, self.Y, 3)            # warm-up: first-touch, tables

    def track_samples_per_second(self, name, output):
        t0 = time.perf_counter()
        train(self.model, self.X, self.Y, self.n_batches, start=3)
        return self.n_batches * BATCH / (time.perf_counter() - t0)

    track_samples_per_second.unit = "samples/s"


class Accuracy(OneShot, Pinned):
    """P@1 after 400 steps (51,200 samples): compare only within one run and data."""
    params = (["fast", "torch"], ["sampled", "full"])
    param_names = ["backend", "output"]
    timeout = 900

    def setup(self, name, output):
        self.pin()
        self.X, self.Y, self.Xt, self.Yt = data()
        self.model = make_model(name, output)

    def track_p1_after_steps(self, name, output):
        train(self.model, self.X, self.Y, 400)
        pred = top1(self.model, self.Xt)
        return float(np.asarray(self.Yt[np.arange(self.Yt.shape[0]), pred]).mean())

    track_p1_after_steps.unit = "P@1"


class Memory(Pinned):
    params = (["ref", "fast", "torch"], ["sampled", "full"])
    param_names = ["backend", "output"]
    timeout = 300

    def setup(self, name, output):
        self.pin()
        self.X, self.Y, _, _ = data()
        if name == "torch" and not peers.available():
            raise NotImplementedError("PyTorch is not installed")

    def peakmem_train(self, name, output):
        model = make_model(name, output)
        train(model, self.X, self.Y, 20)
