"""Evaluation metrics for extreme classification and zero-shot learning.

The ranking metrics follow the conventions of the extreme-classification
literature as implemented by pyxclib (``xclib.evaluation.xc_metrics``), so the
numbers are comparable with published tables:

* every ranking metric returns a float64 array of its values at k = 1..K
  (index 0 is @1);
* precision@k divides by k, even when a sample has fewer than k labels;
* nDCG@k uses log2 discounts and an ideal DCG over min(k, |y|) positives;
* propensity-scored metrics use the inverse propensities of Jain et al.
  (KDD 2016) and are divided by the best achievable value (see
  :func:`psprecision_at_k`), so they lie in [0, 1].

Predictions (``pred``) may be given in any of these forms:

* an integer array of label ids, shape (n_samples, >= k), best first; ``-1``
  means "no prediction" and never hits;
* a float (or bool) array of scores, shape (n_samples, n_labels);
* a scipy.sparse matrix of scores, shape (n_samples, n_labels): only stored
  entries are predictions, so a row with fewer than k of them has fewer
  predictions;
* a tuple ``(indices, scores)`` as returned by ``predict(X, k)``: the indices
  are used.

Scores are ranked in decreasing order, ties broken by the lower label id.
"""
import numpy as np
import scipy.sparse as sp

from ._validation import check_float, check_int, check_matrix

__all__ = [
    "precision_at_k", "ndcg_at_k", "recall_at_k", "psprecision_at_k", "psndcg_at_k",
    "inverse_propensity", "per_class_accuracy", "gzsl_harmonic", "format_metrics",
]


# ----------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------

def _check_indicator(Y, name):
    """Return ``Y`` as a canonical CSR 0/1 indicator (explicit zeros dropped)."""
    Y, _ = check_matrix(Y, name)
    Y = sp.csr_matrix(Y, copy=True)
    Y.eliminate_zeros()
    if Y.nnz and not np.all(Y.data == 1):
        raise ValueError(f"{name} must be a 0/1 label indicator, found other values")
    return Y


def _check_k(k):
    return check_int(k, "k", low=1)


def _topk_from_indices(indices, k, n_samples, n_labels):
    """Validate an integer array of ranked label ids and keep its first k columns."""
    if indices.ndim != 2:
        raise ValueError(f"label indices must be 2-D (n_samples, k), got shape {indices.shape}")
    _check_rows(indices.shape[0], n_samples)
    if indices.shape[1] < k:
        raise ValueError(f"k={k} but the predictions hold only {indices.shape[1]} labels "
                         "per sample")
    top = indices[:, :k]
    # Range checked in the array's own dtype: a uint64 2**64 - 1 must not
    # become -1 ("no prediction") through the cast.
    if top.size and (top.min() < -1 or top.max() >= n_labels):
        raise ValueError(f"predicted label ids must lie in [0, {n_labels}) or be -1 "
                         f"(no prediction), got values in [{top.min()}, {top.max()}]")
    # A label predicted twice would be counted twice.
    ordered = np.sort(top, axis=1)
    if np.any((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)):
        raise ValueError("a sample's predictions repeat a label id")
    return top.astype(np.int64)


def _order_within_rows(rows, scores):
    """Permutation sorting entries by row, then by decreasing score.

    Entries with equal row and score keep their relative order (lower label
    id first, since CSR rows list ids in increasing order).  ``np.lexsort``
    does this but is slow on millions of entries; instead each score becomes
    its dense rank (one float sort), and (row, rank) is packed in one int64
    for a fast stable integer sort.
    """
    if scores.size == 0:
        return np.zeros(0, dtype=np.intp)
    by_score = np.argsort(-scores)
    ordered = scores[by_score]
    rank = np.empty(scores.size, dtype=np.int64)
    rank[by_score] = np.concatenate([[0], np.cumsum(ordered[1:] != ordered[:-1])])
    key = rows.astype(np.int64) * (int(rank.max()) + 1) + rank
    return np.argsort(key, kind="stable")


