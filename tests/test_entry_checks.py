"""Regression tests of the fuzz suite's findings at the network, sampler, LSH and model-file
entry points: each bad input raises a clear error naming the argument (or the file and
field) before any kernel sees it, in both backends."""
import json
import os

import numpy as np
import pytest
import scipy.sparse as sp

from slide_ref._memory import MEMORY_LIMIT_ENV
from slide_ref._validation import StateError

N_FEATURES, N_OUTPUTS = 30, 20


def small_net(backend, **kw):
    params = dict(hidden=(8,), lsh=dict(K=2, L=3, min_active=4, fill_below=6), batch_size=4,
                  random_state=0, n_threads=1)
    params.update(kw)
    return backend.network.SlideNetwork(N_FEATURES, N_OUTPUTS, **params)


def batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, N_FEATURES, density=0.3, format="csr", random_state=seed,
                  dtype=np.float32)
    X.data[:] = rng.uniform(0.1, 1.0, X.nnz)
    X = X + sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), np.arange(n))),
                          shape=X.shape)
    Y = sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), np.arange(n) % N_OUTPUTS)),
                      shape=(n, N_OUTPUTS))
    return sp.csr_matrix(X, dtype=np.float32), Y


@pytest.fixture
def little_memory(monkeypatch):
    """1 GiB of memory, whatever the machine has."""
    monkeypatch.setenv(MEMORY_LIMIT_ENV, str(2**30))


# ----------------------------------------------------------------------------- sizes
def test_memory_refusals_name_the_argument(backend, little_memory):
    with pytest.raises(MemoryError, match=r"n_outputs=1000000000"):
        backend.network.SlideNetwork(50, 10**9, hidden=(16,), n_threads=1)
    with pytest.raises(MemoryError, match=r"L=1000000000"):
        backend.lsh.DWTAHash(16, K=6, L=10**9, random_state=0)
    with pytest.raises(MemoryError, match=r"n_negatives=100000000"):
        small_net(backend, output_sampler=backend.negative.UnigramSampler(n_negatives=10**8))


def test_counts_beyond_int32_are_refused(backend):
    for name in ("min_active", "bucket_capacity", "fill_below", "selection_param"):
        with pytest.raises(ValueError, match=name):
            small_net(backend, lsh=dict(K=2, L=3, **{name: 10**12}))
    with pytest.raises(ValueError, match="n_negatives"):
        small_net(backend, output_sampler=backend.negative.UnigramSampler(n_negatives=10**12))


def test_unknown_hash_params_are_named(backend):
    with pytest.raises(ValueError, match="hash_params.*bogus"):
        small_net(backend, lsh=dict(K=2, L=3, hash_params={"bogus": 1}))
    net = small_net(backend, lsh=dict(K=2, L=3, hash_params={"bin_size": 4}))
    assert net.sampler_.index_.family.bin_size == 4


def test_unhashable_choices_are_value_errors(backend):
    for name in ("optimizer", "init"):
        for value in ([1, 2], {"a": 1}):
            with pytest.raises(ValueError, match=name):
                small_net(backend, **{name: value})


# ----------------------------------------------------------------------------- inference
def test_embed_checks_its_input(backend):
    net = small_net(backend)
    X, _ = batch()
    dense = net.embed(X.toarray())                   # dense input is converted, as elsewhere
    np.testing.assert_array_equal(dense, net.embed(X))
    broken = X.copy()
    broken.indices = broken.indices.astype(np.int64)
    broken.indices[0] = 2**31
    with pytest.raises(ValueError, match="X"):
        net.embed(broken)
    bad_ptr = X.copy()
    bad_ptr.indptr[1] = -1
    with pytest.raises(ValueError, match="X"):
        net.embed(bad_ptr)


def test_sampled_scoring_without_lsh_names_sampled(backend):
    net = small_net(backend, output_sampler=backend.negative.UniformSampler(5))
    X, _ = batch()
    for call in (lambda: net.predict_topk(X, k=2, sampled=True),
                 lambda: net.output_scores(X, sampled=True)):
        with pytest.raises(ValueError, match="sampled=True"):
            call()


# ----------------------------------------------------------------------------- states
def family_state(backend, name):
    return getattr(backend.lsh, name)(50, K=2, L=3, random_state=0).get_state()


@pytest.mark.parametrize("name,key,damage", [
    ("WTAHash", "slots", lambda a: a + 10**6),
    ("DWTAHash", "slots", lambda a: a.astype(np.float64) + 0.5),
    ("DWTAHash", "slots", lambda a: a.astype(np.complex128)),
    ("SimHash", "idx", lambda a: a.astype(np.float64)),
    ("SimHash", "idx", lambda a: np.concatenate([a[:, :1], a[:, :-1]], axis=1)),
    ("SimHash", "sign", lambda a: a * 3),
    ("DensifiedMinHash", "coord_bin", lambda a: a - 1 - a.max()),
    ("PStableHash", "A", lambda a: a.astype(np.complex128)),
    ("PStableHash", "offset", lambda a: np.where(np.arange(a.size) == 0, np.nan, a)),
])
def test_family_state_arrays_are_checked(backend, name, key, damage):
    state = family_state(backend, name)
    state["arrays"][key] = damage(np.asarray(state["arrays"][key]))
    with pytest.raises(StateError, match=f"<state>: {key}:"):
        backend.lsh.hash_family_from_state(state, module=backend.lsh)


