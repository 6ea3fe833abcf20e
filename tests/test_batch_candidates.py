"""Batch-shared candidate sets (``batch_labels=True``): the block kernels at every SIMD level
against the reference, the sampler's set, the block path against the exact softmax, whole
training steps ref vs fast, the ``lazy_input_adam`` and ``catchup_adam`` optimizers,
learning, bad input."""
import numpy as np
import pytest

import slide_fast
import slide_ref
from slide_fast._kernels import negative as fast_neg
from slide_fast._kernels import network as fast_nn
from slide_ref._kernels import negative as ref_neg
from slide_ref._kernels import network as ref_nn

from conftest import assert_allclose_f32
from slide_ref._validation import StateError


@pytest.fixture(scope="module")
def data():
    X, Y = slide_ref.datasets.make_xc(256, 120, 300, labels_per_sample=2, random_state=3)
    return X, Y


def labels_of(Y):
    return Y.indptr.astype(np.int64), Y.indices.astype(np.int32)


def batch_net(backend, n_negatives=25, n_outputs=300, sampler="uniform", hard_negatives=0,
              **kw):
    neg = backend.negative
    common = dict(shared=True, batch_labels=True, hard_negatives=hard_negatives)
    if sampler == "uniform":
        s = neg.UniformSampler(n_negatives, **common)
    else:
        s = neg.LogUniformSampler(n_negatives, logq=True, **common)
    params = dict(hidden=(16,), output_sampler=s, random_state=0, n_threads=1)
    params.update(kw)
    return backend.SlideNetwork(120, n_outputs, **params)


# ----------------------------------------------------------------------------- kernels
# d = 300 and C = 300 pack the GEMMs' B operand in two K blocks
@pytest.mark.parametrize("B,d,C,N", [(1, 1, 1, 3), (7, 13, 37, 100), (64, 70, 17, 17),
                                     (5, 300, 70, 200), (33, 128, 300, 1000)])
