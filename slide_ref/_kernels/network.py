"""Reference kernels of the training engine (SLIDE section 1 semantics).

A batch is processed layer by layer; every kernel handles the whole batch.
Shapes and conventions shared with ``slide_fast._kernels.network``:

* activations and weights are float32; ``B`` is the batch size;
* dense layers store ``W`` as ``[in][out]`` (a sparse input row is then a sum
  of contiguous rows of ``W``); sampled layers store ``W`` as ``[out][in]``
  (each active neuron is one contiguous dot product);
* the active neurons of a sampled layer are a CSR structure over the batch,
  ``(act_indptr, act_ids)``, ids sorted within each sample; per-neuron values
  ("pairs") are flat arrays aligned with ``act_ids``;
* gradients are those of the loss (the optimizer subtracts them) and are
  *accumulated* into ``gW``/``gb``, which the optimizer zeroes.

``n_threads`` is accepted for signature parity and ignored.
"""
import numpy as np


def _rows_of(indptr):
    """Sample index of every CSR entry."""
    return np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))


# --------------------------------------------------------------------------- forward
def dense_forward_csr(indptr, indices, data, W, b, relu, n_threads=1):
    """``X @ W + b`` for a CSR batch ``X`` and ``W`` of shape [in][out]; ReLU if ``relu``."""
    Z = np.zeros((len(indptr) - 1, W.shape[1]), dtype=np.float32)
    rows = _rows_of(indptr)
    np.add.at(Z, rows, data[:, None].astype(np.float32) * W[indices])
    Z += b
    return np.maximum(Z, 0, out=Z) if relu else Z


def dense_forward(A, W, b, relu, n_threads=1):
    """``A @ W + b`` for a dense batch ``A`` [B, in] and ``W`` [in][out]; ReLU if ``relu``."""
    Z = (A @ W + b).astype(np.float32, copy=False)
    return np.maximum(Z, 0, out=Z) if relu else Z


def sampled_forward(A, W, b, act_indptr, act_ids, relu, n_threads=1):
    """Pre-activations of the active neurons only: ``W[j] . A[i] + b[j]`` per pair.

    Parameters
    ----------
    A : ndarray [B, in], float32
    W : ndarray [out][in], float32
    b : ndarray [out], float32
    act_indptr, act_ids : CSR of the active neurons of each sample

    Returns
    -------
    z : ndarray [n_pairs], float32 (ReLU applied when ``relu``)
    """
    rows = _rows_of(act_indptr)
    z = np.einsum("ij,ij->i", W[act_ids], A[rows]).astype(np.float32) + b[act_ids]
    return np.maximum(z, 0, out=z) if relu else z


# --------------------------------------------------------------------------- softmax
def _label_sets(label_indptr, label_ids):
    return [set(label_ids[label_indptr[i]:label_indptr[i + 1]].tolist())
            for i in range(len(label_indptr) - 1)]


#: logits at or below this are masked (accidental hits of the negative samplers): they get
#: probability 0, no target and no gradient
MASK_BELOW = -1e29


def softmax_xent_pairs(z, act_indptr, act_ids, label_indptr, label_ids, sample_weight, scale,
                       n_threads=1):
    """Softmax over each sample's active set, cross-entropy loss and its gradient.

    The target spreads mass ``1/|Y|`` over the sample's labels ``Y`` (SLIDE's
    multi-label target); labels outside the active set get no gradient. A
    label id that occurs more than once in a sample's set is a target at its
    first occurrence only (later ones are sampled negatives that hit a label).
    Pairs whose logit is at most ``MASK_BELOW`` are masked: probability 0, no
    target, zero gradient.

    Returns
    -------
    delta : ndarray [n_pairs], float32
        ``sample_weight[i] * scale * (p - target)`` per pair.
    loss : ndarray [B], float64
        ``-sum_{y in Y and active} log(p_y) / |Y|`` (0 for a sample without labels).
    """
    B = len(act_indptr) - 1
    rows = _rows_of(act_indptr)
    counts = np.diff(act_indptr)
    masked = z <= MASK_BELOW
    zmax = np.full(B, -np.inf, dtype=np.float32)
    np.maximum.at(zmax, rows, z)
    e = np.where(masked, 0.0, np.exp((z - zmax[rows]).astype(np.float64)))
    denom = np.bincount(rows, weights=e, minlength=B)
    p = e / np.where(denom[rows] > 0, denom[rows], 1.0)
    n_labels = np.diff(label_indptr)
    is_label = _is_label(rows, act_ids, label_indptr, label_ids) & ~masked
    if is_label.any():   # only the first occurrence of a label in a sample is its target
        keys = rows.astype(np.int64) * (int(act_ids.max()) + 1) + act_ids
        first = np.zeros(len(z), dtype=bool)
        first[np.unique(keys, return_index=True)[1]] = True
        is_label &= first
    target = np.where(is_label, 1.0 / np.maximum(n_labels[rows], 1), 0.0)
    delta = (np.asarray(sample_weight, np.float64)[rows] * scale * (p - target)).astype(np.float32)
    delta[masked] = 0.0
    # log p in the log domain: finite however far a label's logit lies below the maximum
    logp = np.where(is_label, (z - zmax[rows]).astype(np.float64)
                    - np.log(np.where(denom[rows] > 0, denom[rows], 1.0)), 0.0)
    loss = -np.bincount(rows, weights=np.where(is_label, target * logp, 0.0), minlength=B)
    loss[counts == 0] = 0.0
    return delta, loss


