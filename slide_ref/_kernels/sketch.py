"""Reference kernels of the NW sketch (research notes ``nw_sketch.md`` section 1.3-1.5).

The sketch is one float64 array ``table [R, W, 2]``: ``table[r, b, 0]`` counts
the inserted points that fell in bucket ``b`` of row ``r`` and ``table[r, b, 1]``
sums their losses.  Count and sum of a bucket are interleaved so that an
insert or a query touches one cache line per row, not two.  Float64 because
:meth:`NWSketch.decay` scales them by a factor < 1.

Every function takes already-validated arrays and trusts them (bucket ids in
``[0, W)``, matching shapes).  ``n_threads`` is accepted for signature parity
with ``slide_fast._kernels.sketch`` and ignored here.
"""
import numpy as np

from .rng import counter_uniform, splitmix64


def mix_buckets(codes, n_rows, K, seeds, n_buckets, n_threads=1):
    """Bucket of each row from its ``K`` concatenated LSH codes.

    For row ``r``: ``h = seeds[r]``; for each of its codes ``h = splitmix64(h ^
    uint32(code))``; the bucket is ``((h >> 32) * W) >> 32``, the high 32 bits
    scaled into ``[0, W)`` (any ``W < 2**31``, no modulo).

    Parameters
    ----------
    codes : ndarray [n, n_rows * K], int32
    n_rows, K : int
    seeds : ndarray [n_rows], uint64
    n_buckets : int
        ``W``.

    Returns
    -------
    buckets : ndarray [n, n_rows], int32
    """
    c = codes.reshape(codes.shape[0], n_rows, K).astype(np.int64) & 0xFFFFFFFF
    h = np.broadcast_to(np.asarray(seeds, dtype=np.uint64), (codes.shape[0], n_rows))
    for j in range(K):
        h = splitmix64(h ^ c[:, :, j].astype(np.uint64))
    with np.errstate(over="ignore"):
        return (((h >> np.uint64(32)) * np.uint64(n_buckets)) >> np.uint64(32)).astype(np.int32)


def insert(buckets, values, table, n_threads=1):
    """Add each point to its bucket in every row, in place.

    ``table[r, buckets[i, r]] += (1, values[i])`` for every point ``i`` and row
    ``r`` (counts exactly; sums up to float64 rounding, as in the fast kernel).

    Parameters
    ----------
    buckets : ndarray [n, R], int32
    values : ndarray [n], float64
        The losses.
    table : ndarray [R, W, 2], float64
    """
    _add_points(buckets, None, values, table)


def insert_rows(buckets, rows, values, table, n_threads=1):
    """:func:`insert` of the points ``buckets[rows[i]]`` with ``values[i]`` (a gather fused in).

    ``buckets`` [N, R] holds precomputed buckets of a whole training set and
    ``rows`` [n] (int64) the examples of one batch, repeats allowed.
    """
    n_examples = buckets.shape[0]
    if len(rows) <= n_examples:
        _add_points(buckets[rows], None, values, table)
        return
    # more draws than examples (a batch larger than the data): add up each example's
    # draws first, so the table sees each example once instead of every draw
    counts = np.bincount(rows, minlength=n_examples).astype(np.float64)
    sums = np.bincount(rows, weights=values, minlength=n_examples)
    drawn = np.flatnonzero(counts)
    _add_points(buckets[drawn], counts[drawn], sums[drawn], table)


def _add_points(buckets, counts, sums, table):
    """``table[r, buckets[i, r]] += (counts[i], sums[i])`` (counts of 1 when ``None``)."""
    by_row = buckets.T.astype(np.intp)         # contiguous rows: one pass each below
    for r in range(table.shape[0]):
        _scatter_add(table[r, :, 0], by_row[r], counts)
        _scatter_add(table[r, :, 1], by_row[r], sums)


def _scatter_add(target, idx, values):
    """``target[idx[i]] += values[i]`` (1 where ``values`` is None), repeats accumulating.

    ``np.add.at`` costs tens of ns per element: for a batch much larger than the
    row, one ``np.bincount`` (a pass over the row) is cheaper.
    """
    if len(idx) >= target.size // 8:
        target += np.bincount(idx, weights=values, minlength=target.size)
    else:
        np.add.at(target, idx, 1.0 if values is None else values)


def query(buckets, table, prior, prior_weight, n_threads=1):
    """NW estimate of each query: a ratio of row means, shrunk towards a prior.

    ``score = (sum_r S[r, b_r] + a R prior) / (sum_r C[r, b_r] + a R)`` with
    ``a = prior_weight`` (pseudo-points per row); when the denominator is 0
    (every bucket empty and ``a = 0``) the score is ``prior``, never NaN.

    Returns
    -------
    scores : ndarray [n], float64
    """
    R = table.shape[0]
    hit = table[np.arange(R), buckets]          # [n, R, 2]
    c = hit[:, :, 0].sum(axis=1)
    s = hit[:, :, 1].sum(axis=1)
    num = s + prior_weight * R * prior
    den = c + prior_weight * R
    out = np.full(buckets.shape[0], float(prior))
    np.divide(num, den, out=out, where=den > 0)
    return out


def sample_cdf(cdf, seed, step, n_draws, n_threads=1):
    """``n_draws`` indices drawn with replacement from the distribution with running sum ``cdf``.

    Draw ``j`` is the first ``i`` with ``cdf[i] > u_j * cdf[-1]``, where ``u_j =
    counter_uniform(seed, step, j)``; so the draws of a step are a pure function
    of ``(seed, step)``.

    Parameters
    ----------
    cdf : ndarray [N], float64
        Non-decreasing running sum of non-negative masses, ``cdf[-1] > 0``.

    Returns
    -------
    ndarray [n_draws], int64
    """
    u = counter_uniform(seed, step, np.arange(n_draws, dtype=np.int64)) * cdf[-1]
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1).astype(np.int64)
