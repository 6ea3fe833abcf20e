"""What makes the LSH tables retrieve the classes that matter: centred rows
(``LSHParams(center=True)``), K and L chosen from the closed-form candidate probability
(``lsh.choose_KL``), and the batch-shared block fed by table hits (``LSHBlockSampler``);
both backends, against closed forms and each other, and bad input."""
import importlib
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

import slide_fast
import slide_ref
from conftest import assert_allclose_f32
from slide_ref._validation import StateError


def shared_direction_rows(rng, n=3000, d=32, offset=12.0):
    """Rows that share one large direction (as trained output rows do) plus noise."""
    u = rng.standard_normal(d)
    return (offset * u / np.linalg.norm(u) + rng.standard_normal((n, d))).astype(np.float32)


def make_index(backend, n_items, d, **params):
    lsh = backend.lsh.LSHParams(**{"hash_family": "simhash", "hash_params": {"ratio": 1},
                                   "K": 6, "L": 8, "min_active": 0, "fill_below": 0,
                                   **params})
    module = importlib.import_module(f"{backend.__name__}.lsh_index")
    return module.LSHIndex(lsh, n_items, d, batch_size=32, n_threads=1,
                           rng=np.random.default_rng(0))


def stored_buckets(index):
    """Each table's bucket of every item, ``[n_items, L]`` (from the compact tables)."""
    tab = index.tables
    out = np.full((tab.n_items, tab.L), -1, dtype=np.int64)
    sizes = tab.bucket_sizes()
    for t in range(tab.L):
        bucket_of = np.repeat(np.arange(tab.n_buckets), sizes[t])
        out[tab.members[tab.offsets[t, 0]:tab.offsets[t, -1]], t] = bucket_of
    return out


