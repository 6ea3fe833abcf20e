"""P@1 against wall-clock time and against epochs for the output-layer samplers (LNS).

LSH Embedding, LSH Label, uniform, unigram, log-uniform and the full softmax
train the same network (sparse input -> 128 ReLU -> softmax, lazy Adam
lr 1e-3, batch 128, ``slide_fast``, 2 threads) for the same training-time
budget on synthetic XC sets shaped like the LNS paper's data:

* 100k labels, 100k features, 2 labels per point (several seeds);
* 670k labels, 135,909 features, 5 labels per point (Amazon-670K's shape).

LSH samplers run with dense SimHash tables and with SLIDE's DWTA tables
(K=6, L=50, bucket capacity 128, rehash every 6400 samples); at most 500
classes come from the tables (tables visited in random order, whole buckets)
and random padding fills the set to 1000 classes, LSH Label querying with one
random label of the point; the static samplers draw 1000
negatives per sample, with the logQ correction and accidental-hit removal
(TensorFlow's ``sampled_softmax_loss`` defaults). For every LSH run the script
also reports how many classes came from the tables and what fraction of the
true top-50 logits they held. Training time excludes evaluation.

    python -m paper_figures.fig04_lns_samplers            # ~25 minutes on 2 cores
    python -m paper_figures.fig04_lns_samplers --smoke    # seconds
"""
import os
import time

import numpy as np

import slide_fast
from paper_figures import _common

SAMPLERS = ["lsh-embedding", "lsh-label", "uniform", "unigram", "loguniform", "full"]


def configs(smoke):
    if smoke:
        return {"2k labels (smoke)": (dict(n_samples=3000, n_features=500, n_labels=2000,
                                           n_test=300, labels_per_sample=2), [0])}
    return {"100k labels": (dict(n_samples=200_000, n_features=100_000, n_labels=100_000,
                                 n_test=2_000, labels_per_sample=2), [0, 1, 2]),
            "670k labels": (dict(n_samples=150_000, n_features=135_909, n_labels=670_091,
                                 n_test=1_000, labels_per_sample=5), [0])}


def sampler(name, smoke, max_table=500, min_active=1000):
    neg = slide_fast.negative
    name, _, hash_family = name.partition("/")
    if name == "full":
        return neg.FullSoftmax()
    if name.startswith("lsh"):
        # about half the set from the tables, half random padding: at most 500 table
        # classes (tables in random order, whole buckets), padded to 1000 (SLIDE's rule);
        # classes the tables never return still get pushed down by the random half
        size = dict(min_active=200, fill_below=300, max_active=100) if smoke else \
            dict(min_active=min_active, fill_below=1500, max_active=max_table)
        # a dense projection (ratio 1): the logits are inner products, whose angle
        # SimHash tracks
        params = {"ratio": 1} if hash_family == "simhash" else None
        lsh = neg.LSHParams(K=6, L=50, hash_family=hash_family, hash_params=params, **size)
        return neg.make_sampler(name, lsh=lsh, label_query="random")
    return neg.make_sampler(name, n_negatives=200 if smoke else 1000, logq=name != "uniform")


def run(name, data, seed, budget, eval_every, n_threads, smoke, max_table=500,
        min_active=1000):
    X, Y, Xt, Yt = data
    net = slide_fast.network.SlideNetwork(
        X.shape[1], Y.shape[1], hidden=(128,), output_sampler=sampler(name, smoke, max_table, min_active),
        optimizer="lazy_adam", lr=1e-3, n_threads=n_threads, random_state=seed)
    net.sampler_.prepare(Y)
    curve = _common.train_curve(net, X, Y, Xt, Yt, 128, budget, eval_every=eval_every,
                                max_epochs=50, seed=seed,
                                predict_top1=lambda m, Xe: m.predict_topk(Xe, k=1)[0][:, 0])
    out = {"curve": curve, "epochs": [c[1] / X.shape[0] for c in curve]}
    if name.startswith("lsh"):
        rows = slice(0, 512)
        out["retrieval"] = net.retrieval_quality(Xt[rows], Yt[rows], top=50)
    return out


def summarize(results):
    """Mean final P@1 (and std over seeds) and samples/s per configuration and sampler."""
    table = {}
    for title, runs in results.items():
        for name, per_seed in runs.items():
            final = [r["curve"][-1] for r in per_seed]
            p1 = np.array([f[2] for f in final])
            sps = np.array([f[1] / f[0] for f in final])
            row = {"p1_mean": float(p1.mean()), "p1_std": float(p1.std()),
                   "samples_per_s": float(sps.mean()), "seeds": len(final),
                   "epochs": float(np.mean([r["epochs"][-1] for r in per_seed]))}
            if "retrieval" in per_seed[0]:
                for key in ("candidates", "from_tables", "padding", "top_recall"):
                    row[key] = float(np.mean([r["retrieval"][key] for r in per_seed]))
            table.setdefault(title, {})[name] = row
    return table


