"""NW sketch: importance sampling of training examples from a sketch of their losses.

Daghaghi, Coleman, Geordie and Shrivastava (arXiv 2311.13583) score a training
example by the Nadaraya-Watson (NW) kernel regression of the per-sample loss on
the input,

    f(q) = sum_i k(x_i, q) l_i / sum_i k(x_i, q),

with an LSH kernel ``k(x, q) = p(x, q)^K`` (``p`` the collision probability of
one hash function, ``K`` codes concatenated), and approximate it with a
RACE-style sketch: ``R`` rows of ``W`` buckets holding counts ``C`` and loss
sums ``S``.  A point lands in one bucket per row; its estimate is the ratio of
row means ``mean_r S[r, g_r(q)] / mean_r C[r, g_r(q)]`` (research notes
``nw_sketch.md`` sections 1.3-1.5 and 2).  A query costs ``O(R)`` memory reads
and no forward pass of the network, which is what makes the scores cheap
compared with loss-based samplers.

The sketch learns online from the losses of the normal training forward pass
(:meth:`NWSampler.observe`), and forgets old losses with :meth:`NWSketch.decay`
so that the scores follow the model as it improves.  Keys are a fixed random
projection of the raw input, never a trained layer: bucket statistics stay
valid while the network trains (notes section 1.4).

Example samplers plug into :func:`train_with_sampler` and
``SlideClassifier(example_sampler=...)``; they share one protocol:
``start(X, batch_size)``, ``next_batch(loss_fn) -> (indices, weights)`` and
``observe(indices, losses)``.  Weights multiply the per-sample loss, so the
weighted batch mean is an unbiased estimate of the full-data mean loss for the
importance-sampling schemes (not for Selective-Backprop, which is biased by
design).
"""
import importlib
import json
import math
import os
import time

import numpy as np
import scipy.sparse as sp

from . import _kernels
from ._kernels.rng import counter_uniform    # one NumPy implementation for both backends
from ._validation import (StateError, check_choice, check_csr, check_float, check_int,
                          check_labels, check_matrix, check_random_state, effective_n_threads,
                          seed_from)
from .model_io import (META, Int, NpzReader, Null, OneOf, Real, Record, Str, check_finite,
                       check_memory, save_npz_atomic)
from .training import (EvalSchedule, FitLoop, NetworkTrainer, SampledBatches, TrainingData,
                       check_time_budget, per_sample_losses)

__all__ = ["NWSketch", "NWSampler", "UniformExamples", "LossImportance", "SelectiveBackprop",
           "train_with_sampler", "per_sample_losses", "pstable_collision_probability",
           "FORMAT", "MAX_LOSS", "MAX_COUNT"]

FORMAT = "slide-nwsketch-v1"
# sketch family name -> class in the backend's lsh module
# (to be replaced by a lookup in the hash-family registry of lsh.py once it exists)
_FAMILIES = {"pstable": "PStableHash", "srp": "SimHash"}


def _sketch_bytes(n_features, n_rows, n_buckets, K, key_dim):
    """Memory of a sketch: its table, the key projection and the hash functions."""
    projected = key_dim is not None and key_dim < n_features
    hashed = key_dim if projected else n_features
    return (16 * n_rows * n_buckets + (8 * n_features * key_dim if projected else 0)
            + 8 * hashed * n_rows * K + 16 * n_rows * (K + 1))


def _sibling(obj, module, name):
    """Class ``name`` of ``module`` in the backend package ``obj``'s class lives in
    (``slide_ref`` or ``slide_fast``), so each backend builds its own collaborators."""
    package = type(obj).__module__.split(".")[0]
    return getattr(importlib.import_module(f"{package}.{module}"), name)


