"""The SLIDE engine: ref/fast equivalence of every kernel and of whole training steps,
gradients against finite differences, selection semantics, state round trips, bad input."""
import numpy as np
import pytest
import scipy.sparse as sp

import slide_fast
import slide_ref
from slide_fast._kernels import active as fast_active
from slide_fast._kernels import network as fast_nn
from slide_ref._kernels import active as ref_active
from slide_ref._kernels import network as ref_nn

from conftest import assert_allclose_f32
from slide_ref._validation import StateError
from slide_ref.layers import BatchContext


@pytest.fixture(scope="module")
def data():
    X, Y = slide_ref.datasets.make_xc(256, 120, 60, labels_per_sample=2, random_state=3)
    return X, Y


LSH_KEYS = set(slide_ref.lsh.LSHParams().get_params())


def net_params(**kw):
    """Network parameters of the tests; LSH settings among ``kw`` go into ``lsh``."""
    lsh = dict(K=3, L=6, min_active=20, fill_below=30, rehash_every=128 * 2)
    lsh.update({k: v for k, v in kw.items() if k in LSH_KEYS})
    base = dict(hidden=(24,), lsh=slide_ref.lsh.LSHParams(**lsh), random_state=0, n_threads=1)
    base.update({k: v for k, v in kw.items() if k not in LSH_KEYS})
    return base


def lsh_indexes(net):
    """Every LSH index of a network: its sampled hidden layers', then the output sampler's."""
    found = [layer.index for layer in net.layers if hasattr(layer, "index")]
    return found + ([net.sampler_.index_] if hasattr(net.sampler_, "index_") else [])


def labels_of(Y):
    return Y.indptr.astype(np.int64), Y.indices.astype(np.int32)


def forward(net, X, labels, training=True, step=0):
    """One forward pass through the layers: ``(ctx, activations, per-layer records)``."""
    ctx = BatchContext(labels, step, training, seed=0, n_threads=1)
    acts, records, A = [], [], X
    for layer in net.layers:
        A, record = layer.forward(A, ctx)
        acts.append(A)
        records.append(record)
    return ctx, acts, records


# ----------------------------------------------------------------------------- kernels
def _pairs(rng, B, n_out, per):
    ids = [np.sort(rng.choice(n_out, size=per, replace=False)) for _ in range(B)]
    indptr = np.arange(B + 1, dtype=np.int64) * per
    return indptr, np.concatenate(ids).astype(np.int32)


def test_forward_backward_kernels_equal(simd_level, rng):
    B, n_in, n_out = 9, 37, 53
    A = np.maximum(rng.standard_normal((B, n_in)), 0).astype(np.float32)
    W_oi = rng.standard_normal((n_out, n_in)).astype(np.float32)
    W_io = np.ascontiguousarray(W_oi.T)
    b = rng.standard_normal(n_out).astype(np.float32)
    indptr, ids = _pairs(rng, B, n_out, 11)
    for relu in (False, True):
        assert_allclose_f32(fast_nn.sampled_forward(A, W_oi, b, indptr, ids, relu, 2),
                            ref_nn.sampled_forward(A, W_oi, b, indptr, ids, relu))
        assert_allclose_f32(fast_nn.dense_forward(A, W_io, b, relu, 2),
                            ref_nn.dense_forward(A, W_io, b, relu))
    X = sp.random(B, n_in, density=0.2, format="csr", dtype=np.float32, random_state=1)
    assert_allclose_f32(fast_nn.dense_forward_csr(X.indptr, X.indices, X.data, W_io, b, True, 2),
                        ref_nn.dense_forward_csr(X.indptr, X.indices, X.data, W_io, b, True))
    delta = rng.standard_normal(len(ids)).astype(np.float32)
    grads = []
    for nn in (ref_nn, fast_nn):
        gW, gb = np.zeros_like(W_oi), np.zeros_like(b)
        dA = nn.sampled_backward(A, W_oi, indptr, ids, delta, gW, gb, True, True, 2)
        grads.append((gW, gb, dA))
    for r, f in zip(*grads):
        assert_allclose_f32(f, r)
    D = rng.standard_normal((B, n_out)).astype(np.float32)
    grads = []
    for nn in (ref_nn, fast_nn):
        gW, gb = np.ones_like(W_io), np.zeros_like(b)          # accumulates onto ones
        dA = nn.dense_backward(A, W_io, D, gW, gb, True, True, 2)
        g1, g1b = np.zeros((n_in, n_out), np.float32), np.zeros(n_out, np.float32)
        nn.dense_backward_csr(X.indptr, X.indices, X.data, D, g1, g1b, 2)
        grads.append((gW, gb, dA, g1, g1b))
    for r, f in zip(*grads):
        assert_allclose_f32(f, r, rtol=1e-4, atol=1e-5)


