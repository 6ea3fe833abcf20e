"""Per-kernel time of slide_fast training steps on an end-to-end configuration.

Wraps the network's kernel module and its output sampler so that every call is
timed, trains warm-up batches, then ``--batches`` batches, and prints the
milliseconds per batch of each kernel (and of the touched-row computation of
lazy Adam and SGD). The configurations and models are those of the benchmarks
(``slide_bench.configs``):

    python asv_bench/profile_train_step.py --config B --model uniform-lazy
"""
import argparse
import collections
import time
import types

from slide_bench import configs as e2e


def timed(fn, name, totals):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        totals[name] += time.perf_counter() - t0
        return out
    return wrapper


def _model(name):
    if name.partition(":")[0] not in e2e.SLIDE_MODELS:
        raise argparse.ArgumentTypeError(f"unknown model {name!r}")
    return name


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="B", choices=sorted(e2e.CONFIGS))
    p.add_argument("--model", default="slide", type=_model,
                   help=f"one of {', '.join(e2e.SLIDE_MODELS)}, optionally with ':M' "
                        "for M negatives (e.g. batch-catchup:1500)")
    p.add_argument("--batches", type=int, default=100)
    p.add_argument("--n-train", type=int, default=20_000)
    args = p.parse_args(argv)
    X, Y, _, _ = e2e.make_data(args.config, n_train=args.n_train, n_test=1)
    net = e2e.make_model(args.config, args.model, Y)
    totals = collections.defaultdict(float)
    network = types.SimpleNamespace()
    for name in dir(net._kernels.network):
        f = getattr(net._kernels.network, name)
        setattr(network, name, timed(f, "kernel " + name, totals)
                if callable(f) and not name.startswith("_") else f)
    kernels = types.SimpleNamespace(**{**vars(net._kernels), "network": network})
    for part in [net.numerics] + [obj for layer in net.layers for obj in (layer,
                                                                          layer.optimizer)]:
        part._kernels = kernels
    for name in ("sample", "sample_block", "observe_block"):
        setattr(net.sampler_, name, timed(getattr(net.sampler_, name), f"sampler.{name}",
                                          totals))
    net.sampler_.after_step = timed(net.sampler_.after_step, "sampler.after_step (rehash)",
                                    totals)
    for layer in net.layers:
        layer.touched_rows = timed(layer.touched_rows, "touched rows (lazy Adam, SGD)", totals)
    e2e.train(net, X, Y, 3)
    totals.clear()
    t0 = time.perf_counter()
    e2e.train(net, X, Y, args.batches, start=3)
    dt = time.perf_counter() - t0
    print(f"{args.config} {args.model}: {args.batches * e2e.BATCH / dt:,.0f} samples/s, "
          f"{dt / args.batches * 1e3:.1f} ms per batch")
    for name, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<34} {t / args.batches * 1e3:7.2f} ms per batch")
    rest = dt - sum(totals.values())
    print(f"  {'rest (Python, slicing, checks)':<34} {rest / args.batches * 1e3:7.2f} ms per batch")


if __name__ == "__main__":
    main()
