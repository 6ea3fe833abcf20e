"""The helpers of the LNS real-data figure: label matrices, row subsets, the equal-time summary
(time to the full softmax's P@1) and the model table (every entry builds a network)."""
import numpy as np
import pytest

pytest.importorskip("paper_figures", reason="run from the repository root")
from paper_figures import fig08_lns_real as fig  # noqa: E402


def test_one_hot_puts_each_label_in_its_row():
    Y = fig.one_hot([2, 0, 2], 4)
    assert Y.shape == (3, 4)
    assert Y.toarray().tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 1, 0]]


def test_row_subset_is_sorted_distinct_and_seeded():
    rows = fig.row_subset(100, 10, seed=0)
    assert len(set(rows)) == 10 and np.all(np.diff(rows) > 0) and rows.max() < 100
    assert np.array_equal(rows, fig.row_subset(100, 10, seed=0))
    assert np.array_equal(fig.row_subset(5, 10, seed=0), np.arange(5))


def test_time_to_is_the_first_point_at_the_target():
    curve = [(1.0, 10, 0.2), (2.0, 20, 0.5), (3.0, 30, 0.4), (4.0, 40, 0.6)]
    assert fig.time_to(curve, 0.5) == 2.0
    assert fig.time_to(curve, 0.7) is None


def test_summarize_measures_speedup_against_the_full_softmax():
    curves = {"full": [(10.0, 100, 0.3), (20.0, 200, 0.5)],
              "shared-uniform": [(5.0, 500, 0.495), (20.0, 2000, 0.6)],
              "lsh-label": [(20.0, 300, 0.1)]}
    s = fig.summarize(curves, n_train=1000)
    assert s["target"] == pytest.approx(0.49)
    rows = s["rows"]
    assert rows["full"]["time_to_target"] == 20.0 and rows["full"]["speedup"] == 1.0
    assert rows["shared-uniform"]["speedup"] == pytest.approx(4.0)
    assert rows["shared-uniform"]["samples_per_s"] == pytest.approx(100.0)
    assert rows["shared-uniform"]["epochs"] == pytest.approx(2.0)
    assert rows["lsh-label"]["time_to_target"] is None and rows["lsh-label"]["speedup"] is None
    assert fig.verdict(s) == {"best_static": "shared-uniform", "best_adaptive": "lsh-label"}


def test_summarize_without_the_full_softmax_has_no_target():
    s = fig.summarize({"uniform": [(1.0, 10, 0.2)]}, n_train=10)
    assert s["target"] is None and s["rows"]["uniform"]["time_to_target"] is None


@pytest.mark.parametrize("name", sorted(fig.MODELS))
def test_every_model_builds_a_network_that_predicts(name):
    rng = np.random.default_rng(0)
    X = fig.sp.random(64, 30, density=0.2, format="csr", dtype=np.float32, random_state=0)
    Y = fig.one_hot(rng.integers(0, 40, 64), 40)
    net = fig.make_network(fig.MODELS[name], 30, 40, Y, n_threads=1)
    assert fig.MODELS[name].kind in ("static", "adaptive", "reference")
    curve = fig._common.train_curve(net, X, Y, X, Y, 16, budget_s=60, eval_every=10**9,
                                    predict_top1=fig.top1)
    assert curve[-1][1] == 64 and 0.0 <= curve[-1][2] <= 1.0


def test_markdown_has_one_row_per_model():
    curves = {"full": [(1.0, 10, 0.5)], "shared-uniform": [(1.0, 30, 0.5)]}
    stats = {"n_train": 10, "n_test": 5, "n_features": 3, "n_labels": 4, "budget_s": 1.0,
             "chunks": 1}
    text = fig.markdown("T", stats, fig.summarize(curves, 10))
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 3 and "full softmax" in rows[1] and "1.00x" in rows[2]


def test_popularity_p1_predicts_the_most_frequent_training_label():
    Y = fig.one_hot([3, 3, 1, 3], 5)
    assert fig.popularity_p1(Y, fig.one_hot([3, 1, 3, 0], 5)) == 0.5
    stats = {"n_train": 4, "n_test": 4, "n_features": 2, "n_labels": 5, "budget_s": 1.0,
             "chunks": 1, "popularity_p1": 0.5}
    text = fig.markdown("T", stats, fig.summarize({"full": [(1.0, 4, 0.5)]}, 4))
    assert "most frequent training label scores P@1 0.5000" in text


@pytest.mark.parametrize("args", [["--budget-xc", "0"], ["--budget-text", "nan"],
                                  ["--chunks-xc", "0"], ["--text-test", "-1"]])
def test_main_refuses_arguments_that_cannot_make_a_run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        fig.main(args)
    assert exc.value.code == 2
    assert args[0] in capsys.readouterr().err