def test_dense_gemm_kernels_on_blocked_shapes(simd_level, rng):
    # n_in > 256 and n_out > 256 pack B in several K blocks (forward, gW, dA);
    # 19 rows and 1100 columns leave edge tiles of every kind
    B, n_in, n_out = 19, 300, 1100
    A = np.maximum(rng.standard_normal((B, n_in)), 0).astype(np.float32)
    W = (0.1 * rng.standard_normal((n_in, n_out))).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    assert_allclose_f32(fast_nn.dense_forward(A, W, b, True, 2),
                        ref_nn.dense_forward(A, W, b, True), rtol=1e-4, atol=1e-4)
    D = rng.standard_normal((B, n_out)).astype(np.float32)
    out = []
    for nn in (ref_nn, fast_nn):
        gW, gb = np.ones_like(W), np.zeros_like(b)
        out.append((nn.dense_backward(A, W, D, gW, gb, True, True, 2), gW, gb))
    for r, f in zip(*out):
        assert_allclose_f32(f, r, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("N", [40, 10, 67])     # full vectors and tails of 8 and 16 lanes
def test_softmax_kernels_equal(rng, simd_level, N):
    B = 7
    Z = (3 * rng.standard_normal((B, N))).astype(np.float32)
    lab_indptr = np.array([0, 1, 3, 3, 4, 6, 7, 8], dtype=np.int64)   # sample 2 has no label
    lab_ids = np.array([3, 0, N - 1, 5, 1, 2, 7, 9], dtype=np.int32)
    w = rng.random(B)
    dr, lr = ref_nn.softmax_xent_dense(Z, lab_indptr, lab_ids, w, 0.5)
    df, lf = fast_nn.softmax_xent_dense(Z, lab_indptr, lab_ids, w, 0.5, 2)
    assert_allclose_f32(df, dr)
    np.testing.assert_allclose(lf, lr, rtol=1e-5)
    indptr = np.arange(B + 1, dtype=np.int64) * N
    ids = np.tile(np.arange(N, dtype=np.int32), B)
    pr, plr = ref_nn.softmax_xent_pairs(Z.ravel(), indptr, ids, lab_indptr, lab_ids, w, 0.5)
    pf, plf = fast_nn.softmax_xent_pairs(Z.ravel(), indptr, ids, lab_indptr, lab_ids, w, 0.5, 2)
    assert_allclose_f32(pf, pr)
    np.testing.assert_allclose(plf, plr, rtol=1e-5)
    # the pairs version over all outputs is the full softmax
    assert_allclose_f32(pr.reshape(B, N), dr)
    np.testing.assert_allclose(plr, lr, rtol=1e-6)


def test_softmax_gradient_matches_finite_differences(rng):
    z = rng.standard_normal(6)
    labels = [1, 4]
    lab_indptr, lab_ids = np.array([0, 2]), np.array(labels, dtype=np.int32)

    def loss(v):
        _, l = ref_nn.softmax_xent_dense(v[None].astype(np.float64), lab_indptr, lab_ids,
                                         np.ones(1), 1.0)
        return l[0]
    delta, _ = ref_nn.softmax_xent_dense(z[None].astype(np.float32), lab_indptr, lab_ids,
                                         np.ones(1), 1.0)
    num = np.array([(loss(z + h) - loss(z - h)) / 2e-5 for h in np.eye(6) * 1e-5])
    np.testing.assert_allclose(delta[0], num, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("rows", [None, "some"])
def test_optimizer_kernels_bitwise_equal(simd_level, rng, rows):
    shape = (13, 37)
    sel = None if rows is None else np.array([0, 4, 12], dtype=np.int32)
    results = []
    for nn in (ref_nn, fast_nn):
        r = np.random.default_rng(0)
        W = r.standard_normal(shape).astype(np.float32)
        g = r.standard_normal(shape).astype(np.float32)
        m = r.standard_normal(shape).astype(np.float32)
        v = r.random(shape).astype(np.float32)
        nn.adam_step(W, g, m, v, sel, 1e-3, 0.9, 0.999, 1e-8, 2)
        W2, g2 = W.copy(), r.standard_normal(shape).astype(np.float32)
        nn.sgd_step(W2, g2, sel, 0.1, 2)
        results.append((W, g, m, v, W2, g2))
    for r, f in zip(*results):
        np.testing.assert_array_equal(f, r)
    if sel is not None:
        untouched = np.setdiff1d(np.arange(13), sel)
        assert np.all(results[0][1][sel] == 0) and np.all(results[0][1][untouched] != 0)


@pytest.mark.parametrize("method,param", [(ref_active.UNION, 0), (ref_active.THRESHOLD, 2),
                                          (ref_active.TOPK, 5), (ref_active.TOPK, 500)])
def test_select_active_equal(method, param, rng):
    B, N, L = 12, 300, 8
    fam = slide_fast.lsh.DWTAHash(16, K=2, L=L, random_state=0)
    items = rng.standard_normal((N, 16)).astype(np.float32)
    tables = slide_fast.lsh.LSHTables(fam, range_pow=6).build(items)
    q = tables.query(rng.standard_normal((B, 16)).astype(np.float32))
    cand = (q.indptr.astype(np.int64), q.indices.astype(np.int32), q.data.astype(np.int32))
    lab_indptr = np.arange(B + 1, dtype=np.int64)
    lab_ids = rng.integers(0, N, B).astype(np.int32)
    perm = rng.permutation(N).astype(np.int32)
    for min_active, fill_below in [(0, 0), (60, 80), (400, 500)]:
        r = ref_active.select_active(*cand, lab_indptr, lab_ids, N, method, param, min_active,
                                     fill_below, perm, 7, 3)
        f = fast_active.select_active(*cand, lab_indptr, lab_ids, N, method, param, min_active,
                                      fill_below, perm, 7, 3, 2)
        np.testing.assert_array_equal(f[0], r[0])
        np.testing.assert_array_equal(f[1], r[1])
        for i in range(B):                       # sorted, distinct, labels included
            ids = r[1][r[0][i]:r[0][i + 1]]
            assert np.all(np.diff(ids) > 0) and lab_ids[i] in ids
            if min_active and len(np.unique(q.indices[q.indptr[i]:q.indptr[i + 1]])) < fill_below:
                assert len(ids) >= min(min_active, N)
    r = ref_active.select_vanilla(fam.buckets(items[:B], 6), tables.offsets, tables.members,
                                  lab_indptr, lab_ids, N, 15, 20, 25, perm, 7, 3)
    f = fast_active.select_vanilla(fam.buckets(items[:B], 6), tables.offsets, tables.members,
                                   lab_indptr, lab_ids, N, 15, 20, 25, perm, 7, 3, 2)
    np.testing.assert_array_equal(f[0], r[0])
    np.testing.assert_array_equal(f[1], r[1])


def test_padding_differs_across_samples_and_steps():
    # SLIDE reseeded with time(NULL): samples within a second shared negatives
    N = 1000
    perm = np.random.default_rng(0).permutation(N).astype(np.int32)
    empty_ptr = np.zeros(5, dtype=np.int64)
    none = np.empty(0, np.int32)
    a = ref_active.select_active(empty_ptr, none, none, empty_ptr, none, N, 0, 0, 10, 20, perm,
                                 1, 0)
    b = ref_active.select_active(empty_ptr, none, none, empty_ptr, none, N, 0, 0, 10, 20, perm,
                                 1, 1)
    sets = [tuple(a[1][a[0][i]:a[0][i + 1]]) for i in range(4)]
    assert len(set(sets)) == 4
    assert not np.array_equal(a[1], b[1])


@pytest.mark.parametrize("n_values,size", [(1, 0), (7, 30), (1000, 5), (100_000, 128_000)])
def test_unique_ids_equal(n_values, size, rng):
    ids = rng.integers(0, n_values, size=size).astype(np.int32)
    r = ref_active.unique_ids(ids, n_values)
    np.testing.assert_array_equal(r, np.unique(ids))
    for _ in range(2):           # twice: the marks must be left cleared
        f = fast_active.unique_ids(ids, n_values, 2)
        assert f.dtype == np.int32
        np.testing.assert_array_equal(f, r)


def test_unique_ids_rejects_out_of_range():
    for backend in (ref_active, fast_active):
        for bad in ([0, 5], [-1]):
            with pytest.raises(ValueError, match="outside"):
                backend.unique_ids(np.array(bad, np.int32), 5)
    # a rejected call leaves no marks behind
    np.testing.assert_array_equal(fast_active.unique_ids(np.array([3, 1], np.int32), 5), [1, 3])


# ----------------------------------------------------------------------------- training steps
@pytest.mark.parametrize("optimizer", ["adam", "lazy_adam", "catchup_adam", "sgd"])
@pytest.mark.parametrize("sampled", [(False, True), (False, False), (False, True, True)])
def test_training_steps_equal_ref_fast(data, optimizer, sampled, simd_level):
    X, Y = data
    hidden = (24,) if len(sampled) == 2 else (24, 40)
    kw = net_params(optimizer=optimizer, sampled=sampled, hidden=hidden)
    ref = slide_ref.network.SlideNetwork(120, 60, **kw)
    fast = slide_fast.network.SlideNetwork(120, 60, **kw)
    for start in range(0, 256, 64):              # 4 steps, one rehash on the way
        lr_ = ref.train_batch(X[start:start + 64], Y[start:start + 64])
        lf = fast.train_batch(X[start:start + 64], Y[start:start + 64])
        assert abs(lr_ - lf) < 1e-5 * max(1, abs(lr_))
    for a, b in zip(ref.layers, fast.layers):
        assert_allclose_f32(b.W, a.W, rtol=1e-4, atol=1e-6)
        assert_allclose_f32(b.b, a.b, rtol=1e-4, atol=1e-6)
    indexes = [lsh_indexes(net) for net in (ref, fast)]
    assert len(indexes[0]) == sum(sampled)
    for a, b in zip(*indexes):
        np.testing.assert_array_equal(b.tables.members, a.tables.members)


def test_active_sets_of_a_step_equal(data):
    X, Y = data
    nets = [m.network.SlideNetwork(120, 60, **net_params()) for m in (slide_ref, slide_fast)]
    Xb = X[:32].astype(np.float32)
    sets = [forward(net, Xb, labels_of(Y[:32]))[2][-1] for net in nets]
    np.testing.assert_array_equal(sets[0].indptr, sets[1].indptr)
    np.testing.assert_array_equal(sets[0].ids, sets[1].ids)


def test_network_gradients_match_finite_differences(data):
    """Full-softmax network: the accumulated gradient equals d(mean loss)/dW numerically."""
    X, Y = data
    net = slide_ref.network.SlideNetwork(120, 60, hidden=(8,), sampled=(False, False),
                                         optimizer="sgd", init_std=0.3, random_state=1)
    Xc, labels, w = X[:16].astype(np.float32), labels_of(Y[:16]), np.ones(16)

    def mean_loss():
        acts = forward(net, Xc, labels)[1]
        _, loss = ref_nn.softmax_xent_dense(acts[-1].astype(np.float64), *labels, w, 1.0)
        return loss.mean()
    ctx, acts, records = forward(net, Xc, labels)
    delta, _ = net.layers[-1].loss(acts[-1], records[-1], labels, w, 1.0 / 16, 1)
    inputs = [Xc] + acts[:-1]
    for i in (1, 0):        # the output layer, then the input layer
        delta = net.layers[i].backward(inputs[i], records[i], delta, i > 0, ctx)
    rng = np.random.default_rng(0)
    for layer in net.layers:
        W64 = layer.W.astype(np.float64)
        for _ in range(6):
            idx = tuple(rng.integers(0, s) for s in layer.W.shape)
            h = 1e-3
            old = layer.W[idx]
            layer.W[idx] = old + h
            up = mean_loss()
            layer.W[idx] = old - h
            down = mean_loss()
            layer.W[idx] = old
            num = (up - down) / (2 * h)
            assert abs(layer.gW[idx] - num) <= 2e-3 * max(1e-3, abs(num)) + 2e-5, (idx, num)
        del W64


def test_threads_give_identical_training(data):
    X, Y = data
    nets = [slide_fast.network.SlideNetwork(120, 60, **net_params(n_threads=n)) for n in (1, 2)]
    for start in range(0, 256, 64):
        for net in nets:
            net.train_batch(X[start:start + 64], Y[start:start + 64])
    for a, b in zip(*[n.layers for n in nets]):
        np.testing.assert_array_equal(a.W, b.W)


# ----------------------------------------------------------------------------- state
def test_state_round_trip_across_backends(data):
    X, Y = data
    ref = slide_ref.network.SlideNetwork(120, 60, **net_params())
    ref.train_batch(X[:64], Y[:64])
    params, arrays = ref.get_state()
    fast = slide_fast.network.SlideNetwork.from_state(params, arrays)
    np.testing.assert_allclose(fast.output_scores(X[64:80]), ref.output_scores(X[64:80]),
                               rtol=1e-5, atol=1e-6)
    lr_, lf = ref.train_batch(X[64:128], Y[64:128]), fast.train_batch(X[64:128], Y[64:128])
    assert abs(lr_ - lf) < 1e-5
    assert fast.step_ == ref.step_ == 2


# ----------------------------------------------------------------------------- schedule
def test_fixed_schedule_matches_slide_code():
    sched = slide_ref.network.TableSchedule(128, rehash_every=6400, rebuild_every=128000)
    due = [sched.due(t) for t in range(2200)]
    rehash = [t for t, (r, _) in enumerate(due) if r]
    rebuild = [t for t, (_, b) in enumerate(due) if b]
    assert rehash[:3] == [49, 99, 149]
    assert rebuild == [49, 1049, 2049]


def test_exponential_schedule_grows():
    sched = slide_ref.network.TableSchedule(128, rebuild_every=0, kind="exponential",
                                            first_period=10, growth=0.5)
    times = [t for t in range(2000) if sched.due(t)[0]]
    gaps = np.diff(times)
    assert times[0] == 9 and np.all(np.diff(gaps) >= 0) and gaps[-1] > 5 * gaps[0]


# ----------------------------------------------------------------------------- bad input
def test_bad_input(backend, data):
    X, Y = data
    net = backend.network.SlideNetwork(120, 60, **net_params())
    with pytest.raises(ValueError, match="features"):
        net.train_batch(X[:4, :100], Y[:4])
    with pytest.raises(ValueError, match="outside"):
        net.train_batch(X[:2], [[0], [60]])
    with pytest.raises(ValueError, match="rows"):
        net.train_batch(X[:3], [[0], [1]])
    with pytest.raises(ValueError, match="NaN"):
        bad = X[:2].copy()
        bad.data[0] = np.nan
        net.train_batch(bad, Y[:2])
    with pytest.raises(ValueError, match="no rows"):
        net.train_batch(X[:0], Y[:0])
    with pytest.raises(ValueError, match="sample_weight"):
        net.train_batch(X[:2], Y[:2], sample_weight=[1.0, -1.0])
    with pytest.raises(TypeError):
        net.train_batch(X[:2], np.zeros((2, 60)))
    with pytest.raises(ValueError, match="layer 0"):
        backend.network.SlideNetwork(10, 5, sampled=(True, True))
    with pytest.raises(ValueError, match="sampled"):
        backend.network.SlideNetwork(10, 5, sampled=(False,))
    with pytest.raises(ValueError, match="selection"):
        backend.network.SlideNetwork(10, 5, lsh=dict(selection="magic"))
    with pytest.raises(TypeError, match="lsh"):
        backend.network.SlideNetwork(10, 5, lsh="dwta")
    with pytest.raises(ValueError, match="k"):
        net.predict_topk(X[:2], k=0)
    params, arrays = net.get_state()
    arrays = dict(arrays)
    arrays["layer1.W"] = arrays["layer1.W"][:3]
    with pytest.raises(ValueError, match="shape"):
        backend.network.SlideNetwork.from_state(params, arrays)


# ----------------------------------------------------------------------------- components
FAST_MODULES = ("network", "negative", "lsh", "lsh_index", "layers", "optimizers", "numerics",
                "classifier")


@pytest.mark.parametrize("module", FAST_MODULES)
def test_every_class_is_bound_to_its_backend_kernels(module):
    """One kernel handle per class: a fast class that fell back to NumPy would fail here."""
    import importlib
    for pkg in (slide_ref, slide_fast):
        mod = importlib.import_module(f"{pkg.__name__}.{module}")
        classes = [c for c in vars(mod).values() if isinstance(c, type) and "_kernels" in dir(c)
                   and c.__module__.startswith(pkg.__name__)]
        assert classes, module
        for cls in classes:
            assert cls._kernels is pkg._kernels, (pkg.__name__, cls)
            assert cls._kernels.network.dense_forward.__module__.startswith(pkg.__name__)


def test_components_of_a_network_are_of_its_backend(data):
    net = slide_fast.network.SlideNetwork(120, 60, **net_params(sampled=(False, True, True),
                                                                hidden=(24, 40)))
    parts = [net.numerics, net.sampler_, net.sampler_.index_] + [
        p for layer in net.layers for p in (layer, layer.optimizer)] + [net.layers[1].index]
    for part in parts:
        assert type(part).__module__.startswith("slide_fast."), type(part)
        assert part._kernels is slide_fast._kernels


def test_layer_kinds_follow_the_configuration():
    kinds = slide_ref.layers
    net = slide_ref.network.SlideNetwork(50, 40, **net_params(sampled=(False, True, False),
                                                              hidden=(24, 16)))
    assert [type(x) for x in net.layers] == [kinds.InputLayer, kinds.SampledHiddenLayer,
                                             kinds.DenseLayer]
    block = slide_ref.negative.UniformSampler(10, shared=True, batch_labels=True)
    net = slide_ref.network.SlideNetwork(50, 40, **net_params(output_sampler=block))
    assert type(net.layers[-1]) is kinds.BlockOutputLayer
    assert type(slide_ref.network.SlideNetwork(50, 40, **net_params()).layers[-1]) is \
        kinds.SampledOutputLayer


def test_optimizer_objects_step_arrays_without_a_network(rng):
    """The optimizers act on arrays and row ids: lazy Adam moves only the given rows, and
    catch-up Adam applied later lands where dense Adam went."""
    opt = slide_ref.optimizers
    W0 = rng.standard_normal((6, 3)).astype(np.float32)
    g = rng.standard_normal((6, 3)).astype(np.float32)

    def param(W):
        return opt.Param(W, g.copy(), np.zeros_like(W), np.zeros_like(W))
    dense, lazy = param(W0.copy()), param(W0.copy())
    rows = np.array([1, 4], np.int32)
    opt.Adam(lr=0.1).step(dense, rows, 1, 1)
    opt.LazyAdam(lr=0.1).step(lazy, rows, 1, 1)
    assert not np.array_equal(dense.value[0], W0[0])
    np.testing.assert_array_equal(lazy.value[[0, 2, 3, 5]], W0[[0, 2, 3, 5]])
    np.testing.assert_array_equal(lazy.value[rows], dense.value[rows])
    # catch-up: rows stepped at t=1, untouched at t=2..3, read at t=4
    catch, ref = param(W0.copy()), param(W0.copy())
    last = np.zeros(6, np.int64)
    cu, adam = opt.CatchUpAdam(lr=0.1), opt.Adam(lr=0.1)
    cu.step(catch, None, 1, 1)
    cu.mark_stepped(np.arange(6, dtype=np.int32), last, 1)
    adam.step(ref, None, 1, 1)
    for t in (2, 3):
        adam.step(ref, None, t, 1)      # zero gradients: momentum only
    cu.before_read([catch], np.arange(6, dtype=np.int32), last, 4, 1)
    assert_allclose_f32(catch.value, ref.value, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(last, 3)


@pytest.mark.parametrize("name", ["adam", "lazy_adam", "lazy_input_adam", "catchup_adam", "sgd"])
def test_make_optimizer_by_layer_role(name):
    opt = slide_ref.optimizers
    roles = {r: opt.make_optimizer(name, r) for r in ("input", "dense", "sampled")}
    lazy = {"adam": (False, False, False), "lazy_adam": (True, True, True),
            "lazy_input_adam": (True, False, False), "catchup_adam": (True, False, True),
            "sgd": (True, True, True)}[name]
    assert tuple(roles[r].lazy for r in ("input", "dense", "sampled")) == lazy
    assert roles["sampled"].tracks_rows == (name == "catchup_adam")
    with pytest.raises(ValueError, match="optimizer"):
        opt.make_optimizer("adagrad", "dense")


def test_lsh_params_validated_and_selection_resolved():
    P = slide_ref.lsh.LSHParams
    assert P().selection_for(1000, output=True) == ("vanilla", 50)     # auto: 5% cap
    assert P().selection_for(1000) == ("union", 0)                     # hidden: no cap
    assert P(selection="threshold").selection_for(1000, output=True) == ("threshold", 2)
    assert P(selection="topk", selection_param=7).selection_for(10, output=True) == ("topk", 7)
    assert P(max_active=30).selection_for(1000, several_queries=True) == ("topk", 30)
    assert P(max_active=None).selection_for(1000, output=True) == ("union", 0)
    for bad, match in [(dict(K=0), "K"), (dict(selection="topk", max_active=5), "max_active"),
                       (dict(hash_family="lsh"), "hash_family"), (dict(max_active=2.5), "max")]:
        with pytest.raises((TypeError, ValueError), match=match):
            P(**bad).validate()
    assert slide_ref.lsh.hash_family_class("srp") is slide_ref.lsh.SimHash
    assert slide_ref.lsh.hash_family_class("dwta", slide_fast.lsh) is slide_fast.lsh.DWTAHash


# ----------------------------------------------------------------------------- selections
@pytest.mark.parametrize("selection", ["union", "threshold", "topk", "vanilla"])
def test_every_selection_trains_in_both_backends(data, selection):
    X, Y = data
    losses = []
    for backend in (slide_ref, slide_fast):
        net = backend.network.SlideNetwork(120, 60, **net_params(
            selection=selection, selection_param=1 if selection == "threshold" else None,
            sampled=(False, True, True), hidden=(24, 40)))
        losses.append([net.train_batch(X[i:i + 64], Y[i:i + 64]) for i in range(0, 192, 64)])
    assert np.isfinite(losses).all()
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


# ----------------------------------------------------------------------------- non-finite
@pytest.mark.parametrize("case", ["sample_weight", "lr"])
def test_non_finite_training_raises_the_same_in_both_backends(data, case):
    X, Y = data
    steps = []
    for backend in (slide_ref, slide_fast):
        net = backend.network.SlideNetwork(120, 60, **net_params(
            lr=1e30 if case == "lr" else 1e-3))
        w = np.full(64, 1e30 if case == "sample_weight" else 1.0)
        with pytest.raises(FloatingPointError, match="step .*lr.*sample_weight") as info:
            with np.errstate(all="ignore"):
                for i in range(0, 256, 64):
                    net.train_batch(X[i:i + 64], Y[i:i + 64], w)
        steps.append(str(info.value).split(":")[0])
    assert steps[0] == steps[1]


# ----------------------------------------------------------------------------- state checks
def _state(sampled=(False, True, True), **kw):
    net = slide_ref.network.SlideNetwork(120, 60, **net_params(sampled=sampled,
                                                               hidden=(24, 40), **kw))
    return net.get_state()


def _tampered(key, change):
    params, arrays = _state()
    arrays = dict(arrays)
    arrays[key] = change(np.array(arrays[key]))
    return params, arrays


@pytest.mark.parametrize("key,change,field,match", [
    ("layer1.fill_perm", lambda a: np.where(a == 0, 1, a), "layer1.fill_perm", "permutation"),
    ("sampler.fill_perm", lambda a: a + 1, "sampler.fill_perm", "permutation"),
    ("layer1.tables.offsets", lambda a: a[:, ::-1].copy(), "layer1.tables.offsets", "monotone"),
    ("sampler.tables.members", lambda a: a + 60, "sampler.tables.members", "outside"),
    ("layer1.family.slots", lambda a: a + 10**6, "layer1.family.slots", "outside"),
    ("layer1.schedule", lambda a: np.array([a[0], -2**62, a[2]]), "layer1.schedule", "rehash"),
    ("layer0.W", lambda a: np.where(a > 1, np.nan, a), "layer0.W", "non-finite"),
    ("layer2.vW", lambda a: a - 1, "layer2.vW", "moment"),
    ("layer2.b", lambda a: a.astype(np.complex64), "layer2.b", "dtype"),
    ("step", lambda a: a - 5, "step", "non-negative"),
    ("sampler.seed", lambda a: np.array(["x"]), "sampler.seed", "integer"),
])
def test_from_state_checks_every_component(key, change, field, match):
    params, arrays = _tampered(key, change)
    for backend in (slide_ref, slide_fast):
        with pytest.raises(StateError, match=match) as info:
            backend.network.SlideNetwork.from_state(params, arrays, source="m.npz")
        assert info.value.source == "m.npz" and info.value.field == field
        assert str(info.value).startswith(f"m.npz: {field}: ")


def test_from_state_checks_catchup_steps_and_split_halves():
    params, arrays = _state(optimizer="catchup_adam")
    arrays = dict(arrays, **{"layer0.last": arrays["layer0.last"] + 3})
    with pytest.raises(StateError, match="layer0.last: steps outside"):
        slide_ref.network.SlideNetwork.from_state(params, arrays)
    params, arrays = _state(bf16=2)
    arrays = dict(arrays, **{"layer0.W_lo": arrays["layer0.W_lo"].astype(np.int64) + 2**16})
    with pytest.raises(StateError, match="layer0.W_lo"):
        slide_ref.network.SlideNetwork.from_state(params, arrays)


def test_state_round_trip_of_every_component(data):
    X, Y = data
    for kw in (dict(sampled=(False, True, True), hidden=(24, 40), optimizer="catchup_adam"),
               dict(output_sampler=slide_ref.negative.UniformSampler(
                   10, shared=True, batch_labels=True, hard_negatives=2))):
        net = slide_ref.network.SlideNetwork(120, 60, **net_params(**kw))
        net.train_batch(X[:64], Y[:64])
        params, arrays = net.get_state()
        back = slide_fast.network.SlideNetwork.from_state(params, arrays)
        for name, value in back.get_state()[1].items():
            np.testing.assert_array_equal(value, arrays[name], err_msg=name)


def test_states_with_flat_lsh_settings_still_load(data):
    """Models saved before LSHParams: flat K, L, ... and the output sampler's index arrays
    under the output layer's name."""
    X, Y = data
    net = slide_ref.network.SlideNetwork(120, 60, **net_params())
    net.train_batch(X[:64], Y[:64])
    params, arrays = net.get_state()
    old_params = {k: v for k, v in params.items() if k != "lsh"}
    old_params.update({k: v for k, v in params["lsh"].items() if k != "max_active"})
    old_arrays = {("layer1." + k[len("sampler."):]
                   if k.startswith("sampler.") and k != "sampler.seed" else k): v
                  for k, v in arrays.items()}
    assert "layer1.tables.offsets" in old_arrays
    for backend in (slide_ref, slide_fast):
        back = backend.network.SlideNetwork.from_state(old_params, old_arrays)
        assert back.lsh.K == 3
        for name, value in back.get_state()[1].items():
            np.testing.assert_array_equal(value, arrays[name], err_msg=name)
