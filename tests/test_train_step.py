"""The per-batch path of a training step: one catch-up kernel call per layer
(``adam_catchup_rows``) bit for bit equal to the per-array calls it replaces, batches of
checked training data as views (``CSRBatch``, ``TrainingData.step_batch``), and training
through them equal to ``train_batch`` on the same rows."""
import numpy as np
import pytest
import scipy.sparse as sp

import slide_fast
import slide_ref
from slide_fast._kernels import network as fast_nn
from slide_ref._kernels import network as ref_nn
from slide_ref.training import CSRBatch, NetworkTrainer, prepare_training_data

from conftest import assert_allclose_f32

ADAM = (1e-3, 0.9, 0.999, 1e-8)


def _layer_arrays(rng, N=60, d=19):
    W, m = rng.standard_normal((2, N, d)).astype(np.float32)
    v = rng.random((N, d)).astype(np.float32)
    b, mb = rng.standard_normal((2, N)).astype(np.float32)
    vb = rng.random(N).astype(np.float32)
    return [W, m, v, b, mb, vb]


def _rows_and_last(rng, N=60, t=400):
    rows = np.sort(rng.choice(N, 25, replace=False)).astype(np.int32)
    last = rng.integers(0, t, N).astype(np.int64)
    last[rows[0]] = t - 1                       # nothing missed
    last[rows[1:4]] = [0, t - 1 - 200, t - 1 - 201]   # both sides of the tabulated range
    return rows, last


def test_catchup_rows_equals_catchup_per_array(simd_level, rng):
    """Bit for bit the two ``adam_catchup`` calls (weights, then the bias column) and the
    ``last`` update that catch-up Adam made before."""
    t = 400
    arrays = _layer_arrays(rng)
    rows, last = _rows_and_last(rng)
    fused, last_fused = [a.copy() for a in arrays], last.copy()
    fast_nn.adam_catchup_rows(*fused, rows, last_fused, t, *ADAM, 2)
    split = [a.copy() for a in arrays]
    skipped = t - 1 - last[rows]
    fast_nn.adam_catchup(*split[:3], rows, skipped, t, *ADAM, 1)
    b, mb, vb = (a[:, None] for a in split[3:])
    fast_nn.adam_catchup(b, mb, vb, rows, skipped, t, *ADAM, 1)
    for x, y in zip(fused, split):
        np.testing.assert_array_equal(x, y)
    expected_last = last.copy()
    expected_last[rows] = t - 1
    np.testing.assert_array_equal(last_fused, expected_last)
    untouched = np.setdiff1d(np.arange(60), rows[1:])
    np.testing.assert_array_equal(fused[0][untouched], arrays[0][untouched])
    assert not np.array_equal(fused[3][rows[1:]], arrays[3][rows[1:]])


