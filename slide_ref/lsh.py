"""Locality-sensitive hash families and compact LSH tables.

The hash families follow the SLIDE code (research notes, slide.md section 2),
with its known defects fixed and documented per class.  Every family hashes
dense arrays and CSR matrices into ``int32`` codes ``[n, K * L]`` (``K`` codes
per table, ``L`` tables) and packs each table's ``K`` codes into a bucket id.

The random parameters of a family are plain NumPy arrays drawn at
construction (and again by :meth:`redraw`), so a family built by one backend
hashes identically in the other, and saves with :meth:`get_state`.
"""
import inspect
import math
import sys

import numpy as np
import scipy.sparse as sp

from ._backend import KERNELS
from ._memory import check_allocation, lsh_tables_nbytes
from ._schedule import TableSchedule
from ._validation import (StateError, check_choice, check_float, check_int, check_matrix,
                          check_random_state, effective_n_threads, seed_from)

try:  # get_params / set_params / clone, as for the estimators
    from sklearn.base import BaseEstimator
except ImportError:  # pragma: no cover - scikit-learn is a declared dependency
    BaseEstimator = object

# ``LSHParams`` (defined below) is a parameter object without kernels; it is exported by
# the ``network`` and ``negative`` modules that take it
__all__ = ["DWTAHash", "WTAHash", "SimHash", "DensifiedMinHash", "PStableHash", "LSHTables",
           "HASH_FAMILIES", "hash_family_class", "hash_family_from_state",
           "candidate_probability", "choose_KL"]

MAX_RANGE_POW = 30
_INT32_MAX = 2**31 - 1


