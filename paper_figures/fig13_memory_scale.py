"""Peak memory and speed of slide_fast against the PyTorch peers; the 670k and 3M-label shapes.

Memory against the peers: the default ``slide_fast`` model (``batch-hard`` of
``slide_bench.configs``: the batch-shared uniform sampler, catch-up Adam, hard
negatives) and the PyTorch peers (``torch-uniform-sparse``: sparse embeddings and
``SparseAdam``; ``torch-uniform-fused``: dense fused Adam; ``torch-full``: full
softmax) train ``--epochs`` shuffled epochs and are then evaluated (test P@1 under
the full softmax), on the real Debian XC set (``slide.datasets.load_debian_xc()``)
and on configuration A (200k generated points).  Scale: the Amazon-670K shape
(``CONFIGS["670k"]``) and the Amazon-3M shape (``CONFIGS["3M"]``: 337,067
features, 2,812,281 labels) train ``--scale-steps`` batches of 128 after 5 warm-up
batches on generated points; the sparse PyTorch peer runs the 670k shape too.

Every model runs in a child process of its own, so that its peak RSS (``VmHWM`` of
/proc/self/status, else ``getrusage``) is that model's alone; the child records
its resident and peak memory after each step: interpreter, imports (``slide_fast``
alone for the slide models, which never import torch; torch as well for the
peers), data, model construction, training, evaluation.  Models run one after
the other in the order given, each in a fresh process.

    python -m paper_figures.fig13_memory_scale                 # ~20 min on 2 cores
    python -m paper_figures.fig13_memory_scale --skip-scale    # peers only
    python -m paper_figures.fig13_memory_scale --smoke         # seconds
"""
import importlib.abc
import json
import os
import resource
import subprocess
import sys
import time

from paper_figures import _common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLIDE_MODEL = "batch-hard"
PEERS = ["torch-uniform-sparse", "torch-uniform-fused", "torch-full"]
#: the sets the peers are compared on: (n_train, n_test) of generated ones
XC_SETS = {"debian": None, "A": (200_000, 5_000)}
#: the scale shapes: (generated training points, models)
SCALE_SETS = {"670k": (40_000, [SLIDE_MODEL, "torch-uniform-sparse"]),
              "3M": (20_000, [SLIDE_MODEL])}
SMOKE_CONFIG = dict(n_features=500, n_labels=2_000, labels_per_sample=2, range_pow=10)
SMOKE_SIZES = (3_000, 500)
WARMUP_STEPS = 5
MB = 1e6


# ------------------------------------------------------------------ measuring (child side)
def memory_mb(status_path="/proc/self/status"):
    """``(resident MB, peak resident MB)`` of this process: ``VmRSS`` and ``VmHWM``, or
    ``getrusage``'s peak for both where /proc is missing."""
    fields = {}
    try:
        with open(status_path) as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0]) * 1024 / MB
    except OSError:
        pass
    if len(fields) < 2:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
        return peak, peak
    return fields["VmRSS"], fields["VmHWM"]


class StepMeter:
    """Resident and peak memory, and seconds, after each named step of a run."""

    def __init__(self):
        self.steps = []
        self._t = time.perf_counter()

    def __call__(self, name):
        rss, peak = memory_mb()
        now = time.perf_counter()
        self.steps.append({"step": name, "rss_mb": rss, "peak_mb": peak, "s": now - self._t})
        self._t = now


