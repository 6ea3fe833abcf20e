"""Reference kernels of the static negative samplers (LNS notes, section 6).

Two draws cover every static proposal:

* ``draw_uniform_unique``: ``m`` distinct classes out of ``N`` per row, by
  Floyd's algorithm, so every class is included with probability exactly
  ``m / N``;
* ``draw_from_cdf``: ``m`` independent draws (with replacement) from a
  distribution given by its cumulative sums, by inverse-CDF search, so class
  ``c`` is drawn ``m * q_c`` times in expectation.

Draw ``d`` of row ``r`` at step ``step`` uses the counter-based generator
keyed by ``(seed, step, r, d)``; the Cython twins draw the same numbers, so
both backends return the same ids.
"""
import numpy as np

from .rng import counter_randint, counter_uniform


def draw_uniform_unique(n_rows, m, n_classes, seed, step, n_threads=1):
    """``m`` distinct class ids in ``[0, n_classes)`` per row: int32 [n_rows, m].

    Floyd's algorithm: for ``j = N - m, ..., N - 1`` draw ``t`` uniform in
    ``[0, j]``; keep ``t`` unless already kept, else keep ``j``.  Ids appear in
    the order they were kept.
    """
    if m > n_classes:
        raise ValueError(f"cannot draw {m} distinct classes out of {n_classes}")
    out = np.empty((n_rows, m), dtype=np.int32)
    js = np.arange(n_classes - m, n_classes, dtype=np.int64)
    for r in range(n_rows):
        ts = counter_randint(seed, step, r, np.arange(m), js + 1)
        kept = set()
        for d in range(m):
            t = int(ts[d])
            t = int(js[d]) if t in kept else t
            kept.add(t)
            out[r, d] = t
    return out


def draw_from_cdf(n_rows, m, cdf, seed, step, n_threads=1):
    """``m`` draws with replacement per row from the cumulative distribution ``cdf``.

    ``cdf`` is float64 [N], non-decreasing, ``cdf[-1]`` about 1. Draw ``u`` is
    mapped to the first class ``c`` with ``cdf[c] > u`` (the last class when
    rounding leaves ``u >= cdf[-1]``). Returns int32 [n_rows, m].
    """
    rows = np.arange(n_rows)[:, None]
    u = counter_uniform(seed, step, rows, np.arange(m)[None, :])
    idx = np.searchsorted(cdf, u, side="right")
    return np.minimum(idx, len(cdf) - 1).astype(np.int32)


#: ``adjust`` of a masked pair (see ``slide_ref.negative.MASK``)
MASK = np.float32(1e30)


def assemble_sets(label_indptr, label_ids, negs, log_q, log_q_const, mask_hits, n_threads=1):
    """Each sample's set: its labels, then its negatives (row ``i`` of ``negs``, or row 0
    for every sample when ``negs`` has one row: negatives shared by the batch).

    Parameters
    ----------
    label_indptr, label_ids : CSR of the labels (distinct within a sample)
    negs : ndarray [B or 1, m], int32
    log_q : ndarray [N], float32, or empty
        Per-class value subtracted from the logit (logQ correction); when empty,
        every pair gets ``log_q_const``.
    mask_hits : bool
        Give a negative that equals one of the sample's labels ``adjust = MASK``.

    Returns
    -------
    indptr : int64 [B + 1]; ids : int32; adjust : float32 (aligned with ids)
    """
    B = len(label_indptr) - 1
    m = negs.shape[1]
    n_lab = np.diff(label_indptr)
    indptr = np.zeros(B + 1, dtype=np.int64)
    np.cumsum(n_lab + m, out=indptr[1:])
    neg_rows = negs if negs.shape[0] == B else np.broadcast_to(negs[:1], (B, m))
    ids = np.empty(indptr[-1], dtype=np.int32)
    is_neg = np.ones(indptr[-1], dtype=bool)
    lab_pos = np.repeat(indptr[:-1], n_lab) + (np.arange(len(label_ids))
                                               - np.repeat(label_indptr[:-1], n_lab))
    ids[lab_pos] = label_ids
    is_neg[lab_pos] = False
    ids[is_neg] = neg_rows.ravel()
    if len(log_q):
        adjust = log_q[ids].astype(np.float32)
    else:
        adjust = np.full(len(ids), log_q_const, dtype=np.float32)
    if mask_hits and len(label_ids):
        rows = np.repeat(np.arange(B), np.diff(indptr))
        n = int(max(ids.max(), label_ids.max())) + 1
        label_keys = np.repeat(np.arange(B), n_lab).astype(np.int64) * n + label_ids
        hit = is_neg & np.isin(rows.astype(np.int64) * n + ids, label_keys)
        adjust[hit] = MASK
    return indptr, ids, adjust


