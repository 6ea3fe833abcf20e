"""Top-k of rows of scores: what inference returns from a network's logits."""
import numpy as np

__all__ = ["topk_rows", "dense_scores"]


def topk_rows(scores, k):
    """Indices of the ``k`` largest entries of each row, best first.

    Ties inside the top ``k`` go to the smaller index; which of several tied
    entries at the ``k``-th place is kept is up to ``argpartition``.
    """
    n = scores.shape[1]
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


def dense_scores(indptr, ids, values, n_outputs):
    """Scores of CSR ``(indptr, ids, values)`` as a dense [B, n_outputs] array, -inf elsewhere."""
    B = len(indptr) - 1
    dense = np.full((B, n_outputs), -np.inf, dtype=np.float32)
    dense[np.repeat(np.arange(B), np.diff(indptr)), ids] = values
    return dense
