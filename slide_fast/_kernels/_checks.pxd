# Cheap checks of the index arrays a kernel receives, shared by the kernel modules (inline:
# each module compiles its own copy, no extension module of its own).
#
# The kernels run without bounds checks, so an index outside its array would read or write
# out of bounds.  The estimators validate their inputs once (check_matrix, check_labels, the
# state loaders); a kernel checks here only what costs O(rows) or O(ids) next to more work
# on the same ids, never the per-nonzero indices of an input matrix.
import numpy as np
from libc.stdint cimport int32_t, int64_t


cdef inline int check_indptr(const int64_t[::1] indptr, Py_ssize_t n_rows, Py_ssize_t nnz,
                             str name, str kernel) except -1:
    # CSR row pointers of n_rows rows over nnz entries: from 0 to nnz, never decreasing
    cdef Py_ssize_t i
    if n_rows < 0:
        raise ValueError(f"{kernel}: {name} is empty; it needs one entry per row, plus one")
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(f"{kernel}: {name} needs {n_rows + 1} entries (one per row, plus "
                         f"one), got {indptr.shape[0]}")
    if indptr[0] != 0 or indptr[n_rows] != nnz:
        raise ValueError(f"{kernel}: {name} must run from 0 to {nnz}, got "
                         f"{indptr[0]}..{indptr[n_rows]}")
    for i in range(n_rows):
        if indptr[i + 1] < indptr[i]:
            raise ValueError(f"{kernel}: {name} decreases after row {i}")
    return 0


cdef inline int check_indptr_any(object indptr, Py_ssize_t n_rows, Py_ssize_t nnz, str name,
                                 str kernel) except -1:
    # check_indptr for int32 or int64 row pointers (a copy of O(rows) for int32)
    return check_indptr(np.asarray(indptr).astype(np.int64, copy=False), n_rows, nnz, name,
                        kernel)


ctypedef fused id_t:
    int32_t
    int64_t


cdef inline int check_ids(const id_t[::1] ids, Py_ssize_t n, str name, str kernel) except -1:
    # every id (int32 or int64) in [0, n) (negative ids wrap to huge unsigned values)
    cdef Py_ssize_t k
    for k in range(ids.shape[0]):
        if <size_t>ids[k] >= <size_t>n:
            raise ValueError(f"{kernel}: {name} holds {ids[k]}, outside [0, {n})")
    return 0


cdef inline int check_ids_2d(const int32_t[:, ::1] ids, Py_ssize_t n, str name,
                             str kernel) except -1:
    cdef Py_ssize_t i, j
    for i in range(ids.shape[0]):
        for j in range(ids.shape[1]):
            if <size_t>ids[i, j] >= <size_t>n:
                raise ValueError(f"{kernel}: {name} holds {ids[i, j]}, outside [0, {n})")
    return 0


cdef inline int check_length(Py_ssize_t got, Py_ssize_t want, str name,
                             str kernel) except -1:
    if got != want:
        raise ValueError(f"{kernel}: {name} has {got} entries, expected {want}")
    return 0
