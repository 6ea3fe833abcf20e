"""The kernels of one SLIDE training step, each alone, at every SIMD level.

Shapes of the issue's configurations: a batch of 128 samples, 128 hidden units,
sparse inputs with ~40 non-zeros per row over 10k (A) or 100k (B) features, an
output layer of 10k (A) or 100k (B) neurons with 1,000 active neurons per sample,
DWTA K=6 L=50.  ``ref`` runs configuration A only (the NumPy reference takes
seconds on B's scatter-adds).  ``n_out`` names the configuration; ``impl`` is
``ref`` or ``fast-<level>`` (one parameter rather than backend x level, so that
no benchmark process is spent on impossible pairs).

* ``time_dense_forward_csr`` / ``time_dense_backward_csr``: the input layer
  (sparse-input AXPY forward, first-layer gradient);
* ``time_sampled_forward`` / ``time_sampled_backward``: the output layer's dot
  products over the active pairs, and its backward (weight-gradient AXPYs and the
  ReLU-masked input delta);
* ``time_softmax_pairs``: softmax, loss and output delta over the active sets;
* ``TimeBlockOutputLayer``: the output layer over a batch-shared candidate set
  (``batch_labels=True``: the batch's 128 labels plus 1,000 shared negatives):
  ``time_batch_candidates`` (the deduplicated set), ``time_block_forward`` (one
  GEMM over the candidate rows read in place), ``time_softmax_block`` (dense softmax over
  the block), ``time_block_backward`` (two GEMMs and the scatter of the
  gradient rows), ``time_block_backward_adam`` (the same with the lazy Adam step
  of the rows fused in) and ``time_update_hard_negatives`` (the top-4 memory of
  each label from the block's logits);
* ``time_dense_backward_csr_adam``: the first-layer gradient with its lazy Adam
  step fused in;
* ``time_adam_dense`` / ``time_adam_lazy``: the output layer's Adam step, every
  row or only the rows the batch touched;
* ``time_dwta_weight_rows`` / ``time_dwta_activations``: DWTA codes of every
  output neuron's weight row (a rehash) and of the batch's activations (queries).
"""
import functools

import numpy as np
import scipy.sparse as sp

from .common import N_THREADS, REF_SIMD, Pinned, backend, select

B, HIDDEN, NNZ, ACTIVE = 128, 128, 40, 1000
CONFIGS = {10_000: 10_000, 100_000: 100_000}     # n_out -> n_features


@functools.lru_cache(maxsize=None)
def step_data(n_out):
    """A batch and one output layer's arrays, read-only (kernels that update copy them)."""
    rng = np.random.default_rng(0)
    n_features = CONFIGS[n_out]
    rows = np.repeat(np.arange(B), NNZ)
    cols = rng.integers(0, n_features, B * NNZ)
    X = sp.csr_matrix((rng.random(B * NNZ).astype(np.float32), (rows, cols)),
                      shape=(B, n_features))
    X.sum_duplicates()
    X.indices = X.indices.astype(np.int32)
    X.indptr = X.indptr.astype(np.int32)
    d = {
        "X": X,
        "W1": rng.standard_normal((n_features, HIDDEN), dtype=np.float32),
        "b1": np.zeros(HIDDEN, np.float32),
        "A": np.maximum(rng.standard_normal((B, HIDDEN), dtype=np.float32), 0),
        "W": (0.1 * rng.standard_normal((n_out, HIDDEN))).astype(np.float32),
        "b": np.zeros(n_out, np.float32),
        "delta1": rng.standard_normal((B, HIDDEN), dtype=np.float32),
    }
    # per sample: its label first, then distinct random neurons (sorted, as the samplers give)
    ids = [np.unique(np.concatenate([[rng.integers(n_out)], rng.choice(n_out, ACTIVE, False)]))
           for _ in range(B)]
    d["act_indptr"] = np.concatenate([[0], np.cumsum([len(i) for i in ids])]).astype(np.int64)
    d["act_ids"] = np.concatenate(ids).astype(np.int32)
    d["label_indptr"] = np.arange(B + 1, dtype=np.int64)
    d["label_ids"] = np.array([i[0] for i in ids], dtype=np.int32)
    d["z"] = rng.standard_normal(d["act_ids"].size, dtype=np.float32)
    d["delta"] = (1e-3 * rng.standard_normal(d["act_ids"].size)).astype(np.float32)
    d["weights"] = np.ones(B)
    d["rows"] = np.unique(d["act_ids"]).astype(np.int32)
    for a in d.values():
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    return d


# the levels this CPU has (all of them on AVX512-BF16 machines): levels a CPU lacks would
# only add skipped processes to every run
IMPLS = ["ref"] + [f"fast-{level}" for level in backend("fast").available_simd_levels()]


class _StepKernel(Pinned):
    params = [IMPLS, list(CONFIGS)]
    param_names = ["impl", "n_out"]
    rounds = 1
    repeat = (2, 10, 3.0)
    warmup_time = 0.05
    timeout = 300

    def setup(self, impl, n_out):
        if impl == "ref" and n_out != 10_000:
            raise NotImplementedError("the reference runs configuration A only")
        backend_name, _, simd = impl.partition("-")
        self.slide = select(backend_name, simd or REF_SIMD)
        self.pin()
        self.k = self.slide.network.SlideNetwork._kernels.network
        self.d = step_data(n_out)


