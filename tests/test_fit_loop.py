"""The shared fit loop: input checked once per fit, the same training as train_batch,
evaluation schedules, timing without evaluation, callbacks, time budget; both backends."""
import importlib.util
import os
import sys
import time

import numpy as np
import pytest
import scipy.sparse as sp

import slide_ref
from slide_ref import _validation, training
from slide_ref.training import (EvalSchedule, FitLoop, ModelTrainer, NetworkTrainer,
                                SequentialBatches, ShuffledBatches, prepare_training_data)



def _load_common():
    """The figure scripts' helper module, loaded from its file (paper_figures is no package)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "paper_figures", "_common.py")
    spec = importlib.util.spec_from_file_location("paper_figures_common", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_common = _load_common()


@pytest.fixture(scope="module")
def data():
    X, Y, Xt, Yt = slide_ref.datasets.make_xc(1500, 120, 60, n_test=200, labels_per_sample=2,
                                              random_state=0)
    return X, Y, Xt, Yt


def network(backend, **kw):
    base = dict(hidden=(16,), lsh=dict(K=3, L=6, min_active=20, fill_below=30), random_state=0,
                n_threads=1)
    base.update(kw)
    return backend.SlideNetwork(120, 60, **base)


def classifier(backend, **kw):
    base = dict(hidden=16, lsh=dict(K=3, L=6, min_active=20, fill_below=30), batch_size=100,
                random_state=0, show_progress=False, eval_every=5, n_threads=1)
    base.update(kw)
    return backend.SlideClassifier(**base)


@pytest.fixture
def check_counts(monkeypatch):
    """Count every call of the input checks, wherever a module imported them from."""
    counts = {}
    for name in ("check_matrix", "check_labels"):
        original = getattr(_validation, name)
        counts[name] = 0

        def counting(*args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)

        for modname, module in list(sys.modules.items()):
            if modname.split(".")[0] in ("slide_ref", "slide_fast", "paper_figures") \
                    and getattr(module, name, None) is original:
                monkeypatch.setattr(module, name, counting)
    return counts


# ----------------------------------------------------------------------------- checked once
def test_fit_checks_input_once(backend, data, check_counts):
    X, Y, _, _ = data
    clf = classifier(backend).fit(X, Y, epochs=2)
    assert clf.network_.step_ == 2 * 15                  # 30 batches trained ...
    assert check_counts == {"check_matrix": 1, "check_labels": 1}   # ... one check each


def test_partial_fit_checks_input_once(backend, data, check_counts, monkeypatch):
    X, Y, _, _ = data
    calls = []
    original = training.check_sample_weight
    monkeypatch.setattr(slide_ref.classifier, "check_sample_weight",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    clf = classifier(backend).partial_fit(X, Y, sample_weight=np.linspace(0.5, 2.0, 1500))
    assert clf.network_.step_ == 15
    assert check_counts == {"check_matrix": 1, "check_labels": 1} and len(calls) == 1


def test_train_with_sampler_checks_input_once(backend, data, check_counts):
    X, Y, _, _ = data
    net = network(backend)
    sampler = backend.nwsketch.UniformExamples(random_state=0)
    hist = backend.nwsketch.train_with_sampler(net, X, Y, sampler, epochs=2, batch_size=100)
    assert net.step_ == 30 and [h["step"] for h in hist] == [15, 30]
    # one check of X and Y by the loop, one of X by the sampler's start
    assert check_counts == {"check_matrix": 2, "check_labels": 1}


def test_train_curve_checks_input_once(backend, data, check_counts):
    X, Y, Xt, Yt = data
    net = network(backend)
    curve = _common.train_curve(net, X, Y, Xt, Yt, 100, np.inf, eval_every=4, max_epochs=2,
                                predict_top1=lambda m, Xe: np.zeros(Xe.shape[0], int))
    assert net.step_ == 30
    assert check_counts["check_labels"] == 1
    # batches 4, 8, 12 and 15 (the epoch's end) of each epoch
    assert [c[1] for c in curve] == [400, 800, 1200, 1500, 1900, 2300, 2700, 3000]


# ----------------------------------------------------------------------------- same training
def test_loop_trains_exactly_like_train_batch(backend, data):
    """Pre-validated steps on slices of the checked data equal train_batch on raw batches."""
    X, Y, _, _ = data
    a, b = network(backend), network(backend)
    w = np.random.default_rng(3).uniform(0.5, 2.0, X.shape[0])
    losses = []
    for start in range(0, X.shape[0], 100):
        rows = slice(start, start + 100)
        losses.append(a.train_batch(X[rows], Y[rows], w[rows]))
    trainer = NetworkTrainer(b, prepare_training_data(X, Y, 60, n_features=120,
                                                      sample_weight=w))
    loop = FitLoop(trainer, SequentialBatches(X.shape[0], 100)).run()
    assert loop.steps == len(losses) == 15 and loop.samples == 1500
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.W, lb.W)
    np.testing.assert_array_equal(a.last_losses_, b.last_losses_)


def test_fit_equals_shuffled_train_batch_loop(backend, data):
    """fit = a permutation per epoch from the estimator's generator, batches in that order."""
    X, Y, _, _ = data
    clf = classifier(backend, eval_every=0).fit(X, Y, epochs=2)
    # the estimator's generator draws the network's parameters, then the permutations
    rng = np.random.default_rng(0)
    net = classifier(backend)._make_network(120, 60, rng)
    net.sampler_.prepare(_validation.check_labels(Y, 1500, 60))
    for epoch in range(2):
        order = rng.permutation(1500)
        for start in range(0, 1500, 100):
            idx = order[start:start + 100]
            net.train_batch(X[idx], Y[idx])
    for la, lb in zip(net.layers, clf.network_.layers):
        np.testing.assert_array_equal(la.W, lb.W)


