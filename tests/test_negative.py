"""Output-layer samplers: ref/fast equality of the draws and sets, the proposals' inclusion
probabilities against their definitions, the logQ sign, accidental-hit masking, LSH
retrieval against its closed form, table maintenance, training, persistence, bad input."""
import json

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

import slide_fast
import slide_ref
from slide_fast._kernels import negative as fast_neg
from slide_fast._kernels import network as fast_nn
from slide_ref._kernels import negative as ref_neg
from slide_ref._kernels import network as ref_nn

from conftest import assert_allclose_f32
from slide_ref.layers import BatchContext


@pytest.fixture(scope="module")
def data():
    X, Y = slide_ref.datasets.make_xc(256, 120, 300, labels_per_sample=2, random_state=3)
    return X, Y


def labels_of(Y):
    return Y.indptr.astype(np.int64), Y.indices.astype(np.int32)


def network(backend, sampler, n_outputs=300, **kw):
    params = dict(hidden=(16,), output_sampler=sampler, random_state=0, n_threads=1)
    params.update(kw)
    return backend.SlideNetwork(120, n_outputs, **params)


# ----------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("rows,m,n", [(1, 5, 5), (7, 40, 97), (3, 1, 1000), (0, 4, 10)])
@pytest.mark.parametrize("threads", [1, 2])
def test_uniform_draws_equal_and_distinct(rows, m, n, threads):
    ref = ref_neg.draw_uniform_unique(rows, m, n, 11, 4)
    fast = fast_neg.draw_uniform_unique(rows, m, n, 11, 4, threads)
    np.testing.assert_array_equal(ref, fast)
    assert fast.shape == (rows, m)
    for row in fast:
        assert len(set(row.tolist())) == m and row.min() >= 0 and row.max() < n


@pytest.mark.parametrize("threads", [1, 2])
def test_cdf_draws_equal(threads, rng):
    q = rng.random(257) ** 3
    cdf = np.cumsum(q / q.sum())
    ref = ref_neg.draw_from_cdf(6, 333, cdf, 5, 9)
    fast = fast_neg.draw_from_cdf(6, 333, cdf, 5, 9, threads)
    np.testing.assert_array_equal(ref, fast)
    assert fast.min() >= 0 and fast.max() < 257


def test_uniform_inclusion_is_m_over_n():
    m, n, steps = 7, 40, 400
    counts = np.zeros(n)
    for step in range(steps):
        np.add.at(counts, fast_neg.draw_uniform_unique(5, m, n, 3, step).ravel(), 1)
    trials = 5 * steps
    # every class: binomial(trials, m/n) within 4.5 sigma
    p = m / n
    assert np.all(np.abs(counts - trials * p) < 4.5 * np.sqrt(trials * p * (1 - p)))


def test_cdf_draws_follow_the_distribution():
    n = 30
    r = np.arange(n)
    q = (np.log(r + 2) - np.log(r + 1)) / np.log(n + 1)   # the log-uniform proposal
    draws = fast_neg.draw_from_cdf(50, 400, np.cumsum(q), 1, 2).ravel()
    observed = np.bincount(draws, minlength=n)
    assert stats.chisquare(observed, q * draws.size / q.sum()).pvalue > 1e-4


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("per_class", [False, True])
@pytest.mark.parametrize("mask", [False, True])
def test_assemble_sets_equal(shared, per_class, mask, rng):
    B, m, n = 6, 9, 20
    lab = [np.sort(rng.choice(n, size=k, replace=False)) for k in (1, 3, 0, 2, 5, 1)]
    indptr = np.zeros(B + 1, np.int64)
    np.cumsum([len(x) for x in lab], out=indptr[1:])
    ids = np.concatenate(lab).astype(np.int32)
    negs = rng.integers(0, n, size=(1 if shared else B, m)).astype(np.int32)
    log_q = rng.standard_normal(n).astype(np.float32) if per_class else np.zeros(0, np.float32)
    ref = ref_neg.assemble_sets(indptr, ids, negs, log_q, -1.5, mask)
    fast = fast_neg.assemble_sets(indptr, ids, negs, log_q, -1.5, mask, 2)
    for a, b in zip(ref, fast):
        np.testing.assert_array_equal(a, b)
    out_ptr, out_ids, adjust = fast
    for i in range(B):
        row = out_ids[out_ptr[i]:out_ptr[i + 1]]
        np.testing.assert_array_equal(row[:len(lab[i])], lab[i])        # labels first
        np.testing.assert_array_equal(row[len(lab[i]):], negs[0 if shared else i])
        adj = adjust[out_ptr[i]:out_ptr[i + 1]]
        hits = np.isin(row[len(lab[i]):], lab[i])
        expect = log_q[row] if per_class else np.full(len(row), -1.5, np.float32)
        if mask:
            expect[len(lab[i]):][hits] = slide_ref.negative.MASK
        np.testing.assert_array_equal(adj, expect)


