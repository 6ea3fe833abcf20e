"""The ``slide`` command line.

Subcommands
-----------
train      train a SlideClassifier on XC files; write the model and a metrics JSON
evaluate   P@k, nDCG@k, PSP@k, PSnDCG@k of a saved model on an XC file
predict    top-k labels of every row of an XC file
generate   write a synthetic extreme-classification data set in XC format
info       show each backend's configuration (the fast one: SIMD level, threads, BLAS)
demo       the main demo (``make demo``): the default model, SLIDE and the full softmax
zsl        zero-shot learning under the GBU protocol (GBU files, synthetic or digits data)

The backends come from the caller: :func:`main` takes them as a mapping
``{"ref": slide_ref, "fast": slide_fast}``.  This reference package never
imports the fast one; alone (``python -m slide_ref``) it knows ``ref`` only.
The ``slide`` command is ``slide_fast.cli.main``, which passes both, and
``--backend`` chooses among them (default: ``fast`` when it is there).
"""
import argparse
import json
import logging
import os
import sys
import time

import numpy as np

from .classifier import DEFAULT_PRESET, PRESETS

logger = logging.getLogger("slide")


BACKEND_NAMES = ("ref", "fast")


def reference_backends():
    """The backends this package knows by itself: the NumPy reference only."""
    import slide_ref
    return {"ref": slide_ref}


def pick_backend(backends, name):
    """The package of backend ``name`` in ``backends`` (name -> package), or a clear error."""
    if name not in BACKEND_NAMES:
        raise ValueError(f"backend must be one of {BACKEND_NAMES}, got {name!r}")
    if name not in backends:
        raise ValueError(f"backend {name!r} is not available here: this command line was "
                         f"started with {sorted(backends)} only (slide_ref.cli runs the NumPy "
                         f"reference); use the `slide` command (slide_fast.cli) for it")
    return backends[name]


# ----------------------------------------------------------------------------- info
def cmd_info(args):
    for name, slide in args.backend_packages.items():
        if hasattr(slide, "show_config"):
            slide.show_config()
        else:
            print(f"{name}: {slide.__name__} {slide.__version__}, NumPy {np.__version__} "
                  f"(the reference backend)")
    if "fast" not in args.backend_packages:
        print("the fast backend's configuration: run `slide info`")
    return 0


# ----------------------------------------------------------------------------- generate
def cmd_generate(args):
    from . import datasets
    out = datasets.make_xc(args.n_samples, args.n_features, args.n_labels, n_test=args.n_test,
                           labels_per_sample=args.labels_per_sample, power=args.power,
                           random_state=args.seed)
    os.makedirs(args.out, exist_ok=True)
    names = ["train.txt", "test.txt"] if args.n_test else ["train.txt"]
    for i, name in enumerate(names):
        path = os.path.join(args.out, name)
        datasets.write_xc(path, out[2 * i], out[2 * i + 1], overwrite=args.overwrite)
        print(f"wrote {path}: {out[2 * i].shape[0]} points")
    return 0


# ----------------------------------------------------------------------------- train
def _write_json(path, obj, overwrite):
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=2)


def evaluation_table(Y_true, idx, Y_train=None, k=5):
    """P@k and nDCG@k (and PSP@k, PSnDCG@k when training labels give propensities)."""
    from . import metrics
    out = {"P": metrics.precision_at_k(Y_true, idx, k), "nDCG": metrics.ndcg_at_k(Y_true, idx, k)}
    if Y_train is not None:
        w = metrics.inverse_propensity(Y_train)
        out["PSP"] = metrics.psprecision_at_k(Y_true, idx, w, k)
        out["PSnDCG"] = metrics.psndcg_at_k(Y_true, idx, w, k)
    return {name: [float(v) for v in values] for name, values in out.items()}


