"""Hash families and LSH tables: definitions, ref/fast equivalence at every SIMD level,
statistics against closed forms, and bad input."""
import importlib

import numpy as np
import pytest
import scipy.sparse as sp

import slide_fast
import slide_ref

FAMILIES = ["WTAHash", "DWTAHash", "SimHash", "DensifiedMinHash", "PStableHash"]


def make_family(backend, name, d, K=3, L=5, seed=0, **kw):
    return getattr(backend.lsh, name)(d, K=K, L=L, random_state=seed, **kw)


def sparse_inputs(rng, n=120, d=37, density=0.3):
    X = rng.standard_normal((n, d)).astype(np.float32)
    X[rng.random((n, d)) > density] = 0
    X[3] = 0                         # an empty row: every bin is empty
    X[4, :] = 0
    X[4, 5] = 1.0                    # a single coordinate
    X[7, :6] = 2.5                   # ties
    return X


def input_variants(X):
    """The same rows as float32/float64 dense and CSR with int32/int64 indices."""
    S = sp.csr_matrix(X)
    S64 = sp.csr_matrix((S.data.astype(np.float64), S.indices.astype(np.int64),
                         S.indptr.astype(np.int64)), shape=S.shape)
    return {"dense32": X, "dense64": X.astype(np.float64), "csr32": S, "csr64": S64}


# ----------------------------------------------------------------------------- equivalence
@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("K,L", [(3, 5), (1, 1), (4, 7), (2, 13)])
def test_codes_and_buckets_equal_ref_fast(name, K, L, simd_level, rng):
    # K*L = 15, 1, 28, 26 covers SIMD tails (not multiples of 8 or 16)
    X = sparse_inputs(rng)
    ref = make_family(slide_ref, name, X.shape[1], K, L)
    fast = make_family(slide_fast, name, X.shape[1], K, L)
    for kind, inp in input_variants(X).items():
        codes = ref.hash(inp)
        np.testing.assert_array_equal(fast.hash(inp, n_threads=2), codes, err_msg=kind)
        for range_pow in (3, 12, 30):
            np.testing.assert_array_equal(fast.pack(codes, range_pow), ref.pack(codes, range_pow))
            np.testing.assert_array_equal(fast.buckets(inp, range_pow), ref.pack(codes, range_pow))


@pytest.mark.parametrize("name", ["WTAHash", "DWTAHash", "SimHash", "PStableHash"])
def test_dense_simd_paths_wide_rows(name, simd_level, rng):
    # wider rows and 300 hashes exercise the vector loops themselves, not just tails
    X = rng.standard_normal((64, 200)).astype(np.float32)
    ref = make_family(slide_ref, name, 200, K=6, L=50)
    fast = make_family(slide_fast, name, 200, K=6, L=50)
    np.testing.assert_array_equal(fast.hash(X), ref.hash(X))


@pytest.mark.parametrize("capacity,policy", [(0, "fifo"), (3, "fifo"), (3, "reservoir"),
                                             (1, "reservoir"), (128, "fifo")])
def test_tables_equal_ref_fast(capacity, policy, rng):
    X = rng.standard_normal((400, 16)).astype(np.float32)
    tabs = {}
    for mod in (slide_ref, slide_fast):
        fam = make_family(mod, "DWTAHash", 16, K=2, L=6, seed=4)
        tabs[mod] = mod.lsh.LSHTables(fam, range_pow=5, capacity=capacity, policy=policy,
                                      random_state=9).build(X, n_threads=2)
    ref, fast = tabs[slide_ref], tabs[slide_fast]
    np.testing.assert_array_equal(fast.offsets, ref.offsets)
    np.testing.assert_array_equal(fast.members, ref.members)
    qr, qf = ref.query(X[:60]), fast.query(X[:60], n_threads=2)
    np.testing.assert_array_equal(qf.indptr, qr.indptr)
    np.testing.assert_array_equal(qf.indices, qr.indices)
    np.testing.assert_array_equal(qf.data, qr.data)


def test_threads_do_not_change_results(rng):
    X = sparse_inputs(rng, n=500)
    fam = make_family(slide_fast, "DWTAHash", X.shape[1], K=4, L=8)
    for inp in input_variants(X).values():
        np.testing.assert_array_equal(fam.hash(inp, n_threads=1), fam.hash(inp, n_threads=2))


