"""LSH hash families and compact tables (``slide_ref.lsh`` vs ``slide_fast.lsh``).

Every class is parametrized over ``backend`` ("ref", "fast") and ``simd``
(the level of ``slide_fast``); a combination that cannot run (``ref`` with
any level but "scalar", a level this CPU lacks) is skipped.  All calls run
on ``common.N_THREADS`` threads.

Headline target: :meth:`TimeDWTABuild.time_hash_and_rebuild` with
``n_items=100000`` (DWTA K=6, L=50 of 100k dense 128-d float32 vectors plus
the table build, range_pow=14, capacity=128, 2 threads).
"""
import numpy as np

from .common import (BACKENDS, N_THREADS, SEED, SIMD_LEVELS, Pinned, backend, csr, dense,
                     queries, select)

#: Hyper-parameters per family (the defaults of SLIDE; p-stable as in its docstring).
FAMILIES = {
    "DWTAHash": {"K": 6, "L": 50},
    "WTAHash": {"K": 6, "L": 50},
    "SimHash": {"K": 6, "L": 50},
    "DensifiedMinHash": {"K": 6, "L": 50},
    "PStableHash": {"K": 4, "L": 16},
}

N_DENSE = 10_000       # rows of the hashing benchmarks
N_FEATURES = 128
CSR_SHAPE = (10_000, 10_000)
CSR_NNZ = 40           # entries per row
N_ITEMS = 100_000      # items of the table benchmarks
N_QUERIES = 1_000
RANGE_POW = 14
CAPACITY = 128


def _family(module, name, n_features, **extra):
    return getattr(module.lsh, name)(n_features, random_state=SEED, **FAMILIES[name], **extra)


def _dwta_tables(module, range_pow=RANGE_POW):
    family = module.lsh.DWTAHash(N_FEATURES, K=6, L=50, random_state=SEED)
    return module.lsh.LSHTables(family, range_pow=range_pow, capacity=CAPACITY,
                                random_state=SEED)


def _item_buckets(range_pow):
    """Bucket ids ``[N_ITEMS, 50]`` of the DWTA items and of the queries.

    Computed by ``slide_fast`` (both backends draw the same functions from
    the same seed and hash identically), so the slow reference never hashes
    100k items in a setup.
    """
    fast = backend("fast")
    tables = _dwta_tables(fast, range_pow)
    fam = tables.family
    return {"items": fam.buckets(dense(N_ITEMS), range_pow, N_THREADS),
            "queries": fam.buckets(queries(N_QUERIES, N_ITEMS), range_pow, N_THREADS)}


class _Bench(Pinned):
    params = [BACKENDS, SIMD_LEVELS]
    param_names = ["backend", "simd"]
    # Each parameter combination costs a fresh interpreter (~0.7 s) per round, and
    # the reference takes seconds on some kernels: one round, 2 to 10 samples,
    # stop sampling after 3 s, so the whole file runs in about 5 minutes.
    rounds = 1
    repeat = (2, 10, 3.0)
    warmup_time = 0.05
    timeout = 300

    def setup(self, backend_name, simd, *rest):
        self.slide = select(backend_name, simd)
        self.pin()


class TimeHashDense(_Bench):
    """``family.hash(X)`` of 10,000 dense 128-d float32 rows."""

    params = _Bench.params + [list(FAMILIES)]
    param_names = _Bench.param_names + ["family"]

    def setup(self, backend_name, simd, family):
        super().setup(backend_name, simd)
        self.X = dense(N_DENSE, N_FEATURES)
        self.family = _family(self.slide, family, N_FEATURES)
        self.family.hash(self.X[:8], n_threads=N_THREADS)

    def time_hash_dense(self, backend_name, simd, family):
        self.family.hash(self.X, n_threads=N_THREADS)


class TimeHashCSR(_Bench):
    """``family.hash(X)`` of a 10,000 x 10,000 CSR float32 matrix, about 40 entries a row."""

    params = _Bench.params + [list(FAMILIES)]
    param_names = _Bench.param_names + ["family"]

    def setup(self, backend_name, simd, family):
        super().setup(backend_name, simd)
        self.X = csr(*CSR_SHAPE, CSR_NNZ)
        self.family = _family(self.slide, family, CSR_SHAPE[1])
        self.family.hash(self.X[:8], n_threads=N_THREADS)

    def time_hash_csr(self, backend_name, simd, family):
        self.family.hash(self.X, n_threads=N_THREADS)


class TimePack(_Bench):
    """``family.pack(codes, 14)`` of 10,000 x (6 x 50) codes into 50 bucket ids a row.

    "slide" and "concat" are the two shift packings of (D)WTA; "mix" is the
    hash mixing of MinHash and p-stable codes (here of DensifiedMinHash codes).
    """

    params = _Bench.params + [["slide", "concat", "mix"]]
    param_names = _Bench.param_names + ["packing"]

    def setup(self, backend_name, simd, packing):
        super().setup(backend_name, simd)
        X = dense(N_DENSE, N_FEATURES)
        if packing == "mix":
            self.family = _family(self.slide, "DensifiedMinHash", N_FEATURES)
            maker = _family(backend("fast"), "DensifiedMinHash", N_FEATURES)
        else:
            self.family = _family(self.slide, "DWTAHash", N_FEATURES, packing=packing)
            maker = _family(backend("fast"), "DWTAHash", N_FEATURES, packing=packing)
        self.codes = maker.hash(X, n_threads=N_THREADS)

    def time_pack(self, backend_name, simd, packing):
        self.family.pack(self.codes, RANGE_POW, n_threads=N_THREADS)