def cmd_train(args):
    from . import datasets
    slide = pick_backend(args.backend_packages, args.backend)
    X, Y = datasets.read_xc(args.train)
    test = datasets.read_xc(args.test) if args.test else None
    for path in (args.model, args.metrics):
        if path and os.path.exists(path) and not args.overwrite:
            raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    if test is not None and test[0].shape[1] != X.shape[1]:
        raise ValueError(f"{args.test} has {test[0].shape[1]} features, {args.train} has "
                         f"{X.shape[1]}")
    if args.full_softmax and args.sampler not in (None, "full"):
        raise ValueError("--full-softmax contradicts --sampler " + args.sampler)
    clf = slide.SlideClassifier(
        hidden=args.hidden, preset=args.preset, sampled_output=not args.full_softmax,
        sampler=sampler_from_args(slide, args), lsh=lsh_from_args(slide, args),
        optimizer=args.optimizer,
        lr=args.lr, batch_size=args.batch_size, eval_every=args.eval_every, bf16=args.bf16,
        n_threads=args.n_threads, random_state=args.seed, show_progress=not args.no_progress)
    t0 = time.perf_counter()
    clf.fit(X, Y, epochs=args.epochs, validation_data=test)
    wall = time.perf_counter() - t0
    result = {"backend": args.backend, "bf16": args.bf16,
              "samples_per_second": clf.samples_per_second,
              "train_time": clf.history_[-1]["train_time"], "wall_time": wall,
              "history": clf.history_}
    if test is not None:
        idx, _ = clf.predict(test[0], k=5)
        result["test"] = evaluation_table(test[1], idx, Y)
        print(f"test P@1 {result['test']['P'][0]:.4f}  P@5 {result['test']['P'][4]:.4f}")
    print(f"{clf.samples_per_second:.0f} samples/s, {result['train_time']:.1f} s training")
    if args.model:
        clf.save(args.model, overwrite=args.overwrite)
        print(f"model written to {args.model}")
    if args.metrics:
        _write_json(args.metrics, result, args.overwrite)
        print(f"metrics written to {args.metrics}")
    return 0


def lsh_from_args(slide, args):
    """``LSHParams`` from ``--K`` / ``--L`` when either is given, else None (the preset's
    own settings; as for ``SlideClassifier``, LSH settings without a preset select SLIDE)."""
    if args.K is None and args.L is None:
        return None
    return slide.lsh.LSHParams(K=6 if args.K is None else args.K,
                               L=50 if args.L is None else args.L)


def sampler_from_args(slide, args):
    """The output sampler that ``--sampler`` and its options name (None: the preset's)."""
    if args.sampler is None:
        return None
    if args.sampler == "full":
        return slide.negative.FullSoftmax()
    if args.sampler.startswith("lsh-"):
        max_active = args.max_active
        if max_active <= 0:
            max_active = None
        elif max_active >= 1:
            max_active = int(max_active)
        lsh = lsh_from_args(slide, args) or slide.lsh.LSHParams()
        return slide.negative.make_sampler(
            args.sampler, lsh=lsh.set_params(max_active=max_active),
            label_query=args.label_query, faithful=args.faithful)
    return slide.negative.make_sampler(
        args.sampler, n_negatives=args.negatives, shared=args.shared, logq=args.logq,
        remove_accidental_hits=not args.keep_accidental_hits, batch_labels=args.batch_labels,
        hard_negatives=args.hard_negatives)


def cmd_evaluate(args):
    from . import datasets
    slide = pick_backend(args.backend_packages, args.backend)
    clf = slide.SlideClassifier.load(args.model)
    X, Y = datasets.read_xc(args.data)
    Y_train = datasets.read_xc(args.train)[1] if args.train else None
    idx, _ = clf.predict(X, k=args.k)
    table = evaluation_table(Y, idx, Y_train, k=args.k)
    print(f"{'k':<8}" + "".join(f"{name:>10}" for name in table))
    for k in range(args.k):
        print(f"{k + 1:<8}" + "".join(f"{100 * vals[k]:>10.2f}" for vals in table.values()))
    if args.json:
        _write_json(args.json, table, args.overwrite)
    return 0