def pstable_collision_probability(distance, width):
    """Collision probability of one p-stable (L2) hash at ``distance`` with bucket ``width``.

    ``p(c) = 1 - 2 Phi(-w/c) - 2c / (sqrt(2 pi) w) (1 - exp(-w^2 / (2 c^2)))``
    (Datar et al. 2004), and ``p(0) = 1``.  The kernel of a sketch row that
    concatenates ``K`` codes is ``p(c)^K``.
    """
    from scipy.special import ndtr
    c = np.asarray(distance, dtype=np.float64)
    w = check_float(width, "width", low=0.0, low_open=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = w / c
        p = 1.0 - 2.0 * ndtr(-r) - 2.0 / (np.sqrt(2.0 * np.pi) * r) * (1.0 - np.exp(-r * r / 2))
    return np.where(c > 0, p, 1.0)


#: Largest loss (and ``prior``) a sketch takes.  Buckets hold float64 sums of losses; with
#: every loss at most this and at most MAX_COUNT points per bucket, a query's sum over up to
#: 2**31 rows stays below 2**84 * 1e280 < 1.8e308 (the float64 maximum): no estimate overflows.
MAX_LOSS = 1e280
#: Largest count of a bucket (and ``prior_weight``): float64 counts stay exact up to 2**53.
MAX_COUNT = 2.0 ** 53


def _check_values(values, n, name="losses"):
    """``values`` as float64 ``(n,)``: real, finite, in ``[0, MAX_LOSS]`` (losses are never
    negative, and the bound keeps the sketch's sums finite)."""
    values = np.asarray(values)
    if values.dtype == object or not (np.issubdtype(values.dtype, np.floating)
                                      or np.issubdtype(values.dtype, np.integer)):
        raise TypeError(f"{name} must be real numbers, got dtype {values.dtype}")
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.shape != (n,):
        raise ValueError(f"{name} has shape {values.shape}, expected ({n},)")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if values.size and (values.min() < 0 or values.max() > MAX_LOSS):
        raise ValueError(f"{name} must lie in [0, {MAX_LOSS:g}] (losses are non-negative), got "
                         f"{values.min():g}..{values.max():g}")
    return values


def _check_path(path):
    """``path`` as a ``str`` (or bytes) path; a TypeError naming it for anything else."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def _check_keys_finite(keys):
    """Refuse keys that overflowed float64 (finite but huge rows projected to inf or NaN):
    their hash codes would be meaningless."""
    values = keys.data if sp.issparse(keys) else keys
    if not np.isfinite(values).all():
        raise ValueError("X is too large: its random projection (the sketch's key) overflows "
                         "float64; scale the input down")


class NWSketch:
    """Sketch of the Nadaraya-Watson regression of losses on inputs (R rows x W buckets).

    Parameters
    ----------
    n_features : int
        Width of the raw input.
    n_rows : int, default 100
        ``R``, independent hash functions (rows); the estimate's error shrinks
        like ``1/sqrt(R)`` and its failure probability exponentially in ``R``.
    n_buckets : int, default 4096
        ``W``, buckets per row.  The K codes of a row are mixed by a 64-bit hash
        into ``[0, W)``; distinct codes then collide with probability ``1/W``.
    family : {"pstable", "srp"}, default "pstable"
        p-stable L2 hash ``floor((a.x + b) / w)`` (kernel ``p(dist)^K``, see
        :func:`pstable_collision_probability`) or signed random projections with
        dense +-1 vectors (kernel about ``(1 - angle/pi)^K``).
    K : int, default 2
        Codes concatenated per row: larger K, narrower kernel.
    width : float, default 1.0
        Bucket width of the p-stable hash, in units of the key.
    key_dim : int or None, default 32
        Keys are a fixed random projection ``x @ P``, ``P ~ N(0, 1/key_dim)``,
        of the raw input (distances are kept up to a factor near 1); ``None``
        hashes the raw input, and so does a ``key_dim >= n_features``.
    prior : float or None, default None
        Value the estimate shrinks to (in ``[0, MAX_LOSS]``): the mean of all
        inserted values when ``None`` (0 before any insert).
    prior_weight : float, default 0.1
        Pseudo-points of ``prior`` per row added to every query (at most
        ``MAX_COUNT``); with 0, a query that lands only in empty buckets still
        gets ``prior``, not NaN.
    n_threads : int, optional
    random_state : int, Generator or None

    Attributes
    ----------
    table : ndarray [n_rows, n_buckets, 2], float64
        Count and loss sum of every bucket (interleaved: one cache line per access).
    counts, sums : ndarray [n_rows, n_buckets], float64
        Views of ``table[..., 0]`` and ``table[..., 1]``.
    total_count, total_sum : float
        (Decayed) number and sum of inserted values.
    """

    _kernels = _kernels     # the backend's kernel package (slide_fast binds its own)

    def __init__(self, n_features, n_rows=100, n_buckets=4096, family="pstable", K=2,
                 width=1.0, key_dim=32, prior=None, prior_weight=0.1, n_threads=None,
                 random_state=None):
        self.n_features = check_int(n_features, "n_features", low=1)
        self.n_rows = check_int(n_rows, "n_rows", low=1)
        self.n_buckets = check_int(n_buckets, "n_buckets", low=1, high=2**31 - 1)
        self.family = check_choice(family, "family", set(_FAMILIES))
        self.K = check_int(K, "K", low=1, high=64)
        self.width = check_float(width, "width", low=0.0, low_open=True)
        self.key_dim = None if key_dim is None else check_int(key_dim, "key_dim", low=1)
        self.prior = None if prior is None else check_float(prior, "prior", low=0.0,
                                                            high=MAX_LOSS)
        self.prior_weight = check_float(prior_weight, "prior_weight", low=0.0, high=MAX_COUNT)
        self.n_threads = n_threads
        self._n_threads = effective_n_threads(n_threads)   # once: the hot loop asks often
        self.random_state = random_state
        rng = check_random_state(random_state)
        check_memory(self._estimated_bytes(), f"{type(self).__name__}(n_features="
                     f"{self.n_features}, n_rows={self.n_rows}, n_buckets={self.n_buckets}, "
                     f"K={self.K}, key_dim={self.key_dim})", ValueError)
        d = self.n_features
        if self.key_dim is not None and self.key_dim < d:
            # drawn first, so sketches built from the same seed share their keys
            self.projection = (rng.standard_normal((d, self.key_dim))
                               / math.sqrt(self.key_dim))
            d = self.key_dim
        else:
            self.projection = None
        cls = _sibling(self, "lsh", _FAMILIES[self.family])
        if self.family == "pstable":
            self.hasher = cls(d, K=self.K, L=self.n_rows, width=self.width, random_state=rng)
        else:
            self.hasher = cls(d, K=self.K, L=self.n_rows, ratio=1, random_state=rng)
        self.mix_seeds = rng.integers(0, 2**63, size=self.n_rows, dtype=np.uint64)
        self.reset()

    def _estimated_bytes(self):
        return _sketch_bytes(self.n_features, self.n_rows, self.n_buckets, self.K, self.key_dim)

    def reset(self):
        """Forget everything inserted (keeps the hash functions); returns ``self``."""
        self.table = np.zeros((self.n_rows, self.n_buckets, 2), dtype=np.float64)
        self.total_count = 0.0
        self.total_sum = 0.0
        return self

    @property
    def counts(self):
        """Counts ``[n_rows, n_buckets]`` (a view of ``table``)."""
        return self.table[:, :, 0]

    @property
    def sums(self):
        """Loss sums ``[n_rows, n_buckets]`` (a view of ``table``)."""
        return self.table[:, :, 1]

    # ----------------------------------------------------------------- keys and buckets
    def keys(self, X):
        """The hashed key of each row: ``X @ P`` (dense float64), or ``X`` itself."""
        X, sparse = check_matrix(X, "X", n_features=self.n_features, allow_empty=True)
        return self._keys(X, sparse)

    def _keys(self, X, sparse):
        if self.projection is None:
            keys = X
        else:
            with np.errstate(over="ignore", invalid="ignore"):   # reported just below
                keys = np.ascontiguousarray(X @ self.projection, dtype=np.float64)
        _check_keys_finite(keys)
        return keys

    def buckets(self, X):
        """Bucket of every row of ``X`` in every sketch row: int32 ``[n, n_rows]``.

        Precompute these once for a fixed training set and use
        :meth:`insert_buckets` / :meth:`query_buckets` in the training loop.
        """
        X, sparse = check_matrix(X, "X", n_features=self.n_features, allow_empty=True)
        return self._buckets(X, sparse)

    def _buckets(self, X, sparse):
        n = self._threads()
        if X.shape[0] == 0:
            return np.empty((0, self.n_rows), dtype=np.int32)
        codes = self._codes(self._keys(X, sparse))
        return self._kernels.sketch.mix_buckets(codes, self.n_rows, self.K, self.mix_seeds,
                                                self.n_buckets, n)

    def _codes(self, keys):
        """The ``R * K`` LSH codes of each key: the hash family's own ``hash``."""
        return self.hasher.hash(keys, n_threads=self._threads())

    def _threads(self):
        return self._n_threads

    def _check_buckets(self, buckets):
        buckets = np.asarray(buckets)
        if buckets.ndim != 2 or buckets.shape[1] != self.n_rows:
            raise ValueError(f"buckets must have shape (n, {self.n_rows}), got {buckets.shape}")
        if not np.issubdtype(buckets.dtype, np.integer):
            raise TypeError(f"buckets must be integers, got dtype {buckets.dtype}")
        if buckets.size and (buckets.min() < 0 or buckets.max() >= self.n_buckets):
            raise ValueError(f"bucket ids must lie in [0, {self.n_buckets})")
        return np.ascontiguousarray(buckets, dtype=np.int32)

    # ----------------------------------------------------------------- insert and query
    def insert(self, X, losses):
        """Add the points ``X`` (dense or CSR rows) with their ``losses``; returns ``self``.

        Losses must be finite and in ``[0, MAX_LOSS]``.
        """
        X, sparse = check_matrix(X, "X", n_features=self.n_features, allow_empty=True)
        losses = _check_values(losses, X.shape[0])
        return self._insert(self._buckets(X, sparse), losses)

    def insert_buckets(self, buckets, losses):
        """:meth:`insert` from precomputed :meth:`buckets`."""
        buckets = self._check_buckets(buckets)
        return self._insert(buckets, _check_values(losses, buckets.shape[0]))

    def _insert(self, buckets, losses):
        if buckets.shape[0]:
            self._kernels.sketch.insert(buckets, losses, self.table, self._threads())
            self.total_count += float(buckets.shape[0])
            self.total_sum += float(losses.sum())
        return self

    @property
    def prior_value(self):
        """The value empty regions are shrunk towards (see ``prior``)."""
        if self.prior is not None:
            return self.prior
        return self.total_sum / self.total_count if self.total_count > 0 else 0.0

    def query(self, X):
        """Estimated loss (NW regression) of each row of ``X``: float64 ``[n]``."""
        X, sparse = check_matrix(X, "X", n_features=self.n_features, allow_empty=True)
        return self._query(self._buckets(X, sparse))

    def query_buckets(self, buckets):
        """:meth:`query` from precomputed :meth:`buckets`."""
        return self._query(self._check_buckets(buckets))

    def _query(self, buckets):
        return self._kernels.sketch.query(buckets, self.table, self.prior_value,
                              self.prior_weight, self._threads())

    # ----------------------------------------------------------------- sketch algebra
    def decay(self, gamma):
        """Multiply every count and sum by ``gamma`` in [0, 1] (forgetting); returns ``self``."""
        gamma = check_float(gamma, "gamma", low=0.0, high=1.0)
        self.table *= gamma
        self.total_count *= gamma
        self.total_sum *= gamma
        return self

    def merge(self, other):
        """Add a sketch with the same hash functions (sketches are linear); returns ``self``."""
        if not isinstance(other, NWSketch):
            raise TypeError(f"can only merge an NWSketch, got {type(other).__name__}")
        if self._params() != other._params() or not self._same_functions(other):
            raise ValueError("cannot merge sketches with different parameters or hash "
                             "functions: build both from the same random_state")
        self.table += other.table
        self.total_count += other.total_count
        self.total_sum += other.total_sum
        return self

    def _same_functions(self, other):
        a, b = self._function_arrays(), other._function_arrays()
        return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)

    def _function_arrays(self):
        arrays = {f"hasher.{k}": np.asarray(v)
                  for k, v in self.hasher.get_state()["arrays"].items()}
        arrays["mix_seeds"] = self.mix_seeds
        if self.projection is not None:
            arrays["projection"] = self.projection
        return arrays

    @property
    def nbytes(self):
        """Memory of the ``[R, W, 2]`` table."""
        return self.table.nbytes

    # ----------------------------------------------------------------- persistence
    def _params(self):
        return {"n_features": self.n_features, "n_rows": self.n_rows,
                "n_buckets": self.n_buckets, "family": self.family, "K": self.K,
                "width": self.width, "key_dim": self.key_dim, "prior": self.prior,
                "prior_weight": self.prior_weight}

    def save(self, path, *, overwrite=False):
        """Write the sketch (hash functions and contents) to an ``.npz`` file; returns the path.

        The file loads in either backend.  An existing file is kept unless
        ``overwrite=True``; the write is atomic (see
        :func:`slide_ref.model_io.save_npz_atomic`).
        """
        path = _check_path(path)
        if not isinstance(overwrite, (bool, np.bool_)):
            raise TypeError(f"overwrite must be a bool, got {type(overwrite).__name__}")
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        meta = {"format": FORMAT, "params": self._params(),
                "total_count": self.total_count, "total_sum": self.total_sum}
        payload = {META: np.array(json.dumps(meta)), "table": self.table,
                   **self._function_arrays()}
        return save_npz_atomic(path, payload, overwrite=overwrite)

    @classmethod
    def load(cls, path, n_threads=None):
        """Read a sketch written by :meth:`save` (by either backend) into this class.

        The metadata is checked first (types, ranges, the memory the sketch
        needs), then each array's header against the shape the metadata implies,
        then its values (finite; counts in ``[0, MAX_COUNT]``; loss sums, the
        table's and the total, non-negative and at most ``MAX_LOSS`` per counted
        point, as inserts give them); a bad file raises
        :class:`slide_ref._validation.StateError` naming the file and field.
        """
        path = _check_path(path)
        if os.path.isdir(path):
            raise StateError(path, "file", "is a directory, not a slide sketch file")
        with NpzReader(path, "slide sketch") as reader:
            meta = reader.read_meta(_SKETCH_SCHEMA, FORMAT)
            p = meta["params"]      # a new sketch and the saved arrays: twice its size
            check_memory(2 * _sketch_bytes(p["n_features"], p["n_rows"], p["n_buckets"], p["K"],
                                           p["key_dim"]),
                         "loading this sketch", lambda msg: StateError(path, "params", msg))
            try:
                obj = cls(**meta["params"], n_threads=n_threads, random_state=0)
            except (TypeError, ValueError) as exc:
                raise StateError(path, "params", str(exc)) from None
            expected = obj._function_arrays()
            expected["table"] = obj.table
            saved = {name: reader.read(name, shape=current.shape)
                     for name, current in expected.items()}
        obj._restore(saved, expected, path)
        obj.total_count = float(meta["total_count"])
        obj.total_sum = float(meta["total_sum"])
        _check_sums(obj.total_sum, obj.total_count, path, "total_sum")
        return obj

    def _restore(self, saved, expected, path):
        """Check the saved arrays' values and install them."""
        values = {name: _cast_checked(saved[name], expected[name].dtype, path, name)
                  for name in expected}
        for name, arr in values.items():
            check_finite(arr, path, name)
        _check_table(values["table"], path)
        if (values["mix_seeds"] >= 2**63).any():
            raise StateError(path, "mix_seeds", "seeds must lie in [0, 2**63)")
        _check_hasher_values(self.family, values, self.hasher.n_features, path)
        self.table, self.mix_seeds = values["table"], values["mix_seeds"]
        if self.projection is not None:
            self.projection = values["projection"]
        for name in type(self.hasher)._param_names:
            value = values[f"hasher.{name}"]
            setattr(self.hasher, name, value if value.ndim else value.item())

    def __repr__(self):
        return (f"{type(self).__name__}(n_features={self.n_features}, n_rows={self.n_rows}, "
                f"n_buckets={self.n_buckets}, family={self.family!r}, K={self.K})")


