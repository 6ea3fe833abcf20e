"""SlideClassifier and the command line: learning, persistence across backends, bad input."""
import json
import os

import numpy as np
import pytest

import slide_fast
import slide_ref
from slide_fast import cli


@pytest.fixture(scope="module")
def xc():
    return slide_ref.datasets.make_xc(6000, 500, 300, n_test=1000, random_state=0)


def small(backend, **kw):
    base = dict(hidden=32, preset="slide_paper",
                lsh=slide_ref.lsh.LSHParams(K=4, L=10, min_active=60, fill_below=90),
                lr=3e-3, batch_size=64, random_state=0, show_progress=False, eval_every=40)
    base.update(kw)
    return backend.SlideClassifier(**base)


def most_frequent_p1(Y_train, Y_test):
    top = int(np.argmax(np.asarray(Y_train.sum(axis=0)).ravel()))
    return float(np.asarray(Y_test[:, top].todense()).mean())


def test_fit_predict_score_beats_baseline(backend, xc):
    X, Y, Xt, Yt = xc
    clf = small(backend).fit(X, Y, epochs=3, validation_data=(Xt, Yt))
    p1 = clf.score(Xt, Yt)
    assert p1 > 3 * most_frequent_p1(Y, Yt) and p1 > 0.4
    idx, scores = clf.predict(Xt[:10], k=3)
    assert idx.shape == scores.shape == (10, 3)
    assert np.all(scores[:, :-1] >= scores[:, 1:])
    assert clf.history_ and "val_p@1" in clf.history_[-1]
    assert clf.samples_per_second > 0


def test_callbacks_stop_training(xc):
    X, Y, _, _ = xc
    seen = []
    clf = small(slide_fast, eval_every=5).fit(X, Y, epochs=2,
                                              callbacks=[lambda c, e: seen.append(e) or True])
    assert len(seen) == 1 and clf.network_.step_ == 5


def test_partial_fit_and_params(xc):
    X, Y, Xt, Yt = xc
    clf = small(slide_fast)
    assert clf.get_params()["lsh__K"] == 4
    clf.set_params(lsh__L=12)
    assert clf.lsh.L == 12
    clf.set_params(lr=1e-2)
    clf.partial_fit(X[:3000], Y[:3000]).partial_fit(X[3000:], Y[3000:])
    assert clf.network_.step_ == 2 * -(-3000 // 64)
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:5, :400], Y[:5])


@pytest.mark.parametrize("src,dst", [(slide_ref, slide_fast), (slide_fast, slide_ref)])
def test_save_load_across_backends_keeps_training(tmp_path, xc, src, dst):
    X, Y, Xt, Yt = xc
    a = small(src).fit(X[:1000], Y[:1000])
    path = a.save(tmp_path / "m.npz")
    b = dst.SlideClassifier.load(path)
    np.testing.assert_array_equal(b.predict(Xt[:50], k=3)[0], a.predict(Xt[:50], k=3)[0])
    a.partial_fit(X[1000:1256], Y[1000:1256])
    b.partial_fit(X[1000:1256], Y[1000:1256])
    np.testing.assert_allclose(b.network_.layers[-1].W, a.network_.layers[-1].W, rtol=1e-4,
                               atol=1e-6)
    with pytest.raises(FileExistsError):
        a.save(path)
    a.save(path, overwrite=True)


def test_load_rejects_bad_files(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a slide model"):
        slide_fast.SlideClassifier.load(junk)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.arange(3))
    with pytest.raises(ValueError, match="not a slide model"):
        slide_fast.SlideClassifier.load(foreign)
    with pytest.raises(FileNotFoundError):
        slide_fast.SlideClassifier.load(tmp_path / "missing.npz")


def test_unfitted_and_bad_input(backend, xc):
    X, Y, _, _ = xc
    clf = small(backend)
    with pytest.raises(RuntimeError, match="not fitted"):
        clf.predict(X[:2])
    with pytest.raises(ValueError, match="epochs"):
        clf.fit(X, Y, epochs=0)
    with pytest.raises(ValueError, match="shape"):
        clf.fit(X[:10], Y[:9])
    with pytest.raises(ValueError, match="label lists"):
        clf.fit(X[:2], [[0], [1]])


def test_labels_permuted_control_drops_to_chance(xc):
    """With labels shuffled across samples there is no signal: P@1 falls to the baseline."""
    X, Y, Xt, Yt = xc
    perm = np.random.default_rng(1).permutation(X.shape[0])
    clf = small(slide_fast).fit(X, Y[perm], epochs=3)
    assert clf.score(Xt, Yt) < 2 * most_frequent_p1(Y, Yt) + 0.02


