"""NW sketch sampling on real Fashion-MNIST: test accuracy vs training time and vs examples.

The real set of :func:`slide_fast.datasets.load_fashion_mnist` (60,000 training and
10,000 test images of 784 pixels, 10 classes; built by ``make data``), pixels
standardized with the training set's per-pixel mean and deviation, trained by the
engine as a dense MLP 784-256-10 (every layer dense, full softmax), batch 128,
Adam 1e-3, 3 epochs for every sampler, 3 seeds.  Two variants:

* ``fashion-mnist``: the labels as given;
* ``fashion-mnist-noisy``: 20% of the training labels flipped to another class
  (test labels clean), where loss-driven samplers are known to chase the flipped
  examples.

Samplers, as in :mod:`paper_figures.fig02_nwsketch_accuracy` (whose helpers this
script reuses): ``uniform``, ``nw`` (NWSampler), ``loss`` (LossImportance) and
``sb`` (SelectiveBackprop).  Training time includes the sampler's work and its
extra forward passes; evaluation (the whole test set, every half epoch) is
excluded.  The four models of a seed train in turns, one evaluation interval each
(:class:`TakeTurns`), so that the load of a shared machine falls alike on all of them.

Outputs (``paper_figures/out/``): ``fig09_nwsketch_fmnist.png`` (top row: accuracy
vs time; bottom row: vs examples trained; mean over seeds), ``.json`` (every
curve), ``.md`` and ``.csv`` (final accuracy, times, time to reach uniform's
final accuracy), rewritten after every seed.  ``--smoke`` trains on a small
synthetic image set.

    python -m paper_figures.fig09_nwsketch_fmnist            # ~15 min on 2 cores
    python -m paper_figures.fig09_nwsketch_fmnist --smoke    # seconds
"""
import os
import threading

import numpy as np

import slide_fast as slide
from paper_figures._common import parser, save_json
from paper_figures.fig02_nwsketch_accuracy import (METHODS, _standardize, make_sampler,
                                                   markdown, plot, summarize, write_tables)

NAME = "fig09_nwsketch_fmnist"
HIDDEN = (256,)
BATCH = 128
EVALS_PER_EPOCH = 2


# ----------------------------------------------------------------------------- data
def synthetic_images(n, n_test, random_state=0):
    """A small stand-in for Fashion-MNIST (``--smoke``): 784 pixels in [0, 1], 10
    classes, each image a class prototype scaled by a random brightness plus noise."""
    rng = np.random.default_rng(random_state)
    prototypes = rng.random((10, 784))
    y = rng.integers(0, 10, n + n_test)
    brightness = rng.uniform(0.5, 1.0, (n + n_test, 1))
    X = np.clip(prototypes[y] * brightness + rng.normal(0, 0.5, (n + n_test, 784)), 0, 1)
    X = X.astype(np.float32)
    return X[:n], y[:n], X[n:], y[n:]


def datasets(smoke, label_noise):
    """``{name: (Xtr, ytr, Xte, yte)}``: the clean set and, when ``label_noise`` > 0,
    the same with that fraction of the training labels flipped."""
    if smoke:
        X, y, Xt, yt = synthetic_images(1500, 500)
    else:
        X, y, Xt, yt = slide.datasets.load_fashion_mnist()
    Xtr, Xte = _standardize(X, Xt)
    name = "synthetic-images" if smoke else "fashion-mnist"
    out = {name: (Xtr, np.asarray(y), Xte, np.asarray(yt))}
    if label_noise > 0:
        noisy, _ = slide.datasets.flip_labels(y, label_noise, 10, random_state=1)
        out[f"{name}-noisy"] = (Xtr, noisy, Xte, np.asarray(yt))
    return out


# ----------------------------------------------------------------------------- turns
class TakeTurns:
    """Runs that train one evaluation interval each in turn (a baton passed around).

    Each run trains in its own thread but only while it holds the turn; it passes
    the turn on from inside its evaluation callback, whose time the training loop
    does not count, so waiting for the turn is not training time.
    """

    def __init__(self, n_runs):
        self._turn, self._finished = 0, [False] * n_runs
        self._cond = threading.Condition()

    def wait(self, run):
        """Block until ``run`` holds the turn."""
        with self._cond:
            self._cond.wait_for(lambda: self._turn == run)

    def pass_on(self, run, finished=False):
        """Hand the turn to the next unfinished run (``run`` keeps it if it is the last)."""
        with self._cond:
            self._finished[run] = self._finished[run] or finished
            n = len(self._finished)
            for k in range(1, n + 1):
                nxt = (run + k) % n
                if not self._finished[nxt]:
                    self._turn = nxt
                    break
            self._cond.notify_all()


