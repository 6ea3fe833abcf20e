"""BF16 modes of Optimized SLIDE (``bf16`` = 0 fp32, 1, 2) on the fast backend.

* ``TrainingBF16.track_samples_per_second``: throughput of SlideNetwork training
  (10k features, 10k labels, 128 hidden, LSH-sampled output, 2 threads) per mode;
* ``AccuracyBF16.track_p1_after_steps``: P@1 on 2,000 test points after 150
  steps (19,200 samples) per mode, same data and seed; compare the modes within
  one run;
* ``TimeBF16Kernels``: one call of each new bf16 kernel beside its fp32
  counterpart, at every SIMD level the CPU has (the others are skipped);
  ``sampled_forward_hi`` is mode 2's forward on the stored high halves.  The
  batch is 128 samples of 1,000 active neurons out of 10,000 with 128 inputs,
  the shape of the output layer above.  ``avx512_bf16`` differs from
  ``avx512`` only in the sampled forward dot product (VDPBF16PS).

``bf16=3``, the bf16 shadow of the batch-shared output block, on the default
model (uniform + hard negatives shared by the batch, catch-up Adam; the
``batch-hard`` model of ``slide_bench.configs`` on configuration A):

* ``TrainingBlockBF16.track_samples_per_second``: training throughput, fp32
  (``bf16=0``) and ``bf16=3``;
* ``AccuracyBlockBF16.track_p1_after_steps``: P@1 on 2,000 test points after 150
  steps, same data and seed;
* ``TimeBlockBF16Kernels``: the block's forward product and its backward (weight
  gradient, and the input delta from the fp32 weights or from the bf16 shadow),
  fp32 against ``bf16=3`` (the shadow's row refresh timed on its own), at every
  SIMD level the CPU has: 128 samples x 1,640 candidate rows of 128 weights, the
  shape of the default model's block.
"""
import functools
import time

import numpy as np

from .common import N_THREADS, OneShot, Pinned, backend, select, train_window

N_FEATURES = N_LABELS = 10_000
BATCH = 128
MODES = [0, 1, 2]
#: the levels of the kernel timings: the fp32 suite's levels plus the BF16 one
BF16_SIMD_LEVELS = ["scalar", "avx2", "avx512", "avx512_bf16"]


@functools.lru_cache(maxsize=None)
def data():
    slide = backend("ref")
    return slide.datasets.make_xc(20_000, N_FEATURES, N_LABELS, n_test=2_000, random_state=0)


def make_network(mode):
    slide = backend("fast")
    return slide.network.SlideNetwork(N_FEATURES, N_LABELS, hidden=(128,),
                                      lsh=slide.lsh.LSHParams(K=6, L=50),
                                      lr=1e-3, batch_size=BATCH, bf16=mode,
                                      n_threads=N_THREADS, random_state=0)


def samples_per_second(model, X, Y, n_batches, start):
    """Training throughput over ``n_batches`` batches from batch ``start`` on."""
    t0 = time.perf_counter()
    train(model, X, Y, n_batches, start=start)
    return n_batches * BATCH / (time.perf_counter() - t0)


def p1_after_steps(model, X, Y, Xt, Yt, steps=150):
    """Test P@1 after ``steps`` training batches."""
    train(model, X, Y, steps)
    pred = model.predict_topk(Xt, k=1)[0][:, 0]
    return float(np.asarray(Yt[np.arange(Yt.shape[0]), pred]).mean())


def train(model, X, Y, n_batches, start=0):
    """The benchmark's training loop: :func:`~.common.train_window` with ``BATCH``."""
    train_window(model, X, Y, n_batches, start, BATCH)


class TrainingBF16(OneShot, Pinned):
    params = [MODES]
    param_names = ["bf16"]
    timeout = 300

    def setup(self, mode):
        self.pin()
        self.X, self.Y, _, _ = data()
        self.model = make_network(mode)
        train(self.model, self.X, self.Y, 3)            # warm-up: first-touch, tables

    def track_samples_per_second(self, mode):
        return samples_per_second(self.model, self.X, self.Y, 30, start=3)

    track_samples_per_second.unit = "samples/s"


