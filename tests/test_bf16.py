"""BF16 modes of Optimized SLIDE: rounding against hand-computed bit patterns, the hi/lo
split, every fast bf16 kernel against the reference at each SIMD level, whole training
steps, exact master weights in mode 2, save/load across backends, bad input, learning."""
import types

import numpy as np
import pytest
import scipy.sparse as sp

import slide_fast
import slide_ref
from slide_fast._kernels import bf16 as fast_bf
from slide_fast import cli
from slide_ref._kernels import bf16 as ref_bf
from slide_ref._kernels import network as ref_nn

from conftest import assert_allclose_f32
from slide_ref.layers import BatchContext

#: relative size of one bf16 unit in the last place (7 stored mantissa bits), at most
BF16_ULP = 2.0 ** -7


def f32(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


def bits(x):
    return np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)


def assert_bf16_valued(x):
    """Every value has a zero low half (is exactly a bf16 value)."""
    assert np.all(bits(x) & 0xFFFF == 0)


def assert_within_bf16_ulps(actual, desired, ulps=1):
    """Same sign and at most ``ulps`` bf16 steps apart (both arrays bf16-valued)."""
    a, d = bits(actual).astype(np.int64), bits(desired).astype(np.int64)
    same_sign = (a >> 31) == (d >> 31)
    steps = np.abs((a >> 16) - (d >> 16))
    zero = (a & 0x7FFFFFFF == 0) | (d & 0x7FFFFFFF == 0)     # +0 vs a tiny value of either sign
    ok = (same_sign & (steps <= ulps)) | (zero & (np.abs((a & 0x7FFFFFFF) - (d & 0x7FFFFFFF))
                                                 >> 16 <= ulps))
    assert ok.all(), f"{(~ok).sum()} values more than {ulps} bf16 ulps apart"


# ----------------------------------------------------------------------------- rounding
# (float32 bits, bf16 bits after round-to-nearest-even), worked out by hand
RNE_CASES = [
    (0x3F800000, 0x3F80),   # 1.0 is exact
    (0x3F807FFF, 0x3F80),   # just below half an ulp: down
    (0x3F808000, 0x3F80),   # exactly half, kept lsb 0: tie to even (down)
    (0x3F808001, 0x3F81),   # just above half: up
    (0x3F818000, 0x3F82),   # exactly half, kept lsb 1: tie to even (up)
    (0xBF808000, 0xBF80),   # negative ties behave symmetrically
    (0xBF818000, 0xBF82),
    (0x3FFF8000, 0x4000),   # rounding up carries into the exponent (1.99.. -> 2.0)
    (0x00000000, 0x0000),   # +0
    (0x80000000, 0x8000),   # -0 keeps its sign
    (0x7F800000, 0x7F80),   # +inf
    (0xFF800000, 0xFF80),   # -inf
    (0x7F7FFFFF, 0x7F80),   # largest float32 rounds to +inf
    (0x7F7F7FFF, 0x7F7F),   # ...but just below the midpoint stays finite
    (0x7FC00000, 0x7FC0),   # quiet NaN
    (0x7F800001, 0x7FC0),   # signalling NaN, payload in the low half only: NaN, not inf
    (0xFFC00001, 0xFFC0),   # negative NaN keeps its sign
    (0x7FA00000, 0x7FE0),   # payload in the high half is kept, quiet bit set
    (0x00000001, 0x0000),   # smallest subnormal: far below half a bf16 ulp
    (0x00008000, 0x0000),   # subnormal tie, kept lsb 0: down (no flush, no bias)
    (0x00018000, 0x0002),   # subnormal tie, kept lsb 1: up
    (0x00008001, 0x0001),   # just above half: the smallest bf16 subnormal
    (0x007FFFFF, 0x0080),   # largest subnormal rounds up to the smallest normal
    (0x807FFFFF, 0x8080),
]


def test_rne_bits_hand_computed():
    src = np.array([c[0] for c in RNE_CASES], dtype=np.uint32)
    want = np.array([c[1] for c in RNE_CASES], dtype=np.uint16)
    np.testing.assert_array_equal(ref_bf.rne_bits(src.view(np.float32)), want)
    back = ref_bf.bits_to_f32(want)
    np.testing.assert_array_equal(bits(back), want.astype(np.uint32) << 16)


def test_round_kernels_hand_computed(simd_level):
    """Every level rounds like the table, at any position of a vector (tails included)."""
    src = np.array([c[0] for c in RNE_CASES], dtype=np.uint32)
    want = np.array([c[1] for c in RNE_CASES], dtype=np.uint32) << 16
    for shift in range(0, 17, 3):     # move the cases across vector lanes and the tail
        x = np.concatenate([np.zeros(shift, np.uint32), src]).view(np.float32).copy()
        for mod in (ref_bf, fast_bf):
            y = x.copy()
            assert mod.round_bf16(y, 2) is y
            np.testing.assert_array_equal(bits(y)[shift:], want, err_msg=mod.__name__)
    nan = ref_bf.round_bf16(f32([0x7F800001, 0xFF800001]).copy())
    assert np.isnan(nan).all() and np.signbit(nan).tolist() == [False, True]


def test_round_random_arrays_equal(simd_level, rng):
    # random bit patterns cover every exponent, NaNs and subnormals; 2 threads, odd length
    x = rng.integers(0, 2**32, size=3 * 16384 + 13, dtype=np.uint64).astype(np.uint32)
    x = x.view(np.float32)
    r, f = ref_bf.round_bf16(x.copy()), fast_bf.round_bf16(x.copy(), 2)
    np.testing.assert_array_equal(bits(f), bits(r))
    assert_bf16_valued(r)
    finite = np.isfinite(x) & (np.abs(x) < 3e38)
    err = np.abs(r[finite].astype(np.float64) - x[finite])
    # RNE is within half an ulp of bf16 (relative 2^-8 above the subnormal range)
    assert np.all(err <= 2.0 ** -8 * np.abs(x[finite]) + 2.0 ** -134)
    with pytest.raises(TypeError, match="float32"):
        fast_bf.round_bf16(np.zeros(4))


