"""The trust boundary: bad input raises a clear exception naming the argument.

One group of tests per class of the input-validation issue that
``slide_ref._validation``, ``slide_ref._memory`` and ``read_xc`` own: sparse
structure (1), labels and sample weights (2), XC files (4) and resources (6).
Reproducers that used to kill the process run in a child interpreter, so a
crash fails the test instead of ending the test run.
"""
import io
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from slide_ref import _memory, _validation
from slide_ref._memory import InsufficientMemoryError, check_allocation
from slide_ref._validation import (check_csr, check_labels, check_matrix, check_sample_weight,
                                   effective_n_threads)
from slide_ref.datasets import new_file_mode, read_xc, write_xc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------
# Class 1: CSR input is checked in full
# ----------------------------------------------------------------------------

def _good_csr():
    return sp.csr_matrix((np.ones(4, np.float32), np.array([0, 1, 2, 3]), np.array([0, 2, 4])),
                         shape=(2, 50))


def _with(indices=None, indptr=None, data=None):
    """A 2 x 50 CSR whose arrays are replaced after construction (SciPy does not
    re-check them)."""
    X = _good_csr()
    if indices is not None:
        X.indices = np.asarray(indices)
    if indptr is not None:
        X.indptr = np.asarray(indptr)
    if data is not None:
        X.data = np.asarray(data)
    return X


BAD_CSR = {
    "index past n_features (issue reproducer)": lambda: sp.csr_matrix(
        (np.ones(4, np.float32), np.array([0, 1, 2, 10**6]), np.array([0, 2, 4])), shape=(2, 50)),
    "int64 index that int32 would wrap to 0": lambda: sp.csr_matrix(
        (np.ones(4, np.float32), np.array([0, 1, 2, 2**40], np.int64), np.array([0, 2, 4])),
        shape=(2, 50), copy=False),
    "negative index": lambda: _with(indices=[0, 1, -1, 3]),
    "index equal to n_features": lambda: _with(indices=[0, 1, 2, 50]),
    "indptr too short": lambda: _with(indptr=[0, 4]),
    "indptr not starting at 0": lambda: _with(indptr=[1, 2, 4]),
    "indptr decreasing": lambda: _with(indptr=[0, 3, 2]),
    "indptr past the stored entries": lambda: _with(indptr=[0, 2, 9]),
    "data shorter than indices": lambda: _with(data=np.ones(3, np.float32)),
    "float indices": lambda: _with(indices=np.array([0, 1, 2, 3], np.float64)),
    "NaN value": lambda: _with(data=np.array([1, np.nan, 1, 1], np.float32)),
}


@pytest.mark.parametrize("case", sorted(BAD_CSR))
def test_bad_csr_structure_is_refused_by_name(case):
    X = BAD_CSR[case]()
    with pytest.raises((ValueError, TypeError), match=r"^X\b"):
        check_matrix(X, "X")
    with pytest.raises((ValueError, TypeError), match=r"^items\b"):
        check_csr(X, "items")


def test_int64_index_beyond_int32_is_not_wrapped():
    X = _with(indices=np.array([0, 1, 2, 2**32], np.int64))    # 2**32 -> 0 as int32
    with pytest.raises(ValueError, match=r"X.indices holds index 4294967296, outside \[0, 50\)"):
        check_matrix(X)


def test_uint64_indices_are_compared_before_any_cast():
    X = _with(indices=np.array([0, 1, 2, 2**64 - 1], np.uint64))
    with pytest.raises(ValueError, match="outside"):
        check_matrix(X)
    X = _with(indices=np.array([0, 1, 2, 3], np.uint64))
    assert check_csr(X).indices.dtype == np.int32


def test_other_sparse_formats_are_checked_before_scipy_converts_them():
    coo = sp.coo_matrix((np.ones(2), (np.array([0, 1]), np.array([0, 3]))), shape=(2, 50))
    coo.col = np.array([0, 10**6])
    with pytest.raises(ValueError, match="X.col"):
        check_matrix(coo)
    csc = _good_csr().tocsc()
    csc.indices = np.array([0, 5, 1, 1])
    with pytest.raises(ValueError, match="X.indices"):
        check_matrix(csc)