class AccuracyBF16(OneShot, Pinned):
    params = [MODES]
    param_names = ["bf16"]
    timeout = 600

    def setup(self, mode):
        self.pin()
        self.X, self.Y, self.Xt, self.Yt = data()
        self.model = make_network(mode)

    def track_p1_after_steps(self, mode):
        return p1_after_steps(self.model, self.X, self.Y, self.Xt, self.Yt)

    track_p1_after_steps.unit = "P@1"


@functools.lru_cache(maxsize=None)
def layer_batch(B=BATCH, n_in=128, n_out=N_LABELS, per=1000, seed=0):
    """Activations, weights and active pairs of one sampled layer (bf16-valued A and delta)."""
    from slide_ref._kernels import bf16 as ref_bf
    rng = np.random.default_rng(seed)
    A = ref_bf.round_bf16(np.maximum(rng.standard_normal((B, n_in), dtype=np.float32), 0))
    W = (0.1 * rng.standard_normal((n_out, n_in))).astype(np.float32)
    b = np.zeros(n_out, np.float32)
    ids = np.concatenate([np.sort(rng.choice(n_out, per, replace=False)) for _ in range(B)])
    indptr = np.arange(B + 1, dtype=np.int64) * per
    delta = ref_bf.round_bf16(1e-3 * rng.standard_normal(len(ids)).astype(np.float32))
    return A, W, b, indptr, ids.astype(np.int32), delta


class TimeBF16Kernels(Pinned):
    params = (BF16_SIMD_LEVELS, ["sampled_forward", "sampled_forward_hi", "sampled_backward",
                                 "adam", "round"],
              ["fp32", "bf16"])
    param_names = ["simd", "kernel", "format"]
    timeout = 120

    def setup(self, simd, kernel, fmt):
        if fmt == "fp32" and simd == "avx512_bf16":
            raise NotImplementedError("the fp32 kernels have no AVX512-BF16 variant")
        if kernel in ("round", "sampled_forward_hi") and fmt == "fp32":
            raise NotImplementedError(f"{kernel} is a bf16 kernel only")
        self.pin()
        select("fast", simd)
        from slide_fast._kernels import bf16 as fast_bf
        from slide_fast._kernels import network as fast_nn
        self.nn, self.bf = fast_nn, fast_bf
        A, W, b, indptr, ids, delta = layer_batch()
        self.A, self.W, self.b, self.indptr, self.ids = A, W.copy(), b, indptr, ids
        self.delta = delta.copy()     # rounded in place by "round": idempotent, same work
        self.gW, self.gb = np.zeros_like(W), np.zeros_like(b)
        self.m, self.v = np.zeros_like(W), np.zeros_like(W)
        self.W_hi, self.W_lo = _split(W)
        self.call = getattr(self, f"_{kernel}_{fmt}")

    def time_kernel(self, simd, kernel, fmt):
        self.call()

    def _sampled_forward_fp32(self):
        self.nn.sampled_forward(self.A, self.W, self.b, self.indptr, self.ids, False, N_THREADS)

    def _sampled_forward_bf16(self):
        self.bf.sampled_forward_bf16(self.A, self.W, self.b, self.indptr, self.ids, False,
                                     N_THREADS)

    def _sampled_forward_hi_bf16(self):     # mode 2: the high halves, no rounding
        self.bf.sampled_forward_hi(self.A, self.W_hi, self.b, self.indptr, self.ids, False,
                                   N_THREADS)

    def _sampled_backward_fp32(self):
        self.nn.sampled_backward(self.A, self.W, self.indptr, self.ids, self.delta, self.gW,
                                 self.gb, True, True, N_THREADS)

    def _sampled_backward_bf16(self):
        self.bf.sampled_backward_bf16(self.A, self.W, self.indptr, self.ids, self.delta,
                                      self.gW, self.gb, True, True, N_THREADS)

    def _adam_fp32(self):
        self.nn.adam_step(self.W, self.gW, self.m, self.v, None, 1e-3, 0.9, 0.999, 1e-8,
                          N_THREADS)

    def _adam_bf16(self):     # mode 2: rebuild from both halves, update, split
        self.bf.adam_step_split(self.W_hi, self.W_lo, self.gW, self.m, self.v, None, 1e-3, 0.9,
                                0.999, 1e-8, N_THREADS)

    def _round_bf16(self):    # the output deltas of one batch (128,000 values)
        self.bf.round_bf16(self.delta, N_THREADS)


