"""Reference kernels for compact LSH tables.

A set of ``L`` tables with ``2**range_pow`` buckets is stored as one CSR-like
structure: ``members`` holds every table's items grouped by bucket, and
``offsets[l, b]:offsets[l, b + 1]`` is the slice of bucket ``b`` of table ``l``
(absolute positions in ``members``).  Memory is ``L * (2**range_pow + 1)``
offsets plus at most ``L * n_items`` members, whatever the bucket capacity;
SLIDE's dense ``[L][2**range_pow][capacity]`` array would need
``L * 2**range_pow * capacity``.

Capacity semantics (items arrive in index order, as a sequential insert would):

* FIFO: a full bucket drops its oldest item, so the last ``capacity`` arrivals
  stay (SLIDE's ring buffer);
* reservoir: Algorithm R; arrival ``r >= capacity`` replaces slot
  ``j = randint(0, r]`` when ``j < capacity``, so every arrival stays with
  probability ``capacity / count``.  SLIDE used ``1 / count``, a bug.
  ``j`` comes from the counter-based generator keyed by ``(seed, table,
  build, item)``.
"""
import numpy as np

from .rng import counter_randint


def build_tables(buckets, range_pow, capacity, reservoir, seed, build_id, n_threads=1):
    """Group items by bucket in every table.

    Parameters
    ----------
    buckets : ndarray [n_items, L], int32
        Bucket of every item in every table, each in ``[0, 2**range_pow)``.
    range_pow : int
    capacity : int
        Maximum items per bucket; 0 means unlimited.
    reservoir : bool
        Reservoir sampling instead of FIFO when a bucket overflows.
    seed, build_id : int
        Key of the reservoir draws.

    Returns
    -------
    offsets : ndarray [L, 2**range_pow + 1], int32
    members : ndarray [offsets[-1, -1]], int32 of item ids
    """
    n_items, n_tables = buckets.shape
    n_buckets = 1 << range_pow
    offsets = np.empty((n_tables, n_buckets + 1), dtype=np.int64)
    parts, total = [], 0
    for t in range(n_tables):
        kept = _fill_table(buckets[:, t], n_buckets, capacity, reservoir, seed, t, build_id)
        sizes = np.bincount(buckets[kept, t], minlength=n_buckets)
        offsets[t, 0] = total
        np.cumsum(sizes, out=offsets[t, 1:])
        offsets[t, 1:] += total
        total = int(offsets[t, -1])
        parts.append(kept)
    members = np.concatenate(parts).astype(np.int32) if parts else np.empty(0, np.int32)
    return offsets.astype(np.int32), members


def _fill_table(bucket, n_buckets, capacity, reservoir, seed, table, build_id):
    """Item ids of one table, grouped by bucket, after applying the capacity."""
    order = np.argsort(bucket, kind="stable")          # arrival order within each bucket
    counts = np.bincount(bucket, minlength=n_buckets)
    if capacity == 0 or counts.max(initial=0) <= capacity:
        return order
    start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(len(order)) - start[bucket[order]]  # arrival rank within the bucket
    if not reservoir:
        return order[rank >= counts[bucket[order]] - capacity]
    keep = rank < capacity
    slots = order[keep]                                  # first `capacity` arrivals fill slots
    slot_start = np.concatenate(([0], np.cumsum(np.minimum(counts, capacity))[:-1]))
    for b in np.nonzero(counts > capacity)[0]:
        items = order[start[b]:start[b] + counts[b]]
        reservoir_slots = slots[slot_start[b]:slot_start[b] + capacity]
        for r in range(capacity, counts[b]):
            j = int(counter_randint(seed, table, build_id, items[r], r + 1))
            if j < capacity:
                reservoir_slots[j] = items[r]
    return slots


def query_tables(buckets, offsets, members, n_items, n_threads=1):
    """Union of the query's buckets over all tables, with how many tables hold each item.

    Parameters
    ----------
    buckets : ndarray [n_queries, L], int32
    offsets, members : the tables, from ``build_tables``
    n_items : int

    Returns
    -------
    indptr : ndarray [n_queries + 1], int64
    ids : ndarray, int32, sorted ascending within each query
    counts : ndarray, int32, number of tables whose bucket holds the id (1..L)
    """
    n_queries, n_tables = buckets.shape
    tables = np.arange(n_tables)
    lo = offsets[tables, buckets].astype(np.int64)          # [n_queries, L]
    hi = offsets[tables, buckets + 1].astype(np.int64)
    sizes = (hi - lo).ravel()
    # expand every (query, table) slice into positions of `members`
    pos = np.repeat(lo.ravel() - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())
    query = np.repeat(np.repeat(np.arange(n_queries, dtype=np.int64), n_tables), sizes)
    key, counts = np.unique(query * n_items + members[pos], return_counts=True)
    q, ids = np.divmod(key, n_items)
    indptr = np.zeros(n_queries + 1, dtype=np.int64)
    np.cumsum(np.bincount(q, minlength=n_queries), out=indptr[1:])
    return indptr, ids.astype(np.int32), counts.astype(np.int32)