# ----------------------------------------------------------------------------- definitions
def test_wta_matches_brute_force(backend, rng):
    X = rng.standard_normal((20, 11)).astype(np.float32)
    X[0, :] = 1.0                                  # all tied: position 0 wins
    fam = make_family(backend, "WTAHash", 11, K=3, L=4, bin_size=5)
    codes = fam.hash(X)
    for r in range(len(X)):
        expected = [int(np.argmax(X[r, fam.slots[i]])) for i in range(fam.n_hashes)]
        assert codes[r].tolist() == expected
    assert (codes[0] == 0).all()
    # every coordinate appears once per permutation
    assert np.bincount(fam.slots.ravel(), minlength=11).min() >= 1


def test_dwta_sparse_uses_listed_coordinates_only(backend, rng):
    d = 40
    fam = make_family(backend, "DWTAHash", d, K=4, L=10, bin_size=4)
    x = np.zeros(d, dtype=np.float32)
    x[[3, 17, 29]] = [-1.0, 0.5, 2.0]              # negative value: zeros must not win
    codes = fam.hash(sp.csr_matrix(x[None]))[0]
    listed = {3, 17, 29}
    for i in range(fam.n_hashes):
        members = [c for c in fam.slots[i] if c in listed]
        if members:                                  # a non-empty bin: argmax over listed only
            best = max(members, key=lambda c: x[c])
            assert codes[i] == list(fam.slots[i]).index(best)
    # dense input lists every coordinate, so it equals WTA
    wta = make_family(backend, "WTAHash", d, K=4, L=10, bin_size=4)
    np.testing.assert_array_equal(fam.hash(x[None]), wta.hash(x[None]))


def test_densification_failure_is_defined(backend):
    fam = make_family(backend, "DWTAHash", 30, K=3, L=5)
    empty = sp.csr_matrix((2, 30), dtype=np.float32)
    codes = fam.hash(empty)
    assert (codes == 0).all()
    buckets = fam.pack(codes, 10)
    assert buckets.min() >= 0 and buckets.max() < 2**10


def test_densified_bins_copy_a_nonempty_bin(backend):
    fam = make_family(backend, "DWTAHash", 1000, K=4, L=8)
    x = sp.csr_matrix(([1.0, 2.0], ([0, 0], [10, 500])), shape=(1, 1000), dtype=np.float32)
    codes = fam.hash(x)[0]
    assert codes.min() >= 0 and codes.max() < fam.bin_size


def test_simhash_bits_are_signs_of_projections(backend, rng):
    X = rng.standard_normal((30, 25))
    fam = make_family(backend, "SimHash", 25, K=4, L=3)
    codes = fam.hash(X)
    proj = np.array([[np.dot(fam.sign[h], X[r, fam.idx[h]]) for h in range(12)]
                     for r in range(30)])
    np.testing.assert_array_equal(codes, (proj < 0).astype(np.int32))
    assert fam.idx.shape[1] == 9                     # ceil(25 / 3) coordinates per function


def test_pstable_codes_match_formula(backend, rng):
    X = rng.standard_normal((30, 10))
    fam = make_family(backend, "PStableHash", 10, K=2, L=3, width=0.7)
    expected = np.floor((X @ fam.A + fam.offset) / 0.7).astype(np.int32)
    np.testing.assert_array_equal(fam.hash(X), expected)


def test_pack_formulas(backend, rng):
    fam = make_family(backend, "DWTAHash", 50, K=3, L=2, bin_size=8, packing="concat")
    codes = rng.integers(0, 8, size=(10, 6)).astype(np.int32)
    b = fam.pack(codes, 12)
    expected = codes[:, 0::3] * 64 + codes[:, 1::3] * 8 + codes[:, 2::3]
    np.testing.assert_array_equal(b, expected)
    slide = make_family(backend, "DWTAHash", 50, K=3, L=2, bin_size=8, packing="slide")
    assert slide.shift == 2                           # floor(ln 8), SLIDE's overlapping shift
    expected = codes[:, 0::3] * 16 + codes[:, 1::3] * 4 + codes[:, 2::3]
    np.testing.assert_array_equal(slide.pack(codes, 12), expected)
    np.testing.assert_array_equal(slide.pack(codes, 3), expected & 7)


