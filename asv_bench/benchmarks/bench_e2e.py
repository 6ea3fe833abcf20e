"""End-to-end training of Optimized SLIDE's two configurations against PyTorch peers.

Configurations (``config``: A, B, 670k) and models (``model``: ``slide``,
``slide-lazy``, ``uniform-lazy``, ``batch``, ``batch-lazy-input``,
``batch-catchup``, ``batch-hard``, ``full`` and the PyTorch peers ``torch-*``,
skipped when torch is not installed) are those of ``slide_bench.configs``, which
the figure scripts share.

Benchmarks:

* ``Throughput.track_samples_per_second``: samples/s over a fixed number of
  batches after warm-up batches (not a whole epoch);
* ``Accuracy.track_p1``: test P@1 after a fixed number of steps, every model on
  the same data and the same batches;
* ``PeakMemory.track_peak_rss_mb``: peak resident set (``ru_maxrss``) of a fresh
  child process that generates the data, builds the model and trains a few
  batches: the whole process, data and interpreter included (the issue's peak
  memory figures are whole-process peaks too); ``track_model_rss_mb`` is the
  same peak minus the child's resident set just before the model was built;
* ``TimeToAccuracy.track_speedup`` (configuration B): PyTorch's full softmax
  trains a fixed number of steps; its final test P@1 is the target. The
  ``slide_fast`` model then trains (evaluated every few steps, evaluation time
  excluded) until it reaches the target; the value is PyTorch's training time
  divided by the ``slide_fast`` model's time to the target (0: not reached
  within 3x PyTorch's steps);
* ``Scaling670k``: the Amazon-670K shape (135,909 features, 670,091 labels,
  1 + Poisson(4) labels per point): samples/s over a few hundred batches and the
  peak RSS of a child process doing the same.

Under ``make bench-quick`` (``SLIDE_BENCH_QUICK=1``) every benchmark trains a
few steps on small data with every width divided by 50, configuration B only and
one model per code path, to check that it runs.
"""
import functools
import json
import os
import resource
import subprocess
import sys
import time

from slide_bench import configs as shared
from slide_bench import peers
from slide_bench.configs import BATCH, SLIDE_MODELS, TORCH_MODELS, p_at_1, train

from .common import N_THREADS, QUICK, OneShot, Pinned, backend

CONFIGS = dict(shared.CONFIGS)
if QUICK:   # bench-quick checks that every benchmark runs: small shapes, same code paths
    CONFIGS = {name: dict(c, n_features=c["n_features"] // 50, n_labels=c["n_labels"] // 50,
                          range_pow=10)
               for name, c in CONFIGS.items()}
MODELS = SLIDE_MODELS + TORCH_MODELS
CONFIG_NAMES = ["A", "B"]
#: Models of TimeToAccuracy and Scaling670k.
FAST_MODELS = ["slide", "slide-lazy", "uniform-lazy", "batch", "batch-lazy-input",
               "batch-catchup", "batch-hard"]
if QUICK:   # one of each code path: LSH/uniform/batch sampler, full/sampled/logQ peer
    MODELS = ["slide", "uniform-lazy", "batch-hard", "torch-full", "torch-loguniform",
              "torch-uniform-sparse"]
    CONFIG_NAMES = ["B"]
    FAST_MODELS = ["uniform-lazy"]

N_TRAIN = 3_000 if QUICK else 60_000
N_TEST = 500 if QUICK else 2_000


@functools.lru_cache(maxsize=None)
def data(config, n_train=N_TRAIN, n_test=N_TEST):
    """``(X, Y, X_test, Y_test)`` of a configuration (seeded, cached per process)."""
    c = CONFIGS[config]
    slide = backend("ref")
    return slide.datasets.make_xc(n_train, c["n_features"], c["n_labels"], n_test=n_test,
                                  labels_per_sample=c["labels_per_sample"], random_state=0)


def make_model(config, model, Y=None, n_threads=N_THREADS, seed=0):
    """``slide_bench.configs.make_model`` on this suite's (possibly shrunk) ``CONFIGS``."""
    return shared.make_model(CONFIGS[config], model, Y, n_threads=n_threads, seed=seed)