def _is_label(rows, ids, label_indptr, label_ids):
    """Whether each (sample, id) pair is one of the sample's labels."""
    label_rows = _rows_of(label_indptr)
    n_cols = int(max(ids.max(initial=0), label_ids.max(initial=0))) + 1
    keys = label_rows.astype(np.int64) * n_cols + label_ids
    return np.isin(rows.astype(np.int64) * n_cols + ids, keys)


def softmax_xent_dense(Z, label_indptr, label_ids, sample_weight, scale, n_threads=1):
    """Full softmax over all outputs: ``(delta [B, N] float32, loss [B] float64)``."""
    B, N = Z.shape
    Zs = Z.astype(np.float64) - Z.max(axis=1, keepdims=True)
    logp = Zs - np.log(np.exp(Zs).sum(axis=1, keepdims=True))
    target = np.zeros((B, N))
    rows = _rows_of(label_indptr)
    n_labels = np.diff(label_indptr)
    target[rows, label_ids] = 1.0 / n_labels[rows]
    delta = (np.asarray(sample_weight, np.float64)[:, None] * scale * (np.exp(logp) - target))
    loss = -(target * logp).sum(axis=1)
    return delta.astype(np.float32), loss


# --------------------------------------------------------------------------- backward
def sampled_backward(A, W, act_indptr, act_ids, delta, gW, gb, relu_input, need_dA,
                     n_threads=1):
    """Accumulate the gradients of a sampled layer and return the input's delta.

    ``gW[j] += delta_k * A[i]`` and ``gb[j] += delta_k`` for every active pair
    ``k = (i, j)``; ``dA[i] = sum_k delta_k * W[j]``, masked by ``A > 0`` when
    the input went through a ReLU (``relu_input``).  ``W`` is the weight before
    this batch's update.  Returns ``dA`` [B, in] or ``None``.
    """
    rows = _rows_of(act_indptr)
    np.add.at(gW, act_ids, delta[:, None] * A[rows])
    np.add.at(gb, act_ids, delta)
    if not need_dA:
        return None
    dA = np.zeros_like(A)
    np.add.at(dA, rows, delta[:, None] * W[act_ids])
    if relu_input:
        dA *= A > 0
    return dA


def dense_backward(A, W, delta, gW, gb, relu_input, need_dA, n_threads=1):
    """Gradients of a dense layer ``Z = A @ W + b`` (``W`` [in][out]) and the input's delta."""
    gW += A.T @ delta
    gb += delta.sum(axis=0)
    if not need_dA:
        return None
    dA = delta @ W.T
    if relu_input:
        dA *= A > 0
    return dA.astype(np.float32, copy=False)


def dense_backward_csr(indptr, indices, data, delta, gW, gb, n_threads=1):
    """Gradients of the first layer over the input's non-zeros: ``gW[f] += x_f * delta_i``."""
    rows = _rows_of(indptr)
    np.add.at(gW, indices, data[:, None].astype(np.float32) * delta[rows])
    gb += delta.sum(axis=0)


