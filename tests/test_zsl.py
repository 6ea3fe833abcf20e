"""Soft-label zero-shot learning: kernels, gradients, baselines, GBU files, learning."""
import numpy as np
import pytest
import scipy.io

import slide_fast
import slide_ref
from slide_ref._kernels import zsl as ref_k
from slide_fast._kernels import zsl as fast_k
from slide_ref.datasets import ZSLData, load_gbu, make_zsl, save_gbu, load_digits_zsl
from slide_ref.zsl import ESZSL, similarity_targets

from conftest import assert_allclose_f32


def _batch(rng, B=37, K=13, S=9, U=6, scale=1.0):
    F = (scale * rng.standard_normal((B, K))).astype(np.float32)
    A = rng.standard_normal((K, S + U)).astype(np.float32)
    A /= np.linalg.norm(A, axis=0)
    y = rng.integers(0, S, B).astype(np.int32)
    R = similarity_targets(A[:, :S], A[:, S:], 0.3)
    return F, A, y, R, S


# ----------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("mode", [ref_k.SOFT_LABEL, ref_k.CE_KL])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_fused_kernel_matches_reference(rng, simd_level, mode, n_threads):
    F, A, y, R, S = _batch(rng, scale=3.0)
    dF_r, loss_r = ref_k.attribute_softmax_grad(F, A, y, R, S, mode, 0.3, 0.7, 2.5, 1 / 37)
    dF_f, loss_f = fast_k.attribute_softmax_grad(F, A, y, R, S, mode, 0.3, 0.7, 2.5, 1 / 37,
                                                 n_threads)
    assert dF_f.dtype == np.float32 and loss_f.dtype == np.float64
    assert_allclose_f32(dF_f, dF_r)
    assert_allclose_f32(loss_f, loss_r)
    assert_allclose_f32(fast_k.attribute_logits(F, A, 2.5, n_threads),
                        ref_k.attribute_logits(F, A, 2.5))


@pytest.mark.parametrize("relu", [False, True])
def test_blas_dense_layers_match_the_engine_reference(rng, relu):
    from slide_ref._kernels import network as ref_nn
    A = np.maximum(rng.standard_normal((29, 21)), 0).astype(np.float32)
    W = rng.standard_normal((21, 70)).astype(np.float32)
    b = rng.standard_normal(70).astype(np.float32)
    assert_allclose_f32(fast_k.dense_forward(A, W, b, relu, 2), ref_nn.dense_forward(A, W, b, relu))
    delta = rng.standard_normal((29, 70)).astype(np.float32)
    gW_r, gW_f = np.ones_like(W), np.ones_like(W)
    gb_r, gb_f = np.ones_like(b), np.ones_like(b)
    dA_r = ref_nn.dense_backward(A, W, delta, gW_r, gb_r, relu, True)
    dA_f = fast_k.dense_backward(A, W, delta, gW_f, gb_f, relu, True, 2)
    assert_allclose_f32(dA_f, dA_r)
    assert_allclose_f32(gW_f, gW_r)
    assert_allclose_f32(gb_f, gb_r)
    assert fast_k.dense_backward(A, W, delta, gW_f, gb_f, relu, False, 2) is None


@pytest.mark.parametrize("shape", [(7, 5), (700, 513)])     # one-thread and threaded paths
def test_standardize_matches_reference_bitwise(rng, shape):
    X = (3 * rng.standard_normal(shape) + 1).astype(np.float32)
    mean = X.mean(axis=0).astype(np.float32)
    scale = (X.std(axis=0) + 0.5).astype(np.float32)
    ref = ref_k.standardize(X, mean, scale)
    np.testing.assert_array_equal(fast_k.standardize(X, mean, scale, 2), ref)
    np.testing.assert_allclose(ref.mean(axis=0), 0, atol=1e-4)
    with pytest.raises(ValueError, match="mean and scale"):
        fast_k.standardize(X, mean[:-1], scale, 2)


