"""Reference kernels of soft-label zero-shot learning (the frozen attribute layer).

The network ``f`` maps a sample to the attribute space ``R^K``; a frozen
layer holding one attribute column per class turns that into class logits
``z = s * A^T f(x)`` over the seen classes (first ``n_seen`` columns of ``A``)
followed by the unseen ones.  These kernels do that layer, the softmax over all
classes, the loss and its gradient, and send the gradient back to ``f(x)``; the
layers of ``f`` itself are the engine's dense kernels.

Shapes and conventions shared with ``slide_fast._kernels.zsl``:

* ``F`` [B, K] float32 (outputs of the network), ``A`` [K, C] float32
  (C-contiguous, seen columns first), ``y`` [B] int32 (seen-class index in
  ``[0, n_seen)``), ``R`` [n_seen, C - n_seen] float32 (row ``y`` is the
  similarity distribution ``r_y`` over the unseen classes; rows sum to 1);
* ``mode`` 0 is the soft-label cross-entropy, 1 the cross-entropy plus
  ``lam * KL(r_y || softmax(z_unseen))``;
* ``grad_scale`` multiplies the returned gradient (``1/B`` for a batch mean).

``n_threads`` is accepted for signature parity and ignored.

The dense layers of ``f`` are called through this module too
(``dense_forward``, ``dense_backward``): here they are the engine's own
kernels, re-exported; the fast twin replaces them with BLAS calls, which suit
the dense, narrow batches of a zero-shot network.
"""
import numpy as np

from .network import dense_backward, dense_forward  # noqa: F401  (re-exported, see above)

__all__ = ["SOFT_LABEL", "CE_KL", "standardize", "attribute_logits", "attribute_softmax_grad",
           "dense_forward", "dense_backward"]

SOFT_LABEL = 0
CE_KL = 1


def _log_softmax(Z):
    Zs = Z - Z.max(axis=1, keepdims=True)
    return Zs - np.log(np.exp(Zs).sum(axis=1, keepdims=True))


def standardize(X, mean, scale, n_threads=1):
    """``(X - mean) / scale`` per column, float32 [n, D] (a new array)."""
    return ((X - mean) / scale).astype(np.float32, copy=False)


def attribute_logits(F, A, logit_scale, n_threads=1):
    """Class logits ``z = s * F @ A`` [B, C], float32."""
    return (np.float32(logit_scale) * (F @ A)).astype(np.float32, copy=False)


def attribute_softmax_grad(F, A, y, R, n_seen, mode, q, lam, logit_scale, grad_scale,
                           n_threads=1):
    """Loss and gradient of the frozen attribute layer for one batch.

    Mode 0 (soft labels): target ``t`` with ``t_y = 1 - q``, ``t_u = q r_{y,u}``
    on the unseen classes and 0 elsewhere; ``L = -sum_c t_c log p_c`` and
    ``dL/dz = p - t``.  Mode 1: ``L = -log p_y + lam KL(r_y || p_U)`` with
    ``p_U = softmax(z_U)`` over the unseen logits only; ``dL/dz = p - e_y``
    plus ``lam (p_U - r_y)`` on the unseen logits.  ``p = softmax(z)`` over all
    classes, ``z = s F A``.

    Returns
    -------
    dF : ndarray [B, K], float32
        ``grad_scale * s * (dL/dz) @ A^T``, the gradient at the network output.
    loss : ndarray [B], float64
        Per-sample loss.
    """
    B = F.shape[0]
    rows = np.arange(B)
    Z = attribute_logits(F, A, logit_scale).astype(np.float64)
    logp = _log_softmax(Z)
    G = np.exp(logp)
    r = R[y].astype(np.float64)
    if mode == SOFT_LABEL:
        T = np.zeros_like(G)
        T[rows, y] = 1.0 - q
        T[:, n_seen:] = q * r
        loss = -(T * logp).sum(axis=1)
        G -= T
    else:
        loss = -logp[rows, y]
        G[rows, y] -= 1.0
        logpu = _log_softmax(Z[:, n_seen:])
        with np.errstate(divide="ignore"):
            logr = np.where(r > 0, np.log(np.where(r > 0, r, 1.0)), 0.0)
        loss = loss + lam * (r * (logr - logpu)).sum(axis=1)
        G[:, n_seen:] += lam * (np.exp(logpu) - r)
    dZ = (G * (logit_scale * grad_scale)).astype(np.float32)
    return (dZ @ A.T).astype(np.float32, copy=False), loss