class _NoTorch(importlib.abc.MetaPathFinder):
    """An import hook under which ``import torch`` raises ImportError, as where it is not
    installed (a ``None`` in ``sys.modules`` would confuse SciPy's array-API checks)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError("torch is kept out of the slide model's process")
        return None


def import_libraries(model, meter):
    """Import what ``model`` needs; a slide model never imports torch (``slide_bench.peers``
    would import it if installed), so its RSS holds no torch."""
    if not model.startswith("torch"):
        sys.meta_path.insert(0, _NoTorch())
    from threadpoolctl import threadpool_limits    # noqa: F401  (imported by both kinds)
    import slide_fast                               # noqa: F401
    from slide_bench import configs
    meter("imports")
    return configs


def config_of(data_name):
    """The configuration dict of a generated set (``smoke`` or a key of ``CONFIGS``)."""
    from slide_bench import configs
    return SMOKE_CONFIG if data_name == "smoke" else configs.CONFIGS[data_name]


def load_set(data_name, n_train, n_test):
    """``(X, Y, Xt, Yt)``: the Debian XC set or generated points of a configuration."""
    if data_name == "debian":
        import slide_fast
        return slide_fast.datasets.load_debian_xc()
    from slide_bench import configs
    return configs.make_data(config_of(data_name), n_train, n_test)


def dims_config(X, Y, data_name):
    """The configuration the model is built for: that of the set, or the real set's sizes
    with configuration B's table size (it only matters to LSH models)."""
    if data_name == "debian":
        return dict(n_features=X.shape[1], n_labels=Y.shape[1], labels_per_sample=1,
                    range_pow=18)
    return config_of(data_name)


def network_estimate_mb(model):
    """What ``check_allocation`` was told a slide network would take (None for a peer)."""
    if not hasattr(model, "layers"):
        return None
    from slide_ref._memory import network_nbytes
    return network_nbytes(model.n_features, model.hidden, model.n_outputs, model.optimizer,
                          model.bf16) / MB


def train_epochs(configs, model, X, Y, epochs, seed=0):
    """``epochs`` shuffled epochs of 128-point batches; returns (samples, seconds)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    samples, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(X.shape[0])
        for lo in range(0, X.shape[0] - configs.BATCH + 1, configs.BATCH):
            rows = np.sort(order[lo:lo + configs.BATCH])
            model.train_batch(X[rows], Y[rows])
            samples += configs.BATCH
    return samples, time.perf_counter() - t0


def child(kind, data_name, model_name, n_train, n_test, epochs, steps, n_threads):
    """One model's run in this process; prints a JSON report as the last line."""
    meter = StepMeter()
    meter("interpreter")
    configs = import_libraries(model_name, meter)
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=n_threads, user_api="blas")
    X, Y, Xt, Yt = load_set(data_name, n_train, n_test)
    meter("data")
    config = dims_config(X, Y, data_name)
    model = configs.make_model(config, model_name, Y, n_threads=n_threads)
    meter("model")
    report = {"kind": kind, "data": data_name, "model": model_name, "n_train": X.shape[0],
              "n_test": Xt.shape[0], "n_features": X.shape[1], "n_labels": Y.shape[1],
              "estimate_mb": network_estimate_mb(model)}
    if kind == "xc":
        samples, train_s = train_epochs(configs, model, X, Y, epochs)
        meter("train")
        report["p1"] = configs.p_at_1(model, Xt, Yt)
        meter("evaluate")
        report["epochs"] = epochs
    else:
        configs.train(model, X, Y, WARMUP_STEPS)
        t0 = time.perf_counter()
        configs.train(model, X, Y, steps, start=WARMUP_STEPS)
        samples, train_s = steps * configs.BATCH, time.perf_counter() - t0
        meter("train")
        report["steps"] = steps
    report.update(samples=samples, train_s=train_s, samples_per_second=samples / train_s,
                  steps_memory=meter.steps, peak_mb=meter.steps[-1]["peak_mb"],
                  imports_mb=meter.steps[1]["rss_mb"])
    print(json.dumps(report, default=float))


