"""Input validation shared by every public entry point.

The kernels of both backends trust their arguments completely, so everything a
user passes is checked here first: types, shapes, dtypes, ranges and finiteness.
Errors are ``TypeError`` for the wrong kind of object and ``ValueError`` for
the right kind with bad content, and always name the argument.
"""
import numbers
import os

import numpy as np
import scipy.sparse as sp

FLOAT_DTYPES = (np.float32, np.float64)


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
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _float_dtype(dtype, name):
    if dtype in FLOAT_DTYPES:
        return dtype
    if np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_) or dtype == np.float16:
        return np.dtype(np.float32) if dtype.itemsize <= 2 else np.dtype(np.float64)
    raise TypeError(f"{name} must hold real numbers, got dtype {dtype}")


def check_matrix(X, name="X", *, n_features=None, allow_empty=False):
    """Validate a 2-D dense array or a CSR matrix of features.

    Returns ``(X, is_sparse)`` where a dense ``X`` is a C-contiguous float32 or
    float64 array and a sparse ``X`` is a canonical CSR matrix (sorted indices,
    no duplicates) with float32/float64 data and int32/int64 indices.  Integer
    or boolean inputs are converted to floats; anything else is refused.
    """
    if sp.issparse(X):
        X = X.tocsr() if X.format != "csr" else X
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got {X.ndim}-D")
        dtype = _float_dtype(X.dtype, name)
        if X.dtype != dtype:
            X = X.astype(dtype)
        if X.indices.dtype not in (np.int32, np.int64):
            X = sp.csr_matrix((X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)),
                              shape=X.shape)
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        if X.indptr.dtype != X.indices.dtype:
            X = sp.csr_matrix((X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)),
                              shape=X.shape)
        data = X.data
        sparse = True
    else:
        if isinstance(X, (str, bytes)) or X is None:
            raise TypeError(f"{name} must be an array or a scipy.sparse matrix, got "
                            f"{type(X).__name__}")
        X = np.asarray(X)
        if X.dtype == object:
            raise TypeError(f"{name} must hold real numbers, got an object array")
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
        dtype = _float_dtype(X.dtype, name)
        X = np.ascontiguousarray(X, dtype=dtype)
        data = X
        sparse = False
    if not allow_empty and X.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no columns")
    if data.size and not np.isfinite(data).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, expected {n_features}")
    return X, sparse


def check_labels(Y, n_samples, n_outputs, name="Y"):
    """Validate a label matrix and return it as CSR with int32 indices.

    ``Y`` may be a CSR/sparse 0-1 indicator [n_samples, n_outputs], a 1-D array
    of class ids (single-label), or a list of label lists.
    """
    if sp.issparse(Y):
        Y = sp.csr_matrix(Y)
        if Y.shape != (n_samples, n_outputs):
            raise ValueError(f"{name} has shape {Y.shape}, expected ({n_samples}, {n_outputs})")
        Y.sum_duplicates()
        if Y.nnz and not np.isfinite(Y.data).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        Y.eliminate_zeros()
        return sp.csr_matrix((np.ones(Y.nnz, np.float32), Y.indices.astype(np.int32),
                              Y.indptr.astype(np.int64)), shape=Y.shape)
    if isinstance(Y, np.ndarray) and Y.ndim == 2:
        raise TypeError(f"{name} must be a sparse indicator matrix, a 1-D array of class ids "
                        "or a list of label lists, not a dense 2-D array")
    if isinstance(Y, np.ndarray) and Y.ndim == 1:
        if not np.issubdtype(Y.dtype, np.integer):
            raise TypeError(f"{name} class ids must be integers, got dtype {Y.dtype}")
        lists = [[int(y)] for y in Y]
    else:
        try:
            lists = [list(row) for row in Y]
        except TypeError:
            raise TypeError(f"{name} must be a sparse matrix, an array of class ids or a list "
                            f"of label lists, got {type(Y).__name__}") from None
    if len(lists) != n_samples:
        raise ValueError(f"{name} has {len(lists)} rows, expected {n_samples}")
    lengths = [len(r) for r in lists]
    flat = np.array([y for r in lists for y in r], dtype=np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= n_outputs):
        bad = flat[(flat < 0) | (flat >= n_outputs)][0]
        raise ValueError(f"{name} has label id {bad} outside [0, {n_outputs})")
    indptr = np.zeros(n_samples + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    Yc = sp.csr_matrix((np.ones(len(flat), np.float32), flat.astype(np.int32), indptr),
                       shape=(n_samples, n_outputs))
    Yc.sum_duplicates()
    Yc.data[:] = 1
    return Yc


def effective_n_threads(n_threads=None):
    """Number of threads a parallel kernel should use.

    ``None`` follows ``OMP_NUM_THREADS`` when it is set and otherwise the CPUs
    this process may run on; a negative value means "all CPUs but ``-n_threads-1``"
    (so -1 is all of them); 0 is refused.
    """
    n_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n_cpus = max(1, n_cpus or 1)
    if n_threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
        if env.isdigit() and int(env) > 0:
            return int(env)
        return n_cpus
    n_threads = check_int(n_threads, "n_threads")
    if n_threads == 0:
        raise ValueError("n_threads must be a positive or negative int, got 0")
    if n_threads < 0:
        return max(1, n_cpus + 1 + n_threads)
    return n_threads


class StateError(ValueError):
    """A saved model, sketch or state that cannot be loaded safely.

    ``source`` names the file (or ``"<state>"`` for arrays passed in memory) and
    ``field`` the metadata key or array member at fault; both lead the message.
    """

    def __init__(self, source, field, message):
        self.source, self.field = source, field
        super().__init__(f"{source}: {field}: {message}")
