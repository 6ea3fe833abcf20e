"""LSH quality on real data: retrieval recall of a trained output layer and P@1 at equal time.

Part 1, retrieval (``fig11:recall``, ``fig11:choose``): a network is trained with the
default preset (batch-shared uniform + hard negatives, catch-up Adam); the test
points' hidden vectors then query tables of its class rows.  For each hash setting
(DWTA with SLIDE's packing or exact concatenation, SimHash of the raw or centred
rows) and a grid of K and L, the mean number of candidates per query (the union of
the hit buckets, no cap, no padding) and the top-50 recall (the fraction of each
query's 50 largest logits among its candidates) are measured; the table keeps, per
setting, the recall of the union at exactly the candidate budget (500; interpolated
between the two L that bracket it), the best union within it, and the best recall of
the ``budget`` classes most tables return (``selection="topk"``) over the grid.
``lsh.choose_KL`` then picks K and L for the budget from the per-hash collision rates
measured on the layer (``p_near``: query vs its top 50 classes, ``p_far``: query vs
random classes), and the chosen tables are measured.

Part 2, training (``fig11:p1``): the default preset, the same without the memory,
:class:`~slide_ref.negative.LSHBlockSampler` (the shared block plus each sample's
table hits, with and without the memory), SLIDE's LSH output with DWTA packed as
SLIDE does or by exact concatenation, and LSH Embedding with raw or centred SimHash
(``--models`` adds variants: block tables of the raw rows, centred LSH Embedding at
K=10), trained interleaved (one epoch each in turn, so a shared machine's load falls on
all alike); test P@1 with the full softmax after every epoch (not timed), and the P@1 of
each model at the default's total training time.

The data: ``slide.datasets.load_debian_xc()`` (``docs/data.md``); ``--smoke`` uses a
small synthetic set and a smaller grid.

    python -m paper_figures.fig11_lsh_quality                # minutes on 2 cores
    python -m paper_figures.fig11_lsh_quality --smoke        # seconds
"""
import os

import numpy as np
import scipy.sparse as sp

import slide_fast
from paper_figures import _common
from paper_figures.fig06_debian_xc import load_data, top1
from slide_ref.classifier import preset_components
from slide_ref.lsh_index import _resolve_range_pow

LSHParams = slide_fast.lsh.LSHParams
TOP = 50

#: hash settings of the retrieval grid: (family, family parameters, centred rows)
HASHES = {"DWTA, SLIDE packing": ("DWTAHash", {"packing": "slide"}, False),
          "DWTA, exact concatenation": ("DWTAHash", {"packing": "concat"}, False),
          "SimHash": ("SimHash", {"ratio": 1}, False),
          "SimHash, centred rows": ("SimHash", {"ratio": 1}, True)}
GRID_K = {"DWTAHash": (2, 3, 4, 5, 6), "SimHash": (6, 8, 10, 12, 14)}
GRID_L = (10, 25, 50, 100)
SMOKE_GRID_K = {"DWTAHash": (2, 3, 4), "SimHash": (4, 6, 8)}
SMOKE_GRID_L = (5, 20)


# ----------------------------------------------------------------------------- data, layer
def trained_layer(data, epochs, n_queries, n_threads):
    """``(W, b, H)``: the output layer of a default-preset network trained ``epochs``
    epochs, and the hidden vectors of the first ``n_queries`` test points."""
    X, Y, Xt, Yt = data
    net = make_network("default", X.shape[1], Y.shape[1], n_threads)
    for epoch in range(epochs):
        _common.train_curve(net, X, Y, Xt, Yt, 128, budget_s=float("inf"), eval_every=10**9,
                            predict_top1=top1, seed=epoch)
    H = net.embed(Xt[:n_queries])
    out = net.layers[-1]
    return np.array(out.W), np.array(out.b), H


# ----------------------------------------------------------------------------- retrieval
def best_classes(W, b, H, top=TOP):
    """Each query's ``top`` classes by logit, ``[n, top]``."""
    logits = H @ W.T + b
    return np.argpartition(-logits, top - 1, axis=1)[:, :top]


def rows_for(W, center):
    return W - W.mean(axis=0, dtype=np.float64).astype(W.dtype) if center else W


def build_tables(setting, W, K, L, seed=0):
    """Tables of the rows of ``W`` for a hash setting of :data:`HASHES` (no capacity cut)."""
    family_name, params, center = HASHES[setting]
    family = getattr(slide_fast.lsh, family_name)(W.shape[1], K=K, L=L, random_state=seed,
                                                  **params)
    tables = slide_fast.lsh.LSHTables(family, range_pow=_resolve_range_pow(family, None),
                                      capacity=0)
    return tables.build(rows_for(W, center), n_threads=2)


