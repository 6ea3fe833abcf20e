"""Optimized SLIDE's configurations and the named models trained on them.

Configurations (:data:`CONFIGS`), synthetic power-law XC sets of
``slide.datasets.make_xc``; network sparse input -> 128 ReLU -> softmax, batch
128, Adam lr 1e-3; SLIDE's output tables DWTA K=6, L=50:

* ``A``: 10k features, 10k labels, one label per point, 2^14 buckets per table;
* ``B``: 100k features, 100k labels, 1 + Poisson(1) labels per point (mean 2;
  ~96% of points have at most 3), 2^18 buckets per table;
* ``670k``: Amazon-670K's shape, 135,909 features, 670,091 labels,
  1 + Poisson(4) labels per point, 2^18 buckets;
* ``3M``: Amazon-3M's shape, 337,067 features, 2,812,281 labels,
  1 + Poisson(4) labels per point, 2^18 buckets.

Models (:func:`make_model`):

* ``slide``: ``slide_fast`` SLIDE as in the papers: LSH-sampled softmax (labels,
  table hits, random padding to 1000 per point), dense Adam over every weight;
* ``slide-lazy``: the same with ``optimizer="lazy_adam"`` (only the rows the
  batch touched are updated);
* ``uniform-lazy``: ``negative.UniformSampler(1000, shared=True)`` (the labels of
  each point plus 1000 uniform negatives shared by the batch) and lazy Adam;
* ``batch``: ``UniformSampler(1000, shared=True, batch_labels=True)``: every point
  scored against all labels of the batch plus 1000 shared uniform negatives (the
  PyTorch sampled peer's loss), computed as dense products over those rows of the
  output weights, dense Adam (the peer's optimizer);
* ``batch-lazy-input``: the same with ``optimizer="lazy_input_adam"`` (lazy Adam on
  the input layer's rows, dense on the output layer);
* ``batch-catchup``: the same with ``optimizer="catchup_adam"`` (lazy Adam that
  applies the zero-gradient steps of dense Adam when a row is next read);
* ``batch-hard``: ``batch-catchup`` with ``hard_negatives=4``: each label of a batch
  remembers the 4 candidates that outscored it most, and they join the candidate
  set of the next batch holding the label;
* ``full``: ``slide_fast`` full softmax, dense Adam;
* ``torch-full``, ``torch-uniform``, ``torch-loguniform``, ``torch-uniform-fused``,
  ``torch-uniform-sparse``: the PyTorch peers of :mod:`slide_bench.peers` (full
  softmax; 1000 shared uniform negatives; 1000 log-uniform negatives with logQ
  correction; uniform with ``Adam(fused=True)``; uniform with sparse embeddings
  and ``SparseAdam``).

A sampled model's name may end in ``:M`` (M uniform negatives instead of 1000)
and ``batch-hard`` in ``:M:T`` (T remembered negatives per label instead of 4),
e.g. ``batch-hard:800:4``.
"""
import numpy as np

from . import peers

BATCH = 128
CONFIGS = {
    "A": dict(n_features=10_000, n_labels=10_000, labels_per_sample=1, range_pow=14),
    "B": dict(n_features=100_000, n_labels=100_000, labels_per_sample=2, range_pow=18),
    "670k": dict(n_features=135_909, n_labels=670_091, labels_per_sample=5, range_pow=18),
    "3M": dict(n_features=337_067, n_labels=2_812_281, labels_per_sample=5, range_pow=18),
}
SLIDE_MODELS = ["slide", "slide-lazy", "uniform-lazy", "batch", "batch-lazy-input",
                "batch-catchup", "batch-hard", "full"]
TORCH_MODELS = ["torch-full", "torch-uniform", "torch-loguniform", "torch-uniform-fused",
                "torch-uniform-sparse"]
_TORCH_LOSS = {"torch-full": "full", "torch-uniform": "uniform",
               "torch-loguniform": "log-uniform", "torch-uniform-fused": "uniform",
               "torch-uniform-sparse": "uniform"}
_BATCH_OPTIMIZER = {"batch": "adam", "batch-lazy-input": "lazy_input_adam",
                    "batch-catchup": "catchup_adam", "batch-hard": "catchup_adam"}


