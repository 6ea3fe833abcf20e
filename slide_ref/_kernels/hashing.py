"""Reference kernels for the LSH hash families (SLIDE section 2 semantics).

Every function takes already-validated arrays (see ``slide_ref._validation``)
and returns new arrays.  ``n_threads`` is accepted for signature parity with
``slide_fast._kernels.hashing`` and ignored here.

Conventions shared with the fast kernels:

* codes are ``int32`` arrays ``[n, n_hashes]``;
* WTA-style hashes pick the position of the largest value within a bin, the
  smallest position winning ties;
* an empty bin (possible for sparse input) is filled by SLIDE's probing
  densification; a bin for which every probe fails gets code 0.
"""
import numpy as np
import scipy.sparse as sp

from .rng import splitmix64

EMPTY = -1          # code of a bin that saw no coordinate, before densification
N_PROBES = 100      # densification attempts per empty bin (SLIDE's constant)
_CHUNK = 4096       # rows per block in dense kernels, to bound temporary memory


def _csr(indptr, indices, data, n_features):
    n = len(indptr) - 1
    return sp.csr_matrix((data, indices, indptr), shape=(n, n_features))


# --------------------------------------------------------------------------- WTA / DWTA
def wta_dense(X, slots, n_threads=1):
    """Winner-take-all codes of dense rows.

    Parameters
    ----------
    X : ndarray [n, d], float32 or float64
    slots : ndarray [n_hashes, bin_size], int32
        ``slots[i, j]`` is the coordinate at position ``j`` of bin ``i`` (the
        concatenated random permutations cut into bins).

    Returns
    -------
    codes : ndarray [n, n_hashes], int32
        Position (0..bin_size-1) of the largest value in each bin; the first
        (smallest) position wins ties, as ``np.argmax`` does.
    """
    n, n_hashes = X.shape[0], slots.shape[0]
    codes = np.empty((n, n_hashes), dtype=np.int32)
    for start in range(0, n, _CHUNK):
        block = X[start:start + _CHUNK]
        codes[start:start + _CHUNK] = np.argmax(block[:, slots], axis=2)
    return codes


def wta_dense_packed(X, slots, n_tables, K, shift, range_pow, n_threads=1):
    """Bucket ids of dense rows in one step: ``pack_shift(wta_dense(X, slots), ...)``.

    The fast kernel fuses the two so the ``[n, K * L]`` codes never reach memory.
    """
    return pack_shift(wta_dense(X, slots), n_tables, K, shift, range_pow)


def wta_csr(indptr, indices, data, n_features, slots, n_threads=1):
    """WTA codes of CSR rows, absent coordinates taken as 0 (plain WTA is a dense hash)."""
    X = _csr(indptr, indices, data, n_features)
    n = X.shape[0]
    codes = np.empty((n, slots.shape[0]), dtype=np.int32)
    for start in range(0, n, _CHUNK):
        codes[start:start + _CHUNK] = wta_dense(X[start:start + _CHUNK].toarray(), slots)
    return codes


def dwta_csr(indptr, indices, data, coord_ptr, coord_bin, coord_pos, n_hashes, probe_seed,
             n_threads=1):
    """Densified WTA codes of CSR rows: only the listed coordinates take part.

    Parameters
    ----------
    indptr, indices, data : CSR arrays of the input rows
    coord_ptr, coord_bin, coord_pos : the inverse of ``slots`` as CSR over
        coordinates: coordinate ``c`` sits at position ``coord_pos[k]`` of bin
        ``coord_bin[k]`` for ``k`` in ``coord_ptr[c]:coord_ptr[c+1]``.
    n_hashes : int
    probe_seed : int
        The odd 32-bit multiplier of the densification probes.

    Notes
    -----
    SLIDE scans coordinates and keeps a strictly larger value, so its ties go
    to the first coordinate scanned; here ties go to the smallest position,
    which makes the result independent of scan order and equal to ``wta_dense``
    on rows where every coordinate is listed.
    """
    n = len(indptr) - 1
    row = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    # every (row, coordinate) entry lands in each bin its coordinate belongs to
    reps = np.diff(coord_ptr)[indices]
    entry = np.repeat(np.arange(len(indices)), reps)
    within = np.arange(len(entry)) - np.repeat(np.cumsum(reps) - reps, reps)
    where = coord_ptr[indices[entry]] + within
    r, b, pos, val = row[entry], coord_bin[where], coord_pos[where], data[entry]
    # per (row, bin): largest value first, then the smallest position
    order = np.lexsort((pos, -val, b, r))
    return _winners_to_codes(r[order], b[order], pos[order], n, n_hashes, probe_seed)


