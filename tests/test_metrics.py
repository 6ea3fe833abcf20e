"""Tests of slide_ref.metrics against hand-computed values."""
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from slide_ref import metrics as M

# Discounts 1/log2(r + 1) for ranks 1, 2, 3.
D1, D2, D3 = 1.0, 1.0 / np.log2(3), 0.5


@pytest.fixture
def small():
    """3 samples, 5 labels; sample 2 has no true label.

    true labels          predictions (best first)     hits
    s0: {0, 2}           [0, 1, 2]                    [1, 0, 1]
    s1: {1}              [1, -1, 3]  (-1: none)       [1, 0, 0]
    s2: {}               [4, 3, 2]                    [0, 0, 0]
    """
    Y = sp.csr_matrix(np.array([[1, 0, 1, 0, 0],
                                [0, 1, 0, 0, 0],
                                [0, 0, 0, 0, 0]], dtype=np.float32))
    pred = np.array([[0, 1, 2], [1, -1, 3], [4, 3, 2]])
    return Y, pred


def test_precision_hand_computed(small):
    Y, pred = small
    # P@1 = (1 + 1 + 0) / 3;  P@2 = (1/2 + 1/2 + 0) / 3;  P@3 = (2/3 + 1/3 + 0) / 3
    expected = [2 / 3, 1 / 3, 1 / 3]
    result = M.precision_at_k(Y, pred, k=3)
    assert result.dtype == np.float64 and result.shape == (3,)
    assert_allclose(result, expected)


def test_ndcg_hand_computed(small):
    Y, pred = small
    # s0: DCG = 1, 1, 1 + D3;  IDCG (2 positives) = 1, 1 + D2, 1 + D2
    # s1: DCG = 1, 1, 1;       IDCG (1 positive)  = 1, 1, 1
    # s2: no positives -> 0 (still counted in the mean)
    s0 = [1.0, 1.0 / (D1 + D2), (D1 + D3) / (D1 + D2)]
    expected = [(s0[j] + 1.0 + 0.0) / 3 for j in range(3)]
    assert_allclose(M.ndcg_at_k(Y, pred, k=3), expected)
    assert_allclose(expected, [0.666667, 0.537716, 0.639907], atol=1e-6)


def test_recall_hand_computed(small):
    Y, pred = small
    # s0: 1/2, 1/2, 2/2;  s1: 1, 1, 1;  s2: 0
    assert_allclose(M.recall_at_k(Y, pred, k=3), [0.5, 0.5, 2 / 3])


def test_psprecision_hand_computed(small):
    Y, pred = small
    w = np.array([2.0, 1.0, 3.0, 1.0, 1.0])
    # gains of the prediction: s0 [2, 0, 3], s1 [1, 0, 0], s2 [0, 0, 0]
    # best gains (true labels by weight): s0 [3, 2, 0], s1 [1, 0, 0], s2 [0, 0, 0]
    # @1: mean(2, 1, 0) / mean(3, 1, 0) = 1 / (4/3)
    # @2: mean(2, 1, 0) / mean(5, 1, 0) = 1 / 2
    # @3: mean(5, 1, 0) / mean(5, 1, 0) = 1
    assert_allclose(M.psprecision_at_k(Y, pred, w, k=3), [0.75, 0.5, 1.0])


def test_psndcg_hand_computed(small):
    Y, pred = small
    w = np.array([2.0, 1.0, 3.0, 1.0, 1.0])
    # Each sample's (PS)DCG is first divided by its plain IDCG (pyxclib):
    # s0 IDCG = 1, 1 + D2, 1 + D2;  s1 IDCG = 1, 1, 1;  s2 contributes 0.
    # s0 PSDCG   = 2, 2, 2 + 3*D3          s1 PSDCG   = 1, 1, 1
    # s0 PSDCG*  = 3, 3 + 2*D2, 3 + 2*D2   s1 PSDCG*  = 1, 1, 1
    idcg0 = np.array([1.0, 1 + D2, 1 + D2])
    num = (np.array([2.0, 2.0, 2 + 3 * D3]) / idcg0 + 1.0) / 3
    den = (np.array([3.0, 3 + 2 * D2, 3 + 2 * D2]) / idcg0 + 1.0) / 3
    result = M.psndcg_at_k(Y, pred, w, k=3)
    assert_allclose(result, num / den)
    assert_allclose(result, [0.75, 0.616165, 0.870713], atol=1e-6)