def test_minhash_collision_rate_estimates_jaccard():
    # two sets with Jaccard 1/3: |A & B| = 20, |A | B| = 60
    d = 500
    a = np.zeros(d, np.float32)
    b = np.zeros(d, np.float32)
    a[0:40] = 1
    b[20:60] = 1
    X = sp.csr_matrix(np.stack([a, b]))
    rates = []
    for seed in range(30):
        fam = slide_fast.lsh.DensifiedMinHash(d, K=1, L=64, topk=100, random_state=seed)
        codes = fam.hash(X)
        rates.append((codes[0] == codes[1]).mean())
    assert abs(np.mean(rates) - 1 / 3) < 0.05
    same = slide_fast.lsh.DensifiedMinHash(d, K=1, L=64, random_state=0).hash(
        sp.csr_matrix(np.stack([a, a])))
    np.testing.assert_array_equal(same[0], same[1])


def _angle_pair(rng, d, theta):
    q = rng.standard_normal(d)
    q /= np.linalg.norm(q)
    u = rng.standard_normal(d)
    u -= u.dot(q) * q
    u /= np.linalg.norm(u)
    return q, np.cos(theta) * q + np.sin(theta) * u


def test_simhash_retrieval_probability_matches_closed_form():
    """P[item retrieved] = 1 - (1 - p^K)^L with p = 1 - theta/pi, over independent seeds."""
    rng = np.random.default_rng(7)
    d, K, L, n_seeds = 512, 4, 3, 1500
    thetas = np.array([0.15, 0.4, 0.7, 1.0, 1.4, 2.0])
    pairs = [_angle_pair(rng, d, t) for t in thetas]
    queries = np.stack([q for q, _ in pairs])
    items = np.stack([x for _, x in pairs])
    hits = np.zeros(len(thetas))
    for seed in range(n_seeds):
        fam = slide_fast.lsh.SimHash(d, K=K, L=L, ratio=1, random_state=seed)
        tables = slide_fast.lsh.LSHTables(fam, range_pow=K, capacity=0).build(items)
        found = tables.query(queries)
        hits += found.toarray()[np.arange(len(thetas)), np.arange(len(thetas))] > 0
    empirical = hits / n_seeds
    p = 1 - thetas / np.pi
    expected = 1 - (1 - p**K) ** L
    band = 4 * np.sqrt(expected * (1 - expected) / n_seeds) + 0.01
    assert np.all(np.abs(empirical - expected) <= band), (empirical, expected)


# ----------------------------------------------------------------------------- tables
def test_fifo_keeps_last_arrivals_and_counts(backend):
    fam = make_family(backend, "SimHash", 4, K=1, L=2)
    tables = backend.lsh.LSHTables(fam, range_pow=2, capacity=3, policy="fifo")
    buckets = np.zeros((10, 2), dtype=np.int32)
    buckets[8:, 1] = 1
    tables.build_from_buckets(buckets)
    assert tables.members[tables.offsets[0, 0]:tables.offsets[0, 1]].tolist() == [7, 8, 9]
    assert tables.members[tables.offsets[1, 0]:tables.offsets[1, 1]].tolist() == [5, 6, 7]
    q = tables.query_buckets(np.array([[0, 0], [0, 1]], dtype=np.int32)).toarray()
    assert q[0].tolist() == [0] * 5 + [1, 1, 2, 1, 1]
    assert q[1].tolist() == [0] * 7 + [1, 2, 2]
    assert tables.bucket_sizes()[0].tolist() == [3, 0, 0, 0]


def test_reservoir_keeps_each_arrival_with_probability_capacity_over_count(backend):
    fam = make_family(backend, "SimHash", 4, K=1, L=50)
    buckets = np.zeros((10, 50), dtype=np.int32)          # 10 arrivals into one bucket
    kept = np.zeros(10)
    for seed in range(8):
        t = backend.lsh.LSHTables(fam, range_pow=1, capacity=3, policy="reservoir",
                                  random_state=seed).build_from_buckets(buckets)
        for l in range(50):
            members = t.members[t.offsets[l, 0]:t.offsets[l, 1]]
            assert len(set(members.tolist())) == 3
            kept[members] += 1
    rate = kept / (8 * 50)
    # 400 trials per item, p = 0.3: 4 standard deviations is 0.092
    assert np.all(np.abs(rate - 0.3) < 0.092), rate


def test_tables_memory_is_compact(backend, rng):
    X = rng.standard_normal((2000, 8)).astype(np.float32)
    fam = make_family(backend, "DWTAHash", 8, K=6, L=4)
    t = backend.lsh.LSHTables(fam, range_pow=12, capacity=128).build(X)
    assert t.nbytes <= 4 * 4 * (2**12 + 1 + 2000)
    assert t.nbytes < 4 * 2**12 * 128                        # a dense table would need this
    assert t.members.size <= 4 * 2000