def _split(W):
    from slide_ref._kernels import bf16 as ref_bf
    return ref_bf.split(W)


# ----------------------------------------------------------------------------- bf16=3: the block
BLOCK_MODES = [0, 3]


def make_block_network(mode):
    """The default model on configuration A's shape: batch-shared uniform + hard negatives,
    catch-up Adam (:func:`block_network_for`, seed 0)."""
    return block_network_for(N_FEATURES, N_LABELS, mode, 0)


class TrainingBlockBF16(OneShot, Pinned):
    params = [BLOCK_MODES]
    param_names = ["bf16"]
    timeout = 300

    def setup(self, mode):
        self.pin()
        self.X, self.Y, _, _ = data()
        self.model = make_block_network(mode)
        train(self.model, self.X, self.Y, 5)            # warm-up: first-touch, catch-up

    def track_samples_per_second(self, mode):
        return samples_per_second(self.model, self.X, self.Y, 60, start=5)

    track_samples_per_second.unit = "samples/s"


class AccuracyBlockBF16(OneShot, Pinned):
    params = [BLOCK_MODES]
    param_names = ["bf16"]
    timeout = 600

    def setup(self, mode):
        self.pin()
        self.X, self.Y, self.Xt, self.Yt = data()
        self.model = make_block_network(mode)

    def track_p1_after_steps(self, mode):
        return p1_after_steps(self.model, self.X, self.Y, self.Xt, self.Yt)

    track_p1_after_steps.unit = "P@1"


@functools.lru_cache(maxsize=None)
def block_batch(B=BATCH, d=128, n_out=N_LABELS, n_rows=1640, seed=0):
    """Activations, weights, candidate rows and output deltas of one block."""
    rng = np.random.default_rng(seed)
    A = np.maximum(rng.standard_normal((B, d), dtype=np.float32), 0)
    W = (0.1 * rng.standard_normal((n_out, d))).astype(np.float32)
    b = np.zeros(n_out, np.float32)
    rows = np.sort(rng.choice(n_out, n_rows, replace=False)).astype(np.int32)
    delta = (1e-3 * rng.standard_normal((B, n_rows))).astype(np.float32)
    return A, W, b, rows, delta


class TimeBlockBF16Kernels(Pinned):
    params = (BF16_SIMD_LEVELS, ["forward", "backward", "refresh"], ["fp32", "bf16"])
    param_names = ["simd", "kernel", "format"]
    timeout = 120

    def setup(self, simd, kernel, fmt):
        if fmt == "fp32" and simd == "avx512_bf16":
            raise NotImplementedError("the fp32 kernels have no AVX512-BF16 variant")
        if kernel == "refresh" and fmt == "fp32":
            raise NotImplementedError("the shadow refresh is a bf16 kernel only")
        self.pin()
        select("fast", simd)
        from slide_fast._kernels import bf16 as fast_bf
        from slide_fast._kernels import network as fast_nn
        self.nn, self.bf = fast_nn, fast_bf
        self.A, W, self.b, self.rows, self.delta = block_batch()
        self.W = W.copy()
        self.W16 = np.zeros(W.shape, np.uint16)
        fast_bf.refresh_bf16_rows(self.W, None, self.W16, N_THREADS)
        self.gW, self.gb = np.zeros_like(W), np.zeros_like(self.b)
        self.call = getattr(self, f"_{kernel}_{fmt}")

    def time_kernel(self, simd, kernel, fmt):
        self.call()

    def _forward_fp32(self):
        self.nn.block_forward(self.A, self.W, self.rows, self.b, N_THREADS)

    def _forward_bf16(self):
        self.bf.block_forward_bf16(self.A, self.W16, self.rows, self.b, N_THREADS)

    def _backward_fp32(self):     # weight gradient and input delta in one kernel
        self.nn.block_backward(self.A, self.W, self.rows, self.delta, self.gW, self.gb, True,
                               True, N_THREADS)

    def _backward_bf16(self):     # the fp32 weight gradient, the input delta from the shadow
        self.nn.block_backward(self.A, self.W, self.rows, self.delta, self.gW, self.gb, True,
                               False, N_THREADS)
        self.bf.block_input_delta_bf16(self.delta, self.W16, self.rows, self.A, True,
                                       N_THREADS)

    def _refresh_bf16(self):
        self.bf.refresh_bf16_rows(self.W, self.rows, self.W16, N_THREADS)