def test_multilabel_all_correct_is_one():
    # Every sample's top-|y| predictions are exactly its labels.
    Y = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 1, 0, 1]]))
    pred = np.array([[2, 0, 1], [3, 1, 0]])
    # P@3: s0 3/3, s1 2/3 -> 5/6; the best achievable is also 5/6.
    assert_allclose(M.precision_at_k(Y, pred, 3), [1.0, 1.0, 5 / 6])
    assert_allclose(M.ndcg_at_k(Y, pred, 3), [1.0, 1.0, 1.0])
    w = np.array([5.0, 1.0, 2.0, 3.0])
    # s0 predicts [2, 0, 1] (weights 2, 5, 1) which is not by weight, so < 1 at @1, @2.
    # @1: mean(2, 3) / mean(5, 3) = 2.5 / 4;  @2: mean(7, 4) / mean(7, 4) = 1
    assert_allclose(M.psprecision_at_k(Y, pred, w, 3), [2.5 / 4, 1.0, 1.0])


def test_ties_broken_by_lower_label_id():
    # Scores of s0: label 1 best, then labels 0, 2, 3 tied, then 4.
    S = np.array([[0.5, 0.9, 0.5, 0.5, 0.1],
                  [0.2, 0.2, 0.2, 0.2, 0.2]])
    Y = sp.csr_matrix(np.array([[0, 0, 1, 0, 0],
                                [0, 0, 0, 1, 0]]))
    # Ranking s0: [1, 0, 2, 3, 4]; s1: [0, 1, 2, 3, 4]
    expected_ids = np.array([[1, 0, 2, 3, 4], [0, 1, 2, 3, 4]])
    # hits: s0 at rank 3, s1 at rank 4
    expected = [0.0, 0.0, (1 / 3 + 0) / 2, (1 / 4 + 1 / 4) / 2, (1 / 5 + 1 / 5) / 2]
    for pred in (S, sp.csr_matrix(S), expected_ids):
        assert_allclose(M.precision_at_k(Y, pred, 5), expected)


def _random_problem(seed, n=40, n_labels=12):
    rng = np.random.default_rng(seed)
    Y = sp.csr_matrix(rng.random((n, n_labels)) < 0.2, dtype=np.float32)
    # Scores with many ties (few distinct values) and some rows sparse.
    S = np.round(rng.random((n, n_labels)) * 4) / 4
    return Y, S


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prediction_formats_agree(seed):
    Y, S = _random_problem(seed)
    k = 5
    ids = np.argsort(-S, axis=1, kind="stable")[:, :k]      # ties -> lower id first
    scores = np.take_along_axis(S, ids, axis=1)
    w = M.inverse_propensity(Y)
    formats = [S, sp.csr_matrix(S + 1.0), ids, np.hstack([ids, ids[:, :1] * 0 - 1]),
               (ids, scores), ids.tolist()]
    for metric in (M.precision_at_k, M.ndcg_at_k, M.recall_at_k):
        reference = metric(Y, S, k)
        for pred in formats[1:]:
            assert_allclose(metric(Y, pred, k), reference)
    for metric in (M.psprecision_at_k, M.psndcg_at_k):
        reference = metric(Y, S, w, k)
        for pred in formats[1:]:
            assert_allclose(metric(Y, pred, w, k), reference)


def test_sparse_rows_with_few_entries_equal_minus_one_padding():
    # Row 0 stores 2 scores, row 1 one, row 2 none: fewer predictions.
    S = sp.csr_matrix((np.array([0.3, 0.7, 0.1]), np.array([1, 3, 0]), np.array([0, 2, 3, 3])),
                      shape=(3, 4))
    ids = np.array([[3, 1, -1], [0, -1, -1], [-1, -1, -1]])
    Y = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]]))
    for metric in (M.precision_at_k, M.ndcg_at_k, M.recall_at_k):
        assert_allclose(metric(Y, S, 3), metric(Y, ids, 3))
    # P@3: s0 1/3, s1 1/3, s2 0
    assert_allclose(M.precision_at_k(Y, S, 3)[2], 2 / 9)
    # An explicit zero score is still a prediction.
    Z = sp.csr_matrix((np.array([0.0]), np.array([2]), np.array([0, 0, 0, 1])), shape=(3, 4))
    assert_allclose(M.precision_at_k(Y, Z, 1), [1 / 3])


