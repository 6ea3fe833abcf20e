"""Reference kernel of inference: the ``k`` best outputs of each row without the score matrix.

``score_topk`` computes ``H @ W^T + b`` (``W`` [out][in], a sampled layer) or
``H @ W + b`` (``W`` [in][out], a dense layer) one tile of rows and classes at a
time and keeps each row's ``k`` largest logits, so its memory does not grow with
the number of rows or classes. The order is the one of
``slide_ref.network.SlideNetwork.predict_topk``: best first, ties to the smaller
class id; NaN and -inf logits are never taken, and slots left unfilled are ``-1`` with a
score of ``-inf``. ``slide_fast._kernels.scoring`` is its twin.
"""
import numpy as np

#: rows and classes per tile (a tile of logits is at most 256 x 4096 floats, 4 MB)
ROW_TILE = 256
CLASS_TILE = 4096


def score_topk(H, W, b, k, rows_layout, n_threads=1):
    """Top-``k`` outputs of every row of ``H`` [B, d]: ``(ids [B, k] int64, scores [B, k]
    float32)``.

    ``rows_layout`` says how ``W`` stores the output layer: True for ``[N][d]`` (one row
    per class), False for ``[d][N]``. ``n_threads`` is accepted for parity and ignored.
    """
    N = W.shape[0] if rows_layout else W.shape[1]
    _check_shapes(H, W, b, k, N, rows_layout)
    B = H.shape[0]
    ids = np.full((B, k), -1, dtype=np.int64)
    scores = np.full((B, k), -np.inf, dtype=np.float32)
    for r0 in range(0, B, ROW_TILE):
        r1 = min(B, r0 + ROW_TILE)
        for c0 in range(0, N, CLASS_TILE):
            c1 = min(N, c0 + CLASS_TILE)
            Wt = W[c0:c1].T if rows_layout else W[:, c0:c1]
            Z = H[r0:r1] @ Wt + b[c0:c1]
            _merge(ids[r0:r1], scores[r0:r1], Z.astype(np.float32, copy=False), c0, k)
    return ids, scores


def _merge(ids, scores, Z, offset, k):
    """Merge a tile of logits ``Z`` (classes ``offset + j``) into the running top ``k``."""
    cand = np.concatenate([scores, Z], axis=1)
    cand_ids = np.concatenate([ids, np.broadcast_to(np.arange(Z.shape[1]) + offset, Z.shape)],
                              axis=1)
    nan = np.isnan(cand)
    cand = np.where(nan, -np.inf, cand)
    cand_ids = np.where(nan | (cand == -np.inf) & (cand_ids < 0), -1, cand_ids)
    # best first, ties to the smaller id; unfilled slots (-1, -inf) last
    order = np.lexsort((np.where(cand_ids < 0, np.iinfo(np.int64).max, cand_ids), -cand),
                       axis=1)[:, :k]
    top_ids = np.take_along_axis(cand_ids, order, axis=1)
    top = np.take_along_axis(cand, order, axis=1)
    top_ids[top == -np.inf] = -1
    ids[:], scores[:] = top_ids, top


def _check_shapes(H, W, b, k, N, rows_layout):
    d = W.shape[1] if rows_layout else W.shape[0]
    if H.ndim != 2 or H.shape[1] != d or b.shape != (N,):
        raise ValueError(f"score_topk: H is {H.shape}, W {W.shape} "
                         f"({'[out][in]' if rows_layout else '[in][out]'}), b {b.shape}")
    if not 1 <= k <= N:
        raise ValueError(f"score_topk: k={k} is outside [1, {N}]")