# ------------------------------------------------------------------ driving (parent side)
def run_child(kind, data_name, model, n_threads, n_train=0, n_test=1, epochs=1, steps=0,
              timeout=None):
    """Run one model in a fresh process; its report, or ``{"error": ...}`` when it failed."""
    cmd = [sys.executable, "-m", "paper_figures.fig13_memory_scale", "--child", kind,
           data_name, model, "--n-threads", str(n_threads), "--n-train", str(n_train),
           "--n-test", str(n_test), "--epochs", str(epochs), "--scale-steps", str(steps)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "data": data_name, "model": model, "error": "timed out"}
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        return {"kind": kind, "data": data_name, "model": model,
                "error": (out.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def step_mb(report, name, key="rss_mb"):
    return next(s[key] for s in report["steps_memory"] if s["step"] == name)


def describe(r):
    if "error" in r:
        return f"{r['data']:<8}{r['model']:<22} failed: {r['error']}"
    p1 = f"  P@1 {r['p1']:.4f}" if "p1" in r else ""
    return (f"{r['data']:<8}{r['model']:<22}{r['samples_per_second']:9,.0f} samples/s{p1}  "
            f"peak RSS {r['peak_mb']:7,.0f} MB (imports {r['imports_mb']:,.0f} MB)")


# ------------------------------------------------------------------ tables
def peers_table(rows):
    """Peak RSS against the peers: one row per (set, model), with the ratio to the best peer."""
    lines = ["| set | model | samples/s | P@1 | peak RSS MB | imports MB | peak above imports MB "
             "| peak / smallest peer peak |", "|---|---|---|---|---|---|---|---|"]
    for data_name in dict.fromkeys(r["data"] for r in rows):
        group = [r for r in rows if r["data"] == data_name]
        peer_peaks = [r["peak_mb"] for r in group
                      if r["model"].startswith("torch") and "error" not in r]
        best = min(peer_peaks) if peer_peaks else None
        for r in group:
            if "error" in r:
                lines.append(f"| {data_name} | `{r['model']}` | failed: {r['error']} | | | | | |")
                continue
            ratio = f"{r['peak_mb'] / best:.2f}" if best else "-"
            lines.append(f"| {data_name} | `{r['model']}` | {r['samples_per_second']:,.0f} | "
                         f"{r['p1']:.4f} | {r['peak_mb']:,.0f} | {r['imports_mb']:,.0f} | "
                         f"{r['peak_mb'] - r['imports_mb']:,.0f} | {ratio} |")
    return "\n".join(lines)


def steps_table(rows):
    """Where the slide model's memory goes: resident MB after each step, per set."""
    rows = [r for r in rows if not r["model"].startswith("torch") and "error" not in r]
    names = list(dict.fromkeys(s["step"] for r in rows for s in r["steps_memory"]))
    lines = ["| set | model | " + " | ".join(names) + " | peak |",
             "|---|---|" + "---|" * (len(names) + 1)]
    for r in rows:
        cells = [f"{step_mb(r, n):,.0f}" if any(s["step"] == n for s in r["steps_memory"])
                 else "" for n in names]
        lines.append(f"| {r['data']} | `{r['model']}` | " + " | ".join(cells)
                     + f" | {r['peak_mb']:,.0f} |")
    return "\n".join(lines)


def scale_table(rows):
    """The scale runs: shape, samples/s over the timed batches, memory after each step."""
    lines = ["| shape | model | features | labels | batches | samples/s | build s "
             "| RSS after build MB | peak RSS MB | `network_nbytes` estimate MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['data']} | `{r['model']}` | failed: {r['error']} "
                         "| | | | | | | |")
            continue
        estimate = r.get("estimate_mb")
        lines.append(f"| {r['data']} | `{r['model']}` | {r['n_features']:,} | "
                     f"{r['n_labels']:,} | {r['steps']} | {r['samples_per_second']:,.0f} | "
                     f"{step_mb(r, 'model', 's'):.0f} | {step_mb(r, 'model'):,.0f} | "
                     f"{r['peak_mb']:,.0f} | {'-' if estimate is None else f'{estimate:,.0f}'} |")
    return "\n".join(lines)


def doc_tables(data):
    """The docs tables: peak RSS against the peers, the slide model's steps, the scale runs."""
    tables = {"fig13:peers": peers_table(data["peers"]),
              "fig13:steps": steps_table(data["peers"] + data["scale"])}
    if data["scale"]:
        tables["fig13:scale"] = scale_table(data["scale"])
    return tables


def summary(data):
    """The README's result cell (``make_docs``): peak RSS against the smallest peer's, and
    the scale runs."""
    parts = []
    for name in dict.fromkeys(r["data"] for r in data["peers"]):
        group = [r for r in data["peers"] if r["data"] == name and "error" not in r]
        mine = [r for r in group if not r["model"].startswith("torch")]
        peers = [r["peak_mb"] for r in group if r["model"].startswith("torch")]
        if mine and peers:
            parts.append(f"{name}: peak RSS of train + evaluate {mine[0]['peak_mb']:,.0f} MB, "
                         f"{mine[0]['peak_mb'] / min(peers):.2f}x the smallest PyTorch peer's")
    for r in data["scale"]:
        if "error" not in r and not r["model"].startswith("torch"):
            parts.append(f"{r['n_labels']:,} labels: {r['samples_per_second']:,.0f} samples/s, "
                         f"{r['peak_mb']:,.0f} MB peak")
    return {"fig13": "; ".join(parts)}


# ------------------------------------------------------------------ plot
def plot(data, path):
    """Peak RSS (bars: imports and the rest) of every run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs = [r for r in data["peers"] + data["scale"] if "error" not in r]
    labels = [f"{r['data']}\n{r['model']}" for r in runs]
    imports = [r["imports_mb"] for r in runs]
    rest = [r["peak_mb"] - r["imports_mb"] for r in runs]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(runs)), 4.5))
    ax.bar(labels, imports, label="imports")
    ax.bar(labels, rest, bottom=imports, label="data, model, training, evaluation")
    ax.set_ylabel("peak RSS (MB)")
    ax.set_yscale("log")
    ax.tick_params(axis="x", labelsize=7, rotation=45)
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    return _common.save_figure(fig, path)


# ------------------------------------------------------------------ main
def run_all(args):
    """Every requested run, each in its own process: ``{"peers": [...], "scale": [...]}``."""
    peers_available = _torch_installed()
    if not peers_available:
        print("PyTorch is not installed: the peers are skipped", flush=True)
    sets = ["smoke"] if args.smoke else args.sets
    peers = args.peers[:1] if args.smoke else args.peers      # one peer keeps --smoke short
    models = [args.slide_model] + [m for m in peers if peers_available]
    results = {"peers": [], "scale": []}
    for data_name in sets:
        n_train, n_test = SMOKE_SIZES if args.smoke else (XC_SETS[data_name] or (0, 1))
        for model in models:
            r = run_child("xc", data_name, model, args.n_threads, n_train, n_test,
                          epochs=1 if args.smoke else args.epochs)
            results["peers"].append(r)
            print(describe(r), flush=True)
    shapes = [] if args.skip_scale else (["smoke"] if args.smoke else args.scale)
    for shape in shapes:
        n_train, models = (SMOKE_SIZES[0], [args.slide_model]) if args.smoke else SCALE_SETS[shape]
        for model in models:
            if model.startswith("torch") and not peers_available:
                continue
            r = run_child("scale", shape, model, args.n_threads, n_train,
                          steps=3 if args.smoke else args.scale_steps, timeout=args.scale_timeout)
            results["scale"].append(r)
            print(describe(r), flush=True)
    return results


def _torch_installed():
    import importlib.util
    return importlib.util.find_spec("torch") is not None


def main(argv=None):
    p = _common.parser(__doc__.split("\n")[0])
    p.add_argument("--sets", nargs="+", default=list(XC_SETS), choices=list(XC_SETS))
    p.add_argument("--peers", nargs="*", default=PEERS)
    p.add_argument("--slide-model", default=SLIDE_MODEL)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--scale", nargs="+", default=list(SCALE_SETS), choices=list(SCALE_SETS))
    p.add_argument("--skip-scale", action="store_true", help="no 670k / 3M runs")
    p.add_argument("--scale-steps", type=int, default=200)
    p.add_argument("--scale-timeout", type=float, default=1800, help="seconds per scale run")
    p.add_argument("--child", nargs=3, metavar=("KIND", "SET", "MODEL"), help=_suppress())
    p.add_argument("--n-train", type=int, default=0, help=_suppress())
    p.add_argument("--n-test", type=int, default=1, help=_suppress())
    args = p.parse_args(argv)
    if args.child:
        return child(*args.child, args.n_train, args.n_test, args.epochs, args.scale_steps,
                     args.n_threads)
    results = run_all(args)
    _common.save_json(results, args.out, "fig13_memory_scale.json", n_threads=args.n_threads,
                      argv=argv)
    for text in doc_tables(results).values():
        print(text + "\n")
    print(f"wrote {plot(results, os.path.join(args.out, 'fig13_memory_scale.png'))}")


def _suppress():
    import argparse
    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