def test_truncation_and_split_reconstruct_exactly(rng):
    np.testing.assert_array_equal(
        ref_bf.trunc_bits(f32([0x3F81FFFF, 0xBF81FFFF, 0x80000000, 0x7F7FFFFF])),
        np.array([0x3F81, 0xBF81, 0x8000, 0x7F7F], dtype=np.uint16))
    x = rng.integers(0, 2**32, size=5000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    hi, lo = ref_bf.split(x)
    assert hi.dtype == np.float32 and lo.dtype == np.uint16
    assert_bf16_valued(hi)
    np.testing.assert_array_equal(bits(hi) >> 16, ref_bf.trunc_bits(x))
    np.testing.assert_array_equal(bits(ref_bf.join(hi, lo)), bits(x))
    # the high half is a truncation: never larger in magnitude, less than one bf16 ulp away
    w = rng.standard_normal(1000).astype(np.float32)
    h, _ = ref_bf.split(w)
    assert np.all(np.abs(h) <= np.abs(w)) and np.all(np.abs(w - h) < BF16_ULP * np.abs(w))


# ----------------------------------------------------------------------------- kernels
def _pairs(rng, B, n_out, per):
    ids = [np.sort(rng.choice(n_out, size=per, replace=False)) for _ in range(B)]
    return np.arange(B + 1, dtype=np.int64) * per, np.concatenate(ids).astype(np.int32)


def _bf16_array(rng, shape, relu=False):
    a = rng.standard_normal(shape).astype(np.float32)
    if relu:
        a = np.maximum(a, 0)
    return ref_bf.round_bf16(a)


@pytest.mark.parametrize("n_in", [5, 37, 70, 128])
def test_sampled_forward_bf16_equal(simd_level, rng, n_in):
    B, n_out = 9, 53
    A = _bf16_array(rng, (B, n_in), relu=True)
    W = rng.standard_normal((n_out, n_in)).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    indptr, ids = _pairs(rng, B, n_out, 11)
    rows = np.repeat(np.arange(B), 11)
    # oracle: float64 sums of the products RNE(W) * A (each exact in fp32)
    Wb = ref_bf.bits_to_f32(ref_bf.rne_bits(W)).astype(np.float64)
    exact = (Wb[ids] * A[rows]).sum(axis=1) + b[ids]
    for relu in (False, True):
        r = ref_bf.sampled_forward_bf16(A, W, b, indptr, ids, relu)
        f = fast_bf.sampled_forward_bf16(A, W, b, indptr, ids, relu, 2)
        assert_allclose_f32(f, r, atol=1e-5)      # sums of up to 128 terms in another order
        want = np.maximum(exact, 0) if relu else exact
        np.testing.assert_allclose(r, want, rtol=1e-5, atol=1e-5)
    # the fp32 kernel would differ: the weights really are rounded
    z32 = ref_nn.sampled_forward(A, W, b, indptr, ids, False)
    assert np.abs(z32 - exact).max() > 1e-4
    # mode 2: weights that are bf16 values already (high halves) need no rounding
    hi, _ = ref_bf.split(W)
    Wh = hi.astype(np.float64)
    exact_hi = (Wh[ids] * A[rows]).sum(axis=1) + b[ids]
    r = ref_bf.sampled_forward_hi(A, hi, b, indptr, ids, False)
    f = fast_bf.sampled_forward_hi(A, hi, b, indptr, ids, False, 2)
    assert_allclose_f32(f, r, atol=1e-5)
    np.testing.assert_allclose(r, exact_hi, rtol=1e-5, atol=1e-5)
    assert_allclose_f32(fast_bf.sampled_forward_bf16(A, hi, b, indptr, ids, False, 2), r,
                        atol=1e-5)


def test_sampled_backward_bf16_equal(simd_level, rng):
    B, n_in, n_out = 9, 37, 53
    A = _bf16_array(rng, (B, n_in), relu=True)
    W = rng.standard_normal((n_out, n_in)).astype(np.float32)
    indptr, ids = _pairs(rng, B, n_out, 11)
    delta = _bf16_array(rng, len(ids))
    out = []
    for mod in (ref_bf, fast_bf):
        gW = _bf16_array(np.random.default_rng(0), (n_out, n_in))   # accumulates onto these
        gb = _bf16_array(np.random.default_rng(1), n_out)
        dA = mod.sampled_backward_bf16(A, W, indptr, ids, delta, gW, gb, True, True, 2)
        out.append((gW, gb, dA))
    (rW, rb, rdA), (fW, fb, fdA) = out
    for x in (rW, rb, rdA, fW, fb, fdA):
        assert_bf16_valued(x)
    # bf16 x bf16 products are exact and both sum each row in pair order: the same bits
    np.testing.assert_array_equal(fW, rW)
    np.testing.assert_array_equal(fb, rb)
    assert_within_bf16_ulps(fdA, rdA)
    assert np.all(rdA[A <= 0] == 0)
    # rounded once per batch: the fp32 sum of the row, rounded
    gW32 = _bf16_array(np.random.default_rng(0), (n_out, n_in))
    gb32 = _bf16_array(np.random.default_rng(1), n_out)
    ref_nn.sampled_backward(A, W, indptr, ids, delta, gW32, gb32, True, False)
    np.testing.assert_array_equal(rW, ref_bf.round_bf16(gW32))
    assert fast_bf.sampled_backward_bf16(A, W, indptr, ids, delta, gW32, gb32, True, False,
                                         1) is None


def test_dense_backward_bf16_equal(simd_level, rng):
    B, n_in, n_out = 9, 37, 21
    A = _bf16_array(rng, (B, n_in), relu=True)
    W = rng.standard_normal((n_in, n_out)).astype(np.float32)
    D = _bf16_array(rng, (B, n_out))
    X = sp.random(B, 50, density=0.2, format="csr", dtype=np.float32, random_state=1)
    out = []
    for mod in (ref_bf, fast_bf):
        gW, gb = np.zeros_like(W), np.zeros(n_out, np.float32)
        dA = mod.dense_backward_bf16(A, W, D, gW, gb, True, True, 2)
        g1, g1b = np.zeros((50, n_out), np.float32), np.zeros(n_out, np.float32)
        mod.dense_backward_csr_bf16(X.indptr, X.indices, X.data, D, g1, g1b, 2)
        out.append((gW, gb, dA, g1, g1b))
    for r, f in zip(*out):
        assert_bf16_valued(r)
        assert_bf16_valued(f)
        assert_within_bf16_ulps(f, r)
    assert np.any(out[0][3] != 0) and np.all(out[0][2][A <= 0] == 0)


@pytest.mark.parametrize("rows", [None, "some"])
def test_split_optimizers_bitwise_equal_and_exact(simd_level, rows):
    """Mode 2's Adam and SGD: the same bits at every level, and exactly the fp32 step on the
    weights rebuilt from both halves (the master weights stay exact)."""
    shape = (13, 37)
    sel = None if rows is None else np.array([0, 4, 12], dtype=np.int32)
    r = np.random.default_rng(0)
    master = r.standard_normal(shape).astype(np.float32)
    g = ref_bf.round_bf16(r.standard_normal(shape).astype(np.float32) * 1e-3)
    m = r.standard_normal(shape).astype(np.float32) * 1e-3
    v = r.random(shape).astype(np.float32) * 1e-6
    want = master.copy(), g.copy(), m.copy(), v.copy()
    ref_nn.adam_step(*want, sel, 1e-3, 0.9, 0.999, 1e-8)
    want_sgd = master.copy(), g.copy()
    ref_nn.sgd_step(*want_sgd, sel, 0.1)
    for mod in (ref_bf, fast_bf):
        hi, lo = ref_bf.split(master)
        gg, mm, vv = g.copy(), m.copy(), v.copy()
        mod.adam_step_split(hi, lo, gg, mm, vv, sel, 1e-3, 0.9, 0.999, 1e-8, 2)
        np.testing.assert_array_equal(bits(ref_bf.join(hi, lo)), bits(want[0]))
        assert_bf16_valued(hi)
        for got, exp in zip((gg, mm, vv), want[1:]):
            np.testing.assert_array_equal(got, exp)
        hi, lo = ref_bf.split(master)
        gg = g.copy()
        mod.sgd_step_split(hi, lo, gg, sel, 0.1, 2)
        np.testing.assert_array_equal(bits(ref_bf.join(hi, lo)), bits(want_sgd[0]))
        np.testing.assert_array_equal(gg, want_sgd[1])
    # the update is below a bf16 ulp of most weights: a bf16-only store would lose it
    moved = (want[0] != master) & (ref_bf.split(want[0])[0] == ref_bf.split(master)[0])
    assert moved.any()
    with pytest.raises(ValueError, match="shape"):
        fast_bf.adam_step_split(hi, lo[:3], gg, mm, vv, None, 1e-3, 0.9, 0.999, 1e-8, 1)
    with pytest.raises(ValueError, match="shape"):
        fast_bf.adam_step_split(hi, lo, gg, np.zeros((13, 5), np.float32), vv, None, 1e-3, 0.9,
                                0.999, 1e-8, 1)
    with pytest.raises(ValueError, match="shape"):
        fast_bf.sgd_step_split(hi, lo, gg[:2], None, 0.1, 1)


# ----------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def data():
    return slide_ref.datasets.make_xc(256, 120, 60, labels_per_sample=2, random_state=3)


LSH_KEYS = set(slide_ref.lsh.LSHParams().get_params())


def net_params(**kw):
    """Network parameters of the tests; LSH settings among ``kw`` go into ``lsh``."""
    lsh = dict(K=3, L=6, min_active=20, fill_below=30, rehash_every=128 * 2)
    lsh.update({k: v for k, v in kw.items() if k in LSH_KEYS})
    base = dict(hidden=(24,), lsh=slide_ref.lsh.LSHParams(**lsh), random_state=0, n_threads=1)
    base.update({k: v for k, v in kw.items() if k not in LSH_KEYS})
    return base


def forward_acts(net, X, labels):
    """The activations of one training forward pass through the layers."""
    ctx = BatchContext(labels, 0, True, seed=0, n_threads=1)
    acts, A = [], X
    for layer in net.layers:
        A, _ = layer.forward(A, ctx)
        acts.append(A)
    return acts


def master(layer):
    return ref_bf.join(layer.W, layer.W_lo) if layer.W_lo is not None else layer.W


@pytest.mark.parametrize("mode", [1, 2])
@pytest.mark.parametrize("optimizer", ["adam", "lazy_adam", "sgd"])
@pytest.mark.parametrize("sampled", [(False, True), (False, False), (False, True, True)])
def test_training_steps_equal_ref_fast(data, simd_level, mode, optimizer, sampled):
    X, Y = data
    hidden = (24,) if len(sampled) == 2 else (24, 40)
    kw = net_params(optimizer=optimizer, sampled=sampled, hidden=hidden, bf16=mode)
    ref = slide_ref.network.SlideNetwork(120, 60, **kw)
    fast = slide_fast.network.SlideNetwork(120, 60, **kw)
    for start in range(0, 256, 64):              # 4 steps, one rehash on the way
        lr_ = ref.train_batch(X[start:start + 64], Y[start:start + 64])
        lf = fast.train_batch(X[start:start + 64], Y[start:start + 64])
        assert abs(lr_ - lf) < 1e-4 * max(1, abs(lr_))
    for a, b in zip(ref.layers, fast.layers):
        assert_allclose_f32(master(b), master(a), rtol=1e-3, atol=2e-5)
        assert_allclose_f32(master_b(b), master_b(a), rtol=1e-3, atol=2e-5)
        if mode == 2:
            assert_bf16_valued(a.W)
            assert_bf16_valued(b.W)


def master_b(layer):
    return ref_bf.join(layer.b, layer.b_lo) if layer.b_lo is not None else layer.b


@pytest.mark.parametrize("mode", [1, 2])
def test_threads_give_identical_training(data, mode):
    """The bf16 rounding happens per gradient row after a race-free sum: 1 or 2 threads give
    the same bits."""
    X, Y = data
    nets = [slide_fast.network.SlideNetwork(120, 60, **net_params(n_threads=n, bf16=mode))
            for n in (1, 2)]
    for start in range(0, 256, 64):
        for net in nets:
            net.train_batch(X[start:start + 64], Y[start:start + 64])
    for a, b in zip(*[n.layers for n in nets]):
        np.testing.assert_array_equal(master(a), master(b))


def test_forward_rounds_activations_and_modes_differ(data):
    X, Y = data
    labels = (Y[:32].indptr.astype(np.int64), Y[:32].indices.astype(np.int32))
    outs = {}
    for mode in (0, 1, 2):
        net = slide_fast.network.SlideNetwork(120, 60, **net_params(bf16=mode))
        acts = forward_acts(net, X[:32].astype(np.float32), labels)
        if mode:
            assert_bf16_valued(acts[0])
            assert_bf16_valued(net.embed(X[:32].astype(np.float32)))
        else:
            assert np.any(bits(acts[0]) & 0xFFFF)
        outs[mode] = acts[-1]
    assert not np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[1], outs[2])
    np.testing.assert_allclose(outs[1], outs[0], rtol=0.05, atol=0.05)