def test_cli_generate_train_evaluate_predict(tmp_path, capsys):
    d = tmp_path / "data"
    assert cli.main(["generate", "--out", str(d), "--n-samples", "3000", "--n-test", "500",
                     "--n-features", "300", "--n-labels", "100"]) == 0
    model, metrics = tmp_path / "m.npz", tmp_path / "metrics.json"
    args = ["train", "--train", str(d / "train.txt"), "--test", str(d / "test.txt"),
            "--model", str(model), "--metrics", str(metrics), "--hidden", "32", "--K", "4",
            "--L", "8", "--epochs", "2", "--no-progress", "--eval-every", "20"]
    assert cli.main(args) == 0
    result = json.loads(metrics.read_text())
    assert result["test"]["P"][0] > 0.2 and result["samples_per_second"] > 0
    assert cli.main(args) == 2                    # refuses to overwrite
    assert "exists" in capsys.readouterr().err
    assert cli.main(["evaluate", "--model", str(model), "--data", str(d / "test.txt"),
                     "--train", str(d / "train.txt")]) == 0
    assert "PSP" in capsys.readouterr().out
    out = tmp_path / "pred.txt"
    assert cli.main(["predict", "--model", str(model), "--data", str(d / "test.txt"),
                     "--out", str(out), "--k", "3"]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 500 and len(lines[0].split()) == 3
    assert cli.main(["train", "--train", str(tmp_path / "nope.txt")]) == 2


def test_cli_info(capsys):
    assert cli.main(["info"]) == 0
    assert "simd_level" in capsys.readouterr().out


def test_retrieval_demo_lsh_beats_random():
    from slide_ref.cli import run_retrieval_demo
    rows = run_retrieval_demo({"fast": slide_fast}, n_items=4000, out=open(os.devnull, "w"))
    for row in rows:
        assert row["lsh_recall"] > 3 * row["random_recall"]


@pytest.mark.slow
def test_slide_within_a_few_points_of_full_softmax():
    """A few thousand labels: SLIDE's P@1 is far above the most frequent label and within a
    few points of the full softmax trained the same way."""
    X, Y, Xt, Yt = slide_ref.datasets.make_xc(40000, 5000, 3000, n_test=3000, random_state=2)
    scores = {}
    for sampled in (True, False):
        clf = slide_fast.SlideClassifier(preset="slide_paper", sampled_output=sampled,
                                         random_state=0, show_progress=False, eval_every=0,
                                         lsh=dict(min_active=300, fill_below=450))
        scores[sampled] = clf.fit(X, Y, epochs=2).score(Xt, Yt)
    baseline = most_frequent_p1(Y, Yt)
    assert scores[True] > 5 * baseline
    assert scores[True] > scores[False] - 0.05, scores


@pytest.mark.parametrize("selection", ["threshold", "topk"])
def test_every_selection_usable_from_the_estimator(backend, xc, selection):
    """threshold and topk selections train through the estimator (max_active defaults to no
    cap for them) and give the same losses in both backends."""
    X, Y, Xt, _ = xc
    lsh = slide_ref.lsh.LSHParams(K=4, L=10, min_active=60, fill_below=90,
                                  selection=selection, selection_param=2 if selection ==
                                  "threshold" else 100)
    clf = small(backend, lsh=lsh).partial_fit(X[:256], Y[:256])
    assert clf.network_.step_ == 4 and clf.network_.sampler_.index_.method == selection
    twin = small(slide_ref if backend is slide_fast else slide_fast, lsh=lsh)
    twin.partial_fit(X[:256], Y[:256])
    np.testing.assert_allclose(clf.network_.layers[-1].W, twin.network_.layers[-1].W,
                               rtol=1e-4, atol=1e-6)
    assert clf.predict(Xt[:5], k=3, sampled=True)[0].shape == (5, 3)


def test_lsh_params_saved_and_restored(tmp_path, xc):
    X, Y, _, _ = xc
    clf = small(slide_fast, lsh=slide_ref.lsh.LSHParams(K=3, L=7, selection="topk",
                                                         selection_param=50)).fit(X[:500], Y[:500])
    back = slide_ref.SlideClassifier.load(clf.save(tmp_path / "m.npz"))
    assert slide_ref.lsh.LSHParams.coerce(back.lsh).get_params() == clf.lsh.get_params()
    assert back.network_.sampler_.index_.family.L == 7
    np.testing.assert_array_equal(back.predict(X[:20], sampled=True)[0],
                                  clf.predict(X[:20], sampled=True)[0])


# ----------------------------------------------------------------------------- presets
@pytest.fixture
def tiny(tiny_xc):
    return tiny_xc


def fit_tiny(backend, tiny, **kw):
    X, Y, _, _ = tiny
    return backend.SlideClassifier(hidden=16, random_state=0, show_progress=False,
                                   n_threads=1, **kw).fit(X, Y)


def test_default_is_the_batch_shared_uniform_preset_resolved_at_fit(backend, tiny):
    clf = fit_tiny(backend, tiny)
    # stored as given (scikit-learn style), resolved when the network is built
    assert clf.get_params()["preset"] is None and clf.get_params()["optimizer"] is None
    assert clf.resolved_preset() == backend.classifier.DEFAULT_PRESET == "shared_uniform_hard"
    sampler = clf.network_.sampler_
    assert type(sampler).__name__ == "UniformSampler"
    assert sampler.shared and sampler.batch_labels and sampler.hard_negatives == 4
    assert sampler.n_negatives == 30                   # capped at half of the 60 classes
    assert clf.network_.optimizer == "catchup_adam"


@pytest.mark.parametrize("preset,sampler,optimizer,family", [
    ("slide_paper", "LSHSampler", "adam", "dwta"),
    ("lns_embedding", "LSHSampler", "adam", "simhash"),
    ("shared_uniform", "UniformSampler", "catchup_adam", None),
    ("full_softmax", "FullSoftmax", "adam", None)])
def test_presets_build_their_output_layer(backend, tiny, preset, sampler, optimizer, family):
    clf = fit_tiny(backend, tiny, preset=preset)
    net = clf.network_
    assert type(net.sampler_).__name__ == sampler
    assert net.optimizer == optimizer
    assert net.sampled[-1] == (preset != "full_softmax")
    if family is not None:
        assert net.sampler_.lsh.hash_family == family
    if preset == "shared_uniform":
        assert net.sampler_.hard_negatives == 0


def test_explicit_sampler_and_optimizer_override_the_preset(tiny):
    sampler = slide_fast.negative.UniformSampler(10)
    clf = fit_tiny(slide_fast, tiny, preset="full_softmax", sampler=sampler, optimizer="sgd")
    used = clf.network_.sampler_
    assert type(used).__name__ == "UniformSampler" and used.n_negatives == 10
    assert clf.network_.optimizer == "sgd"
    clf = fit_tiny(slide_fast, tiny, preset="shared_uniform", sampled_output=False)
    assert clf.network_.sampled[-1] is False and type(clf.network_.sampler_).__name__ == \
        "FullSoftmax"


def test_lsh_settings_without_a_preset_mean_slides_lsh_output(tiny):
    clf = fit_tiny(slide_fast, tiny, lsh=dict(K=3, L=6, min_active=20, fill_below=30))
    assert clf.resolved_preset() == "slide_paper"
    assert clf.network_.sampler_.lsh.K == 3 and clf.network_.optimizer == "adam"


@pytest.mark.parametrize("bad,error", [("slide", ValueError), (["slide_paper"], TypeError)])
def test_unknown_preset_is_refused_by_name(tiny, bad, error):
    with pytest.raises((ValueError, TypeError), match="preset"):
        fit_tiny(slide_fast, tiny, preset=bad)


def test_model_saved_before_presets_loads_as_slides_configuration(tmp_path, tiny):
    """Files written when SLIDE's LSH output was the default have no ``preset``: they load
    (and refit) as ``slide_paper``, with the same predictions."""
    from slide_ref.model_io import META
    X = tiny[0]
    clf = fit_tiny(slide_fast, tiny, preset="slide_paper", optimizer="adam")
    path = clf.save(tmp_path / "new.npz")
    with np.load(path) as f:
        payload = {k: f[k] for k in f.files}
    meta = json.loads(str(payload[META]))
    assert meta["estimator"]["preset"] == "slide_paper"
    del meta["estimator"]["preset"]                     # the earlier format
    payload[META] = np.array(json.dumps(meta))
    np.savez(tmp_path / "old.npz", **payload)
    for backend in (slide_ref, slide_fast):
        back = backend.SlideClassifier.load(tmp_path / "old.npz")
        assert back.preset == "slide_paper" and back.resolved_preset() == "slide_paper"
        np.testing.assert_array_equal(back.predict(X[:20])[0], clf.predict(X[:20])[0])
        assert type(back.fit(*tiny[:2]).network_.sampler_).__name__ == "LSHSampler"


def test_default_model_saves_its_preset_by_name(tmp_path, tiny):
    clf = fit_tiny(slide_fast, tiny)
    back = slide_ref.SlideClassifier.load(clf.save(tmp_path / "m.npz"))
    assert back.preset == "shared_uniform_hard"
    np.testing.assert_array_equal(back.predict(tiny[0][:20])[0], clf.predict(tiny[0][:20])[0])


@pytest.mark.parametrize("extra, preset", [([], "shared_uniform_hard"),
                                           (["--K", "4"], "slide_paper"),
                                           (["--preset", "full_softmax"], "full_softmax"),
                                           (["--preset", "shared_uniform", "--L", "8"],
                                            "shared_uniform")])
def test_cli_train_uses_the_classifiers_presets(tmp_path, monkeypatch, extra, preset):
    """``slide train`` trains what ``SlideClassifier()`` would: the default preset unless a
    preset or LSH settings are given."""
    d = tmp_path / "data"
    assert cli.main(["generate", "--out", str(d), "--n-samples", "300", "--n-test", "50",
                     "--n-features", "50", "--n-labels", "20"]) == 0
    seen = []
    fit = slide_fast.SlideClassifier.fit

    def spy(self, *args, **kwargs):
        seen.append(self.resolved_preset())
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(slide_fast.SlideClassifier, "fit", spy)
    assert cli.main(["train", "--train", str(d / "train.txt"), "--hidden", "8",
                     "--no-progress", *extra]) == 0
    assert seen == [preset]