# ----------------------------------------------------------------------------- masking
@pytest.mark.parametrize("nn", [ref_nn, fast_nn], ids=["ref", "fast"])
def test_masked_and_duplicate_pairs(nn):
    # sample 0: labels {4, 9}; pairs 4, 9 (positives), 4 (masked hit), 9 (kept hit), 2, 7
    z = np.array([1.0, 2.0, 3.0, 0.5, -1.0, 0.3], np.float32)
    ids = np.array([4, 9, 4, 9, 2, 7], np.int32)
    z_adj = z.copy()
    z_adj[2] -= slide_ref.negative.MASK
    indptr = np.array([0, 6], np.int64)
    lab = (np.array([0, 2], np.int64), np.array([4, 9], np.int32))
    delta, loss = nn.softmax_xent_pairs(z_adj, indptr, ids, *lab, np.ones(1), 1.0, 1)
    assert np.isfinite(z_adj).all() and np.isfinite(loss).all()
    keep = np.array([0, 1, 3, 4, 5])
    p = np.exp(z[keep] - z[keep].max())
    p /= p.sum()
    target = np.array([0.5, 0.5, 0.0, 0.0, 0.0])   # the kept hit (pair 3) is a negative
    assert delta[2] == 0.0
    assert_allclose_f32(delta[keep], p - target)
    np.testing.assert_allclose(loss[0], -0.5 * (np.log(p[0]) + np.log(p[1])), rtol=1e-5)


# ----------------------------------------------------------------------------- samplers
SAMPLER_CASES = {
    "lsh-embedding": dict(lsh=dict(K=3, L=8, min_active=40, fill_below=60)),
    "lsh-label": dict(lsh=dict(K=3, L=8, min_active=40, fill_below=60, max_active=None),
                      label_query="all"),
    "lsh-label-all-capped": dict(lsh=dict(K=3, L=8, min_active=40, fill_below=60,
                                          max_active=10), label_query="all"),
    "lsh-label-random": dict(lsh=slide_ref.lsh.LSHParams(K=3, L=8, min_active=40,
                                                         fill_below=60, max_active=0.2),
                             label_query="random"),
    "uniform": dict(n_negatives=25),
    "unigram": dict(n_negatives=25, power=0.75, logq=True),
    "loguniform": dict(n_negatives=25, shared=True, logq=True),
    "full": {},
}


def make(module, case):
    name = case.replace("-random", "").replace("-all-capped", "")
    return module.negative.make_sampler(name, **SAMPLER_CASES[case])


@pytest.mark.parametrize("case", sorted(SAMPLER_CASES))
def test_sampler_sets_equal_across_backends(case, data):
    X, Y = data
    sets = []
    for backend in (slide_ref, slide_fast):
        net = network(backend, make(backend, case))
        net.sampler_.prepare(Y)
        H = net.embed(X[:20].astype(np.float32))
        out = net.layers[-1]
        sets.append(net.sampler_.sample(H, labels_of(Y[:20]), out.W, out.b, 3))
    for a, b in zip(*sets):
        if a is None:
            assert b is None
        else:
            np.testing.assert_array_equal(a, b)
    indptr, ids, _ = sets[1]
    for i in range(20):     # the positives are always in the set
        assert set(Y[i].indices) <= set(ids[indptr[i]:indptr[i + 1]].tolist())