@pytest.mark.parametrize("relu_input", [False, True])
def test_block_kernels_equal(simd_level, rng, B, d, C, N, relu_input):
    A = rng.standard_normal((B, d)).astype(np.float32)
    if relu_input:
        A = np.maximum(A, 0)
    W = rng.standard_normal((N, d)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    rows = np.sort(rng.choice(N, C, replace=False)).astype(np.int32)
    assert_allclose_f32(fast_nn.block_forward(A, W, rows, b, 2),
                        ref_nn.block_forward(A, W, rows, b), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ref_nn.block_forward(A, W, rows, b),
                               A.astype(np.float64) @ W[rows].T.astype(np.float64) + b[rows],
                               rtol=1e-4, atol=1e-4)
    delta = rng.standard_normal((B, C)).astype(np.float32)
    gW0 = rng.standard_normal((N, d)).astype(np.float32)     # gradients accumulate
    gb0 = rng.standard_normal(N).astype(np.float32)
    out = []
    for nn in (ref_nn, fast_nn):
        gW, gb = gW0.copy(), gb0.copy()
        dA = nn.block_backward(A, W, rows, delta, gW, gb, relu_input, True, 2)
        out.append((gW, gb, dA))
    (gW_r, gb_r, dA_r), (gW_f, gb_f, dA_f) = out
    assert_allclose_f32(gW_f, gW_r, rtol=1e-4, atol=1e-4)
    assert_allclose_f32(gb_f, gb_r, rtol=1e-4, atol=1e-4)
    assert_allclose_f32(dA_f, dA_r, rtol=1e-4, atol=1e-4)
    untouched = np.setdiff1d(np.arange(N), rows)
    np.testing.assert_array_equal(gW_f[untouched], gW0[untouched])
    if relu_input:
        assert np.all(dA_f[A <= 0] == 0)
    assert fast_nn.block_backward(A, W, rows, delta, gW0.copy(), gb0.copy(), relu_input,
                                  False, 1) is None


@pytest.mark.parametrize("n_threads", [1, 2])
def test_block_backward_adam_equals_backward_then_adam(rng, simd_level, n_threads):
    """The fused kernel = block_backward into a zero gradient, then lazy Adam on the rows:
    bit for bit in the fast backend; dA comes from the weights before the step."""
    B, d, C, N = 21, 37, 130, 400
    A = np.maximum(rng.standard_normal((B, d)), 0).astype(np.float32)
    W, m = rng.standard_normal((2, N, d)).astype(np.float32)
    v = rng.random((N, d)).astype(np.float32)
    gb0 = rng.standard_normal(N).astype(np.float32)
    rows = np.sort(rng.choice(N, C, replace=False)).astype(np.int32)
    delta = rng.standard_normal((B, C)).astype(np.float32)
    args = (1e-3, 0.9, 0.999, 1e-8)
    want = [W.copy(), m.copy(), v.copy(), gb0.copy()]
    g = np.zeros_like(W)
    dA_want = fast_nn.block_backward(A, want[0], rows, delta, g, want[3], True, True, n_threads)
    fast_nn.adam_step(want[0], g, want[1], want[2], rows, *args, n_threads)
    for nn in (ref_nn, fast_nn):
        got = [W.copy(), m.copy(), v.copy(), gb0.copy()]
        dA = nn.block_backward_adam(A, got[0], rows, delta, got[1], got[2], got[3], *args,
                                    True, True, n_threads)
        check = np.testing.assert_array_equal if nn is fast_nn else (
            lambda a, b: assert_allclose_f32(a, b, rtol=1e-4, atol=1e-6))
        check(dA, dA_want)
        for a, b in zip(got, want):
            check(a, b)
    untouched = np.setdiff1d(np.arange(N), rows)
    np.testing.assert_array_equal(want[0][untouched], W[untouched])
    assert not np.array_equal(want[0][rows], W[rows])
    with pytest.raises(ValueError, match="block_backward_adam: m or v"):
        fast_nn.block_backward_adam(A, W, rows, delta, m[:5].copy(), v, gb0, *args, True, True)
    with pytest.raises(ValueError, match="block_backward_adam: a row id"):
        fast_nn.block_backward_adam(A, W, rows + N, delta, m, v, gb0, *args, True, True)


def test_block_kernels_reject_bad_shapes(rng):
    W = rng.standard_normal((10, 4)).astype(np.float32)
    b, A = np.zeros(10, np.float32), np.zeros((2, 4), np.float32)
    for nn in (ref_nn, fast_nn):
        with pytest.raises(ValueError, match="block_forward: a row id is outside"):
            nn.block_forward(A, W, np.array([3, 10], np.int32), b)
        with pytest.raises(ValueError, match="block_forward"):
            nn.block_forward(np.zeros((2, 5), np.float32), W, np.arange(3, dtype=np.int32), b)
        with pytest.raises(ValueError, match="block_backward"):
            nn.block_backward(A, W, np.arange(10, dtype=np.int32), np.zeros((2, 9), np.float32),
                              np.zeros_like(W), b, False, True)
        with pytest.raises(ValueError, match="block_backward: a row id is outside"):
            nn.block_backward(A, W, np.array([0, 10], np.int32), np.zeros((2, 2), np.float32),
                              np.zeros_like(W), b, False, True)
        with pytest.raises(ValueError, match="block_backward: gW"):
            nn.block_backward(A, W, np.array([0, 1], np.int32), np.zeros((2, 2), np.float32),
                              np.zeros((9, 4), np.float32), b, False, True)
    with pytest.raises(ValueError, match="adam_catchup: a row id is outside"):
        fast_nn.adam_catchup(W.copy(), W.copy(), W.copy(), np.array([-1], np.int32),
                             np.array([3]), 5, 1e-3, 0.9, 0.999, 1e-8)


@pytest.mark.parametrize("n_labels,m,N", [(0, 5, 10), (40, 30, 50), (300, 100, 100_000)])
def test_batch_candidates_equal(rng, n_labels, m, N):
    labels = rng.integers(0, N, n_labels).astype(np.int32)
    negs = rng.integers(0, N, (1, m)).astype(np.int32)
    want = np.union1d(labels, negs.ravel())
    for nn in (ref_neg, fast_neg):
        got = nn.batch_candidates(labels, negs, N, 2)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)
        with pytest.raises(ValueError, match="outside"):
            nn.batch_candidates(np.array([N], np.int32), negs, N)