class _SpyKernels:
    """The bf16 kernel module of a network, recording the arguments of every call."""

    def __init__(self, module, calls):
        self._module, self._calls = module, calls

    def __getattr__(self, name):
        fn = getattr(self._module, name)

        def spy(*args):
            out = fn(*args)     # arrays are copied after the call: the kernel's outputs
            self._calls.append((name, [a.copy() if isinstance(a, np.ndarray) else a
                                       for a in args]))
            return out
        return spy


@pytest.mark.parametrize("mode", [1, 2])
@pytest.mark.parametrize("backend_name", ["ref", "fast"])
def test_backward_receives_bf16_activations_and_deltas(data, backend_name, mode):
    """The rounding points of a step: every activation and delta reaching a backward kernel,
    and the gradients it leaves, are bf16 values."""
    X, Y = data
    mod = {"ref": slide_ref, "fast": slide_fast}[backend_name]
    net = mod.network.SlideNetwork(120, 60, **net_params(bf16=mode, sampled=(False, True, True),
                                                         hidden=(24, 40), optimizer="sgd"))
    calls = []
    # the number format chooses the bf16 kernels: spy on them through its kernel handle
    net.numerics._kernels = types.SimpleNamespace(
        **{**vars(net.numerics._kernels), "bf16": _SpyKernels(net.numerics._kernels.bf16,
                                                              calls)})
    net.train_batch(X[:64], Y[:64])
    # positions of (activations, delta, gW, gb) in each backward kernel's arguments
    where = {"sampled_backward_bf16": (0, 4, 5, 6), "dense_backward_csr_bf16": (3, 4, 5)}
    checked = [name for name, _ in calls if name in where]
    assert sorted(checked) == ["dense_backward_csr_bf16", "sampled_backward_bf16",
                               "sampled_backward_bf16"]
    for name, args in calls:
        for pos in where.get(name, ()):
            assert_bf16_valued(args[pos])
    forward = "sampled_forward_hi" if mode == 2 else "sampled_forward_bf16"
    assert any(name == forward for name, _ in calls)