def dense_backward_csr_adam(indptr, indices, data, delta, W, m, v, gb, lr_t, beta1, beta2,
                            eps, n_threads=1):
    """The first layer's gradient and lazy Adam step in one pass: each feature ``f``
    present in the batch gets its gradient row ``g = sum_i x_if delta_i`` and at once
    the Adam step of ``W[f]``, ``m[f]``, ``v[f]`` (:func:`adam_step` on that row);
    ``gb += delta.sum(0)``. No gradient array is kept. Returns the sorted int32 ids
    of the features present (the rows stepped).
    """
    if m.shape != W.shape or v.shape != W.shape or W.shape[1] != delta.shape[1] or \
            gb.shape[0] != delta.shape[1]:
        raise ValueError("dense_backward_csr_adam: W, m, v, gb and delta do not match")
    present = np.unique(np.asarray(indices)).astype(np.int32)
    g = np.zeros_like(W)
    dense_backward_csr(indptr, indices, data, delta, g, gb)
    adam_step(W, g, m, v, present, lr_t, beta1, beta2, eps)
    return present


# --------------------------------------------------------------------------- shared candidate sets
# When every sample of a batch is scored against the same output rows ``rows``
# (the batch's labels plus shared negatives), the sampled layer is a small
# dense layer over those rows: three matrix products instead of pair dot
# products (the layout of sampled softmax in TensorFlow and PyTorch).
def _check_block_rows(rows, n, kernel):
    rows = np.asarray(rows)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ValueError(f"{kernel}: a row id is outside [0, {n})")


def block_forward(A, W, rows, b, n_threads=1):
    """Logits of every sample against the candidate rows: ``A @ W[rows].T + b[rows]``
    [B, C] (``rows``: int32 ids)."""
    if W.shape[1] != A.shape[1] or b.shape[0] != W.shape[0]:
        raise ValueError(f"block_forward: A is {A.shape[0]}x{A.shape[1]}, W "
                         f"{W.shape[0]}x{W.shape[1]}, b {b.shape[0]}")
    _check_block_rows(rows, W.shape[0], "block_forward")
    return (A @ W[rows].T + b[rows]).astype(np.float32, copy=False)


def block_backward(A, W, rows, delta, gW, gb, relu_input, need_dA, n_threads=1):
    """Gradients of :func:`block_forward`: ``gW[rows] += delta.T @ A``,
    ``gb[rows] += delta.sum(0)``; returns ``dA = delta @ W[rows]`` (masked by ``A > 0``
    when ``relu_input``) or ``None``. ``rows`` must be distinct; ``W`` is the weight
    before this batch's update.
    """
    if delta.shape != (A.shape[0], len(rows)) or W.shape[1] != A.shape[1]:
        raise ValueError("block_backward: delta, rows and W do not match")
    if gW.shape != W.shape or gb.shape[0] != W.shape[0]:
        raise ValueError("block_backward: gW or gb does not match W")
    _check_block_rows(rows, W.shape[0], "block_backward")
    gW[rows] += (delta.T @ A).astype(np.float32, copy=False)
    gb[rows] += delta.sum(axis=0, dtype=np.float32)
    if not need_dA:
        return None
    dA = (delta @ W[rows]).astype(np.float32, copy=False)
    if relu_input:
        dA *= A > 0
    return dA


def block_backward_adam(A, W, rows, delta, m, v, gb, lr_t, beta1, beta2, eps, relu_input,
                        need_dA, n_threads=1):
    """:func:`block_backward` with the lazy Adam step of ``W[rows]`` fused: the input
    delta is computed from the weights before the step, then each row's gradient goes
    straight into :func:`adam_step` (no gradient array is kept); ``gb[rows]`` accumulate
    as in :func:`block_backward`."""
    if m.shape != W.shape or v.shape != W.shape:
        raise ValueError("block_backward_adam: m or v does not match W")
    g = np.zeros_like(W)
    dA = block_backward(A, W, rows, delta, g, gb, relu_input, need_dA)
    adam_step(W, g, m, v, np.asarray(rows, np.int32), lr_t, beta1, beta2, eps)
    return dA