@pytest.mark.parametrize("dtype", [np.complex64, object, "U3", "S3", "datetime64[s]"])
def test_non_real_dtypes_are_refused_with_type_error(dtype):
    dense = np.zeros((2, 3), dtype=dtype)
    with pytest.raises(TypeError, match="^X must hold real numbers"):
        check_matrix(dense)
    if dtype is np.complex64:           # SciPy itself refuses the other dtypes
        with pytest.raises(TypeError, match="^X must hold real numbers"):
            check_matrix(sp.csr_matrix(np.eye(3).astype(dtype)))


def test_ragged_dense_input_is_a_clear_value_error():
    with pytest.raises(ValueError, match="^X could not be read as a 2-D array"):
        check_matrix([[1.0, 2.0], [3.0]])


def test_values_overflowing_float32_are_refused_when_converting():
    with pytest.raises(ValueError, match="too large for float32"):
        check_csr(sp.csr_matrix(np.array([[1e300, 0.0]])))
    X, _ = check_matrix(np.array([[1e300, 0.0]]))       # float64 kept: fine
    assert X.dtype == np.float64


def test_unsorted_rows_are_sorted_on_a_copy_and_duplicates_summed():
    X = _with(indices=[3, 1, 7, 7], data=np.array([1, 2, 3, 4], np.float32))
    before = X.indices.copy()
    C = check_csr(X)
    np.testing.assert_array_equal(C.indptr, [0, 2, 3])
    np.testing.assert_array_equal(C.indices, [1, 3, 7])
    np.testing.assert_array_equal(C.data, [2, 1, 7])
    np.testing.assert_array_equal(X.indices, before)            # the caller's matrix untouched
    assert C.has_canonical_format


def test_check_csr_returns_kernel_ready_arrays_and_copies_nothing_when_ready():
    X = _good_csr()
    C = check_csr(X)
    assert C.dtype == np.float32 and C.indices.dtype == np.int32 and C.indptr.dtype == np.int32
    assert np.shares_memory(C.data, X.data) and np.shares_memory(C.indices, X.indices)
    D = check_csr(np.array([[0, 2.5], [1, 0]], dtype=np.float64))
    assert sp.isspmatrix_csr(D) and D.dtype == np.float32 and D.indices.dtype == np.int32
    np.testing.assert_array_equal(D.toarray(), [[0, 2.5], [1, 0]])
    assert check_matrix(sp.csr_array(X.toarray()))[0].format == "csr"


def test_unused_storage_after_nnz_is_cut_off():
    X = sp.csr_matrix((np.ones(5, np.float32), np.array([0, 1, 2, 3, 99]), np.array([0, 2, 4])),
                      shape=(2, 50))                           # entry 5 is beyond indptr[-1]
    C = check_csr(X)
    assert C.indices.size == 4 and C.nnz == 4


def test_check_matrix_cost_is_linear_and_small():
    """The whole-structure check stays cheap: ~4M stored entries in well under a second."""
    rng = np.random.default_rng(0)
    n, d, per_row = 200_000, 10_000, 20
    indices = np.sort(rng.integers(0, d, size=(n, per_row)), axis=1)
    indices[:, 1:] += np.arange(1, per_row)    # strictly increasing within each row
    indices %= d
    indices.sort(axis=1)
    X = sp.csr_matrix((np.ones(n * per_row, np.float32), indices.ravel().astype(np.int32),
                       np.arange(0, n * per_row + 1, per_row, dtype=np.int32)), shape=(n, d))
    check_csr(X)                                 # warm up
    start = time.perf_counter()
    check_csr(X)
    assert time.perf_counter() - start < 1.0