_SKETCH_SCHEMA = Record({
    "format": Str(),
    "params": Record({
        "n_features": Int(1, 2**31 - 1), "n_rows": Int(1, 2**31 - 1),
        "n_buckets": Int(1, 2**31 - 1), "family": Str(set(_FAMILIES)), "K": Int(1, 64),
        "width": Real(low=0.0, low_open=True),
        "key_dim": OneOf(Null(), Int(1, 2**31 - 1), expected="null or an integer"),
        "prior": OneOf(Null(), Real(low=0.0, high=MAX_LOSS), expected="null or a number"),
        "prior_weight": Real(low=0.0, high=MAX_COUNT)}),
    "total_count": Real(low=0.0), "total_sum": Real(low=0.0)})


def _check_sums(sums, counts, path, name):
    """Loss sums of inserted (and equally decayed) points: ``0 <= sum <= MAX_LOSS * count``.

    Every insert adds a count of 1 and a loss in ``[0, MAX_LOSS]``; the margins
    allow for the rounding of decays, which scale both alike (and may flush a
    count to 0 before its sum).
    """
    sums, counts = np.asarray(sums), np.asarray(counts)
    if (sums < 0).any():
        raise StateError(path, name, "negative loss sums (losses are non-negative)")
    if (sums > MAX_LOSS * (counts * (1 + 1e-6) + 1e-300)).any():
        raise StateError(path, name, f"loss sums above {MAX_LOSS:g} times their counts")