def peak_rss_child(config, model, n_batches, n_train=N_TRAIN):
    """Run :func:`_child` in a fresh interpreter; returns its JSON report."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ("from benchmarks import bench_e2e; "
            "bench_e2e._child(%r, %r, %d, %d)" % (config, model, n_batches, n_train))
    # run in the suite's root: ``python -c`` puts the working directory on the path
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=1200, cwd=root)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _child(config, model, n_batches, n_train):
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=N_THREADS, user_api="blas")
    X, Y, _, _ = data(config, n_train=n_train, n_test=1)
    before = _rss_mb()
    m = make_model(config, model, Y)
    t0 = time.perf_counter()
    train(m, X, Y, n_batches)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3    # kB -> MB
    print(json.dumps({"peak_rss_mb": peak, "before_model_mb": before,
                      "samples_per_second": n_batches * BATCH / dt}))


class Throughput(OneShot, Pinned):
    params = (CONFIG_NAMES, MODELS)
    param_names = ["config", "model"]
    timeout = 900

    def setup(self, config, model):
        self.pin()
        self.X, self.Y, _, _ = data(config)
        self.model = make_model(config, model, self.Y)
        self.n_warm = 1 if QUICK else 5
        self.n_batches = 2 if QUICK else (100 if config == "A" else 60)
        train(self.model, self.X, self.Y, self.n_warm)

    def track_samples_per_second(self, config, model):
        t0 = time.perf_counter()
        train(self.model, self.X, self.Y, self.n_batches, start=self.n_warm)
        return self.n_batches * BATCH / (time.perf_counter() - t0)

    track_samples_per_second.unit = "samples/s"


class Accuracy(OneShot, Pinned):
    """Test P@1 after 400 steps (A) / 300 steps (B): compare within one run only."""
    params = (CONFIG_NAMES, MODELS)
    param_names = ["config", "model"]
    timeout = 1200

    def setup(self, config, model):
        self.pin()
        self.X, self.Y, self.Xt, self.Yt = data(config)
        self.model = make_model(config, model, self.Y)
        self.steps = 3 if QUICK else (400 if config == "A" else 300)

    def track_p1(self, config, model):
        train(self.model, self.X, self.Y, self.steps)
        return p_at_1(self.model, self.Xt, self.Yt)

    track_p1.unit = "P@1"


class PeakMemory(OneShot):
    params = (CONFIG_NAMES, MODELS)
    param_names = ["config", "model"]
    timeout = 900

    def setup(self, config, model):
        if model.startswith("torch") and not peers.available():
            raise NotImplementedError("PyTorch is not installed")
        self.report = None

    def _report(self, config, model):
        if self.report is None:
            self.report = peak_rss_child(config, model, 3 if QUICK else 60)
        return self.report

    def track_peak_rss_mb(self, config, model):
        return self._report(config, model)["peak_rss_mb"]

    track_peak_rss_mb.unit = "MB"

    def track_model_rss_mb(self, config, model):
        r = self._report(config, model)
        return r["peak_rss_mb"] - r["before_model_mb"]

    track_model_rss_mb.unit = "MB"


class TimeToAccuracy(OneShot, Pinned):
    """Configuration B: PyTorch full softmax's P@1 after its budget, reached how much sooner."""
    params = (FAST_MODELS,)
    param_names = ["model"]
    timeout = 1800

    def setup(self, model):
        self.pin()
        if not peers.available():
            raise NotImplementedError("PyTorch is not installed")
        self.X, self.Y, self.Xt, self.Yt = data("B")
        self.steps = 4 if QUICK else 300
        self.every = 2 if QUICK else 10

    def track_speedup(self, model):
        ref = make_model("B", "torch-full", self.Y)
        t0 = time.perf_counter()
        train(ref, self.X, self.Y, self.steps)
        t_ref = time.perf_counter() - t0
        target = p_at_1(ref, self.Xt, self.Yt)
        del ref
        m = make_model("B", model, self.Y)
        spent = 0.0
        for start in range(0, 3 * self.steps, self.every):
            t0 = time.perf_counter()
            train(m, self.X, self.Y, self.every, start=start)
            spent += time.perf_counter() - t0
            if p_at_1(m, self.Xt, self.Yt) >= target:
                return t_ref / spent
        return 0.0

    track_speedup.unit = "x"


class Scaling670k(OneShot, Pinned):
    """The Amazon-670K shape: samples/s after warm-up, and a child's peak RSS."""
    params = (FAST_MODELS,)
    param_names = ["model"]
    timeout = 1800

    def setup(self, model):
        self.pin()
        self.n_train = 2_000 if QUICK else 30_000
        self.n_batches = 2 if QUICK else 200

    def track_samples_per_second(self, model):
        X, Y, _, _ = data("670k", n_train=self.n_train, n_test=1)
        m = make_model("670k", model, Y)
        train(m, X, Y, 1 if QUICK else 5)
        t0 = time.perf_counter()
        train(m, X, Y, self.n_batches, start=5)
        return self.n_batches * BATCH / (time.perf_counter() - t0)

    track_samples_per_second.unit = "samples/s"

    def track_peak_rss_mb(self, model):
        return peak_rss_child("670k", model, 3 if QUICK else 50,
                              n_train=self.n_train)["peak_rss_mb"]

    track_peak_rss_mb.unit = "MB"