@pytest.mark.parametrize("backend_name", ["ref", "fast"])
def test_mode2_master_weights_exact(data, backend_name):
    """One step in mode 2: the rebuilt fp32 weights are exactly the fp32 Adam step applied
    to the previous master weights with the (bf16) gradients of the step."""
    X, Y = data
    mod = {"ref": slide_ref, "fast": slide_fast}[backend_name]
    net = mod.network.SlideNetwork(120, 60, **net_params(bf16=2))
    before = [(master(layer).copy(), master_b(layer).copy()) for layer in net.layers]
    seen = []

    def spy_on(layer):
        step = layer.step

        def spy(record, ctx):       # the gradients each optimizer step receives
            seen.append((layer.gW.copy(), layer.gb.copy()))
            step(record, ctx)
        layer.step = spy
    for layer in net.layers:
        spy_on(layer)
    net.train_batch(X[:64], Y[:64])
    lr_t = float(net.lr * np.sqrt(1 - net.beta2) / (1 - net.beta1))   # a weak Python float
    for layer, (W0, b0), (gW, gb) in zip(net.layers, before, seen):
        assert_bf16_valued(gW)
        assert_bf16_valued(gb)
        for w0, g, got in ((W0, gW, master(layer)), (b0[:, None], gb[:, None],
                                                       master_b(layer)[:, None])):
            want = w0.copy()
            ref_nn.adam_step(want, g.copy(), np.zeros_like(want), np.zeros_like(want), None,
                             lr_t, net.beta1, net.beta2, net.eps)
            np.testing.assert_array_equal(bits(got), bits(want))
    first = net.layers[0]          # N(0, 1) weights: a 1e-3 step is below their bf16 ulp
    assert np.any((master(first) != before[0][0]) & (first.W == ref_bf.split(before[0][0])[0]))


