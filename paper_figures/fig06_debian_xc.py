"""Time-to-accuracy of the classifier presets and the PyTorch peers on the real Debian XC set.

Every preset of :class:`slide.SlideClassifier` (``slide_ref.classifier.PRESETS``,
``slide_fast``): the batch-shared uniform sampler with catch-up Adam, with and
without the hard-negative memory; SLIDE's configuration (DWTA LSH output,
padding, dense Adam); LSH Embedding negatives (SimHash); and the full softmax.
When PyTorch is installed, also the PyTorch peers of :mod:`slide_bench.peers`:
the full softmax with dense Adam, a sampled softmax over the batch's labels and
1000 shared uniform negatives with fused dense Adam, and the same loss with
sparse embeddings and ``SparseAdam`` (without PyTorch they are skipped, and the
outputs say so).  Same network for all: sparse tf-idf input -> 128 ReLU ->
output, lr 1e-3, batch 128.  The models are trained interleaved, one epoch each
in turn, so that the load of a shared machine falls on all of them alike; after
every epoch the test P@1 is computed with the full softmax (evaluation is not
timed).

The data: ``slide.datasets.load_debian_xc()`` (package descriptions -> the
packages they depend on; built from apt's lists and cached, ``make data``;
protocol in ``docs/data.md``).  ``--smoke`` uses a small synthetic set.

    python -m paper_figures.fig06_debian_xc                # ~40 min on 2 shared cores
    python -m paper_figures.fig06_debian_xc --peers        # the presets only
    python -m paper_figures.fig06_debian_xc --smoke        # seconds
"""
import os

import numpy as np

import slide_fast
from paper_figures import _common
from slide_bench import peers
from slide_ref.classifier import PRESETS, preset_components

#: what the table and the plot call each preset
LABELS = {"shared_uniform_hard": "batch-shared uniform + catch-up Adam + hard negatives (t=4)",
          "shared_uniform": "batch-shared uniform + catch-up Adam",
          "slide_paper": "SLIDE (DWTA LSH output, dense Adam)",
          "lns_embedding": "LSH Embedding (SimHash, centred rows, K=10), dense Adam",
          "full_softmax": "full softmax, dense Adam"}

#: the PyTorch peers: name -> (loss, optimizer, fused) of :class:`slide_bench.peers.TorchXC`
PEERS = {"torch-full": ("full", "adam", False),
         "torch-uniform-fused": ("uniform", "adam", True),
         "torch-uniform-sparse": ("uniform", "sparse", False),
         "torch-loguniform-sparse": ("log-uniform", "sparse", False)}
PEER_LABELS = {"torch-full": "PyTorch full softmax, dense Adam",
               "torch-uniform-fused": "PyTorch 1000 shared uniform negatives, fused dense Adam",
               "torch-uniform-sparse": "PyTorch 1000 shared uniform negatives, sparse "
                                       "embeddings + SparseAdam",
               "torch-loguniform-sparse": "PyTorch 1000 log-uniform negatives with logQ, sparse "
                                          "embeddings + SparseAdam"}
LABELS.update(PEER_LABELS)
#: the peers this figure trains by default
DEFAULT_PEERS = ["torch-full", "torch-uniform-fused", "torch-uniform-sparse"]
#: what the outputs say when the peers could not run
NO_TORCH = "PyTorch is not installed: the PyTorch peers were skipped"


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