# ----------------------------------------------------------------------------
# Class 1 through the public entry points of both backends, in a child process
# ----------------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np, scipy.sparse as sp
    import {backend} as slide

    def bad_matrices():
        yield "index past n_features", sp.csr_matrix(
            (np.ones(4, np.float32), np.array([0, 1, 2, 10**6]), np.array([0, 2, 4])),
            shape=(2, 50))
        yield "int64 2**40", sp.csr_matrix(
            (np.ones(4, np.float32), np.array([0, 1, 2, 2**40], np.int64), np.array([0, 2, 4])),
            shape=(2, 50), copy=False)
        X = sp.csr_matrix((np.ones(4, np.float32), np.array([0, 1, 2, 3]), np.array([0, 2, 4])),
                          shape=(2, 50))
        X.indices = np.array([0, 1, -5, 3])
        yield "negative index", X
        X = sp.csr_matrix((np.ones(4, np.float32), np.array([0, 1, 2, 3]), np.array([0, 2, 4])),
                          shape=(2, 50))
        X.indptr = np.array([0, 3, 2])
        yield "decreasing indptr", X

    def call(entry, X):
        if entry == "train_batch":
            net = slide.network.SlideNetwork(50, 40, hidden=(16,), lsh=dict(K=2, L=4), random_state=0,
                                             n_threads=1)
            net.train_batch(X, [[0], [1]])
        elif entry == "predict_topk":
            net = slide.network.SlideNetwork(50, 40, hidden=(16,), lsh=dict(K=2, L=4), random_state=0,
                                             n_threads=1)
            net.predict_topk(X, k=2)
        elif entry == "hash":
            slide.lsh.DWTAHash(50, K=2, L=4, random_state=0).hash(X, n_threads=1)
        elif entry == "tables_query":
            fam = slide.lsh.SimHash(50, K=2, L=4, random_state=0)
            tables = slide.lsh.LSHTables(fam, range_pow=4, random_state=0)
            tables.build(np.eye(50, dtype=np.float32), n_threads=1)
            tables.query(X, n_threads=1)
        elif entry == "sketch_insert":
            sk = slide.nwsketch.NWSketch(50, n_rows=4, n_buckets=64, random_state=0, n_threads=1)
            sk.insert(X, np.ones(2))
        elif entry == "classifier_fit":
            clf = slide.classifier.SlideClassifier(hidden=16, lsh=dict(K=2, L=4), batch_size=2,
                                                   random_state=0, n_threads=1,
                                                   show_progress=False)
            Y = sp.csr_matrix(np.eye(2, 40, dtype=np.float32))
            clf.fit(X, Y, epochs=1)

    results = []
    for case, X in bad_matrices():
        try:
            call("{entry}", X)
            results.append([case, None, ""])
        except Exception as exc:
            results.append([case, type(exc).__name__, str(exc)])
        print(json.dumps(results[-1]), flush=True)