# ----------------------------------------------------------------------------- state
@pytest.mark.parametrize("mode", [1, 2])
@pytest.mark.parametrize("src,dst", [(slide_ref, slide_fast), (slide_fast, slide_ref)])
def test_state_round_trip_across_backends(data, mode, src, dst):
    X, Y = data
    a = src.network.SlideNetwork(120, 60, **net_params(bf16=mode))
    a.train_batch(X[:64], Y[:64])
    params, arrays = a.get_state()
    assert params["bf16"] == mode and (("layer0.W_lo" in arrays) == (mode == 2))
    b = dst.network.SlideNetwork.from_state(params, arrays)
    assert b.bf16 == mode
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(master(lb), master(la))
        np.testing.assert_array_equal(master_b(lb), master_b(la))
    np.testing.assert_allclose(b.output_scores(X[64:80]), a.output_scores(X[64:80]),
                               rtol=1e-5, atol=1e-6)
    la_, lb_ = a.train_batch(X[64:128], Y[64:128]), b.train_batch(X[64:128], Y[64:128])
    assert abs(la_ - lb_) < 1e-4
    for la, lb in zip(a.layers, b.layers):
        assert_allclose_f32(master(lb), master(la), rtol=1e-3, atol=2e-5)
    if mode == 2:
        arrays = dict(arrays)
        del arrays["layer1.W_lo"]
        with pytest.raises(ValueError, match="W_lo"):
            dst.network.SlideNetwork.from_state(params, arrays)
        _, arrays = a.get_state()
        arrays = dict(arrays, **{"layer0.W": master(a.layers[0])})    # full fp32 words
        with pytest.raises(ValueError, match="high"):
            dst.network.SlideNetwork.from_state(params, arrays)


@pytest.mark.parametrize("mode", [1, 2])
def test_classifier_save_load_across_backends(tmp_path, mode):
    X, Y, Xt, _ = slide_ref.datasets.make_xc(600, 200, 80, n_test=50, random_state=0)
    kw = dict(hidden=16, lsh=dict(K=3, L=6, min_active=30, fill_below=40), batch_size=64,
              random_state=0, show_progress=False, eval_every=0, bf16=mode)
    a = slide_ref.SlideClassifier(**kw).fit(X, Y)
    b = slide_fast.SlideClassifier.load(a.save(tmp_path / "m.npz"))
    assert b.bf16 == mode and b.network_.bf16 == mode
    np.testing.assert_array_equal(b.predict(Xt, k=3)[0], a.predict(Xt, k=3)[0])
    a.partial_fit(X[:128], Y[:128])
    b.partial_fit(X[:128], Y[:128])
    assert_allclose_f32(master(b.network_.layers[-1]), master(a.network_.layers[-1]),
                        rtol=1e-3, atol=2e-5)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad,exc", [(4, ValueError), (-1, ValueError), ("1", TypeError),
                                     (1.0, TypeError), (True, TypeError), (None, TypeError)])
def test_bad_bf16(backend, bad, exc):
    with pytest.raises(exc, match="bf16"):
        backend.network.SlideNetwork(10, 5, bf16=bad)
    X, Y, _, _ = slide_ref.datasets.make_xc(50, 20, 5, n_test=10, random_state=0)
    with pytest.raises(exc, match="bf16"):
        backend.SlideClassifier(bf16=bad, show_progress=False).fit(X, Y)


def test_cli_bf16(tmp_path, capsys):
    d = tmp_path / "data"
    assert cli.main(["generate", "--out", str(d), "--n-samples", "600", "--n-test", "100",
                     "--n-features", "100", "--n-labels", "30"]) == 0
    metrics = tmp_path / "m.json"
    assert cli.main(["train", "--train", str(d / "train.txt"), "--hidden", "16", "--K", "3",
                     "--L", "4", "--no-progress", "--bf16", "2", "--metrics",
                     str(metrics)]) == 0
    assert '"bf16": 2' in metrics.read_text()
    with pytest.raises(SystemExit):
        cli.main(["train", "--train", str(d / "train.txt"), "--bf16", "4"])
    assert "--bf16" in capsys.readouterr().err
    assert cli.main(["train", "--train", str(d / "train.txt"), "--hidden", "16", "--sampler",
                     "uniform", "--negatives", "10", "--shared", "--batch-labels", "--no-progress",
                     "--bf16", "3", "--metrics", str(metrics), "--overwrite"]) == 0
    assert '"bf16": 3' in metrics.read_text()
    # the default preset is the batch-shared block; SLIDE's LSH output and the full softmax
    # are not, and the refusal names the mode
    assert cli.main(["train", "--train", str(d / "train.txt"), "--hidden", "16",
                     "--no-progress", "--bf16", "3", "--metrics", str(metrics),
                     "--overwrite"]) == 0
    for other in (["--K", "3"], ["--full-softmax"], ["--preset", "lns_embedding"],
                  ["--sampler", "uniform", "--shared"]):
        assert cli.main(["train", "--train", str(d / "train.txt"), "--hidden", "16",
                         "--no-progress", "--bf16", "3", *other]) == 2
        assert "bf16=3" in capsys.readouterr().err


