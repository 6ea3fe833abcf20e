"""Time-to-accuracy on the real next-word task: SLIDE, the batch-shared sampler, the full softmax
and the PyTorch peers over a Zipfian 70.5k-word output layer (slide_fast).

The models of ``fig06_debian_xc`` on ``slide.datasets.load_debian_text()`` (the
bag of the 4 previous words -> the next word, English from Debian packages;
protocol in ``docs/data.md``): the classifier presets ``full_softmax``,
``slide_paper`` (SLIDE: DWTA LSH output, padding, dense Adam),
``shared_uniform`` and ``shared_uniform_hard`` (the default), and, when PyTorch
is installed, the peers of :mod:`slide_bench.peers`: the full softmax with dense
Adam, 1000 shared uniform negatives with fused dense Adam, the same with sparse
embeddings and ``SparseAdam``, and 1000 log-uniform negatives with the logQ
correction (ranked by the training word counts) with sparse embeddings and
``SparseAdam`` (without PyTorch the peers are skipped, and the outputs say so).
Same network for all: input -> 128 ReLU -> output, lr 1e-3, batch 128.

The full set has 13M training examples, more than any model here can see on two
cores, so the figure uses a documented subset: ``--n-train`` training examples
(default 1,000,000) and ``--n-test`` test examples (default 5,000), each drawn
uniformly without replacement with a fixed seed.  Each model gets the same
training-time budget (``--budget-s`` seconds), spent in rounds: the models train
interleaved, round by round, each until its own training clock reaches the
round's end (``budget / 16, / 8, / 4, / 2, budget``), so that the load of a
shared machine falls on all of them alike; after every round the test P@1
(next-word accuracy) is computed with the full softmax (not timed).  Epochs over
the subset reshuffle it.

    python -m paper_figures.fig07_debian_text              # ~25 min on 2 shared cores
    python -m paper_figures.fig07_debian_text --smoke      # seconds
"""
import os
import time

import numpy as np

import slide_fast
from paper_figures import _common
from paper_figures.fig06_debian_xc import (LABELS, PEERS, make_model, results_table,
                                           runnable_peers, summary_text, top1)
from slide_ref._validation import check_int, check_labels
from slide_ref.training import trainer_for

PRESETS = ["full_softmax", "slide_paper", "shared_uniform", "shared_uniform_hard"]
DEFAULT_PEERS = ["torch-full", "torch-uniform-fused", "torch-uniform-sparse",
                 "torch-loguniform-sparse"]
BATCH = 128
#: the rounds end at these fractions of the training-time budget (dense early, where the
#: sampled models reach the full softmax's accuracy)
ROUND_ENDS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)


def subset(n, size, rng):
    """``size`` sorted row ids of ``range(n)`` without replacement (all rows if fewer)."""
    if size >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size, replace=False))


def load_data(smoke, n_train, n_test, seed=0):
    """``(X, y, Xt, yt, n_classes, name)``: a random subset of the real task (word ids
    ``y``), or a small synthetic single-label set with power-law labels for ``--smoke``."""
    if smoke:
        X, Y, Xt, Yt = slide_fast.datasets.make_xc(n_samples=3000, n_features=400,
                                                   n_labels=1000, n_test=500,
                                                   labels_per_sample=1, random_state=0)
        first_label = lambda M: np.asarray(M.argmax(axis=1)).ravel()   # noqa: E731
        return (X, first_label(Y), Xt, first_label(Yt), Y.shape[1],
                "synthetic next-word (smoke)")
    data = slide_fast.datasets.load_debian_text()
    X, y, Xt, yt = data
    rng = np.random.default_rng(seed)
    train, test = subset(X.shape[0], n_train, rng), subset(Xt.shape[0], n_test, rng)
    return (X[train], y[train], Xt[test], yt[test], len(data.vocabulary),
            "Debian next-word")


def one_hot(y, n_classes):
    """The label CSR [n, n_classes] of class ids ``y`` (what the PyTorch peers and the
    P@1 take; the networks accept either form)."""
    return check_labels(np.asarray(y), len(y), n_classes, name="y")