""")

ENTRY_POINTS = ["train_batch", "predict_topk", "hash", "tables_query", "sketch_insert",
                "classifier_fit"]


def _run_child(code, timeout=120):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


@pytest.mark.parametrize("backend_name", ["slide_ref", "slide_fast"])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_bad_csr_through_public_entry_points_raises_in_both_backends(backend_name, entry):
    proc = _run_child(_CHILD.format(backend=backend_name, entry=entry))
    assert proc.returncode == 0, (
        f"child ended with {proc.returncode} (a negative code is a signal)\n"
        f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}")
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == 4
    for case, kind, message in results:
        assert kind == "ValueError", (case, kind, message)
        assert message.startswith("X"), (case, message)


# ----------------------------------------------------------------------------
# Class 2: labels and sample weights
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("Y, error, match", [
    ([[0.5], [1.7]], TypeError, r"Y\[0\] holds 0.5 \(float\); label ids must be integers"),
    ([[True], [0]], TypeError, "bool"),
    ([[0], [np.float64(1.0)]], TypeError, "float"),
    ([[0], ["1"]], TypeError, "str"),
    ([[0], [[1]]], TypeError, "list"),
    ([0, [1]], TypeError, r"Y\[0\] must be a list of label ids"),
    ([[0], [10**30]], ValueError, r"label id 1000000000000000000000000000000 outside \[0, 5\)"),
    ([[0], [2**63]], ValueError, "outside"),
    ([[0], [5]], ValueError, r"label id 5 outside \[0, 5\)"),
    ([[-1], [0]], ValueError, "label id -1"),
    ([[0]], ValueError, "has 1 rows, expected 2"),
    (np.array([0, 1.0]), TypeError, "must be integers"),
    (np.array([True, False]), TypeError, "must be integers"),
    (np.array([0, 2**64 - 1], np.uint64), ValueError, "outside"),
    (np.array([0, 7]), ValueError, r"label id 7 outside"),
    (np.zeros((2, 5)), TypeError, "dense 2-D"),
    (None, TypeError, "got NoneType"),
    (sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [-1, 0, 0, 0, 0]])), ValueError, "0/1 .* -1"),
    (sp.csr_matrix(np.array([[2, 0, 0, 0, 0], [0, 0, 0, 0, 0]])), ValueError, "0/1 .* 2"),
    (sp.csr_matrix(np.array([[np.nan, 0, 0, 0, 0], [0] * 5])), ValueError, "0/1"),
    (sp.csr_matrix(np.ones((2, 4))), ValueError, r"shape \(2, 4\), expected \(2, 5\)"),
    (sp.csr_matrix(np.eye(2, 5) + 0j), TypeError, "real numbers"),
])
def test_bad_labels_are_refused(Y, error, match):
    with pytest.raises(error, match=match):
        check_labels(Y, 2, 5)


def test_label_out_of_range_in_sparse_structure_is_refused():
    Y = sp.csr_matrix(np.eye(2, 5, dtype=np.float32))
    Y.indices = np.array([0, 10**6], dtype=Y.indices.dtype)
    with pytest.raises(ValueError, match="Y.indices"):
        check_labels(Y, 2, 5)


def test_good_labels_in_every_form_give_the_same_indicator():
    expected = np.array([[0, 1, 0, 1, 0], [1, 0, 0, 0, 0]], np.float32)
    forms = [[[3, 1, 1], [0]], ([np.int64(1), 3], (0,)), np.array([[1, 3], [0]], dtype=object),
             sp.csr_matrix(expected), sp.coo_matrix(expected), sp.csc_matrix(expected.astype(bool)),
             sp.csr_matrix((np.array([1, 0, 1, 1.0]), np.array([3, 2, 1, 0]), np.array([0, 3, 4])),
                           shape=(2, 5))]
    for Y in forms:
        out = check_labels(Y, 2, 5)
        np.testing.assert_array_equal(out.toarray(), expected)
        assert out.has_canonical_format and out.dtype == np.float32
        assert out.indices.dtype == np.int32
    np.testing.assert_array_equal(check_labels(np.array([1, 0]), 2, 5).indices, [1, 0])


def test_labels_through_train_batch_in_both_backends(backend):
    net = backend.network.SlideNetwork(20, 10, hidden=(8,), lsh=dict(K=2, L=2), random_state=0,
                                       n_threads=1)
    X = sp.csr_matrix(np.eye(2, 20, dtype=np.float32))
    for Y, error in [([[0.5], [1.7]], TypeError), ([[0], [10]], ValueError),
                     (sp.csr_matrix(np.array([[0] * 9 + [-1], [1] + [0] * 9])), ValueError)]:
        with pytest.raises(error, match="^Y"):
            net.train_batch(X, Y)


@pytest.mark.parametrize("w, error, match", [
    ([1.0, np.nan], ValueError, "finite and non-negative"),
    ([1.0, -1.0], ValueError, "finite and non-negative"),
    ([1.0], ValueError, r"shape \(1,\), expected \(2,\)"),
    ([[1.0, 1.0]], ValueError, "shape"),
    ([True, False], TypeError, "real numbers"),
    ([1 + 0j, 1], TypeError, "real numbers"),
    (["a", "b"], TypeError, "real numbers"),
    ("ab", TypeError, "must be an array"),
])
def test_bad_sample_weights_are_refused(w, error, match):
    with pytest.raises(error, match=f"^sample_weight.*{match}"):
        check_sample_weight(w, 2)


def test_sample_weight_defaults_and_conversion():
    np.testing.assert_array_equal(check_sample_weight(None, 3), np.ones(3))
    out = check_sample_weight(np.array([1, 2], np.int32), 2)
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0]


# ----------------------------------------------------------------------------
# Class 4: read_xc and write_xc
# ----------------------------------------------------------------------------

def test_read_xc_huge_header_parses_rows_correctly():
    """The issue's file: a (row * n_cols + id) key would overflow and move feature 3 to row 0."""
    X, Y = read_xc(io.BytesIO(b"3 4611686018427387904 2\n0 1:1\n1 2:2\n0 3:3\n"))
    assert X.shape == (3, 4611686018427387904)
    np.testing.assert_array_equal(X.indptr, [0, 1, 2, 3])
    np.testing.assert_array_equal(X.indices, [1, 2, 3])
    np.testing.assert_array_equal(X.data, [1, 2, 3])