def test_family_state_round_trip_still_exact(backend):
    for name in ("WTAHash", "DWTAHash", "SimHash", "DensifiedMinHash", "PStableHash"):
        fam = getattr(backend.lsh, name)(50, K=2, L=3, random_state=1)
        again = backend.lsh.hash_family_from_state(fam.get_state(), module=backend.lsh)
        X = np.random.default_rng(0).standard_normal((5, 50))
        np.testing.assert_array_equal(fam.hash(X), again.hash(X))


def trained_state(backend, **kw):
    net = small_net(backend, **kw)
    for seed in range(2):
        net.train_batch(*batch(seed=seed))
    return net.get_state()


def test_tables_whose_buckets_a_build_cannot_leave_are_refused(backend):
    # the order of ids within a bucket is checked for FIFO tables (a reservoir keeps any order)
    params, arrays = trained_state(backend, lsh=dict(K=2, L=3, min_active=4, fill_below=6,
                                                     bucket_policy="fifo"))
    members = np.asarray(arrays["sampler.tables.members"])
    for damaged in (members[::-1].copy(), np.concatenate([members[:1], members[:-1]])):
        bad = dict(arrays, **{"sampler.tables.members": damaged})
        with pytest.raises(StateError, match="sampler.tables.members"):
            backend.network.SlideNetwork.from_state(params, bad)
    net = backend.network.SlideNetwork.from_state(params, arrays)      # the saved one loads
    assert net.predict_topk(batch()[0], k=2, sampled=True)[0].shape == (6, 2)


# ----------------------------------------------------------------------------- files
@pytest.fixture
def fitted(backend):
    X, Y = batch(16)
    return backend.SlideClassifier(hidden=8, lsh=dict(K=2, L=3), batch_size=8, random_state=0,
                                   show_progress=False, n_threads=1).fit(X, Y)


def test_save_checks_path_and_overwrite(fitted, tmp_path):
    with pytest.raises(ValueError, match="path"):
        fitted.save(str(tmp_path / "nul\0.npz"))
    with pytest.raises(TypeError, match="overwrite"):
        fitted.save(str(tmp_path / "m.npz"), overwrite="yes")
    assert not os.listdir(tmp_path)


def test_load_refuses_a_directory_naming_it(backend, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    with pytest.raises(StateError, match="models"):
        backend.SlideClassifier.load(str(folder))


@pytest.mark.parametrize("field,value", [("n_threads", "abc"), ("n_threads", [1, 2]),
                                         ("init", {"a": 1}), ("optimizer", "adagrad"),
                                         ("hidden", [0]), ("lr", "fast")])
def test_saved_estimator_settings_are_checked(backend, fitted, tmp_path, field, value):
    path = str(tmp_path / "m.npz")
    fitted.save(path)
    with np.load(path) as data:
        members = {k: data[k] for k in data.files}
    meta = json.loads(str(members["__meta__"]))
    meta["estimator"][field] = value
    members["__meta__"] = np.array(json.dumps(meta))
    with open(path, "wb") as fh:
        np.savez(fh, **members)
    with pytest.raises(StateError, match=f"m.npz: estimator.{field}:"):
        backend.SlideClassifier.load(path)


# ----------------------------------------------------------------------------- numerics
@pytest.mark.parametrize("kernels", ["slide_ref", "slide_fast"])
def test_sampled_loss_of_a_far_label_is_finite_and_exact(kernels):
    """A label whose logit lies 1e5 below the best has probability exp(-1e5), which
    underflows: its loss is computed in the log domain (1e5), the same in both backends."""
    import importlib
    network = importlib.import_module(f"{kernels}._kernels.network")
    z = np.array([0.0, -1e5, -2.0], dtype=np.float32)
    _, loss = network.softmax_xent_pairs(
        z, np.array([0, 3], np.int64), np.array([4, 7, 9], np.int32),
        np.array([0, 1], np.int64), np.array([7], np.int32), np.ones(1), 1.0)
    expected = 1e5 + np.log1p(np.exp(-2.0))
    np.testing.assert_allclose(loss, [expected], rtol=1e-6)


# ----------------------------------------------------------------------------- more names
def test_further_settings_are_named(backend, little_memory):
    with pytest.raises(MemoryError, match="range_pow=30"):
        small_net(backend, lsh=dict(K=2, L=4, range_pow=30))
    with pytest.raises(ValueError, match="selection_param"):
        small_net(backend, lsh=dict(K=2, L=3, selection="topk", selection_param=0))
    with pytest.raises(ValueError, match="topk"):
        backend.lsh.DensifiedMinHash(50, K=2, L=3, topk=10**12)
    with pytest.raises(ValueError, match=r"hidden=\(\)"):
        backend.network.SlideNetwork(N_FEATURES, N_OUTPUTS, hidden=(), n_threads=1)
    with pytest.raises(TypeError, match="sampled"):
        small_net(backend, sampled=1)
    with pytest.raises(ValueError, match="lsh has unknown settings"):
        small_net(backend, lsh={"a": 1})
    with pytest.raises(TypeError, match="counts"):
        small_net(backend, output_sampler=backend.negative.UnigramSampler(4, counts="abc"))


def test_probe_seed_outside_32_bits_is_refused(backend):
    state = family_state(backend, "DWTAHash")
    state["arrays"]["probe_seed"] = np.int64(-5)
    with pytest.raises(StateError, match="probe_seed"):
        backend.lsh.hash_family_from_state(state, module=backend.lsh)


def test_state_of_another_sampler_names_output_sampler(backend):
    params, arrays = trained_state(backend, output_sampler=backend.negative.UniformSampler(4))
    params = dict(params, output_sampler=None)
    with pytest.raises(StateError, match="lsh settings|output_sampler"):
        backend.network.SlideNetwork.from_state(params, arrays)