def make_peer(name, n_features, Y, n_threads, seed=0):
    """A fresh PyTorch peer ``name`` (a key of :data:`PEERS`): the same network, lr 1e-3;
    ``min(1000, n_labels // 2)`` negatives; ``Y`` (training label CSR) gives the label
    counts the log-uniform sampler ranks by."""
    loss, optimizer, fused = PEERS[name]
    n_labels = Y.shape[1]
    return peers.TorchXC(n_features, n_labels, hidden=128, lr=1e-3, loss=loss,
                         optimizer=optimizer, fused=fused, n_negatives=min(1000, n_labels // 2),
                         counts=np.asarray(Y.sum(axis=0)).ravel(), n_threads=n_threads,
                         seed=seed)


def make_model(name, n_features, Y, n_threads, seed=0):
    """A preset's ``SlideNetwork`` or a PyTorch peer, by name."""
    if name in PEERS:
        return make_peer(name, n_features, Y, n_threads, seed)
    return make_network(name, n_features, Y.shape[1], n_threads, seed)


def runnable_peers(requested):
    """``(peers to train, note)``: all of ``requested`` with PyTorch, none (and
    :data:`NO_TORCH` as the note) without it."""
    if requested and not peers.available():
        print(NO_TORCH, flush=True)
        return [], NO_TORCH
    return list(requested), None


def top1(model, X):
    """Each row's top label under the full softmax (a ``SlideNetwork`` or a peer)."""
    if isinstance(model, slide_fast.network.SlideNetwork):
        return model.predict_topk(X, k=1)[0][:, 0]
    return model.predict_top1(X)


def run(names, data, epochs, n_threads):
    """``{name: [(train s, samples, test P@1) after every epoch]}``, trained interleaved."""
    X, Y, Xt, Yt = data
    models = {name: make_model(name, X.shape[1], Y, n_threads) for name in names}
    curves = {name: [] for name in names}
    for epoch in range(epochs):
        for name, model in models.items():
            point = _common.train_curve(model, X, Y, Xt, Yt, 128, budget_s=float("inf"),
                                        eval_every=10**9, predict_top1=top1,
                                        seed=epoch)[-1]
            t0, s0 = curves[name][-1][:2] if curves[name] else (0.0, 0)
            curves[name].append((t0 + point[0], s0 + point[1], point[2]))
            t, s, p1 = curves[name][-1]
            print(f"epoch {epoch + 1} {LABELS[name]:<62} {s / t:8.0f} samples/s  "
                  f"P@1 {p1:.4f}  {t:.1f} s", flush=True)
    return curves


def time_to(curve, target):
    """Training seconds at the first evaluation whose P@1 reaches ``target`` (None: never)."""
    return next((t for t, _, p1 in curve if p1 >= target), None)


def speed(curve):
    """Mean samples/s of a whole curve."""
    t, s, _ = curve[-1]
    return s / t


def fastest_peer_speed(curves):
    """The highest mean samples/s among the PyTorch peers of ``curves`` (None: no peer)."""
    speeds = [speed(c) for name, c in curves.items() if name in PEERS]
    return max(speeds) if speeds else None


def best(curve):
    """The best P@1 of a curve."""
    return max(p1 for _, _, p1 in curve)


def targets(curves, fraction=0.98):
    """``[(what, P@1 target)]``: ``fraction`` of the best P@1 of the full softmax
    (``slide_fast``) and of the best PyTorch peer, for those of them in ``curves``."""
    found = []
    if "full_softmax" in curves:
        found.append(("full softmax", fraction * best(curves["full_softmax"])))
    peer_bests = [best(c) for name, c in curves.items() if name in PEERS]
    if peer_bests:
        found.append(("best PyTorch peer", fraction * max(peer_bests)))
    return found


def results_table(curves, first="epoch 1", last="last epoch"):
    """Markdown lines: per model samples/s, samples/s relative to the fastest PyTorch peer,
    P@1 at the first and last evaluation, best P@1, and the training time to 98% of the best
    P@1 of the full softmax and of the best PyTorch peer (:func:`targets`)."""
    goals = targets(curves)
    lines = ["| key | model | samples/s | samples/s vs fastest PyTorch peer | "
             f"P@1 {first} | P@1 {last} | best P@1 | "
             + "".join(f"train s to P@1 >= {t:.3f} (98% of {what}) | " for what, t in goals)
             + "train s, all |",
             "|---" * (8 + len(goals)) + "|"]
    peer_speed = fastest_peer_speed(curves)
    for name, curve in curves.items():
        ratio = "—" if peer_speed is None else f"{speed(curve) / peer_speed:.2f}x"
        reach = [time_to(curve, t) for _, t in goals]
        lines.append(f"| `{name}` | {LABELS.get(name, name)} | {speed(curve):,.0f} | {ratio} | "
                     f"{curve[0][2]:.4f} | {curve[-1][2]:.4f} | {best(curve):.4f} | "
                     + "".join("not reached | " if r is None else f"{r:.1f} | " for r in reach)
                     + f"{curve[-1][0]:.1f} |")
    return lines


#: short names of the peers in the README's summary
PEER_SHORT = {"torch-full": "full softmax", "torch-uniform-fused": "sampled, fused Adam",
              "torch-uniform-sparse": "sampled, SparseAdam",
              "torch-loguniform-sparse": "log-uniform sampled, SparseAdam"}


def summary_text(curves, what, with_target=True):
    """One sentence for the README: the default against the full softmax and the peers
    (``with_target``: also the time to 98% of the full softmax's best P@1)."""
    default, full = curves.get("shared_uniform_hard"), curves.get("full_softmax")
    goal = dict(targets(curves)).get("full softmax") if with_target else None
    parts = []
    if default is not None:
        reach = None if goal is None else time_to(default, goal)
        parts.append(f"the default `SlideClassifier()` reaches P@1 {best(default):.3f} at "
                     f"{speed(default):,.0f} samples/s" +
                     ("" if reach is None else f", 98% of the full softmax's in {reach:.0f} s"))
    if full is not None:
        parts.append(f"full softmax {best(full):.3f}" +
                     ("" if goal is None else f" (98% in {time_to(full, goal):.0f} s)"))
    if "slide_paper" in curves:
        parts.append(f"SLIDE's configuration {best(curves['slide_paper']):.3f}")
    peer_speed = fastest_peer_speed(curves)
    if peer_speed is not None and default is not None:
        peers = ", ".join(f"{PEER_SHORT.get(n, n)} {best(c):.3f} at {speed(c):,.0f}/s"
                          for n, c in curves.items() if n in PEERS)
        parts.append(f"PyTorch: {peers}; the default trains {speed(default) / peer_speed:.1f}x "
                     "the fastest peer's samples/s")
    return f"{what}: " + "; ".join(parts)


def summary(data):
    """The README's result cell (``make_docs``)."""
    return {"fig06": summary_text(data["curves"], f"Debian XC ({data['data']['n_labels']:,} "
                                  f"labels), {data['epochs']} epochs")}


def doc_tables(data):
    """The docs table: samples/s (also relative to the fastest PyTorch peer), P@1 after the
    first and the last epoch, best P@1, and the time to reach 98% of the best P@1 of the full
    softmax (``slide_fast``) and of the best PyTorch peer."""
    lines = results_table(data["curves"])
    stats = data["data"]
    lines.append("")
    lines.append(f"{stats['name']}: {stats['n_train']:,} training and {stats['n_test']:,} test "
                 f"points, {stats['n_features']:,} features, {stats['n_labels']:,} labels; "
                 f"{data['epochs']} epochs.")
    if data.get("peers_note"):
        lines.append(f"{data['peers_note']}.")
    return {"fig06": "\n".join(lines)}


def main(argv=None):
    p = _common.parser(__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    p.add_argument("--peers", nargs="*", default=DEFAULT_PEERS, choices=list(PEERS),
                   help="PyTorch peers to train (none: --peers alone); skipped without torch")
    args = p.parse_args(argv)
    X, Y, Xt, Yt, name = load_data(args.smoke)
    epochs = 2 if args.smoke else args.epochs
    peer_names, note = runnable_peers(args.peers)
    curves = run(args.presets + peer_names, (X, Y, Xt, Yt), epochs, args.n_threads)
    stats = {"name": name, "n_train": X.shape[0], "n_test": Xt.shape[0],
             "n_features": X.shape[1], "n_labels": Y.shape[1]}
    _common.save_json({"curves": curves, "epochs": epochs, "data": stats, "peers_note": note},
                      args.out, "fig06_debian_xc.json", n_threads=args.n_threads, argv=argv)
    panel = {name: {LABELS[k]: v for k, v in curves.items()}}
    path = _common.plot_curves(panel, os.path.join(args.out, "fig06_debian_xc.png"))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