def test_read_xc_huge_header_still_sorts_and_finds_duplicates():
    n = 2**63 - 1
    X, _ = read_xc(io.BytesIO(f"2 {n} 2\n0 {n - 1}:1 5:2\n1 3:3\n".encode()))
    np.testing.assert_array_equal(X.indices, [5, n - 1, 3])
    with pytest.raises(ValueError, match="line 2: duplicate feature id 5"):
        read_xc(io.BytesIO(f"1 {n} 2\n0 5:1 {n - 1}:1 5:2\n".encode()))


@pytest.mark.parametrize("byte", [b"\xa0", b"\x85", b"\x1c", b"\x1d", b"\x1e", b"\x1f", b"\x0b",
                                  b"\x00", b"\xe2"])
def test_read_xc_non_ascii_separators_are_errors_naming_the_line(byte):
    text = b"2 5 2\n0 1:1 2:2\n1 3:1" + byte + b"4:2\n"
    expected = rf"<file object>, line 3: unexpected byte 0x{byte[0]:02X}"
    with pytest.raises(ValueError, match=expected):
        read_xc(io.BytesIO(text))


@pytest.mark.parametrize("header, field", [
    (b"1 99999999999999999999 2", "n_features"), (b"1 2 18446744073709551616", "n_labels"),
    (b"99999999999999999999 2 2", "n_points"),
])
def test_read_xc_header_beyond_int64_is_a_value_error(tmp_path, header, field):
    path = tmp_path / "big.txt"
    path.write_bytes(header + b"\n0 1:1\n")
    with pytest.raises(ValueError, match=rf"big.txt, line 1: bad header: {field} .* int64"):
        read_xc(path)


@pytest.mark.parametrize("header, field", [(b"1 0 2", "n_features"), (b"1 2 0", "n_labels")])
def test_read_xc_header_zero_widths_are_refused(header, field):
    with pytest.raises(ValueError, match=rf"line 1: bad header: {field} must be >= 1"):
        read_xc(io.BytesIO(header + b"\n\n"))


def test_read_xc_corrupt_gzip_names_the_file(tmp_path):
    import gzip
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(gzip.compress(b"1 3 2\n0 1:1\n")[:-6])
    with pytest.raises(ValueError, match="cut.txt.gz: not a valid gzip file"):
        read_xc(path)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_write_xc_file_mode_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = tmp_path / f"data_{umask:o}.txt"
        write_xc(path, sp.csr_matrix(np.eye(2, 3)), [[0], [1]])
        assert new_file_mode() == 0o666 & ~umask
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~umask


# ----------------------------------------------------------------------------
# Class 6: threads and memory
# ----------------------------------------------------------------------------

def test_n_threads_above_the_usable_cpus_is_clamped_with_a_warning():
    n_cpus = _validation.available_cpus()
    with pytest.warns(RuntimeWarning, match=f"exceeds the {n_cpus} CPUs") as record:
        assert effective_n_threads(n_cpus + 1) == n_cpus
    assert record[0].filename == __file__          # attributed to the caller, not the library
    with pytest.warns(RuntimeWarning):
        assert effective_n_threads(10**9) == n_cpus
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert effective_n_threads(n_cpus) == n_cpus
        assert effective_n_threads(-1) == n_cpus
        assert effective_n_threads(-10**6) == 1


