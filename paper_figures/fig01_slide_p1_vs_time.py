"""P@1 against wall-clock training time: SLIDE (slide_fast), the full softmax (slide_fast)
and PyTorch's full softmax (when installed), on synthetic XC sets with 10k and 100k labels.

The SLIDE papers' main figure (P@1 against time on Amazon-670K / Delicious-200K),
reproduced on data that can be generated offline: ``slide.datasets.make_xc``
with power-law labels.  Same network for everyone: sparse input -> 128 ReLU ->
softmax, Adam lr 1e-3, batch 128, 2 threads; SLIDE samples the output layer
with DWTA tables (K=6, L=50).  Training time excludes evaluation.

    python -m paper_figures.fig01_slide_p1_vs_time            # ~15 minutes on 2 cores
    python -m paper_figures.fig01_slide_p1_vs_time --smoke    # seconds
"""
import os

import slide_fast
from paper_figures import _common
from slide_bench import peers


def configs(smoke):
    if smoke:
        return {"1k labels (smoke)": dict(n_samples=3000, n_features=500, n_labels=1000,
                                          n_test=500, labels_per_sample=1)}
    return {"10k labels": dict(n_samples=200_000, n_features=10_000, n_labels=10_000,
                               n_test=5_000, labels_per_sample=1),
            "100k labels": dict(n_samples=200_000, n_features=100_000, n_labels=100_000,
                                n_test=2_000, labels_per_sample=2)}


def models(n_features, n_labels, n_threads):
    out = {}
    for name, sampled in (("SLIDE (slide_fast)", True), ("full softmax (slide_fast)", False)):
        out[name] = (slide_fast.network.SlideNetwork(
            n_features, n_labels, hidden=(128,), sampled=(False, sampled),
            lsh=slide_fast.lsh.LSHParams(K=6, L=50),
            lr=1e-3, n_threads=n_threads, random_state=0),
            lambda m, X: m.predict_topk(X, k=1)[0][:, 0])
    if peers.available():
        out["full softmax (PyTorch)"] = (peers.TorchXC(n_features, n_labels,
                                                       n_threads=n_threads),
                                         lambda m, X: m.predict_top1(X))
    return out


def doc_tables(data):
    """The docs table of a saved run (its JSON): final samples/s and P@1 of every model."""
    lines = ["| data | model | samples/s | P@1 at the end | samples trained | train s |",
             "|---|---|---|---|---|---|"]
    for title, panel in data["results"].items():
        for name, curve in panel["curves"].items():
            train_s, samples, p1 = curve[-1]
            lines.append(f"| {title} | {name} | {samples / train_s:,.0f} | {p1:.4f} | "
                         f"{samples:,} | {train_s:.1f} |")
    return {"fig01": "\n".join(lines)}


def main(argv=None):
    p = _common.parser(__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=120, help="training seconds per model")
    args = p.parse_args(argv)
    budget = 5 if args.smoke else args.budget
    results, panels = {}, {}
    for title, cfg in configs(args.smoke).items():
        X, Y, Xt, Yt = slide_fast.datasets.make_xc(**cfg, random_state=0)
        curves = {}
        for name, (model, top1) in models(X.shape[1], Y.shape[1], args.n_threads).items():
            curves[name] = _common.train_curve(model, X, Y, Xt, Yt, 128, budget,
                                               eval_every=20 if args.smoke else 150,
                                               predict_top1=top1)
            last = curves[name][-1]
            print(f"{title:<18}{name:<28} {last[1] / last[0]:8.0f} samples/s  "
                  f"P@1 {last[2]:.4f} after {last[1]} samples, {last[0]:.1f} s", flush=True)
        panels[title] = curves
        results[title] = {"config": cfg, "curves": curves}
    _common.save_json({"results": results}, args.out, "fig01_slide_p1_vs_time.json",
                      n_threads=args.n_threads, argv=argv)
    path = _common.plot_curves(panels, os.path.join(args.out, "fig01_slide_p1_vs_time.png"))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