# ----------------------------------------------------------------------------- schedules
def test_classifier_history_schedule(backend, data):
    X, Y, Xt, Yt = data
    clf = classifier(backend).fit(X, Y, epochs=2, validation_data=(Xt, Yt))
    # every 5 batches counted within the epoch, and at each epoch's end (15 batches)
    assert [h["step"] for h in clf.history_] == [5, 10, 15, 20, 25, 30]
    assert [h["epoch"] for h in clf.history_] == [0, 0, 0, 1, 1, 1]
    assert [h["samples"] for h in clf.history_] == [500, 1000, 1500, 2000, 2500, 3000]
    times = [h["train_time"] for h in clf.history_]
    assert all(t1 > t0 for t0, t1 in zip(times, times[1:]))
    assert all(np.isfinite(h["loss"]) and 0 <= h["val_p@1"] <= 1 for h in clf.history_)
    assert set(clf.history_[0]) == {"step", "epoch", "samples", "train_time", "loss",
                                    "val_p@1", "val_p@5"}
    assert clf.samples_per_second == pytest.approx(3000 / times[-1])


def test_epoch_end_counts_restart(backend, data):
    X, Y, _, _ = data
    clf = classifier(backend, eval_every=4).fit(X, Y, epochs=2)
    assert [h["step"] for h in clf.history_] == [4, 8, 12, 15, 19, 23, 27, 30]


def test_train_with_sampler_schedule_counts_over_the_run(backend, data):
    X, Y, _, _ = data
    seen = []
    hist = backend.nwsketch.train_with_sampler(
        network(backend), X, Y, backend.nwsketch.UniformExamples(random_state=0), epochs=2,
        batch_size=100, eval_every=4, eval_fn=lambda net: seen.append(net.step_) or {"m": 1.0})
    assert [h["step"] for h in hist] == [4, 8, 12, 16, 20, 24, 28, 30] == seen
    assert [h["examples"] for h in hist] == [400, 800, 1200, 1600, 2000, 2400, 2800, 3000]
    assert set(hist[0]) == {"step", "examples", "forward_examples", "train_time",
                            "sampler_time", "loss", "m"}


def test_schedule_rules():
    per_epoch = EvalSchedule(5, per_epoch=True, at_epoch_end=True)
    assert per_epoch.due(4, 19, False, False) and not per_epoch.due(5, 5, False, False)
    assert per_epoch.due(2, 17, True, False)
    overall = EvalSchedule(5)
    assert overall.due(0, 19, False, False) and not overall.due(4, 18, True, False)
    assert EvalSchedule(None).due(3, 3, True, True) and not EvalSchedule(0).due(4, 4, True,
                                                                                False)


# ----------------------------------------------------------------------------- loop mechanics
class _Recorder:
    """A model with train_batch only, as the figures' comparison models."""

    def __init__(self):
        self.batches = []

    def train_batch(self, X, Y):
        self.batches.append(X.shape[0])
        time.sleep(0.001)
        return 1.0


def test_evaluation_time_is_not_training_time(data):
    X, Y, _, _ = data
    model = _Recorder()
    loop = FitLoop(ModelTrainer(model, X, Y), ShuffledBatches(1500, 100, np.random.default_rng(0)),
                   epochs=1, evaluate=lambda lp: time.sleep(0.05) or {}, schedule=EvalSchedule(1))
    t0 = time.perf_counter()
    loop.run()
    wall = time.perf_counter() - t0
    assert model.batches == [100] * 15 and loop.samples == 1500
    assert loop.train_time < wall - 15 * 0.05 * 0.9
    assert loop.train_time >= 15 * 0.001