def cmd_predict(args):
    from . import datasets
    slide = pick_backend(args.backend_packages, args.backend)
    clf = slide.SlideClassifier.load(args.model)
    X, _ = datasets.read_xc(args.data)
    idx, scores = clf.predict(X, k=args.k)
    if os.path.exists(args.out) and not args.overwrite:
        raise FileExistsError(f"{args.out} exists; pass --overwrite to replace it")
    with open(args.out, "w") as fh:
        for row_idx, row_scores in zip(idx, scores):
            fh.write(" ".join(f"{i}:{s:.6g}" for i, s in zip(row_idx, row_scores) if i >= 0))
            fh.write("\n")
    print(f"wrote {len(idx)} predictions to {args.out}")
    return 0


# ----------------------------------------------------------------------------- demo
def retrieval_data(n_items=20000, dim=128, n_queries=500, n_clusters=400, seed=0):
    """Clustered item vectors and non-negative (ReLU-like) queries, as in a wide output layer.

    Returns the items, the queries and each query's exact top-10 items by inner product.
    """
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    items = centers[rng.integers(0, n_clusters, n_items)]
    items = items + 0.6 * rng.standard_normal((n_items, dim)).astype(np.float32)
    queries = centers[rng.integers(0, n_clusters, n_queries)]
    queries = np.maximum(queries + 0.6 * rng.standard_normal((n_queries, dim)), 0)
    queries = queries.astype(np.float32)
    top10 = np.argpartition(-(queries @ items.T), 10, axis=1)[:, :10]
    return items, queries, top10


def recall_of(candidates, top10):
    """Mean fraction of each query's exact top-10 found among its candidates (CSR rows)."""
    found = [np.isin(top10[q], candidates.indices[candidates.indptr[q]:candidates.indptr[q + 1]])
             for q in range(len(top10))]
    return float(np.mean(found))


def random_candidates_recall(sizes, n_items, top10, seed=1):
    """Recall of random candidate sets of the same sizes as the LSH ones."""
    rng = np.random.default_rng(seed)
    hits = [np.isin(top10[q], rng.choice(n_items, size=int(s), replace=False)).mean()
            for q, s in enumerate(sizes)]
    return float(np.mean(hits))


def run_retrieval_demo(backends, n_items=20000, n_threads=None, seed=0, out=sys.stdout):
    """LSH retrieval of the top inner-product items, LSH against random candidates.

    For each hash family and backend (``backends``: name -> package, e.g.
    ``{"ref": slide_ref}``): time to hash the items and build the tables, time
    to query, mean candidates per query, and recall of the exact top-10 among
    LSH candidates and among as many random items.
    """
    items, queries, top10 = retrieval_data(n_items=n_items, seed=seed)
    configs = [("DWTAHash", dict(K=6, L=50), 14), ("SimHash", dict(K=10, L=50), 10)]
    print(f"Retrieval of the exact top-10 (inner product) among {n_items} items of dim "
          f"{items.shape[1]}, {len(queries)} queries", file=out)
    header = (f"{'family':<10}{'backend':<8}{'build s':>9}{'query s':>9}{'cands':>8}"
              f"{'LSH recall':>12}{'random recall':>15}")
    print(header, file=out)
    print("-" * len(header), file=out)
    rows = []
    for family, params, range_pow in configs:
        for name, slide in backends.items():
            fam = getattr(slide.lsh, family)(items.shape[1], **params, random_state=seed)
            tables = slide.lsh.LSHTables(fam, range_pow=range_pow, capacity=128)
            t0 = time.perf_counter()
            tables.build(items, n_threads=n_threads)
            t1 = time.perf_counter()
            cands = tables.query(queries, n_threads=n_threads)
            t2 = time.perf_counter()
            sizes = np.diff(cands.indptr)
            row = dict(family=family, backend=name, build_s=t1 - t0, query_s=t2 - t1,
                       candidates=float(sizes.mean()), lsh_recall=recall_of(cands, top10),
                       random_recall=random_candidates_recall(sizes, n_items, top10))
            rows.append(row)
            print(f"{family:<10}{name:<8}{row['build_s']:>9.3f}{row['query_s']:>9.3f}"
                  f"{row['candidates']:>8.0f}{row['lsh_recall']:>12.3f}"
                  f"{row['random_recall']:>15.3f}", file=out)
    return rows


