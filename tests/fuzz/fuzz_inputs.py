"""Builders of hostile inputs from short JSON descriptions.

A fuzz case travels to its child process as JSON, so inputs are described, not
shipped: ``{"n": 4, "d": 50, "seed": 3, "mut": "col_big", "val": 10**6}`` becomes a
CSR matrix whose one column index is ``d + 10**6``.  Every builder is
deterministic in its description, so a failing case reproduces from its spec.

Each mutation also says whether the input it makes is invalid (the library
must refuse it) or merely unusual (it must be accepted and give the same
answer as the plain input); see :data:`X_MUTATIONS` and :data:`LABEL_MUTATIONS`.
"""
import numpy as np
import scipy.sparse as sp

#: CSR/dense feature mutations -> True where the result is invalid input
X_MUTATIONS = {
    "none": False,
    "col_big": True,          # a column index >= n_features
    "col_neg": True,          # a negative column index
    "col_wrap": True,         # int64 index that an int32 cast wraps into range (2**32 + c)
    "col_wrap40": True,       # 2**40: wraps to 0
    "unsorted": False,        # column order reversed within rows (valid CSR)
    "dup": False,             # a repeated column index within a row (summed by convention)
    "indptr_decreasing": True,
    "indptr_overrun": True,   # indptr points past the stored entries
    "indptr_negative": True,
    "nan": True,
    "inf": True,
    "huge": False,            # values 1e30: valid input, training may diverge
    "complex": True,
    "object": True,
    "str": True,
    "bool": False,            # converted to 0/1 floats
    "float16": False,
    "int8": False,
    "zero_rows": True,        # no samples
    "one_dim": True,
    "three_dim": True,
    "wrong_width": True,      # n_features differs from the model's
    "none_value": True,       # None instead of a matrix
    "list_of_lists": False,   # a plain nested list of numbers (dense)
}


CSR_ONLY = {"col_big", "col_neg", "col_wrap", "col_wrap40", "unsorted", "dup",
            "indptr_decreasing", "indptr_overrun", "indptr_negative"}


def _base_csr(n, d, seed, density=0.2):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        k = int(rng.integers(1, max(2, int(d * density)) + 1))
        rows.append(np.sort(rng.choice(d, size=min(k, d), replace=False)))
    indptr = np.zeros(n + 1, np.int32)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    indices = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
    data = rng.uniform(0.1, 1.0, size=len(indices)).astype(np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(n, d))


def _with_int64(X):
    """The same CSR with int64 index arrays (assigned, so scipy does not down-cast)."""
    X = X.copy()
    X.indices = X.indices.astype(np.int64)
    X.indptr = X.indptr.astype(np.int64)
    return X


def _mutate_csr(X, mut, val):
    n, d = X.shape
    if mut in ("col_big", "col_neg", "col_wrap", "col_wrap40"):
        X = _with_int64(X)
        last = X.indptr[1] - 1          # last entry of row 0: keeps the row sorted for col_big
        X.indices[last] = {"col_big": d + abs(int(val)), "col_neg": -1 - abs(int(val)) % d,
                           "col_wrap": 2**32 + int(val) % d, "col_wrap40": 2**40}[mut]
    elif mut == "unsorted":
        for r in range(n):
            a, b = X.indptr[r], X.indptr[r + 1]
            X.indices[a:b] = X.indices[a:b][::-1].copy()
            X.data[a:b] = X.data[a:b][::-1].copy()
        X.has_sorted_indices = False
    elif mut == "dup":
        a, b = X.indptr[0], X.indptr[1]
        if b - a >= 2:
            X.indices[a + 1] = X.indices[a]
        X.has_sorted_indices = False
        X.has_canonical_format = False
    elif mut == "indptr_decreasing" and n >= 2:
        X.indptr[1] = X.indptr[2] + 1 if X.indptr[2] + 1 <= X.nnz else X.nnz
        X.indptr[2] = max(0, X.indptr[1] - 2)
    elif mut == "indptr_decreasing":
        X.indptr[1] = -1
    elif mut == "indptr_overrun":
        X.indptr[-1] = X.nnz + abs(int(val)) % 2**30 + 1
    elif mut == "indptr_negative":
        X.indptr[0] = -(abs(int(val)) % 2**31) - 1
    return X


def _mutate_values(A, mut, val):
    data = A.data if sp.issparse(A) else A
    if mut == "nan":
        data.flat[int(val) % data.size] = np.nan
    elif mut == "inf":
        data.flat[int(val) % data.size] = -np.inf if int(val) % 2 else np.inf
    elif mut == "huge":
        data *= np.float32(1e30)
    return A


def _retype(A, mut):
    dtypes = {"complex": np.complex128, "bool": np.bool_, "float16": np.float16, "int8": np.int8,
              "object": object}
    if mut == "str":
        if sp.issparse(A):
            return A.toarray().astype(str)
        return A.astype(str)
    if mut == "object" and sp.issparse(A):
        return A.toarray().astype(object)
    if mut == "float16" and sp.issparse(A):
        A = A.toarray()             # scipy.sparse has no float16: the dense form is the input
    if mut in ("bool", "int8"):
        A = A.copy()
        (A.data if sp.issparse(A) else A)[...] = 1
    return A.astype(dtypes[mut])