def test_rebuild_draws_new_functions_rehash_keeps_them(backend, rng):
    X = rng.standard_normal((50, 8)).astype(np.float32)
    fam = make_family(backend, "DWTAHash", 8, K=2, L=3)
    t = backend.lsh.LSHTables(fam, range_pow=6).build(X)
    slots = fam.slots.copy()
    t.rehash(X * 2)
    np.testing.assert_array_equal(fam.slots, slots)
    t.rebuild(X)
    assert not np.array_equal(fam.slots, slots)
    assert t.n_builds == 3


def test_query_item_finds_itself_in_every_table(backend, rng):
    X = rng.standard_normal((100, 16)).astype(np.float32)
    fam = make_family(backend, "DWTAHash", 16, K=3, L=6)
    q = backend.lsh.LSHTables(fam, range_pow=9, capacity=0).build(X).query(X)
    assert np.all(q.diagonal() == 6)


# ----------------------------------------------------------------------------- state
@pytest.mark.parametrize("name", FAMILIES)
def test_state_round_trip_across_backends(name, rng):
    X = sparse_inputs(rng)
    ref = make_family(slide_ref, name, X.shape[1], seed=3)
    fast = slide_fast.lsh.hash_family_from_state(ref.get_state())
    assert type(fast) is getattr(slide_fast.lsh, name)
    np.testing.assert_array_equal(fast.hash(X), ref.hash(X))
    back = slide_ref.lsh.hash_family_from_state(fast.get_state())
    np.testing.assert_array_equal(back.hash(sp.csr_matrix(X)), ref.hash(sp.csr_matrix(X)))


def test_same_seed_same_functions_different_seed_different(backend):
    a = make_family(backend, "SimHash", 20, seed=1)
    b = make_family(backend, "SimHash", 20, seed=1)
    c = make_family(backend, "SimHash", 20, seed=2)
    np.testing.assert_array_equal(a.idx, b.idx)
    assert not np.array_equal(a.sign, c.sign)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", FAMILIES)