@pytest.mark.parametrize("mode", [ref_k.SOFT_LABEL, ref_k.CE_KL])
def test_fused_kernel_threaded_path_matches_reference(rng, mode):
    # large enough (B * C >= 2^18) for the fused pass to use its OpenMP threads
    F, A, y, R, S = _batch(rng, B=2100, K=16, S=100, U=30, scale=2.0)
    dF_r, loss_r = ref_k.attribute_softmax_grad(F, A, y, R, S, mode, 0.2, 1.5, 1.0, 1 / 2100)
    out = []
    for n_threads in (1, 2):
        dF_f, loss_f = fast_k.attribute_softmax_grad(F, A, y, R, S, mode, 0.2, 1.5, 1.0,
                                                     1 / 2100, n_threads)
        assert_allclose_f32(dF_f, dF_r)
        assert_allclose_f32(loss_f, loss_r)
        out.append((dF_f, loss_f))
    # each sample's row is computed by one thread: the thread count changes nothing
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_fused_kernel_extreme_logits_stay_finite(rng):
    F, A, y, R, S = _batch(rng, scale=500.0)
    for k in (ref_k, fast_k):
        for mode in (0, 1):
            dF, loss = k.attribute_softmax_grad(F, A, y, R, S, mode, 0.2, 1.0, 1.0, 1.0)
            assert np.isfinite(dF).all() and np.isfinite(loss).all()


def test_kernel_single_unseen_class(rng):
    F, A, y, _, _ = _batch(rng, S=4, U=1)
    R = np.ones((4, 1), np.float32)
    for mode in (0, 1):
        a = ref_k.attribute_softmax_grad(F, A, y, R, 4, mode, 0.2, 1.0, 1.0, 1.0)
        b = fast_k.attribute_softmax_grad(F, A, y, R, 4, mode, 0.2, 1.0, 1.0, 1.0)
        assert_allclose_f32(b[0], a[0])
        assert_allclose_f32(b[1], a[1])


def _loss64(F, A, y, R, S, mode, q, lam, s):
    """The loss in float64, written out independently of the kernels."""
    Z = s * F.astype(np.float64) @ A.astype(np.float64)
    logp = Z - Z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    rows = np.arange(len(y))
    r = R[y].astype(np.float64)
    if mode == 0:
        return -((1 - q) * logp[rows, y] + q * (r * logp[:, S:]).sum(1)).sum()
    zu = Z[:, S:] - Z[:, S:].max(1, keepdims=True)
    logpu = zu - np.log(np.exp(zu).sum(1, keepdims=True))
    return (-logp[rows, y] + lam * (r * (np.log(r) - logpu)).sum(1)).sum()