def make_X(desc):
    """A feature matrix from its description (see the module docstring)."""
    n, d, seed = int(desc["n"]), int(desc["d"]), int(desc.get("seed", 0))
    mut, val = desc.get("mut", "none"), desc.get("val", 1)
    # a broken CSR structure has no dense form: those mutations always give CSR
    dense = desc.get("fmt", "csr") == "dense" and mut not in CSR_ONLY
    if mut == "none_value":
        return None
    if mut == "zero_rows":
        n = 0
    if mut == "wrong_width":
        d = d + 1 + abs(int(val)) % 7
    X = _base_csr(n, d, seed) if n else sp.csr_matrix((0, d), dtype=np.float32)
    if dense or mut in ("one_dim", "three_dim", "list_of_lists"):
        X = X.toarray()
        if mut == "one_dim":
            return X.ravel()
        if mut == "three_dim":
            return X[None]
        if mut == "list_of_lists":
            return X.tolist()
    elif mut in CSR_ONLY:
        return _mutate_csr(X, mut, val)
    if mut in ("nan", "inf", "huge") and n:
        return _mutate_values(X, mut, val)
    if mut in ("complex", "bool", "float16", "int8", "object", "str"):
        return _retype(X, mut)
    return X


def canonical_X(desc):
    """The plain equivalent of a valid-but-unusual X (sorted, duplicates summed)."""
    X = make_X(desc)
    if sp.issparse(X):
        X = sp.csr_matrix(X.toarray().astype(np.float64))
    return X


#: label mutations -> True where the labels are invalid
LABEL_MUTATIONS = {
    "none": False,
    "out_of_range": True,     # an id >= n_outputs
    "negative": True,
    "float_ids": True,        # [[0.5], [1.7]]: not integers
    "minus1_indicator": True,  # an indicator matrix with a -1 entry
    "nan_indicator": True,
    "two_indicator": True,    # an indicator entry of 2
    "wrong_rows": True,
    "strings": True,
    "dense2d": True,
    "empty_lists": False,     # samples without labels
    "huge_id": True,          # 2**63 - 1
    "ids_1d": False,          # a 1-D array of class ids
    "ids_1d_float": True,
    "none_value": True,
    "bool_ids": True,
}


def make_labels(desc, n, n_outputs):
    """Labels for ``n`` samples of ``n_outputs`` classes from a description."""
    rng = np.random.default_rng(int(desc.get("seed", 0)))
    mut, val = desc.get("mut", "none"), desc.get("val", 1)
    lists = [sorted(set(rng.integers(0, n_outputs, size=int(rng.integers(1, 3))).tolist()))
             for _ in range(n)]
    if mut == "none_value":
        return None
    if mut == "out_of_range" and n:
        lists[-1] = [n_outputs + abs(int(val)) % 1000]
    elif mut == "negative" and n:
        lists[0] = [-1 - abs(int(val)) % 5]
    elif mut == "huge_id" and n:
        lists[0] = [2**63 - 1]
    elif mut == "float_ids":
        lists = [[0.5 + (i % 2)] for i in range(n)]
    elif mut == "bool_ids":
        lists = [[True] for _ in range(n)]
    elif mut == "strings":
        lists = [[str(x) for x in row] for row in lists]
    elif mut == "wrong_rows":
        lists = lists[:-1] if n > 1 else lists + lists
    elif mut == "empty_lists":
        lists = [[] for _ in lists]
    elif mut in ("ids_1d", "ids_1d_float"):
        ids = np.array([row[0] for row in lists], dtype=np.int64)
        return ids.astype(np.float64) + (0.5 if mut == "ids_1d_float" else 0) \
            if mut == "ids_1d_float" else ids
    Y = lists
    if mut in ("minus1_indicator", "nan_indicator", "two_indicator", "dense2d"):
        Y = np.zeros((n, n_outputs), np.float32)
        for i, row in enumerate(lists):
            Y[i, row] = 1
        if mut == "dense2d":
            return Y
        Y[0, (lists[0][0] + 1) % n_outputs] = {"minus1_indicator": -1, "nan_indicator": np.nan,
                                               "two_indicator": 2}[mut]
        return sp.csr_matrix(Y)
    return Y


#: sample-weight mutations -> True where the weights are invalid
WEIGHT_MUTATIONS = {"none": False, "ones": False, "nan": True, "inf": True, "negative": True,
                    "huge": False, "wrong_len": True, "strings": True, "complex": True,
                    "two_dim": True}


def make_weights(mut, n):
    """Sample weights for ``n`` samples, or None."""
    if mut == "none":
        return None
    w = np.ones(n)
    if mut == "nan":
        w[0] = np.nan
    elif mut == "inf":
        w[0] = np.inf
    elif mut == "negative":
        w[0] = -1.0
    elif mut == "huge":
        w[:] = 1e300
    elif mut == "wrong_len":
        w = np.ones(n + 1)
    elif mut == "strings":
        w = np.array(["1"] * n)
    elif mut == "complex":
        w = w.astype(complex)
    elif mut == "two_dim":
        w = w[:, None]
    return w
