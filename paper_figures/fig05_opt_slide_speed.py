"""Optimized SLIDE against PyTorch: one epoch of 200k points on configurations A and B, and
the 670k-label scaling run.

Configurations and models are those of the benchmarks (``slide_bench.configs``):
A = 10k features / 10k labels / one label per point (2^14 buckets), B = 100k
features / 100k labels / mean 2 labels per point (2^18 buckets); network sparse
input -> 128 ReLU -> softmax, batch 128, Adam lr 1e-3, 2 threads, DWTA K=6 L=50.
``slide_fast`` models: ``slide`` (LSH-sampled softmax, dense Adam), ``slide-lazy``
(the same, lazy Adam), ``uniform-lazy`` (1000 shared uniform negatives, lazy
Adam), ``batch`` (the batch's labels plus 1000 shared uniform negatives for every
point, dense products, dense Adam), ``batch-lazy-input`` (the same, lazy Adam on the
input layer), ``full`` (full softmax); PyTorch peers: ``torch-full``,
``torch-uniform``, ``torch-loguniform`` (logQ corrected), ``torch-uniform-fused``.

Every model runs in its own child process (so each peak RSS, from
``getrusage``, is that model's alone: data, interpreter and training), trains
one shuffled epoch and is evaluated (test P@1, full softmax) every
``--eval-every`` batches; evaluation time is excluded from the training clock.
For B, the time-to-accuracy column is PyTorch full softmax's training time for
the epoch divided by the time the model needed to reach PyTorch full softmax's
final P@1 (``-``: not reached within the epoch).

The scaling run (Amazon-670K shape: 135,909 features, 670,091 labels, mean 5
labels per point) trains ``--scaling-steps`` batches after 5 warm-up batches
and reports samples/s and the child's peak RSS.

Outputs in ``--out``: ``fig05_opt_slide_speed.md`` (tables),
``fig05_opt_slide_speed.json`` (curves) and ``fig05_opt_slide_speed.png``
(P@1 against training time).

    python -m paper_figures.fig05_opt_slide_speed                       # ~40 min on 2 cores
    python -m paper_figures.fig05_opt_slide_speed --configs B --scaling # B and 670k only
    python -m paper_figures.fig05_opt_slide_speed --smoke               # seconds
"""
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from paper_figures import _common
from slide_bench import configs as e2e
from slide_bench import peers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = dict(e2e.CONFIGS, smoke=dict(n_features=500, n_labels=1000, labels_per_sample=2,
                                       range_pow=14))
DEFAULT_MODELS = ["slide", "slide-lazy", "uniform-lazy", "batch", "batch-lazy-input",
                  "torch-full", "torch-uniform", "torch-loguniform", "torch-uniform-fused"]
SIZES = {"A": (200_000, 5_000), "B": (200_000, 2_000), "smoke": (3_000, 300)}