@pytest.mark.parametrize("mode", [0, 1])
def test_gradient_matches_finite_differences(rng, mode):
    F, A, y, R, S = _batch(rng, B=5, K=6, S=4, U=3)
    dF, loss = ref_k.attribute_softmax_grad(F, A, y, R, S, mode, 0.3, 0.8, 1.7, 1.0)
    np.testing.assert_allclose(loss.sum(), _loss64(F, A, y, R, S, mode, 0.3, 0.8, 1.7),
                               rtol=1e-5)
    eps = 1e-4
    num = np.zeros(F.shape)
    for i in range(F.shape[0]):
        for k in range(F.shape[1]):
            Fp, Fm = F.astype(np.float64), F.astype(np.float64)
            Fp[i, k] += eps
            Fm[i, k] -= eps
            num[i, k] = (_loss64(Fp, A, y, R, S, mode, 0.3, 0.8, 1.7)
                         - _loss64(Fm, A, y, R, S, mode, 0.3, 0.8, 1.7)) / (2 * eps)
    np.testing.assert_allclose(dF, num, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("mode", [0, 1])
def test_network_gradient_matches_torch_autograd(rng, mode):
    """One full training step's weight gradients (MLP + frozen layer) against autograd."""
    torch = pytest.importorskip("torch")
    from slide_ref._kernels import network as nn
    F0, A, y, R, S = _batch(rng, B=8, K=6, S=4, U=3)
    X = rng.standard_normal((8, 10)).astype(np.float32)
    W1 = (0.3 * rng.standard_normal((10, 7))).astype(np.float32)
    W2 = (0.3 * rng.standard_normal((7, 6))).astype(np.float32)
    b1, b2 = np.full(7, 0.1, np.float32), np.zeros(6, np.float32)
    q, lam, s = 0.25, 0.6, 2.0
    # ours: forward/backward as SoftLabelZSL does it
    H = nn.dense_forward(X, W1, b1, True)
    F = nn.dense_forward(H, W2, b2, False)
    dF, _ = ref_k.attribute_softmax_grad(F, A, y, R, S, mode, q, lam, s, 1 / 8)
    gW1, gW2 = np.zeros_like(W1), np.zeros_like(W2)
    gb1, gb2 = np.zeros_like(b1), np.zeros_like(b2)
    dH = nn.dense_backward(H, W2, dF, gW2, gb2, True, True)
    nn.dense_backward(X, W1, dH, gW1, gb1, False, False)
    # torch
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
         for k, v in dict(W1=W1, W2=W2, b1=b1, b2=b2).items()}
    Ft = torch.relu(torch.tensor(X, dtype=torch.float64) @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"]
    Z = s * Ft @ torch.tensor(A, dtype=torch.float64)
    logp = torch.log_softmax(Z, 1)
    r = torch.tensor(R[y], dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.long)
    if mode == 0:
        loss = -((1 - q) * logp[torch.arange(8), yt] + q * (r * logp[:, S:]).sum(1)).mean()
    else:
        logpu = torch.log_softmax(Z[:, S:], 1)
        loss = (-logp[torch.arange(8), yt] + lam * (r * (torch.log(r) - logpu)).sum(1)).mean()
    loss.backward()
    for ours, key in ((gW1, "W1"), (gW2, "W2"), (gb1, "b1"), (gb2, "b2")):
        np.testing.assert_allclose(ours, t[key].grad.numpy(), rtol=1e-4, atol=1e-6)


def test_similarity_targets():
    A = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    R = similarity_targets(A[:, :2], A[:, 2:], temperature=0.5)
    np.testing.assert_allclose(R.sum(axis=1), 1.0, rtol=1e-6)
    e = np.exp(2.0)
    np.testing.assert_allclose(R, [[e / (e + 1), 1 / (e + 1)], [1 / (e + 1), e / (e + 1)]],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        similarity_targets(A[:, :2], A[:, 2:], 0.0)


# ----------------------------------------------------------------------------- model
def _small(random_state=1, **kw):
    args = dict(n_classes=20, n_unseen=5, n_attributes=8, n_features=24, n_per_class=30,
                overlap=0.5, random_state=random_state)
    args.update(kw)
    return make_zsl(**args)


def test_backends_train_identically(backend):
    d = _small()
    X, y = d.split("trainval")
    kw = dict(hidden=(16,), epochs=3, batch_size=32, random_state=3, n_threads=1)
    ref = slide_ref.zsl.SoftLabelZSL(**kw).fit(X, y, d.attributes, seen=d.seen, unseen=d.unseen)
    other = backend.zsl.SoftLabelZSL(**kw).fit(X, y, d.attributes, seen=d.seen,
                                               unseen=d.unseen)
    for a, b in zip(ref.layers_, other.layers_):
        assert_allclose_f32(b["W"], a["W"], rtol=1e-4, atol=1e-5)
    assert_allclose_f32(other.decision_function(X), ref.decision_function(X), rtol=1e-4,
                        atol=1e-4)
    assert type(other)._kernels is backend._kernels


@pytest.mark.parametrize("loss", ["soft", "kl"])
def test_soft_label_learns_beyond_chance(backend, loss):
    d = _small()
    X, y = d.split("trainval")
    m = backend.zsl.SoftLabelZSL(hidden=(32,), loss=loss, epochs=15, batch_size=32,
                                 random_state=0).fit(X, y, d.attributes, seen=d.seen,
                                                     unseen=d.unseen)
    assert m.history_[-1] < m.history_[0]
    res = m.evaluate(*d.split("test_seen"), *d.split("test_unseen"))
    assert res["zsl"] > 0.45              # chance: 1/5
    assert res["S"] > 0.7
    pred = m.predict(d.split("test_unseen")[0], mode="zsl")
    assert np.isin(pred, d.unseen).all()
    assert set(m.classes_[:m.n_seen_]) == set(d.seen.tolist())


def test_predict_calibration_moves_predictions_to_unseen():
    d = _small()
    X, y = d.split("trainval")
    m = slide_ref.zsl.SoftLabelZSL(hidden=(16,), loss="kl", epochs=5,
                                   random_state=0).fit(X, y, d.attributes)
    Xu = d.split("test_unseen")[0]
    assert np.isin(m.predict(Xu, calibration=1e6), d.unseen).all()
    assert np.isin(m.predict(Xu, calibration=-1e6), d.seen).all()
    Xs, ys = d.split("test_seen")
    m.calibrate(Xs, ys, *d.split("test_unseen"))
    h_tuned = m.evaluate(Xs, ys, *d.split("test_unseen"))["H"]
    assert h_tuned >= m.evaluate(Xs, ys, *d.split("test_unseen"), calibration=0.0)["H"]


def test_partial_fit_runs_one_epoch(backend):
    d = _small()
    X, y = d.split("trainval")
    m = backend.zsl.SoftLabelZSL(hidden=(8,), random_state=0)
    m.partial_fit(X, y, d.attributes, seen=d.seen, unseen=d.unseen)
    m.partial_fit(X, y)
    assert len(m.history_) == 2
    with pytest.raises(ValueError, match="not seen"):
        m.partial_fit(X[:3], d.unseen[:1].repeat(3))


def test_bad_input_is_refused():
    d = _small()
    X, y = d.split("trainval")
    Z = slide_ref.zsl.SoftLabelZSL
    with pytest.raises(ValueError, match="both seen and unseen"):
        Z().fit(X, y, d.attributes, seen=d.seen, unseen=d.seen[:2])
    with pytest.raises(ValueError, match="not in seen"):
        Z().fit(X, y, d.attributes, seen=d.seen[1:])
    with pytest.raises(ValueError, match="y must lie"):
        Z().fit(X, y + 100, d.attributes)
    with pytest.raises(ValueError, match="NaN"):
        Z().fit(np.full_like(X, np.nan), y, d.attributes)
    bad = d.attributes.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="attributes"):
        Z().fit(X, y, bad)
    with pytest.raises(ValueError, match="no unseen"):
        Z().fit(X, y, d.attributes, seen=np.arange(d.n_classes), unseen=None)
    with pytest.raises(ValueError, match="loss"):
        Z(loss="hinge").fit(X, y, d.attributes)
    with pytest.raises(ValueError, match="q must"):
        Z(q=1.0).fit(X, y, d.attributes)
    with pytest.raises(RuntimeError, match="not fitted"):
        Z().predict(X)
    m = Z(hidden=(4,), epochs=1).fit(X, y, d.attributes)
    with pytest.raises(ValueError, match="features"):
        m.predict(X[:, :3])
    with pytest.raises(ValueError, match="mode"):
        m.predict(X, mode="all")


@pytest.mark.parametrize("cls", ["SoftLabelZSL", "ESZSL", "SJE"])
def test_complex_attributes_are_refused_not_truncated(cls):
    """Casting complex attributes to float would silently drop the imaginary part."""
    d = _small()
    X, y = d.split("trainval")
    with pytest.raises(TypeError, match="attributes"):
        getattr(slide_ref.zsl, cls)().fit(X, y, d.attributes.astype(complex))


# ----------------------------------------------------------------------------- baselines
def test_eszsl_closed_form_solves_the_normal_equations(rng):
    """V from two solves equals the direct solution of the stationarity condition
    (X^T X + g I) V (S S^T + l I) = X^T Y S^T, via the Kronecker-product system."""
    n, D, K, S = 40, 6, 4, 5
    # float32-representable: the estimators store features in float32
    X = rng.standard_normal((n, D)).astype(np.float32).astype(np.float64)
    A = rng.standard_normal((K, S + 2))
    y = rng.integers(0, S, n)
    y[:S] = np.arange(S)
    g, lam = 0.7, 0.3
    m = ESZSL(feature_reg=g, attribute_reg=lam).fit(X, y, A, seen=np.arange(S))
    Sm = A[:, :S]
    Y = -np.ones((n, S))
    Y[np.arange(n), y] = 1
    P = X.T @ X + g * np.eye(D)
    Q = Sm @ Sm.T + lam * np.eye(K)
    rhs = X.T @ Y @ Sm.T
    # vec(P V Q) = (Q^T kron P) vec(V), column-major vec
    V = np.linalg.solve(np.kron(Q.T, P), rhs.reshape(-1, order="F")).reshape(D, K, order="F")
    np.testing.assert_allclose(m.V_, V, rtol=1e-8, atol=1e-10)
    # and it minimises the objective: the gradient vanishes
    grad = X.T @ (X @ V @ Sm - Y) @ Sm.T + g * V @ Sm @ Sm.T + lam * X.T @ X @ V \
        + g * lam * V
    np.testing.assert_allclose(grad, 0, atol=1e-8)


@pytest.mark.parametrize("cls", ["ESZSL", "SJE"])
def test_baselines_beat_chance(backend, cls):
    d = _small()
    X, y = d.split("trainval")
    est = getattr(backend.zsl, cls)()
    if cls == "SJE":
        est.set_params(random_state=0, epochs=10)
    est.fit(X, y, d.attributes, seen=d.seen, unseen=d.unseen)
    assert est.evaluate(*d.split("test_seen"), *d.split("test_unseen"))["zsl"] > 0.5


def test_permuted_unseen_attributes_fall_to_chance():
    """The control: shuffle which unseen class owns which attribute column and the
    zero-shot accuracy falls to 1/U (averaged over permutations)."""
    d = _small(n_classes=24, n_unseen=6, n_per_class=25, overlap=0.3)
    X, y = d.split("trainval")
    Xu, yu = d.split("test_unseen")
    accs = []
    for seed in range(6):
        perm_rng = np.random.default_rng(seed)
        A = d.attributes.copy()
        # a derangement of the unseen columns
        while True:
            p = perm_rng.permutation(d.unseen.size)
            if (p != np.arange(p.size)).all():
                break
        A[:, d.unseen] = d.attributes[:, d.unseen[p]]
        m = ESZSL().fit(X, y, A, seen=d.seen, unseen=d.unseen)
        accs.append(slide_ref.metrics.per_class_accuracy(yu, m.predict(Xu, mode="zsl")))
    real = ESZSL().fit(X, y, d.attributes, seen=d.seen, unseen=d.unseen)
    assert slide_ref.metrics.per_class_accuracy(yu, real.predict(Xu, mode="zsl")) > 0.6
    assert np.mean(accs) < 1 / 6 + 0.12


@pytest.mark.parametrize("loss", ["soft", "kl"])
def test_soft_label_permuted_control_at_chance(loss):
    d = make_zsl(n_classes=30, n_unseen=8, n_attributes=16, n_features=48, n_per_class=40,
                 overlap=1.0, random_state=1)
    X, y = d.split("trainval")
    Xu, yu = d.split("test_unseen")
    kw = dict(hidden=(64,), loss=loss, epochs=20, random_state=0)
    real = slide_fast.zsl.SoftLabelZSL(**kw).fit(X, y, d.attributes, seen=d.seen,
                                                  unseen=d.unseen)
    acc_real = slide_ref.metrics.per_class_accuracy(yu, real.predict(Xu, mode="zsl"))
    accs = []
    for seed in range(5):
        A = d.attributes.copy()
        A[:, d.unseen] = d.attributes[:, np.random.default_rng(seed).permutation(d.unseen)]
        m = slide_fast.zsl.SoftLabelZSL(**kw).fit(X, y, A, seen=d.seen, unseen=d.unseen)
        accs.append(slide_ref.metrics.per_class_accuracy(yu, m.predict(Xu, mode="zsl")))
    assert acc_real > 0.5
    assert np.mean(accs) < 1 / 8 + 0.12


def test_digits_beat_chance_on_an_easy_fold():
    d = load_digits_zsl(unseen=(0, 4, 7), random_state=0)
    X, y = d.split("trainval")
    m = slide_fast.zsl.SoftLabelZSL(hidden=(128,), epochs=30, random_state=0).fit(
        X, y, d.attributes, seen=d.seen, unseen=d.unseen)
    assert m.evaluate(*d.split("test_seen"), *d.split("test_unseen"))["zsl"] > 0.45


def test_gbu_protocol_selects_and_retrains():
    d = _small()
    out = slide_ref.zsl.gbu_protocol(ESZSL(), d, {"feature_reg": [1e-1, 1e2],
                                                  "attribute_reg": [1.0]}, random_state=0)
    assert len(out["search"]) == 2
    assert out["params"]["feature_reg"] in (1e-1, 1e2)
    assert set(out["model"].classes_) == set(d.seen) | set(d.unseen)
    for key in ("zsl", "U", "S", "H"):
        assert 0.0 <= out["test"][key] <= 1.0
    assert out["test"]["zsl"] > 0.5


# ----------------------------------------------------------------------------- data
def test_make_zsl_layout():
    d = _small()
    assert d.features.dtype == np.float32 and d.features.shape == (20 * 30, 24)
    assert len(d.seen) == 15 and len(d.unseen) == 5
    assert not np.intersect1d(d.seen, d.unseen).size
    assert not np.intersect1d(d.train_classes, d.val_classes).size
    np.testing.assert_allclose(np.linalg.norm(d.attributes, axis=0), 1.0, rtol=1e-5)
    assert np.array_equal(np.sort(np.concatenate([d.train_loc, d.val_loc])), d.trainval_loc)
    again = _small()
    assert np.array_equal(again.features, d.features)
    with pytest.raises(ValueError, match="n_unseen"):
        make_zsl(n_classes=5, n_unseen=4)


def test_make_zsl_knobs_lower_accuracy():
    def acc(**kw):
        d = _small(**kw)
        m = ESZSL().fit(*d.split("trainval"), d.attributes, seen=d.seen, unseen=d.unseen)
        return m.evaluate(*d.split("test_seen"), *d.split("test_unseen"))["zsl"]
    base = np.mean([acc(random_state=s) for s in range(3)])
    assert np.mean([acc(random_state=s, overlap=4.0) for s in range(3)]) < base - 0.15
    assert np.mean([acc(random_state=s, class_specific=3.0) for s in range(3)]) < base - 0.15
    assert np.mean([acc(random_state=s, attribute_noise=1.5) for s in range(3)]) < base - 0.15


def test_digits_layout():
    d = load_digits_zsl(unseen=(1, 5, 8), random_state=0)
    assert set(d.unseen.tolist()) == {1, 5, 8}
    used = np.concatenate([d.trainval_loc, d.test_seen_loc, d.test_unseen_loc])
    assert used.size == np.unique(used).size
    # the annotation subset (about 15%) is in no split
    assert 0.8 * 1797 < used.size < 0.9 * 1797
    assert d.attributes.shape == (28, 10)
    s = load_digits_zsl(attributes="strokes", random_state=0)
    assert s.attributes.shape == (12, 10)
    with pytest.raises(ValueError, match="unseen"):
        load_digits_zsl(unseen=(3, 12))


def test_gbu_round_trip(tmp_path):
    d = _small()
    save_gbu(d, tmp_path)
    e = load_gbu(tmp_path)
    assert np.array_equal(e.features, d.features)
    assert np.array_equal(e.labels, d.labels)
    for k in ("trainval_loc", "test_seen_loc", "test_unseen_loc", "train_loc", "val_loc"):
        assert np.array_equal(getattr(e, k), getattr(d, k))
    assert e.class_names == d.class_names
    with pytest.raises(FileExistsError):
        save_gbu(d, tmp_path)


def _write_tiny(path, **override):
    """Tiny GBU files written by hand: 3 classes (2 seen, 1 unseen), 8 images, 1-based."""
    feats = np.arange(4 * 8, dtype=np.float64).reshape(4, 8)      # [D, N]
    res = {"features": feats,
           "labels": np.array([[1], [1], [2], [2], [1], [2], [3], [3]], dtype=np.float64),
           "image_files": np.array([[np.array([f"img{i}.jpg"])] for i in range(8)],
                                   dtype=object)}
    att = np.abs(np.arange(6, dtype=np.float64).reshape(2, 3)) + 1
    splits = {"att": att / np.linalg.norm(att, axis=0), "original_att": att,
              "allclasses_names": np.array([[np.array([n])] for n in ("cat", "dog", "owl")],
                                           dtype=object),
              "trainval_loc": np.array([[1], [2], [3], [4]]), "test_seen_loc": np.array([[5], [6]]),
              "test_unseen_loc": np.array([[7], [8]]), "train_loc": np.array([[1], [2]]),
              "val_loc": np.array([[3], [4]])}
    for k, v in override.items():
        (res if k in res or k in ("features", "labels") else splits)[k] = v
    res = {k: v for k, v in res.items() if v is not None}
    splits = {k: v for k, v in splits.items() if v is not None}
    scipy.io.savemat(path / "res101.mat", res)
    scipy.io.savemat(path / "att_splits.mat", splits)


def test_load_gbu_tiny_files(tmp_path):
    _write_tiny(tmp_path)
    d = load_gbu(tmp_path)
    assert isinstance(d, ZSLData)
    assert d.features.shape == (8, 4) and d.features.dtype == np.float32
    np.testing.assert_array_equal(d.features[1], [1, 9, 17, 25])      # one image per row
    np.testing.assert_array_equal(d.labels, [0, 0, 1, 1, 0, 1, 2, 2])
    np.testing.assert_array_equal(d.trainval_loc, [0, 1, 2, 3])
    np.testing.assert_array_equal(d.test_unseen_loc, [6, 7])
    np.testing.assert_array_equal(d.seen, [0, 1])
    np.testing.assert_array_equal(d.unseen, [2])
    np.testing.assert_array_equal(d.train_classes, [0])
    np.testing.assert_array_equal(d.val_classes, [1])
    assert d.class_names == ["cat", "dog", "owl"]
    assert d.image_files[7] == "img7.jpg"
    np.testing.assert_allclose(np.linalg.norm(d.attributes, axis=0), 1.0, rtol=1e-6)
    assert d.original_attributes.dtype == np.float32


@pytest.mark.parametrize("override, match", [
    ({"test_unseen_loc": np.array([[3], [7]])}, "both seen"),
    ({"trainval_loc": np.array([[0], [1], [2], [3]])}, "1-based"),
    ({"test_seen_loc": np.array([[5], [9]])}, "test_seen_loc indexes"),
    ({"labels": np.array([[1], [1], [2], [2], [1], [2], [3], [4]])}, "labels must lie"),
    ({"val_loc": np.array([[1], [3]])}, "class-disjoint"),
    ({"att": None}, "missing variable 'att'"),
    ({"features": np.zeros((8, 4))}, "one column per image"),
    ({"features": np.full((4, 8), np.nan)}, "NaN"),
    ({"trainval_loc": np.array([[1.5], [2], [3], [4]])}, "integers"),
    ({"test_seen_loc": np.array([[1], [6]])}, "share images"),
])
def test_load_gbu_bad_files(tmp_path, override, match):
    _write_tiny(tmp_path, **override)
    with pytest.raises(ValueError, match=match):
        load_gbu(tmp_path)


def test_load_gbu_missing_or_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError, match="res101.mat"):
        load_gbu(tmp_path)
    _write_tiny(tmp_path)
    (tmp_path / "att_splits.mat").write_bytes(b"this is not a mat file at all" * 10)
    with pytest.raises(ValueError, match="att_splits.mat"):
        load_gbu(tmp_path)


