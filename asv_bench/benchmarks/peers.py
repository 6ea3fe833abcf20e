"""PyTorch CPU peers of the training benchmarks (used only when torch is installed).

The network is the one SLIDE trains: a sparse input summed into 128 ReLU units
(``EmbeddingBag`` with per-sample weights), then a linear output layer, Adam.
Two losses: the full softmax, and a sampled softmax over the batch's labels
plus 1000 uniform negatives shared by the batch (TensorFlow's
``sampled_softmax_loss`` without logQ correction or hit removal).
"""
import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:      # the benchmarks using it are skipped
    torch = None


def available():
    return torch is not None


class TorchXC:
    """Trains and evaluates the peer network on CSR batches."""

    def __init__(self, n_features, n_outputs, hidden=128, lr=1e-3, sampled=False,
                 n_negatives=1000, fused=False, n_threads=2, seed=0):
        torch.manual_seed(seed)
        torch.set_num_threads(n_threads)
        self.emb = torch.nn.EmbeddingBag(n_features, hidden, mode="sum")
        self.b1 = torch.nn.Parameter(torch.zeros(hidden))
        self.out = torch.nn.Linear(hidden, n_outputs)
        params = list(self.emb.parameters()) + [self.b1] + list(self.out.parameters())
        self.opt = torch.optim.Adam(params, lr=lr, fused=fused or None)
        self.sampled, self.n_neg, self.n_outputs = sampled, n_negatives, n_outputs
        self.gen = torch.Generator().manual_seed(seed)

    def _hidden(self, X):
        idx = torch.from_numpy(X.indices.astype(np.int64))
        offsets = torch.from_numpy(X.indptr[:-1].astype(np.int64))
        w = torch.from_numpy(X.data.astype(np.float32))
        return F.relu(self.emb(idx, offsets, per_sample_weights=w) + self.b1)

    def train_batch(self, X, Y):
        h = self._hidden(X)
        rows = torch.from_numpy(np.repeat(np.arange(X.shape[0]), np.diff(Y.indptr)))
        labels = torch.from_numpy(Y.indices.astype(np.int64))
        weight = torch.from_numpy((1.0 / np.diff(Y.indptr)).astype(np.float32))[rows]
        if self.sampled:
            neg = torch.randint(0, self.n_outputs, (self.n_neg,), generator=self.gen)
            cand, inverse = torch.unique(torch.cat([labels, neg]), return_inverse=True)
            logits = h @ self.out.weight[cand].T + self.out.bias[cand]
            cols = inverse[:len(labels)]
        else:
            logits = self.out(h)
            cols = labels
        logp = F.log_softmax(logits, dim=1)
        loss = -(weight * logp[rows, cols]).sum() / X.shape[0]
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def predict_top1(self, X):
        with torch.no_grad():
            return self.out(self._hidden(X)).argmax(dim=1).numpy().copy()