DEMO_DATA = dict(n_samples=100_000, n_features=10_000, n_labels=10_000, n_test=5_000,
                 random_state=0)
#: the models the training demo compares: name -> classifier preset
DEMO_MODELS = {"default (batch-shared uniform + hard negatives)": "shared_uniform_hard",
               "SLIDE (LSH-sampled softmax)": "slide_paper",
               "full softmax": "full_softmax"}
DEMO_SOURCES = ("auto", "debian", "synthetic")


def demo_data(slide, source="auto", data=None, out=sys.stdout):
    """``(X, Y, Xt, Yt, title)`` of the training demo.

    ``source="auto"`` loads the real Debian XC set (built from apt's lists and cached
    on first use, see ``docs/data.md``) and falls back to the synthetic set when the
    archive cannot be reached; ``"debian"`` fails instead; ``"synthetic"`` generates
    ``make_xc(**data)`` (default :data:`DEMO_DATA`).  Prints which set it uses.
    """
    if source not in DEMO_SOURCES:
        raise ValueError(f"source must be one of {DEMO_SOURCES}, got {source!r}")
    if source != "synthetic":
        try:
            X, Y, Xt, Yt = slide.datasets.load_debian_xc(show_progress=True)
        except slide.datasets.ArchiveUnavailableError as exc:
            if source == "debian":
                raise
            print(f"the Debian archive cannot be reached ({exc}); using the synthetic XC "
                  "set instead", file=out)
        else:
            print(f"data: the real Debian XC set ({X.shape[0]} training, {Xt.shape[0]} test "
                  f"points, {Y.shape[1]} labels)", file=out)
            return X, Y, Xt, Yt, f"Debian XC ({Y.shape[1]} labels)"
    params = dict(DEMO_DATA if data is None else data)
    print(f"data: the synthetic XC set {params}", file=out)
    X, Y, Xt, Yt = slide.datasets.make_xc(**params)
    return X, Y, Xt, Yt, f"synthetic XC ({params['n_labels']} labels)"


def run_training_demo(slide, out_dir="demo_out", epochs=3, n_threads=None, show_progress=True,
                      data=None, out=sys.stdout, source="auto"):
    """The main demo: the default classifier, SLIDE and the full softmax by P@1 against time.

    All three are ``slide.SlideClassifier`` (``slide``: the backend package; the
    ``slide`` command runs ``slide_fast``) with the same network (128 hidden
    units), configured by their presets (:data:`DEMO_MODELS`), on the real Debian
    XC set or the synthetic one (see :func:`demo_data` for ``source`` and
    ``data``).  Prints P@1, P@5, samples/s and wall time, and plots P@1 on a
    shuffled test sample against training time to ``out_dir/p1_vs_time.png``.
    """
    X, Y, Xt, Yt, title = demo_data(slide, source, data, out)
    runs = {}
    for name, preset in DEMO_MODELS.items():
        clf = slide.SlideClassifier(preset=preset, random_state=0, eval_every=100,
                                    n_threads=n_threads, show_progress=show_progress)
        t0 = time.perf_counter()
        clf.fit(X, Y, epochs=epochs, validation_data=(Xt, Yt))
        wall = time.perf_counter() - t0
        idx, _ = clf.predict(Xt, k=5)
        p = slide.metrics.precision_at_k(Yt, idx, 5)
        runs[name] = dict(preset=preset, p1=p[0], p5=p[4], sps=clf.samples_per_second,
                          wall=wall, history=clf.history_)
    print(f"\n{title}, {epochs} epochs", file=out)
    print(f"{'model':<50}{'P@1':>8}{'P@5':>8}{'samples/s':>12}{'wall s':>9}", file=out)
    for name, r in runs.items():
        print(f"{name:<50}{r['p1']:>8.4f}{r['p5']:>8.4f}{r['sps']:>12.0f}{r['wall']:>9.1f}",
              file=out)
    path = _plot_runs(runs, out_dir, f"{slide.__name__} on {title}")
    if path:
        print(f"\nP@1 against training time: {path}", file=out)
    return runs


