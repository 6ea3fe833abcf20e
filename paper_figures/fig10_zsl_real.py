"""Zero-shot table on the real sets: ZSL accuracy and GZSL U/S/H of SoftLabelZSL (two losses),
ESZSL and SJE, mean and std over 5 seeds, on the debtags and the Fashion-MNIST + WordNet sets,
with the permuted-attribute control; and how the debtags class descriptions are embedded.

The protocol, methods, control and summary are those of ``fig03_zsl_table`` (imported from
it): every method's small grid (``slide_ref.cli.zsl_methods``) and the calibrated-stacking
constant are chosen on the class-disjoint validation split by ``slide.zsl.gbu_protocol``, the
chosen setting is refitted on trainval and evaluated once on test_seen / test_unseen; metrics
are per-class top-1 accuracies in percent.  Seeds vary the split:

* debtags: ``load_debtags_zsl(attributes=..., random_state=seed)`` (facet works-with, 19
  classes; seed ``i`` draws its 4 unseen classes and the GBU splits; built once, the other
  seeds' splits redrawn from it by ``redraw_debtags_split``, which gives the same split);
* fashion: ``load_fashion_zsl(unseen=FASHION_FOLDS[i], random_state=i)``, then
  ``--per-class`` images of each class drawn with the seed (all 70,000 make SJE's
  per-sample updates and the grid too slow for two cores).

The second table (``fig10:debtags``) compares the debtags class descriptions
(the loader's ``attributes="terms"`` or ``"lsa"``, each with and without
``wordnet=True``) with ESZSL under the same protocol and
with the training-free baseline that ranks the unseen classes by the cosine between a
package's features and each class description (where both live in one space).

On a busy 2-core machine run it with ``--n-threads 1``: SoftLabelZSL's two-thread BLAS
waits for descheduled threads (a 30-epoch fit on the debtags set took 180 s on 2 threads,
6.5 s on one).

    python -m paper_figures.fig10_zsl_real --n-threads 1   # about 30 minutes on 2 busy cores
    python -m paper_figures.fig10_zsl_real --smoke    # seconds (small synthetic sets)
"""
import os
import time

import numpy as np

import slide_fast
from paper_figures import _common
from paper_figures.fig03_zsl_table import evaluate_methods, markdown, plot, summarise
from paper_figures.fig03_zsl_table import summary as fig03_summary
from slide_ref._debian_zsl import redraw_debtags_split
from slide_ref.cli import zsl_methods

METRICS = ("zsl", "U", "S", "H")
#: unseen Fashion-MNIST classes of each seed (the first is the loader's default split)
FASHION_FOLDS = [("pullover", "sandal", "dress"), ("coat", "sneaker", "bag"),
                 ("t-shirt", "trouser", "ankle boot"), ("shirt", "sandal", "bag"),
                 ("dress", "coat", "sneaker")]
#: debtags class descriptions of the main table, and those the second table compares
DEBTAGS_MAIN = "lsa"
DEBTAGS_VARIANTS = {"terms": ("terms", False), "terms + WordNet glosses": ("terms", True),
                    "lsa": ("lsa", False), "lsa + WordNet glosses": ("lsa", True)}
_LOCS = ("trainval_loc", "test_seen_loc", "test_unseen_loc", "train_loc", "val_loc")


def subsample(data, per_class, seed):
    """``data`` restricted to ``per_class`` images of each class (drawn with ``seed``), every
    split keeping the images it had."""
    # Not default_rng(seed): the loaders draw the splits from that stream, whose first
    # permutation of each class would give exactly the class's test_seen images.
    rng = np.random.default_rng([seed, 7])
    keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(data.labels == c))[:per_class]
                                   for c in range(data.n_classes)]))
    new_row = np.full(data.labels.size, -1, dtype=np.int64)
    new_row[keep] = np.arange(keep.size)
    locs = {name: new_row[loc[new_row[loc] >= 0]]
            for name, loc in ((n, getattr(data, n)) for n in _LOCS)}
    return slide_fast.datasets.ZSLData(
        data.features[keep], data.labels[keep], data.attributes,
        original_attributes=data.original_attributes, class_names=data.class_names,
        source="fig10 subsample", **locs)


def debtags(seed, attributes=DEBTAGS_MAIN, wordnet=False):
    """``load_debtags_zsl(attributes=, wordnet=, random_state=seed)``, built (or read) once."""
    built = slide_fast.datasets.load_debtags_zsl(attributes=attributes, wordnet=wordnet,
                                                 random_state=0)
    return built if seed == 0 else redraw_debtags_split(built, seed)


def real_sets(seed, per_class):
    """``{name: ZSLData}`` of seed ``seed``: debtags and (subsampled) fashion."""
    fashion = slide_fast.datasets.load_fashion_zsl(unseen=FASHION_FOLDS[seed], random_state=seed)
    return {"debtags": debtags(seed), "fashion": subsample(fashion, per_class, seed)}


def smoke_sets(seed):
    """Two small synthetic sets standing in for the real ones (``--smoke``: no cache)."""
    D = slide_fast.datasets
    return {"debtags (smoke)": D.make_zsl(n_classes=16, n_unseen=4, n_attributes=10,
                                          n_features=24, n_per_class=20, random_state=seed),
            "fashion (smoke)": D.make_zsl(n_classes=10, n_unseen=3, n_attributes=8,
                                          n_features=16, n_per_class=20, random_state=seed)}


