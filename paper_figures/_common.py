"""Helpers shared by the figure scripts: output paths, run metadata, timing loops, plotting."""
import argparse
import json
import os
import shlex
import sys

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
    ``max_epochs``; every ``eval_every`` batches of an epoch, at the end of every epoch and
    when the budget is spent, record (train seconds, samples, test P@1).
    Evaluation time is excluded from the clock."""
    from slide_ref.training import EvalSchedule, FitLoop, ShuffledBatches, trainer_for
    curve = []

    def record(loop):
        curve.append((loop.train_time, loop.samples, p_at_1(predict_top1(model, Xt), Yt)))
        return {}

    FitLoop(trainer_for(model, X, Y), ShuffledBatches(X.shape[0], batch_size,
                                                      np.random.default_rng(seed)),
            epochs=max_epochs, evaluate=record, max_time=budget_s,
            schedule=EvalSchedule(eval_every, per_epoch=True, at_epoch_end=True)).run()
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
    return save_figure(fig, path)


def save_figure(fig, path):
    """Lay out ``fig``, write it to ``path`` as a PNG and close it; returns ``path``."""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
