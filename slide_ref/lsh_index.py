"""The LSH index of a sampled layer: which neurons a batch computes.

An :class:`LSHIndex` holds everything one layer needs to choose its active
neurons with LSH (SLIDE section 1; research notes ``slide.md`` sections 1-2):
the hash family, the compact tables of the neurons' weight rows, the selection
rule, the padding permutation and the rehash/rebuild schedule.  It belongs to
whoever samples with it: a sampled hidden layer
(:class:`slide_ref.layers.SampledHiddenLayer`) or the output layer's
:class:`slide_ref.negative.LSHSampler`.  Its arrays are saved and checked by
:meth:`LSHIndex.get_state` / :meth:`LSHIndex.load_state`.
"""
import numpy as np

from ._backend import KERNELS, sibling
from ._memory import check_allocation, lsh_tables_nbytes
from ._validation import StateError
from .lsh import LSHParams, SimHash, WTAHash, hash_family_class

__all__ = ["LSHIndex"]

#: selection names -> method codes of ``_kernels.active.select_active`` ("vanilla" has its
#: own kernel)
_METHODS = {"union": KERNELS.active.UNION, "threshold": KERNELS.active.THRESHOLD,
            "topk": KERNELS.active.TOPK}


def _resolve_range_pow(family, range_pow):
    """``range_pow``, or by default the bits that hold every bucket id of the packing."""
    if range_pow is not None:
        return range_pow
    if isinstance(family, WTAHash):
        top = (family.bin_size - 1) * sum(1 << (j * family.shift) for j in range(family.K))
    elif isinstance(family, SimHash):
        top = (1 << family.K) - 1
    else:
        return 20
    return min(20, max(1, int(top).bit_length()))