# ----------------------------------------------------------------------------- CLI
def test_cli_zsl_on_gbu_files(tmp_path, capsys):
    from slide_ref.cli import main
    save_gbu(_small(), tmp_path / "gbu")
    out_json = tmp_path / "res.json"
    rc = main(["zsl", "--data", str(tmp_path / "gbu"), "--methods", "eszsl", "soft",
               "--hidden", "8", "--epochs", "2", "--no-progress", "--json", str(out_json)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "ESZSL" in text and "SoftLabelZSL (soft)" in text
    import json
    res = json.loads(out_json.read_text())
    assert 0 <= res["ESZSL"]["test"]["H"] <= 1
    assert main(["zsl", "--data", str(tmp_path / "missing"), "--no-progress"]) == 2
    assert "not found" in capsys.readouterr().err


def test_baseline_and_protocol_parameters_are_validated():
    d = _small()
    X, y = d.split("trainval")
    with pytest.raises(ValueError, match="feature_reg"):
        ESZSL(feature_reg=-1.0).fit(X, y, d.attributes)
    with pytest.raises(ValueError, match="normalize"):
        ESZSL(normalize="max").fit(X, y, d.attributes)
    with pytest.raises(ValueError, match="margin"):
        slide_ref.zsl.SJE(margin=-1.0).fit(X, y, d.attributes)
    with pytest.raises(TypeError, match="dense"):
        import scipy.sparse as sp
        ESZSL().fit(sp.csr_matrix(X), y, d.attributes)
    with pytest.raises(ValueError, match="criterion"):
        slide_ref.zsl.gbu_protocol(ESZSL(), d, criterion="acc")
    with pytest.raises(ValueError, match="gamma"):
        ESZSL().set_params(gamma=1.0)
    m = ESZSL().fit(X, y, d.attributes, seen=d.seen, unseen=d.unseen)
    assert m.predict(np.zeros((0, X.shape[1]), np.float32)).shape == (0,)


# ----------------------------------------------------------------------------- conventions
@pytest.mark.parametrize("name", ["SoftLabelZSL", "ESZSL", "SJE"])
def test_scikit_learn_estimator_conventions(backend, name):
    """Parameters stored as given (validated at fit), get_params/set_params/clone from
    scikit-learn's base class; a clone keeps the class, hence the backend's kernels."""
    from sklearn.base import BaseEstimator, clone
    cls = getattr(backend.zsl, name)
    assert issubclass(cls, BaseEstimator)
    assert not {"get_params", "set_params", "clone"} & set(vars(slide_ref.zsl._ZSLEstimator))
    est = cls(normalize="max")              # invalid, but only fit validates
    assert est.get_params()["normalize"] == "max"
    copy = clone(est.set_params(normalize="l2"))
    assert type(copy) is cls and copy is not est and copy.get_params() == est.get_params()
    assert type(copy)._kernels is backend._kernels
    d = _small()
    with pytest.raises(ValueError, match="normalize"):
        cls(normalize="max").fit(*d.split("trainval"), d.attributes)


def test_gbu_protocol_refits_clones_of_the_template(backend):
    d = _small()
    template = backend.zsl.ESZSL()
    out = backend.zsl.gbu_protocol(template, d, {"feature_reg": [1e-1, 1e2]}, random_state=0)
    assert type(out["model"]) is backend.zsl.ESZSL and out["model"] is not template
    assert not hasattr(template, "V_")      # the template itself is never fitted
    assert out["model"].feature_reg == out["params"]["feature_reg"]