def _check_table(table, path):
    """Counts in ``[0, MAX_COUNT]`` and sums the counts can explain (see :func:`_check_sums`)."""
    counts = table[:, :, 0]
    if (counts < 0).any() or (counts > MAX_COUNT).any():
        raise StateError(path, "table", f"bucket counts outside [0, {MAX_COUNT:g}]")
    _check_sums(table[:, :, 1], counts, path, "table")


def _cast_checked(arr, dtype, path, name):
    """``arr`` as ``dtype``: floats from floats only, integers only when every value fits."""
    if dtype.kind == "f":
        if arr.dtype.kind != "f":
            raise StateError(path, name, f"dtype {arr.dtype}, expected floating point")
        return np.ascontiguousarray(arr, dtype=dtype)
    if arr.dtype.kind not in "iu":
        raise StateError(path, name, f"dtype {arr.dtype}, expected integers")
    info = np.iinfo(dtype)
    if arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
        raise StateError(path, name, f"values outside the range of {dtype}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _check_hasher_values(family, values, n_features, path):
    """Values the sketch's hash functions need: coordinates in range, signs +-1."""
    if family == "srp":
        idx, sign = values["hasher.idx"], values["hasher.sign"]
        if idx.size and (idx.min() < 0 or idx.max() >= n_features):
            raise StateError(path, "hasher.idx", f"coordinates outside [0, {n_features})")
        if not np.isin(sign, (-1, 1)).all():
            raise StateError(path, "hasher.sign", "signs must be -1 or +1")


# ============================================================================ example samplers
class _ExampleSampler:
    """Protocol shared by the example samplers.

    ``start(X, batch_size)`` prepares a pass over ``X``; ``next_batch(loss_fn)``
    returns the indices of the next batch and their loss weights (``None``
    means all ones); ``observe(indices, losses)`` gives back the per-sample
    losses of the training forward pass.  ``loss_fn(indices)`` computes the
    current per-sample losses with an extra forward pass; samplers that call it
    count the rows in ``n_forward_``.  ``sampler_time_`` is the time spent in
    the sampler (sketch work included, ``loss_fn`` excluded), ``start_time_``
    the part of it spent in ``start`` (hashing the training set).
    """

    needs_losses = False

    def start(self, X, batch_size):
        """Prepare sampling from the rows of ``X`` (dense or CSR); returns ``self``."""
        X, sparse = check_matrix(X, "X")
        self.batch_size_ = check_int(batch_size, "batch_size", low=1)
        self.n_samples_ = X.shape[0]
        self.step_ = 0
        self.n_forward_ = 0
        self.sampler_time_ = 0.0
        self._rng = check_random_state(self.random_state)
        self._seed = seed_from(self._rng)
        self._epoch = 0
        self._cursor = 0
        self._order = self._rng.permutation(self.n_samples_)
        t0 = time.perf_counter()
        self._start(X, sparse)
        self.start_time_ = time.perf_counter() - t0
        self.sampler_time_ += self.start_time_
        return self

    def _start(self, X, sparse):
        pass

    def _check_started(self):
        if not hasattr(self, "n_samples_"):
            raise RuntimeError(f"{type(self).__name__} is not started: call start(X, batch_size)")

    def next_batch(self, loss_fn=None):
        """Indices (int64) of the next training batch and their loss weights (or ``None``)."""
        self._check_started()
        if self.needs_losses and loss_fn is None:
            raise ValueError(f"{type(self).__name__} needs loss_fn(indices) -> per-sample losses")
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        t0 = time.perf_counter()
        self._forward_time = 0.0
        idx, w = self._next(loss_fn)
        self.sampler_time_ += time.perf_counter() - t0 - self._forward_time
        self.step_ += 1
        return idx, w

    def _timed_losses(self, loss_fn, idx):
        t0 = time.perf_counter()
        losses = _check_values(loss_fn(idx), len(idx))
        self._forward_time += time.perf_counter() - t0
        self.n_forward_ += len(idx)
        return losses

    def observe(self, indices, losses):
        """Per-sample losses of the batch just trained (from its forward pass)."""
        self._check_started()
        idx = np.asarray(indices)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError("indices must be a 1-D integer array")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_samples_):
            raise ValueError(f"indices must lie in [0, {self.n_samples_})")
        losses = _check_values(losses, len(idx))
        t0 = time.perf_counter()
        self._observe(idx, losses)
        self.sampler_time_ += time.perf_counter() - t0

    def _observe(self, idx, losses):
        pass

    def _next_uniform_chunk(self, size):
        """The next ``size`` positions of the epoch-wise random permutation."""
        out = []
        while size > 0:
            if self._cursor >= self.n_samples_:
                self._epoch += 1
                self._cursor = 0
                self._order = self._rng.permutation(self.n_samples_)
            take = self._order[self._cursor:self._cursor + size]
            self._cursor += len(take)
            size -= len(take)
            out.append(take)
        return np.concatenate(out).astype(np.int64)

    @property
    def steps_per_epoch(self):
        self._check_started()
        return -(-self.n_samples_ // self.batch_size_)

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._repr_params)
        return f"{type(self).__name__}({args})"

    _repr_params = ()


