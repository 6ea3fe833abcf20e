"""The pieces of the real-data figures (fig06, fig07) that their --smoke runs do not pin down:
the PyTorch peers skipped without torch, the time-sliced training, the one-hot labels, and
the docs table built from recorded curves."""
import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("paper_figures", reason="run from the repository root")
from paper_figures import fig06_debian_xc as fig06  # noqa: E402
from paper_figures import fig07_debian_text as fig07  # noqa: E402


def test_peers_are_skipped_with_a_note_without_torch(monkeypatch):
    monkeypatch.setattr(fig06.peers, "torch", None)
    assert fig06.runnable_peers(["torch-full", "torch-uniform-sparse"]) == ([], fig06.NO_TORCH)
    assert fig06.runnable_peers([]) == ([], None)      # none asked: nothing to say


def test_docs_table_names_skipped_peers_and_has_no_peer_ratio():
    curves = {"full_softmax": [(10.0, 1000, 0.50), (20.0, 2000, 0.60)],
              "shared_uniform": [(2.0, 1000, 0.59), (4.0, 2000, 0.62)]}
    data = {"curves": curves, "epochs": 2, "peers_note": fig06.NO_TORCH,
            "data": {"name": "set", "n_train": 10, "n_test": 5, "n_features": 3,
                     "n_labels": 4}}
    table = fig06.doc_tables(data)["fig06"]
    assert "train s to P@1 >= 0.588 (98% of full softmax) | train s, all |" in table
    assert "best PyTorch peer" not in table
    assert "| `shared_uniform` | batch-shared uniform + catch-up Adam | 500 | — | 0.5900 | " \
           "0.6200 | 0.6200 | 2.0 | 4.0 |" in table
    assert table.rstrip().endswith(fig06.NO_TORCH + ".")


def test_samples_per_second_are_relative_to_the_fastest_peer():
    curves = {"full_softmax": [(10.0, 1000, 0.5)], "torch-full": [(10.0, 500, 0.4)],
              "torch-uniform-sparse": [(10.0, 2000, 0.45)]}
    head, rule, *rows = fig06.results_table(curves)
    assert [r.split(" | ")[3] for r in rows] == ["0.50x", "0.25x", "1.00x"]
    # targets: 98% of the full softmax's 0.5 and of the best peer's 0.45
    assert "P@1 >= 0.490 (98% of full softmax) | train s to P@1 >= 0.441 (98% of best " \
           "PyTorch peer)" in head and rule.count("---") == 10
    assert rows[1].endswith("| not reached | not reached | 10.0 |")
    assert rows[2].endswith("| not reached | 10.0 | 10.0 |")


def test_one_hot_labels_of_word_ids():
    Y = fig07.one_hot(np.array([2, 0, 2]), 4)
    assert sp.issparse(Y) and Y.shape == (3, 4)
    assert Y.toarray().tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 1, 0]]
    with pytest.raises(ValueError, match="y"):
        fig07.one_hot(np.array([0, 4]), 4)


class _CountingModel:
    """Records the rows of every batch (``train_batch`` of a non-network model)."""

    def __init__(self):
        self.batches = []

    def train_batch(self, X, Y):
        self.batches.append(np.asarray(X[:, 0].toarray()).ravel().astype(int))


def test_timed_learner_trains_until_its_clock_and_reshuffles_each_epoch():
    n = 10
    X = sp.csr_matrix(np.arange(n, dtype=np.float32)[:, None])
    Y = fig07.one_hot(np.zeros(n, dtype=int), 2)
    model = _CountingModel()
    learner = fig07.TimedLearner(model, X, Y, batch_size=4, seed=0)
    learner.train_until(0.0)
    assert learner.samples == 0 and not model.batches       # clock already there
    while learner.samples < 2 * n:
        learner.train_until(learner.train_s + 1e-9)            # at least one more batch
    first, second = np.concatenate(model.batches[:3]), np.concatenate(model.batches[3:6])
    assert sorted(first) == list(range(n)) and sorted(second) == list(range(n))
    assert [len(b) for b in model.batches[:6]] == [4, 4, 2, 4, 4, 2]
    assert learner.samples == 20 and learner.train_s > 0


def test_subset_draws_distinct_sorted_rows():
    rows = fig07.subset(100, 30, np.random.default_rng(0))
    assert len(np.unique(rows)) == 30 and np.all(np.diff(rows) > 0) and rows.max() < 100
    assert np.array_equal(fig07.subset(5, 30, np.random.default_rng(0)), np.arange(5))