def test_update_hard_negatives_by_hand():
    Z = np.array([[5, 1, 9, 3, 9, 0],       # label col 2: best others 4 (9), 0 (5), 3 (3)
                  [0, 7, 7, 2, np.nan, 1],  # labels 1, 5: ties keep the lower column
                  [1, 1, 1, 1, 1, 1],       # no label: leaves the memory alone
                  [4, 6, 2, 8, 1, 3]], np.float32)   # label col 2 again: overwrites sample 0
    rows = np.array([10, 11, 12, 13, 14, 15], np.int32)
    indptr = np.array([0, 1, 3, 3, 4], np.int64)
    cols = np.array([2, 1, 5, 2], np.int32)
    for nn in (ref_neg, fast_neg):
        memory = np.full((16, 3), -1, np.int32)
        memory[7] = [1, 2, 3]
        nn.update_hard_negatives(Z, rows, indptr, cols, memory, 2)
        np.testing.assert_array_equal(memory[12], [13, 11, 10])      # sample 3 wins
        np.testing.assert_array_equal(memory[11], [12, 13, 10])
        np.testing.assert_array_equal(memory[15], [12, 13, 10])
        np.testing.assert_array_equal(memory[7], [1, 2, 3])
        assert (memory[[10, 13, 14]] == -1).all()
        small = np.full((16, 8), -1, np.int32)          # fewer candidates than t: -1 padding
        nn.update_hard_negatives(Z[:1, :3], rows[:3], np.array([0, 1]), np.array([0], np.int32),
                                 small, 1)
        np.testing.assert_array_equal(small[10], [12, 11] + [-1] * 6)


def test_update_hard_negatives_equal(rng):
    for trial in range(60):
        B, C, t, N = rng.integers(0, 9), rng.integers(0, 100), rng.integers(1, 6), 150
        Z = rng.integers(-3, 3, (B, C)).astype(np.float32)      # many ties
        if trial % 3 == 0:
            Z[rng.random(Z.shape) < 0.1] = np.nan
        rows = np.sort(rng.choice(N, C, replace=False)).astype(np.int32)
        n_lab = np.minimum(rng.integers(0, 3, B), C)
        indptr = np.concatenate([[0], np.cumsum(n_lab)]).astype(np.int64)
        cols = np.concatenate([rng.choice(C, k, replace=False) for k in n_lab] +
                              [np.zeros(0, int)]).astype(np.int32)
        start = rng.integers(-1, N, (N, t)).astype(np.int32)
        got = []
        for nn in (ref_neg, fast_neg):
            memory = start.copy()
            nn.update_hard_negatives(Z, rows, indptr, cols, memory, 2)
            got.append(memory)
        np.testing.assert_array_equal(got[1], got[0])


def test_update_hard_negatives_rejects_bad_input():
    Z = np.zeros((2, 3), np.float32)
    rows = np.arange(3, dtype=np.int32)
    memory = np.full((5, 2), -1, np.int32)
    ok = (np.array([0, 1, 2]), np.array([0, 1], np.int32))
    for nn in (ref_neg, fast_neg):
        with pytest.raises(ValueError, match="class id"):
            nn.update_hard_negatives(Z, np.array([0, 1, 5], np.int32), *ok, memory)
        with pytest.raises(ValueError, match="label column"):
            nn.update_hard_negatives(Z, rows, ok[0], np.array([0, 3], np.int32), memory)
        with pytest.raises(ValueError, match="CSR"):
            nn.update_hard_negatives(Z, rows, np.array([0, 2, 1]), ok[1], memory)
        with pytest.raises(ValueError, match="rows has"):
            nn.update_hard_negatives(Z, rows[:2], *ok, memory)


# ----------------------------------------------------------------------------- sampler
@pytest.mark.parametrize("sampler", ["uniform", "loguniform"])
def test_sample_block_holds_every_label_and_the_shared_negatives(backend, data, sampler):
    X, Y = data
    net = batch_net(backend, sampler=sampler)
    net.sampler_.prepare(Y)
    assert isinstance(net.layers[-1], slide_ref.layers.BlockOutputLayer)
    labels = labels_of(Y[:20])
    rows, adjust = net.sampler_.sample_block(labels, 3)
    assert np.all(np.diff(rows) > 0) and rows.dtype == np.int32
    assert set(labels[1].tolist()) <= set(rows.tolist())
    # the per-sample path with the same draw gives the same negatives
    H = net.embed(X[:20].astype(np.float32))
    out = net.layers[-1]
    indptr, ids, _ = net.sampler_.sample(H, labels, out.W, out.b, 3)
    negs = ids[indptr[0] + Y[0].nnz:indptr[1]]
    assert set(negs.tolist()) <= set(rows.tolist())
    assert len(rows) == len(np.union1d(labels[1], negs))
    if sampler == "uniform":
        assert adjust is None
    else:
        assert_allclose_f32(adjust, net.sampler_.log_inclusion_[rows])