# ----------------------------------------------------------------------------- centred rows
def test_centred_tables_hold_the_rows_minus_their_mean(backend, rng):
    W = shared_direction_rows(rng, n=500)
    index = make_index(backend, 500, 32, center=True, bucket_capacity=0)
    index.build(W)
    mean = W.mean(axis=0, dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(stored_buckets(index), index.buckets(W - mean))
    plain = make_index(backend, 500, 32, bucket_capacity=0)
    plain.build(W)
    assert not np.array_equal(stored_buckets(plain), stored_buckets(index))


def test_centring_follows_the_rows_at_every_rehash(backend, rng):
    W = shared_direction_rows(rng, n=400)
    index = make_index(backend, 400, 32, center=True, bucket_capacity=0, rehash_every=32)
    index.build(W)
    W2 = shared_direction_rows(np.random.default_rng(9), n=400)
    W[:] = W2
    index.after_step(0, W)          # the schedule rehashes after every batch of 32
    mean = W2.mean(axis=0, dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(stored_buckets(index), index.buckets(W2 - mean))


def test_centring_raises_top_recall_on_rows_with_a_shared_direction(rng):
    W = shared_direction_rows(rng)
    Q = rng.standard_normal((200, 32)).astype(np.float32)
    best = np.argsort(-(Q @ W.T), axis=1)[:, :20]
    no_labels = (np.zeros(len(Q) + 1, np.int64), np.empty(0, np.int32))
    recall = {}
    for center in (False, True):
        # equal candidate budgets: the 150 classes most tables return
        index = make_index(slide_fast, len(W), 32, center=center, K=8, L=16,
                           bucket_capacity=0, selection="topk", selection_param=150,
                           max_active=None)
        index.build(W)
        indptr, ids = index.select(Q, no_labels, 0, 0, pad=False)
        recall[center] = np.mean([np.isin(best[i], ids[indptr[i]:indptr[i + 1]]).mean()
                                  for i in range(len(Q))])
    # uncentred, every row sits near the shared direction and the tables mostly sort
    # rows by their length along it
    assert recall[True] > 2 * recall[False], recall


def test_centred_selection_equal_ref_fast(rng):
    W = shared_direction_rows(rng, n=300)
    Q = W[:6] + 0.01
    forced = (np.arange(7, dtype=np.int64), np.arange(6, dtype=np.int32) + 100)
    sets = []
    for backend in (slide_ref, slide_fast):
        index = make_index(backend, 300, 32, center=True, min_active=10, fill_below=20)
        index.build(W)
        sets.append(index.select(Q, forced, 7, 3))
    for a, b in zip(*sets):
        np.testing.assert_array_equal(a, b)


def test_center_is_checked_and_saved_with_the_settings(backend):
    with pytest.raises(ValueError, match="center"):
        backend.lsh.LSHParams(center="yes").validate()
    params = backend.lsh.LSHParams(center=True)
    assert backend.lsh.LSHParams(**params.get_params()).center is True
    assert backend.lsh.LSHParams().center is False      # older settings load unchanged


# ----------------------------------------------------------------------------- choose_KL
def test_candidate_probability_closed_form(backend):
    P = backend.lsh.candidate_probability
    assert P(0.3, 1, 1) == pytest.approx(0.3)
    assert P(0.7, 5, 1) == pytest.approx(0.7**5)
    assert P(0.2, 1, 9) == pytest.approx(1 - 0.8**9)
    assert P(0.5, 30, 2) == pytest.approx(1 - (1 - 0.5**30) ** 2, rel=1e-12)
    np.testing.assert_allclose(P(np.array([0.0, 1.0]), 3, 4), [0.0, 1.0])


def test_choose_KL_is_the_best_pair_within_the_budget(backend):
    n, budget, p_near, p_far = 5000, 120, 0.85, 0.5
    K, L = backend.lsh.choose_KL(n, budget, p_near=p_near, p_far=p_far, max_K=20, max_L=40)

    def P(p, k, l):
        return 1 - (1 - p**k) ** l
    assert n * P(p_far, K, L) <= budget
    for k, l in itertools.product(range(1, 21), range(1, 41)):
        if n * P(p_far, k, l) <= budget:
            assert P(p_near, k, l) <= P(p_near, K, L) + 1e-12, (k, l)
    # a larger budget never retrieves less
    K2, L2 = backend.lsh.choose_KL(n, 4 * budget, p_near=p_near, p_far=p_far, max_K=20,
                                   max_L=40)
    assert P(p_near, K2, L2) >= P(p_near, K, L)


def test_choose_KL_candidates_match_the_budget_on_unrelated_rows():
    """Random Gaussian rows in 256 dimensions are near-orthogonal (p_far ~ 0.5): the chosen
    tables return about the expected number of candidates, within the budget."""
    rng = np.random.default_rng(1)
    n, budget, d = 4000, 100, 256
    K, L = slide_fast.lsh.choose_KL(n, budget, max_K=16, max_L=32)
    expected = n * slide_fast.lsh.candidate_probability(0.5, K, L)
    items = rng.standard_normal((n, d)).astype(np.float32)
    queries = rng.standard_normal((300, d)).astype(np.float32)
    found = []
    for seed in range(3):
        fam = slide_fast.lsh.SimHash(d, K=K, L=L, ratio=1, random_state=seed)
        tables = slide_fast.lsh.LSHTables(fam, range_pow=K, capacity=0).build(items)
        found.append(np.diff(tables.query(queries).indptr).mean())
    assert expected <= budget
    assert abs(np.mean(found) - expected) <= 0.25 * expected, (np.mean(found), expected)


def test_choose_KL_bad_input(backend):
    choose = backend.lsh.choose_KL
    with pytest.raises(ValueError, match="budget"):
        choose(100, 0)
    with pytest.raises(TypeError, match="n_items"):
        choose("100", 5)
    with pytest.raises(ValueError, match="p_near"):
        choose(100, 5, p_near=0.5, p_far=0.5)
    with pytest.raises(ValueError, match="p_near"):
        choose(100, 5, p_near=1.0)
    with pytest.raises(ValueError, match="max_K"):
        choose(10**6, 0.001, max_K=2, max_L=1)


# ----------------------------------------------------------------------------- LSHBlockSampler
def block_sampler(backend, W, **kw):
    params = dict(n_negatives=5, table_negatives=3, hard_negatives=0, random_state=0,
                  lsh={"hash_family": "simhash", "hash_params": {"ratio": 1}, "K": 8, "L": 8,
                       "center": True})
    params.update(kw)
    s = backend.negative.LSHBlockSampler(**params)
    s.setup(W, batch_size=4, n_threads=1, rng=np.random.default_rng(0))
    return s


def test_block_holds_each_samples_best_table_hits(backend, rng):
    W = rng.standard_normal((400, 24)).astype(np.float32)
    s = block_sampler(backend, W)
    H = W[[10, 200, 399]]                  # each query is a class row: it hits itself in
    labels = (np.array([0, 1, 1, 2], np.int64), np.array([7, 8], np.int32))   # every table
    rows, adjust = s.sample_block(labels, 0, True, H=H[:3], W=W)
    assert adjust is None
    assert {7, 8, 10, 200, 399} <= set(rows.tolist())
    plain, _ = s.sample_block(labels, 0, True)          # without queries: the uniform block
    assert set(plain.tolist()) < set(rows.tolist())
    assert np.all(np.diff(rows) > 0)
    assert len(rows) <= len(plain) + 3 * 3


def test_block_sampler_equal_ref_fast_and_state_round_trip(rng):
    W = rng.standard_normal((300, 16)).astype(np.float32)
    H = rng.standard_normal((8, 16)).astype(np.float32)
    labels = (np.arange(9, dtype=np.int64), rng.integers(0, 300, 8).astype(np.int32))
    ref, fast = block_sampler(slide_ref, W), block_sampler(slide_fast, W)
    for step in range(3):
        np.testing.assert_array_equal(fast.sample_block(labels, step, True, H=H)[0],
                                      ref.sample_block(labels, step, True, H=H)[0])
    state = fast.get_state()
    assert "tables.members" in state and "seed" in state
    back = block_sampler(slide_ref, W, random_state=5)
    back.load_state(state)
    np.testing.assert_array_equal(back.sample_block(labels, 1, True, H=H)[0],
                                  fast.sample_block(labels, 1, True, H=H)[0])
    bad = dict(state, **{"tables.members": state["tables.members"] + 10**6})
    with pytest.raises(StateError, match="tables.members"):
        back.load_state(bad)


def test_block_sampler_trains_equal_ref_fast(simd_level):
    X, Y = slide_ref.datasets.make_xc(256, 120, 300, labels_per_sample=2, random_state=3)
    nets = []
    for backend in (slide_ref, slide_fast):
        s = backend.negative.LSHBlockSampler(20, table_negatives=4, hard_negatives=2,
                                             lsh={"K": 4, "L": 6, "hash_family": "simhash",
                                                  "center": True, "rehash_every": 64})
        net = backend.SlideNetwork(120, 300, hidden=(16,), output_sampler=s, random_state=0,
                                   n_threads=1, optimizer="catchup_adam")
        assert isinstance(net.layers[-1], backend.layers.BlockOutputLayer)
        losses = [net.train_batch(X[i:i + 64], Y[i:i + 64]) for i in range(0, 256, 64)]
        nets.append((net, losses))
    (a, la), (b, lb) = nets
    np.testing.assert_allclose(la, lb, rtol=1e-4)
    np.testing.assert_array_equal(a.sampler_.index_.tables.members,
                                  b.sampler_.index_.tables.members)
    for x, y in zip(a.layers, b.layers):
        assert_allclose_f32(y.W, x.W, rtol=1e-3, atol=1e-5)


def test_block_sampler_learns_and_the_model_file_loads(tmp_path):
    X, Y = slide_ref.datasets.make_xc(256, 120, 300, labels_per_sample=2, random_state=3)
    sampler = slide_fast.negative.LSHBlockSampler(30, table_negatives=4)
    clf = slide_fast.SlideClassifier(hidden=32, sampler=sampler, lr=0.01, random_state=0,
                                     show_progress=False, batch_size=32)
    clf.fit(X, Y, epochs=6)
    assert clf.score(X, Y) > 0.3     # chance is about 2/300
    back = slide_ref.SlideClassifier.load(clf.save(tmp_path / "m.npz"))
    assert isinstance(back.network_.sampler_, slide_ref.negative.LSHBlockSampler)
    np.testing.assert_array_equal(back.network_.sampler_.index_.tables.members,
                                  clf.network_.sampler_.index_.tables.members)
    np.testing.assert_array_equal(back.predict(X[:20])[0], clf.predict(X[:20])[0])
    back.partial_fit(X[:64], Y[:64])


def test_block_sampler_bad_input(backend, rng):
    W = rng.standard_normal((50, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="table_negatives"):
        block_sampler(backend, W, table_negatives=0)
    with pytest.raises(TypeError, match="table_negatives"):
        block_sampler(backend, W, table_negatives=2.5)
    with pytest.raises(ValueError, match="lsh has unknown"):
        block_sampler(backend, W, lsh={"KK": 3})
    with pytest.raises(ValueError, match="n_negatives"):
        block_sampler(backend, W, n_negatives=51)
    with pytest.raises(TypeError):
        backend.negative.LSHBlockSampler(logq=True)   # no logQ for table hits


# ----------------------------------------------------------------------------- DWTA packing
@pytest.mark.parametrize("name", ["WTAHash", "DWTAHash"])
@pytest.mark.parametrize("bin_size", [4, 8, 13])
def test_concat_packing_equal_ref_fast_and_exact(name, bin_size, simd_level, rng):
    X = rng.standard_normal((40, 64)).astype(np.float32)
    X[rng.random(X.shape) > 0.4] = 0
    fams = [getattr(b.lsh, name)(64, K=3, L=7, bin_size=bin_size, packing="concat",
                                 random_state=2) for b in (slide_ref, slide_fast)]
    shift = fams[0].shift
    assert shift == int(np.ceil(np.log2(bin_size)))
    for inp in (X, sp.csr_matrix(X)):
        codes = fams[0].hash(inp)
        buckets = fams[0].buckets(inp, 20)
        np.testing.assert_array_equal(fams[1].buckets(inp, 20), buckets)
        # exact: the bucket id is the codes written in base 2**shift
        c = codes.reshape(len(X), 7, 3).astype(np.int64)
        np.testing.assert_array_equal(buckets, (c[..., 0] << 2 * shift) + (c[..., 1] << shift)
                                      + c[..., 2])


def test_concat_index_sizes_its_tables_for_every_bucket_id(backend):
    index = make_index(backend, 50, 16, hash_family="dwta",
                       hash_params={"packing": "concat", "bin_size": 8}, K=4, L=3)
    assert index.tables.range_pow == 12          # 4 codes of 3 bits


def test_lns_embedding_preset_hashes_centred_rows(backend):
    from slide_ref.classifier import preset_components
    sampler, _ = preset_components("lns_embedding", backend.negative)
    assert sampler.lsh.hash_family == "simhash" and sampler.lsh.center is True
    # the closed-form choice for the 5% cap of the union at L=50, whatever the classes
    n = 100_000
    assert backend.lsh.choose_KL(n, 0.05 * n, p_near=0.59, p_far=0.5, max_L=50) == (
        sampler.lsh.K, sampler.lsh.L)
    given = backend.lsh.LSHParams(hash_family="simhash")
    assert preset_components("lns_embedding", backend.negative, lsh=given)[0].lsh is given