# ----------------------------------------------------------------------------- one-off comparison
def block_network_for(n_features, n_labels, mode, seed):
    """The default model (uniform + 4 hard negatives per label shared by the batch, catch-up
    Adam, 128 hidden) for any data shape and seed, in ``bf16`` mode ``mode``."""
    slide = backend("fast")
    sampler = slide.negative.UniformSampler(1000, shared=True, batch_labels=True,
                                            hard_negatives=4)
    return slide.network.SlideNetwork(n_features, n_labels, hidden=(128,),
                                      optimizer="catchup_adam", output_sampler=sampler,
                                      lr=1e-3, batch_size=BATCH, bf16=mode,
                                      n_threads=N_THREADS, random_state=seed)


#: batches each network trains before the other one takes its turn
CHUNK = 8


def _train_epochs_interleaved(nets, X, Y, seed):
    """One shuffled epoch (the same order) for each of ``nets``, ``CHUNK`` batches at a time
    and in alternating order, so that a shared machine's load falls on all of them alike;
    returns ``{key: [seconds of each batch]}``."""
    order = np.random.default_rng(seed).permutation(X.shape[0])
    starts = list(range(0, X.shape[0], BATCH))
    seconds = {key: [] for key in nets}
    for c, first in enumerate(range(0, len(starts), CHUNK)):
        keys = list(nets) if c % 2 == 0 else list(nets)[::-1]
        for key in keys:
            for lo in starts[first:first + CHUNK]:
                rows = order[lo:lo + BATCH]
                Xb, Yb = X[rows], Y[rows]
                t0 = time.perf_counter()
                nets[key].train_batch(Xb, Yb)
                seconds[key].append(time.perf_counter() - t0)
    return seconds


def _p_at_1(net, X, Y):
    pred = net.predict_topk(X, k=1)[0][:, 0]
    return float(np.asarray(Y[np.arange(Y.shape[0]), pred]).mean())


def compare_block_modes(data, epochs, repeats, modes=(0, 3)):
    """``{mode: [(samples/s, samples/s at the median batch time, P@1) per repeat]}``: fresh
    networks per repeat (seed = repeat), the modes trained in turns of ``CHUNK`` batches
    (:func:`_train_epochs_interleaved`); only ``train_batch`` is timed (slicing the batch
    and evaluation are not)."""
    X, Y, Xt, Yt = data
    results = {m: [] for m in modes}
    for rep in range(repeats):
        nets = {m: block_network_for(X.shape[1], Y.shape[1], m, rep) for m in modes}
        seconds = {m: [] for m in modes}
        for epoch in range(epochs):
            for m, s in _train_epochs_interleaved(nets, X, Y, 1000 * rep + epoch).items():
                seconds[m] += s
        for m in modes:
            results[m].append((epochs * X.shape[0] / sum(seconds[m]),
                               BATCH / np.median(seconds[m]), _p_at_1(nets[m], Xt, Yt)))
            print(f"repeat {rep + 1} bf16={m}: {results[m][-1][0]:8.0f} samples/s "
                  f"({results[m][-1][1]:8.0f} at the median batch)  P@1 "
                  f"{results[m][-1][2]:.4f}", flush=True)
    return results


def _best_us(call, n=150):
    """The best of ``n`` timed calls, in microseconds."""
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best * 1e6


