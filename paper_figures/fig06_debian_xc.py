"""Time-to-accuracy of the classifier presets on the real Debian XC set (slide_fast).

Every preset of :class:`slide.SlideClassifier` (``slide_ref.classifier.PRESETS``):
the batch-shared uniform sampler with catch-up Adam, with and without the
hard-negative memory; SLIDE's configuration (DWTA LSH output, padding, dense
Adam); LSH Embedding negatives (SimHash); and the full softmax.  Same network
for all: sparse tf-idf input -> 128 ReLU -> output, lr 1e-3, batch 128.  The
models are trained interleaved, one epoch each in turn, so that the load of a
shared machine falls on all of them alike; after every epoch the test P@1 is
computed with the full softmax (evaluation is not timed).

The data: ``slide.datasets.load_debian_xc()`` (package descriptions -> the
packages they depend on; built from apt's lists and cached, ``make data``;
protocol in ``docs/data.md``).  ``--smoke`` uses a small synthetic set.

    python -m paper_figures.fig06_debian_xc                # a few minutes on 2 cores
    python -m paper_figures.fig06_debian_xc --smoke        # seconds
"""
import os

import numpy as np

import slide_fast
from paper_figures import _common
from slide_ref.classifier import PRESETS, preset_components

#: what the table and the plot call each preset
LABELS = {"shared_uniform_hard": "batch-shared uniform + catch-up Adam + hard negatives (t=4)",
          "shared_uniform": "batch-shared uniform + catch-up Adam",
          "slide_paper": "SLIDE (DWTA LSH output, dense Adam)",
          "lns_embedding": "LSH Embedding (SimHash), dense Adam",
          "full_softmax": "full softmax, dense Adam"}


def load_data(smoke):
    """``(X, Y, Xt, Yt, name)``: the real set, or a small synthetic one for ``--smoke``."""
    if smoke:
        X, Y, Xt, Yt = slide_fast.datasets.make_xc(n_samples=3000, n_features=500,
                                                   n_labels=2500, n_test=500,
                                                   labels_per_sample=2, random_state=0)
        return X, Y, Xt, Yt, "synthetic XC (smoke)"
    X, Y, Xt, Yt = slide_fast.datasets.load_debian_xc()
    return X, Y, Xt, Yt, "Debian XC"


def make_network(preset, n_features, n_labels, n_threads, seed=0):
    """A fresh ``SlideNetwork`` configured as the classifier's ``preset``."""
    sampler, optimizer = preset_components(preset, slide_fast.negative, n_outputs=n_labels)
    sampled = (False, True) if sampler is None else None
    return slide_fast.network.SlideNetwork(
        n_features, n_labels, hidden=(128,), sampled=sampled, output_sampler=sampler,
        optimizer=optimizer, lr=1e-3, batch_size=128, n_threads=n_threads,
        random_state=seed)


def top1(network, X):
    return network.predict_topk(X, k=1)[0][:, 0]


def run(presets, data, epochs, n_threads):
    """``{preset: [(train s, samples, test P@1) after every epoch]}``, trained interleaved."""
    X, Y, Xt, Yt = data
    nets = {p: make_network(p, X.shape[1], Y.shape[1], n_threads) for p in presets}
    curves = {p: [] for p in presets}
    for epoch in range(epochs):
        for preset, net in nets.items():
            point = _common.train_curve(net, X, Y, Xt, Yt, 128, budget_s=float("inf"),
                                        eval_every=10**9, predict_top1=top1,
                                        seed=epoch)[-1]
            t0, s0 = curves[preset][-1][:2] if curves[preset] else (0.0, 0)
            curves[preset].append((t0 + point[0], s0 + point[1], point[2]))
            t, s, p1 = curves[preset][-1]
            print(f"epoch {epoch + 1} {LABELS[preset]:<62} {s / t:8.0f} samples/s  "
                  f"P@1 {p1:.4f}  {t:.1f} s", flush=True)
    return curves


def time_to(curve, target):
    """Training seconds at the first epoch whose P@1 reaches ``target`` (None: never)."""
    return next((t for t, _, p1 in curve if p1 >= target), None)


def doc_tables(data):
    """The docs table: samples/s, P@1 after the first and the last epoch, best P@1, and the
    time to reach 98% of the full softmax's best P@1."""
    curves = data["curves"]
    ref = max(p1 for _, _, p1 in curves["full_softmax"]) if "full_softmax" in curves else None
    target = None if ref is None else 0.98 * ref
    lines = ["| preset | model | samples/s | P@1 epoch 1 | P@1 last epoch | best P@1 | "
            f"train s to P@1 >= {target:.3f} | train s, all epochs |" if target is not None else "| |",
             "|---|---|---|---|---|---|---|---|"]
    for preset, curve in curves.items():
        t, s, last = curve[-1]
        reach = time_to(curve, target) if target is not None else None
        lines.append(f"| `{preset}` | {LABELS.get(preset, preset)} | {s / t:,.0f} | "
                     f"{curve[0][2]:.4f} | {last:.4f} | {max(c[2] for c in curve):.4f} | "
                     f"{'not reached' if reach is None else f'{reach:.1f}'} | {t:.1f} |")
    stats = data["data"]
    lines.append("")
    lines.append(f"{stats['name']}: {stats['n_train']:,} training and {stats['n_test']:,} test "
                 f"points, {stats['n_features']:,} features, {stats['n_labels']:,} labels; "
                 f"{data['epochs']} epochs.")
    return {"fig06": "\n".join(lines)}


def main(argv=None):
    p = _common.parser(__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    args = p.parse_args(argv)
    X, Y, Xt, Yt, name = load_data(args.smoke)
    epochs = 2 if args.smoke else args.epochs
    curves = run(args.presets, (X, Y, Xt, Yt), epochs, args.n_threads)
    stats = {"name": name, "n_train": X.shape[0], "n_test": Xt.shape[0],
             "n_features": X.shape[1], "n_labels": Y.shape[1]}
    _common.save_json({"curves": curves, "epochs": epochs, "data": stats}, args.out,
                      "fig06_debian_xc.json", n_threads=args.n_threads, argv=argv)
    panel = {name: {LABELS[k]: v for k, v in curves.items()}}
    path = _common.plot_curves(panel, os.path.join(args.out, "fig06_debian_xc.png"))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
