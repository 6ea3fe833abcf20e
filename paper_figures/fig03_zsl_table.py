"""Zero-shot table: ZSL accuracy and GZSL U/S/H of SoftLabelZSL (two losses), ESZSL and SJE,
mean and std over 5 seeds, on the synthetic GBU-layout set and on the digits set, with the
permuted-attribute control.

Every method goes through the GBU protocol (``slide.zsl.gbu_protocol``): its small
grid (``slide_ref.cli.zsl_methods``) and the calibrated-stacking constant are chosen
on the class-disjoint validation split, the chosen setting is refitted on trainval
and evaluated once on test_seen / test_unseen.  Metrics are per-class top-1
accuracies in percent.  Data:

* synthetic: ``make_zsl(random_state=seed)`` (50 classes, 10 unseen, 24 binary
  attributes, 128 features, a non-linear attribute-to-feature map, overlap 2);
* digits: ``load_digits_zsl`` with descriptor attributes from a held-out
  annotation subset; seed ``i`` uses the unseen digits ``FOLDS[i]`` (chance 33.3%).

Control: the chosen setting refitted with the unseen classes' attribute columns
permuted among themselves (no class keeps its own); zero-shot accuracy must fall to
chance (1/U).  SoftLabelZSL runs on ``slide_fast`` with one hidden layer of 256.

    python -m paper_figures.fig03_zsl_table            # about 10 minutes on 2 busy cores
    python -m paper_figures.fig03_zsl_table --smoke    # seconds
"""
import os
import time

import numpy as np
from sklearn.base import clone

import slide_fast
from paper_figures import _common
from slide_ref.cli import zsl_methods

FOLDS = [(1, 5, 8), (0, 4, 7), (2, 3, 9), (1, 3, 6), (2, 4, 8)]
METRICS = ("zsl", "U", "S", "H")


def datasets(seed, smoke):
    D = slide_fast.datasets
    if smoke:
        return {"synthetic": D.make_zsl(n_classes=16, n_unseen=4, n_attributes=10,
                                        n_features=24, n_per_class=20, random_state=seed),
                "digits": D.load_digits_zsl(unseen=FOLDS[seed], random_state=seed)}
    return {"synthetic": D.make_zsl(random_state=seed),
            "digits": D.load_digits_zsl(unseen=FOLDS[seed], random_state=seed)}


def permuted_control(model, data, seed):
    """Refit ``model``'s setting with the unseen attribute columns deranged; ZSL accuracy."""
    rng = np.random.default_rng(1000 + seed)
    U = data.unseen.size
    while True:
        perm = rng.permutation(U)
        if (perm != np.arange(U)).all():
            break
    A = data.attributes.copy()
    A[:, data.unseen] = data.attributes[:, data.unseen[perm]]
    ctrl = clone(model)
    X, y = data.split("trainval")
    ctrl.fit(X, y, A, seen=data.seen, unseen=data.unseen)
    Xu, yu = data.split("test_unseen")
    return slide_fast.metrics.per_class_accuracy(yu, ctrl.predict(Xu, mode="zsl"))


def evaluate_methods(dname, data, seed, hidden, epochs, n_threads):
    """One row per method: the GBU protocol's test scores and the permuted control."""
    rows = []
    for mname, (est, grid) in zsl_methods(slide_fast, hidden, epochs, n_threads, seed).items():
        t0 = time.perf_counter()
        out = slide_fast.zsl.gbu_protocol(est, data, grid, random_state=seed)
        row = {"dataset": dname, "method": mname, "seed": seed,
               **{k: 100 * out["test"][k] for k in METRICS},
               "H_uncalibrated": 100 * out["test_uncalibrated"]["H"],
               "control_zsl": 100 * permuted_control(out["model"], data, seed),
               "chance": 100.0 / data.unseen.size, "params": out["params"],
               "calibration": out["calibration"], "seconds": time.perf_counter() - t0}
        rows.append(row)
        print(f"seed {seed} {dname:<16} {mname:<20} ZSL {row['zsl']:5.1f}  U {row['U']:5.1f}  "
              f"S {row['S']:5.1f}  H {row['H']:5.1f}  control {row['control_zsl']:5.1f}  "
              f"({row['seconds']:.0f} s)", flush=True)
    return rows