def block_kernel_times(simd, n_threads):
    """Best-of-150 microseconds of the block's kernels at one level, fp32 and bf16=3:
    ``{name: us}`` (the fp32 input delta is the backward with it minus without it)."""
    select("fast", simd)
    from slide_fast._kernels import bf16 as bf
    from slide_fast._kernels import network as nn
    A, W, b, rows, delta = block_batch()
    W = W.copy()
    W16 = np.zeros(W.shape, np.uint16)
    gW, gb = np.zeros_like(W), np.zeros_like(b)
    times = {
        "refresh": _best_us(lambda: bf.refresh_bf16_rows(W, rows, W16, n_threads)),
        "forward fp32": _best_us(lambda: nn.block_forward(A, W, rows, b, n_threads)),
        "forward bf16": _best_us(lambda: bf.block_forward_bf16(A, W16, rows, b, n_threads)),
        "backward fp32": _best_us(lambda: nn.block_backward(A, W, rows, delta, gW, gb, True,
                                                            True, n_threads)),
        "weight gradient": _best_us(lambda: nn.block_backward(A, W, rows, delta, gW, gb, True,
                                                              False, n_threads)),
        "input delta bf16": _best_us(lambda: bf.block_input_delta_bf16(delta, W16, rows, A,
                                                                       True, n_threads)),
    }
    times["input delta fp32"] = times["backward fp32"] - times["weight gradient"]
    times["block fp32"] = times["forward fp32"] + times["backward fp32"]
    times["block bf16"] = (times["refresh"] + times["forward bf16"] + times["weight gradient"]
                           + times["input delta bf16"])
    return times


def profile_block_modes(data, n_batches=100, modes=(0, 3), top=8):
    """``cProfile`` of ``n_batches`` training batches of each mode (after 10 warm-up
    batches), the functions with the most own time first: where a batch's time goes."""
    import cProfile
    import pstats
    X, Y = data[:2]
    for m in modes:
        net = block_network_for(X.shape[1], Y.shape[1], m, 0)
        _train_epochs_interleaved({m: net}, X[:10 * BATCH], Y[:10 * BATCH], seed=0)
        profile = cProfile.Profile()
        profile.enable()
        for lo in range(0, n_batches * BATCH, BATCH):
            lo %= X.shape[0] - BATCH
            net.train_batch(X[lo:lo + BATCH], Y[lo:lo + BATCH])
        profile.disable()
        print(f"bf16={m}, {n_batches} batches:")
        pstats.Stats(profile).sort_stats("tottime").print_stats(top)


def main(argv=None):
    """``cd asv_bench && python -m benchmarks.bench_bf16 [--data A|debian]``: fp32 against
    bf16=3 on the default model, interleaved, with the median of the repeats; ``--kernels``
    times the block's kernels alone."""
    import argparse
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--data", choices=["A", "debian"], default="A")
    parser.add_argument("--n-train", type=int, default=60_000, help="points of A")
    parser.add_argument("--epochs", type=int, default=None, help="default: A 1, debian 5")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kernels", action="store_true",
                        help="time the block's kernels at each level the CPU has instead")
    parser.add_argument("--n-threads", type=int, default=N_THREADS, help="with --kernels")
    parser.add_argument("--profile", action="store_true",
                        help="profile 100 batches of each mode on A's shape instead")
    args = parser.parse_args(argv)
    slide = backend("fast")
    slide.show_config()
    if args.profile:
        X, Y, _, _ = slide.datasets.make_xc(20_000, N_FEATURES, N_LABELS, n_test=10,
                                            labels_per_sample=1, random_state=0)
        profile_block_modes((X, Y))
        return
    if args.kernels:
        for simd in slide.available_simd_levels():
            times = block_kernel_times(simd, args.n_threads)
            print(simd, "  ".join(f"{k}: {v:.0f}" for k, v in times.items()))
        return
    if args.data == "A":
        data = slide.datasets.make_xc(args.n_train, N_FEATURES, N_LABELS, n_test=10_000,
                                      labels_per_sample=1, random_state=0)
    else:
        data = tuple(slide.datasets.load_debian_xc())
    epochs = args.epochs or (1 if args.data == "A" else 5)
    results = compare_block_modes(data, epochs, args.repeats)
    for m, runs in results.items():
        speed, typical, p1 = np.median(np.array(runs), axis=0)
        print(f"median of the repeats bf16={m}: {speed:8.0f} samples/s ({typical:8.0f} at the "
              f"median batch)  P@1 {p1:.4f}")


if __name__ == "__main__":
    main()
