"""The PyTorch peers of the benchmarks (skipped where torch is not installed)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from slide_bench import configs, peers  # noqa: E402

CONFIG = dict(n_features=300, n_labels=400, labels_per_sample=1, range_pow=8)


@pytest.fixture(scope="module")
def data():
    return configs.make_data(CONFIG, 1024, 256)


def test_sparse_peer_updates_only_touched_output_rows(data):
    X, Y, _, _ = data
    m = peers.TorchXC(300, 400, loss="uniform", optimizer="sparse", n_negatives=20, seed=1)
    before = m.out_w.weight.detach().clone()
    m.train_batch(X[:8], Y[:8])
    changed = np.flatnonzero((m.out_w.weight.detach() != before).any(dim=1).numpy())
    assert 0 < changed.size <= 20 + 8
    assert set(Y[:8].indices) <= set(changed)


@pytest.mark.parametrize("model", ["torch-uniform", "torch-uniform-sparse", "torch-loguniform"])
def test_peer_loss_falls(data, model):
    X, Y, _, _ = data
    m = configs.make_model(CONFIG, f"{model}:50", Y, seed=0)
    first = np.mean([m.train_batch(X[i:i + 128], Y[i:i + 128]) for i in range(0, 512, 128)])
    for _ in range(10):
        configs.train(m, X, Y, 8)
    last = np.mean([m.train_batch(X[i:i + 128], Y[i:i + 128]) for i in range(0, 512, 128)])
    assert last < first


def test_blocked_prediction_equals_whole(data):
    _, _, Xt, _ = data
    m = peers.TorchXC(300, 400, loss="uniform", optimizer="sparse", seed=0)
    assert np.array_equal(m.predict_top1(Xt, block=100), m.predict_top1(Xt, block=10**6))


def test_sparse_needs_sampled_loss():
    with pytest.raises(ValueError, match="sampled loss"):
        peers.TorchXC(10, 10, loss="full", optimizer="sparse")
    with pytest.raises(ValueError, match="optimizer"):
        peers.TorchXC(10, 10, optimizer="sgd")


def test_sparse_and_dense_peers_start_from_the_same_output_layer():
    dense = peers.TorchXC(30, 40, loss="uniform", seed=3)
    sparse = peers.TorchXC(30, 40, loss="uniform", optimizer="sparse", seed=3)
    assert torch.equal(dense.out.weight, sparse.out_w.weight)
    assert torch.equal(dense.out.bias, sparse.out_b.weight[:, 0])
    assert torch.equal(dense.emb.weight, sparse.emb.weight)
