"""Cost of the output-layer samplers against the number of classes (LNS, constant time).

One batch of 128 embeddings (d = 128, fixed) is sampled against an output
layer of N = 10k, 100k or 1M classes with fixed K=6, L=50, bucket capacity
128 and a budget of 1000 active classes (tables visited in random order until
1000 classes, padded to 1000 when they return fewer; ``slide_fast``, 2 threads):

* ``SamplingCost.time_sample``: the sampler alone (hash the queries, look up
  the buckets, build each sample's set). Flat in N for the LSH samplers and
  the uniform sampler;
* ``SamplingCost.time_logits``: the sampler plus the logits it implies: the
  active set's dot products; ``FullSoftmaxCost.time_logits``: all N logits,
  which grows linearly in N;
* ``RehashCost.time_rehash`` / ``track_rehash_ms_per_step``: one rehash of
  the N label vectors, and that cost spread over the rehash period
  (6400 samples = 50 batches of 128), reported separately from sampling.

Per-sample costs are these times divided by 128.
"""
import functools
import time

import numpy as np

from .common import N_THREADS, Pinned, backend

BATCH = 128
DIM = 128
SIZES = [10_000, 100_000, 1_000_000]
REHASH_PERIOD = 6400 // BATCH


@functools.lru_cache(maxsize=2)
def output_layer(n):
    """Rows near 400 random directions (a clustered label space), float32 [n, 128]."""
    rng = np.random.default_rng(n)
    centers = rng.standard_normal((400, DIM), dtype=np.float32)
    W = centers[rng.integers(0, 400, n)] + 0.5 * rng.standard_normal((n, DIM), dtype=np.float32)
    return W, np.zeros(n, np.float32)


def make_sampler(slide, name):
    if name == "uniform":
        return slide.negative.UniformSampler(1000)
    if name == "full":
        return slide.negative.FullSoftmax()
    # a fixed budget: whole buckets from tables in random order until 1000 classes,
    # padded to 1000 when the tables return fewer, so the set size does not grow
    # with the bucket occupancy (which does grow with N at a fixed table size)
    return slide.negative.LSHSampler(query=name.split("-")[1], label_query="random",
                                     lsh=slide.lsh.LSHParams(K=6, L=50, max_active=1000,
                                                             min_active=1000))


class _Base(Pinned):
    timeout = 900
    number = 1
    repeat = (3, 15, 30.0)

    def setup(self, name, n):
        self.pin()
        slide = backend("fast")
        self.nn = slide.network.SlideNetwork._kernels.network
        self.W, self.b = output_layer(n)
        self.sampler = make_sampler(slide, name)
        rng = np.random.default_rng(1)
        # queries near label vectors, so the LSH samplers retrieve something
        self.H = np.maximum(self.W[rng.integers(0, n, BATCH)] + 0.3 * rng.standard_normal(
            (BATCH, DIM), dtype=np.float32), 0).astype(np.float32)
        self.labels = (np.arange(BATCH + 1, dtype=np.int64),
                       rng.integers(0, n, BATCH).astype(np.int32))
        if not self.sampler.dense:
            self.sampler.setup(self.W, batch_size=BATCH, n_threads=N_THREADS,
                               rng=np.random.default_rng(0))
        self.step = 0

    def _sample(self):
        self.step += 1
        return self.sampler.sample(self.H, self.labels, self.W, self.b, self.step)


class SamplingCost(_Base):
    """A batch's sampling, and its logits, per sampler and number of classes."""

    params = (["lsh-embedding", "lsh-label", "uniform"], SIZES)
    param_names = ["sampler", "n_classes"]

    def time_sample(self, name, n):
        self._sample()

    def time_logits(self, name, n):
        indptr, ids, _ = self._sample()
        self.nn.sampled_forward(self.H, self.W, self.b, indptr, ids, False, N_THREADS)

    def track_active_per_sample(self, name, n):
        """Mean active-set size (labels and padding included)."""
        indptr, _, _ = self._sample()
        return float(np.diff(indptr).mean())

    track_active_per_sample.unit = "classes"


class FullSoftmaxCost(_Base):
    """All N logits of a batch (what the samplers avoid)."""

    params = (["full"], SIZES)
    param_names = ["sampler", "n_classes"]

    def time_logits(self, name, n):
        self.H @ self.W.T


class RehashCost(_Base):
    """Re-inserting the N label vectors into the tables."""

    params = (["lsh-embedding", "lsh-label"], SIZES)
    param_names = ["sampler", "n_classes"]
    repeat = (2, 5, 30.0)

    def time_rehash(self, name, n):
        self.sampler.rehash(self.W)

    def track_rehash_ms_per_step(self, name, n):
        """One rehash spread over its period (50 batches of 128)."""
        t0 = time.perf_counter()
        self.sampler.rehash(self.W)
        return (time.perf_counter() - t0) * 1e3 / REHASH_PERIOD

    track_rehash_ms_per_step.unit = "ms"