class _HashFamily:
    """Common machinery: validation, dense/CSR dispatch, packing, state.

    Subclasses set ``_param_names`` (the arrays :meth:`_draw` creates) and
    implement ``_hash_dense`` / ``_hash_csr`` on top of the kernels.
    """

    _kernels = KERNELS
    _param_names = ()

    def __init__(self, n_features, K, L, random_state=None):
        self.n_features = check_int(n_features, "n_features", low=1)
        self.K = check_int(K, "K", low=1, high=64)
        self.L = check_int(L, "L", low=1)
        self.random_state = random_state
        self._rng = check_random_state(random_state)
        check_allocation(self._draw_nbytes() + 8 * self.L,
                         f"{type(self).__name__} hash functions of n_features={self.n_features}, "
                         f"K={self.K}, L={self.L}")
        self.redraw()

    def _draw_nbytes(self):
        """Peak bytes of drawing the hash functions (beyond the ``L`` table seeds)."""
        return 0

    @property
    def n_hashes(self):
        """Total number of hash functions, ``K * L``."""
        return self.K * self.L

    def redraw(self):
        """Draw new hash functions (SLIDE's "rebuild"); returns ``self``."""
        for name, value in self._draw(self._rng).items():
            setattr(self, name, value)
        return self

    # ----------------------------------------------------------------- hashing
    def hash(self, X, n_threads=None):
        """Hash the rows of ``X``.

        Parameters
        ----------
        X : ndarray [n, n_features] or CSR matrix
            Dense rows use every coordinate; CSR rows use only the listed ones.
        n_threads : int, optional
            Threads of the fast kernels; ``None`` follows ``OMP_NUM_THREADS``.

        Returns
        -------
        codes : ndarray [n, K * L], int32
        """
        X, sparse = check_matrix(X, "X", n_features=self.n_features, allow_empty=True)
        n_threads = effective_n_threads(n_threads)
        if X.shape[0] == 0:
            return np.empty((0, self.n_hashes), dtype=np.int32)
        if sparse:
            return self._hash_csr(X, n_threads)
        return self._hash_dense(X, n_threads)

    def pack(self, codes, range_pow, n_threads=None):
        """Combine each table's K codes into a bucket id in ``[0, 2**range_pow)``.

        Returns
        -------
        buckets : ndarray [n, L], int32
        """
        range_pow = check_int(range_pow, "range_pow", low=1, high=MAX_RANGE_POW)
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.n_hashes:
            raise ValueError(f"codes must have shape (n, {self.n_hashes}), got {codes.shape}")
        if not np.issubdtype(codes.dtype, np.integer):
            raise TypeError(f"codes must be integers, got dtype {codes.dtype}")
        codes = np.ascontiguousarray(codes, dtype=np.int32)
        return self._pack(codes, range_pow, effective_n_threads(n_threads))

    def buckets(self, X, range_pow, n_threads=None):
        """``pack(hash(X), range_pow)``: the bucket of every row in every table."""
        X, sparse = check_matrix(X, "X", n_features=self.n_features, allow_empty=True)
        range_pow = check_int(range_pow, "range_pow", low=1, high=MAX_RANGE_POW)
        return self._buckets(X, sparse, range_pow, effective_n_threads(n_threads))

    def _buckets(self, X, sparse, range_pow, n_threads):
        """:meth:`buckets` of input already checked by ``check_matrix``."""
        if X.shape[0] == 0:
            return np.empty((0, self.L), dtype=np.int32)
        if not sparse and hasattr(self, "_buckets_dense"):
            return self._buckets_dense(X, range_pow, n_threads)  # fused: no codes in memory
        codes = self._hash_csr(X, n_threads) if sparse else self._hash_dense(X, n_threads)
        return self._pack(codes, range_pow, n_threads)

    def _pack(self, codes, range_pow, n_threads):
        return self._kernels.hashing.pack_mix(codes, self.L, self.K, self.table_seeds, range_pow,
                                              n_threads)

    # ----------------------------------------------------------------- state
    def _hyperparams(self):
        return {"n_features": self.n_features, "K": self.K, "L": self.L}

    def get_state(self):
        """Hyper-parameters and parameter arrays, enough to rebuild the same family.

        Returns
        -------
        dict
            ``{"family": class name, "params": {...}, "arrays": {...}}``.
        """
        return {"family": type(self).__name__, "params": self._hyperparams(),
                "arrays": {name: getattr(self, name) for name in self._param_names}}

    @classmethod
    def from_state(cls, state, random_state=None, source="<state>"):
        """Rebuild a family saved by :meth:`get_state` (of either backend).

        The hyper-parameters are checked as by the constructor; every array by
        :meth:`checked_array`, so a damaged state raises
        :class:`~slide_ref._validation.StateError` naming ``source`` and the array
        instead of reaching the kernels.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from get_state(), got {type(state).__name__}")
        if state.get("family") != cls.__name__:
            raise ValueError(f"state is for {state.get('family')!r}, not {cls.__name__}")
        params, arrays = state.get("params"), state.get("arrays")
        for field, value in (("params", params), ("arrays", arrays)):
            if not isinstance(value, dict):
                raise StateError(source, field, f"must be a dict, got {type(value).__name__}")
        obj = cls(**params, random_state=random_state)
        for name in cls._param_names:
            if name not in arrays:
                raise StateError(source, name, "missing")
            setattr(obj, name, obj.checked_array(name, arrays[name], source, name))
        return obj

    #: arrays of ids and the attribute bounding them (ids lie in ``[0, bound)``)
    _ID_BOUNDS = {}

    def checked_array(self, name, saved, source="<state>", field=None,
                      origin="the parameters"):
        """The saved parameter array ``name``, checked against this family and converted
        to the dtype of its own: the same shape, a real dtype that holds the values
        (integers for integer arrays), finite floats, ids within their bound and the
        family's own invariants (:meth:`_check_invariants`).  Raises
        :class:`~slide_ref._validation.StateError` naming ``source`` and ``field`` (and,
        for a shape that the family's parameters do not give, ``origin``: where they come
        from)."""
        field = name if field is None else field
        saved, current = np.asarray(saved), np.asarray(getattr(self, name))
        if saved.shape != current.shape:
            raise StateError(source, field, f"shape {saved.shape}, expected {current.shape} "
                                            f"from {origin} {self._hyperparams()}")
        want = current.dtype
        if saved.dtype.kind not in ("iu" if want.kind in "iu" else "iuf"):
            raise StateError(source, field, f"dtype {saved.dtype}, expected {want}")
        if saved.dtype.kind == "f" and not np.isfinite(saved).all():
            raise StateError(source, field, "non-finite values")
        if want.kind in "iu" and saved.size and (
                saved.min() < np.iinfo(want).min or saved.max() > np.iinfo(want).max):
            raise StateError(source, field, f"values outside the range of {want}")
        bound = getattr(self, self._ID_BOUNDS[name]) if name in self._ID_BOUNDS else None
        if bound is not None and saved.size and (saved.min() < 0 or saved.max() >= bound):
            raise StateError(source, field, f"ids outside [0, {bound})")
        self._check_invariants(name, saved, source, field)
        value = saved.astype(want, copy=True)
        return value if value.ndim else value.item()

    def _check_invariants(self, name, saved, source, field):
        """Family-specific checks of a saved array (in range, of the right dtype)."""
        # the densification probes multiply by a 32-bit seed (see _probe_seed)
        if name == "probe_seed" and not 0 <= int(saved) < 2**32:
            raise StateError(source, field, f"must lie in [0, 2**32), got {int(saved)}")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyperparams().items())
        return f"{type(self).__name__}({args})"


def _probe_seed(rng):
    """An odd 32-bit multiplier for the densification probes."""
    return int(rng.integers(0, 2**31)) * 2 + 1


class WTAHash(_HashFamily):
    """Winner-take-all hash (Yagnik et al. 2011) of dense vectors.

    ``P = ceil(K * L * bin_size / n_features)`` random permutations of the
    coordinates are concatenated and cut into ``K * L`` bins of ``bin_size``;
    a hash is the position of the largest value in its bin.  CSR rows are
    treated as dense with zeros.  SLIDE's version compared permuted values but
    stored unpermuted ones and returned coordinate ids; this one is correct.

    Parameters
    ----------
    n_features : int
    K, L : int
        Codes per table and number of tables.
    bin_size : int, default 8
    packing : {"slide", "concat"}, default "slide"
        How K codes make a bucket id: "slide" shifts by ``floor(ln bin_size)``
        bits per code and adds, overlapping (SLIDE's packing, which its authors
        kept after trying log2); "concat" shifts by ``ceil(log2 bin_size)``
        bits, an exact concatenation.  Both are masked to the table range.
    random_state : int, Generator or None
    """

    _param_names = ("slots", "table_seeds")
    _ID_BOUNDS = {"slots": "n_features"}

    def __init__(self, n_features, K=6, L=50, bin_size=8, packing="slide", random_state=None):
        self.bin_size = check_int(bin_size, "bin_size", low=2, high=2**16)
        self.packing = check_choice(packing, "packing", {"slide", "concat"})
        super().__init__(n_features, K, L, random_state)

    def _hyperparams(self):
        return {**super()._hyperparams(), "bin_size": self.bin_size, "packing": self.packing}

    def _draw_nbytes(self):
        # int64 permutations covering every bin, then the int32 slots
        width = self.n_hashes * self.bin_size
        return 8 * (width + self.n_features) + 4 * width

    def _draw(self, rng):
        d, width = self.n_features, self.n_hashes * self.bin_size
        n_perm = -(-width // d)
        perms = np.concatenate([rng.permutation(d) for _ in range(n_perm)])
        return {"slots": perms[:width].reshape(self.n_hashes, self.bin_size).astype(np.int32),
                "table_seeds": rng.integers(0, 2**63, size=self.L, dtype=np.uint64)}

    @property
    def shift(self):
        """Bits per code in the bucket id (see ``packing``)."""
        if self.packing == "slide":
            return max(1, int(math.floor(math.log(self.bin_size))))
        return int(math.ceil(math.log2(self.bin_size)))

    def _pack(self, codes, range_pow, n_threads):
        return self._kernels.hashing.pack_shift(codes, self.L, self.K, self.shift, range_pow,
                                                n_threads)

    def _hash_dense(self, X, n_threads):
        return self._kernels.hashing.wta_dense(X, self.slots, n_threads)

    def _buckets_dense(self, X, range_pow, n_threads):
        return self._kernels.hashing.wta_dense_packed(X, self.slots, self.L, self.K, self.shift,
                                                      range_pow, n_threads)

    def _hash_csr(self, X, n_threads):
        return self._kernels.hashing.wta_csr(X.indptr, X.indices, X.data, self.n_features,
                                             self.slots, n_threads)


class DWTAHash(WTAHash):
    """Densified winner-take-all hash (Chen & Shrivastava 2018), SLIDE's default.

    Same bins as :class:`WTAHash`, but a CSR row offers only its listed
    coordinates, so bins can be empty; an empty bin copies the code of a probed
    non-empty bin (SLIDE's densification, up to 100 probes).  A bin whose probes
    all fail gets code 0, so bucket ids always stay in range (SLIDE issue #45).
    Dense rows list every coordinate and hash exactly as :class:`WTAHash`.

    Parameters are those of :class:`WTAHash`.
    """

    _param_names = ("slots", "table_seeds", "probe_seed")

    def _draw(self, rng):
        params = super()._draw(rng)
        params["probe_seed"] = _probe_seed(rng)
        return params

    def redraw(self):
        super().redraw()
        self._inverse = None
        return self

    def _inverse_slots(self):
        """CSR over coordinates of (bin, position) pairs, the inverse of ``slots``."""
        if getattr(self, "_inverse", None) is None or self._inverse[0] is not self.slots:
            flat = self.slots.ravel()
            order = np.argsort(flat, kind="stable")
            ptr = np.zeros(self.n_features + 1, dtype=np.int64)
            np.cumsum(np.bincount(flat, minlength=self.n_features), out=ptr[1:])
            bins, pos = np.divmod(order, self.bin_size)
            self._inverse = (self.slots, ptr, bins.astype(np.int32), pos.astype(np.int32))
        return self._inverse[1:]

    def _hash_csr(self, X, n_threads):
        ptr, bins, pos = self._inverse_slots()
        return self._kernels.hashing.dwta_csr(X.indptr, X.indices, X.data, ptr, bins, pos,
                                              self.n_hashes, self.probe_seed, n_threads)


class SimHash(_HashFamily):
    """Signed random projection with sparse +-1 vectors (SLIDE's SRP).

    Each of the ``K * L`` functions reads ``ceil(n_features / ratio)`` random
    coordinates (without replacement) with random signs; its bit is 0 when the
    signed sum is >= 0 and 1 otherwise.  Two vectors at angle theta collide with
    probability close to ``1 - theta / pi`` (exactly so for dense projections).

    Parameters
    ----------
    n_features : int
    K, L : int
    ratio : int, default 3
        Sparsity of the projections (SLIDE's ``Ratio``); 1 gives dense +-1.
    random_state : int, Generator or None
    """

    _param_names = ("idx", "sign", "table_seeds")
    _ID_BOUNDS = {"idx": "n_features"}

    def _check_invariants(self, name, saved, source, field):
        # each function reads distinct coordinates, listed in increasing order
        if name == "idx" and saved.shape[1] > 1 and not (np.diff(saved, axis=1) > 0).all():
            raise StateError(source, field, "each row must list distinct coordinates in "
                                            "increasing order")
        if name == "sign" and not np.isin(saved, (-1, 1)).all():
            raise StateError(source, field, "signs must be -1 or 1")

    def __init__(self, n_features, K=6, L=50, ratio=3, random_state=None):
        self.ratio = check_int(ratio, "ratio", low=1)
        super().__init__(n_features, K, L, random_state)

    def _hyperparams(self):
        return {**super()._hyperparams(), "ratio": self.ratio}

    def _draw_nbytes(self):
        # float64 keys and their int64 argsort, one row per function
        return 16 * self.n_hashes * self.n_features

    def _draw(self, rng):
        d = self.n_features
        m = -(-d // self.ratio)
        idx = np.argsort(rng.random((self.n_hashes, d)), axis=1)[:, :m] if m < d else \
            np.tile(np.arange(d), (self.n_hashes, 1))
        return {"idx": np.sort(idx, axis=1).astype(np.int32),
                "sign": rng.choice(np.array([-1, 1], dtype=np.int8), size=(self.n_hashes, m)),
                "table_seeds": rng.integers(0, 2**63, size=self.L, dtype=np.uint64)}

    def _pack(self, codes, range_pow, n_threads):
        # one bit per code, most significant first (SLIDE's packing), masked
        return self._kernels.hashing.pack_shift(codes, self.L, self.K, 1, range_pow, n_threads)

    #: from this many rows on (a table rehash), dense input goes through one float64 GEMM
    #: per block instead of the per-row sums: the same signs (both sum in float64), and
    #: BLAS speed when all weight rows are rehashed
    GEMM_ROWS = 4096

    def _hash_dense(self, X, n_threads):
        if X.shape[0] >= self.GEMM_ROWS:
            return self._hash_dense_gemm(X)
        return self._kernels.hashing.simhash_dense(X, self.idx, self.sign, n_threads)

    def _hash_dense_gemm(self, X, block=16384):
        cached = getattr(self, "_dense_projection", None)
        if cached is None or cached[0] is not self.idx or cached[1] is not self.sign:
            P = np.zeros((self.n_features, self.n_hashes), dtype=np.float64)
            P[self.idx, np.arange(self.n_hashes)[:, None]] = self.sign
            cached = self._dense_projection = (self.idx, self.sign, P)
        P = cached[2]
        codes = np.empty((X.shape[0], self.n_hashes), dtype=np.int32)
        for start in range(0, X.shape[0], block):
            proj = X[start:start + block].astype(np.float64) @ P
            codes[start:start + block] = proj < 0
        return codes

    def _hash_csr(self, X, n_threads):
        return self._kernels.hashing.simhash_csr(X.indptr, X.indices, X.data, self.n_features,
                                                 self.idx, self.sign, n_threads)


class DensifiedMinHash(_HashFamily):
    """Densified one-permutation MinHash of each vector's ``topk`` largest coordinates.

    Coordinates are mapped to the ``K * L`` bins by a random function and
    carry a random rank; a bin's code is the id of its member with the smallest
    rank, and empty bins are densified as in :class:`DWTAHash`.  SLIDE's bin map
    shifted by the layer width instead of ``log2`` of the range; this one draws
    the map uniformly.

    Parameters
    ----------
    n_features : int
    K, L : int
    topk : int, default 30
        Coordinates kept per vector (SLIDE's ``TOPK``).
    random_state : int, Generator or None
    """

    _param_names = ("coord_bin", "coord_rank", "probe_seed", "table_seeds")
    _ID_BOUNDS = {"coord_bin": "n_hashes"}

    def __init__(self, n_features, K=6, L=50, topk=30, random_state=None):
        self.topk = check_int(topk, "topk", low=1, high=_INT32_MAX)
        super().__init__(n_features, K, L, random_state)

    def _hyperparams(self):
        return {**super()._hyperparams(), "topk": self.topk}

    def _draw_nbytes(self):
        return 16 * self.n_features

    def _draw(self, rng):
        d = self.n_features
        return {"coord_bin": rng.integers(0, self.n_hashes, size=d).astype(np.int32),
                "coord_rank": rng.integers(0, 2**32, size=d, dtype=np.uint32),
                "probe_seed": _probe_seed(rng),
                "table_seeds": rng.integers(0, 2**63, size=self.L, dtype=np.uint64)}

    def _hash_dense(self, X, n_threads):
        return self._kernels.hashing.minhash_dense(X, self.coord_bin, self.coord_rank,
                                                   self.n_hashes, self.topk, self.probe_seed,
                                                   n_threads)

    def _hash_csr(self, X, n_threads):
        return self._kernels.hashing.minhash_csr(X.indptr, X.indices, X.data, self.coord_bin,
                                                 self.coord_rank, self.n_hashes, self.topk,
                                                 self.probe_seed, n_threads)


class PStableHash(_HashFamily):
    """L2 LSH with Gaussian projections (Datar et al. 2004).

    ``h(x) = floor((a . x + b) / w)`` with ``a ~ N(0, I)`` and ``b ~ U[0, w)``;
    points at distance ``r`` collide more often the smaller ``r / w`` is.

    Parameters
    ----------
    n_features : int
    K, L : int
    width : float, default 1.0
        Bucket width ``w``; choose it near the distances that should collide.
    random_state : int, Generator or None
    """

    _param_names = ("A", "offset", "table_seeds")

    def __init__(self, n_features, K=4, L=16, width=1.0, random_state=None):
        self.width = check_float(width, "width", low=0.0, low_open=True)
        super().__init__(n_features, K, L, random_state)

    def _hyperparams(self):
        return {**super()._hyperparams(), "width": self.width}

    def _draw_nbytes(self):
        return 8 * self.n_hashes * (self.n_features + 1)

    def _draw(self, rng):
        return {"A": rng.standard_normal((self.n_features, self.n_hashes)),
                "offset": rng.uniform(0.0, self.width, size=self.n_hashes),
                "table_seeds": rng.integers(0, 2**63, size=self.L, dtype=np.uint64)}

    def _hash_dense(self, X, n_threads):
        return self._kernels.hashing.pstable_dense(X, self.A, self.offset, self.width, n_threads)

    def _hash_csr(self, X, n_threads):
        return self._kernels.hashing.pstable_csr(X.indptr, X.indices, X.data, self.A, self.offset,
                                                 self.width, n_threads)


_FAMILIES = {cls.__name__: cls for cls in (WTAHash, DWTAHash, SimHash, DensifiedMinHash,
                                           PStableHash)}

#: the hash families by short name (the ``hash_family`` of :class:`LSHParams`, the CLI and
#: the NW sketch): short name -> class name in a backend's ``lsh`` module
HASH_FAMILIES = {"dwta": "DWTAHash", "wta": "WTAHash", "simhash": "SimHash", "srp": "SimHash",
                 "minhash": "DensifiedMinHash", "pstable": "PStableHash"}


def hash_family_class(name, module=None):
    """The hash family class of short ``name`` (see :data:`HASH_FAMILIES`) in ``module``.

    ``module`` is a backend's ``lsh`` module (this one by default;
    ``slide_fast.lsh`` gives the classes on the fast kernels).
    """
    check_choice(name, "hash_family", set(HASH_FAMILIES))
    return getattr(module if module is not None else sys.modules[__name__], HASH_FAMILIES[name])


def hash_family_from_state(state, module=None, random_state=None, source="<state>"):
    """Rebuild any hash family from :meth:`get_state` output, every array checked
    (:meth:`_HashFamily.from_state`).

    ``module`` is the ``lsh`` module whose classes to use (this one by default,
    ``slide_fast.lsh`` to get fast kernels).
    """
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict from get_state(), got {type(state).__name__}")
    classes = vars(module) if module is not None else _FAMILIES
    name = state.get("family")
    if not isinstance(name, str) or name not in _FAMILIES:
        raise ValueError(f"unknown hash family {name!r}; known: {sorted(_FAMILIES)}")
    return classes[name].from_state(state, random_state=random_state, source=source)


# ---------------------------------------------------------------------- choosing K and L
def candidate_probability(p, K, L):
    """Probability that an item is a candidate of a query: ``1 - (1 - p**K)**L``.

    ``p`` is the collision probability of one hash function for the pair
    (``1 - angle / pi`` for SimHash); the item is a candidate when all ``K``
    codes of at least one of the ``L`` tables agree.  Broadcasts over arrays.
    """
    p = np.asarray(p, dtype=np.float64)
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("p must be collision probabilities in [0, 1]")
    # -expm1(L * log1p(-p^K)) keeps the small probabilities of large K exact (p = 1: log 0)
    with np.errstate(divide="ignore"):
        return -np.expm1(np.asarray(L, dtype=np.float64) * np.log1p(-p ** np.asarray(K)))


def choose_KL(n_items, budget, *, p_near=0.8, p_far=0.5, max_K=32, max_L=256):
    """``(K, L)`` that retrieve the most near items within a candidate budget.

    The closed form of :func:`candidate_probability`: an unrelated item (one
    hash collision probability ``p_far``) is a candidate with probability
    ``P(p_far; K, L)``, so a query expects ``n_items * P(p_far; K, L)``
    candidates.  Among the ``K <= max_K``, ``L <= max_L`` whose expectation
    stays within ``budget``, the pair with the largest ``P(p_near; K, L)`` is
    returned (ties: fewer hash functions ``K * L``, then smaller ``K``).

    Parameters
    ----------
    n_items : int
        Items in the tables (the classes of an output layer).
    budget : float
        Expected candidates per query allowed.
    p_near, p_far : float, default 0.8, 0.5
        Collision probabilities of one hash function for the items a query
        should find and for the rest; ``0 <= p_far < p_near < 1``.  For SimHash
        ``p = 1 - angle / pi``: 0.5 for orthogonal vectors, 0.8 at 36 degrees.
        For (D)WTA with bins of ``b`` coordinates, unrelated vectors collide
        with probability ``1 / b`` per code; measure ``p_far`` on the layer when
        its rows are not unrelated (trained rows share a direction).
    max_K, max_L : int, default 32, 256

    Returns
    -------
    (K, L) : tuple of int
    """
    n_items = check_int(n_items, "n_items", low=1)
    budget = check_float(budget, "budget", low=0.0, low_open=True)
    p_far = check_float(p_far, "p_far", low=0.0, high=1.0)
    p_near = check_float(p_near, "p_near", low=0.0, high=1.0)
    if not p_far < p_near < 1.0:
        raise ValueError(f"p_near must lie between p_far and 1 (both excluded), got "
                         f"p_near={p_near}, p_far={p_far}")
    max_K = check_int(max_K, "max_K", low=1, high=64)
    max_L = check_int(max_L, "max_L", low=1, high=1 << 16)
    K, L = np.meshgrid(np.arange(1, max_K + 1), np.arange(1, max_L + 1), indexing="ij")
    fits = n_items * candidate_probability(p_far, K, L) <= budget
    if not fits.any():
        raise ValueError(f"no K <= {max_K}, L <= {max_L} keeps the expected candidates of "
                         f"{n_items} items within budget={budget}: raise max_K or the budget")
    recall = np.where(fits, candidate_probability(p_near, K, L), -1.0)
    # best recall first, then the fewest hash functions, then the smallest K
    order = np.lexsort((K.ravel(), (K * L).ravel(), -recall.ravel()))
    best = order[0]
    return int(K.ravel()[best]), int(L.ravel()[best])


class LSHTables:
    """``L`` hash tables of ``2**range_pow`` buckets with a capacity per bucket.

    Items (for example the weight rows of a layer) are hashed by ``family``
    and grouped by bucket in compact CSR form (see
    ``slide_ref._kernels.tables``), so memory grows with
    ``L * (2**range_pow + n_items)`` rather than with
    ``L * 2**range_pow * capacity``.

    Parameters
    ----------
    family : hash family
        Any family of this module (``family.L`` tables).
    range_pow : int, default 14
        log2 of the number of buckets per table.
    capacity : int, default 128
        Items kept per bucket (SLIDE's ``BUCKETSIZE``); 0 for no limit.
    policy : {"reservoir", "fifo"}, default "reservoir"
        What a full bucket does with a new item: "reservoir" keeps a uniform
        sample of all arrivals; "fifo" drops the oldest (SLIDE's rule).  Items
        arrive in id order, so with "fifo" an overflowing bucket keeps only its
        highest ids: with few buckets (SimHash has ``2**K``) the low ids then
        enter no table at all (see :meth:`coverage`).  The two policies store
        the same tables while no bucket overflows.
    random_state : int, Generator or None
        Seeds the reservoir draws.

    Attributes
    ----------
    n_items : int
        Items inserted by the last build.
    offsets, members : ndarray
        The tables (see the kernels module).
    """

    _kernels = KERNELS

    def __init__(self, family, range_pow=14, capacity=128, policy="reservoir",
                 random_state=None):
        if not isinstance(family, _HashFamily):
            raise TypeError(f"family must be a hash family of slide's lsh module, got "
                            f"{type(family).__name__}")
        self.family = family
        self.range_pow = check_int(range_pow, "range_pow", low=1, high=MAX_RANGE_POW)
        self.capacity = check_int(capacity, "capacity", low=0)
        self.policy = check_choice(policy, "policy", {"fifo", "reservoir"})
        self.random_state = random_state
        self._seed = seed_from(check_random_state(random_state))
        self.n_builds = 0
        self.n_items = 0
        self.offsets = None
        self.members = None

    @property
    def L(self):
        """Number of tables."""
        return self.family.L

    @property
    def n_buckets(self):
        return 1 << self.range_pow

    def build(self, items, n_threads=None):
        """Hash ``items`` with the current functions and fill the tables from scratch.

        Parameters
        ----------
        items : ndarray [n_items, n_features] or CSR matrix
            Item ``i`` is stored under id ``i``.
        n_threads : int, optional

        Returns
        -------
        self
        """
        X, sparse = check_matrix(items, "items", n_features=self.family.n_features)
        buckets = self.family._buckets(X, sparse, self.range_pow, effective_n_threads(n_threads))
        # the family's buckets are in range by construction: skip the re-check
        return self._fill(buckets, n_threads)

    def rehash(self, items, n_threads=None):
        """Re-insert updated items with the same hash functions (SLIDE's rehash)."""
        return self.build(items, n_threads)

    def rebuild(self, items, n_threads=None):
        """Draw new hash functions, then re-insert the items (SLIDE's rebuild)."""
        self.family.redraw()
        return self.build(items, n_threads)

    def build_from_buckets(self, buckets, n_threads=None):
        """Fill the tables from precomputed bucket ids ``[n_items, L]``."""
        return self._fill(self._check_buckets(buckets), n_threads)

    def _fill(self, buckets, n_threads):
        if buckets.shape[0] * self.L >= 2**31:
            raise ValueError(f"{buckets.shape[0]} items in {self.L} tables exceed the int32 "
                             "positions of the compact tables")
        check_allocation(lsh_tables_nbytes(self.L, self.range_pow, buckets.shape[0],
                                           self.capacity),
                         f"{self.L} hash tables of 2**{self.range_pow} buckets")
        self.offsets, self.members = self._kernels.tables.build_tables(
            buckets, self.range_pow, self.capacity, self.policy == "reservoir", self._seed,
            self.n_builds, effective_n_threads(n_threads))
        self.n_items = buckets.shape[0]
        self.n_builds += 1
        return self

    def query(self, X, n_threads=None):
        """Items sharing a bucket with each query row, in any table.

        Parameters
        ----------
        X : ndarray [n_queries, n_features] or CSR matrix

        Returns
        -------
        csr_matrix [n_queries, n_items] of int32
            Row ``q`` holds the union of the query's buckets over the ``L``
            tables, sorted by id, with the number of tables that returned each id.
        """
        X, sparse = check_matrix(X, "X", n_features=self.family.n_features, allow_empty=True)
        n = effective_n_threads(n_threads)
        return self.query_buckets(self.family._buckets(X, sparse, self.range_pow, n), n)

    def query_buckets(self, buckets, n_threads=None):
        """:meth:`query` from precomputed bucket ids ``[n_queries, L]``."""
        if self.offsets is None:
            raise RuntimeError("the tables are empty: call build(items) first")
        buckets = self._check_buckets(buckets, allow_empty=True)
        indptr, ids, counts = self._kernels.tables.query_tables(
            buckets, self.offsets, self.members, self.n_items, effective_n_threads(n_threads))
        return sp.csr_matrix((counts, ids, indptr), shape=(buckets.shape[0], self.n_items))

    def bucket_sizes(self):
        """Items stored per bucket, ``[L, 2**range_pow]``."""
        if self.offsets is None:
            raise RuntimeError("the tables are empty: call build(items) first")
        return np.diff(self.offsets, axis=1)

    def coverage(self):
        """How many items the tables hold after the capacity cut.

        Returns
        -------
        dict
            ``stored``: fraction of the items kept in at least one table (an item
            in no table can only be reached by padding); ``per_table``: mean over
            the tables of the fraction of items each keeps.
        """
        if self.offsets is None:
            raise RuntimeError("the tables are empty: call build(items) first")
        if self.n_items == 0:
            return {"stored": 0.0, "per_table": 0.0}
        in_any = np.zeros(self.n_items, dtype=bool)
        in_any[self.members] = True
        per_table = np.diff(self.offsets[:, [0, -1]], axis=1).mean() / self.n_items
        return {"stored": float(in_any.mean()), "per_table": float(per_table)}

    @property
    def nbytes(self):
        """Memory held by the tables' arrays."""
        if self.offsets is None:
            return 0
        return self.offsets.nbytes + self.members.nbytes

    def _check_buckets(self, buckets, allow_empty=False):
        buckets = np.asarray(buckets)
        if buckets.ndim != 2 or buckets.shape[1] != self.L:
            raise ValueError(f"buckets must have shape (n, {self.L}), got {buckets.shape}")
        if not np.issubdtype(buckets.dtype, np.integer):
            raise TypeError(f"buckets must be integers, got dtype {buckets.dtype}")
        if buckets.shape[0] == 0 and not allow_empty:
            raise ValueError("no items to insert")
        if buckets.size and (buckets.min() < 0 or buckets.max() >= self.n_buckets):
            raise ValueError(f"bucket ids must lie in [0, {self.n_buckets})")
        return np.ascontiguousarray(buckets, dtype=np.int32)

    def __repr__(self):
        return (f"LSHTables({self.family!r}, range_pow={self.range_pow}, "
                f"capacity={self.capacity}, policy={self.policy!r})")


#: selection methods of an LSH-sampled layer (see :class:`LSHParams`)
SELECTIONS = ("union", "threshold", "topk", "vanilla")
_DEFAULT_SELECTION_PARAM = {"union": 0, "threshold": 2, "topk": 1000, "vanilla": 1000}
#: the cap ``max_active="auto"`` puts on an output layer's union: 5% of the classes, the
#: optimized C++ build's value
AUTO_MAX_ACTIVE = 0.05


class LSHParams(BaseEstimator):
    """The settings of a layer's LSH tables: hashing, selection, padding and schedule.

    One object carries them wherever a layer is sampled with LSH: the sampled
    hidden layers of :class:`~slide_ref.network.SlideNetwork` (``lsh=``), its
    default output selection, :class:`~slide_ref.negative.LSHSampler` (``lsh=``)
    and :class:`~slide_ref.classifier.SlideClassifier` (``lsh=``).  Values are
    stored as given and checked when a layer is built (:meth:`validate`).

    Parameters
    ----------
    hash_family : str, default "dwta"
        A short name of :data:`HASH_FAMILIES` ("dwta", "wta", "simhash" or "srp",
        "minhash", "pstable").
    hash_params : dict, optional
        More parameters of the hash family (``{"ratio": 1}`` for a dense SimHash,
        ``{"bin_size": 16}`` for DWTA, ...).
    K, L : int, default 6, 50
        Hash codes per table and tables.
    range_pow : int, optional
        log2 of the buckets per table; by default the smallest that holds every
        bucket id of the packing (14 for DWTA with K=6), capped at 20.
    bucket_capacity : int, default 128
        Items kept per bucket (0: no limit).
    bucket_policy : {"reservoir", "fifo"}, default "reservoir"
        What a full bucket keeps: a uniform sample of its items ("reservoir") or
        the last arrivals ("fifo", SLIDE's rule, which keeps the highest ids and
        leaves low class ids out of every table when buckets overflow, as
        SimHash's ``2**K`` buckets do past ``2**K * bucket_capacity`` classes).
        Both give the same tables while no bucket overflows.
    selection : {"union", "threshold", "topk", "vanilla"}, default "union"
        How candidates become the active set: all of them (SLIDE's code
        default), those seen in at least ``selection_param`` tables, the
        ``selection_param`` most frequent, or whole buckets from tables visited in
        random order until ``selection_param`` neurons are active.
    selection_param : int, optional
        2 for "threshold", 1000 for "topk" and "vanilla" by default.
    max_active : "auto", float, int or None, default "auto"
        Cap on the neurons taken from the tables with "union" or "vanilla": a
        fraction of the layer (in (0, 1]) or a count; tables are then visited in
        a random order, whole buckets at a time, until the cap is reached (or,
        with several queries per sample, the neurons most tables returned are
        kept). "auto" caps an output layer's union at 5% of the classes (the
        optimized C++ build's value) and leaves hidden layers and the
        "threshold" and "topk" selections uncapped; None never caps.
    min_active, fill_below : int, default 1000, 1500
        A sample with fewer than ``fill_below`` active neurons is padded with
        random ones up to ``min_active`` (SLIDE's constants); 0 disables padding.
    rehash_every, rebuild_every : int, default 6400, 128000
        Samples between rehashes (re-inserting every neuron from the current
        weights) and rebuilds (new hash functions); 0: never (for either).
    table_schedule : {"fixed", "exponential"}, default "fixed"
    schedule_first, schedule_growth : int, float, default 50, 0.1
        ``N0`` (batches) and ``lambda`` of the exponential schedule.
    center : bool, default False
        Hash the layer's rows minus their mean row (recomputed at every rehash and
        rebuild); queries are hashed as they are.  Subtracting one vector from
        every row shifts all inner products of a query by the same amount, so the
        ranking the tables should reproduce is unchanged, while the angles SimHash
        measures are no longer dominated by the direction the trained rows share
        (``docs/lns.md``, "LSH quality on real data").
    """

    def __init__(self, hash_family="dwta", hash_params=None, K=6, L=50, range_pow=None,
                 bucket_capacity=128, bucket_policy="reservoir", selection="union",
                 selection_param=None, max_active="auto", min_active=1000, fill_below=1500,
                 rehash_every=6400, rebuild_every=128000, table_schedule="fixed",
                 schedule_first=50, schedule_growth=0.1, center=False):
        self.hash_family = hash_family
        self.hash_params = hash_params
        self.K = K
        self.L = L
        self.range_pow = range_pow
        self.bucket_capacity = bucket_capacity
        self.bucket_policy = bucket_policy
        self.selection = selection
        self.selection_param = selection_param
        self.max_active = max_active
        self.min_active = min_active
        self.fill_below = fill_below
        self.rehash_every = rehash_every
        self.rebuild_every = rebuild_every
        self.table_schedule = table_schedule
        self.schedule_first = schedule_first
        self.schedule_growth = schedule_growth
        self.center = center

    @classmethod
    def coerce(cls, lsh, name="lsh"):
        """``lsh`` as an :class:`LSHParams`: None gives the defaults, a dict its values."""
        if lsh is None:
            return cls()
        if isinstance(lsh, dict):
            known = sorted(inspect.signature(cls.__init__).parameters.keys() - {"self"})
            unknown = sorted(str(k) for k in lsh if k not in known)
            if unknown:
                raise ValueError(f"{name} has unknown settings {unknown}; known: {known}")
            return cls(**lsh)
        if not isinstance(lsh, LSHParams):
            raise TypeError(f"{name} must be an LSHParams, a dict of its parameters or None, "
                            f"got {type(lsh).__name__}")
        return lsh

    def validate(self):
        """Check every setting (TypeError / ValueError naming it); returns ``self``."""
        check_choice(self.hash_family, "hash_family", set(HASH_FAMILIES))
        if self.hash_params is not None and not isinstance(self.hash_params, dict):
            raise TypeError("hash_params must be a dict of hash family parameters")
        _check_hash_params(self.hash_family, self.hash_params or {})
        check_int(self.K, "K", low=1, high=32)
        check_int(self.L, "L", low=1)
        if self.range_pow is not None:
            check_int(self.range_pow, "range_pow", low=1, high=MAX_RANGE_POW)
        check_int(self.bucket_capacity, "bucket_capacity", low=0, high=_INT32_MAX)
        check_choice(self.bucket_policy, "bucket_policy", {"fifo", "reservoir"})
        check_choice(self.selection, "selection", set(SELECTIONS))
        if self.selection_param is not None:
            # a number of tables (threshold) or of neurons (topk, vanilla): at least one
            check_int(self.selection_param, "selection_param", low=1, high=_INT32_MAX)
        # counts of neurons reach the kernels as int32
        check_int(self.min_active, "min_active", low=0, high=_INT32_MAX)
        check_int(self.fill_below, "fill_below", low=0, high=_INT32_MAX)
        check_int(self.rehash_every, "rehash_every", low=0)
        check_int(self.rebuild_every, "rebuild_every", low=0)
        check_choice(self.table_schedule, "table_schedule", {"fixed", "exponential"})
        check_int(self.schedule_first, "schedule_first", low=1)
        check_float(self.schedule_growth, "schedule_growth", low=0.0)
        check_choice(self.center, "center", {True, False})
        if self.max_active is not None and not (isinstance(self.max_active, str)
                                                and self.max_active == "auto"):
            if self.selection not in ("union", "vanilla"):
                raise ValueError("max_active caps the 'union' and 'vanilla' selections; with "
                                 f"selection={self.selection!r} leave it 'auto' or None")
            _cap_count(self.max_active, 1)
        return self

    def selection_for(self, n_items, output=False, several_queries=False):
        """The selection kernel's ``(method, param)`` for a layer of ``n_items`` neurons.

        ``output`` marks an output layer (where ``max_active="auto"`` caps the
        union); ``several_queries`` a sampler querying with every label of a
        sample, which has no table order: a cap then keeps the most returned.
        """
        param = (_DEFAULT_SELECTION_PARAM[self.selection] if self.selection_param is None
                 else check_int(self.selection_param, "selection_param", low=1))
        if self.selection == "vanilla" and several_queries:
            raise ValueError("selection 'vanilla' needs one query per sample: use "
                             "label_query='random' with query='label'")
        cap = self.max_active
        if isinstance(cap, str) and cap == "auto":
            cap = AUTO_MAX_ACTIVE if output and self.selection in ("union", "vanilla") else None
        if cap is None:
            return self.selection, param
        return ("topk" if several_queries else "vanilla"), _cap_count(cap, n_items)

    def schedule(self, batch_size):
        """A fresh :class:`~slide_ref._schedule.TableSchedule` of these settings."""
        return TableSchedule(batch_size, self.rehash_every, self.rebuild_every,
                             self.table_schedule, self.schedule_first, self.schedule_growth)


def _check_hash_params(hash_family, hash_params):
    """``hash_params`` may only set parameters of the family's constructor beyond the ones
    :class:`LSHParams` sets itself (ValueError naming ``hash_params``)."""
    cls = _FAMILIES[HASH_FAMILIES[hash_family]]
    accepted = set(inspect.signature(cls.__init__).parameters) - {
        "self", "n_features", "K", "L", "random_state"}
    unknown = sorted(str(k) for k in hash_params if k not in accepted)
    if unknown:
        raise ValueError(f"hash_params has {unknown}, which {cls.__name__} does not take; it "
                         f"takes {sorted(accepted)}")


def _cap_count(cap, n_items):
    """A ``max_active`` cap as a count of neurons of a layer of ``n_items``."""
    if isinstance(cap, float) and 0 < cap <= 1:
        return max(1, int(cap * n_items))
    return check_int(cap, "max_active", low=1, high=_INT32_MAX)
