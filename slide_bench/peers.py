"""PyTorch CPU peers of the benchmarks and figures (used only when torch is installed).

The network is the one SLIDE trains: a sparse input summed into 128 ReLU units
(``EmbeddingBag`` with per-sample weights), then a linear output layer, Adam.
Losses (``loss``):

* ``"full"``: the full softmax;
* ``"uniform"``: a sampled softmax over the batch's labels plus 1000 uniform
  negatives shared by the batch (TensorFlow's ``sampled_softmax_loss`` without
  logQ correction or hit removal; with uniform draws logQ is a constant anyway);
* ``"log-uniform"``: the same with 1000 negatives drawn with replacement from
  the log-uniform (Zipf) distribution over frequency ranks,
  ``Q(r) = log((r + 2) / (r + 1)) / log(N + 1)``, ranks from the training label
  counts, and the logQ correction: every candidate's logit minus
  ``log(expected count) = log(1 - (1 - Q)^n_neg)`` (TensorFlow's
  ``LogUniformCandidateSampler`` with ``subtract_log_q=True``).

Optimizers (``optimizer``):

* ``"adam"``: ``torch.optim.Adam`` over dense gradients, PyTorch's default
  (foreach) implementation; ``fused=True`` uses ``Adam(fused=True)`` (one kernel
  over all parameters);
* ``"sparse"``: the setup a PyTorch user picks for wide layers: the input layer is
  ``EmbeddingBag(sparse=True)``, the output weights and biases are
  ``Embedding(sparse=True)`` tables gathered by candidate id, and
  ``torch.optim.SparseAdam`` updates only the rows a batch touched (the hidden
  bias, the one dense parameter, keeps ``Adam``). Sampled losses only: the full
  softmax touches every row anyway.

Every layer keeps PyTorch's default initialisation: the input ``EmbeddingBag``'s
N(0, 1) and the output layer's ``Linear`` default (weights and biases uniform in
+-1/sqrt(hidden)). The sparse setup's output ``Embedding`` tables start from a
``Linear``'s default draw, so that both optimizers train the same network from the
same kind of start (``Embedding``'s own N(0, 1) start makes the rows ~sqrt(3 * hidden)
times larger and the model barely learns: P@1 0.08 after 5 epochs on the Debian XC
set, against 0.575 after 2 epochs with the ``Linear`` start).
"""
import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:      # the benchmarks using it are skipped
    torch = None

LOSSES = ("full", "uniform", "log-uniform")
OPTIMIZERS = ("adam", "sparse")


def available():
    return torch is not None