def test_omp_num_threads_above_the_usable_cpus_is_clamped(monkeypatch):
    n_cpus = _validation.available_cpus()
    monkeypatch.setenv("OMP_NUM_THREADS", str(n_cpus + 7))
    with pytest.warns(RuntimeWarning, match="OMP_NUM_THREADS"):
        assert effective_n_threads(None) == n_cpus


@pytest.mark.parametrize("value, error", [(0, ValueError), (1.5, TypeError), (True, TypeError),
                                          ("2", TypeError)])
def test_bad_n_threads_is_refused(value, error):
    with pytest.raises(error, match="n_threads"):
        effective_n_threads(value)


def test_huge_n_threads_does_not_kill_the_process():
    """Before the clamp, libgomp exited the whole process when it could not create the threads."""
    code = textwrap.dedent("""
        import warnings
        import numpy as np, slide_fast as slide
        warnings.simplefilter("ignore")
        fam = slide.lsh.SimHash(30, K=2, L=4, random_state=0)
        print(fam.hash(np.ones((64, 30), np.float32), n_threads=10**6).shape[0])
    """)
    proc = _run_child(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "64"


def test_check_allocation_refuses_with_both_sizes(monkeypatch):
    monkeypatch.setenv("SLIDE_MEMORY_LIMIT", str(2**30))
    assert _memory.available_memory() == 2**30
    assert check_allocation(2**29, "a small thing") == 2**29
    with pytest.raises(InsufficientMemoryError, match=r"^a network needs about 2 GiB but only "
                                                      r"1 GiB of memory is available$") as info:
        check_allocation(2**31, "a network")
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)
    assert (info.value.nbytes, info.value.available) == (2**31, 2**30)


def test_memory_limit_env_must_be_bytes(monkeypatch):
    monkeypatch.setenv("SLIDE_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="SLIDE_MEMORY_LIMIT must be a number of bytes"):
        _memory.available_memory()


def test_available_memory_is_positive_without_override(monkeypatch):
    monkeypatch.delenv("SLIDE_MEMORY_LIMIT", raising=False)
    available = _memory.available_memory()
    assert available is None or available > 0


def test_memory_estimates():
    # 1000 -> 128 -> 10**9 with Adam: 16 bytes per weight plus 12 for initialising the largest.
    out = 128 * 10**9 + 10**9
    first = 1000 * 128 + 128
    assert _memory.network_nbytes(1000, (128,), 10**9) == (first + out) * 16 + out * 12
    assert _memory.network_nbytes(1000, (128,), 10**9, optimizer="sgd") == \
        (first + out) * 8 + out * 12
    assert _memory.network_nbytes(10, [4], 3, bf16=2) == (44 + 15) * 18 + 44 * 12
    assert _memory.lsh_tables_nbytes(4, 30, 1000) == 4 * ((2**30 + 1) * 12 + 1000 * 4)
    assert _memory.lsh_tables_nbytes(2, 2, 1000, capacity=3) == 2 * (5 * 12 + 12 * 4)
    assert _memory.sketch_nbytes(10**6, 2**20) == 10**6 * 2**20 * 16
    assert _memory.array_nbytes((10**10, 10**10), np.float64) == 8 * 10**20   # no overflow


@pytest.mark.parametrize("nbytes_of, what", [
    (lambda: _memory.network_nbytes(100_000, (128,), 10**9), "a network with 10**9 outputs"),
    (lambda: _memory.lsh_tables_nbytes(50, 30, 10**6), "tables with range_pow=30"),
    (lambda: _memory.sketch_nbytes(10**6, 2**28), "a 3 TiB sketch"),
])
def test_issue_resource_examples_are_refused_before_allocating(nbytes_of, what):
    with pytest.raises(MemoryError, match=re.escape(what)):
        check_allocation(nbytes_of(), what)