def recall_of(found, best):
    """Mean fraction of each row of ``best`` among the CSR ``found``'s row."""
    return float(np.mean([np.isin(best[i], found.indices[found.indptr[i]:found.indptr[i + 1]])
                          .mean() for i in range(len(best))]))


def top_by_count(found, budget):
    """``found`` (CSR of table counts) cut to each row's ``budget`` most returned ids
    (ties: smaller id, as ``selection="topk"``)."""
    rows = []
    for i in range(found.shape[0]):
        ids = found.indices[found.indptr[i]:found.indptr[i + 1]]
        counts = found.data[found.indptr[i]:found.indptr[i + 1]]
        rows.append(ids[np.lexsort((ids, -counts))[:budget]])
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    data = np.ones(indptr[-1])
    return sp.csr_matrix((data, np.concatenate(rows) if rows else [], indptr),
                         shape=found.shape)


def retrieval_grid(W, b, H, grid_k, grid_l, budget):
    """One row per (setting, K, L): candidates, recall, and the recall of the ``budget``
    most returned classes."""
    best = best_classes(W, b, H)
    rows = []
    for setting, (family_name, _, _) in HASHES.items():
        for K in grid_k[family_name]:
            for L in grid_l:
                found = build_tables(setting, W, K, L).query(H)
                rows.append({"setting": setting, "K": K, "L": L,
                             "candidates": float(np.diff(found.indptr).mean()),
                             "recall": recall_of(found, best),
                             "recall_topk": recall_of(top_by_count(found, budget), best)})
                print(f"{setting:28s} K={K:2d} L={L:3d} candidates "
                      f"{rows[-1]['candidates']:8.1f} recall {rows[-1]['recall']:.3f} "
                      f"top-{budget} by count {rows[-1]['recall_topk']:.3f}", flush=True)
    return rows


def collision_rates(setting, W, b, H, n_hashes=256, seed=1):
    """Per-hash collision rates ``(p_near, p_far)`` of the setting on the layer: query vs
    its top classes, query vs random classes (codes of K=1 tables)."""
    family_name, params, center = HASHES[setting]
    family = getattr(slide_fast.lsh, family_name)(W.shape[1], K=1, L=n_hashes,
                                                  random_state=seed, **params)
    codes_q, codes_w = family.hash(H), family.hash(rows_for(W, center))
    best = best_classes(W, b, H)
    near = (codes_q[:, None, :] == codes_w[best]).mean()
    rand = np.random.default_rng(seed).integers(0, W.shape[0], size=best.shape)
    far = (codes_q[:, None, :] == codes_w[rand]).mean()
    return float(near), float(far)


def chosen_tables(W, b, H, budget, max_L):
    """For each SimHash setting: the per-hash rates, ``choose_KL``'s pair, the predicted and
    measured candidates and recall."""
    out = []
    best = best_classes(W, b, H)
    for setting in ("SimHash", "SimHash, centred rows"):
        p_near, p_far = collision_rates(setting, W, b, H)
        K, L = slide_fast.lsh.choose_KL(W.shape[0], budget, p_near=p_near, p_far=p_far,
                                        max_K=20, max_L=max_L)
        found = build_tables(setting, W, K, L).query(H)
        P = slide_fast.lsh.candidate_probability
        out.append({"setting": setting, "p_near": p_near, "p_far": p_far, "K": K, "L": L,
                    "predicted_candidates": float(W.shape[0] * P(p_far, K, L)),
                    "predicted_recall": float(P(p_near, K, L)),
                    "candidates": float(np.diff(found.indptr).mean()),
                    "recall": recall_of(found, best)})
        print(f"choose_KL {setting}: {out[-1]}", flush=True)
    return out


# ----------------------------------------------------------------------------- training
#: the models of part 2: what the table calls them
MODELS = {"default": "default preset: batch-shared uniform + hard negatives (t=4)",
          "shared_uniform": "batch-shared uniform, no memory",
          "lsh_block": "LSHBlockSampler: block + 16 table hits per sample + memory (t=4)",
          "lsh_block_nomem": "LSHBlockSampler: block + 16 table hits per sample, no memory",
          "lsh_block_raw": "LSHBlockSampler: block + 16 table hits per sample + memory (t=4), "
                           "tables of the raw rows",
          "slide_dwta": "SLIDE: DWTA (SLIDE packing, K=6, L=50), dense Adam",
          "slide_dwta_concat": "SLIDE: DWTA (exact concatenation, K=3, L=50), dense Adam",
          "lns_simhash": "LSH Embedding: SimHash (K=6, L=50), dense Adam",
          "lns_simhash_centred": "LSH Embedding: SimHash of centred rows (K=6, L=50), dense Adam",
          "lns_simhash_centred_k10": "LSH Embedding: SimHash of centred rows (K=10, L=50), "
                                     "dense Adam"}