# ----------------------------------------------------------------------------- learning
def test_every_mode_trains_smoke():
    """A few steps in each mode with the fast backend's default level: the loss falls."""
    X, Y, _, _ = slide_ref.datasets.make_xc(1024, 200, 50, n_test=10, random_state=1)
    for mode in (0, 1, 2):
        net = slide_fast.network.SlideNetwork(200, 50, **net_params(bf16=mode, K=4, L=8,
                                                                    hidden=(32,), lr=1e-2))
        losses = [net.train_batch(X[s:s + 128], Y[s:s + 128]) for s in range(0, 1024, 128)]
        assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], (mode, losses)


@pytest.mark.slow
def test_bf16_modes_learn_as_well_as_fp32():
    """Same data, seed and number of steps: P@1 of modes 1 and 2 within 0.02 of fp32."""
    X, Y, Xt, Yt = slide_ref.datasets.make_xc(40000, 5000, 3000, n_test=3000, random_state=2)
    scores = {}
    for mode in (0, 1, 2):
        clf = slide_fast.SlideClassifier(bf16=mode, random_state=0, show_progress=False,
                                         eval_every=0, lsh=dict(min_active=300, fill_below=450))
        scores[mode] = clf.fit(X, Y, epochs=2).score(Xt, Yt)
    assert scores[0] > 0.3, scores
    assert abs(scores[1] - scores[0]) <= 0.02 and abs(scores[2] - scores[0]) <= 0.02, scores


# ----------------------------------------------------------------------------- bf16=3: the block
def block_case(rng, B, d, n, C):
    """Non-negative activations, weights, biases and ``C`` sorted distinct rows."""
    A = np.maximum(rng.standard_normal((B, d)), 0).astype(np.float32)
    W = (rng.standard_normal((n, d)) * 0.1).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    rows = np.sort(rng.choice(n, C, replace=False)).astype(np.int32)
    return A, W, b, rows


def shadow_of(W):
    return ref_bf.rne_bits(W)


def test_refresh_rows_equal_and_only_the_rows(simd_level, rng):
    A, W, b, rows = block_case(rng, 4, 37, 90, 25)
    W[rows[0], :3] = [np.float32(1.00390625), -0.0, np.float32(1e-40)]   # a tie, -0, a subnormal
    for backend_bf in (ref_bf, fast_bf):
        W16 = np.full(W.shape, 7, np.uint16)
        backend_bf.refresh_bf16_rows(W, rows, W16, 2)
        np.testing.assert_array_equal(W16[rows], shadow_of(W[rows]))
        others = np.setdiff1d(np.arange(W.shape[0]), rows)
        assert np.all(W16[others] == 7)
        backend_bf.refresh_bf16_rows(W, None, W16, 2)
        np.testing.assert_array_equal(W16, shadow_of(W))


def test_block_forward_bf16_hand_computed(simd_level):
    """Small integers are bf16 values whose products and sums are exact: every level,
    VDPBF16PS included, gives exactly the integer product."""
    A = np.array([[1, 2, 3], [0, -1, 4]], np.float32)
    W = np.array([[1, 0, 2], [3, 1, 1], [-2, 5, 0], [7, 7, 7]], np.float32)
    b = np.array([0.5, 0, -1, 100], np.float32)
    rows = np.array([0, 2, 3], np.int32)
    want = np.array([[7.5, 7, 142], [8.5, -6, 121]], np.float32)
    for backend_bf in (ref_bf, fast_bf):
        got = backend_bf.block_forward_bf16(A, shadow_of(W), rows, b, 2)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("B,d,n,C", [(37, 128, 500, 77), (8, 33, 100, 32), (1, 1, 5, 3),
                                     (5, 600, 60, 40), (19, 64, 300, 300)])