def test_dense_scores_k_larger_than_n_labels_pads():
    Y = sp.csr_matrix(np.array([[1, 0], [0, 1]]))
    S = np.array([[0.9, 0.1], [0.9, 0.1]])
    # top-3 of two labels: [0, 1, none]; P@3 = (1/3 + 1/3) / 2
    assert_allclose(M.precision_at_k(Y, S, 3), [0.5, 0.5, 1 / 3])


@pytest.mark.parametrize("seed", [0, 1])
def test_ps_metrics_with_equal_weights_reduce_to_plain(seed):
    Y, S = _random_problem(seed)
    k = 5
    w = np.full(Y.shape[1], 3.7)
    n_pos = np.diff(Y.indptr)
    # Best achievable P@k: each sample hits min(k, |y|) times.
    best_p = np.array([np.mean(np.minimum(j, n_pos)) / j for j in range(1, k + 1)])
    assert_allclose(M.psprecision_at_k(Y, S, w, k), M.precision_at_k(Y, S, k) / best_p)
    # Best achievable nDCG is 1 for samples with labels, 0 for the others.
    has_labels = np.mean(n_pos > 0)
    assert_allclose(M.psndcg_at_k(Y, S, w, k), M.ndcg_at_k(Y, S, k) / has_labels)


def test_ps_metrics_bounded_and_perfect_prediction_scores_one():
    Y, S = _random_problem(3)
    w = M.inverse_propensity(Y)
    for metric in (M.psprecision_at_k, M.psndcg_at_k):
        values = metric(Y, S, w, 5)
        assert np.all((values >= 0) & (values <= 1 + 1e-12))
        # Scoring the true labels by their weight is the best prediction.
        assert_allclose(metric(Y, Y.multiply(w[None, :]).tocsr(), w, 5), 1.0)


def test_inverse_propensity_formula():
    # N = 6 points; label counts n = [3, 1, 0, 6].
    Y = np.zeros((6, 4))
    Y[:3, 0] = 1
    Y[4, 1] = 1
    Y[:, 3] = 1
    A, B = 0.55, 1.5
    C = (np.log(6) - 1) * (B + 1) ** A
    expected = [1 + C * (n + B) ** -A for n in (3, 1, 0, 6)]
    assert_allclose(M.inverse_propensity(Y), expected)
    assert_allclose(M.inverse_propensity(sp.csr_matrix(Y), A=0.6, B=2.6),
                    [1 + (np.log(6) - 1) * 3.6 ** 0.6 * (n + 2.6) ** -0.6 for n in (3, 1, 0, 6)])
    w = M.inverse_propensity(Y)
    assert w[2] > w[1] > w[0] > w[3]          # rarer labels weigh more


def test_no_labels_at_all_gives_zero():
    Y = sp.csr_matrix((2, 3))
    pred = np.array([[0, 1], [2, 1]])
    assert_allclose(M.precision_at_k(Y, pred, 2), 0.0)
    assert_allclose(M.ndcg_at_k(Y, pred, 2), 0.0)
    assert_allclose(M.psprecision_at_k(Y, pred, np.ones(3), 2), 0.0)
    assert_allclose(M.psndcg_at_k(Y, pred, np.ones(3), 2), 0.0)


def test_dense_y_true_accepted(small):
    Y, pred = small
    assert_allclose(M.precision_at_k(Y.toarray(), pred, 3), M.precision_at_k(Y, pred, 3))


def _random_csr(rng, n, n_cols, per_row):
    """About ``per_row`` random entries per row (repeats merged)."""
    rows = np.repeat(np.arange(n), per_row)
    cols = rng.integers(0, n_cols, size=n * per_row)
    S = sp.csr_matrix((rng.random(n * per_row), (rows, cols)), shape=(n, n_cols))
    S.sum_duplicates()
    return S