def batch_candidates(label_ids, negs, n_classes, n_threads=1):
    """The batch's shared candidate set: the sorted distinct ids of its labels and of
    the negatives ``negs`` [1, m] (int32)."""
    ids = np.concatenate([np.asarray(label_ids, np.int64), np.asarray(negs, np.int64).ravel()])
    if ids.size and (ids.min() < 0 or ids.max() >= n_classes):
        raise ValueError(f"batch_candidates: an id is outside [0, {n_classes})")
    return np.unique(ids).astype(np.int32)


def update_hard_negatives(Z, rows, label_indptr, label_cols, memory, n_threads=1):
    """Remember, for every label of the batch, the candidates that scored highest
    against its sample.

    ``Z`` [B, C] are the logits of the batch over its shared candidate set, whose
    column ``j`` is class ``rows[j]``; sample ``i``'s labels are the columns
    ``label_cols[label_indptr[i]:label_indptr[i + 1]]``. For each sample with labels,
    its ``t = memory.shape[1]`` highest logits among the other columns (ties: lower
    column first; NaN never taken) become ``memory[c]`` for each of its classes ``c``,
    as class ids, padded with -1. Samples are applied in order, so a later sample
    with the same label overwrites an earlier one.
    """
    Z = np.asarray(Z)
    B, C = Z.shape
    t = memory.shape[1]
    _check_block(Z, rows, label_indptr, label_cols, memory)
    for i in range(B):
        own = label_cols[label_indptr[i]:label_indptr[i + 1]]
        if len(own) == 0:
            continue
        keep = np.ones(C, dtype=bool)
        keep[own] = False
        keep &= ~np.isnan(Z[i])
        cols = np.flatnonzero(keep)
        best = cols[np.argsort(-Z[i, cols], kind="stable")][:t]
        out = np.full(t, -1, dtype=np.int32)
        out[:len(best)] = rows[best]
        memory[rows[own]] = out


def _check_block(Z, rows, label_indptr, label_cols, memory):
    B, C = Z.shape
    if len(rows) != C or len(label_indptr) != B + 1:
        raise ValueError(f"update_hard_negatives: Z is {B}x{C}, rows has {len(rows)} ids and "
                         f"label_indptr {len(label_indptr)} entries")
    if memory.ndim != 2 or memory.dtype != np.int32:
        raise ValueError("update_hard_negatives: memory must be an int32 [n_classes, t] array")
    if len(rows) and (np.min(rows) < 0 or np.max(rows) >= memory.shape[0]):
        raise ValueError(f"update_hard_negatives: a class id is outside [0, {memory.shape[0]})")
    if len(label_cols) and (np.min(label_cols) < 0 or np.max(label_cols) >= C):
        raise ValueError(f"update_hard_negatives: a label column is outside [0, {C})")
    if label_indptr[0] != 0 or label_indptr[-1] != len(label_cols) or np.any(
            np.diff(label_indptr) < 0):
        raise ValueError("update_hard_negatives: label_indptr is not a valid CSR index")