class TimeInputLayer(_StepKernel):
    def setup(self, *params):
        super().setup(*params)
        self.gW1 = np.zeros_like(self.d["W1"])
        self.gb1 = np.zeros_like(self.d["b1"])
        self.W1 = self.d["W1"].copy()       # weights and moments the fused Adam step changes
        self.m1, self.v1 = np.zeros_like(self.W1), np.zeros_like(self.W1)

    def time_dense_forward_csr(self, *params):
        X = self.d["X"]
        self.k.dense_forward_csr(X.indptr, X.indices, X.data, self.d["W1"], self.d["b1"],
                                 True, N_THREADS)

    def time_dense_backward_csr(self, *params):
        X = self.d["X"]
        self.k.dense_backward_csr(X.indptr, X.indices, X.data, self.d["delta1"], self.gW1,
                                  self.gb1, N_THREADS)

    def time_dense_backward_csr_adam(self, *params):
        X = self.d["X"]
        self.k.dense_backward_csr_adam(X.indptr, X.indices, X.data, self.d["delta1"], self.W1,
                                       self.m1, self.v1, self.gb1, 1e-3, 0.9, 0.999, 1e-8,
                                       N_THREADS)


class TimeOutputLayer(_StepKernel):
    def setup(self, *params):
        super().setup(*params)
        self.gW = np.zeros_like(self.d["W"])
        self.gb = np.zeros_like(self.d["b"])

    def time_sampled_forward(self, *params):
        d = self.d
        self.k.sampled_forward(d["A"], d["W"], d["b"], d["act_indptr"], d["act_ids"], False,
                               N_THREADS)

    def time_softmax_pairs(self, *params):
        d = self.d
        self.k.softmax_xent_pairs(d["z"], d["act_indptr"], d["act_ids"], d["label_indptr"],
                                  d["label_ids"], d["weights"], 1.0 / B, N_THREADS)

    def time_sampled_backward(self, *params):
        d = self.d
        self.k.sampled_backward(d["A"], d["W"], d["act_indptr"], d["act_ids"], d["delta"],
                                self.gW, self.gb, True, True, N_THREADS)


class TimeAdam(_StepKernel):
    def setup(self, *params):
        super().setup(*params)
        rng = np.random.default_rng(1)
        self.W = self.d["W"].copy()
        self.g = (1e-3 * rng.standard_normal(self.W.shape)).astype(np.float32)
        self.m = np.zeros_like(self.W)
        self.v = np.zeros_like(self.W)

    def time_adam_dense(self, *params):
        self.k.adam_step(self.W, self.g, self.m, self.v, None, 1e-3, 0.9, 0.999, 1e-8,
                         N_THREADS)

    def time_adam_lazy(self, *params):
        self.k.adam_step(self.W, self.g, self.m, self.v, self.d["rows"], 1e-3, 0.9, 0.999,
                         1e-8, N_THREADS)


class TimeDWTA(_StepKernel):
    def setup(self, *params):
        super().setup(*params)
        self.family = self.slide.lsh.DWTAHash(HIDDEN, K=6, L=50, random_state=0)
        self.family.hash(self.d["A"][:4], n_threads=N_THREADS)

    def time_dwta_weight_rows(self, *params):
        self.family.hash(self.d["W"], n_threads=N_THREADS)

    def time_dwta_activations(self, *params):
        self.family.hash(self.d["A"], n_threads=N_THREADS)


class TimeBlockOutputLayer(_StepKernel):
    def setup(self, impl, n_out):
        super().setup(impl, n_out)
        self.neg = self.slide.negative.UniformSampler._kernels.negative
        d = self.d
        rng = np.random.default_rng(2)
        self.negs = rng.choice(n_out, (1, ACTIVE), replace=False).astype(np.int32)
        self.rows = self.neg.batch_candidates(d["label_ids"], self.negs, n_out)
        self.cols = np.searchsorted(self.rows, d["label_ids"]).astype(np.int32)
        self.Z = self.k.block_forward(d["A"], d["W"], self.rows, d["b"], N_THREADS)
        self.delta = (1e-3 * rng.standard_normal(self.Z.shape)).astype(np.float32)
        self.gW = np.zeros_like(d["W"])
        self.gb = np.zeros_like(d["b"])
        self.W = d["W"].copy()      # weights and moments the fused Adam step changes
        self.m, self.v = np.zeros_like(self.W), np.zeros_like(self.W)
        self.memory = np.full((n_out, 4), -1, np.int32)

    def time_batch_candidates(self, *params):
        self.neg.batch_candidates(self.d["label_ids"], self.negs, self.d["b"].shape[0],
                                  N_THREADS)

    def time_block_forward(self, *params):
        self.k.block_forward(self.d["A"], self.d["W"], self.rows, self.d["b"], N_THREADS)

    def time_softmax_block(self, *params):
        d = self.d
        self.k.softmax_xent_dense(self.Z, d["label_indptr"], self.cols, d["weights"], 1.0 / B,
                                  N_THREADS)

    def time_block_backward(self, *params):
        self.k.block_backward(self.d["A"], self.d["W"], self.rows, self.delta, self.gW, self.gb,
                              True, True, N_THREADS)

    def time_block_backward_adam(self, *params):
        self.k.block_backward_adam(self.d["A"], self.W, self.rows, self.delta, self.m, self.v,
                                   self.gb, 1e-3, 0.9, 0.999, 1e-8, True, True, N_THREADS)

    def time_update_hard_negatives(self, *params):
        self.neg.update_hard_negatives(self.Z, self.rows, self.d["label_indptr"], self.cols,
                                       self.memory, N_THREADS)
