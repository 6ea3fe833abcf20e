"""LNS on the real sets: adaptive against static negative samplers at equal training time.

Every model trains the same network (sparse input -> 128 ReLU -> softmax,
lr 1e-3, batch 128, ``slide_fast``) for the same training-time budget on the
real Debian XC set and on the Debian next-word task, and its test P@1 (full
softmax) is recorded against training seconds.  The models (:data:`MODELS`,
a dict of name -> :class:`Model`, easy to extend):

* static, batch-shared (one candidate set per batch: its labels plus 1000
  shared draws, dense products, catch-up Adam): uniform, unigram and
  log-uniform with the logQ correction of a deduplicated set;
* static, per sample (1000 distinct uniform negatives per point, lazy Adam);
* adaptive: LSH Embedding and LSH Label (dense SimHash, K=6, L=50, reservoir
  buckets of 128, at most 500 classes from the tables padded with random ones
  to 1000, lazy Adam; fig04's recipe), and the hard-negative memory
  (batch-shared uniform + 4 remembered hard negatives per class, catch-up Adam);
* reference: the full softmax (dense Adam).

Equal wall-clock: the budget is cut into chunks and the models train in turn,
one chunk each (their order rotated every round), so the load of a shared
machine falls on all of them alike; every chunk reshuffles the training rows.
Test P@1 is computed at the end of every chunk and every epoch, outside the
clock.

The data: ``load_debian_xc()`` in full, and a fixed random subset of
``load_debian_text()`` (``--text-train`` training and ``--text-test`` test
examples, drawn with seed 0; 70,505 words, a 4-word context).  Both are built
from apt's lists and cached (``make data``, protocol in ``docs/data.md``).
``--smoke`` uses two small synthetic sets.

    python -m paper_figures.fig08_lns_real                 # ~25 minutes on 2 cores
    python -m paper_figures.fig08_lns_real --smoke         # seconds
"""
import os
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp

import slide_fast
from paper_figures import _common

neg = slide_fast.negative


@dataclass(frozen=True)
class Model:
    """One compared model: its label, its kind (``"static"``, ``"adaptive"`` or
    ``"reference"``) and ``build(n_labels) -> (sampler, optimizer)``."""
    label: str
    kind: str
    build: Callable