def nearest_description_zsl(data):
    """ZSL accuracy of ranking the unseen classes by cosine(features, description), without
    training; ``None`` when features and class descriptions are not in one space."""
    if data.features.shape[1] != data.attributes.shape[0]:
        return None
    Xu, yu = data.split("test_unseen")
    A = data.attributes[:, data.unseen]
    scores = Xu @ (A / np.maximum(np.linalg.norm(A, axis=0), 1e-12))
    return slide_fast.metrics.per_class_accuracy(yu, data.unseen[np.argmax(scores, axis=1)])


def compare_descriptions(seeds):
    """ESZSL and the nearest description on each debtags description (second table)."""
    est, grid = zsl_methods(slide_fast)["ESZSL"]
    rows = []
    for variant, (attributes, wordnet) in DEBTAGS_VARIANTS.items():
        for seed in range(seeds):
            data = debtags(seed, attributes, wordnet)
            out = slide_fast.zsl.gbu_protocol(est, data, grid, random_state=seed)
            nearest = nearest_description_zsl(data)
            rows.append({"attributes": variant, "seed": seed,
                         "n_attributes": data.attributes.shape[0],
                         "eszsl_zsl": 100 * out["test"]["zsl"], "eszsl_H": 100 * out["test"]["H"],
                         "nearest_zsl": None if nearest is None else 100 * nearest,
                         "chance": 100.0 / data.unseen.size})
            print(f"debtags {variant:<14} seed {seed}  ESZSL ZSL {rows[-1]['eszsl_zsl']:5.1f}  "
                  f"H {rows[-1]['eszsl_H']:5.1f}  nearest {rows[-1]['nearest_zsl']}", flush=True)
    return rows


def summarise_descriptions(rows):
    """Mean and std over seeds of each description's scores."""
    table = []
    for variant in dict.fromkeys(r["attributes"] for r in rows):
        mine = [r for r in rows if r["attributes"] == variant]
        entry = {"attributes": variant, "n_seeds": len(mine),
                 "n_attributes": mine[0]["n_attributes"], "chance": mine[0]["chance"]}
        for k in ("eszsl_zsl", "eszsl_H", "nearest_zsl"):
            vals = np.array([r[k] for r in mine if r[k] is not None], dtype=float)
            entry[k] = float(vals.mean()) if vals.size else None
            entry[k + "_std"] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
        table.append(entry)
    return table


def descriptions_markdown(table):
    lines = ["| packages and classes (`load_debtags_zsl`) | attributes | ESZSL ZSL | "
             "ESZSL GZSL H | nearest description, ZSL (no training) | chance |",
             "|---|---|---|---|---|---|"]
    for e in table:
        def ms(k):
            return "-" if e[k] is None else f"{e[k]:.1f} ± {e[k + '_std']:.1f}"
        lines.append(f"| {e['attributes']} | {e['n_attributes']} | {ms('eszsl_zsl')} | "
                     f"{ms('eszsl_H')} | {ms('nearest_zsl')} | {e['chance']:.1f} |")
    return "\n".join(lines) + "\n"


def summary(data):
    """The README's result cell (``make_docs``), as fig03's."""
    return {"fig10": fig03_summary(data)["fig03"]}


def doc_tables(data):
    """The docs tables of a saved run (its JSON)."""
    tables = {"fig10": markdown(data["table"]).rstrip("\n")}
    if data.get("descriptions"):
        tables["fig10:debtags"] = descriptions_markdown(data["descriptions"]).rstrip("\n")
    return tables


def run(args):
    n_seeds = 1 if args.smoke else args.seeds
    hidden, epochs = ((16,), 2) if args.smoke else ((256,), args.epochs)
    raw = []
    for seed in range(n_seeds):
        sets = smoke_sets(seed) if args.smoke else real_sets(seed, args.per_class)
        for dname, data in sets.items():
            raw += evaluate_methods(dname, data, seed, hidden, epochs, args.n_threads)
    return raw


def main(argv=None):
    p = _common.parser(__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--per-class", type=int, default=300,
                   help="Fashion-MNIST images kept per class (of 7,000)")
    p.add_argument("--epochs", type=int, default=30, help="SoftLabelZSL epochs")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    raw = run(args)
    save(args, argv, raw, [], t0)          # the main table, in case the second one is cut short
    if not args.smoke:
        save(args, argv, raw, compare_descriptions(args.seeds), t0)


def save(args, argv, raw, desc_rows, t0):
    """Write the Markdown, JSON and PNG of the runs so far."""
    table = summarise(raw)
    descriptions = summarise_descriptions(desc_rows) if desc_rows else []
    name = os.path.splitext(os.path.basename(__file__))[0]
    os.makedirs(args.out, exist_ok=True)
    md = markdown(table) + ("\n" + descriptions_markdown(descriptions) if descriptions else "")
    with open(os.path.join(args.out, name + ".md"), "w") as fh:
        fh.write(md)
    _common.save_json({"table": table, "runs": raw, "descriptions": descriptions,
                       "description_runs": desc_rows, "smoke": args.smoke,
                       "seconds": time.perf_counter() - t0}, args.out, name + ".json",
                      n_threads=args.n_threads, argv=argv)
    plot(table, os.path.join(args.out, name + ".png"))
    print(md)
    print(f"outputs in {args.out} ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