def test_large_inputs_are_vectorised():
    # 100k samples: a per-sample Python loop would take seconds.
    rng = np.random.default_rng(0)
    n, n_labels = 100_000, 5000
    Y = _random_csr(rng, n, n_labels, 3)
    Y.data[:] = 1
    S = _random_csr(rng, n, n_labels, 10)
    ids = rng.integers(0, n_labels // 5, size=(n, 5)) * 5 + np.arange(5)
    assert M.precision_at_k(Y, ids).shape == (5,)
    assert M.psndcg_at_k(Y, S, M.inverse_propensity(Y)).shape == (5,)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

def test_bad_k(small):
    Y, pred = small
    with pytest.raises(ValueError, match="k must be >= 1"):
        M.precision_at_k(Y, pred, 0)
    with pytest.raises(TypeError, match="k must be an int"):
        M.precision_at_k(Y, pred, 2.0)
    with pytest.raises(ValueError, match="k=4 but the predictions hold only 3"):
        M.ndcg_at_k(Y, pred, 4)


def test_shape_mismatches(small):
    Y, pred = small
    with pytest.raises(ValueError, match="pred has 2 rows but Y_true has 3"):
        M.precision_at_k(Y, pred[:2], 2)
    with pytest.raises(ValueError, match="pred has 2 rows"):
        M.precision_at_k(Y, np.zeros((2, 5)), 2)
    with pytest.raises(ValueError, match="6 columns but Y_true has 5"):
        M.precision_at_k(Y, sp.csr_matrix(np.ones((3, 6))), 2)
    with pytest.raises(ValueError, match="2-D"):
        M.precision_at_k(Y, np.array([0, 1, 2]), 1)
    with pytest.raises(ValueError, match="shape"):
        M.precision_at_k(Y, (pred, np.zeros((3, 2))), 2)


def test_label_ids_out_of_range(small):
    Y, pred = small
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        M.precision_at_k(Y, pred + 3, 2)
    with pytest.raises(ValueError, match="-1"):
        M.precision_at_k(Y, pred - 5, 2)


def test_repeated_prediction(small):
    Y, _ = small
    with pytest.raises(ValueError, match="repeat"):
        M.precision_at_k(Y, np.array([[0, 0], [1, 2], [3, 4]]), 2)


def test_nan_scores(small):
    Y, _ = small
    S = np.ones((3, 5))
    S[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        M.precision_at_k(Y, S, 2)
    with pytest.raises(ValueError, match="NaN"):
        M.precision_at_k(Y, sp.csr_matrix(S), 2)


def test_bad_y_true(small):
    _, pred = small
    with pytest.raises(ValueError, match="0/1"):
        M.precision_at_k(np.full((3, 5), 2.0), pred, 2)
    with pytest.raises(TypeError):
        M.precision_at_k("labels", pred, 2)


def test_bad_pred_type(small):
    Y, _ = small
    with pytest.raises(TypeError):
        M.precision_at_k(Y, None, 2)
    with pytest.raises(TypeError):
        M.precision_at_k(Y, {"indices": 1}, 2)
    with pytest.raises(TypeError, match="integers"):
        M.precision_at_k(Y, (np.zeros((3, 2)), np.zeros((3, 2))), 2)


def test_bad_inv_propensity(small):
    Y, pred = small
    with pytest.raises(ValueError, match="one value per label"):
        M.psprecision_at_k(Y, pred, np.ones(4), 2)
    with pytest.raises(ValueError, match="non-negative"):
        M.psndcg_at_k(Y, pred, -np.ones(5), 2)
    with pytest.raises(ValueError, match="finite"):
        M.psndcg_at_k(Y, pred, np.full(5, np.nan), 2)
    with pytest.raises(TypeError):
        M.psprecision_at_k(Y, pred, np.array(["a"] * 5), 2)
    with pytest.raises(ValueError, match="B must be >"):
        M.inverse_propensity(Y, B=0.0)


def test_unsigned_label_ids_are_range_checked_before_the_cast(small):
    """uint64 2**64 - 1 would become -1 ("no prediction") through an int64 cast."""
    Y, pred = small
    bad = pred.astype(np.uint64)
    bad[1, 1] = 2**64 - 1
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        M.precision_at_k(Y, bad, 2)
    good = np.array([[0, 1], [1, 3], [4, 3]], dtype=np.uint64)
    assert_allclose(M.precision_at_k(Y, good, 2), M.precision_at_k(Y, good.astype(np.int64), 2))


def test_ragged_or_non_real_predictions_are_named(small):
    Y, _ = small
    with pytest.raises(ValueError, match="^pred could not be read as an array"):
        M.precision_at_k(Y, [[0, 1], [1], [2, 3]], 2)
    with pytest.raises(TypeError, match="^pred must hold real numbers"):
        M.precision_at_k(Y, np.ones((3, 5), dtype=np.complex128), 2)
    with pytest.raises(ValueError, match="^pred indices could not be read"):
        M.precision_at_k(Y, ([[0, 1], [1], [2, 3]], np.zeros(3)), 2)


def test_y_true_with_a_broken_sparse_structure_is_refused(small):
    Y, pred = small
    Y = Y.copy()
    Y.indices = np.array([0, 2, 10**6], dtype=Y.indices.dtype)
    with pytest.raises(ValueError, match="^Y_true.indices"):
        M.precision_at_k(Y, pred, 2)
    with pytest.raises(ValueError, match="^Y_train.indices"):
        M.inverse_propensity(Y)


# ---------------------------------------------------------------------------
# Zero-shot metrics and formatting
# ---------------------------------------------------------------------------

def test_per_class_accuracy():
    y_true = np.array([0, 0, 0, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 0, 2])
    # class 0: 2/3, class 1: 1/1, class 2: 1/2
    assert M.per_class_accuracy(y_true, y_pred) == pytest.approx((2 / 3 + 1 + 0.5) / 3)
    # only classes 0 and 2 (the samples of class 1 are ignored)
    assert M.per_class_accuracy(y_true, y_pred, classes=[2, 0]) == pytest.approx((2 / 3 + 0.5) / 2)
    # differs from plain accuracy (4/6) because classes weigh equally
    assert M.per_class_accuracy(y_true, y_pred) != pytest.approx(4 / 6)
    # string class names work too
    names = np.array(["cat", "dog", "eel"])
    assert M.per_class_accuracy(names[y_true], names[y_pred]) == pytest.approx(0.7222222)


def test_per_class_accuracy_bad_input():
    with pytest.raises(ValueError, match="do not occur"):
        M.per_class_accuracy([0, 1], [0, 1], classes=[0, 3])
    with pytest.raises(ValueError, match="samples"):
        M.per_class_accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        M.per_class_accuracy([], [])
    with pytest.raises(ValueError, match="repeats"):
        M.per_class_accuracy([0, 1], [0, 1], classes=[0, 0])
    with pytest.raises(ValueError, match="^y_true contains NaN"):
        M.per_class_accuracy([0.0, np.nan], [0.0, 1.0])
    with pytest.raises(TypeError, match="^y_pred must hold"):
        M.per_class_accuracy([0, 1], [0, 1 + 1j])
    with pytest.raises(TypeError, match="^y_true must hold"):
        M.per_class_accuracy(np.array([0, None], dtype=object), [0, 1])
    with pytest.raises(TypeError, match="^y_true must be a 1-D array"):
        M.per_class_accuracy(None, [0, 1])


def test_gzsl_harmonic():
    # H = 2 * 0.5 * 0.7 / 1.2
    assert M.gzsl_harmonic(0.5, 0.7) == pytest.approx(0.7 / 1.2)
    assert M.gzsl_harmonic(0.0, 0.0) == 0.0
    assert M.gzsl_harmonic(0.0, 0.9) == 0.0
    assert M.gzsl_harmonic(0.4, 0.4) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        M.gzsl_harmonic(-0.1, 0.5)
    with pytest.raises(ValueError):
        M.gzsl_harmonic(np.nan, 0.5)


def test_format_metrics(small):
    Y, pred = small
    text = M.format_metrics({"P": M.precision_at_k(Y, pred, 3), "H": 0.5})
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "@1", "@2", "@3"]
    assert lines[1].split() == ["P", "66.67", "33.33", "33.33"]
    assert lines[2].split() == ["H", "50.00"]
    with pytest.raises(TypeError):
        M.format_metrics([0.5])
    with pytest.raises(TypeError, match=r"^metrics\['P'\] must hold real numbers"):
        M.format_metrics({"P": ["high"]})