@pytest.mark.parametrize("case", ["uniform", "loguniform", "lsh-embedding", "full"])
def test_training_steps_equal_ref_fast(case, data):
    X, Y = data
    nets = []
    for backend in (slide_ref, slide_fast):
        net = network(backend, make(backend, case), lsh=dict(rehash_every=128))
        net.sampler_.prepare(Y)
        losses = [net.train_batch(X[i:i + 64], Y[i:i + 64]) for i in range(0, 256, 64)]
        nets.append((net, losses))
    (a, la), (b, lb) = nets
    np.testing.assert_allclose(la, lb, rtol=1e-4)
    for x, y in zip(a.layers, b.layers):
        assert_allclose_f32(x.W, y.W, rtol=1e-3, atol=1e-5)


def test_logq_subtracts_log_expected_count(backend, data):
    X, Y = data
    m = 25
    net = network(backend, backend.negative.UnigramSampler(m, logq=True))
    net.sampler_.prepare(Y)
    Xb = X[:8].astype(np.float32)
    labels = labels_of(Y[:8])
    out = net.layers[-1]
    H = net.embed(Xb)
    z, record = out.forward(H, BatchContext(labels, 0, True, seed=0, n_threads=1))
    indptr, ids = record.indptr, record.ids
    rows = np.repeat(np.arange(8), np.diff(indptr))
    raw = np.einsum("ij,ij->i", out.W[ids], H[rows]) + out.b[ids]
    counts = np.asarray(Y.sum(axis=0)).ravel() + 1.0
    q = counts / counts.sum()
    adjust = np.log(m * q[ids])
    hit = np.zeros(len(ids), bool)
    for i in range(8):   # masked accidental hits: finite and far below everything else
        seg = slice(indptr[i], indptr[i + 1])
        nl = Y[i].nnz
        hit[seg] = np.r_[np.zeros(nl, bool), np.isin(ids[seg][nl:], Y[i].indices)]
    assert_allclose_f32(z[~hit], (raw - adjust)[~hit], rtol=1e-4, atol=1e-4)
    assert np.all(z[hit] < -1e29) and np.isfinite(z).all()


def test_uniform_logq_is_a_constant_shift(data):
    X, Y = data
    losses = []
    for logq in (False, True):
        net = network(slide_fast, slide_fast.negative.UniformSampler(25, logq=logq))
        losses.append([net.train_batch(X[i:i + 64], Y[i:i + 64]) for i in range(0, 256, 64)])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


def test_shared_negatives_are_shared(data):
    X, Y = data
    net = network(slide_fast, slide_fast.negative.UniformSampler(30, shared=True))
    out = net.layers[-1]
    H = net.embed(X[:5].astype(np.float32))
    indptr, ids, _ = net.sampler_.sample(H, labels_of(Y[:5]), out.W, out.b, 0)
    tails = [ids[indptr[i]:indptr[i + 1]][Y[i].nnz:] for i in range(5)]
    assert all(np.array_equal(t, tails[0]) for t in tails)


# ----------------------------------------------------------------------------- LSH
def _angle_network(backend, thetas, K, L, family, dim=64, seed=0, **hash_params):
    """Output rows at angles ``thetas`` from a unit query (tables built from them)."""
    rng = np.random.default_rng(seed)
    n = len(thetas)
    lsh = backend.lsh.LSHParams(hash_family=family, K=K, L=L, min_active=0, fill_below=0,
                                bucket_capacity=10 * n, hash_params=hash_params,
                                max_active=None)
    sampler = backend.negative.LSHSampler(lsh=lsh, random_state=seed)
    net = backend.SlideNetwork(8, n, hidden=(dim,), output_sampler=sampler, random_state=seed,
                               n_threads=1)
    q = rng.standard_normal(dim)
    q /= np.linalg.norm(q)
    other = rng.standard_normal((n, dim))
    other -= np.outer(other @ q, q)
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    W = np.cos(thetas)[:, None] * q + np.sin(thetas)[:, None] * other
    net.layers[-1].W[:] = W.astype(np.float32)
    return net, q[None, :].astype(np.float32)