def test_callbacks_stop_at_the_first_true(data):
    X, Y, _, _ = data
    calls = []
    loop = FitLoop(ModelTrainer(_Recorder(), X, Y), SequentialBatches(1500, 100), epochs=3,
                   evaluate=lambda lp: {"step": lp.steps}, schedule=EvalSchedule(2),
                   callbacks=[lambda e: calls.append(("a", e["step"])) or e["step"] == 4,
                              lambda e: calls.append(("b", e["step"]))]).run()
    assert loop.stopped and loop.steps == 4
    assert calls == [("a", 2), ("b", 2), ("a", 4)]


def test_time_budget_stops_after_an_evaluation(data):
    X, Y, _, _ = data
    entries = []
    loop = FitLoop(ModelTrainer(_Recorder(), X, Y), SequentialBatches(1500, 100), epochs=5,
                   evaluate=lambda lp: entries.append(lp.steps) or {}, schedule=EvalSchedule(4),
                   max_time=0.0).run()
    assert loop.stopped and loop.steps == 1 and entries == [1]


def test_losses_averaged_between_evaluations(data):
    X, Y, _, _ = data
    losses = iter(range(100))

    class Trainer:
        def step(self, rows, weights=None):
            return float(next(losses))

    means = []
    FitLoop(Trainer(), SequentialBatches(1500, 100), evaluate=lambda lp: means.append(
        lp.mean_loss()) or {}, schedule=EvalSchedule(5)).run()
    assert means == [2.0, 7.0, 12.0]


def test_example_sampler_weights_are_checked(backend, data):
    X, Y, _, _ = data

    class BadWeights(backend.nwsketch.UniformExamples):
        def _next(self, loss_fn):
            idx = self._next_uniform_chunk(self.batch_size_)
            return idx, np.full(len(idx), -1.0)

    net = network(backend)
    with pytest.raises(ValueError, match="example sampler weights"):
        backend.nwsketch.train_with_sampler(net, X, Y, BadWeights(random_state=0),
                                            batch_size=100)
    assert net.step_ == 0


def test_bad_sample_weight_refused_before_training(backend, data):
    X, Y, _, _ = data
    clf = classifier(backend)
    w = np.ones(1500)
    w[700] = np.nan
    with pytest.raises(ValueError, match="sample_weight"):
        clf.partial_fit(X, Y, sample_weight=w)
    with pytest.raises(ValueError, match="sample_weight"):
        clf.partial_fit(X, Y, sample_weight=np.ones(10))
    with pytest.raises(TypeError, match="sample_weight"):
        clf.partial_fit(X, Y, sample_weight=np.array(["a"] * 1500))
    assert not hasattr(clf, "network_") or clf.network_.step_ == 0


def test_max_time_checked(backend, data):
    X, Y, _, _ = data
    for bad, exc in (("1", TypeError), (-1.0, ValueError), (float("nan"), ValueError)):
        with pytest.raises(exc, match="max_time"):
            backend.nwsketch.train_with_sampler(
                network(backend), X, Y, backend.nwsketch.UniformExamples(), max_time=bad)


def test_progress_bar_runs(backend, data, capsys):
    X, Y, _, _ = data
    clf = classifier(backend, show_progress=True).fit(X[:300], Y[:300])
    assert clf.network_.step_ == 3


def test_batches_keep_int32_indices(data):
    X, Y, _, _ = data
    X64 = sp.csr_matrix((X.data.astype(np.float64), X.indices.astype(np.int64),
                         X.indptr.astype(np.int64)), shape=X.shape)
    prepared = prepare_training_data(X64, Y, 60)
    Xb, Yb, wb = prepared.batch(np.arange(10, 40))
    assert Xb.dtype == np.float32 and Xb.indices.dtype == np.int32
    assert wb.dtype == np.float64 and (wb == 1).all() and Yb.shape == (30, 60)


def test_schedule_settings_checked(backend, data):
    X, Y, Xt, Yt = data
    with pytest.raises(TypeError, match="eval_every"):
        classifier(backend, eval_every="5").fit(X[:300], Y[:300])
    with pytest.raises(ValueError, match="eval_every"):
        classifier(backend, eval_every=-1).fit(X[:300], Y[:300])
    with pytest.raises(TypeError, match="eval_size"):
        classifier(backend, eval_size=2.5).fit(X[:300], Y[:300], validation_data=(Xt, Yt))