class TimeDWTABuild(_Bench):
    """The headline: DWTA hashing (K=6, L=50) of dense 128-d float32 items plus the table build.

    ``tables.build(X)`` hashes the items and fills the 50 compact tables
    (range_pow=14, capacity=128), SLIDE's rehash; ``tables.rebuild(X)`` also
    redraws the hash functions first.  The reference runs only at 10,000
    items (seconds per call at 100,000), so fast/ref ratios are taken at 10k.
    """

    params = _Bench.params + [[10_000, N_ITEMS]]
    param_names = _Bench.param_names + ["n_items"]

    def setup(self, backend_name, simd, n_items):
        if backend_name == "ref" and n_items > 10_000:
            raise NotImplementedError("the reference is benchmarked at 10,000 items only")
        super().setup(backend_name, simd)
        self.X = dense(n_items, N_FEATURES)
        self.tables = _dwta_tables(self.slide)
        self.tables.family.hash(self.X[:8], n_threads=N_THREADS)

    def time_hash_and_rebuild(self, backend_name, simd, n_items):
        self.tables.build(self.X, n_threads=N_THREADS)

    def time_rebuild_redraw(self, backend_name, simd, n_items):
        self.tables.rebuild(self.X, n_threads=N_THREADS)


class TimeTables(_Bench):
    """Table build from precomputed buckets and queries, 100,000 items, 50 tables of 2**14.

    ``time_query`` hashes 1,000 dense queries (noisy copies of items) and
    collects their candidates; ``time_query_buckets`` does the lookup only.
    """

    def setup_cache(self):
        return _item_buckets(RANGE_POW)

    def setup(self, cache, backend_name, simd):
        super().setup(backend_name, simd)
        self.buckets = cache["items"]
        self.query_buckets = cache["queries"]
        self.Q = queries(N_QUERIES, N_ITEMS)
        self.tables = _dwta_tables(self.slide).build_from_buckets(self.buckets, N_THREADS)

    def time_table_build_from_buckets(self, cache, backend_name, simd):
        self.tables.build_from_buckets(self.buckets, n_threads=N_THREADS)

    def time_query(self, cache, backend_name, simd):
        self.tables.query(self.Q, n_threads=N_THREADS)

    def time_query_buckets(self, cache, backend_name, simd):
        self.tables.query_buckets(self.query_buckets, n_threads=N_THREADS)


class PeakMemTables(Pinned):
    """Memory of 50 tables of 2**18 buckets holding 100,000 items.

    The compact layout stores ``L * (2**R + 1)`` offsets and at most
    ``L * N`` members (int32): about 72 MB here, against the 6.7 GB of
    SLIDE's fixed ``[L][2**R][128]`` array.  ``peakmem_`` is the process
    peak (the interpreter, the modules and the 20 MB of bucket ids included);
    ``track_tables_nbytes`` is the tables' arrays alone.
    """

    params = [BACKENDS]
    param_names = ["backend"]
    range_pow = 18
    timeout = 300

    def setup_cache(self):
        return _item_buckets(self.range_pow)["items"]

    def setup(self, buckets, backend_name):
        self.slide = backend(backend_name)
        self.pin()
        self.buckets = buckets

    def _build(self):
        return _dwta_tables(self.slide, self.range_pow).build_from_buckets(self.buckets,
                                                                            N_THREADS)

    def peakmem_tables(self, buckets, backend_name):
        self._build()

    def track_tables_nbytes(self, buckets, backend_name):
        return self._build().nbytes

    track_tables_nbytes.unit = "bytes"


class TrackRetrieval(_Bench):
    """Deterministic retrieval quantities of the table benchmark (100k items, 1,000 queries).

    Equal in every row (both backends, every SIMD level) when the backends agree.
    """

    def setup_cache(self):
        return _item_buckets(RANGE_POW)["items"]

    def setup(self, buckets, backend_name, simd):
        super().setup(backend_name, simd)
        tables = _dwta_tables(self.slide).build_from_buckets(buckets, N_THREADS)
        self.result = tables.query(queries(N_QUERIES, N_ITEMS), n_threads=N_THREADS)

    def track_mean_candidates(self, buckets, backend_name, simd):
        """Distinct items retrieved per query (union over the 50 tables)."""
        return float(np.diff(self.result.indptr).mean())

    track_mean_candidates.unit = "items"

    def track_fraction_retrieved(self, buckets, backend_name, simd):
        """Mean candidates per query divided by the number of items."""
        return float(np.diff(self.result.indptr).mean() / self.result.shape[1])

    track_fraction_retrieved.unit = "fraction"

    def track_self_recall(self, buckets, backend_name, simd):
        """Fraction of queries (noisy copies of items) that retrieve their own item."""
        r = self.result
        own = [q in r.indices[r.indptr[q]:r.indptr[q + 1]] for q in range(r.shape[0])]
        return float(np.mean(own))

    track_self_recall.unit = "fraction"