def test_bad_inputs_raise_clear_errors(backend, name):
    fam = make_family(backend, name, 6)
    good = np.ones((2, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="NaN"):
        fam.hash(np.full((2, 6), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        fam.hash(sp.csr_matrix(np.array([[np.inf, 0, 0, 0, 0, 1.0]])))
    with pytest.raises(ValueError, match="features"):
        fam.hash(np.ones((2, 5)))
    with pytest.raises(ValueError, match="2-D"):
        fam.hash(np.ones(6))
    with pytest.raises(TypeError):
        fam.hash("not an array")
    with pytest.raises(TypeError):
        fam.hash(np.array([["a"] * 6]))
    with pytest.raises(TypeError):
        fam.hash(np.ones((2, 6), dtype=complex))
    assert fam.hash(np.ones((0, 6))).shape == (0, fam.n_hashes)
    codes = fam.hash(good)
    with pytest.raises(ValueError, match="range_pow"):
        fam.pack(codes, 31)
    with pytest.raises(ValueError, match="shape"):
        fam.pack(codes[:, :-1], 10)
    with pytest.raises(TypeError):
        fam.pack(codes.astype(float), 10)


def test_bad_parameters(backend):
    lsh = backend.lsh
    with pytest.raises(ValueError, match="K"):
        lsh.DWTAHash(10, K=0)
    with pytest.raises(TypeError, match="L"):
        lsh.DWTAHash(10, L=2.5)
    with pytest.raises(ValueError, match="n_features"):
        lsh.SimHash(0)
    with pytest.raises(ValueError, match="packing"):
        lsh.DWTAHash(10, packing="log")
    with pytest.raises(ValueError, match="width"):
        lsh.PStableHash(10, width=0)
    with pytest.raises(ValueError, match="random_state"):
        lsh.SimHash(10, random_state=-1)
    with pytest.raises(TypeError, match="random_state"):
        lsh.SimHash(10, random_state="seed")
    fam = lsh.SimHash(10, K=2, L=3)
    with pytest.raises(TypeError, match="family"):
        lsh.LSHTables("dwta")
    with pytest.raises(ValueError, match="policy"):
        lsh.LSHTables(fam, policy="lru")
    with pytest.raises(ValueError, match="capacity"):
        lsh.LSHTables(fam, capacity=-1)
    t = lsh.LSHTables(fam, range_pow=4)
    with pytest.raises(RuntimeError, match="build"):
        t.query(np.ones((1, 10)))
    with pytest.raises(ValueError, match="bucket ids"):
        t.build_from_buckets(np.full((3, 3), 16, dtype=np.int32))
    with pytest.raises(ValueError, match="shape"):
        t.build_from_buckets(np.zeros((3, 2), dtype=np.int32))
    with pytest.raises(ValueError, match="no rows"):
        t.build(np.ones((0, 10)))
    with pytest.raises(ValueError, match="features"):
        t.build(np.ones((4, 9)))
    with pytest.raises(ValueError, match="state"):
        lsh.DWTAHash.from_state(fam.get_state())


def test_integer_and_readonly_inputs_are_accepted(backend, rng):
    X = rng.integers(-3, 4, size=(10, 8))
    fam = make_family(backend, "DWTAHash", 8)
    ro = X.astype(np.float32)
    ro.setflags(write=False)
    np.testing.assert_array_equal(fam.hash(X), fam.hash(ro))
    S = sp.csr_matrix(ro)
    S.data.setflags(write=False)
    fam.hash(S)


def test_simhash_gather_path_equals_reference(simd_level, rng, monkeypatch):
    # large inputs project by gathering per function instead of a dense sign matrix
    from slide_fast._kernels import hashing
    monkeypatch.setattr(hashing, "DENSE_SIGNS_MAX", 0)
    X = sparse_inputs(rng, n=50, d=61)
    ref = make_family(slide_ref, "SimHash", 61, K=5, L=7)
    fast = make_family(slide_fast, "SimHash", 61, K=5, L=7)
    for kind, inp in input_variants(X).items():
        np.testing.assert_array_equal(fast.hash(inp), ref.hash(inp), err_msg=kind)


@pytest.mark.parametrize("ratio", [1, 3])
def test_simhash_gemm_path_equals_row_sums(backend, ratio, rng):
    """Many rows (a rehash) go through a float64 GEMM: the same codes as the row kernel."""
    X = rng.standard_normal((backend.lsh.SimHash.GEMM_ROWS + 17, 40)).astype(np.float32)
    fam = backend.lsh.SimHash(40, K=5, L=7, ratio=ratio, random_state=1)
    rows = fam._kernels.hashing.simhash_dense(X, fam.idx, fam.sign, 2)
    np.testing.assert_array_equal(fam.hash(X), rows)
    fam.redraw()      # a new projection is used after a redraw
    np.testing.assert_array_equal(fam.hash(X), fam._kernels.hashing.simhash_dense(X, fam.idx,
                                                                          fam.sign, 2))


# ----------------------------------------------------------------------------- LSH index
def _index(backend, n_items=200, d=16, **params):
    lsh = backend.network.LSHParams(K=3, L=6, min_active=10, fill_below=20, **params)
    module = importlib.import_module(f"{backend.__name__}.lsh_index")
    return module.LSHIndex(lsh, n_items, d, batch_size=32, n_threads=1,
                                      rng=np.random.default_rng(0))


def test_lsh_index_selects_the_same_in_both_backends(rng):
    W = rng.standard_normal((200, 16)).astype(np.float32)
    Q = W[:5] + 0.01
    forced = (np.arange(6, dtype=np.int64), np.arange(5, dtype=np.int32) + 100)
    sets = []
    for backend in (slide_ref, slide_fast):
        index = _index(backend)
        index.build(W)
        sets.append(index.select(Q, forced, 7, 3))
    for a, b in zip(*sets):
        np.testing.assert_array_equal(a, b)
    indptr, ids = sets[0]
    for i in range(5):      # its own row, the forced id, and padding up to min_active
        row = ids[indptr[i]:indptr[i + 1]]
        assert {i, 100 + i} <= set(row.tolist()) and len(row) >= 10


def test_lsh_index_state_round_trip_and_schedule_check(rng):
    W = rng.standard_normal((200, 16)).astype(np.float32)
    index = _index(slide_ref, table_schedule="exponential", schedule_first=2)
    index.build(W)
    for step in range(12):
        index.after_step(step, W)
    state = index.get_state()
    other = _index(slide_fast, table_schedule="exponential", schedule_first=2)
    other.load_state(state, step=12)
    for name, value in other.get_state().items():
        np.testing.assert_array_equal(value, state[name], err_msg=name)
    bad = dict(state, schedule=state["schedule"] + np.array([1, 0, 0]))
    with pytest.raises(slide_ref._validation.StateError, match="idx.schedule: next rehash"):
        other.load_state(bad, prefix="idx.", step=12)
    with pytest.raises(slide_ref._validation.StateError, match="cannot happen"):
        other.load_state(state, step=1)


# ----------------------------------------------------------------------------- coverage
def _simhash_tables(backend, policy, n_items=20000, K=6, L=8, **kw):
    """SimHash tables of ``n_items`` random rows: 2**K buckets of capacity 128 overflow."""
    W = np.random.default_rng(5).standard_normal((n_items, 16)).astype(np.float32)
    fam = make_family(backend, "SimHash", 16, K=K, L=L, seed=3)
    return backend.lsh.LSHTables(fam, range_pow=K, random_state=4, policy=policy,
                                 **kw).build(W, n_threads=2)


def test_default_policy_stores_low_ids_of_overflowing_simhash_tables(backend):
    tables = _simhash_tables(backend, policy="reservoir")
    assert backend.lsh.LSHTables(tables.family).policy == "reservoir"   # the default
    stored = np.zeros(tables.n_items, dtype=bool)
    stored[tables.members] = True
    cov = tables.coverage()
    # each table keeps at most 64 * 128 = 8192 of the 20k rows (~0.4); over 8 tables
    # a uniform sample stores all but ~(1 - 0.4)**8 ~ 2% of them, low ids included
    assert cov["per_table"] <= 8192 / 20000
    assert cov["stored"] > 0.95
    assert stored[:1000].mean() > 0.95
    assert cov["stored"] == pytest.approx(stored.mean())


def test_fifo_policy_in_id_order_leaves_low_ids_out(backend):
    # SLIDE's rule, kept as an option: the coverage report exposes its bias
    tables = _simhash_tables(backend, policy="fifo")
    stored = np.zeros(tables.n_items, dtype=bool)
    stored[tables.members] = True
    # the small buckets that never overflow keep some low ids; the big ones keep none
    assert stored[:1000].mean() < 0.5
    assert stored[-1000:].all()
    assert tables.coverage()["stored"] < 0.85


def test_coverage_without_overflow_is_complete(backend):
    tables = _simhash_tables(backend, policy="fifo", n_items=500, capacity=0)
    assert tables.coverage() == {"stored": 1.0, "per_table": 1.0}


def test_coverage_of_empty_tables_raises(backend):
    fam = make_family(backend, "SimHash", 4)
    with pytest.raises(RuntimeError, match="build"):
        backend.lsh.LSHTables(fam).coverage()


@pytest.mark.parametrize("policy", ["fifo", "reservoir"])
def test_overflowing_tables_equal_ref_fast(policy):
    ref = _simhash_tables(slide_ref, policy, n_items=5000, L=4)
    fast = _simhash_tables(slide_fast, policy, n_items=5000, L=4)
    np.testing.assert_array_equal(fast.offsets, ref.offsets)
    np.testing.assert_array_equal(fast.members, ref.members)
    assert fast.coverage() == ref.coverage()


@pytest.mark.parametrize("policy,low_ids_stored", [("reservoir", True), ("fifo", False)])
def test_sampler_retrieval_stats_report_table_coverage(backend, policy, low_ids_stored):
    """An LSHSampler over 20k SimHash classes (K=6: 64 buckets of 128 per table): the
    retrieval report carries the tables' coverage, near 1 with the default policy."""
    W = np.random.default_rng(5).standard_normal((20000, 16)).astype(np.float32)
    lsh = backend.lsh.LSHParams(hash_family="simhash", K=6, L=8, bucket_policy=policy,
                                min_active=20, fill_below=30)
    sampler = backend.negative.LSHSampler(lsh=lsh)
    sampler.setup(W, batch_size=8, n_threads=2, rng=np.random.default_rng(0))
    stats = sampler.retrieval_stats(W[:8], W, np.zeros(20000, np.float32))
    cov = sampler.index_.tables.coverage()
    assert stats["coverage"] == cov["stored"] and stats["table_fill"] == cov["per_table"]
    assert (stats["coverage"] > 0.95) == low_ids_stored
    assert stats["table_fill"] <= 8192 / 20000