#: the models a plain run trains (the others are variants: ``--models``)
DEFAULT_MODELS = ("default", "shared_uniform", "lsh_block", "lsh_block_nomem", "slide_dwta",
                  "slide_dwta_concat", "lns_simhash", "lns_simhash_centred")


def model_parts(name, n_labels):
    """``(output_sampler, optimizer, lsh)`` of a model of :data:`MODELS`."""
    neg = slide_fast.negative
    m = max(1, min(1000, n_labels // 2))
    if name in ("default", "shared_uniform"):
        preset = "shared_uniform_hard" if name == "default" else "shared_uniform"
        sampler, optimizer = preset_components(preset, neg, n_outputs=n_labels)
        return sampler, optimizer, None
    if name.startswith("lsh_block"):
        hard = 0 if name == "lsh_block_nomem" else 4
        lsh = dict(neg.BLOCK_LSH, center=False) if name == "lsh_block_raw" else None
        return neg.LSHBlockSampler(m, table_negatives=16, hard_negatives=hard, lsh=lsh), \
            "catchup_adam", None
    if name.startswith("slide_dwta"):
        concat = name.endswith("concat")
        lsh = LSHParams(hash_params={"packing": "concat"}, K=3) if concat else LSHParams()
        return None, "adam", lsh
    lsh = LSHParams(hash_family="simhash", center="centred" in name,
                    K=10 if name.endswith("k10") else 6)
    return neg.LSHSampler("embedding", lsh=lsh), "adam", None


def make_network(name, n_features, n_labels, n_threads, seed=0):
    sampler, optimizer, lsh = model_parts(name, n_labels)
    sampled = (False, True) if sampler is None else None
    return slide_fast.network.SlideNetwork(
        n_features, n_labels, hidden=(128,), sampled=sampled, output_sampler=sampler,
        lsh=lsh, optimizer=optimizer, lr=1e-3, batch_size=128, n_threads=n_threads,
        random_state=seed)


def train_models(names, data, epochs, n_threads):
    """``{name: [(train s, samples, test P@1) after every epoch]}``, trained interleaved."""
    X, Y, Xt, Yt = data
    nets = {n: make_network(n, X.shape[1], Y.shape[1], n_threads) for n in names}
    curves = {n: [] for n in names}
    for epoch in range(epochs):
        for name, net in nets.items():
            t, s, p1 = _common.train_curve(net, X, Y, Xt, Yt, 128, budget_s=float("inf"),
                                           eval_every=10**9, predict_top1=top1,
                                           seed=epoch)[-1]
            t0, s0 = curves[name][-1][:2] if curves[name] else (0.0, 0)
            curves[name].append((t0 + t, s0 + s, p1))
            print(f"epoch {epoch + 1} {name:<20} {curves[name][-1][1] / curves[name][-1][0]:8.0f}"
                  f" samples/s  P@1 {p1:.4f}  {curves[name][-1][0]:.1f} s", flush=True)
    return curves


def p1_at(curve, seconds):
    """P@1 of the last epoch finished within ``seconds`` of training (None: none was)."""
    done = [p1 for t, _, p1 in curve if t <= seconds]
    return done[-1] if done else None


# ----------------------------------------------------------------------------- docs
def recall_at_budget(rows, budget):
    """The best recall over K of the union at exactly ``budget`` candidates, interpolated
    linearly in the candidates between the two L of a K that bracket it: ``(recall, K)``,
    or None when no K brackets the budget."""
    best = None
    for K in sorted({r["K"] for r in rows}):
        pts = sorted((r["candidates"], r["recall"]) for r in rows if r["K"] == K)
        for (c0, r0), (c1, r1) in zip(pts, pts[1:]):
            if c0 <= budget <= c1 and c1 > c0:
                value = r0 + (r1 - r0) * (budget - c0) / (c1 - c0)
                if best is None or value > best[0]:
                    best = (value, K)
    return best


def _recall_table(data):
    budget, grid = data["budget"], data["grid"]
    lines = [f"| hash setting | top-{TOP} recall of the union at {budget} candidates "
             f"(interpolated, best K) | best union within {budget} candidates "
             f"(K, L, candidates) | best recall of the {budget} classes most tables return "
             f"(K, L) |",
             "|---|---|---|---|"]
    for setting in HASHES:
        rows = [r for r in grid if r["setting"] == setting]
        if not rows:
            lines.append(f"| {setting} | not measured | | |")
            continue
        fits = [r for r in rows if r["candidates"] <= budget]
        best = max(fits, key=lambda r: r["recall"]) if fits else None
        by_count = max(rows, key=lambda r: r["recall_topk"])
        at = recall_at_budget(rows, budget)
        cell = "none fits" if best is None else \
            f"{best['recall']:.3f} ({best['K']}, {best['L']}, {best['candidates']:.0f})"
        lines.append(f"| {setting} | {'-' if at is None else f'{at[0]:.3f} (K={at[1]})'} | "
                     f"{cell} | {by_count['recall_topk']:.3f} "
                     f"({by_count['K']}, {by_count['L']}) |")
    lines.append("")
    lines.append(f"Random classes would give a recall of {budget / data['n_labels']:.3f}.")
    return "\n".join(lines)


def _choose_table(data):
    lines = ["| setting | p_near | p_far | choose_KL (K, L) | predicted candidates | "
             "measured candidates | predicted recall | measured recall |",
             "|---|---|---|---|---|---|---|---|"]
    for r in data["chosen"]:
        lines.append(f"| {r['setting']} | {r['p_near']:.3f} | {r['p_far']:.3f} | "
                     f"({r['K']}, {r['L']}) | {r['predicted_candidates']:.0f} | "
                     f"{r['candidates']:.0f} | {r['predicted_recall']:.3f} | "
                     f"{r['recall']:.3f} |")
    return "\n".join(lines)


def _p1_table(data):
    curves = data["curves"]
    budget = curves["default"][-1][0] if "default" in curves else None
    lines = ["| model | samples/s | P@1 epoch 1 | P@1 last epoch | P@1 at the default's "
             "training time | train s, all epochs |", "|---|---|---|---|---|---|"]
    for name, curve in curves.items():
        t, s, last = curve[-1]
        at = None if budget is None else p1_at(curve, budget * 1.001)
        lines.append(f"| {MODELS.get(name, name)} | {s / t:,.0f} | {curve[0][2]:.4f} | "
                     f"{last:.4f} | {'-' if at is None else f'{at:.4f}'} | {t:.1f} |")
    stats = data["data"]
    lines.append("")
    lines.append(f"{stats['name']}: {stats['n_train']:,} training and {stats['n_test']:,} test "
                 f"points, {stats['n_features']:,} features, {stats['n_labels']:,} labels; "
                 f"{data['epochs']} epochs, interleaved on a shared machine.")
    return "\n".join(lines)


def doc_tables(data):
    """The docs tables: retrieval per hash setting, ``choose_KL`` on the measured rates,
    and P@1 at equal training time."""
    return {"fig11:recall": _recall_table(data), "fig11:choose": _choose_table(data),
            "fig11:p1": _p1_table(data)}


def plot(data, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for setting in HASHES:
        rows = sorted((r for r in data["grid"] if r["setting"] == setting),
                      key=lambda r: r["candidates"])
        left.plot([r["candidates"] for r in rows], [r["recall"] for r in rows], ".",
                  label=setting)
    left.axvline(data["budget"], color="grey", lw=0.8)
    left.set_xscale("log")
    left.set(xlabel="candidates per query (union)", ylabel=f"top-{TOP} recall",
             title="retrieval on the trained layer")
    left.legend(fontsize=7)
    for name, curve in data["curves"].items():
        right.plot([c[0] for c in curve], [c[2] for c in curve], marker=".", label=name)
    right.set(xlabel="training time (s)", ylabel="test P@1", title="P@1 against time")
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return _common.save_figure(fig, path)


def main(argv=None):
    p = _common.parser(__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--layer-epochs", type=int, default=4)
    p.add_argument("--budget", type=int, default=500)
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=list(MODELS))
    p.add_argument("--skip-retrieval", action="store_true",
                   help="only the training comparison (part 2)")
    args = p.parse_args(argv)
    X, Y, Xt, Yt, name = load_data(args.smoke)
    data = (X, Y, Xt, Yt)
    budget = 100 if args.smoke else args.budget
    grid, chosen = [], []
    if not args.skip_retrieval:
        W, b, H = trained_layer(data, 1 if args.smoke else args.layer_epochs,
                                200 if args.smoke else 1000, args.n_threads)
        grid = retrieval_grid(W, b, H, SMOKE_GRID_K if args.smoke else GRID_K,
                              SMOKE_GRID_L if args.smoke else GRID_L, budget)
        chosen = chosen_tables(W, b, H, budget, 32 if args.smoke else 128)
    curves = train_models(args.models, data, 1 if args.smoke else args.epochs, args.n_threads)
    stats = {"name": name, "n_train": X.shape[0], "n_test": Xt.shape[0],
             "n_features": X.shape[1], "n_labels": Y.shape[1]}
    results = {"grid": grid, "chosen": chosen, "curves": curves, "budget": budget,
               "n_labels": Y.shape[1], "epochs": 1 if args.smoke else args.epochs,
               "data": stats}
    _common.save_json(results, args.out, "fig11_lsh_quality.json", n_threads=args.n_threads,
                      argv=argv)
    print(f"wrote {plot(results, os.path.join(args.out, 'fig11_lsh_quality.png'))}")


if __name__ == "__main__":
    main()
