"""NW sketch kernels and the cost of example samplers (``slide_ref.nwsketch`` vs ``slide_fast``).

* ``TimeSketchKernels``: the three sketch kernels at the sampler's default sizes
  (R=32 rows, W=1024 buckets, K=4): ``mix`` turns the codes of 4,096 points
  into buckets, ``insert`` adds a batch of 128 losses, ``query`` scores 4,096
  points; ``track_fast_speedup`` times both backends in one process and
  returns ref time / fast time (target: >= 20).
* ``SamplerOverhead``: an MLP 40-256-256-10 (the engine with every layer
  dense) trained for one epoch on 20,000 locally generated MNIST-1D-style
  sequences, batch 128, fast backend.  ``track_overhead_per_step`` is the
  time spent in the sampler (draw, insert, periodic re-scoring and decay)
  divided by the time of the training steps themselves (target: < 0.10);
  ``track_overhead_with_hashing`` also counts the one-off hashing of the
  training set at ``start``, spread over that single epoch.  Extra forward
  passes of LossImportance and SelectiveBackprop are not sampler time; they
  are in ``track_forward_examples_per_trained``.
"""
import time

import numpy as np

from .common import N_THREADS, SEED, OneShot, Pinned, backend

R, W, K = 32, 1024, 4        # NWSampler's defaults
N_POINTS = 4096
BATCH = 128


def _kernels(name):
    if name == "ref":
        from slide_ref._kernels import sketch
    else:
        from slide_fast._kernels import sketch
    return sketch


def _sketch_data():
    rng = np.random.default_rng(SEED)
    codes = rng.integers(-50, 50, size=(N_POINTS, R * K)).astype(np.int32)
    seeds = rng.integers(0, 2**63, size=R, dtype=np.uint64)
    buckets = rng.integers(0, W, size=(N_POINTS, R)).astype(np.int32)
    values = rng.random(N_POINTS)
    table = np.zeros((R, W, 2))
    _kernels("ref").insert(buckets, values, table)
    return codes, seeds, buckets, values, table


def _run_op(sk, op, data, n_threads=N_THREADS):
    codes, seeds, buckets, values, table = data
    if op == "mix":
        sk.mix_buckets(codes, R, K, seeds, W, n_threads)
    elif op == "insert":
        sk.insert(buckets[:BATCH], values[:BATCH], table, n_threads)
    else:
        sk.query(buckets, table, 0.5, 0.1, n_threads)


class TimeSketchKernels(Pinned):
    params = (["ref", "fast"], ["mix", "insert", "query"])
    param_names = ["backend", "op"]

    def setup(self, name, op):
        self.pin()
        self.sk = _kernels(name)
        self.data = _sketch_data()

    def time_kernel(self, name, op):
        _run_op(self.sk, op, self.data)


class SketchSpeedup(OneShot, Pinned):
    """ref / fast time of each kernel, measured back to back in one process."""
    params = (["mix", "insert", "query"],)
    param_names = ["op"]
    timeout = 300

    def setup(self, op):
        self.pin()
        self.data = _sketch_data()

    def _best(self, sk, op, reps):
        best = np.inf
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(reps):
                _run_op(sk, op, self.data)
            best = min(best, (time.perf_counter() - t0) / reps)
        return best

    def track_fast_speedup(self, op):
        _run_op(_kernels("fast"), op, self.data)        # warm up the thread pool
        return self._best(_kernels("ref"), op, 3) / self._best(_kernels("fast"), op, 30)

    track_fast_speedup.unit = "x"


def _train_one_epoch(sampler_name):
    slide = backend("fast")
    X, y = slide.datasets.make_mnist1d(20000, random_state=SEED)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    net = slide.SlideNetwork(40, 10, hidden=(256, 256), sampled=(False, False, False),
                             random_state=SEED, n_threads=N_THREADS)
    sampler = getattr(slide.nwsketch, sampler_name)(random_state=SEED)
    if sampler_name == "NWSampler":
        sampler.n_threads = N_THREADS
    hist = slide.nwsketch.train_with_sampler(net, X, y, sampler, epochs=1, batch_size=BATCH)
    return hist[-1], sampler.start_time_


class SamplerOverhead(OneShot, Pinned):
    params = (["UniformExamples", "NWSampler", "LossImportance", "SelectiveBackprop"],)
    param_names = ["sampler"]
    timeout = 600

    def setup(self, sampler):
        self.pin()
        self.last, self.start_time = _train_one_epoch(sampler)

    def _step_time(self):
        last = self.last
        return last["train_time"] - last["sampler_time"]

    def track_overhead_per_step(self, sampler):
        last = self.last
        steady = max(0.0, last["sampler_time"] - self.start_time)
        return steady / self._step_time()

    track_overhead_per_step.unit = "fraction of step time"

    def track_overhead_with_hashing(self, sampler):
        return self.last["sampler_time"] / self._step_time()

    track_overhead_with_hashing.unit = "fraction of step time"

    def track_forward_examples_per_trained(self, sampler):
        return self.last["forward_examples"] / self.last["examples"]

    track_forward_examples_per_trained.unit = "forwards per trained example"