def doc_tables(data):
    """The docs table of a saved run (its JSON)."""
    return {"fig04": markdown(data["table"], data["budget_s"]).rstrip("\n")}


def markdown(table, budget):
    lines = [f"| data | sampler | P@1 after {budget:.0f} s (mean ± std) | samples/s | epochs | "
             "per sample: candidates / from tables / padding | top-50 recall |",
             "|---|---|---|---|---|---|---|"]
    for title, rows in table.items():
        for name, r in rows.items():
            ret = (f"{r['candidates']:.0f} / {r['from_tables']:.0f} / {r['padding']:.0f}"
                   if "candidates" in r else "")
            rec = f"{r['top_recall']:.3f}" if "top_recall" in r else ""
            lines.append(f"| {title} | {name} | {r['p1_mean']:.4f} ± {r['p1_std']:.4f} "
                         f"(n={r['seeds']}) | {r['samples_per_s']:.0f} | {r['epochs']:.2f} | "
                         f"{ret} | {rec} |")
    return "\n".join(lines) + "\n"


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, len(results), figsize=(5.5 * len(results), 8), squeeze=False)
    for col, (title, runs) in enumerate(results.items()):
        for name, per_seed in runs.items():
            c = per_seed[0]["curve"]     # the first seed's curve
            axes[0, col].plot([p[0] for p in c], [p[2] for p in c], marker=".", label=name)
            axes[1, col].plot(per_seed[0]["epochs"], [p[2] for p in c], marker=".",
                              label=name)
        axes[0, col].set(title=title, xlabel="training time (s)", ylabel="test P@1")
        axes[1, col].set(title=title, xlabel="epochs", ylabel="test P@1")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    return _common.save_figure(fig, path)


def main(argv=None):
    p = _common.parser(__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=40, help="training seconds per run")
    p.add_argument("--samplers", nargs="+", default=SAMPLERS, choices=SAMPLERS)
    p.add_argument("--hash", nargs="+", default=["simhash", "dwta"],
                   choices=["simhash", "dwta"], help="hash families of the LSH samplers")
    p.add_argument("--max-table", type=int, default=500,
                   help="LSH samplers: cap on the classes taken from the tables")
    p.add_argument("--min-active", type=int, default=1000,
                   help="LSH samplers: random padding up to this many classes (0: none)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="seeds to run (default: each data set's own list)")
    p.add_argument("--configs", nargs="+", default=None,
                   help="subset of the data sets by title (default: all)")
    args = p.parse_args(argv)
    budget = 3 if args.smoke else args.budget
    results = {}
    for title, (cfg, seeds) in configs(args.smoke).items():
        if args.configs and title not in args.configs:
            continue
        t0 = time.perf_counter()
        data = slide_fast.datasets.make_xc(**cfg, random_state=0)
        print(f"{title}: data in {time.perf_counter() - t0:.0f} s", flush=True)
        results[title] = {}
        eval_every = 20 if args.smoke else 150
        for seed in (args.seeds or seeds):     # seeds outermost: machine noise spreads over the samplers
            names = [f"{n}/{h}" if n.startswith("lsh") else n
                     for n in args.samplers for h in (args.hash if n.startswith("lsh") else [0])]
            for name in names:
                r = run(name, data, seed, budget, eval_every, args.n_threads, args.smoke,
                        args.max_table, args.min_active)
                results[title].setdefault(name, []).append(r)
                last = r["curve"][-1]
                extra = ""
                if "retrieval" in r:
                    q = r["retrieval"]
                    extra = (f"  candidates {q['candidates']:.0f}, from tables "
                             f"{q['from_tables']:.0f}, padding {q['padding']:.0f}, "
                             f"top-50 recall {q['top_recall']:.3f}")
                print(f"{title:<14}{name:<23}seed {seed}  {last[1] / last[0]:7.0f} samples/s  "
                      f"P@1 {last[2]:.4f} after {last[1]} samples{extra}", flush=True)
        del data
    table = summarize(results)
    _common.save_json({"results": results, "table": table, "budget_s": budget,
                       "hash": args.hash}, args.out,
                      "fig04_lns_samplers.json", n_threads=args.n_threads, argv=argv)
    md = markdown(table, budget)
    with open(os.path.join(args.out, "fig04_lns_samplers.md"), "w") as fh:
        fh.write(md)
    print(md)
    print(f"wrote {plot(results, os.path.join(args.out, 'fig04_lns_samplers.png'))}")


if __name__ == "__main__":
    main()