def test_simhash_inclusion_matches_closed_form(backend):
    K, L, rebuilds = 3, 4, 400
    thetas = np.linspace(0.1, 2.5, 12)
    net, h = _angle_network(backend, thetas, K, L, "simhash", ratio=1)
    out, empty = net.layers[-1], (np.zeros(2, np.int64), np.empty(0, np.int32))
    hits = np.zeros(len(thetas))
    for _ in range(rebuilds):
        net.sampler_.rebuild(out.W)
        _, ids, _ = net.sampler_.sample(h, empty, out.W, out.b, 0, training=False)
        hits[ids] += 1
    p = 1 - thetas / np.pi
    expected = 1 - (1 - p ** K) ** L
    band = 4.5 * np.sqrt(rebuilds * expected * (1 - expected)) + 1
    assert np.all(np.abs(hits - rebuilds * expected) < band), (hits / rebuilds, expected)


def test_simhash_inclusion_quick():
    """A quick version of the closed-form check (fast backend, coarse band)."""
    K, L, rebuilds = 2, 3, 120
    thetas = np.array([0.2, 1.0, 2.2])
    net, h = _angle_network(slide_fast, thetas, K, L, "simhash", ratio=1)
    out, empty = net.layers[-1], (np.zeros(2, np.int64), np.empty(0, np.int32))
    hits = np.zeros(3)
    for _ in range(rebuilds):
        net.sampler_.rebuild(out.W)
        hits[net.sampler_.sample(h, empty, out.W, out.b, 0, training=False)[1]] += 1
    expected = 1 - (1 - (1 - thetas / np.pi) ** K) ** L
    assert np.all(np.abs(hits / rebuilds - expected) < 0.15)


def test_dwta_inclusion_monotone_in_similarity():
    thetas = np.linspace(0.05, 2.0, 10)
    net, h = _angle_network(slide_fast, thetas, 3, 4, "dwta", dim=32)
    out, empty = net.layers[-1], (np.zeros(2, np.int64), np.empty(0, np.int32))
    hits = np.zeros(len(thetas))
    for _ in range(300):
        net.sampler_.rebuild(out.W)
        hits[net.sampler_.sample(h, empty, out.W, out.b, 0, training=False)[1]] += 1
    # monotone up to sampling noise (ties at the extremes); far apart: rarely retrieved
    assert stats.spearmanr(-thetas, hits).correlation > 0.8, hits
    assert hits[:3].min() > 2 * hits[-3:].max(), hits


def test_label_query_finds_copies_of_the_label(backend):
    # classes 0 and 1 share a vector: querying with w_0 always returns class 1
    net = network(backend, backend.negative.LSHSampler(
        query="label", lsh=dict(K=4, L=6, min_active=0, fill_below=0)))
    out = net.layers[-1]
    out.W[1] = out.W[0]
    net.rehash()
    H = np.ones((1, 16), np.float32)
    _, ids, _ = net.sampler_.sample(H, (np.array([0, 1], np.int64), np.array([0], np.int32)),
                                    out.W, out.b, 0)
    assert 1 in ids


@pytest.mark.parametrize("faithful", [False, True])
def test_rehash_in_embedding_mode_unless_faithful(faithful, data):
    X, Y = data
    sampler = slide_fast.negative.LSHSampler(lsh=dict(K=3, L=8, rehash_every=64),
                                             faithful=faithful)
    net = network(slide_fast, sampler, batch_size=64)
    builds = net.sampler_.index_.tables.n_builds
    for i in range(0, 128, 64):
        net.train_batch(X[i:i + 64], Y[i:i + 64])
    assert net.sampler_.index_.tables.n_builds == builds + (0 if faithful else 2)