def _rank_rows(indptr, scores, k):
    """For entries of a CSR layout: (row, position in row by score, order), top k only."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    order = _order_within_rows(rows, scores)
    # Sorting by row first keeps every entry inside its row's slice, so its
    # rank is its offset from the start of that slice.
    rank = np.arange(scores.size) - indptr[rows]
    keep = rank < k
    return rows[keep], rank[keep], order[keep]


def _topk_from_sparse(S, k):
    """Top-k label ids of each row of a CSR score matrix, padded with -1."""
    rows, rank, order = _rank_rows(S.indptr, S.data, k)
    top = np.full((S.shape[0], k), -1, dtype=np.int64)
    top[rows, rank] = S.indices[order]
    return top


def _topk_from_dense(S, k):
    """Top-k label ids of each row of a dense score matrix, padded with -1.

    ``np.partition`` finds each row's k-th largest score in linear time.  All
    scores above it are taken, then as many scores equal to it as still fit,
    lowest ids first, so ties are broken exactly as for sparse scores.
    """
    n, n_labels = S.shape
    m = min(k, n_labels)
    kth = -np.partition(-S, m - 1, axis=1)[:, m - 1:m]
    above = S > kth
    tied = S == kth
    room = m - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))
    ids = np.nonzero(chosen)[1].reshape(n, m)             # ascending ids per row
    scores = np.take_along_axis(S, ids, axis=1)
    # A stable sort keeps the lower id first among equal scores.
    top = np.take_along_axis(ids, np.argsort(-scores, axis=1, kind="stable"), axis=1)
    if m < k:
        top = np.hstack([top, np.full((n, k - m), -1, dtype=top.dtype)])
    return top.astype(np.int64)


def _as_array(value, name):
    """``np.asarray(value)``, with ragged or unreadable input reported by name."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be read as an array ({exc})") from None


def _check_rows(n_rows, n_samples):
    if n_rows != n_samples:
        raise ValueError(f"pred has {n_rows} rows but Y_true has {n_samples}")


def _indices_of_pair(pred):
    """The label ids of an ``(indices, scores)`` pair, checked for consistency."""
    if len(pred) != 2:
        raise ValueError(f"a tuple pred must be (indices, scores), got {len(pred)} items")
    indices, scores = _as_array(pred[0], "pred indices"), _as_array(pred[1], "pred scores")
    if scores.shape != indices.shape:
        raise ValueError(f"pred indices have shape {indices.shape} but scores {scores.shape}")
    if not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"pred indices must be integers, got dtype {indices.dtype}")
    return indices


def _topk(pred, k, n_samples, n_labels):
    """Ranked top-k label ids, shape (n_samples, k), from any prediction format."""
    if isinstance(pred, tuple):
        pred = _indices_of_pair(pred)
    if not sp.issparse(pred):
        if pred is None or isinstance(pred, (str, bytes, dict)):
            raise TypeError(f"pred must be an array, a sparse matrix or an (indices, scores) "
                            f"tuple, got {type(pred).__name__}")
        pred = _as_array(pred, "pred")
        # Integer arrays are label ids; anything else is scores.
        if np.issubdtype(pred.dtype, np.integer):
            return _topk_from_indices(pred, k, n_samples, n_labels)
    S, is_sparse = check_matrix(pred, "pred")
    _check_rows(S.shape[0], n_samples)
    if S.shape[1] != n_labels:
        raise ValueError(f"pred scores have {S.shape[1]} columns but Y_true has {n_labels} labels")
    return _topk_from_sparse(S, k) if is_sparse else _topk_from_dense(S, k)


def _hits(Y, top):
    """Boolean matrix: is ``top[i, j]`` a true label of sample ``i``?

    A canonical CSR matrix lists (row, label) pairs in increasing order of
    ``row * n_labels + label``, so membership is one binary search each.
    """
    n, n_labels = Y.shape
    true_keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(Y.indptr)) * n_labels \
        + Y.indices
    if true_keys.size == 0:
        return np.zeros(top.shape, dtype=bool)
    pred_keys = np.arange(n, dtype=np.int64)[:, None] * n_labels + top
    pos = np.minimum(np.searchsorted(true_keys, pred_keys), true_keys.size - 1)
    return (top >= 0) & (true_keys[pos] == pred_keys)


def _prepare(Y_true, pred, k):
    k = _check_k(k)
    Y = _check_indicator(Y_true, "Y_true")
    top = _topk(pred, k, *Y.shape)
    return Y, top, _hits(Y, top)