class LSHIndex:
    """Hash family, tables, selection, padding and schedule of one sampled layer.

    Parameters
    ----------
    params : LSHParams
    n_items : int
        Neurons of the layer (rows of its weights ``[n_items][n_features]``).
    n_features : int
        Width of the vectors hashed (the layer's input).
    batch_size : int
        Converts the schedule's samples to batches.
    rng : numpy Generator
        Draws the hash functions (now and at every rebuild), the reservoir seed
        and the padding permutation.
    n_threads : int
        Threads of the kernels.
    output : bool
        An output layer (``max_active="auto"`` caps its union).
    several_queries : bool
        Samples may send several queries (merged with :meth:`candidates`).

    Attributes
    ----------
    family, tables, fill_perm, schedule
        The hash family, its :class:`~slide_ref.lsh.LSHTables`, the padding
        permutation and the :class:`~slide_ref._schedule.TableSchedule`.
    method, param : str, int
        The selection rule in use and its parameter (after ``max_active``).
    """

    _kernels = KERNELS

    def __init__(self, params, n_items, n_features, *, batch_size, rng, n_threads,
                 output=False, several_queries=False):
        self.params = LSHParams.coerce(params).validate()
        self.n_items, self.n_threads = n_items, n_threads
        self.method, self.param = self.params.selection_for(n_items, output, several_queries)
        self.schedule = self.params.schedule(batch_size)
        lsh = sibling(self, "lsh")
        cls = hash_family_class(self.params.hash_family, lsh)
        range_pow = self.params.range_pow
        if range_pow is not None:   # the tables' size, refused before the functions are drawn
            check_allocation(lsh_tables_nbytes(self.params.L, range_pow, n_items,
                                               self.params.bucket_capacity),
                             f"L={self.params.L} hash tables of 2**range_pow="
                             f"{range_pow} buckets")
        self.family = cls(n_features, K=self.params.K, L=self.params.L, random_state=rng,
                          **(self.params.hash_params or {}))
        self.tables = lsh.LSHTables(
            self.family, range_pow=_resolve_range_pow(self.family, self.params.range_pow),
            capacity=self.params.bucket_capacity, policy=self.params.bucket_policy,
            random_state=rng)
        self.fill_perm = rng.permutation(n_items).astype(np.int32)

    # ------------------------------------------------------------------ tables
    def build(self, W):
        """Hash every neuron's weight row (``W`` [n_items][n_features]) into the tables
        (minus the mean row with ``center``)."""
        # the family's bucket ids are in range by construction: no re-check
        self.tables._fill(self.buckets(self.items(W)), self.n_threads)

    def items(self, W):
        """The vectors the tables store for the rows ``W``: ``W`` itself, or with
        ``center`` each row minus the mean row (a shift every query's inner products
        share, so the ranking is the same; see :class:`~slide_ref.lsh.LSHParams`)."""
        if not self.params.center:
            return W
        mean = W.mean(axis=0, dtype=np.float64).astype(W.dtype)
        return W - mean

    def rehash(self, W):
        """Re-insert every neuron from its current weights."""
        self.build(W)

    def rebuild(self, W):
        """New hash functions, then rehash."""
        self.family.redraw()
        self.build(W)

    def after_step(self, step, W):
        """Rehash and rebuild when the schedule says so after batch ``step``."""
        rehash, rebuild = self.schedule.due(step)
        if rebuild:
            self.family.redraw()
        if rehash:
            self.build(W)

    # ------------------------------------------------------------------ queries
    def buckets(self, Q):
        """The bucket of every dense row of ``Q`` in every table, ``[n, L]``."""
        return self.family._buckets(Q, False, self.tables.range_pow, self.n_threads)

    def candidates(self, buckets, owner=None, n_samples=None):
        """Neurons in the hit buckets, per sample: CSR ``(indptr, ids, counts)`` with the
        number of tables that returned each.  ``owner`` gives each query's sample when
        samples send several queries (``n_samples`` of them); their hits are merged."""
        tab = self.tables
        cand = self._kernels.tables.query_tables(buckets, tab.offsets, tab.members,
                                                 tab.n_items, self.n_threads)
        if owner is None:
            return cand
        indptr, ids, counts = cand
        N = self.n_items
        keys = np.repeat(owner, np.diff(indptr)).astype(np.int64) * N + ids
        uniq, inverse = np.unique(keys, return_inverse=True)
        merged = np.bincount(inverse, weights=counts, minlength=len(uniq)).astype(np.int32)
        out = np.zeros(n_samples + 1, dtype=np.int64)
        np.cumsum(np.bincount(uniq // N, minlength=n_samples), out=out[1:])
        return out, (uniq % N).astype(np.int32), merged

    def select(self, Q, forced, seed, step, owner=None, pad=True):
        """Active sets ``(indptr, ids)`` of the queries ``Q`` [n, n_features].

        ``forced`` is a CSR ``(indptr, ids)`` of neurons always active (the labels);
        ``seed`` and ``step`` key the random padding and table order; ``owner``
        maps queries to samples when a sample sends several; ``pad=False`` skips
        the padding.
        """
        p, tab, n = self.params, self.tables, self.n_threads
        min_active = p.min_active if pad else 0
        buckets = self.buckets(Q)
        if self.method == "vanilla":
            return self._kernels.active.select_vanilla(
                buckets, tab.offsets, tab.members, *forced, self.n_items, self.param,
                min_active, p.fill_below, self.fill_perm, seed, step, n)
        cand = self.candidates(buckets, owner, len(forced[0]) - 1)
        return self._kernels.active.select_active(
            *cand, *forced, self.n_items, _METHODS[self.method], self.param, min_active,
            p.fill_below, self.fill_perm, seed, step, n)

    # ------------------------------------------------------------------ state
    def get_state(self):
        """The index's arrays by name (the tables hold the weights of the last rehash)."""
        arrays = {f"family.{name}": np.asarray(value)
                  for name, value in self.family.get_state()["arrays"].items()}
        sched = self.schedule.state()
        arrays.update({
            "tables.offsets": self.tables.offsets, "tables.members": self.tables.members,
            "schedule": np.array([sched["next_exp"], sched["n_exp"], self.tables.n_builds],
                                 dtype=np.int64),
            "fill_perm": self.fill_perm})
        return arrays

    def load_state(self, arrays, source="<state>", prefix="", step=0):
        """Check and take the arrays of :meth:`get_state` (names without ``prefix``).

        Raises :class:`~slide_ref._validation.StateError` naming ``source`` and the
        field when an array is missing, of the wrong type or shape, or out of range;
        ``step`` (batches trained) bounds the schedule counters.
        """
        def get(name):
            if name not in arrays:
                raise StateError(source, prefix + name, "missing")
            return np.asarray(arrays[name])

        family = {name: self.family.checked_array(name, get(f"family.{name}"), source,
                                                  prefix + f"family.{name}",
                                                  origin="the lsh settings")
                  for name in type(self.family)._param_names}
        offsets, members = _tables_arrays(self.tables, self.n_items, get("tables.offsets"),
                                          get("tables.members"), source, prefix + "tables.")
        fill_perm = _permutation(get("fill_perm"), self.n_items, source, prefix + "fill_perm")
        sched = _int_array(get("schedule"), (3,), source, prefix + "schedule")
        try:
            self.schedule.load_state({"next_exp": sched[0], "n_exp": sched[1]}, step)
        except ValueError as exc:
            raise StateError(source, prefix + "schedule", str(exc)) from None
        if sched[2] < 0:
            raise StateError(source, prefix + "schedule", "negative build count")
        for name, value in family.items():
            setattr(self.family, name, value)
        self.tables.offsets, self.tables.members = offsets, members
        self.tables.n_builds, self.tables.n_items = int(sched[2]), self.n_items
        self.fill_perm = fill_perm


# ---------------------------------------------------------------------- state checks
def _int_array(saved, shape, source, field):
    if saved.dtype.kind not in "iu":
        raise StateError(source, field, f"dtype {saved.dtype}, expected integers")
    if saved.shape != shape:
        raise StateError(source, field, f"shape {saved.shape}, expected {shape}")
    return saved.astype(np.int64)


def _tables_arrays(tables, n_items, offsets, members, source, field):
    """Saved compact tables: offsets monotone from 0 to the member count, members < n_items."""
    offsets = _int_array(offsets, (tables.L, tables.n_buckets + 1), source, field + "offsets")
    if members.dtype.kind not in "iu" or members.ndim != 1:
        raise StateError(source, field + "members", "must be a 1-D integer array")
    flat = offsets.ravel()
    if flat.size and (flat[0] != 0 or np.any(np.diff(flat) < 0)
                      or np.any(offsets[1:, 0] != offsets[:-1, -1])):
        raise StateError(source, field + "offsets", "not monotone from 0 across the tables")
    if flat.size and flat[-1] != members.size:
        raise StateError(source, field + "offsets",
                         f"end at {flat[-1]}, but there are {members.size} members")
    if members.size and (members.min() < 0 or members.max() >= n_items):
        raise StateError(source, field + "members", f"ids outside [0, {n_items})")
    _check_buckets_content(tables, n_items, offsets, members, source, field)
    return offsets.astype(np.int32), members.astype(np.int32)


def _check_buckets_content(tables, n_items, offsets, members, source, field):
    """What a build leaves in the tables: each item at most once per table, at most
    ``capacity`` items per bucket and increasing ids within each bucket (items arrive in
    id order; FIFO keeps the newest in that order; a reservoir reorders only the buckets
    it filled to capacity)."""
    sizes = np.diff(offsets, axis=1)
    if tables.capacity and sizes.size and sizes.max() > tables.capacity:
        raise StateError(source, field + "offsets", f"a bucket holds {sizes.max()} items, more "
                                                    f"than the capacity {tables.capacity}")
    per_table = offsets[:, -1] - offsets[:, 0]
    table_of = np.repeat(np.arange(tables.L, dtype=np.int64), per_table)
    keys = table_of * n_items + members
    if np.unique(keys).size != keys.size:
        raise StateError(source, field + "members", "an item appears twice in one table")
    if members.size > 1:
        rises = np.diff(members) > 0
        starts = np.unique(offsets.ravel())
        starts = starts[(starts > 0) & (starts < members.size)]
        rises[starts - 1] = True            # a new bucket may start lower
        if tables.policy == "reservoir" and tables.capacity:
            full = (sizes >= tables.capacity).ravel()
            pair_bucket = np.repeat(np.arange(sizes.size), sizes.ravel())[:-1]
            rises |= full[pair_bucket]      # a full reservoir bucket keeps any order
        if not rises.all():
            raise StateError(source, field + "members", "ids within a bucket must increase "
                                                        "(the order a build inserts them)")


def _permutation(saved, n, source, field):
    if saved.dtype.kind not in "iu" or saved.shape != (n,):
        raise StateError(source, field, f"must be {n} integers, got {saved.dtype} "
                                        f"{saved.shape}")
    if not np.array_equal(np.sort(saved), np.arange(n)):
        raise StateError(source, field, f"not a permutation of 0..{n - 1}")
    return saved.astype(np.int32)
