"""The ``slide`` command line.

Subcommands
-----------
info       show the fast backend's configuration (SIMD level, threads, BLAS)
generate   write a synthetic extreme-classification data set in XC format
demo       the main demo (``make demo``)

``--backend`` chooses ``ref`` or ``fast``; the backend is loaded by name, so
this reference package never imports the fast one statically.
"""
import argparse
import importlib
import logging
import os
import sys
import time

import numpy as np

logger = logging.getLogger("slide")


def load_backend(name):
    """The ``slide_ref`` or ``slide_fast`` package for ``name`` in {"ref", "fast"}."""
    if name not in ("ref", "fast"):
        raise ValueError(f"backend must be 'ref' or 'fast', got {name!r}")
    return importlib.import_module(f"slide_{name}")


# ----------------------------------------------------------------------------- info
def cmd_info(args):
    fast = load_backend("fast")
    fast.show_config()
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


def run_retrieval_demo(backends=("ref", "fast"), n_items=20000, n_threads=None, seed=0,
                       out=sys.stdout):
    """LSH retrieval of the top inner-product items, LSH against random candidates.

    For each hash family and backend: time to hash the items and build the
    tables, time to query, mean candidates per query, and recall of the exact
    top-10 among LSH candidates and among as many random items.
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
        for name in backends:
            slide = load_backend(name)
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


def cmd_demo(args):
    run_retrieval_demo(backends=args.backends, n_items=args.n_items, n_threads=args.n_threads,
                       seed=args.seed)
    return 0


# ----------------------------------------------------------------------------- parser
def build_parser():
    parser = argparse.ArgumentParser(prog="slide", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("info", help="show the fast backend's configuration").set_defaults(
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

    demo = sub.add_parser("demo", help="run the demo")
    demo.add_argument("--backends", nargs="+", default=["ref", "fast"], choices=["ref", "fast"])
    demo.add_argument("--n-items", type=int, default=20000)
    demo.add_argument("--n-threads", type=int, default=None)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    try:
        return args.func(args)
    except (ValueError, TypeError, FileExistsError, FileNotFoundError) as exc:
        print(f"slide {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