def _check_weights(inv_propensity, n_labels):
    w = np.asarray(inv_propensity)
    if w.dtype.kind not in "iuf":
        raise TypeError(f"inv_propensity must hold real numbers, got dtype {w.dtype}")
    if w.shape != (n_labels,):
        raise ValueError(f"inv_propensity must have one value per label, shape ({n_labels},), "
                         f"got shape {w.shape}")
    w = w.astype(np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("inv_propensity must be finite and non-negative")
    return w


def _discounts(k):
    """DCG discounts 1 / log2(rank + 1) for ranks 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2))


def _ideal_dcg(Y, k):
    """IDCG_i@j for j = 1..k: the discounts summed over min(j, |y_i|) positives."""
    cumulative = np.concatenate([[0.0], np.cumsum(_discounts(k))])
    n_pos = np.diff(Y.indptr)[:, None]
    return cumulative[np.minimum(n_pos, np.arange(1, k + 1))]


def _best_gains(Y, w, k):
    """Each sample's true-label weights, largest first, in a (n, k) matrix.

    This is the propensity-weighted gain of the best possible top-k
    prediction; missing entries (fewer than k labels) are 0.
    """
    gains = w[Y.indices]
    rows, rank, order = _rank_rows(Y.indptr, gains, k)
    best = np.zeros((Y.shape[0], k))
    best[rows, rank] = gains[order]
    return best


def _ratio(num, den):
    """Element-wise num / den, with 0 where den is 0 (no positive labels at all)."""
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


# ----------------------------------------------------------------------------
# Ranking metrics
# ----------------------------------------------------------------------------

# The metrics after precision_at_k document their arguments by reference to it;
# their shared Parameters and Returns sections are written once, here.
_AT_K_PARAMETERS = """Parameters
    ----------
    Y_true, pred, k
        As in :func:`precision_at_k`."""
_INV_PROPENSITY = """
    inv_propensity : array-like of shape (n_labels,)
        {}"""
_AT_K_RETURNS = """

    Returns
    -------
    numpy.ndarray of shape (k,), float64"""


def _at_k_sections(inv_propensity=None):
    """Fill the ``{sections}`` of a ranking metric's docstring: Parameters (with
    ``inv_propensity`` described as given, if the metric takes it) and Returns."""
    sections = _AT_K_PARAMETERS
    if inv_propensity is not None:
        sections += _INV_PROPENSITY.format(inv_propensity)
    sections += _AT_K_RETURNS

    def document(func):
        if func.__doc__:        # None under ``python -OO``
            func.__doc__ = func.__doc__.replace("{sections}", sections)
        return func
    return document


def precision_at_k(Y_true, pred, k=5):
    """Precision at 1..k.

    P@k = mean over samples of (number of true labels among the top k) / k.

    Parameters
    ----------
    Y_true : array-like or scipy.sparse matrix of shape (n_samples, n_labels)
        0/1 indicator of the true labels.
    pred : predictions
        Ranked label ids, dense or sparse scores, or ``(indices, scores)``;
        see the module docstring.
    k : int, default=5
        Largest cut-off.

    Returns
    -------
    numpy.ndarray of shape (k,), float64
        ``[P@1, ..., P@k]``.
    """
    _, top, hits = _prepare(Y_true, pred, k)
    return np.cumsum(hits, axis=1).mean(axis=0) / np.arange(1, top.shape[1] + 1)


@_at_k_sections()
def ndcg_at_k(Y_true, pred, k=5):
    """Normalised discounted cumulative gain at 1..k.

    DCG_i@k = sum over ranks r <= k of rel_r / log2(r + 1), and
    nDCG_i@k = DCG_i@k / IDCG_i@k, where the ideal IDCG_i@k puts
    min(k, |y_i|) true labels first.  The result is the mean over samples; a
    sample with no true labels scores 0 and still counts in the mean.

    {sections}
    """
    Y, top, hits = _prepare(Y_true, pred, k)
    dcg = np.cumsum(hits * _discounts(top.shape[1]), axis=1)
    return _ratio(dcg, _ideal_dcg(Y, top.shape[1])).mean(axis=0)


@_at_k_sections()
def recall_at_k(Y_true, pred, k=5):
    """Recall at 1..k.

    R@k = mean over samples of (true labels among the top k) / |y_i|; a
    sample with no true labels scores 0 and still counts in the mean.

    {sections}
    """
    Y, _, hits = _prepare(Y_true, pred, k)
    n_pos = np.diff(Y.indptr).astype(np.float64)[:, None]
    return _ratio(np.cumsum(hits, axis=1).astype(np.float64), n_pos).mean(axis=0)


def _weighted_gains(Y_true, pred, inv_propensity, k):
    """Propensity-weighted gains of the prediction and of the best prediction."""
    Y, top, hits = _prepare(Y_true, pred, k)
    w = _check_weights(inv_propensity, Y.shape[1])
    gains = hits * w[np.maximum(top, 0)]     # -1 (no prediction) never hits
    return Y, gains, _best_gains(Y, w, top.shape[1])


@_at_k_sections("Non-negative label weights, usually ``inverse_propensity(Y_train)``.")
def psprecision_at_k(Y_true, pred, inv_propensity, k=5):
    """Propensity-scored precision at 1..k, normalised to [0, 1].

    With w_l the inverse propensity of label l (:func:`inverse_propensity`):

    PSP@k = mean_i [sum_{r<=k} rel_ir * w_{l_ir}] / mean_i [sum_{r<=k} w*_ir]

    where w*_i are sample i's true-label weights sorted in decreasing order,
    i.e. the best achievable top-k prediction.  (The 1/k of both sides
    cancels.)  Rare labels weigh more, so the metric rewards predicting them.

    {sections}

    Notes
    -----
    This is pyxclib's normalisation (a ratio of means), the one reported in
    the extreme-classification literature.  Jain et al. (KDD 2016) define
    PSP@k unnormalised, as the numerator divided by k; those values are not
    bounded by 1.  With equal weights, PSP@k equals P@k divided by the best
    achievable P@k.  If no sample has a true label, the result is 0.
    """
    _, gains, best = _weighted_gains(Y_true, pred, inv_propensity, k)
    return _ratio(np.cumsum(gains, axis=1).mean(axis=0),
                  np.cumsum(best, axis=1).mean(axis=0))


@_at_k_sections("As in :func:`psprecision_at_k`.")
def psndcg_at_k(Y_true, pred, inv_propensity, k=5):
    """Propensity-scored nDCG at 1..k, normalised to [0, 1].

    With PSDCG_i@k = sum_{r<=k} rel_ir * w_{l_ir} / log2(r + 1) and the same
    sum for the best achievable ranking (true labels by decreasing weight),
    PSDCG*_i@k:

    PSnDCG@k = mean_i [PSDCG_i@k / IDCG_i@k] / mean_i [PSDCG*_i@k / IDCG_i@k]

    where IDCG_i@k is the plain ideal DCG of :func:`ndcg_at_k` (over
    min(k, |y_i|) positives).  This per-sample normaliser follows pyxclib; it
    weights samples as nDCG does before the ratio of means.

    {sections}

    Notes
    -----
    Jain et al. (KDD 2016) define PSnDCG@k without the division by the best
    achievable value; pyxclib's normalised form is used here, as in the
    literature's tables.  Samples without true labels add 0 to both means.
    """
    Y, gains, best = _weighted_gains(Y_true, pred, inv_propensity, k)
    disc = _discounts(gains.shape[1])
    idcg = _ideal_dcg(Y, gains.shape[1])
    num = _ratio(np.cumsum(gains * disc, axis=1), idcg).mean(axis=0)
    den = _ratio(np.cumsum(best * disc, axis=1), idcg).mean(axis=0)
    return _ratio(num, den)


def inverse_propensity(Y_train, A=0.55, B=1.5):
    """Inverse propensity weights of the labels (Jain et al., KDD 2016).

    With N training points and n_l positives of label l:

    C = (ln N - 1) * (B + 1) ** A,    w_l = 1 + C * (n_l + B) ** -A.

    Rare labels get large weights; a label absent from training gets the
    largest, 1 + C * B ** -A.

    Parameters
    ----------
    Y_train : array-like or scipy.sparse matrix of shape (n_samples, n_labels)
        0/1 indicator of the training labels.
    A, B : float, default=0.55, 1.5
        Data-set constants; the usual values are A=0.55, B=1.5, with
        A=0.6, B=2.6 for Amazon and A=0.5, B=0.4 for Wikipedia data sets.

    Returns
    -------
    numpy.ndarray of shape (n_labels,), float64

    Notes
    -----
    For N < e the constant C is negative and weights fall below 1; the
    formula is only meaningful for real training sets.
    """
    A = check_float(A, "A", low=0.0)
    B = check_float(B, "B", low=0.0, low_open=True)
    Y = _check_indicator(Y_train, "Y_train")
    n_pos = np.bincount(Y.indices, minlength=Y.shape[1]).astype(np.float64)
    C = (np.log(Y.shape[0]) - 1.0) * (B + 1.0) ** A
    return 1.0 + C * (n_pos + B) ** -A


# ----------------------------------------------------------------------------
# Zero-shot metrics
# ----------------------------------------------------------------------------

def _check_labels_1d(y, name):
    """A non-empty 1-D array of class labels: integers, strings or finite floats.

    Complex and object arrays are refused (their ordering or equality is not
    that of class labels), and so are NaN labels (NaN never equals itself, so
    its class could never be scored).
    """
    if y is None or isinstance(y, (dict, set)):
        raise TypeError(f"{name} must be a 1-D array of class labels, got {type(y).__name__}")
    y = _as_array(y, name)
    if y.dtype.kind not in "biufUS":
        raise TypeError(f"{name} must hold integer, float or string class labels, "
                        f"got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{name} is empty")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinite labels")
    return y


def per_class_accuracy(y_true, y_pred, classes=None):
    """Mean over classes of the per-class top-1 accuracy.

    The standard zero-shot metric (Xian et al., "Zero-shot learning: the
    good, the bad and the ugly"): every class weighs the same, however many
    test samples it has.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class of each sample.
    y_pred : array-like of shape (n_samples,)
        Predicted class of each sample.
    classes : array-like, optional
        The classes to average over; samples of other classes are ignored (as
        for the seen/unseen halves of generalised zero-shot evaluation).  Each
        listed class must occur in ``y_true``.  By default, the classes that
        occur in ``y_true``.

    Returns
    -------
    float
    """
    y_true = _check_labels_1d(y_true, "y_true")
    y_pred = _check_labels_1d(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} samples but y_pred has {y_pred.size}")
    present = np.unique(y_true)
    if classes is None:
        classes = present
    else:
        classes = _check_labels_1d(classes, "classes")
        if np.unique(classes).size != classes.size:
            raise ValueError("classes repeats a class")
        missing = classes[~np.isin(classes, present)]
        if missing.size:
            raise ValueError(f"classes {missing.tolist()[:10]} do not occur in y_true")
        classes = np.sort(classes)
    mask = np.isin(y_true, classes)
    index = np.searchsorted(classes, y_true[mask])
    correct = (y_pred[mask] == y_true[mask]).astype(np.float64)
    totals = np.bincount(index, minlength=classes.size)
    hits = np.bincount(index, weights=correct, minlength=classes.size)
    return float(np.mean(hits / totals))


def gzsl_harmonic(acc_unseen, acc_seen):
    """Harmonic mean H of the unseen and seen accuracies in generalised ZSL.

    H = 2 * u * s / (u + s), and 0 when both are 0.  The harmonic mean is
    high only when both halves are, so a model cannot score well by
    predicting seen classes only.

    Parameters
    ----------
    acc_unseen, acc_seen : float
        Per-class accuracies (fractions or percentages, non-negative).

    Returns
    -------
    float
    """
    u = check_float(acc_unseen, "acc_unseen", low=0.0)
    s = check_float(acc_seen, "acc_seen", low=0.0)
    return 0.0 if u + s == 0 else 2.0 * u * s / (u + s)


def _metric_values(values, name):
    """One metric's values as a flat float64 array, refusing non-numbers by name."""
    v = _as_array(values, f"metrics[{name!r}]")
    if v.dtype.kind not in "biuf":
        raise TypeError(f"metrics[{name!r}] must hold real numbers, got dtype {v.dtype}")
    return np.atleast_1d(v.astype(np.float64)).ravel()


def format_metrics(metrics, decimals=2):
    """Format metric values as a text table, in percent.

    Parameters
    ----------
    metrics : dict
        Name -> values at k = 1..K (1-D array-like) or a single value.
    decimals : int, default=2
        Digits after the decimal point.

    Returns
    -------
    str
        One row per metric, one column per k, values multiplied by 100.

    Examples
    --------
    >>> print(format_metrics({"P": [0.5, 0.25], "nDCG": [0.5, 0.4]}))
    metric     @1     @2
    P       50.00  25.00
    nDCG    50.00  40.00
    """
    if not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict, got {type(metrics).__name__}")
    decimals = check_int(decimals, "decimals", low=0)
    rows = {str(name): _metric_values(v, name) * 100 for name, v in metrics.items()}
    width_k = max((v.size for v in rows.values()), default=0)
    cells = {name: [f"{x:.{decimals}f}" for x in v] for name, v in rows.items()}
    col = max([len(c) for v in cells.values() for c in v] + [len(f"@{width_k}")])
    name_col = max([len(n) for n in rows] + [len("metric")])
    header = "".join(f"  {'@' + str(j):>{col}}" for j in range(1, width_k + 1))
    lines = ["metric".ljust(name_col) + header]
    for name, values in cells.items():
        lines.append(name.ljust(name_col) + "".join(f"  {c:>{col}}" for c in values))
    return "\n".join(lines)