@pytest.mark.parametrize("with_bias", [True, False])
def test_catchup_rows_ref_equals_fast(rng, with_bias):
    t = 400
    arrays = _layer_arrays(rng)
    if not with_bias:
        arrays[3:] = [None] * 3
    rows, last = _rows_and_last(rng)
    out = []
    for nn in (ref_nn, fast_nn):
        a = [None if x is None else x.copy() for x in arrays]
        lst = last.copy()
        nn.adam_catchup_rows(*a, rows, lst, t, *ADAM, 2)
        out.append((a, lst))
    (a_ref, last_ref), (a_fast, last_fast) = out
    for x, y in zip(a_ref, a_fast):
        if x is not None:
            assert_allclose_f32(y, x, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(last_fast, last_ref)


def test_catchup_rows_refuses_bad_arguments(rng):
    W, m, v, b, mb, vb = _layer_arrays(rng)
    last = np.zeros(60, np.int64)
    with pytest.raises(ValueError, match="rows"):
        fast_nn.adam_catchup_rows(W, m, v, b, mb, vb, np.array([3, 60], np.int32), last, 5,
                                  *ADAM)
    with pytest.raises(ValueError, match="last"):
        fast_nn.adam_catchup_rows(W, m, v, b, mb, vb, np.array([3], np.int32), last[:-1], 5,
                                  *ADAM)
    with pytest.raises(ValueError, match="b, mb and vb"):
        fast_nn.adam_catchup_rows(W, m, v, b[:-1], mb, vb, np.array([3], np.int32), last, 5,
                                  *ADAM)
    with pytest.raises(ValueError, match="shape of W"):
        fast_nn.adam_catchup_rows(W, m[:, :-1].copy(), v, b, mb, vb, np.array([3], np.int32),
                                  last, 5, *ADAM)


@pytest.fixture(scope="module")
def prepared():
    X, Y = slide_ref.datasets.make_xc(300, 120, 80, labels_per_sample=2, random_state=5)
    return X, Y, prepare_training_data(X, Y, 80, n_features=120)


@pytest.mark.parametrize("rows", [slice(64, 128), slice(290, 400), slice(7, 7),
                                  np.array([5, 299, 17, 17, 0])])
def test_step_batch_matches_the_scipy_batch(prepared, rows):
    X, Y, data = prepared
    Xb, labels, w = data.step_batch(rows)
    Xs, Ys, ws = data.batch(rows)
    assert isinstance(Xb, CSRBatch) and Xb.shape == Xs.shape and Xb.nnz == Xs.nnz
    np.testing.assert_array_equal(Xb.indptr, Xs.indptr)
    np.testing.assert_array_equal(Xb.indices, Xs.indices)
    np.testing.assert_array_equal(Xb.data, Xs.data)
    assert Xb.indices.dtype == np.int32 and Xb.data.dtype == np.float32
    assert labels[0].dtype == np.int64 and labels[1].dtype == np.int32
    np.testing.assert_array_equal(labels[0], Ys.indptr)
    np.testing.assert_array_equal(labels[1], Ys.indices)
    np.testing.assert_array_equal(w, ws)
    assert not w.flags.writeable and ws.flags.writeable      # shared ones stay unchanged


def test_step_batch_weights(prepared):
    X, Y, _ = prepared
    sw = np.linspace(0.5, 2.0, X.shape[0])
    data = prepare_training_data(X, Y, 80, sample_weight=sw)
    extra = np.full(10, 3.0)
    np.testing.assert_array_equal(data.step_batch(slice(10, 20), extra)[2], sw[10:20] * 3)
    bare = prepare_training_data(X, Y, 80)
    np.testing.assert_array_equal(bare.step_batch(slice(10, 20), extra)[2], extra)


@pytest.mark.parametrize("optimizer", ["catchup_adam", "adam"])
def test_trainer_steps_equal_train_batch(backend, prepared, optimizer):
    """The trainer's view batches train bit for bit as ``train_batch`` on SciPy slices."""
    X, Y, data = prepared
    nets = []
    for _ in range(2):
        sampler = backend.negative.UniformSampler(20, shared=True, batch_labels=True,
                                                  hard_negatives=2)
        nets.append(backend.SlideNetwork(120, 80, hidden=(16,), optimizer=optimizer,
                                         output_sampler=sampler, random_state=0, n_threads=1))
    trainer = NetworkTrainer(nets[1], data)
    order = np.random.default_rng(0).permutation(300)
    for batch in [slice(0, 64), slice(64, 128), order[:50], slice(250, 300)]:
        la = nets[0].train_batch(X[batch], Y[batch])
        lb = trainer.step(batch)
        assert la == lb
    for a, b in zip(nets[0].layers, nets[1].layers):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)


def test_csr_batch_trains_like_a_scipy_matrix(rng):
    """The fast input-layer kernels read a :class:`CSRBatch` as they read SciPy's CSR."""
    X = sp.random(16, 50, density=0.2, format="csr", dtype=np.float32, random_state=1)
    view = CSRBatch(X.indptr, X.indices, X.data, X.shape)
    net = slide_fast.SlideNetwork(50, 30, hidden=(8,), random_state=0, n_threads=1)
    layer = net.layers[0]
    np.testing.assert_array_equal(layer.forward_all(view, 1), layer.forward_all(X, 1))


def test_catchup_adam_other_params_take_the_general_path(rng):
    """Two wide row-indexed arrays are not a weight and its bias column: each catches up
    as before (per-array ``adam_catchup``), none is taken for a bias."""
    opt = slide_ref.optimizers
    arrays = [rng.standard_normal((3, 20, 4)).astype(np.float32) for _ in range(2)]
    for a in arrays:
        a[2] = np.abs(a[2])
    rows = np.array([1, 5, 7], np.int32)
    last = np.array([0, 2, 0, 0, 0, 4, 0, 1] + [0] * 12, np.int64)
    params = [opt.Param(a[0], None, a[1], a[2]) for a in [x.copy() for x in arrays]]
    lst = last.copy()
    slide_fast.optimizers.CatchUpAdam(lr=0.1).before_read(params, rows, lst, 9, 1)
    for p, a in zip(params, arrays):
        W, m, v = a.copy()
        fast_nn.adam_catchup(W, m, v, rows, 8 - last[rows], 9, 0.1, 0.9, 0.999, 1e-8, 1)
        np.testing.assert_array_equal(p.value, W)
        np.testing.assert_array_equal(p.v, v)
    assert (lst[rows] == 8).all() and lst[0] == 0