class TorchXC:
    """Trains and evaluates the peer network on CSR batches.

    ``sampled=True`` is the older spelling of ``loss="uniform"``. ``counts``
    (training label counts [n_outputs]) orders the labels by frequency for the
    log-uniform sampler; without them label ids are taken as ranks.
    """

    def __init__(self, n_features, n_outputs, hidden=128, lr=1e-3, sampled=False,
                 n_negatives=1000, fused=False, n_threads=2, seed=0, loss=None, counts=None,
                 optimizer="adam"):
        if loss is None:
            loss = "uniform" if sampled else "full"
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        if optimizer == "sparse" and loss == "full":
            raise ValueError("optimizer='sparse' needs a sampled loss, got loss='full'")
        torch.manual_seed(seed)
        torch.set_num_threads(n_threads)
        self.loss, self.n_neg, self.n_outputs = loss, n_negatives, n_outputs
        self.sampled = loss != "full"
        self.sparse = optimizer == "sparse"
        self.emb = torch.nn.EmbeddingBag(n_features, hidden, mode="sum", sparse=self.sparse)
        self.b1 = torch.nn.Parameter(torch.zeros(hidden))
        if self.sparse:
            linear = torch.nn.Linear(hidden, n_outputs)     # its default draw, as in "adam"
            self.out_w = torch.nn.Embedding.from_pretrained(linear.weight.detach(),
                                                            freeze=False, sparse=True)
            self.out_b = torch.nn.Embedding.from_pretrained(linear.bias.detach()[:, None],
                                                            freeze=False, sparse=True)
            sparse_params = [self.emb.weight, self.out_w.weight, self.out_b.weight]
            self.opts = [torch.optim.SparseAdam(sparse_params, lr=lr),
                         torch.optim.Adam([self.b1], lr=lr)]
        else:
            self.out = torch.nn.Linear(hidden, n_outputs)
            params = list(self.emb.parameters()) + [self.b1] + list(self.out.parameters())
            self.opts = [torch.optim.Adam(params, lr=lr, fused=fused or None)]
        self.gen = torch.Generator().manual_seed(seed)
        if loss == "log-uniform":
            r = np.arange(n_outputs, dtype=np.float64)
            q_rank = np.log((r + 2) / (r + 1)) / np.log(n_outputs + 1)
            if counts is None:
                rank_to_label = np.arange(n_outputs)
            else:   # most frequent first, ties by label id
                counts = np.asarray(counts, dtype=np.float64).ravel()
                rank_to_label = np.lexsort((np.arange(n_outputs), -counts))
            q = np.empty(n_outputs)
            q[rank_to_label] = q_rank
            expected = -np.expm1(n_negatives * np.log1p(-q))     # P(drawn at least once)
            self.rank_to_label = torch.from_numpy(rank_to_label.astype(np.int64))
            self.log_q = torch.from_numpy(np.log(expected).astype(np.float32))
            self.log_n1 = float(np.log(n_outputs + 1))

    def _hidden(self, X):
        idx = torch.from_numpy(X.indices.astype(np.int64))
        offsets = torch.from_numpy(X.indptr[:-1].astype(np.int64))
        w = torch.from_numpy(X.data.astype(np.float32))
        return F.relu(self.emb(idx, offsets, per_sample_weights=w) + self.b1)

    def _negatives(self):
        if self.loss == "uniform":
            return torch.randint(0, self.n_outputs, (self.n_neg,), generator=self.gen)
        # inverse CDF of the log-uniform law: rank = floor(exp(u log(N + 1))) - 1
        u = torch.rand(self.n_neg, generator=self.gen, dtype=torch.float64)
        rank = (torch.exp(u * self.log_n1).floor().long() - 1).clamp_(0, self.n_outputs - 1)
        return self.rank_to_label[rank]

    def train_batch(self, X, Y):
        h = self._hidden(X)
        rows = torch.from_numpy(np.repeat(np.arange(X.shape[0]), np.diff(Y.indptr)))
        labels = torch.from_numpy(Y.indices.astype(np.int64))
        weight = torch.from_numpy((1.0 / np.diff(Y.indptr)).astype(np.float32))[rows]
        if self.sampled:
            neg = self._negatives()
            cand, inverse = torch.unique(torch.cat([labels, neg]), return_inverse=True)
            logits = self._candidate_logits(h, cand)
            if self.loss == "log-uniform":
                logits = logits - self.log_q[cand]
            cols = inverse[:len(labels)]
        else:
            logits = self.out(h)
            cols = labels
        logp = F.log_softmax(logits, dim=1)
        loss = -(weight * logp[rows, cols]).sum() / X.shape[0]
        for opt in self.opts:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in self.opts:
            opt.step()
        return float(loss.detach())

    def _candidate_logits(self, h, cand):
        """Logits of the candidate rows only (sparse: gathered Embedding rows)."""
        if self.sparse:
            return h @ self.out_w(cand).T + self.out_b(cand).T
        return h @ self.out.weight[cand].T + self.out.bias[cand]

    def _all_logits(self, h):
        if self.sparse:
            return h @ self.out_w.weight.T + self.out_b.weight.T
        return self.out(h)

    def predict_top1(self, X, block=1024):
        """Each row's top label under the full softmax, scored ``block`` rows at a time."""
        out = []
        with torch.no_grad():
            for lo in range(0, X.shape[0], block):
                out.append(self._all_logits(self._hidden(X[lo:lo + block])).argmax(dim=1).numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