@pytest.mark.parametrize("sampler", ["unigram", "loguniform"])
def test_block_logq_is_the_log_inclusion_probability(backend, sampler):
    """A deduplicated set corrects by log(1 - (1 - q)^m) (closed form, and the frequency
    with which the draws contain each class), not by the expected count log(m q), which
    exceeds 0 for frequent classes."""
    N, m = 50, 40
    counts = np.arange(N, 0, -1, dtype=np.float64) ** 2       # a steep head
    neg = backend.negative
    params = dict(counts=counts, shared=True, batch_labels=True, logq=True)
    s = (neg.UnigramSampler(m, **params) if sampler == "unigram"
         else neg.LogUniformSampler(m, **params))
    net = backend.SlideNetwork(10, N, hidden=(4,), output_sampler=s, random_state=0,
                               n_threads=1)
    s = net.sampler_
    q = np.exp(s.log_q_.astype(np.float64)) / m
    closed = np.log1p(-(1 - q) ** m)
    np.testing.assert_allclose(s.log_inclusion_, closed, rtol=1e-5, atol=1e-6)
    # the head class: expected count m q_0 > 1 (a positive log), yet a probability <= 1
    assert s.log_q_[0] > 0.5 and np.all(s.log_inclusion_ <= 0)
    no_labels = (np.zeros(2, np.int64), np.empty(0, np.int32))
    seen = np.zeros(N)
    n_batches = 2000
    for step in range(n_batches):
        rows, adjust = s.sample_block(no_labels, step)
        np.testing.assert_allclose(adjust, s.log_inclusion_[rows])
        seen[rows] += 1
    freq = seen / n_batches
    tol = 4 * np.sqrt(np.exp(closed) * (1 - np.exp(closed)) / n_batches) + 1e-3
    assert np.all(np.abs(freq - np.exp(closed)) <= tol)


def test_hard_negatives_join_the_candidate_set(backend, data):
    X, Y = data
    net = batch_net(backend, n_negatives=5, hard_negatives=3)
    s = net.sampler_
    assert s.memory_.shape == (300, 3) and (s.memory_ == -1).all()
    labels = labels_of(Y[:4])
    rows, _ = s.sample_block(labels, 0)
    Z = np.random.default_rng(0).standard_normal((4, len(rows))).astype(np.float32)
    cols = np.searchsorted(rows, labels[1]).astype(np.int32)
    s.observe_block(Z, rows, labels[0], cols)
    remembered = s.memory_[labels[1]]
    assert (remembered >= 0).all() and set(remembered.ravel()) <= set(rows.tolist())
    plain, _ = batch_net(backend, n_negatives=5).sampler_.sample_block(labels, 1)
    rows1, _ = s.sample_block(labels, 1)        # same draw, plus the memory
    np.testing.assert_array_equal(rows1, np.union1d(plain, remembered.ravel()))
    other = labels_of(Y[100:104])               # labels without memory: no extra rows
    if not np.intersect1d(other[1], labels[1]).size:
        plain2, _ = batch_net(backend, n_negatives=5).sampler_.sample_block(other, 2)
        np.testing.assert_array_equal(s.sample_block(other, 2)[0], plain2)
    # training fills the memory; it is saved with the model and restored
    net.train_batch(X[:64], Y[:64])
    assert (s.memory_[Y[:64].indices] >= 0).any()
    params, arrays = net.get_state()
    np.testing.assert_array_equal(arrays["sampler.hard_negatives"], s.memory_)
    back = slide_ref.SlideNetwork.from_state(params, arrays)
    np.testing.assert_array_equal(back.sampler_.memory_, s.memory_)
    assert back.sampler_.hard_negatives == 3
    arrays["sampler.hard_negatives"] = s.memory_[:, :2]
    with pytest.raises(StateError, match="sampler.hard_negatives: shape"):
        slide_ref.SlideNetwork.from_state(params, arrays)