def _plot_runs(runs, out_dir, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: no plot")
        return None
    os.makedirs(out_dir, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, r in runs.items():
        hist = [h for h in r["history"] if "val_p@1" in h]
        ax.plot([h["train_time"] for h in hist], [h["val_p@1"] for h in hist], marker=".",
                label=name)
    ax.set_xlabel("training time (s, evaluation excluded)")
    ax.set_ylabel("P@1 on a shuffled test sample")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = os.path.join(out_dir, "p1_vs_time.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def cmd_demo(args):
    packages = args.backend_packages
    if args.retrieval:
        names = args.backends or list(packages)
        run_retrieval_demo({name: pick_backend(packages, name) for name in names},
                           n_items=args.n_items, n_threads=args.n_threads, seed=args.seed)
        return 0
    # the training demo is sized for the fast backend (minutes there, hours in NumPy)
    run_training_demo(pick_backend(packages, "fast"), out_dir=args.out, epochs=args.epochs,
                      n_threads=args.n_threads, show_progress=not args.no_progress,
                      source=args.data)
    return 0


# ----------------------------------------------------------------------------- zsl
ZSL_METHODS = ("soft", "kl", "eszsl", "sje")


def zsl_methods(slide, hidden=(256,), epochs=30, n_threads=None, seed=0):
    """Each zero-shot method of the comparison with its (small) GBU search grid.

    Returns a dict ``name -> (unfitted estimator, parameter grid)``; names are
    ``SoftLabelZSL (soft)``, ``SoftLabelZSL (kl)``, ``ESZSL`` and ``SJE``.
    """
    Z = slide.zsl
    net = dict(hidden=tuple(hidden), epochs=epochs, n_threads=n_threads, random_state=seed)
    return {
        "SoftLabelZSL (soft)": (Z.SoftLabelZSL(loss="soft", **net),
                                {"q": [0.1, 0.3], "weight_decay": [0.0, 1e-2]}),
        "SoftLabelZSL (kl)": (Z.SoftLabelZSL(loss="kl", **net),
                              {"lam": [0.5, 2.0], "weight_decay": [0.0, 1e-2]}),
        "ESZSL": (Z.ESZSL(), {"feature_reg": [1e-1, 1e1, 1e3], "attribute_reg": [1e-1, 1, 1e1]}),
        "SJE": (Z.SJE(epochs=10, random_state=seed), {"lr": [0.01, 0.1]}),
    }


def zsl_data(args):
    """The data set a ``slide zsl`` call names (GBU directory, synthetic or digits)."""
    from . import datasets
    if args.data:
        return datasets.load_gbu(args.data)
    if args.digits:
        return datasets.load_digits_zsl(random_state=args.seed)
    return datasets.make_zsl(random_state=args.seed)


def cmd_zsl(args):
    from . import zsl as _zsl
    slide = pick_backend(args.backend_packages, args.backend)
    data = zsl_data(args)
    print(f"{data}")
    wanted = {"soft": "SoftLabelZSL (soft)", "kl": "SoftLabelZSL (kl)", "eszsl": "ESZSL",
              "sje": "SJE"}
    methods = zsl_methods(slide, args.hidden, args.epochs, args.n_threads, args.seed)
    rows = {}
    print(f"{'method':<22}{'ZSL':>8}{'U':>8}{'S':>8}{'H':>8}{'H(g=0)':>9}  chosen")
    for key in args.methods:
        name = wanted[key]
        est, grid = methods[name]
        t0 = time.perf_counter()
        out = _zsl.gbu_protocol(est, data, grid, random_state=args.seed,
                                show_progress=not args.no_progress)
        t = out["test"]
        rows[name] = {"test": t, "test_uncalibrated": out["test_uncalibrated"],
                      "val": out["val"], "params": out["params"],
                      "seconds": time.perf_counter() - t0}
        print(f"{name:<22}{100 * t['zsl']:>8.2f}{100 * t['U']:>8.2f}{100 * t['S']:>8.2f}"
              f"{100 * t['H']:>8.2f}{100 * out['test_uncalibrated']['H']:>9.2f}  "
              f"{out['params']} g={out['calibration']:.3g}")
    if args.json:
        _write_json(args.json, rows, args.overwrite)
        print(f"results written to {args.json}")
    return 0


def _add_backend_option(parser, default):
    parser.add_argument("--backend", default=default, choices=BACKEND_NAMES,
                        help=f"ref (NumPy) or fast (Cython); default {default}")


def _add_zsl_parser(sub, default_backend):
    z = sub.add_parser("zsl", help="zero-shot learning under the GBU protocol")
    src = z.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="GBU directory (res101.mat, att_splits.mat)")
    src.add_argument("--synthetic", action="store_true", help="synthetic data (make_zsl)")
    src.add_argument("--digits", action="store_true", help="scikit-learn digits, 3 unseen")
    z.add_argument("--methods", nargs="+", default=list(ZSL_METHODS), choices=ZSL_METHODS)
    _add_backend_option(z, default_backend)
    z.add_argument("--hidden", type=int, nargs="*", default=[256])
    z.add_argument("--epochs", type=int, default=30)
    z.add_argument("--n-threads", type=int, default=None)
    z.add_argument("--seed", type=int, default=0)
    z.add_argument("--json", help="write the results as JSON")
    z.add_argument("--no-progress", action="store_true")
    z.add_argument("--overwrite", action="store_true")
    z.set_defaults(func=cmd_zsl)


# ----------------------------------------------------------------------------- parser
def build_parser(default_backend="ref"):
    """The argument parser; ``--backend`` defaults to ``default_backend``."""
    parser = argparse.ArgumentParser(prog="slide", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("info", help="show each backend's configuration").set_defaults(
        func=cmd_info)

    gen = sub.add_parser("generate", help="write a synthetic XC data set")
    gen.add_argument("--out", required=True, help="output directory")
    gen.add_argument("--n-samples", type=int, default=10000)
    gen.add_argument("--n-test", type=int, default=2000)
    gen.add_argument("--n-features", type=int, default=10000)
    gen.add_argument("--n-labels", type=int, default=1000)
    gen.add_argument("--labels-per-sample", type=float, default=1)
    gen.add_argument("--power", type=float, default=1.0)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--overwrite", action="store_true", help="replace existing files")
    gen.set_defaults(func=cmd_generate)

    train = sub.add_parser("train", help="train a classifier on XC files")
    train.add_argument("--train", required=True, help="training file (XC format)")
    train.add_argument("--test", help="test file, evaluated during and after training")
    train.add_argument("--model", help="where to save the model (.npz)")
    train.add_argument("--metrics", help="where to write the metrics (JSON)")
    _add_backend_option(train, default_backend)
    train.add_argument("--epochs", type=int, default=1)
    train.add_argument("--hidden", type=int, nargs="+", default=[128])
    train.add_argument("--preset", choices=PRESETS,
                       help="the classifier's output configuration (default: "
                            f"{DEFAULT_PRESET}, or slide_paper when --K or --L is given)")
    train.add_argument("--full-softmax", action="store_true", help="score every class")
    train.add_argument("--sampler", choices=["lsh-embedding", "lsh-label", "uniform", "unigram",
                                             "loguniform", "full"],
                       help="output-layer sampler (default: the preset's)")
    train.add_argument("--negatives", type=int, default=1000,
                       help="negatives per sample of the static samplers")
    train.add_argument("--shared", action="store_true",
                       help="static samplers: one negative set for the whole batch")
    train.add_argument("--batch-labels", action="store_true",
                       help="static samplers with --shared: score every point against all "
                            "labels of the batch too (one candidate set, dense products)")
    train.add_argument("--hard-negatives", type=int, default=0, metavar="T",
                       help="static samplers with --batch-labels: remember each class's T "
                            "highest-scoring other candidates and add them to the sets of "
                            "batches that hold the class")
    train.add_argument("--logq", action="store_true",
                       help="static samplers: subtract the log expected count from the logits")
    train.add_argument("--keep-accidental-hits", action="store_true",
                       help="static samplers: keep negatives that equal a label as negatives")
    train.add_argument("--max-active", type=float, default=0.05,
                       help="LSH samplers: cap on the classes from the tables (a fraction of "
                            "the classes, a count, or 0 for none)")
    train.add_argument("--label-query", choices=["all", "random"], default="random",
                       help="lsh-label on multi-label points: every label or one at random")
    train.add_argument("--faithful", action="store_true",
                       help="LSH samplers: rehash only in label mode, as the reference code")
    train.add_argument("--optimizer", default=None,
                       choices=["adam", "lazy_adam", "lazy_input_adam", "catchup_adam", "sgd"],
                       help="default: the preset's")
    train.add_argument("--K", type=int, default=None, help="LSH hashes per table (default 6)")
    train.add_argument("--L", type=int, default=None, help="LSH tables (default 50)")
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--bf16", type=int, choices=[0, 1, 2, 3], default=0,
                       help="number format: 0 fp32, 1 bf16 activations and gradients, 2 also "
                            "split weights (Optimized SLIDE's BF16 modes), 3 bf16 weight "
                            "shadow of the batch-shared output block (--shared --batch-labels)")
    train.add_argument("--eval-every", type=int, default=100, help="batches between evaluations")
    train.add_argument("--n-threads", type=int, default=None)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--no-progress", action="store_true")
    train.add_argument("--overwrite", action="store_true")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="evaluate a saved model")
    ev.add_argument("--model", required=True)
    ev.add_argument("--data", required=True, help="XC file with true labels")
    ev.add_argument("--train", help="training file, for the propensity-scored metrics")
    ev.add_argument("--k", type=int, default=5)
    ev.add_argument("--json", help="also write the table as JSON")
    _add_backend_option(ev, default_backend)
    ev.add_argument("--overwrite", action="store_true")
    ev.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="top-k labels of every row")
    pr.add_argument("--model", required=True)
    pr.add_argument("--data", required=True, help="XC file (labels are ignored)")
    pr.add_argument("--out", required=True, help="one line per row: label:score ...")
    pr.add_argument("--k", type=int, default=5)
    _add_backend_option(pr, default_backend)
    pr.add_argument("--overwrite", action="store_true")
    pr.set_defaults(func=cmd_predict)

    demo = sub.add_parser("demo", help="run the demo")
    demo.add_argument("--out", default="demo_out", help="directory of the plot")
    demo.add_argument("--epochs", type=int, default=3)
    demo.add_argument("--data", choices=DEMO_SOURCES, default="auto",
                      help="the real Debian XC set (auto: the synthetic one when the archive "
                           "cannot be reached) or the synthetic set")
    demo.add_argument("--n-threads", type=int, default=None)
    demo.add_argument("--no-progress", action="store_true")
    demo.add_argument("--retrieval", action="store_true",
                      help="instead: LSH retrieval of top inner-product items, ref and fast")
    demo.add_argument("--backends", nargs="+", default=None, choices=BACKEND_NAMES,
                      help="backends of the retrieval demo (default: every one available)")
    demo.add_argument("--n-items", type=int, default=20000)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)
    _add_zsl_parser(sub, default_backend)
    return parser


def main(argv=None, backends=None):
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    ``backends`` maps backend names to packages (default: ``{"ref": slide_ref}``); the
    ``slide`` command passes both (see ``slide_fast.cli``).
    """
    backends = dict(reference_backends() if backends is None else backends)
    args = build_parser("fast" if "fast" in backends else "ref").parse_args(argv)
    args.backend_packages = backends
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    try:
        return args.func(args)
    except (ValueError, TypeError, FileExistsError, FileNotFoundError) as exc:
        print(f"slide {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