def child(config, model, n_train, n_test, eval_every, n_threads, scaling_steps):
    """Train one model (in this process) and print a JSON report as the last line."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=n_threads, user_api="blas")
    t0 = time.perf_counter()
    X, Y, Xt, Yt = e2e.make_data(CONFIGS[config], n_train, n_test)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    m = e2e.make_model(CONFIGS[config], model, Y, n_threads=n_threads)
    build_s = time.perf_counter() - t0
    report = {"config": config, "model": model, "n_train": n_train, "data_s": gen_s,
              "build_s": build_s}
    if scaling_steps:
        e2e.train(m, X, Y, 5)
        t0 = time.perf_counter()
        e2e.train(m, X, Y, scaling_steps, start=5)
        dt = time.perf_counter() - t0
        report.update(samples_per_second=scaling_steps * e2e.BATCH / dt, steps=scaling_steps)
    else:
        curve = _common.train_curve(m, X, Y, Xt, Yt, e2e.BATCH, budget_s=np.inf,
                                    eval_every=eval_every, max_epochs=1,
                                    predict_top1=e2e.top1)
        train_s, samples, p1 = curve[-1]
        report.update(curve=curve, train_s=train_s, samples=samples, p1=p1,
                      samples_per_second=samples / train_s)
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(json.dumps(report, default=float))


def run_child(args, config, model, scaling_steps=0):
    if config == "670k":
        n_train, n_test = args.scaling_train, 1
    else:
        n_train, n_test = SIZES[config]
    cmd = [sys.executable, "-m", "paper_figures.fig05_opt_slide_speed", "--child", config, model,
           "--n-threads", str(args.n_threads), "--eval-every", str(args.eval_every),
           "--n-train", str(n_train), "--n-test", str(n_test),
           "--scaling-steps", str(scaling_steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        raise RuntimeError(f"{config}/{model} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_to(curve, target):
    for train_s, _, p1 in curve:
        if p1 >= target:
            return train_s
    return None


def scaling_table(rows):
    """samples/s, steps, peak RSS and build time of the scaling runs."""
    lines = ["| 670k: model | samples/s | steps | peak RSS MB | build s |",
             "|---|---|---|---|---|"]
    for model, r in rows.items():
        lines.append(f"| {model} | {r['samples_per_second']:,.0f} | {r['steps']} | "
                     f"{r['peak_rss_mb']:,.0f} | {r['build_s']:.1f} |")
    return "\n".join(lines)


def doc_tables(data):
    """The docs tables of a saved run (its JSON): one per configuration, and the 670k run."""
    results = data["results"]
    return {f"fig05:{config}": scaling_table(rows) if config == "670k" else
            table(results, config) for config, rows in results.items()}


def table(results, config):
    rows = results[config]
    ref = rows.get("torch-full")
    lines = [f"| {config}: model | samples/s | P@1 after 1 epoch | train s | peak RSS MB | "
             "time to PyTorch full's P@1 | sooner than PyTorch full |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        t_hit, speed = None, None
        if ref is not None:
            t_hit = time_to(r["curve"], ref["p1"])
            speed = ref["train_s"] / t_hit if t_hit else None
        lines.append(f"| {name} | {r['samples_per_second']:,.0f} | {r['p1']:.4f} | "
                     f"{r['train_s']:.1f} | {r['peak_rss_mb']:,.0f} | "
                     f"{'-' if t_hit is None else f'{t_hit:.1f} s'} | "
                     f"{'-' if speed is None else f'{speed:.1f}x'} |")
    return "\n".join(lines)


def main(argv=None):
    p = _common.parser(__doc__.split("\n")[0])
    p.add_argument("--configs", default="A,B", help="comma-separated: A, B")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--scaling", action="store_true", help="also the 670k-label run")
    p.add_argument("--scaling-models",
                   default="slide,slide-lazy,uniform-lazy,batch,batch-lazy-input")
    p.add_argument("--scaling-steps", type=int, default=300)
    p.add_argument("--scaling-train", type=int, default=40_000)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--child", nargs=2, metavar=("CONFIG", "MODEL"), help=argparse_suppress())
    p.add_argument("--n-train", type=int, default=0, help=argparse_suppress())
    p.add_argument("--n-test", type=int, default=0, help=argparse_suppress())
    args = p.parse_args(argv)
    if args.child:
        return child(args.child[0], args.child[1], args.n_train, args.n_test, args.eval_every,
                     args.n_threads, args.scaling_steps)
    models = args.models.split(",")
    configs = args.configs.split(",")
    if args.smoke:
        configs, args.eval_every, args.scaling = ["smoke"], 5, True
        args.scaling_steps, args.scaling_train, args.scaling_models = 3, 2_000, "slide"
        models = [m for m in models if m in ("slide", "uniform-lazy", "batch", "torch-full",
                                             "torch-loguniform")]
    if not peers.available():
        models = [m for m in models if not m.startswith("torch")]
    results, panels, md = {}, {}, []
    for config in configs:
        results[config] = {}
        for model in models:
            r = run_child(args, config, model)
            results[config][model] = r
            print(f"{config:<6}{model:<22}{r['samples_per_second']:9,.0f} samples/s  "
                  f"P@1 {r['p1']:.4f}  train {r['train_s']:7.1f} s  "
                  f"peak RSS {r['peak_rss_mb']:7,.0f} MB", flush=True)
        panels[f"configuration {config}"] = {m: r["curve"] for m, r in results[config].items()}
        md.append(table(results, config))
    if args.scaling:
        results["670k"] = {}
        scale_config = "smoke" if args.smoke else "670k"
        for model in args.scaling_models.split(","):
            r = run_child(args, scale_config, model, scaling_steps=args.scaling_steps)
            results["670k"][model] = r
            print(f"{scale_config:<6}{model:<22}{r['samples_per_second']:9,.0f} samples/s  "
                  f"peak RSS {r['peak_rss_mb']:7,.0f} MB  build {r['build_s']:.1f} s",
                  flush=True)
        md.append(scaling_table(results["670k"]))
    os.makedirs(args.out, exist_ok=True)
    _common.save_json({"results": results}, args.out, "fig05_opt_slide_speed.json",
                      n_threads=args.n_threads, argv=argv)
    cmd = _common.command_line("fig05_opt_slide_speed", sys.argv[1:] if argv is None else argv)
    text = f"Command: `{cmd}`\n\n" + "\n\n".join(md) + "\n"
    with open(os.path.join(args.out, "fig05_opt_slide_speed.md"), "w") as fh:
        fh.write(text)
    print(text)
    path = _common.plot_curves(panels, os.path.join(args.out, "fig05_opt_slide_speed.png"))
    print(f"wrote {path}")


def argparse_suppress():
    import argparse
    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