# --------------------------------------------------------------------------- optimizers
def adam_step(W, gW, m, v, rows, lr_t, beta1, beta2, eps, n_threads=1):
    """One Adam step on ``W`` (any shape, first axis = rows), then ``gW = 0``.

    ``m = b1 m + (1-b1) g``; ``v = b2 v + (1-b2) g^2``; ``W -= lr_t m / (sqrt(v) + eps)``
    with the bias correction folded into ``lr_t``.  ``rows`` (int32) restricts
    the step to those rows (lazy Adam); ``None`` updates every weight (the
    papers' dense Adam).
    """
    sel = slice(None) if rows is None else rows
    g = gW[sel]
    m[sel] = beta1 * m[sel] + (1 - beta1) * g
    v[sel] = beta2 * v[sel] + (1 - beta2) * g * g
    W[sel] -= (lr_t * m[sel] / (np.sqrt(v[sel]) + eps)).astype(np.float32)
    gW[sel] = 0


#: skipped steps beyond this add less than 1e-9 of the first one (0.9 ** 200 ~ 7e-10): the
#: catch-up sum stops there
CATCHUP_MAX = 200


def adam_catchup(W, m, v, rows, skipped, t, lr, beta1, beta2, eps, n_threads=1):
    """Apply, in closed form, the Adam steps a row missed while it had no gradient.

    Dense Adam keeps moving a row with a zero gradient: at each of the ``k``
    steps ``t-k .. t-1`` since its last update, ``m`` decays by ``beta1``, ``v`` by
    ``beta2``, and ``W -= lr_s m / (sqrt(v) + eps)`` with the bias-corrected
    ``lr_s = lr sqrt(1 - beta2^s) / (1 - beta1^s)``. For row ``rows[i]`` with
    ``k = skipped[i]`` this kernel applies all of them at once:
    ``W -= f m / (sqrt(v) + eps)`` with ``f = sum_j lr_(t-k-1+j) (beta1 / sqrt(beta2))^j``
    (j = 1..min(k, CATCHUP_MAX)), then ``m *= beta1^k``, ``v *= beta2^k``. The
    only approximation is ``eps``, taken as constant where dense Adam divides by
    ``sqrt(beta2^j v) + eps``: exact when ``eps`` is negligible against ``sqrt(v)``.
    """
    rows = np.asarray(rows)
    skipped = np.asarray(skipped, dtype=np.int64)
    todo = skipped > 0
    rows, skipped = rows[todo], skipped[todo]
    if rows.size == 0:
        return
    ratio = beta1 / np.sqrt(beta2)
    f = np.zeros(rows.size)
    for i, k in enumerate(skipped):
        j = np.arange(1, min(int(k), CATCHUP_MAX) + 1)
        s = t - k - 1 + j                       # the global step of each skipped update
        lr_s = lr * np.sqrt(1 - beta2 ** s) / (1 - beta1 ** s)
        f[i] = np.sum(lr_s * ratio ** j)
    mr, vr = m[rows], v[rows]
    W[rows] -= (f[:, None] * mr / (np.sqrt(vr) + eps)).astype(np.float32)
    m[rows] = (mr * beta1 ** skipped[:, None].astype(np.float64)).astype(np.float32)
    v[rows] = (vr * beta2 ** skipped[:, None].astype(np.float64)).astype(np.float32)


def adam_catchup_rows(W, m, v, b, mb, vb, rows, last, t, lr, beta1, beta2, eps, n_threads=1):
    """:func:`adam_catchup` of a layer's distinct ``rows`` before step ``t`` reads them:
    each row missed ``t - 1 - last[row]`` steps; the rows of ``W`` (with ``m``, ``v``)
    and, unless ``b`` is None, of the bias ``b`` (with ``mb``, ``vb``) catch up, then
    ``last[rows] = t - 1``."""
    skipped = t - 1 - last[rows]
    adam_catchup(W, m, v, rows, skipped, t, lr, beta1, beta2, eps, n_threads)
    if b is not None:
        adam_catchup(b[:, None], mb[:, None], vb[:, None], rows, skipped, t, lr, beta1, beta2,
                     eps, n_threads)
    last[rows] = t - 1


def sgd_step(W, gW, rows, lr, n_threads=1):
    """``W -= lr * gW`` (on ``rows`` only when given), then ``gW = 0``."""
    sel = slice(None) if rows is None else rows
    W[sel] -= np.float32(lr) * gW[sel]
    gW[sel] = 0
