"""Per-kernel time of slide_fast training steps on an end-to-end configuration.

Wraps every kernel module the network, its layers, their optimizers and the
output sampler call (``network``, ``negative``, ``active``, ``bf16``, ...), so
that every kernel call is timed; trains warm-up batches, then ``--batches``
batches through ``SlideNetwork.train_batch`` (as the end-to-end benchmarks do:
slicing and checking each batch included) or, with ``--path trainer``, through
the training loop's path (``slide_ref.training``: the data checked once, each batch a
slice of it, as ``fit`` trains), and prints the milliseconds per batch of each kernel
and the rest: the time outside kernels (Python, NumPy temporaries, slicing, input
checks), also as a share of the batch. The
configurations and models are those of the benchmarks (``slide_bench.configs``):

    python asv_bench/profile_train_step.py --config A --model batch-hard --threads 1

``--repeats R`` runs the timed batches R times and reports the repeat with the
smallest total (the machine's other load inflates every part, kernels and glue
alike).
"""
import argparse
import collections
import time
import types

from slide_bench import configs as e2e

#: label of the time outside every kernel
GLUE = "outside kernels (Python, NumPy, slicing, checks)"


#: the clock of every measurement: wall time, or with ``--clock cpu`` the CPU time of the
#: calling thread (with one kernel thread, the batch's CPU time: on a shared machine it
#: leaves out the time the process waited for a core)
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
clock = CLOCKS["wall"]


def timed(fn, name, totals, counts):
    """``fn`` adding its time to ``totals[name]`` and its calls to ``counts[name]``."""
    def wrapper(*args, **kwargs):
        t0 = clock()
        out = fn(*args, **kwargs)
        totals[name] += clock() - t0
        counts[name] += 1
        return out
    return wrapper


def timed_kernels(kernels, totals, counts):
    """A stand-in for the kernel package whose public functions are timed."""
    modules = {}
    for mod_name in kernels.MODULES:
        module, wrapped = getattr(kernels, mod_name), types.SimpleNamespace()
        for name in dir(module):
            f = getattr(module, name)
            timed_f = callable(f) and not name.startswith("_") and not isinstance(f, type)
            setattr(wrapped, name, timed(f, f"{mod_name}.{name}", totals, counts)
                    if timed_f else f)
        modules[mod_name] = wrapped
    return types.SimpleNamespace(**{**vars(kernels), **modules})


def instrument(net, totals, counts):
    """Route every kernel call of ``net`` through the timed stand-in."""
    kernels = timed_kernels(net._kernels, totals, counts)
    parts = [net, net.numerics, net.sampler_]
    for layer in net.layers:
        parts += [layer, layer.optimizer]
    for part in parts:
        part._kernels = kernels


def trainer_loop(net, X, Y):
    """``train(n_batches, start)`` through the training loop's trainer: consecutive
    batches of ``e2e.BATCH`` rows of the data checked once, wrapping around."""
    from slide_ref.training import trainer_for
    trainer, n_blocks = trainer_for(net, X, Y), X.shape[0] // e2e.BATCH

    def train(n_batches, start=0):
        for b in range(start, start + n_batches):
            lo = (b % n_blocks) * e2e.BATCH
            trainer.step(slice(lo, lo + e2e.BATCH))
    return train


def profile(config, model, n_batches, n_train=20_000, n_threads=2, repeats=1,
            path="train_batch"):
    """``(ms per batch, {kernel: (ms per batch, calls per batch)}, glue ms per batch)`` of the
    fastest of ``repeats`` runs of ``n_batches`` batches, trained through ``path``
    ("train_batch" or "trainer")."""
    X, Y, _, _ = e2e.make_data(config, n_train=n_train, n_test=1)
    net = e2e.make_model(config, model, Y, n_threads=n_threads)
    totals, counts = collections.defaultdict(float), collections.defaultdict(int)
    instrument(net, totals, counts)
    if path == "trainer":
        train = trainer_loop(net, X, Y)
    else:
        def train(n, start=0):
            e2e.train(net, X, Y, n, start=start)
    train(3)
    best, start = None, 3
    for _ in range(repeats):
        totals.clear()
        counts.clear()
        t0 = clock()
        train(n_batches, start=start)
        dt = clock() - t0
        start += n_batches
        if best is None or dt < best[0]:
            best = (dt, dict(totals), dict(counts))
    dt, totals, counts = best
    per = {k: (totals[k] / n_batches * 1e3, counts[k] / n_batches) for k in totals}
    glue = (dt - sum(totals.values())) / n_batches * 1e3
    return dt / n_batches * 1e3, per, glue


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="B", choices=sorted(e2e.CONFIGS))
    p.add_argument("--model", default="slide", type=_model,
                   help=f"one of {', '.join(e2e.SLIDE_MODELS)}, optionally with ':M' "
                        "for M negatives (e.g. batch-catchup:1500)")
    p.add_argument("--batches", type=int, default=100)
    p.add_argument("--n-train", type=int, default=20_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--path", choices=["train_batch", "trainer"], default="train_batch",
                   help="train_batch: SlideNetwork.train_batch on slices of the data (checked "
                        "every batch); trainer: the training loop's path (checked once)")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="cpu: the main thread's CPU time (meaningful with --threads 1)")
    args = p.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    ms, per, glue = profile(args.config, args.model, args.batches, args.n_train, args.threads,
                            args.repeats, args.path)
    print(f"{args.config} {args.model} ({args.path}, {args.clock} clock), {args.threads} "
          f"thread(s): {e2e.BATCH / ms * 1e3:,.0f} "
          f"samples/s, {ms:.2f} ms per batch, {sum(c for _, c in per.values()):.0f} kernel "
          "calls per batch")
    for name, (t, calls) in sorted(per.items(), key=lambda kv: -kv[1][0]):
        print(f"  {name:<50} {t:7.2f} ms per batch  ({calls:g} calls)")
    print(f"  {GLUE:<50} {glue:7.2f} ms per batch  ({glue / ms:.0%} of the batch)")


def _model(name):
    if name.partition(":")[0] not in e2e.SLIDE_MODELS:
        raise argparse.ArgumentTypeError(f"unknown model {name!r}")
    return name


if __name__ == "__main__":
    main()