def test_retrieval_quality_reports(data):
    X, Y = data
    net = network(slide_fast, slide_fast.negative.LSHSampler(lsh=dict(
        K=2, L=10, min_active=50, fill_below=60, max_active=None)))
    q = net.retrieval_quality(X[:40])
    assert 0 < q["from_tables"] <= q["candidates"] <= 300 and 0 <= q["top_recall"] <= 1
    assert q["from_tables"] + q["padding"] == pytest.approx(q["active"])
    # a tight cap keeps few table classes; padding fills the set up to min_active
    net = network(slide_fast, slide_fast.negative.LSHSampler(lsh=dict(
        K=2, L=10, min_active=100, fill_below=1000, max_active=5, bucket_capacity=8)))
    q = net.retrieval_quality(X[:40])
    assert q["from_tables"] <= 5 + 8 and q["active"] == 100
    with pytest.raises(ValueError, match="labels"):
        network(slide_fast, slide_fast.negative.LSHSampler(query="label")).retrieval_quality(X)


def test_max_active_caps_retrieval(data):
    X, Y = data
    net = network(slide_fast, slide_fast.negative.LSHSampler(lsh=dict(
        K=1, L=20, max_active=30, min_active=0, fill_below=0, bucket_capacity=300)))
    out = net.layers[-1]
    H = net.embed(X[:30].astype(np.float32))
    indptr, _, _ = net.sampler_.sample(H, labels_of(Y[:30]), out.W, out.b, 0)
    # whole buckets until the cap: at most the cap plus one bucket
    assert np.diff(indptr).max() <= 30 + 300


# ----------------------------------------------------------------------------- learning
def test_static_samplers_learn(data):
    X, Y = data
    for sampler in (slide_fast.negative.UniformSampler(30),
                    slide_fast.negative.LogUniformSampler(30, logq=True)):
        clf = slide_fast.SlideClassifier(hidden=32, sampler=sampler, lr=0.01, random_state=0,
                                         show_progress=False, batch_size=32)
        clf.fit(X, Y, epochs=6)
        assert clf.score(X, Y) > 0.3     # chance is about 2/300


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lsh-embedding", "lsh-label", "uniform", "unigram",
                                  "loguniform", "full"])
def test_every_sampler_learns_and_permuted_labels_do_not(name):
    X, Y, Xt, Yt = slide_ref.datasets.make_xc(3000, 300, 200, n_test=500, random_state=1)
    kw = {} if name == "full" else (dict(lsh=dict(K=3, L=20, min_active=50, fill_below=60))
                                    if name.startswith("lsh") else dict(n_negatives=40))
    popular = np.asarray(Y.sum(axis=0)).ravel().argmax()
    baseline = Yt[:, popular].mean()      # always predicting the most frequent label
    scores = []
    for labels in (Y, Y[np.random.default_rng(0).permutation(Y.shape[0])]):
        clf = slide_fast.SlideClassifier(hidden=64, sampler=slide_fast.negative.make_sampler(
            name, **kw), lr=0.005, random_state=0, show_progress=False)
        clf.fit(X, labels, epochs=4)
        scores.append(clf.score(Xt, Yt))
    assert scores[0] > baseline + 0.3 and scores[1] < baseline + 0.05, (scores, baseline)


# ----------------------------------------------------------------------------- persistence
def test_classifier_with_sampler_round_trip(tmp_path, data):
    X, Y = data
    clf = slide_fast.SlideClassifier(hidden=16, sampler=slide_fast.negative.UnigramSampler(
        20, logq=True, power=0.75), random_state=0, show_progress=False)
    clf.fit(X, Y)
    path = clf.save(tmp_path / "m.npz")
    for cls in (slide_ref.SlideClassifier, slide_fast.SlideClassifier):
        back = cls.load(path)
        assert type(back.network_.sampler_).__name__ == "UnigramSampler"
        assert back.network_.sampler_.power == 0.75
        np.testing.assert_array_equal(back.network_.sampler_.cdf_, clf.network_.sampler_.cdf_)
        np.testing.assert_array_equal(back.predict(X[:20])[0], clf.predict(X[:20])[0])
        back.partial_fit(X[:64], Y[:64])


def test_cli_train_with_each_sampler(tmp_path, data):
    from slide_fast import cli
    X, Y = data
    path = tmp_path / "train.txt"
    slide_ref.datasets.write_xc(path, X, Y)
    for name in ("lsh-label", "loguniform"):
        out = tmp_path / f"{name}.json"
        assert cli.main(["train", "--train", str(path), "--sampler", name, "--negatives", "20",
                         "--K", "3", "--L", "6", "--no-progress", "--metrics", str(out)]) == 0
        assert out.exists()


