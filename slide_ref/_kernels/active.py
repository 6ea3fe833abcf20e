"""Reference kernels choosing the active neurons of a sampled layer (SLIDE section 1).

Every sample's candidates come from querying the layer's LSH tables with the
previous layer's activation; the selection keeps some of them, always adds the
sample's labels (training), and pads with random neurons when too few remain.
The result is a CSR structure ``(indptr, ids)`` with sorted, distinct ids.

Random padding (SLIDE's default): when a sample has fewer than ``fill_below``
neurons, walk a fixed random permutation of all neurons (``fill_perm``) from a
random start, adding neurons not yet active until there are ``min_active``.
The start is ``counter_randint(seed, step, sample, 0, N)``: SLIDE seeded it
with ``srand(time(NULL))`` for every sample, so all samples processed in the
same second shared their negatives; here every (step, sample) has its own.
"""
import numpy as np

from .rng import counter_randint

UNION, THRESHOLD, TOPK = 0, 1, 2


def _pad(ids, n_outputs, min_active, fill_below, fill_perm, seed, step, sample):
    """Add random neurons from ``fill_perm`` until ``min_active`` (if below ``fill_below``)."""
    target = min(min_active, n_outputs)
    if len(ids) >= fill_below or len(ids) >= target:
        return ids
    start = int(counter_randint(seed, step, sample, 0, n_outputs))
    walk = np.roll(fill_perm, -start)
    fresh = walk[~np.isin(walk, ids)]
    return np.union1d(ids, fresh[:target - len(ids)])


def select_active(cand_indptr, cand_ids, cand_counts, label_indptr, label_ids, n_outputs,
                  method, param, min_active, fill_below, fill_perm, seed, step, n_threads=1):
    """Active neurons of every sample of a batch.

    Parameters
    ----------
    cand_indptr, cand_ids, cand_counts : CSR of LSH candidates per sample, with the
        number of tables that returned each (from ``query_tables``)
    label_indptr, label_ids : CSR of the labels forced active (empty in inference)
    n_outputs : int
    method : int
        ``UNION`` keeps every candidate; ``THRESHOLD`` keeps candidates returned by at
        least ``param`` tables; ``TOPK`` keeps the ``param`` candidates returned by the
        most tables (ties: smaller id).
    min_active, fill_below : int
        Random padding (see the module docstring); ``min_active=0`` disables it.
    fill_perm : ndarray [n_outputs], int32
    seed, step : int
        Keys of the padding draws.

    Returns
    -------
    indptr : ndarray [B + 1], int64
    ids : ndarray, int32
    """
    B = len(cand_indptr) - 1
    out = []
    for i in range(B):
        ids = cand_ids[cand_indptr[i]:cand_indptr[i + 1]]
        counts = cand_counts[cand_indptr[i]:cand_indptr[i + 1]]
        if method == THRESHOLD:
            ids = ids[counts >= param]
        elif method == TOPK and len(ids) > param:
            order = np.lexsort((ids, -counts))[:param]
            ids = ids[order]
        ids = np.union1d(ids, label_ids[label_indptr[i]:label_indptr[i + 1]])
        ids = _pad(ids, n_outputs, min_active, fill_below, fill_perm, seed, step, i)
        out.append(ids.astype(np.int32))
    return _to_csr(out)


def select_vanilla(buckets, offsets, members, label_indptr, label_ids, n_outputs, budget,
                   min_active, fill_below, fill_perm, seed, step, n_threads=1):
    """SLIDE's "vanilla sampling": visit the tables in a random order, taking whole
    buckets, until at least ``budget`` neurons are active (labels count).

    The table order of sample ``i`` is a Fisher-Yates shuffle whose draws are
    ``counter_randint(seed, step, i, 1 + t, L - t)``.
    """
    B, L = buckets.shape
    out = []
    for i in range(B):
        order = np.arange(L)
        for t in range(L - 1):
            j = t + int(counter_randint(seed, step, i, 1 + t, L - t))
            order[t], order[j] = order[j], order[t]
        ids = np.unique(label_ids[label_indptr[i]:label_indptr[i + 1]])
        for t in order:
            if len(ids) >= budget:
                break
            b = buckets[i, t]
            ids = np.union1d(ids, members[offsets[t, b]:offsets[t, b + 1]])
        ids = _pad(ids, n_outputs, min_active, fill_below, fill_perm, seed, step, i)
        out.append(ids.astype(np.int32))
    return _to_csr(out)


def unique_ids(ids, n_values, n_threads=1):
    """Sorted distinct values of ``ids`` (int32), each in ``[0, n_values)``.

    The rows of a weight matrix that a batch touched (lazy Adam, SGD): the
    union of the batch's active sets, or of its input features.
    """
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= n_values):
        raise ValueError(f"unique_ids: an id is outside [0, {n_values})")
    return np.unique(ids).astype(np.int32)


def _to_csr(rows):
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    ids = np.concatenate(rows).astype(np.int32) if rows else np.empty(0, np.int32)
    return indptr, ids