def test_block_path_with_every_class_is_the_exact_softmax(backend, data):
    """With all N classes as negatives the candidate set is every class: the block path must
    then train exactly as the dense full-softmax network (forward, softmax, backward, Adam)."""
    X, Y = data
    N = 300
    block = batch_net(backend, n_negatives=N)
    full = backend.SlideNetwork(120, N, hidden=(16,), sampled=(False, False), random_state=0,
                                n_threads=1)
    full.layers[-1].W[:] = block.layers[-1].W.T       # same starting weights
    full.layers[-1].b[:] = block.layers[-1].b
    full.layers[0].W[:] = block.layers[0].W
    full.layers[0].b[:] = block.layers[0].b
    for start in range(0, 192, 64):
        lb = block.train_batch(X[start:start + 64], Y[start:start + 64])
        lf = full.train_batch(X[start:start + 64], Y[start:start + 64])
        assert abs(lb - lf) < 1e-5 * max(1.0, abs(lf))
    assert_allclose_f32(block.layers[-1].W.T, full.layers[-1].W, rtol=1e-4, atol=1e-6)
    assert_allclose_f32(block.layers[0].W, full.layers[0].W, rtol=1e-4, atol=1e-6)
    assert_allclose_f32(block.output_scores(X[200:220]), full.output_scores(X[200:220]),
                        rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize("optimizer", ["adam", "lazy_adam", "lazy_input_adam", "catchup_adam"])
@pytest.mark.parametrize("sampler", ["uniform", "loguniform"])
def test_training_steps_equal_ref_fast(data, optimizer, sampler, simd_level):
    X, Y = data
    nets = []
    for backend in (slide_ref, slide_fast):
        net = batch_net(backend, sampler=sampler, optimizer=optimizer)
        net.sampler_.prepare(Y)
        losses = [net.train_batch(X[i:i + 64], Y[i:i + 64]) for i in range(0, 256, 64)]
        nets.append((net, losses))
    (a, la), (b, lb) = nets
    np.testing.assert_allclose(la, lb, rtol=1e-4)
    for x, y in zip(a.layers, b.layers):
        assert_allclose_f32(y.W, x.W, rtol=1e-3, atol=1e-5)
        assert_allclose_f32(y.b, x.b, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_fused_first_layer_adam_equals_backward_then_adam(rng, simd_level, n_threads):
    """dense_backward_csr_adam = dense_backward_csr into a zero gradient, then lazy Adam on
    the present features: bit for bit in the fast backend, to rounding in the reference."""
    import scipy.sparse as sp
    X = sp.random(40, 300, density=0.05, format="csr", random_state=1, dtype=np.float32)
    delta = rng.standard_normal((40, 37)).astype(np.float32)
    W, m = rng.standard_normal((2, 300, 37)).astype(np.float32)
    v = rng.random((300, 37)).astype(np.float32)
    gb0 = rng.standard_normal(37).astype(np.float32)
    args = (1e-3, 0.9, 0.999, 1e-8)
    want = [W.copy(), m.copy(), v.copy(), gb0.copy()]
    g = np.zeros_like(W)
    fast_nn.dense_backward_csr(X.indptr, X.indices, X.data, delta, g, want[3], n_threads)
    present = np.unique(X.indices).astype(np.int32)
    fast_nn.adam_step(want[0], g, want[1], want[2], present, *args, n_threads)
    for nn in (ref_nn, fast_nn):
        got = [W.copy(), m.copy(), v.copy(), gb0.copy()]
        rows = nn.dense_backward_csr_adam(X.indptr, X.indices, X.data, delta, *got, *args,
                                          n_threads)
        np.testing.assert_array_equal(rows, present)
        for a, b in zip(got, want):
            if nn is fast_nn:
                np.testing.assert_array_equal(a, b)
            else:
                assert_allclose_f32(a, b, rtol=1e-5, atol=1e-7)
    absent = np.setdiff1d(np.arange(300), present)
    assert len(absent) and np.array_equal(want[0][absent], W[absent])
    assert not np.array_equal(want[0][present], W[present])
    for nn in (ref_nn, fast_nn):
        with pytest.raises(ValueError, match="do not match"):
            nn.dense_backward_csr_adam(X.indptr, X.indices, X.data, delta, W, m[:, :5].copy(),
                                       v, gb0, *args)


def test_lazy_input_adam_is_lazy_on_layer0_and_dense_after(data):
    """After two steps (the first leaves every moment-free row in place, so all optimizers
    agree), layer 0 equals lazy Adam's and the output layer dense Adam's."""
    X, Y = data
    nets = {}
    for opt in ("adam", "lazy_adam", "lazy_input_adam"):
        net = batch_net(slide_fast, optimizer=opt)
        net.train_batch(X[:2], Y[:2])       # small batches: some features are absent
        net.train_batch(X[2:4], Y[2:4])
        nets[opt] = net
    assert len(np.setdiff1d(X[:2].indices, X[2:4].indices))     # rows only step 1 touched
    mixed = nets["lazy_input_adam"]
    np.testing.assert_array_equal(mixed.layers[0].W, nets["lazy_adam"].layers[0].W)
    np.testing.assert_array_equal(mixed.layers[1].W, nets["adam"].layers[1].W)
    # the two pure optimizers do differ on both layers, so the checks above can fail
    assert not np.array_equal(nets["adam"].layers[0].W, nets["lazy_adam"].layers[0].W)
    assert not np.array_equal(nets["adam"].layers[1].W, nets["lazy_adam"].layers[1].W)


# ----------------------------------------------------------------------------- catch-up Adam
def _trained(backend, optimizer, sampler="batch", steps=24, **kw):
    X, Y = slide_ref.datasets.make_xc(512, 120, 300, labels_per_sample=2, random_state=3)
    neg = backend.negative
    s = neg.UniformSampler(25, shared=True, batch_labels=True) if sampler == "batch" \
        else neg.UniformSampler(25)
    net = backend.SlideNetwork(120, 300, hidden=(16,), output_sampler=s, random_state=0,
                               n_threads=1, optimizer=optimizer, **kw)
    for st in range(0, 16 * steps, 16):     # small batches: many rows skip many steps
        net.train_batch(X[st % 512:st % 512 + 16], Y[st % 512:st % 512 + 16])
    return net


@pytest.mark.parametrize("sampler", ["batch", "pairs"])
def test_catchup_adam_follows_dense_adam(backend, sampler):
    """Lazy cost, dense result: after syncing, the weights equal dense Adam's up to float
    rounding, where plain lazy Adam is far off (so the comparison can fail)."""
    dense = _trained(backend, "adam", sampler)
    lazy = _trained(backend, "lazy_adam", sampler)
    catchup = _trained(backend, "catchup_adam", sampler)
    catchup.sync_optimizer()
    for a, c, z in zip(dense.layers, catchup.layers, lazy.layers):
        assert_allclose_f32(c.W, a.W, rtol=1e-4, atol=2e-5)
        assert_allclose_f32(c.b, a.b, rtol=1e-4, atol=2e-5)
        assert np.abs(z.W - a.W).max() > 1e-3
    np.testing.assert_array_equal(catchup.layers[0].last, catchup.step_)
    before = [L.W.copy() for L in catchup.layers]
    catchup.sync_optimizer()                      # idempotent
    for b0, L in zip(before, catchup.layers):
        np.testing.assert_array_equal(L.W, b0)


def test_catchup_kernel_equal(simd_level, rng):
    N, d = 50, 37
    W, m = rng.standard_normal((2, N, d)).astype(np.float32)
    v = rng.random((N, d)).astype(np.float32)
    rows = np.sort(rng.choice(N, 20, replace=False)).astype(np.int32)
    skipped = rng.integers(0, 300, 20)
    skipped[0] = 0
    skipped[1:4] = [399, 200, 201]      # since step 0; both sides of the tabulated range
    out = []
    for nn in (ref_nn, fast_nn):
        a = [W.copy(), m.copy(), v.copy()]
        nn.adam_catchup(*a, rows, skipped, 400, 1e-3, 0.9, 0.999, 1e-8, 2)
        out.append(a)
    for x, y in zip(*out):
        assert_allclose_f32(y, x, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(out[1][0][rows[0]], W[rows[0]])     # k = 0: untouched
    assert not np.array_equal(out[1][0][rows[1:]], W[rows[1:]])


def test_catchup_adam_ref_fast_and_state(tmp_path):
    ref = _trained(slide_ref, "catchup_adam", steps=8)
    fast = _trained(slide_fast, "catchup_adam", steps=8)
    for a, b in zip(ref.layers, fast.layers):
        assert_allclose_f32(b.W, a.W, rtol=1e-3, atol=1e-5)
        np.testing.assert_array_equal(b.last, a.last)
    params, arrays = fast.get_state()            # syncs first
    assert "layer0.last" in arrays and "layer1.last" in arrays
    back = slide_ref.SlideNetwork.from_state(params, arrays)
    np.testing.assert_array_equal(back.layers[1].last, fast.layers[1].last)
    np.testing.assert_allclose(back.output_scores(np.eye(4, 120, dtype=np.float32)),
                               fast.output_scores(np.eye(4, 120, dtype=np.float32)),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="catchup_adam"):
        slide_fast.SlideNetwork(120, 300, optimizer="catchup_adam", bf16=2)


@pytest.mark.parametrize("sampler", ["uniform", "loguniform"])
def test_hard_negative_training_steps_equal_ref_fast(data, sampler, simd_level):
    X, Y = data
    nets = []
    for backend in (slide_ref, slide_fast):
        net = batch_net(backend, sampler=sampler, optimizer="catchup_adam", hard_negatives=4)
        net.sampler_.prepare(Y)
        losses = [net.train_batch(X[i:i + 64], Y[i:i + 64]) for i in range(0, 256, 64)]
        nets.append((net, losses))
    (a, la), (b, lb) = nets
    np.testing.assert_allclose(la, lb, rtol=1e-4)
    np.testing.assert_array_equal(b.sampler_.memory_, a.sampler_.memory_)
    assert (a.sampler_.memory_ >= 0).sum() > 100
    for x, y in zip(a.layers, b.layers):
        assert_allclose_f32(y.W, x.W, rtol=1e-3, atol=1e-5)


def test_threads_agree(data):
    X, Y = data
    nets = [batch_net(slide_fast, n_threads=n) for n in (1, 2)]
    for start in range(0, 256, 64):
        for net in nets:
            net.train_batch(X[start:start + 64], Y[start:start + 64])
    for a, b in zip(*[n.layers for n in nets]):
        assert_allclose_f32(a.W, b.W, rtol=1e-5, atol=1e-6)


def test_batch_sampler_learns_and_round_trips(tmp_path, data):
    X, Y = data
    sampler = slide_fast.negative.UniformSampler(30, shared=True, batch_labels=True)
    clf = slide_fast.SlideClassifier(hidden=32, sampler=sampler, lr=0.01, random_state=0,
                                     show_progress=False, batch_size=32)
    clf.fit(X, Y, epochs=6)
    assert clf.score(X, Y) > 0.3     # chance is about 2/300
    path = clf.save(tmp_path / "m.npz")
    back = slide_ref.SlideClassifier.load(path)
    assert back.network_.sampler_.batch_labels
    assert isinstance(back.network_.layers[-1], slide_ref.layers.BlockOutputLayer)
    np.testing.assert_array_equal(back.predict(X[:20])[0], clf.predict(X[:20])[0])
    back.partial_fit(X[:64], Y[:64])


def test_cli_trains_with_batch_labels(tmp_path, data):
    from slide_fast import cli
    X, Y = data
    path = tmp_path / "train.txt"
    slide_ref.datasets.write_xc(path, X, Y)
    out = tmp_path / "m.json"
    assert cli.main(["train", "--train", str(path), "--sampler", "uniform", "--negatives", "20",
                     "--shared", "--batch-labels", "--optimizer", "lazy_input_adam",
                     "--no-progress", "--metrics", str(out)]) == 0
    assert out.exists()
    model = tmp_path / "hard.npz"
    assert cli.main(["train", "--train", str(path), "--sampler", "uniform", "--negatives", "20",
                     "--shared", "--batch-labels", "--hard-negatives", "3", "--optimizer",
                     "catchup_adam", "--no-progress", "--model", str(model)]) == 0
    assert slide_ref.SlideClassifier.load(model).network_.sampler_.hard_negatives == 3


# ----------------------------------------------------------------------------- bad input
def test_bad_input(backend):
    neg = backend.negative
    with pytest.raises(ValueError, match="shared=True"):
        backend.SlideNetwork(120, 300, output_sampler=neg.UniformSampler(10, batch_labels=True))
    with pytest.raises(ValueError, match="batch_labels"):
        backend.SlideNetwork(120, 300, output_sampler=neg.UniformSampler(
            10, shared=True, batch_labels="yes"))
    with pytest.raises(ValueError, match="bf16"):
        batch_net(backend, bf16=1)
    with pytest.raises(ValueError, match="hard_negatives needs batch_labels"):
        backend.SlideNetwork(120, 300, output_sampler=neg.UniformSampler(
            10, shared=True, hard_negatives=2))
    with pytest.raises(ValueError, match="hard_negatives"):
        batch_net(backend, hard_negatives=65)
    with pytest.raises(ValueError, match="optimizer"):
        batch_net(backend, optimizer="lazy")