def _winners_to_codes(row, b, value, n, n_hashes, probe_seed):
    """Densified codes [n, n_hashes] from entries sorted by (row, bin, preference): each
    (row, bin)'s first entry wins and its ``value`` is the code; empty bins densified."""
    first = np.ones(len(row), dtype=bool)
    first[1:] = (row[1:] != row[:-1]) | (b[1:] != b[:-1])
    codes = np.full((n, n_hashes), EMPTY, dtype=np.int32)
    codes[row[first], b[first]] = value[first]
    return densify(codes, probe_seed)


def densify(codes, probe_seed):
    """Fill empty bins (``EMPTY``) by SLIDE's probing densification.

    For empty bin ``i`` and attempt ``a = 1..100`` the probed bin is
    ``((R * (((i + 1) << 6) + a)) << 3 mod 2**32) >> (32 - floor(log2 H))``
    with ``R = probe_seed``; the first probed bin that was non-empty in the
    original codes gives its code.  When every attempt fails the code is 0
    (SLIDE left INT_MIN there, which later indexed outside the table).
    """
    codes = np.asarray(codes)
    n_hashes = codes.shape[1]
    original = codes.copy()
    rows, bins = np.nonzero(original == EMPTY)
    if len(rows) == 0:
        return codes
    log_h = int(np.floor(np.log2(n_hashes)))
    out = codes
    out[rows, bins] = 0
    if log_h == 0:
        return out
    todo = np.ones(len(rows), dtype=bool)
    mult = np.uint64(probe_seed & 0xFFFFFFFF)
    mask32 = np.uint64(0xFFFFFFFF)
    for attempt in range(1, N_PROBES + 1):
        idx = np.nonzero(todo)[0]
        if len(idx) == 0:
            break
        t = ((bins[idx].astype(np.uint64) + np.uint64(1)) << np.uint64(6)) + np.uint64(attempt)
        with np.errstate(over="ignore"):
            probe = (((mult * (t & mask32)) << np.uint64(3)) & mask32) >> np.uint64(32 - log_h)
        found = original[rows[idx], probe.astype(np.int64)]
        hit = found != EMPTY
        out[rows[idx[hit]], bins[idx[hit]]] = found[hit]
        todo[idx[hit]] = False
    return out


# --------------------------------------------------------------------------- SimHash
def _projection(idx, sign, n_features):
    """Sparse +-1 projection matrix [n_features, n_hashes] in float64."""
    n_hashes, m = idx.shape
    cols = np.repeat(np.arange(n_hashes), m)
    return sp.csr_matrix((sign.ravel().astype(np.float64), (idx.ravel(), cols)),
                         shape=(n_features, n_hashes))


def simhash_dense(X, idx, sign, n_threads=1):
    """Sign bits of sparse random projections (SLIDE's SRP hash).

    Parameters
    ----------
    X : ndarray [n, d]
    idx : ndarray [n_hashes, m], int32
        The ``m = ceil(d / ratio)`` coordinates each hash function reads.
    sign : ndarray [n_hashes, m], int8 of +-1

    Returns
    -------
    codes : ndarray [n, n_hashes], int32
        0 where ``sum(sign * x[idx]) >= 0`` (summed in float64), else 1.
    """
    P = _projection(idx, sign, X.shape[1])
    proj = (P.T @ X.astype(np.float64, copy=False).T).T
    return (proj < 0).astype(np.int32)


def simhash_csr(indptr, indices, data, n_features, idx, sign, n_threads=1):
    """SimHash codes of CSR rows (absent coordinates contribute nothing)."""
    X = _csr(indptr, indices, data.astype(np.float64), n_features)
    proj = (X @ _projection(idx, sign, n_features)).toarray()
    return (proj < 0).astype(np.int32)


