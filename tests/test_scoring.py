"""Inference's fused score + top-k kernel: both backends against a brute-force top-k, at
every SIMD level, both weight layouts, with ties and NaN."""
import numpy as np
import pytest

from slide_fast._kernels import scoring as fast_scoring
from slide_ref._kernels import scoring as ref_scoring


def brute_topk(Z, k):
    """Best first, ties to the smaller id, NaN and -inf never taken (-1 / -inf slots)."""
    B, N = Z.shape
    ids = np.full((B, k), -1, np.int64)
    scores = np.full((B, k), -np.inf, np.float32)
    for i in range(B):
        ok = np.flatnonzero(~np.isnan(Z[i]) & (Z[i] != -np.inf))
        best = ok[np.lexsort((ok, -Z[i, ok]))][:k]     # a full sort: no partition ties
        ids[i, :len(best)] = best
        scores[i, :len(best)] = Z[i, best]
    return ids, scores


def logits(H, W, b, rows_layout):
    W64 = W.astype(np.float64)
    return (H.astype(np.float64) @ (W64.T if rows_layout else W64) + b).astype(np.float32)


SHAPES = [(1, 3, 5, 5), (7, 16, 1500, 5), (130, 33, 2100, 1), (65, 8, 4100, 7)]


def case(rng, B, d, N, rows_layout):
    # small integers: every product and sum is exact in float32, so ties are real ties
    H = rng.integers(-3, 4, (B, d)).astype(np.float32)
    W = rng.integers(-3, 4, (N, d) if rows_layout else (d, N)).astype(np.float32)
    b = rng.integers(-2, 3, N).astype(np.float32)
    return H, W, b


def assert_topk(result, expect):
    ids, scores = result
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(ids, expect[0])
    np.testing.assert_array_equal(scores, expect[1])


@pytest.mark.parametrize("rows_layout", [True, False])
@pytest.mark.parametrize("B,d,N,k", SHAPES)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_fast_score_topk_matches_brute_force(simd_level, rng, rows_layout, B, d, N, k,
                                             n_threads):
    H, W, b = case(rng, B, d, N, rows_layout)
    assert_topk(fast_scoring.score_topk(H, W, b, k, rows_layout, n_threads),
                brute_topk(logits(H, W, b, rows_layout), k))


@pytest.mark.parametrize("rows_layout", [True, False])
@pytest.mark.parametrize("B,d,N,k", SHAPES)
def test_ref_score_topk_matches_brute_force(rng, rows_layout, B, d, N, k):
    H, W, b = case(rng, B, d, N, rows_layout)
    assert_topk(ref_scoring.score_topk(H, W, b, k, rows_layout),
                brute_topk(logits(H, W, b, rows_layout), k))


def test_score_topk_skips_nan_and_reports_unfilled_slots(simd_level):
    H = np.ones((2, 1), np.float32)
    W = np.ones((4, 1), np.float32)
    b = np.array([np.nan, 2.0, np.nan, -np.inf], np.float32)
    for kernels in (fast_scoring, ref_scoring):
        ids, scores = kernels.score_topk(H, W, b, 3, True)
        np.testing.assert_array_equal(ids, [[1, -1, -1]] * 2)
        np.testing.assert_array_equal(scores, [[3.0, -np.inf, -np.inf]] * 2)


def test_score_topk_empty_batch_and_bad_arguments():
    W = np.ones((5, 3), np.float32)
    b = np.zeros(5, np.float32)
    for kernels in (fast_scoring, ref_scoring):
        ids, scores = kernels.score_topk(np.zeros((0, 3), np.float32), W, b, 2, True)
        assert ids.shape == (0, 2) and scores.shape == (0, 2)
        with pytest.raises(ValueError, match="k=6"):
            kernels.score_topk(np.zeros((1, 3), np.float32), W, b, 6, True)
        with pytest.raises(ValueError, match="score_topk"):
            kernels.score_topk(np.zeros((1, 4), np.float32), W, b, 2, True)
        with pytest.raises(ValueError, match="score_topk"):
            kernels.score_topk(np.zeros((1, 3), np.float32), W, b, 2, False)


def test_score_topk_close_to_the_reference_on_real_valued_weights(rng):
    H = rng.standard_normal((300, 64)).astype(np.float32)
    W = rng.standard_normal((5000, 64)).astype(np.float32)
    b = rng.standard_normal(5000).astype(np.float32)
    ids_f, s_f = fast_scoring.score_topk(H, W, b, 5, True, 2)
    ids_r, s_r = ref_scoring.score_topk(H, W, b, 5, True)
    np.testing.assert_allclose(s_f, s_r, rtol=1e-4, atol=1e-4)
    assert (ids_f == ids_r).mean() > 0.99      # rounding may swap near-ties
