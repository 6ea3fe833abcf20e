"""Input validation shared by every public entry point.

The kernels of both backends trust their arguments completely (the fast ones
run with bounds checks off), so everything a user passes is checked here first:
types, shapes, dtypes, ranges, finiteness and, for sparse input, the whole CSR
structure.  Errors are ``TypeError`` for the wrong kind of object and
``ValueError`` for the right kind with bad content, and always name the
argument.

The checks are vectorised NumPy, linear in the number of stored entries and
without Python loops over rows, because :func:`check_matrix` runs on the whole
training set at every ``fit``.
"""
import numbers
import os
import sys
import warnings

import numpy as np
import scipy.sparse as sp

FLOAT_DTYPES = (np.float32, np.float64)

# Largest value an int32 index may hold: the fast kernels index with int32.
_INT32_MAX = int(np.iinfo(np.int32).max)

# dtype kinds that hold real numbers: bool, signed and unsigned ints, floats.
# Complex, object, strings, bytes, structured, datetime and timedelta are refused.
_REAL_KINDS = "biuf"

# Library source directories: a warning is attributed to the first frame
# outside them, i.e. to the user's call.
_PACKAGE_DIRS = tuple(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), pkg) + os.sep
    for pkg in ("slide_ref", "slide_fast"))

def check_random_state(random_state):
    """Return a ``numpy.random.Generator`` for ``None``, an int or a Generator."""
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        if random_state is not None and int(random_state) < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    raise TypeError(
        "random_state must be None, an int or a numpy.random.Generator, "
        f"got {type(random_state).__name__}"
    )


def seed_from(rng):
    """Draw a 63-bit integer seed for the counter-based generator from ``rng``."""
    return int(rng.integers(0, 2**63 - 1, dtype=np.int64))


def check_int(value, name, *, low=None, high=None):
    """Validate an integer parameter (bools are refused) and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_float(value, name, *, low=None, high=None, low_open=False):
    """Validate a finite real parameter and return it as ``float``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_choice(value, name, choices):
    """Return ``value`` when it is one of ``choices``; ValueError naming ``name`` otherwise."""
    try:
        known = value in choices
    except TypeError:           # an unhashable value (a list, a dict) is no choice either
        known = False
    if not known:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


# ----------------------------------------------------------------------------
# dtypes
# ----------------------------------------------------------------------------

def _check_real_dtype(dtype, name):
    """Refuse dtypes that do not hold real numbers (TypeError naming ``name``)."""
    if dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")


def _float_dtype(dtype, name, requested=None):
    """The float dtype ``name`` is converted to: ``requested``, or one that holds
    ``dtype`` (float32 for bools, small ints and float16, float64 otherwise)."""
    _check_real_dtype(dtype, name)
    if requested is not None:
        return np.dtype(requested)
    if dtype in FLOAT_DTYPES:
        return dtype
    return np.dtype(np.float32) if dtype.itemsize <= 2 else np.dtype(np.float64)


def _all_finite(values):
    """True when no value is NaN or infinite.

    A float64 sum is NaN or infinite whenever one term is, so one reduction
    without a temporary array settles the common case; only a non-finite sum
    (also reached by huge finite float64 values) needs the element-wise test.
    """
    if values.dtype.kind != "f" or values.size == 0:
        return True
    return bool(np.isfinite(values.sum(dtype=np.float64)) or np.isfinite(values).all())


def _check_finite(values, original, name):
    """Refuse NaN or infinite ``values`` (``original`` is before any float cast)."""
    if not _all_finite(values):
        if original is not values and _all_finite(original):
            raise ValueError(f"{name} has values too large for {values.dtype}")
        raise ValueError(f"{name} contains NaN or infinite values")


def _index_dtype(max_value):
    """int32 when every index and offset fits (what the kernels take), else int64."""
    return np.dtype(np.int32) if max_value <= _INT32_MAX else np.dtype(np.int64)


# ----------------------------------------------------------------------------
# Sparse structure
# ----------------------------------------------------------------------------

def _integer_array(a, name):
    """``a`` as a 1-D integer array; refuses other dtypes without casting them."""
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
    return a


