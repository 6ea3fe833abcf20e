"""Helpers shared by the figure scripts: output paths, run metadata, timing loops, plotting."""
import argparse
import json
import os
import shlex
import sys
import time

import numpy as np

from slide_bench.machine import machine_info

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    p.add_argument("--out", default=OUT_DIR, help="directory of the PNG and JSON outputs")
    p.add_argument("--n-threads", type=int, default=2)
    return p


def save_json(obj, out_dir, name, n_threads=None, argv=None):
    """Write ``obj`` (a dict) to ``out_dir/name`` with a ``meta`` entry: the command that
    produced it and the machine it ran on (:func:`run_meta`), for the docs tables."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    obj = dict(obj, meta=run_meta(os.path.splitext(name)[0], n_threads, argv))
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=1, default=float)
    return path


def run_meta(script, n_threads=None, argv=None):
    """``{"command": ..., "machine": ...}`` of this run of ``paper_figures.<script>``."""
    return {"command": command_line(script, sys.argv[1:] if argv is None else argv),
            "machine": machine_info(n_threads)}


def command_line(script, argv):
    """The command that reruns a figure: ``python -m paper_figures.<script> ARGS``, without
    ``--out`` (where the outputs go does not change them)."""
    args, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--out":
            skip = True
        elif not a.startswith("--out="):
            args.append(a)
    return " ".join(["python -m", f"paper_figures.{script}"] + [shlex.quote(a) for a in args])


def train_curve(model, X, Y, Xt, Yt, batch_size, budget_s, eval_every, max_epochs=1,
                predict_top1=None, seed=0):
    """Train batch by batch (shuffled epochs) until ``budget_s`` seconds of training or
    ``max_epochs``; every ``eval_every`` batches record (train seconds, samples, test P@1).
    Evaluation time is excluded from the clock."""
    rng = np.random.default_rng(seed)
    curve, train_s, samples = [], 0.0, 0
    for epoch in range(max_epochs):
        order = rng.permutation(X.shape[0])
        for b, start in enumerate(range(0, X.shape[0], batch_size)):
            idx = order[start:start + batch_size]
            t0 = time.perf_counter()
            model.train_batch(X[idx], Y[idx])
            train_s += time.perf_counter() - t0
            samples += len(idx)
            if (b + 1) % eval_every == 0 or train_s > budget_s:
                curve.append((train_s, samples, p_at_1(predict_top1(model, Xt), Yt)))
            if train_s > budget_s:
                return curve
        curve.append((train_s, samples, p_at_1(predict_top1(model, Xt), Yt)))
    return curve


def p_at_1(top1, Y):
    return float(np.asarray(Y[np.arange(Y.shape[0]), top1]).mean())


def plot_curves(panels, path, xlabel="training time (s)", ylabel="P@1"):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels.items()):
        for name, pts in curves.items():
            if pts:
                ax.plot([p[0] for p in pts], [p[2] for p in pts], marker=".", label=name)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