class TimedLearner:
    """A model trained in slices of training time over reshuffled epochs of ``(X, Y)``.

    ``train_until(t)`` trains batch after batch until the model's own training clock
    (batch slicing and the step, nothing else) reaches ``t`` seconds, so that models
    trained in turn each get the same budget whatever the machine's load.
    """

    def __init__(self, model, X, Y, batch_size=BATCH, seed=0):
        self.model, self.trainer = model, trainer_for(model, X, Y)
        self.n_samples, self.batch_size = X.shape[0], batch_size
        self.rng = np.random.default_rng(seed)
        self.order, self.pos = self.rng.permutation(self.n_samples), 0
        self.train_s, self.samples = 0.0, 0

    def _next_rows(self):
        if self.pos >= self.n_samples:      # a new epoch
            self.order, self.pos = self.rng.permutation(self.n_samples), 0
        rows = self.order[self.pos:self.pos + self.batch_size]
        self.pos += len(rows)
        return rows

    def train_until(self, seconds):
        """Train until the training clock reaches ``seconds``; returns ``self``."""
        while self.train_s < seconds:
            rows = self._next_rows()
            t0 = time.perf_counter()
            self.trainer.step(rows)
            self.train_s += time.perf_counter() - t0
            self.samples += len(rows)
        return self


def run(names, data, budget_s, n_threads):
    """``{name: [(train s, samples, test P@1) after every round]}``, trained interleaved."""
    X, Y, Xt, Yt = data
    learners = {name: TimedLearner(make_model(name, X.shape[1], Y, n_threads), X, Y)
                for name in names}
    curves = {name: [] for name in names}
    for end in ROUND_ENDS:
        for name, learner in learners.items():
            learner.train_until(end * budget_s)
            p1 = _common.p_at_1(top1(learner.model, Xt), Yt)
            curves[name].append((learner.train_s, learner.samples, p1))
            print(f"{learner.train_s:6.1f} s {LABELS[name]:<62} "
                  f"{learner.samples / learner.train_s:8.0f} samples/s  "
                  f"{learner.samples:9,d} samples  P@1 {p1:.4f}", flush=True)
    return curves


def summary(data):
    """The README's result cell (``make_docs``)."""
    stats = data["data"]
    return {"fig07": summary_text(data["curves"], f"Debian next word ({stats['n_labels']:,} "
                                  f"words), {data['budget_s']:g} s of training each",
                                  with_target=False)
            + f"; predicting the most frequent word: {stats['majority_p1']:.3f}"}


def doc_tables(data):
    """The docs table: samples/s (also relative to the fastest PyTorch peer), P@1 after the
    first round and at the end of the budget, best P@1, and the training time to 98% of the
    best P@1 of the full softmax (``slide_fast``) and of the best PyTorch peer."""
    lines = results_table(data["curves"], first="first round", last="end")
    stats = data["data"]
    lines.append("")
    lines.append(f"{stats['name']}: {stats['n_train']:,} training and {stats['n_test']:,} test "
                 f"examples (random subsets of {stats['source']}), {stats['n_labels']:,} words; "
                 f"{data['budget_s']:g} s of training per model; predicting the most frequent "
                 f"training word gives P@1 {stats['majority_p1']:.4f}.")
    if data.get("peers_note"):
        lines.append(f"{data['peers_note']}.")
    return {"fig07": "\n".join(lines)}


def main(argv=None):
    p = _common.parser(__doc__.split("\n")[0])
    p.add_argument("--budget-s", type=float, default=75.0,
                   help="training seconds per model (evaluation not counted)")
    p.add_argument("--n-train", type=int, default=1_000_000)
    p.add_argument("--n-test", type=int, default=5_000)
    p.add_argument("--presets", nargs="+", default=PRESETS, choices=PRESETS)
    p.add_argument("--peers", nargs="*", default=DEFAULT_PEERS, choices=list(PEERS),
                   help="PyTorch peers to train (none: --peers alone); skipped without torch")
    args = p.parse_args(argv)
    n_train = check_int(args.n_train, "--n-train", low=1)
    n_test = check_int(args.n_test, "--n-test", low=1)
    budget_s = 1.0 if args.smoke else args.budget_s
    if not budget_s > 0:
        raise ValueError(f"--budget-s must be positive, got {budget_s}")
    X, y, Xt, yt, n_words, name = load_data(args.smoke, n_train, n_test)
    Y, Yt = one_hot(y, n_words), one_hot(yt, n_words)
    peer_names, note = runnable_peers(args.peers)
    curves = run(args.presets + peer_names, (X, Y, Xt, Yt), budget_s, args.n_threads)
    counts = np.bincount(y, minlength=n_words)
    stats = {"name": name, "n_train": X.shape[0], "n_test": Xt.shape[0], "n_labels": n_words,
             "source": "a synthetic set" if args.smoke else "load_debian_text()",
             "majority_p1": float(np.mean(yt == np.argmax(counts)))}
    _common.save_json({"curves": curves, "budget_s": budget_s, "data": stats,
                       "peers_note": note}, args.out, "fig07_debian_text.json",
                      n_threads=args.n_threads, argv=argv)
    panel = {name: {LABELS[k]: v for k, v in curves.items()}}
    path = _common.plot_curves(panel, os.path.join(args.out, "fig07_debian_text.png"))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