def _check_index_range(indices, bound, name):
    """Every index in ``[0, bound)``, compared in the array's own dtype (no wrap-around)."""
    if indices.size == 0:
        return
    # Seen as unsigned, a negative index is huge: one reduction checks both ends.
    unsigned = indices.view(indices.dtype.str.replace("i", "u"))
    if unsigned.max() < bound:
        return
    low, high = indices.min(), indices.max()
    if low < 0:
        raise ValueError(f"{name} holds a negative index ({low})")
    if high >= bound:
        raise ValueError(f"{name} holds index {high}, outside [0, {bound})")


def _check_compressed(indptr, indices, data, n_major, n_minor, name):
    """Validate a compressed (CSR or CSC) layout of ``n_major`` rows (or columns).

    Checks that ``indptr`` has ``n_major + 1`` integer entries, starts at 0 and
    never decreases, that ``indices`` and ``data`` have the same length and hold
    at least ``indptr[-1]`` entries, and that every index lies in ``[0, n_minor)``.
    Entries beyond ``indptr[-1]`` are unused storage (SciPy allows it) and are cut
    off.  Returns ``(indptr, indices, data)`` with exactly ``nnz`` entries.
    """
    indptr = _integer_array(indptr, f"{name}.indptr")
    indices = _integer_array(indices, f"{name}.indices")
    data = np.asarray(data)
    if data.ndim != 1:
        raise ValueError(f"{name}.data must be 1-D, got shape {data.shape}")
    if indptr.size != n_major + 1:
        raise ValueError(f"{name}.indptr has {indptr.size} entries, expected {n_major + 1} "
                         "(one more than the rows)")
    if indptr[0] != 0:
        raise ValueError(f"{name}.indptr must start at 0, got {indptr[0]}")
    if n_major and np.any(indptr[1:] < indptr[:-1]):
        raise ValueError(f"{name}.indptr must not decrease")
    nnz = int(indptr[-1])
    if indices.size != data.size:
        raise ValueError(f"{name} has {indices.size} indices but {data.size} values")
    if indices.size < nnz:
        raise ValueError(f"{name}.indptr ends at {nnz} but there are only {indices.size} "
                         "stored entries")
    if indices.size > nnz:                 # slice only then: unchanged arrays stay the same objects
        indices, data = indices[:nnz], data[:nnz]
    _check_index_range(indices, n_minor, f"{name}.indices")
    return indptr, indices, data


try:       # SciPy's C test of canonical CSR, used on structures already validated
    from scipy.sparse._sparsetools import csr_has_canonical_format as _csr_canonical
except ImportError:                        # private API: fall back to NumPy
    _csr_canonical = None


def _rows_strictly_sorted(indptr, indices):
    """True when every row lists its indices in strictly increasing order.

    ``indptr`` must already be validated (see :func:`_check_compressed`).  One
    pass: SciPy's C loop when ``indptr`` and ``indices`` share an int32/int64
    dtype (its result is recomputed here, never taken from a matrix's cached
    flag, which a caller may have made stale by editing ``indices``); else
    vectorised NumPy, where consecutive entries must increase except where a
    new row starts.
    """
    if indices.size < 2:
        return True
    if (_csr_canonical is not None and indptr.dtype == indices.dtype
            and indices.dtype in (np.int32, np.int64)):
        return bool(_csr_canonical(indptr.size - 1, indptr, indices))
    increasing = indices[1:] > indices[:-1]
    starts = indptr[1:-1]
    starts = starts[(starts > 0) & (starts < indices.size)]
    increasing[starts - 1] = True          # the step into a new row may go down
    return bool(increasing.all())


def _sparse_class(X):
    """``csr_array`` for sparse-array input, ``csr_matrix`` for sparse-matrix input."""
    sparray = getattr(sp, "sparray", None)
    return sp.csr_array if sparray is not None and isinstance(X, sparray) else sp.csr_matrix


def _coo_to_csr(X, name):
    """Validated CSR parts ``(indptr, indices, data)`` of a COO matrix."""
    row = _integer_array(X.row, f"{name}.row")
    col = _integer_array(X.col, f"{name}.col")
    data = np.asarray(X.data)
    if not row.size == col.size == data.size:
        raise ValueError(f"{name} has {row.size} row ids, {col.size} column ids and "
                         f"{data.size} values")
    _check_index_range(row, X.shape[0], f"{name}.row")
    _check_index_range(col, X.shape[1], f"{name}.col")
    _check_real_dtype(data.dtype, name)
    # Safe now: SciPy's conversion trusts the ids it was just shown in range.
    Xc = sp.csr_matrix((data, (row.astype(np.int64), col.astype(np.int64))), shape=X.shape)
    return Xc.indptr, Xc.indices, Xc.data