def run(args):
    n_seeds = 1 if args.smoke else args.seeds
    hidden, epochs = ((16,), 2) if args.smoke else ((256,), 30)
    raw = []
    for seed in range(n_seeds):
        for dname, data in datasets(seed, args.smoke).items():
            raw += evaluate_methods(dname, data, seed, hidden, epochs, args.n_threads)
    return raw


def summarise(raw):
    summary = {}
    for r in raw:
        summary.setdefault((r["dataset"], r["method"]), []).append(r)
    table = []
    for (dname, mname), rows in summary.items():
        entry = {"dataset": dname, "method": mname, "n_seeds": len(rows),
                 "chance": rows[0]["chance"] if len({r["chance"] for r in rows}) == 1 else None}
        for k in METRICS + ("H_uncalibrated", "control_zsl"):
            vals = np.array([r[k] for r in rows])
            entry[k] = float(vals.mean())
            entry[k + "_std"] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
        table.append(entry)
    return table


def doc_tables(data):
    """The docs table of a saved run (its JSON)."""
    return {"fig03": markdown(data["table"]).rstrip("\n")}


def summary(data):
    """The README's result cell: GZSL H of the best soft-label loss against ESZSL and SJE."""
    parts = []
    for dname in dict.fromkeys(e["dataset"] for e in data["table"]):
        h = {e["method"]: e["H"] for e in data["table"] if e["dataset"] == dname}
        soft = [v for k, v in h.items() if k.startswith("SoftLabelZSL")]
        others = ", ".join(f"{k} {h[k]:.1f}" for k in ("ESZSL", "SJE") if k in h)
        if soft:
            parts.append(f"{dname}: GZSL H {max(soft):.1f} (soft labels)" +
                         (f" against {others}" if others else ""))
        else:
            parts.append(f"{dname}: GZSL H {others}")
    return {"fig03": "; ".join(parts)}


def markdown(table):
    lines = ["| data | method | ZSL | GZSL U | GZSL S | GZSL H | H (no calibration) | "
             "control ZSL (chance) |", "|---|---|---|---|---|---|---|---|"]
    for e in table:
        def ms(k):
            return f"{e[k]:.1f} ± {e[k + '_std']:.1f}"
        chance = f"{e['chance']:.1f}" if e["chance"] is not None else "-"
        lines.append(f"| {e['dataset']} | {e['method']} | {ms('zsl')} | {ms('U')} | {ms('S')} | "
                     f"{ms('H')} | {ms('H_uncalibrated')} | {ms('control_zsl')} ({chance}) |")
    return "\n".join(lines) + "\n"


def plot(table, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dnames = sorted({e["dataset"] for e in table}, reverse=True)
    fig, axes = plt.subplots(1, len(dnames), figsize=(6.5 * len(dnames), 4.2), squeeze=False)
    for ax, dname in zip(axes[0], dnames):
        rows = [e for e in table if e["dataset"] == dname]
        x = np.arange(len(rows))
        w = 0.27
        for off, key, label in ((-w, "zsl", "ZSL acc"), (0, "H", "GZSL H"),
                                (w, "control_zsl", "ZSL, permuted attributes")):
            ax.bar(x + off, [e[key] for e in rows], w, yerr=[e[key + "_std"] for e in rows],
                   capsize=3, label=label)
        if rows[0]["chance"] is not None:
            ax.axhline(rows[0]["chance"], color="k", ls="--", lw=1, label="chance (ZSL)")
        ax.set_xticks(x)
        ax.set_xticklabels([e["method"].replace(" (", "\n(") for e in rows], fontsize=8)
        ax.set_ylabel("per-class accuracy (%)")
        ax.set_title(f"{dname} (mean ± std over {rows[0]['n_seeds']} seeds)")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    p = _common.parser(__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    raw = run(args)
    table = summarise(raw)
    name = os.path.splitext(os.path.basename(__file__))[0]
    os.makedirs(args.out, exist_ok=True)
    md = markdown(table)
    with open(os.path.join(args.out, name + ".md"), "w") as fh:
        fh.write(md)
    import csv
    with open(os.path.join(args.out, name + ".csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    _common.save_json({"table": table, "runs": raw, "smoke": args.smoke,
                       "seconds": time.perf_counter() - t0}, args.out, name + ".json",
                      n_threads=args.n_threads, argv=argv)
    plot(table, os.path.join(args.out, name + ".png"))
    print(md)
    print(f"outputs in {args.out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