def test_block_forward_bf16_equal(simd_level, rng, B, d, n, C):
    """Levels below AVX512-BF16 sum the exact products in the reference's order: equal bits;
    VDPBF16PS sums two at a time: a float tolerance.  Odd widths, edge tiles, two packed
    panels (d > 512) and the rounding of the activations are all exercised."""
    A, W, b, rows = block_case(rng, B, d, n, C)
    A[0, 0] = np.float32(1.00390625)     # a tie: must round to even, not truncate
    W16 = shadow_of(W)
    want = ref_bf.block_forward_bf16(A, W16, rows, b)
    got = fast_bf.block_forward_bf16(A, W16, rows, b, 2)
    assert got.dtype == np.float32 and got.shape == (B, C)
    if simd_level == "avx512_bf16":
        assert_allclose_f32(got, want, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(bits(got), bits(want))
    exact = ref_bf.bits_to_f32(ref_bf.rne_bits(A)).astype(np.float64) \
        @ ref_bf.bits_to_f32(W16[rows]).astype(np.float64).T + b[rows]
    np.testing.assert_allclose(want, exact, rtol=1e-5, atol=1e-5)
    fp32 = A @ W[rows].T + b[rows]                   # bf16 operands: about 2**-8 apart
    assert not np.array_equal(want, fp32)
    np.testing.assert_allclose(want, fp32, rtol=0.02, atol=0.02)


def test_block_kernels_refuse_bad_arguments():
    A, W, b, rows = np.ones((2, 4), np.float32), np.ones((6, 4), np.float32), \
        np.zeros(6, np.float32), np.array([1, 5], np.int32)
    W16 = shadow_of(W)
    for backend_bf in (ref_bf, fast_bf):
        with pytest.raises(ValueError, match="outside"):
            backend_bf.block_forward_bf16(A, W16, np.array([0, 6], np.int32), b)
        with pytest.raises(ValueError, match="block_forward_bf16"):
            backend_bf.block_forward_bf16(np.ones((2, 3), np.float32), W16, rows, b)
        with pytest.raises(ValueError, match="block_forward_bf16"):
            backend_bf.block_forward_bf16(A, W16, rows, b[:5])
        with pytest.raises(ValueError, match="outside"):
            backend_bf.refresh_bf16_rows(W, np.array([-1], np.int32), W16)
        with pytest.raises(ValueError, match="W16"):
            backend_bf.refresh_bf16_rows(W, rows, W16[:5])


def block_params(**kw):
    """A small network on a batch-shared candidate set (uniform + hard negatives)."""
    base = dict(hidden=(24,), optimizer="catchup_adam", random_state=0, n_threads=1, bf16=3)
    base.update(kw)
    return base


def block_net(backend, n_negatives=20, hard=2, **kw):
    sampler = backend.negative.UniformSampler(n_negatives, shared=True, batch_labels=True,
                                              hard_negatives=hard)
    return backend.network.SlideNetwork(120, 60, output_sampler=sampler, **block_params(**kw))


@pytest.mark.parametrize("optimizer", ["catchup_adam", "adam", "lazy_adam", "sgd"])
def test_block_bf16_training_equal_ref_fast(data, simd_level, optimizer):
    X, Y = data
    ref, fast = block_net(slide_ref, optimizer=optimizer), block_net(slide_fast,
                                                                     optimizer=optimizer)
    for start in range(0, 256, 64):
        lr_ = ref.train_batch(X[start:start + 64], Y[start:start + 64])
        lf = fast.train_batch(X[start:start + 64], Y[start:start + 64])
        assert abs(lr_ - lf) < 1e-4 * max(1, abs(lr_))
    for a, b in zip(ref.layers, fast.layers):
        assert_allclose_f32(b.W, a.W, rtol=1e-3, atol=2e-5)
        assert_allclose_f32(b.b, a.b, rtol=1e-3, atol=2e-5)


def test_block_bf16_changes_only_the_block_product(data):
    """Mode 3 against fp32 from the same start: the first batch's logits differ by bf16
    rounding only, every other array of the pass stays fp32, and the fused fp32 kernels
    still run."""
    X, Y = data
    labels = (Y[:32].indptr.astype(np.int64), Y[:32].indices.astype(np.int32))
    nets = {mode: block_net(slide_fast, bf16=mode) for mode in (0, 3)}
    acts = {mode: forward_acts(net, X[:32].astype(np.float32), labels)
            for mode, net in nets.items()}
    np.testing.assert_array_equal(acts[3][0], acts[0][0])     # hidden: fp32, not rounded
    assert np.any(bits(acts[3][0]) & 0xFFFF)
    assert not np.array_equal(acts[3][-1], acts[0][-1])
    np.testing.assert_allclose(acts[3][-1], acts[0][-1], rtol=0.05, atol=0.05)
    out, first = nets[3].layers[-1], nets[3].layers[0]
    assert out.fused and first.fused
    assert out.W_bf16.dtype == np.uint16 and out.W_bf16.shape == out.W.shape
    assert nets[0].layers[-1].W_bf16 is None


@pytest.mark.parametrize("backend_name", ["ref", "fast"])
def test_shadow_follows_the_masters(data, backend_name):
    """After each step the shadow rows the forward read are the RNE of the masters it read
    (after catch-up); the masters themselves are not rounded."""
    X, Y = data
    mod = {"ref": slide_ref, "fast": slide_fast}[backend_name]
    net = block_net(mod)
    out = net.layers[-1]
    seen = []
    logits = out._block_logits

    def spy(H, rows, n_threads):
        z = logits(H, rows, n_threads)
        seen.append((rows.copy(), out.W[rows].copy(), out.W_bf16[rows].copy()))
        return z
    out._block_logits = spy
    for start in range(0, 256, 64):
        net.train_batch(X[start:start + 64], Y[start:start + 64])
    assert len(seen) == 4
    for rows, W_read, shadow in seen:
        np.testing.assert_array_equal(shadow, shadow_of(W_read))
    assert np.any(bits(out.W) & 0xFFFF)


@pytest.mark.parametrize("src,dst", [(slide_ref, slide_fast), (slide_fast, slide_ref),
                                     (slide_fast, slide_fast)])
def test_block_bf16_state_round_trip(data, src, dst):
    """The state holds the fp32 masters only; loading rebuilds the shadow from them."""
    X, Y = data
    a = block_net(src)
    a.train_batch(X[:64], Y[:64])
    params, arrays = a.get_state()
    assert params["bf16"] == 3 and not any("bf16" in name for name in arrays)
    assert arrays["layer1.W"].dtype == np.float32
    b = dst.network.SlideNetwork.from_state(params, arrays)
    assert b.bf16 == 3
    out = b.layers[-1]
    np.testing.assert_array_equal(out.W, a.layers[-1].W)
    np.testing.assert_array_equal(out.W_bf16, shadow_of(out.W))
    la_, lb_ = a.train_batch(X[64:128], Y[64:128]), b.train_batch(X[64:128], Y[64:128])
    assert abs(la_ - lb_) < 1e-4
    for la, lb in zip(a.layers, b.layers):
        assert_allclose_f32(lb.W, la.W, rtol=1e-3, atol=2e-5)


def test_block_bf16_classifier_save_load(tmp_path):
    """The default preset (batch-shared uniform + hard negatives, catch-up Adam) with
    bf16=3, saved by one backend and loaded by the other."""
    X, Y, Xt, _ = slide_ref.datasets.make_xc(600, 200, 80, n_test=50, random_state=0)
    kw = dict(hidden=16, batch_size=64, random_state=0, show_progress=False, eval_every=0,
              bf16=3)
    a = slide_fast.SlideClassifier(**kw).fit(X, Y)
    assert a.network_.layers[-1].W_bf16 is not None
    b = slide_ref.SlideClassifier.load(a.save(tmp_path / "m.npz"))
    assert b.bf16 == 3 and b.network_.bf16 == 3
    np.testing.assert_array_equal(b.predict(Xt, k=3)[0], a.predict(Xt, k=3)[0])
    a.partial_fit(X[:128], Y[:128])
    b.partial_fit(X[:128], Y[:128])
    assert_allclose_f32(b.network_.layers[-1].W, a.network_.layers[-1].W, rtol=1e-3,
                        atol=2e-5)


def test_bf16_modes_need_their_output_kind(backend):
    """Mode 3 is the batch-shared block's; modes 1 and 2 are not implemented for it."""
    with pytest.raises(ValueError, match="bf16=3.*batch_labels=True"):
        backend.network.SlideNetwork(10, 5, bf16=3)
    with pytest.raises(ValueError, match="bf16=3"):
        backend.network.SlideNetwork(10, 5, sampled=(False, False), bf16=3)
    sampler = backend.negative.UniformSampler(2, shared=True, batch_labels=True)
    for mode in (1, 2):
        with pytest.raises(ValueError, match="bf16 modes 1 and 2"):
            backend.network.SlideNetwork(10, 5, output_sampler=sampler, bf16=mode)
    X, Y, _, _ = slide_ref.datasets.make_xc(50, 20, 5, n_test=10, random_state=0)
    with pytest.raises(ValueError, match="bf16=3"):
        backend.SlideClassifier(bf16=3, preset="slide_paper", show_progress=False).fit(X, Y)


def test_block_bf16_learns_like_fp32():
    """Same data, seed and steps on the default preset: P@1 of bf16=3 close to fp32."""
    X, Y, Xt, Yt = slide_ref.datasets.make_xc(4000, 500, 200, n_test=1000, random_state=2)
    scores = {}
    for mode in (0, 3):
        clf = slide_fast.SlideClassifier(hidden=32, bf16=mode, lr=1e-2, random_state=0,
                                         show_progress=False, eval_every=0)
        scores[mode] = clf.fit(X, Y, epochs=3).score(Xt, Yt)
    assert scores[0] > 0.8, scores
    assert abs(scores[3] - scores[0]) <= 0.01, scores


@pytest.mark.parametrize("B,C,d", [(37, 77, 128), (8, 33, 40), (1, 1, 1), (5, 601, 19),
                                   (19, 64, 65)])
def test_block_input_delta_bf16_equal(simd_level, rng, B, C, d):
    """``RNE(delta) @ W16[rows]`` masked by ``A > 0``: equal bits below AVX512-BF16 (sums in
    the reference's order), a float tolerance with VDPBF16PS; odd candidate counts leave a
    half pair, C > 512 takes two packed panels."""
    A, W, _, rows = block_case(rng, B, d, C + 50, C)
    A[:, ::3] = 0
    delta = (rng.standard_normal((B, C)) * 0.01).astype(np.float32)
    W16 = shadow_of(W)
    for relu in (True, False):
        want = ref_bf.block_input_delta_bf16(delta, W16, rows, A, relu)
        got = fast_bf.block_input_delta_bf16(delta, W16, rows, A, relu, 2)
        if simd_level == "avx512_bf16":
            assert_allclose_f32(got, want, rtol=1e-5, atol=1e-7)
        else:
            np.testing.assert_array_equal(bits(got), bits(want))
        assert np.all(got[:, ::3] == 0) == relu or B * d == 0
    exact = ref_bf.bits_to_f32(ref_bf.rne_bits(delta)).astype(np.float64) \
        @ ref_bf.bits_to_f32(W16[rows]).astype(np.float64)
    np.testing.assert_allclose(want, exact, rtol=1e-5, atol=1e-7)


def test_block_input_delta_bf16_hand_computed(simd_level):
    delta = np.array([[1, -2, 0.5]], np.float32)
    W = np.array([[1, 2], [0, 0], [3, -1], [4, 4]], np.float32)
    A = np.array([[1, 0]], np.float32)
    rows = np.array([0, 2, 3], np.int32)
    for backend_bf in (ref_bf, fast_bf):
        got = backend_bf.block_input_delta_bf16(delta, shadow_of(W), rows, A, False, 2)
        np.testing.assert_array_equal(got, [[-3, 6]])
        got = backend_bf.block_input_delta_bf16(delta, shadow_of(W), rows, A, True, 2)
        np.testing.assert_array_equal(got, [[-3, 0]])
        with pytest.raises(ValueError, match="block_input_delta_bf16"):
            backend_bf.block_input_delta_bf16(delta, shadow_of(W), rows[:2], A, True)
        with pytest.raises(ValueError, match="outside"):
            backend_bf.block_input_delta_bf16(delta, shadow_of(W), rows + 1, A, True)


@pytest.mark.parametrize("backend_name", ["ref", "fast"])
def test_block_input_delta_reads_the_weights_before_the_step(data, backend_name):
    """The fused step changes the masters first; the delta passed down is still computed
    from the (rounded) weights the forward multiplied."""
    X, Y = data
    mod = {"ref": slide_ref, "fast": slide_fast}[backend_name]
    net = block_net(mod)
    out = net.layers[-1]
    seen = []
    backward = out.backward

    def spy(A, record, delta, relu_in, ctx):
        W_before = out.W.copy()
        dA = backward(A, record, delta, relu_in, ctx)
        seen.append((A.copy(), record.rows.copy(), delta.copy(), W_before, dA))
        return dA
    out.backward = spy
    net.train_batch(X[:64], Y[:64])
    net.train_batch(X[64:128], Y[64:128])
    for A, rows, delta, W_before, dA in seen:
        assert not np.array_equal(out.W[rows], W_before[rows]) or len(seen) < 2
        want = ref_bf.block_input_delta_bf16(delta, shadow_of(W_before), rows, A, True)
        assert_allclose_f32(dA, want, rtol=1e-5, atol=1e-7)