# --------------------------------------------------------------------------- densified MinHash
def _minhash_from_entries(row, col, val, n, coord_bin, coord_rank, n_hashes, topk, probe_seed):
    # keep each row's topk largest values (ties: smaller coordinate id)
    order = np.lexsort((col, -val, row))
    row, col = row[order], col[order]
    start = np.searchsorted(row, np.arange(n))
    rank_in_row = np.arange(len(row)) - start[row]
    keep = rank_in_row < topk
    row, col = row[keep], col[keep]
    # within each (row, bin) the coordinate with the smallest random rank wins
    b = coord_bin[col]
    order = np.lexsort((col, coord_rank[col], b, row))
    return _winners_to_codes(row[order], b[order], col[order], n, n_hashes, probe_seed)


def minhash_dense(X, coord_bin, coord_rank, n_hashes, topk, probe_seed, n_threads=1):
    """Densified one-permutation MinHash of the ``topk`` largest coordinates.

    Parameters
    ----------
    X : ndarray [n, d]
    coord_bin : ndarray [d], int32
        Bin of each coordinate (a random map into ``n_hashes`` bins).
    coord_rank : ndarray [d], uint32
        Random rank of each coordinate; a bin's code is the id of its member
        with the smallest rank (ties: smaller id).
    n_hashes, topk, probe_seed : int

    Returns
    -------
    codes : ndarray [n, n_hashes], int32 of coordinate ids
    """
    n, d = X.shape
    row = np.repeat(np.arange(n), d)
    col = np.tile(np.arange(d), n)
    return _minhash_from_entries(row, col, X.ravel(), n, coord_bin, coord_rank, n_hashes, topk,
                                 probe_seed)


def minhash_csr(indptr, indices, data, coord_bin, coord_rank, n_hashes, topk, probe_seed,
                n_threads=1):
    """Densified MinHash of CSR rows; only listed coordinates take part."""
    n = len(indptr) - 1
    row = np.repeat(np.arange(n), np.diff(indptr))
    return _minhash_from_entries(row, np.asarray(indices, dtype=np.int64), data, n, coord_bin,
                                 coord_rank, n_hashes, topk, probe_seed)


# --------------------------------------------------------------------------- p-stable (L2)
def _floor_codes(proj, offset, width):
    codes = np.floor((proj + offset) / width)
    return np.clip(codes, -2**31, 2**31 - 1).astype(np.int32)


def pstable_dense(X, A, offset, width, n_threads=1):
    """L2 LSH of Datar et al.: ``floor((x . a_h + b_h) / w)``.

    Parameters
    ----------
    X : ndarray [n, d]
    A : ndarray [d, n_hashes], float64 of N(0, 1) entries
    offset : ndarray [n_hashes], float64 uniform in [0, w)
    width : float
        Bucket width ``w``.
    """
    return _floor_codes(X.astype(np.float64, copy=False) @ A, offset, width)


def pstable_csr(indptr, indices, data, A, offset, width, n_threads=1):
    """L2 LSH codes of CSR rows."""
    X = _csr(indptr, indices, data.astype(np.float64), A.shape[0])
    return _floor_codes(np.asarray(X @ A), offset, width)


# --------------------------------------------------------------------------- packing
def pack_shift(codes, n_tables, K, shift, range_pow, n_threads=1):
    """Bucket id per table: ``sum_j code_j << ((K-1-j) * shift)``, masked to ``range_pow`` bits.

    With ``shift = floor(ln bin_size)`` this is SLIDE's DWTA packing (overlapping,
    additive); with ``shift = log2(bin_size)`` it is a plain concatenation.
    """
    c = codes.reshape(codes.shape[0], n_tables, K).astype(np.int64)
    shifts = (K - 1 - np.arange(K, dtype=np.int64)) * shift
    # a code shifted past the mask cannot change the bucket, so it is left out
    live = shifts < range_pow
    packed = (c[:, :, live] << shifts[live]).sum(axis=2)
    return (packed & ((1 << range_pow) - 1)).astype(np.int32)


def pack_mix(codes, n_tables, K, seeds, range_pow, n_threads=1):
    """Bucket id per table from a 64-bit mix of its K codes (for unbounded codes).

    ``h = seed_l``; for each code ``h = splitmix64(h ^ uint32(code))``; the
    bucket is the top ``range_pow`` bits of ``h``.
    """
    c = codes.reshape(codes.shape[0], n_tables, K).astype(np.int64) & 0xFFFFFFFF
    h = np.broadcast_to(np.asarray(seeds, dtype=np.uint64), (codes.shape[0], n_tables))
    for j in range(K):
        h = splitmix64(h ^ c[:, :, j].astype(np.uint64))
    return (h >> np.uint64(64 - range_pow)).astype(np.int32)