class UniformExamples(_ExampleSampler):
    """Shuffled batches without replacement, every weight 1 (plain SGD epochs).

    Parameters
    ----------
    random_state : int, Generator or None
    """

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _next(self, loss_fn):
        return self._next_uniform_chunk(self.batch_size_), None

    _repr_params = ("random_state",)


class NWSampler(_ExampleSampler):
    """Importance sampling of examples by the NW-sketch estimate of their loss.

    At :meth:`start` every training example is hashed once (keys are fixed, so
    its buckets never change).  The sketch learns from the losses of the
    normal training forward pass (:meth:`observe`: ``R`` scatter-adds per
    example, no extra forward pass).  Every ``refresh_every`` steps the sketch
    is decayed and every example re-scored by an ``R``-gather query; batches
    are then drawn from the scores by one of two schemes (notes section 1.6):

    * ``"proportional"``: ``q_i = (1 - mix) s_i / sum s + mix / N`` with
      ``s_i = (score_i + eps * mean score)^tau``, ``batch_size`` draws with
      replacement, weight ``1 / (N q_i)`` (unbiased for the mean loss);
    * ``"threshold"``: walk a random permutation; an example whose score is in
      the top ``keep_top`` fraction is always kept, any other with probability
      ``accept_prob``, until ``batch_size`` are kept.  Horvitz-Thompson weights
      ``1`` and ``1 / accept_prob``, times the expected keep rate ``rho`` (a
      batch then stands for ``batch_size / rho`` examined examples), make the
      weighted batch mean estimate the mean loss.

    Before the first loss is inserted every score equals the prior, so both
    schemes start as uniform sampling.

    Parameters
    ----------
    scheme : {"proportional", "threshold"}, default "proportional"
    n_rows, n_buckets, family, K, key_dim, prior_weight :
        Sketch parameters, see :class:`NWSketch`.  The defaults (32 rows of
        1,024 buckets: a 512 kB table) keep the sketch near the core between
        training steps; with 100 x 4,096 (6.5 MB) the sampler took about three
        times longer per step in training (bench_nwsketch), and 50 x 1,024
        about 9% of a step against 7% for 32 x 1,024.
    bandwidth : float, default 0.25
        p-stable bucket width as a fraction of the median distance between the
        keys of random pairs of training examples.  With ``K=4`` and 0.25 the
        kernel is local enough that scores keep contrast: on a toy set whose
        hard half-space has 25x the loss, the sketch's scores there were 2.8x
        the others' (1.4x with ``K=2``, 0.5).
    tau, mix, eps : float, default 1.0, 0.2, 0.05
        Proportional scheme: score exponent (> 0), uniform mixing ``lambda`` (avoids
        starving examples), score floor relative to the mean score.
    keep_top, accept_prob : float, default 0.3, 0.1
        Threshold scheme.
    weighting : {"unbiased", "normalized", "none"}, default "unbiased"
        Loss weights of the drawn examples: the importance weights above (the
        weighted batch loss is unbiased for the mean loss), the same divided by
        their batch mean (lower variance, slightly biased), or all ones (the
        biased objective of Selective-Backprop: hard examples simply count
        more often).
    refresh_every : int, optional
        Steps between re-scoring all examples (and decaying the sketch); by
        default half an epoch, so scoring costs about ``2 R`` gathers per
        trained example, twice the ``R`` scatter-adds of its insert.
    decay : float, default 0.5
        Factor the sketch is multiplied by per epoch of training (applied in
        slices at each refresh); 1 never forgets.
    n_threads : int, optional
    random_state : int, Generator or None

    Attributes
    ----------
    sketch_ : NWSketch
    scores_ : ndarray [n_samples]
        Scores at the last refresh.
    """

    def __init__(self, scheme="proportional", n_rows=32, n_buckets=1024, family="pstable", K=4,
                 key_dim=32, prior_weight=0.1, bandwidth=0.25, tau=1.0, mix=0.2, eps=0.05,
                 keep_top=0.3, accept_prob=0.1, weighting="unbiased", refresh_every=None,
                 decay=0.5, n_threads=None, random_state=None):
        self.scheme = check_choice(scheme, "scheme", {"proportional", "threshold"})
        self.n_rows = check_int(n_rows, "n_rows", low=1)
        self.n_buckets = check_int(n_buckets, "n_buckets", low=1, high=2**31 - 1)
        self.family = check_choice(family, "family", set(_FAMILIES))
        self.K = check_int(K, "K", low=1, high=64)
        self.key_dim = None if key_dim is None else check_int(key_dim, "key_dim", low=1)
        self.prior_weight = check_float(prior_weight, "prior_weight", low=0.0, high=MAX_COUNT)
        self.bandwidth = check_float(bandwidth, "bandwidth", low=0.0, low_open=True)
        # tau = 0 would give every example score 1: uniform sampling that ignores the sketch
        self.tau = check_float(tau, "tau", low=0.0, low_open=True)
        self.mix = check_float(mix, "mix", low=0.0, high=1.0)
        self.eps = check_float(eps, "eps", low=0.0)
        self.keep_top = check_float(keep_top, "keep_top", low=0.0, high=1.0)
        self.accept_prob = check_float(accept_prob, "accept_prob", low=0.0, high=1.0,
                                       low_open=True)
        self.weighting = check_choice(weighting, "weighting", {"unbiased", "normalized", "none"})
        self.refresh_every = None if refresh_every is None else check_int(
            refresh_every, "refresh_every", low=1)
        self.decay = check_float(decay, "decay", low=0.0, high=1.0)
        self.n_threads = n_threads
        self.random_state = random_state

    _repr_params = ("scheme", "n_rows", "n_buckets", "family", "K")
    _kernels = _kernels     # the backend's kernel package (slide_fast binds its own)

    def _start(self, X, sparse):
        seed = seed_from(self._rng)
        params = dict(n_rows=self.n_rows, n_buckets=self.n_buckets, family=self.family, K=self.K,
                      key_dim=self.key_dim, prior_weight=self.prior_weight,
                      n_threads=self.n_threads)
        width = 1.0
        sketch_cls = _sibling(self, "nwsketch", "NWSketch")
        if self.family == "pstable":
            probe = sketch_cls(X.shape[1], width=1.0, random_state=seed, **params)
            width = self.bandwidth * _median_pair_distance(probe._keys(X, sparse), self._rng)
            if not np.isfinite(width):
                raise ValueError("X is too large: distances between its rows overflow float64; "
                                 "scale the input down")
        self.sketch_ = sketch_cls(X.shape[1], width=width, random_state=seed, **params)
        self.buckets_ = self.sketch_._buckets(X, sparse)
        self.refresh_every_ = self.refresh_every or max(1, self.steps_per_epoch // 2)
        self._refresh()

    def _refresh(self):
        n = self.n_samples_
        if self.step_ and self.decay < 1.0:
            self.sketch_.decay(self.decay ** (self.refresh_every_ * self.batch_size_ / n))
        self.scores_ = self.sketch_._query(self.buckets_)
        s = np.maximum(self.scores_, 0.0)
        if self.scheme == "proportional":
            mean = s.mean()
            s = (s + self.eps * mean + 1e-300) ** self.tau
            total = s.sum()
            q = s / total if total > 0 and np.isfinite(total) else np.full(n, 1.0 / n)
            self.q_ = (1.0 - self.mix) * q + self.mix / n
            self._cdf = np.cumsum(self.q_)
        else:
            self._threshold = np.quantile(s, 1.0 - self.keep_top) if self.keep_top > 0 \
                else np.inf
            sure = float(np.mean(s >= self._threshold))
            # expected fraction of examined examples kept: scales the HT weights so that a
            # batch's weighted mean estimates the mean loss, not the examined examples' sum
            self._keep_rate = sure + (1.0 - sure) * self.accept_prob

    def _next(self, loss_fn):
        idx, w = self._draw()
        if self.weighting == "none":
            return idx, None
        if self.weighting == "normalized":
            w = w / w.mean()
        return idx, w

    def _draw(self):
        if self.step_ and self.step_ % self.refresh_every_ == 0:
            self._refresh()
        B, n = self.batch_size_, self.n_samples_
        if self.scheme == "proportional":
            idx = self._kernels.sketch.sample_cdf(self._cdf, self._seed, self.step_, B,
                                              self.sketch_._threads())
            return idx, 1.0 / (n * self.q_[idx])
        kept, weights = [], []
        rate = self._keep_rate
        while sum(len(k) for k in kept) < B:
            need = B - sum(len(k) for k in kept)
            start_epoch, start_pos = self._epoch, self._cursor
            want = int(math.ceil(need / rate * 1.2)) + 8
            # a chunk stays within about an epoch; a batch larger than the data walks the
            # epochs it needs in one chunk (one per epoch took minutes for a huge batch)
            cand = self._next_uniform_chunk(want if need > n else min(n, want))
            pos = np.arange(len(cand))
            u = counter_uniform(self._seed, start_epoch, start_pos + pos, self.step_)
            sure = self.scores_[cand] >= self._threshold
            keep = sure | (u < self.accept_prob)
            where = np.flatnonzero(keep)[:need]
            if len(where) == need and len(where):
                # give back the candidates after the last kept one (they were not examined)
                unused = len(cand) - (where[-1] + 1)
                self._rewind(unused)
            kept.append(cand[where])
            weights.append(np.where(sure[where], rate, rate / self.accept_prob))
        return np.concatenate(kept), np.concatenate(weights)

    def _rewind(self, k):
        if k <= 0:
            return
        if self._cursor >= k:
            self._cursor -= k
        # else: the chunk crossed an epoch boundary; the unused tail is simply skipped

    def _observe(self, idx, losses):
        sk = self.sketch_
        self._kernels.sketch.insert_rows(self.buckets_, np.ascontiguousarray(idx, dtype=np.int64),
                                         losses, sk.table, sk._threads())
        sk.total_count += float(len(idx))
        sk.total_sum += float(losses.sum())


def _median_pair_distance(keys, rng, n_pairs=2000):
    n = keys.shape[0]
    if n < 2:
        return 1.0
    a = rng.integers(0, n, n_pairs)
    b = rng.integers(0, n, n_pairs)
    diff = keys[a] - keys[b]
    with np.errstate(over="ignore"):        # an overflow is handled just below
        d = _row_norms(diff)
    if not np.isfinite(d).all():
        # squares of huge (finite) keys overflow: |x| = s |x / s| with s the largest entry
        scale = float(abs(diff).max())
        d = _row_norms(diff / scale) * scale
    d = d[d > 0]
    return float(np.median(d)) if d.size else 1.0


def _row_norms(M):
    if sp.issparse(M):
        return np.sqrt(np.asarray(M.multiply(M).sum(axis=1)).ravel())
    return np.linalg.norm(M, axis=1)


class LossImportance(_ExampleSampler):
    """Loss-proportional importance sampling from a presampled pool (Katharopoulos & Fleuret 2018).

    Each step draws a uniform pool of ``presample * batch_size`` examples,
    computes their current losses with a forward pass (``loss_fn``), and draws
    the batch from the pool with replacement with ``g_i = (1 - mix) l_i / sum l
    + mix / M``, weight ``1 / (M g_i)`` (``M`` the pool size), which keeps the
    batch loss an unbiased estimate of the pool's mean loss.  The paper's
    gradient-norm bound and its variance-reduction switch are not used: the
    loss itself is the score (the paper's loss baseline).

    Parameters
    ----------
    presample : int, default 4
        Pool size in batches.
    mix : float, default 0.1
    random_state : int, Generator or None
    """

    needs_losses = True

    def __init__(self, presample=4, mix=0.1, random_state=None):
        self.presample = check_int(presample, "presample", low=1)
        self.mix = check_float(mix, "mix", low=0.0, high=1.0)
        self.random_state = random_state

    _repr_params = ("presample", "mix")

    def _next(self, loss_fn):
        B = self.batch_size_
        pool = self._next_uniform_chunk(min(self.n_samples_, self.presample * B))
        losses = np.maximum(self._timed_losses(loss_fn, pool), 0.0)
        M = len(pool)
        total = losses.sum()
        g = losses / total if total > 0 else np.full(M, 1.0 / M)
        g = (1.0 - self.mix) * g + self.mix / M
        cdf = np.cumsum(g)
        u = counter_uniform(self._seed, self.step_, np.arange(B)) * cdf[-1]
        pick = np.minimum(np.searchsorted(cdf, u, side="right"), M - 1)
        return pool[pick], 1.0 / (M * g[pick])


class SelectiveBackprop(_ExampleSampler):
    """Selective-Backprop (Jiang et al. 2019): keep hard examples by their loss percentile.

    Candidates come in a random order; each gets a forward pass
    (``loss_fn``), and is kept with probability ``P(loss)^beta`` where ``P``
    is the fraction of the last ``history`` losses below it (so ``E[keep] =
    1/(beta+1)``), until a batch is full; selected examples beyond the batch
    open the next one.  Kept examples have weight 1: as in
    the paper the objective is deliberately biased towards hard examples.

    Parameters
    ----------
    beta : float, default 1.0
    history : int, default 1024
        Recent losses the percentile is computed against.
    random_state : int, Generator or None
    """

    needs_losses = True

    def __init__(self, beta=1.0, history=1024, random_state=None):
        self.beta = check_float(beta, "beta", low=0.0)
        self.history = check_int(history, "history", low=1)
        self.random_state = random_state

    _repr_params = ("beta", "history")

    def _start(self, X, sparse):
        self._hist = np.empty(0, dtype=np.float64)
        self._pending = np.empty(0, dtype=np.int64)

    def _next(self, loss_fn):
        B = self.batch_size_
        kept = [self._pending]
        n_kept, round_ = len(self._pending), 0
        while n_kept < B:
            cand = self._next_uniform_chunk(B)
            losses = self._timed_losses(loss_fn, cand)
            self._hist = np.concatenate([self._hist, losses])[-self.history:]
            ref = np.sort(self._hist)
            pct = np.searchsorted(ref, losses, side="right") / len(ref)
            u = counter_uniform(self._seed, self.step_, round_, np.arange(len(cand)))
            keep = cand[u < pct ** self.beta]
            kept.append(keep)
            n_kept += len(keep)
            round_ += 1
        # selected beyond this batch: trained in the next one (as the paper's selection pool)
        kept = np.concatenate(kept)
        self._pending = kept[B:]
        return kept[:B], None


# ============================================================================ training
def train_with_sampler(network, X, Y, sampler, *, epochs=1, batch_size=128, eval_fn=None,
                       eval_every=None, max_time=None, show_progress=False):
    """Train ``network`` on batches chosen by an example ``sampler``.

    One epoch is ``ceil(n / batch_size)`` steps whatever the sampler, so all
    samplers train on the same number of examples.  ``X`` and ``Y`` are checked
    once (dense ``X`` becomes CSR: the engine reads sparse input); the
    sampler hashes ``X`` as given.  The per-sample losses of every training
    step are passed back to the sampler (:meth:`observe`).

    Parameters
    ----------
    network : SlideNetwork
    X : dense array or CSR [n, n_features]
    Y : labels (1-D class ids, CSR indicator or label lists)
    sampler : UniformExamples, NWSampler, LossImportance, SelectiveBackprop
    epochs : int, default 1
    batch_size : int, default 128
    eval_fn : callable, optional
        ``eval_fn(network) -> dict`` of metrics, called every ``eval_every``
        steps and at the end; its time is not counted as training time.
    eval_every : int, optional
        Steps between evaluations (by default once per epoch).
    max_time : float, optional
        Stop after this many seconds of training time.
    show_progress : bool, default False

    Returns
    -------
    list of dict
        One entry per evaluation: ``step``, ``examples`` (trained on),
        ``forward_examples`` (extra forward passes of the sampler),
        ``train_time`` (s, sampler and extra forwards included), ``sampler_time``
        (s, sketch or selection work alone), ``loss`` (mean since the last entry)
        and the metrics of ``eval_fn``.
    """
    sparse = sp.issparse(X)       # a dense X stays dense for the sampler's keys
    Xc = check_csr(X, "X", n_features=network.n_features)
    data = TrainingData(Xc, check_labels(Y, Xc.shape[0], network.n_outputs))
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    if eval_every is None:
        eval_every = -(-data.n_samples // batch_size)
    eval_every = check_int(eval_every, "eval_every", low=1)
    max_time = check_time_budget(max_time, "max_time")
    trainer = NetworkTrainer(network, data)
    history = []

    def record(loop):
        entry = {"step": loop.steps, "examples": loop.samples,
                 "forward_examples": sampler.n_forward_, "train_time": loop.train_time,
                 "sampler_time": sampler.sampler_time_, "loss": loop.mean_loss()}
        if eval_fn is not None:
            entry.update(eval_fn(network))
        history.append(entry)
        return entry

    batches = SampledBatches(sampler, data.X if sparse else X, batch_size,
                             loss_fn=trainer.sample_losses)
    FitLoop(trainer, batches, epochs=epochs, evaluate=record, schedule=EvalSchedule(eval_every),
            max_time=max_time, show_progress=show_progress).run()
    return history