# ----------------------------------------------------------------------------- bad input
def test_bad_input(backend, data):
    X, Y = data
    neg = backend.negative
    with pytest.raises(ValueError, match="n_negatives"):
        network(backend, neg.UniformSampler(301))
    with pytest.raises(ValueError, match="sampler"):
        neg.make_sampler("softmax")
    with pytest.raises(TypeError, match="output_sampler"):
        network(backend, "uniform")
    with pytest.raises(ValueError, match="sampled"):
        network(backend, neg.FullSoftmax(), sampled=(False, True))
    with pytest.raises(ValueError, match="label_query"):
        network(backend, neg.LSHSampler(query="label", label_query="all",
                                        lsh=dict(selection="vanilla")))
    with pytest.raises(ValueError, match="max_active"):
        network(backend, neg.LSHSampler(lsh=dict(selection="topk", max_active=10)))
    with pytest.raises(TypeError, match="lsh"):
        network(backend, neg.LSHSampler(lsh=[6, 50]))
    with pytest.raises(ValueError, match="query"):
        network(backend, neg.LSHSampler(query="labels"))
    with pytest.raises(ValueError, match="counts"):
        network(backend, neg.UnigramSampler(10, counts=np.ones(5)))
    net = network(backend, neg.UnigramSampler(10))
    with pytest.raises(RuntimeError, match="prepare"):
        net.train_batch(X[:4], Y[:4])
    net = network(backend, neg.UniformSampler(10))
    with pytest.raises(ValueError, match="LSHSampler"):
        net.output_scores(X[:4], sampled=True)
    with pytest.raises(ValueError, match="distinct"):
        fast_neg.draw_uniform_unique(2, 11, 10, 0, 0)


def test_full_softmax_classifier_round_trip(tmp_path, data):
    X, Y = data
    for kw in (dict(sampled_output=False), dict(sampler=slide_fast.negative.FullSoftmax())):
        clf = slide_fast.SlideClassifier(hidden=16, random_state=0, show_progress=False, **kw)
        clf.fit(X, Y)
        back = slide_ref.SlideClassifier.load(clf.save(tmp_path / "full.npz", overwrite=True))
        np.testing.assert_array_equal(back.predict(X[:20])[0], clf.predict(X[:20])[0])


def test_lsh_sampler_stands_alone(backend, rng):
    """A sampler needs only the output weights and what setup is given (no network)."""
    W = rng.standard_normal((300, 16)).astype(np.float32)
    sampler = backend.negative.LSHSampler(lsh=dict(K=3, L=8, min_active=20, fill_below=30))
    sampler.setup(W, batch_size=32, n_threads=1, rng=np.random.default_rng(0))
    indptr, ids, adjust = sampler.sample(W[:4] + 0.01, labels_of(sp.csr_matrix(np.eye(4, 300))),
                                         W, np.zeros(300, np.float32), 0)
    assert adjust is None and len(indptr) == 5
    for i in range(4):
        assert i in ids[indptr[i]:indptr[i + 1]]
    assert sampler.index_.n_threads == 1 and sampler.batch_size_ == 32


def test_sampler_descriptions_round_trip_and_are_checked(backend):
    neg = backend.negative
    lsh = backend.network.LSHParams(K=3, L=7, selection="topk")
    spec = neg.sampler_spec(neg.LSHSampler(query="label", lsh=lsh, random_state=3))
    back = neg.sampler_from_spec(json.loads(json.dumps(spec)))
    assert type(back) is neg.LSHSampler and back.query == "label"
    assert back.lsh == lsh.get_params() and back.random_state is None
    for bad in ({"class": "os.system", "params": {}}, {"class": "UniformSampler"}, [1],
                {"class": "UniformSampler", "params": {"bogus": 1}}):
        with pytest.raises(slide_ref._validation.StateError, match="m.npz: output_sampler"):
            neg.sampler_from_spec(bad, source="m.npz")