def _shared(sampler_cls, hard=0, **params):
    """A batch-shared static sampler with catch-up Adam: the batch's labels plus 1000 shared
    draws (capped at half the classes for small label sets), deduplicated."""
    def build(n_labels):
        m = max(1, min(1000, n_labels // 2))
        return (sampler_cls(m, shared=True, batch_labels=True, hard_negatives=hard, **params),
                "catchup_adam")
    return build


def _per_sample_uniform(n_labels):
    """1000 distinct uniform negatives per point with lazy Adam: the per-sample path of the
    LSH samplers, with the same set size."""
    return neg.UniformSampler(max(1, min(1000, n_labels // 2))), "lazy_adam"


def _lsh(query):
    """LSH Embedding / LSH Label with dense SimHash tables: at most 500 classes from the
    tables (whole buckets, tables in random order), padded to 1000 with random classes."""
    def build(n_labels):
        pad = max(1, min(1000, n_labels // 2))
        lsh = neg.LSHParams(K=6, L=50, hash_family="simhash", hash_params={"ratio": 1},
                            max_active=pad // 2, min_active=pad, fill_below=pad + pad // 2)
        return neg.LSHSampler(query, lsh=lsh, label_query="random"), "lazy_adam"
    return build


#: the compared models, by name (add an entry to compare another sampler)
MODELS = {
    "full": Model("full softmax, dense Adam", "reference",
                  lambda n: (neg.FullSoftmax(), "adam")),
    "shared-uniform": Model("uniform, batch-shared, catch-up Adam", "static",
                            _shared(neg.UniformSampler)),
    "shared-unigram": Model("unigram + logQ, batch-shared, catch-up Adam", "static",
                            _shared(neg.UnigramSampler, logq=True)),
    "shared-loguniform": Model("log-uniform + logQ, batch-shared, catch-up Adam", "static",
                               _shared(neg.LogUniformSampler, logq=True)),
    "uniform": Model("uniform, 1000 per sample, lazy Adam", "static", _per_sample_uniform),
    "lsh-embedding": Model("LSH Embedding (SimHash), lazy Adam", "adaptive",
                           _lsh("embedding")),
    "lsh-label": Model("LSH Label (SimHash), lazy Adam", "adaptive", _lsh("label")),
    "shared-uniform-hard": Model("uniform, batch-shared + hard-negative memory (t=4), "
                                 "catch-up Adam", "adaptive",
                                 _shared(neg.UniformSampler, hard=4)),
}


# ----------------------------------------------------------------------------- data
def one_hot(y, n_classes):
    """Single labels ``y`` as a CSR label matrix [n, n_classes]."""
    y = np.asarray(y, dtype=np.int64)
    return sp.csr_matrix((np.ones(y.size, np.float32), y, np.arange(y.size + 1)),
                         shape=(y.size, n_classes))


def row_subset(n, k, seed):
    """``min(k, n)`` sorted row indices drawn without replacement (all rows when k >= n)."""
    if k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def load_xc():
    """The real Debian XC set, in full."""
    return tuple(slide_fast.datasets.load_debian_xc())


def load_text(n_train, n_test):
    """A fixed random subset of the Debian next-word task (seed 0 for the training rows, 1
    for the test rows), labels as a one-hot CSR matrix over the whole vocabulary."""
    X, y, Xt, yt = slide_fast.datasets.load_debian_text()
    n_words = X.shape[1]
    tr, te = row_subset(X.shape[0], n_train, 0), row_subset(Xt.shape[0], n_test, 1)
    return X[tr], one_hot(y[tr], n_words), Xt[te], one_hot(yt[te], n_words)


def smoke_sets():
    """Two small synthetic sets (multi-label and single-label) for ``--smoke``."""
    make = slide_fast.datasets.make_xc
    return {"xc": ("synthetic XC (smoke)", lambda: make(
                n_samples=1000, n_features=300, n_labels=1000, n_test=200,
                labels_per_sample=2, random_state=0)),
            "text": ("synthetic single-label (smoke)", lambda: make(
                n_samples=1000, n_features=300, n_labels=1500, n_test=200,
                labels_per_sample=1, random_state=1))}


def data_sets(args):
    """``{key: (title, loader, training seconds per model, turns)}`` of the run's data sets (keys
    ``"xc"`` and ``"text"``, also those of the docs tables)."""
    if args.smoke:
        return {key: (title, load, 0.4, 2) for key, (title, load) in smoke_sets().items()}
    sets = {"xc": ("Debian XC", load_xc, args.budget_xc, args.chunks_xc),
            "text": ("Debian text", lambda: load_text(args.text_train, args.text_test),
                     args.budget_text, args.chunks_text)}
    return {k: v for k, v in sets.items() if not args.sets or k in args.sets}


# ----------------------------------------------------------------------------- training
def make_network(model, n_features, n_labels, Y, n_threads, seed=0):
    """A fresh network with ``model``'s sampler and optimizer; frequency samplers see ``Y``."""
    sampler, optimizer = model.build(n_labels)
    net = slide_fast.network.SlideNetwork(
        n_features, n_labels, hidden=(128,), output_sampler=sampler, optimizer=optimizer,
        lr=1e-3, batch_size=128, n_threads=n_threads, random_state=seed)
    net.sampler_.prepare(Y)
    return net


def top1(network, X):
    return network.predict_topk(X, k=1)[0][:, 0]


def train_interleaved(names, data, budget, chunks, n_threads, log=print):
    """``{name: [(train s, samples, test P@1), ...]}``: every model trains ``budget``
    seconds in ``chunks`` turns of ``budget / chunks`` seconds, the models taking turns
    (order rotated every round); points at every chunk end and epoch end."""
    X, Y, Xt, Yt = data
    nets = {n: make_network(MODELS[n], X.shape[1], Y.shape[1], Y, n_threads) for n in names}
    curves = {n: [] for n in names}
    for chunk in range(chunks):
        order = names[chunk % len(names):] + names[:chunk % len(names)]
        for name in order:
            t0, s0 = curves[name][-1][:2] if curves[name] else (0.0, 0)
            points = _common.train_curve(nets[name], X, Y, Xt, Yt, 128, budget / chunks,
                                         eval_every=10**9, max_epochs=10**6,
                                         predict_top1=top1, seed=chunk)
            curves[name] += [(t0 + t, s0 + s, p1) for t, s, p1 in points]
            t, s, p1 = curves[name][-1]
            log(f"  chunk {chunk + 1}/{chunks} {name:<20} {s / t:8.0f} samples/s  "
                f"P@1 {p1:.4f}  {t:6.1f} s  {s / X.shape[0]:.2f} epochs")
    return curves


# ----------------------------------------------------------------------------- summary
def popularity_p1(Y, Yt):
    """Test P@1 of predicting the most frequent training label for every point: what a
    model that has learned only the label prior scores."""
    top = int(np.argmax(np.bincount(Y.tocsr().indices, minlength=Y.shape[1])))
    return _common.p_at_1(np.full(Yt.shape[0], top), Yt)


def time_to(curve, target):
    """Training seconds of the first point whose P@1 reaches ``target`` (None: never)."""
    return next((t for t, _, p1 in curve if p1 >= target), None)


def summarize(curves, n_train, reference="full", fraction=0.98):
    """Per model: samples/s, epochs, final and best P@1, and the training time to reach
    ``fraction`` of the reference's best P@1 (with its speed-up over the reference)."""
    target = None
    if reference in curves:
        target = fraction * max(p for _, _, p in curves[reference])
    ref_time = None if target is None else time_to(curves[reference], target)
    rows = {}
    for name, curve in curves.items():
        t, s, last = curve[-1]
        reach = None if target is None else time_to(curve, target)
        rows[name] = {"samples_per_s": s / t, "epochs": s / n_train, "train_s": t,
                      "p1_final": last, "p1_best": max(p for _, _, p in curve),
                      "time_to_target": reach,
                      "speedup": (ref_time / reach) if reach and ref_time else None}
    return {"target": target, "fraction": fraction, "rows": rows}


def verdict(summary):
    """Best static and best adaptive model by final P@1 (equal training time)."""
    rows = summary["rows"]

    def best(kind):
        names = [n for n in rows if n in MODELS and MODELS[n].kind == kind]
        return max(names, key=lambda n: rows[n]["p1_final"]) if names else None
    return {"best_static": best("static"), "best_adaptive": best("adaptive")}


def markdown(title, stats, summary):
    target = summary["target"]
    head = (f"train s to P@1 >= {target:.4f} ({summary['fraction']:.0%} of full) | speed-up "
            "vs full |") if target is not None else " | |"
    lines = [f"**{title}** ({stats['n_train']:,} training, {stats['n_test']:,} test points, "
             f"{stats['n_features']:,} features, {stats['n_labels']:,} classes; "
             f"{stats['budget_s']:.0f} s of training each in {stats['chunks']} turns"
             + (f"; the most frequent training label scores P@1 {stats['popularity_p1']:.4f}"
                if "popularity_p1" in stats else "") + ")", "",
             "| model | kind | samples/s | epochs | P@1 at the end | best P@1 | " + head,
             "|---|---|---|---|---|---|---|---|"]
    for name, r in summary["rows"].items():
        model = MODELS.get(name)
        reach = "not reached" if r["time_to_target"] is None else f"{r['time_to_target']:.1f}"
        speed = "" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        lines.append(f"| {model.label if model else name} | {model.kind if model else ''} | "
                     f"{r['samples_per_s']:,.0f} | {r['epochs']:.2f} | {r['p1_final']:.4f} | "
                     f"{r['p1_best']:.4f} | {reach} | {speed} |")
    return "\n".join(lines)


def summary(data):
    """The README's result cell (``make_docs``): per set, the best static and the best
    adaptive sampler by P@1 at equal training time."""
    parts = []
    for res in data["results"].values():
        rows, pick = res["summary"]["rows"], verdict(res["summary"])
        best = [f"best {kind} {MODELS[pick['best_' + kind]].label} "
                f"{rows[pick['best_' + kind]]['p1_final']:.4f}"
                for kind in ("static", "adaptive") if pick["best_" + kind]]
        parts.append(f"{res['title']}, {res['stats']['budget_s']:.0f} s each: " + "; ".join(best))
    return {"fig08": "; ".join(parts)}


def doc_tables(data):
    """The docs tables of a saved run (its JSON): ``fig08:xc`` and ``fig08:text``."""
    return {f"fig08:{key}": markdown(res["title"], res["stats"], res["summary"])
            for key, res in data["results"].items()}


def plot(results, path):
    """One panel per data set: test P@1 against training seconds, a line per model (legend
    by model name: the labels are in the tables)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for ax, res in zip(axes[0], results.values()):
        for name, curve in res["curves"].items():
            style = "--" if MODELS.get(name) and MODELS[name].kind == "static" else "-"
            ax.plot([c[0] for c in curve], [c[2] for c in curve], style, marker=".",
                    label=name)
        ax.set(title=res["title"], xlabel="training time (s)", ylabel="test P@1")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return _common.save_figure(fig, path)


def check_args(p, args):
    """Refuse budgets, turns and subset sizes that cannot make a run (argparse's error)."""
    for name in ("budget_xc", "budget_text"):
        if not getattr(args, name) > 0:
            p.error(f"--{name.replace('_', '-')} must be a positive number of seconds")
    for name in ("chunks_xc", "chunks_text", "text_train", "text_test"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")


def main(argv=None):
    p = _common.parser(__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--sets", nargs="+", default=None, choices=["xc", "text"],
                   help="data sets (default: both)")
    p.add_argument("--budget-xc", type=float, default=40, help="training seconds per model, XC")
    p.add_argument("--budget-text", type=float, default=75,
                   help="training seconds per model, text task")
    p.add_argument("--chunks-xc", type=int, default=8, help="turns the XC budget is cut into")
    p.add_argument("--chunks-text", type=int, default=3,
                   help="turns the text budget is cut into (each ends with a test pass)")
    p.add_argument("--text-train", type=int, default=1_500_000)
    p.add_argument("--text-test", type=int, default=10_000)
    args = p.parse_args(argv)
    check_args(p, args)
    results = {}
    for key, (title, load, budget, chunks) in data_sets(args).items():
        t0 = time.perf_counter()
        data = load()
        print(f"{title}: {data[0].shape[0]:,} training points, {data[1].shape[1]:,} classes "
              f"(loaded in {time.perf_counter() - t0:.0f} s)", flush=True)
        curves = train_interleaved(args.models, data, budget, chunks, args.n_threads)
        stats = {"n_train": data[0].shape[0], "n_test": data[2].shape[0],
                 "n_features": data[0].shape[1], "n_labels": data[1].shape[1],
                 "budget_s": budget, "chunks": chunks,
                 "popularity_p1": popularity_p1(data[1], data[3])}
        summary = summarize(curves, stats["n_train"])
        results[key] = {"title": title, "curves": curves, "stats": stats, "summary": summary,
                        "verdict": verdict(summary)}
        print(markdown(title, stats, summary), "\n", results[key]["verdict"], flush=True)
        del data
    out = {"results": results, "models": {n: MODELS[n].label for n in args.models}}
    _common.save_json(out, args.out, "fig08_lns_real.json", n_threads=args.n_threads,
                      argv=argv)
    print(f"wrote {plot(results, os.path.join(args.out, 'fig08_lns_real.png'))}")


if __name__ == "__main__":
    main()