def _config(config):
    """A configuration given by name (a key of :data:`CONFIGS`) or as its dict."""
    return CONFIGS[config] if isinstance(config, str) else config


def make_data(config, n_train, n_test, seed=0):
    """``(X, Y, X_test, Y_test)`` of a configuration (``slide_fast.datasets.make_xc``)."""
    import slide_fast
    c = _config(config)
    return slide_fast.datasets.make_xc(n_train, c["n_features"], c["n_labels"], n_test=n_test,
                                       labels_per_sample=c["labels_per_sample"],
                                       random_state=seed)


def parse_model_name(name, n_labels):
    """``(model, n_negatives, n_hard)`` from ``model[:M[:T]]``; M is capped at half the
    labels so that small (smoke) configurations still have negatives to draw."""
    model, _, n_neg = name.partition(":")
    n_neg, _, n_hard = n_neg.partition(":")
    n_neg = min(int(n_neg) if n_neg else 1000, n_labels // 2)
    return model, n_neg, int(n_hard) if n_hard else 4


def make_model(config, model, Y=None, n_threads=2, seed=0):
    """A fresh model of the given name for ``config`` (a name or a dict like those of
    :data:`CONFIGS`). ``Y``: training labels, whose counts order the labels of the
    log-uniform peer."""
    c = _config(config)
    d, n = c["n_features"], c["n_labels"]
    model, n_neg, n_hard = parse_model_name(model, n)
    if model.startswith("torch"):
        return _torch_model(model, d, n, Y, n_neg, n_threads, seed)
    import slide_fast as slide
    kw = dict(hidden=(128,), lsh=slide.lsh.LSHParams(K=6, L=50, range_pow=c["range_pow"]),
              lr=1e-3, batch_size=BATCH, n_threads=n_threads, random_state=seed)
    if model == "slide":
        pass
    elif model == "slide-lazy":
        kw["optimizer"] = "lazy_adam"
    elif model == "uniform-lazy":
        kw.update(optimizer="lazy_adam",
                  output_sampler=slide.negative.UniformSampler(n_neg, shared=True))
    elif model in _BATCH_OPTIMIZER:
        kw.update(optimizer=_BATCH_OPTIMIZER[model],
                  output_sampler=slide.negative.UniformSampler(
                      n_neg, shared=True, batch_labels=True,
                      hard_negatives=n_hard if model == "batch-hard" else 0))
    elif model == "full":
        kw["sampled"] = (False, False)
    else:
        raise ValueError(f"unknown model {model!r}")
    return slide.network.SlideNetwork(d, n, **kw)


def _torch_model(model, n_features, n_labels, Y, n_neg, n_threads, seed):
    if model not in _TORCH_LOSS:
        raise ValueError(f"unknown model {model!r}")
    if not peers.available():
        raise NotImplementedError("PyTorch is not installed")
    counts = None if Y is None else np.asarray(Y.sum(axis=0)).ravel()
    return peers.TorchXC(n_features, n_labels, loss=_TORCH_LOSS[model],
                         fused=model.endswith("fused"), counts=counts, n_negatives=n_neg,
                         optimizer="sparse" if model.endswith("sparse") else "adam",
                         n_threads=n_threads, seed=seed)


def train(model, X, Y, n_batches, start=0):
    """``n_batches`` consecutive batches of 128, wrapping around the data."""
    n_blocks = X.shape[0] // BATCH
    for b in range(start, start + n_batches):
        lo = (b % n_blocks) * BATCH
        model.train_batch(X[lo:lo + BATCH], Y[lo:lo + BATCH])


def top1(model, X):
    """Each row's top label under the full softmax (either kind of model)."""
    if peers.available() and isinstance(model, peers.TorchXC):
        return model.predict_top1(X)
    return model.predict_topk(X, k=1)[0][:, 0]


def p_at_1(model, X, Y):
    """Precision at 1 of ``model`` on ``(X, Y)``."""
    pred = top1(model, X)
    return float(np.asarray(Y[np.arange(Y.shape[0]), pred]).mean())