def _csr_parts(X, name):
    """``(indptr, indices, data)`` of any SciPy sparse 2-D matrix, structure validated.

    CSR and CSC layouts are checked before any SciPy routine reads them (SciPy's
    own routines do not check index ranges and crash on bad ones); other formats
    go through COO, whose ids are checked the same way.
    """
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got {X.ndim}-D")
    n_rows, n_cols = X.shape
    if X.format == "csr":
        return _check_compressed(X.indptr, X.indices, X.data, n_rows, n_cols, name)
    if X.format == "csc":
        indptr, indices, data = _check_compressed(X.indptr, X.indices, X.data, n_cols, n_rows,
                                                  name)
        _check_real_dtype(data.dtype, name)
        Xc = sp.csc_matrix((data, indices, indptr), shape=X.shape).tocsr()
        return Xc.indptr, Xc.indices, Xc.data
    return _coo_to_csr(X if X.format == "coo" else X.tocoo(), name)


def _canonical(indptr, indices, data, shape):
    """Sort each row on a copy and sum duplicate entries, SciPy's canonical CSR."""
    X = sp.csr_matrix((data.copy(), indices.copy(), indptr.copy()), shape=shape)
    X.sum_duplicates()
    return X.indptr, X.indices, X.data


def _check_sparse(X, name, dtype):
    """The validated canonical CSR form of a sparse ``X`` (see :func:`check_matrix`)."""
    cls = _sparse_class(X)
    indptr, indices, data = _csr_parts(X, name)
    target = _float_dtype(data.dtype, name, dtype)
    values = data
    if data.dtype != target:
        with np.errstate(over="ignore"):   # overflow is reported below, by name
            values = data.astype(target)
    _check_finite(values, data, name)
    itype = _index_dtype(max(X.shape[0], X.shape[1], indices.size))
    # In range, so the cast cannot wrap (an int64 2**40 was refused above).
    indptr = indptr.astype(itype, copy=False)
    indices = indices.astype(itype, copy=False)
    if not _rows_strictly_sorted(indptr, indices):
        indptr, indices, values = _canonical(indptr, indices, values, X.shape)
        indptr, indices = indptr.astype(itype, copy=False), indices.astype(itype, copy=False)
    if X.format == "csr" and values is X.data and indices is X.indices and indptr is X.indptr:
        return X                           # already in the kernels' form: no new object
    out = cls((values, indices, indptr), shape=X.shape, copy=False)
    out.has_sorted_indices = True
    out.has_canonical_format = True
    return out