def train_in_turns(jobs):
    """Run the callables ``jobs[i](hand_over)`` in turns; returns their results in order.

    A job calls ``hand_over()`` at every evaluation: it passes the turn on and
    returns once the turn comes back.  The first exception of a job is re-raised.
    """
    turns = TakeTurns(len(jobs))
    results, errors = [None] * len(jobs), []

    def work(i):
        def hand_over():
            turns.pass_on(i)
            turns.wait(i)
        try:
            turns.wait(i)
            results[i] = jobs[i](hand_over)
        except BaseException as exc:          # surfaced in the main thread below
            errors.append(exc)
        finally:
            turns.pass_on(i, finished=True)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# ----------------------------------------------------------------------------- training
def training_job(data, method, seed, epochs, n_threads):
    """A job for :func:`train_in_turns`: one MLP trained with one sampler; it returns the
    curve ``[(train time, examples, test acc., sampler time, extra forwards), ...]``."""
    Xtr, ytr, Xte, yte = data

    def job(hand_over):
        net = slide.SlideNetwork(Xtr.shape[1], 10, hidden=HIDDEN,
                                 sampled=(False,) * (len(HIDDEN) + 1), lr=1e-3,
                                 random_state=seed, n_threads=n_threads)

        def evaluate(network):
            acc = float((network.predict_topk(Xte, 1)[0][:, 0] == yte).mean())
            hand_over()
            return {"acc": acc}

        steps = -(-Xtr.shape[0] // BATCH)
        hist = slide.nwsketch.train_with_sampler(
            net, Xtr, ytr, make_sampler(method, seed, n_threads), epochs=epochs,
            batch_size=BATCH, eval_fn=evaluate, eval_every=max(1, steps // EVALS_PER_EPOCH))
        return [(h["train_time"], h["examples"], h["acc"], h["sampler_time"],
                 h["forward_examples"]) for h in hist]

    return job


def train_seed(data, seed, epochs, n_threads):
    """The curves of every sampler (in :data:`METHODS` order) for one seed, the models
    trained in turns."""
    return train_in_turns([training_job(data, m, seed, epochs, n_threads) for m in METHODS])


# ----------------------------------------------------------------------------- outputs
def summary(data):
    """The README's result cell (``make_docs``): NW sketch against uniform per variant."""
    parts = []
    for ds in dict.fromkeys(r["dataset"] for r in data["summary"]):
        by = {r["method"]: r for r in data["summary"] if r["dataset"] == ds}
        nw, uni = by["nw"], by["uniform"]
        parts.append(f"{ds}: NW sketch {nw['final_acc_mean']:.3f} against uniform "
                     f"{uni['final_acc_mean']:.3f} in {nw['train_time_s'] / uni['train_time_s']:.2f}x "
                     "its training time")
    return {"fig09": "; ".join(parts)}


def doc_tables(data):
    """The docs table of a saved run (its JSON)."""
    return {"fig09": markdown(data["summary"])}


def write_outputs(curves, args, epochs, argv):
    """JSON, tables and plot of the curves so far (rewritten after every seed, so that an
    interrupted run keeps what it measured)."""
    rows = summarize(curves)
    save_json({"curves": curves, "summary": rows, "hidden": list(HIDDEN), "epochs": epochs,
               "label_noise": args.label_noise,
               "fields": ["train_time_s", "examples", "test_acc", "sampler_time_s",
                          "extra_forward_examples"]}, args.out, f"{NAME}.json",
              n_threads=args.n_threads, argv=argv)
    write_tables(rows, args.out, name=NAME)
    return plot(curves, os.path.join(args.out, f"{NAME}.png"))


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--label-noise", type=float, default=0.2,
                   help="fraction of flipped training labels of the noisy variant (0: none)")
    args = p.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1:
        p.error("--seeds and --epochs must be at least 1")
    if not 0.0 <= args.label_noise < 1.0:
        p.error("--label-noise must lie in [0, 1)")
    seeds, epochs = (2, 2) if args.smoke else (args.seeds, args.epochs)
    os.makedirs(args.out, exist_ok=True)
    curves = {}
    for name, data in datasets(args.smoke, args.label_noise).items():
        curves[name] = {m: [] for m in METHODS}
        for seed in range(seeds):
            for method, curve in zip(METHODS, train_seed(data, seed, epochs, args.n_threads)):
                curves[name][method].append(curve)
                print(f"{name:20s} seed {seed} {method:8s} acc {curve[-1][2]:.3f} "
                      f"time {curve[-1][0]:.1f}s", flush=True)
            path = write_outputs(curves, args, epochs, argv)
    print(path)


if __name__ == "__main__":
    main()