def _check_dense(X, name, dtype):
    """A validated C-contiguous float array of a dense ``X`` (see :func:`check_matrix`)."""
    if isinstance(X, (str, bytes)) or X is None or isinstance(X, (dict, set)):
        raise TypeError(f"{name} must be an array or a scipy.sparse matrix, got "
                        f"{type(X).__name__}")
    try:
        X = np.asarray(X)
    except (ValueError, TypeError) as exc:     # ragged nested lists, odd objects
        raise ValueError(f"{name} could not be read as a 2-D array ({exc})") from None
    if X.dtype == object:
        raise TypeError(f"{name} must hold real numbers, got an object array")
    _check_real_dtype(X.dtype, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    target = _float_dtype(X.dtype, name, dtype)
    with np.errstate(over="ignore"):
        values = np.ascontiguousarray(X, dtype=target)
    _check_finite(values, X, name)
    return values


def check_matrix(X, name="X", *, n_features=None, allow_empty=False, dtype=None):
    """Validate a 2-D dense array or a sparse matrix of features.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix/array
        Bools and integers are converted to floats; complex, object, string,
        bytes, structured and date dtypes are refused with ``TypeError``.
    name : str
        The argument's name, used in every message.
    n_features : int, optional
        Required number of columns.
    allow_empty : bool
        Accept zero rows.
    dtype : {None, numpy.float32, numpy.float64}
        Convert the values to this dtype; by default float32 and float64 are
        kept and other real dtypes become the float that holds them.

    Returns
    -------
    (X, is_sparse)
        A dense ``X`` is a C-contiguous float array.  A sparse ``X`` comes back as
        a canonical CSR matrix (``csr_array`` for sparse-array input): its indices
        are sorted within each row, on a copy when they were not, and **duplicate
        entries are summed** (SciPy's convention), int32 indices and offsets when
        the shape and nnz fit in int32 (else int64), float data.  Input already in
        that form is returned without copying its arrays.

    Raises
    ------
    TypeError
        ``X`` is not an array or sparse matrix, or has a non-real dtype.
    ValueError
        Bad content: not 2-D, no rows (unless ``allow_empty``) or no columns, the
        wrong number of features, NaN or infinite values (also values that
        overflow ``dtype``), or a broken sparse structure: ``indptr`` of the wrong
        length, not starting at 0 or decreasing, fewer stored entries than it
        declares, indices and data of different lengths, non-integer index arrays,
        or an index that is negative or not below the number of columns (compared
        before any cast, so an int64 ``2**40`` is refused, never wrapped to 0).

    All checks are vectorised and linear in the number of stored entries.
    """
    if dtype is not None and np.dtype(dtype) not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be None, float32 or float64, got {dtype}")
    if sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got {X.ndim}-D")
        _check_shape(X.shape, name, n_features, allow_empty)
        return _check_sparse(X, name, dtype), True
    X = _check_dense(X, name, dtype)
    _check_shape(X.shape, name, n_features, allow_empty)
    return X, False


def _check_shape(shape, name, n_features, allow_empty):
    if not allow_empty and shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if shape[1] == 0:
        raise ValueError(f"{name} has no columns")
    if n_features is not None and shape[1] != n_features:
        raise ValueError(f"{name} has {shape[1]} features, expected {n_features}")


def check_csr(X, name="X", *, n_features=None, allow_empty=False):
    """:func:`check_matrix`, then the form the kernels take: a float32 CSR with
    int32 indices and offsets (int64 only beyond int32's range).

    Dense input is converted to CSR.  Entry points that hand ``X`` to the
    kernels call this once (per ``fit``, not per batch) instead of converting
    themselves.
    """
    X, sparse = check_matrix(X, name, n_features=n_features, allow_empty=allow_empty,
                             dtype=np.float32)
    if sparse:
        return X
    itype = _index_dtype(max(X.shape[0], X.shape[1], np.count_nonzero(X)))
    Xc = sp.csr_matrix(X)
    return sp.csr_matrix((Xc.data, Xc.indices.astype(itype, copy=False),
                          Xc.indptr.astype(itype, copy=False)), shape=X.shape, copy=False)


# ----------------------------------------------------------------------------
# Labels and sample weights
# ----------------------------------------------------------------------------

def _label_csr(indptr, ids, shape):
    """A float32 0/1 indicator from per-row label ids, sorted, duplicates collapsed."""
    itype = _index_dtype(shape[1] - 1)
    Y = sp.csr_matrix((np.ones(ids.size, np.float32), ids.astype(itype, copy=False),
                       indptr.astype(np.int64, copy=False)), shape=shape, copy=False)
    if not Y.has_canonical_format:         # one C pass; sorts and merges only if needed
        Y.sum_duplicates()
        Y.data[:] = 1                      # a label repeated in a row is one positive
    return Y


def _check_indicator_values(data, name):
    """Stored values of an indicator must be 0 or 1: a -1 or a 2 is an error,
    not a positive label."""
    _check_real_dtype(data.dtype, name)
    valid = (data == 0) | (data == 1)
    if not valid.all():
        raise ValueError(f"{name} must be a 0/1 indicator, found the value {data[~valid][0]}")


def _labels_from_sparse(Y, n_samples, n_outputs, name):
    """Labels given as a sparse 0/1 indicator of shape (n_samples, n_outputs)."""
    if Y.ndim != 2 or Y.shape != (n_samples, n_outputs):
        raise ValueError(f"{name} has shape {Y.shape}, expected ({n_samples}, {n_outputs})")
    compressed = Y.format in ("csr", "csc")
    if not compressed:
        # Check the values before the conversion to CSR sums repeated entries.
        Y = Y.tocoo()
        _check_indicator_values(np.asarray(Y.data), name)
    indptr, ids, data = _csr_parts(Y, name)
    if compressed:
        _check_indicator_values(data, name)
    positive = data != 0
    if not positive.all():                 # drop explicit zeros
        rows = np.repeat(np.arange(n_samples), np.diff(indptr))
        indptr = np.zeros(n_samples + 1, np.int64)
        np.cumsum(np.bincount(rows[positive], minlength=n_samples), out=indptr[1:])
        ids = ids[positive]
    return _label_csr(indptr, ids, (n_samples, n_outputs))


def _labels_from_ids(Y, n_samples, n_outputs, name):
    """Labels given as a 1-D integer array of class ids, one per sample."""
    if Y.dtype.kind not in "iu":
        raise TypeError(f"{name} class ids must be integers, got dtype {Y.dtype}")
    if Y.size != n_samples:
        raise ValueError(f"{name} has {Y.size} rows, expected {n_samples}")
    _check_label_range(Y, n_outputs, name)
    return _label_csr(np.arange(n_samples + 1, dtype=np.int64), Y, (n_samples, n_outputs))


def _check_label_range(ids, n_outputs, name):
    if ids.size:
        low, high = ids.min(), ids.max()
        bad = low if low < 0 else high if high >= n_outputs else None
        if bad is not None:
            raise ValueError(f"{name} has label id {bad} outside [0, {n_outputs})")


def _is_label_id_type(t):
    """Python and NumPy integer types; bools are not label ids."""
    return issubclass(t, numbers.Integral) and not issubclass(t, (bool, np.bool_))


def _rows_as_lists(Y, name):
    try:
        return [list(row) for row in Y]
    except TypeError:
        pass
    try:
        rows = list(Y)
    except TypeError:
        raise TypeError(f"{name} must be a sparse matrix, an array of class ids or a list "
                        f"of label lists, got {type(Y).__name__}") from None
    for i, row in enumerate(rows):
        try:
            iter(row)
        except TypeError:
            raise TypeError(f"{name}[{i}] must be a list of label ids, got "
                            f"{type(row).__name__}") from None
    raise TypeError(f"{name} rows could not be read as lists of label ids")


def _labels_from_lists(Y, n_samples, n_outputs, name):
    """Labels given as one iterable of integer label ids per sample."""
    lists = _rows_as_lists(Y, name)
    if len(lists) != n_samples:
        raise ValueError(f"{name} has {len(lists)} rows, expected {n_samples}")
    flat = [y for row in lists for y in row]
    # One C-level pass over the types: floats (0.5 would truncate to 0), bools,
    # strings and nested lists are refused instead of cast.
    bad_types = [t for t in set(map(type, flat)) if not _is_label_id_type(t)]
    if bad_types:
        i, y = next((i, y) for i, row in enumerate(lists) for y in row
                    if type(y) in bad_types)
        raise TypeError(f"{name}[{i}] holds {y!r} ({type(y).__name__}); label ids must be "
                        "integers")
    if flat:
        # Python ints compare exactly, so ids beyond int64 are reported, not wrapped.
        low, high = min(flat), max(flat)
        bad = low if low < 0 else high if high >= n_outputs else None
        if bad is not None:
            raise ValueError(f"{name} has label id {int(bad)} outside [0, {n_outputs})")
    indptr = np.zeros(n_samples + 1, dtype=np.int64)
    np.cumsum([len(row) for row in lists], out=indptr[1:])
    return _label_csr(indptr, np.array(flat, dtype=np.int64), (n_samples, n_outputs))


def check_labels(Y, n_samples, n_outputs, name="Y"):
    """Validate a label matrix and return it as a CSR 0/1 indicator.

    ``Y`` may be

    * a sparse indicator of shape (n_samples, n_outputs) whose stored values are
      0 or 1 (any other value, -1 or 2 included, is refused; explicit zeros are
      dropped; its structure is checked as in :func:`check_matrix`);
    * a 1-D integer array of class ids (single-label);
    * a list of label lists (any iterables of integer ids).

    Label ids must be integers in ``[0, n_outputs)``: floats (``0.5``) and bools
    are refused with ``TypeError`` rather than truncated, ids out of range
    (however large) with ``ValueError``.  A label repeated within a row counts
    once.  The result has float32 ones, sorted int32 indices (int64 when
    ``n_outputs`` exceeds int32) and int64 offsets.
    """
    if sp.issparse(Y):
        return _labels_from_sparse(Y, n_samples, n_outputs, name)
    if isinstance(Y, np.ndarray) and Y.ndim == 2:
        raise TypeError(f"{name} must be a sparse indicator matrix, a 1-D array of class ids "
                        "or a list of label lists, not a dense 2-D array")
    if isinstance(Y, np.ndarray) and Y.ndim == 1 and Y.dtype != object:
        return _labels_from_ids(Y, n_samples, n_outputs, name)
    if isinstance(Y, (str, bytes, dict)) or Y is None or \
            (isinstance(Y, np.ndarray) and Y.ndim != 1):
        raise TypeError(f"{name} must be a sparse matrix, an array of class ids or a list "
                        f"of label lists, got {type(Y).__name__}")
    return _labels_from_lists(Y, n_samples, n_outputs, name)


def check_sample_weight(sample_weight, n_samples, name="sample_weight"):
    """Validate per-sample weights and return them as a float64 array ``(n_samples,)``.

    ``None`` means all ones.  Weights must be a real, non-boolean array of shape
    ``(n_samples,)``, finite and non-negative.  Called by the entry points that
    take ``sample_weight`` (``SlideNetwork.train_batch``, the estimators' ``fit``).
    """
    n_samples = check_int(n_samples, "n_samples", low=0)
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float64)
    if isinstance(sample_weight, (str, bytes, dict)):
        raise TypeError(f"{name} must be an array of real numbers, got "
                        f"{type(sample_weight).__name__}")
    try:
        w = np.asarray(sample_weight)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be read as an array ({exc})") from None
    if w.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {w.dtype}")
    if w.shape != (n_samples,):
        raise ValueError(f"{name} has shape {w.shape}, expected ({n_samples},)")
    w = w.astype(np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    return w


# ----------------------------------------------------------------------------
# Threads
# ----------------------------------------------------------------------------

def available_cpus():
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except OSError:
            pass
    return max(1, os.cpu_count() or 1)


def _user_stacklevel():
    """``stacklevel`` that attributes a warning to the first frame outside the library."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIRS):
        frame, level = frame.f_back, level + 1
    return level


def _clamp_threads(n_threads, n_cpus, source):
    if n_threads <= n_cpus:
        return n_threads
    warnings.warn(f"{source}={n_threads} exceeds the {n_cpus} CPUs this process may use; "
                  f"using {n_cpus} threads", RuntimeWarning, stacklevel=_user_stacklevel())
    return n_cpus


def effective_n_threads(n_threads=None):
    """Number of threads a parallel kernel should use.

    ``None`` follows ``OMP_NUM_THREADS`` when it is set and otherwise the CPUs
    this process may run on; a negative value means "all CPUs but ``-n_threads-1``"
    (so -1 is all of them, and anything below ``-n_cpus`` is 1); 0 and non-integers
    are refused.  A count above the CPUs this process may use (its affinity mask,
    else ``os.cpu_count()``) is lowered to that number with a ``RuntimeWarning``,
    so the OpenMP runtime is never asked for more threads than it may create.
    """
    n_cpus = available_cpus()
    if n_threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
        if env.isdigit() and int(env) > 0:
            return _clamp_threads(int(env), n_cpus, "OMP_NUM_THREADS")
        return n_cpus
    n_threads = check_int(n_threads, "n_threads")
    if n_threads == 0:
        raise ValueError("n_threads must be a positive or negative int, got 0")
    if n_threads < 0:
        return max(1, n_cpus + 1 + n_threads)
    return _clamp_threads(n_threads, n_cpus, "n_threads")


class StateError(ValueError):
    """A saved model, sketch or state that cannot be loaded safely.

    ``source`` names the file (or ``"<state>"`` for arrays passed in memory) and
    ``field`` the metadata key or array member at fault; both lead the message.
    """

    def __init__(self, source, field, message):
        self.source, self.field = source, field
        super().__init__(f"{source}: {field}: {message}")
