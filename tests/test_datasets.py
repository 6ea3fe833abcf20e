"""Tests of slide_ref.datasets: XC file format and the synthetic generator."""
import gzip
import io
import os

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from slide_ref import datasets as D


def _assert_csr_equal(A, B):
    assert A.shape == B.shape
    assert A.has_canonical_format and B.has_canonical_format
    assert_array_equal(A.indptr, B.indptr)
    assert_array_equal(A.indices, B.indices)
    # Bitwise, so -0.0 and the last float32 bit count.
    assert A.dtype == B.dtype
    assert_array_equal(A.data.view(np.uint8), B.data.view(np.uint8))


def _random_data(seed, n=60, n_features=30, n_labels=8, dtype=np.float32):
    rng = np.random.default_rng(seed)
    # Values over many magnitudes and signs.
    dense = rng.standard_normal((n, n_features)) * 10.0 ** rng.integers(-30, 30, (n, n_features))
    dense[rng.random((n, n_features)) > 0.2] = 0
    dense[5] = 0                                         # a point without features
    labels = (rng.random((n, n_labels)) < 0.3).astype(np.float32)
    labels[3] = 0                                        # a point without labels
    X = sp.csr_matrix(dense.astype(dtype))
    X.data[0] = -0.0                                     # a stored negative zero
    return X, sp.csr_matrix(labels)


def _write(tmp_path, text, name="data.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# ---------------------------------------------------------------------------
# Round trip
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["train.txt", "train.txt.gz"])
def test_round_trip_float32_exact(tmp_path, name):
    X, Y = _random_data(0)
    path = tmp_path / name
    D.write_xc(path, X, Y)
    X2, Y2 = D.read_xc(path)
    _assert_csr_equal(X2, X)
    _assert_csr_equal(Y2, Y)
    assert X2.indices.dtype == np.int32 and Y2.data.dtype == np.float32
    if name.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            assert f.readline() == b"60 30 8\n"


def test_round_trip_random_float32_bit_patterns(tmp_path):
    # Every finite float32, including subnormals, must survive the text form.
    rng = np.random.default_rng(1)
    values = rng.integers(0, 2**32, size=20000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    values = values[np.isfinite(values)][:19000]
    n = values.size // 10
    X = sp.csr_matrix((values[:n * 10], np.tile(np.arange(10), n), np.arange(0, n * 10 + 1, 10)),
                      shape=(n, 10))
    Y = sp.csr_matrix((n, 2), dtype=np.float32)
    D.write_xc(tmp_path / "bits.txt", X, Y)
    X2, _ = D.read_xc(tmp_path / "bits.txt")
    assert_array_equal(X2.data.view(np.uint32), X.data.view(np.uint32))


def test_round_trip_float64(tmp_path):
    X, Y = _random_data(2, dtype=np.float64)
    D.write_xc(tmp_path / "d.txt", X, Y)
    X2, Y2 = D.read_xc(tmp_path / "d.txt", dtype=np.float64)
    _assert_csr_equal(X2, X)
    _assert_csr_equal(Y2, Y)


def test_write_accepts_dense_x_and_label_lists(tmp_path):
    X = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, 0.25]], dtype=np.float32)
    D.write_xc(tmp_path / "a.txt", X, [[3, 0], []], n_labels=5)
    text = (tmp_path / "a.txt").read_text()
    # Labels sorted; a label-less point starts with a space.
    assert text == "2 3 5\n0,3 1:1.5\n 0:2 2:0.25\n"
    X2, Y2 = D.read_xc(tmp_path / "a.txt")
    assert_array_equal(X2.toarray(), X)
    assert_array_equal(Y2.toarray(), [[1, 0, 0, 1, 0], [0, 0, 0, 0, 0]])


def test_points_without_labels_or_features(tmp_path):
    text = ("5 6 4\n"
            " 0:1.5 3:2\n"          # leading space: no labels
            "1,2 4:1\n"
            "2:0.5 5:1e-3\n"        # no label token at all
            "\n"                    # neither labels nor features
            "3\n")                  # labels only
    X, Y = D.read_xc(_write(tmp_path, text))
    assert X.shape == (5, 6) and Y.shape == (5, 4)
    assert_array_equal(np.diff(Y.indptr), [0, 2, 0, 0, 1])
    assert_array_equal(np.diff(X.indptr), [2, 1, 2, 0, 0])
    assert X[2, 5] == np.float32(1e-3)
    assert_array_equal(Y.indices, [1, 2, 3])


def test_windows_line_endings_and_trailing_whitespace(tmp_path):
    text = "2 4 3\r\n0,2 1:0.5 3:2  \r\n 0:1\t\r\n\r\n"
    X, Y = D.read_xc(_write(tmp_path, text))
    assert_array_equal(X.toarray(), [[0, 0.5, 0, 2], [1, 0, 0, 0]])
    assert_array_equal(Y.toarray(), [[1, 0, 1], [0, 0, 0]])


def test_unsorted_ids_are_sorted(tmp_path):
    X, Y = D.read_xc(_write(tmp_path, "1 5 5\n4,1 3:3 0:1 2:2\n"))
    assert_array_equal(X.indices, [0, 2, 3])
    assert_array_equal(X.data, [1, 2, 3])
    assert_array_equal(Y.indices, [1, 4])
    assert X.has_canonical_format and Y.has_canonical_format


def test_file_objects(tmp_path):
    text = "1 3 2\n1 2:0.5\n"
    X, Y = D.read_xc(io.StringIO(text))
    assert X[0, 2] == 0.5 and Y[0, 1] == 1
    X, Y = D.read_xc(io.BytesIO(text.encode()))
    assert X.nnz == 1
    with pytest.raises(ValueError, match="<file object>, line 2"):
        D.read_xc(io.StringIO("1 3 2\n1 7:0.5\n"))


def test_zero_points(tmp_path):
    X, Y = D.read_xc(_write(tmp_path, "0 4 3\n"))
    assert X.shape == (0, 4) and Y.shape == (0, 3)


def test_blank_lines_after_the_last_point_are_ignored(tmp_path):
    X, _ = D.read_xc(_write(tmp_path, "1 3 2\n0 1:1\n\n  \n"))
    assert X.shape == (1, 3)


# ---------------------------------------------------------------------------
# Malformed files: the message names the file and the 1-based line
# ---------------------------------------------------------------------------

GOOD = "0,1 0:1 2:0.5\n"          # a valid line 2 before the bad line 3

MALFORMED = [
    ("", 1, "empty file"),
    ("\n", 1, "empty file"),
    ("3 5\n", 1, "bad header"),
    ("3 5 x\n", 1, "bad header"),
    ("3 -5 2\n", 1, "bad header"),
    ("2 5 3\n" + GOOD + "1 2:x\n", 3, "bad feature value 'x'"),
    ("2 5 3\n" + GOOD + "1 2:0.5 3\n", 3, "bad feature token '3'"),
    ("2 5 3\n" + GOOD + "1 2:0.5:1\n", 3, "bad feature token"),
    ("2 5 3\n" + GOOD + "1 2:\n", 3, "bad feature value ''"),
    ("2 5 3\n" + GOOD + "1 1.5:2\n", 3, "non-integer feature id '1.5'"),
    ("2 5 3\n" + GOOD + "a 1:2\n", 3, "non-integer label id 'a'"),
    ("2 5 3\n" + GOOD + "1,,2 1:2\n", 3, "non-integer label id ''"),
    ("2 5 3\n" + GOOD + "1 -1:2\n", 3, "negative feature id -1"),
    ("2 5 3\n" + GOOD + "-2 1:2\n", 3, "negative label id -2"),
    ("2 5 3\n" + GOOD + "1 5:2\n", 3, "feature id 5 out of range"),
    ("2 5 3\n" + GOOD + "3 1:2\n", 3, "label id 3 out of range"),
    ("2 5 3\n" + GOOD + "1 1:nan\n", 3, "not finite"),
    ("2 5 3\n" + GOOD + "1 1:-inf\n", 3, "not finite"),
    ("2 5 3\n" + GOOD + "1 1:1e39\n", 3, "overflows float32"),
    ("2 5 3\n" + GOOD + "1 1:2 1:3\n", 3, "duplicate feature id 1"),
    ("2 5 3\n" + GOOD + "1,0,1 1:2\n", 3, "duplicate label id 1"),
    ("3 5 3\n" + GOOD + GOOD, 4, "file ends after 2 data lines"),
    ("1 5 3\n" + GOOD + GOOD, 3, "more data lines"),
    ("2 5 3\n" + GOOD + "1 1:2\n" + "1 1:2\n", 4, "more data lines"),
]


@pytest.mark.parametrize("text, line, problem", MALFORMED)
def test_malformed_file_messages(tmp_path, text, line, problem):
    path = _write(tmp_path, text, name="bad_file.txt")
    with pytest.raises(ValueError) as info:
        D.read_xc(path)
    message = str(info.value)
    assert str(path) in message
    assert f"line {line}:" in message
    assert problem in message


def test_error_found_after_many_good_lines(tmp_path):
    # The vectorised parser finds the problem; the line checker locates it.
    lines = ["1 0:0.5 3:1"] * 500
    lines[417] = "1 0:0.5 3:1 0:2"
    path = _write(tmp_path, "500 4 2\n" + "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"line 419: duplicate feature id 0"):
        D.read_xc(path)


def test_read_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="dtype"):
        D.read_xc(_write(tmp_path, "0 1 1\n"), dtype=np.int32)
    with pytest.raises(TypeError, match="path"):
        D.read_xc(123)
    with pytest.raises(FileNotFoundError):
        D.read_xc(tmp_path / "missing.txt")


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def test_write_refuses_to_overwrite(tmp_path):
    X, Y = _random_data(3)
    path = tmp_path / "out.txt"
    D.write_xc(path, X, Y)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="out.txt"):
        D.write_xc(path, X[:5], Y[:5])
    assert path.read_bytes() == before
    D.write_xc(path, X[:5], Y[:5], overwrite=True)
    assert D.read_xc(path)[0].shape[0] == 5
    assert os.listdir(tmp_path) == ["out.txt"]          # no temporary file left


def test_write_crash_leaves_old_file_intact(tmp_path, monkeypatch):
    X, Y = _random_data(4)
    path = tmp_path / "out.txt"
    D.write_xc(path, X, Y)
    before = path.read_bytes()

    def failing_lines(X, Y):
        yield b"1 1:1\n"
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(D, "_format_lines", failing_lines)
    with pytest.raises(RuntimeError, match="disk on fire"):
        D.write_xc(path, X, Y, overwrite=True)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.txt"]


def test_write_validates_inputs(tmp_path):
    X, Y = _random_data(5)
    path = tmp_path / "x.txt"
    with pytest.raises(ValueError, match="rows"):
        D.write_xc(path, X, Y[:10])
    with pytest.raises(ValueError, match="0/1"):
        D.write_xc(path, X, Y * 2)
    bad = X.copy()
    bad.data[1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        D.write_xc(path, bad, Y)
    with pytest.raises(ValueError, match="repeats"):
        D.write_xc(path, X[:2], [[1, 1], [0]])
    with pytest.raises(ValueError, match=">= 0"):
        D.write_xc(path, X[:2], [[-1], [0]])
    with pytest.raises(ValueError, match="n_labels"):
        D.write_xc(path, X[:2], [[7], [0]], n_labels=3)
    with pytest.raises(TypeError, match="file object"):
        D.write_xc(io.StringIO(), X, Y)
    assert not path.exists()


def test_write_refuses_ids_beyond_the_header_range(tmp_path):
    """The header holds n_labels <= 2**63 - 1: larger ids or counts are refused by name
    (an id of 2**63 - 1 used to end in a bare OverflowError)."""
    X = np.ones((1, 3))
    path = tmp_path / "x.txt"
    with pytest.raises(ValueError, match=r"Y\[0\] label"):
        D.write_xc(path, X, [[2**63 - 1]])
    with pytest.raises(ValueError, match="n_labels"):
        D.write_xc(path, X, [[1]], n_labels=2**64)
    assert not path.exists()
    D.write_xc(path, X, [[2**63 - 2]])
    assert D.read_xc(path)[1].shape == (1, 2**63 - 1)


# ---------------------------------------------------------------------------
# Synthetic data
# ---------------------------------------------------------------------------

def test_make_xc_shapes_and_format():
    X, Y, Xt, Yt = D.make_xc(500, 300, 50, n_test=100, labels_per_sample=2.5, random_state=0)
    assert X.shape == (500, 300) and Y.shape == (500, 50)
    assert Xt.shape == (100, 300) and Yt.shape == (100, 50)
    for M in (X, Y, Xt, Yt):
        assert sp.isspmatrix_csr(M) and M.dtype == np.float32 and M.has_canonical_format
        assert M.indices.dtype == np.int32
    assert_array_equal(Y.data, 1)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    assert (X.data > 0).all()
    labels_per_row = np.diff(Y.indptr)
    assert labels_per_row.min() >= 1
    assert abs(labels_per_row.mean() - 2.5) < 0.2


def test_make_xc_single_label():
    X, Y = D.make_xc(300, 200, 40, random_state=1)
    assert_array_equal(np.diff(Y.indptr), 1)


def test_make_xc_deterministic():
    a = D.make_xc(400, 200, 30, n_test=50, labels_per_sample=2, label_noise=0.3, random_state=7)
    b = D.make_xc(400, 200, 30, n_test=50, labels_per_sample=2, label_noise=0.3,
                  random_state=np.random.default_rng(7))
    for A, B in zip(a, b):
        _assert_csr_equal(A, B)
    c = D.make_xc(400, 200, 30, n_test=50, labels_per_sample=2, label_noise=0.3, random_state=8)
    assert (a[0] != c[0]).nnz > 0 and (a[1] != c[1]).nnz > 0


def test_make_xc_train_split_independent_of_n_test():
    X, Y = D.make_xc(300, 100, 20, random_state=3)
    X2, Y2, _, _ = D.make_xc(300, 100, 20, n_test=40, random_state=3)
    _assert_csr_equal(X, X2)
    _assert_csr_equal(Y, Y2)


def test_make_xc_power_law():
    _, Y = D.make_xc(20000, 500, 1000, power=1.0, prototype_size=5, noise_features=0,
                     random_state=0)
    counts = D.label_frequencies(Y)
    assert counts.dtype == np.int64 and counts.sum() == 20000
    # Rank 0 has probability 1/H_1000 ~ 0.13; rank 500 about 500 times less.
    assert counts.max() / 20000 > 0.1
    assert counts.max() > 50 * max(np.median(counts), 1)
    # Label ids are shuffled: the most frequent label is not id 0 for every seed.
    tops = {int(np.argmax(D.label_frequencies(D.make_xc(2000, 50, 100, prototype_size=2,
                                                         random_state=s)[1])))
            for s in range(4)}
    assert tops != {0}
    # power=0: uniform frequencies.
    _, Y0 = D.make_xc(20000, 500, 100, power=0.0, prototype_size=5, random_state=0)
    counts0 = D.label_frequencies(Y0)
    assert counts0.max() < 2 * counts0.min()


def _nearest_centroid_accuracy(X, Y, X_test, Y_test):
    """Top-1 accuracy of a cosine nearest-centroid classifier (single-label data)."""
    y = Y.indices
    centroids = sp.csr_matrix((np.ones(y.size), (y, np.arange(y.size))),
                              shape=(Y.shape[1], y.size)) @ X
    centroids = centroids.toarray()
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    centroids /= np.where(norms > 0, norms, 1.0)
    predicted = np.asarray((X_test @ centroids.T).argmax(axis=1)).ravel()
    return np.mean(predicted == Y_test.indices)


def test_make_xc_is_learnable_and_label_noise_is_a_control():
    params = dict(n_samples=5000, n_features=2000, n_labels=200, n_test=2000, random_state=0)
    X, Y, Xt, Yt = D.make_xc(**params)
    baseline = np.mean(Yt.indices == np.argmax(D.label_frequencies(Y)))
    accuracy = _nearest_centroid_accuracy(X, Y, Xt, Yt)
    assert baseline < 0.25
    assert accuracy > 0.8 > baseline + 0.5
    # All training labels replaced: nothing left to learn.
    Xn, Yn, Xnt, Ynt = D.make_xc(**params, label_noise=1.0)
    _assert_csr_equal(Xn, X)                       # features unchanged
    noisy = _nearest_centroid_accuracy(Xn, Yn, Xnt, Ynt)
    assert noisy < baseline + 0.05


def test_make_xc_label_noise_fraction():
    _, Y = D.make_xc(1000, 100, 50, random_state=2)
    _, Yn = D.make_xc(1000, 100, 50, label_noise=0.3, random_state=2)
    changed = np.mean(Y.indices != Yn.indices)
    # 300 samples get new labels; a few draw their old label again by chance.
    assert 0.2 < changed <= 0.3


def test_make_xc_many_labels_per_sample_relative_to_n_labels():
    _, Y = D.make_xc(200, 50, 6, labels_per_sample=5, power=2.0, random_state=0)
    rows = np.repeat(np.arange(200), np.diff(Y.indptr))
    assert np.all(np.diff(Y.indices)[rows[1:] == rows[:-1]] > 0)   # distinct, sorted
    assert np.diff(Y.indptr).max() <= 6


def test_make_xc_dense_prototypes():
    # prototype_size close to n_features takes the permutation path.
    X, _ = D.make_xc(100, 12, 5, prototype_size=10, keep_prob=1.0, noise_features=0,
                     random_state=0)
    assert_array_equal(np.diff(X.indptr), 10)


@pytest.mark.slow
def test_make_xc_amazon_sized_label_set():
    X, Y = D.make_xc(20000, 10000, 670_000, labels_per_sample=5, random_state=0)
    assert Y.shape == (20000, 670_000)
    assert X.nnz > 0


@pytest.mark.parametrize("kwargs, error", [
    (dict(n_samples=0), ValueError),
    (dict(n_samples=1.5), TypeError),
    (dict(n_features=0), ValueError),
    (dict(n_labels=0), ValueError),
    (dict(n_test=-1), ValueError),
    (dict(labels_per_sample=0.5), ValueError),
    (dict(labels_per_sample=11, n_labels=10), ValueError),
    (dict(power=-1.0), ValueError),
    (dict(prototype_size=0), ValueError),
    (dict(prototype_size=101, n_features=100), ValueError),
    (dict(keep_prob=0.0), ValueError),
    (dict(keep_prob=1.5), ValueError),
    (dict(noise_features=-1), ValueError),
    (dict(label_noise=1.1), ValueError),
    (dict(label_noise=np.nan), ValueError),
    (dict(random_state="seed"), TypeError),
])
def test_make_xc_rejects_bad_parameters(kwargs, error):
    params = dict(n_samples=10, n_features=100, n_labels=10)
    params.update(kwargs)
    with pytest.raises(error):
        D.make_xc(**params)


def test_label_frequencies():
    Y = sp.csr_matrix(np.array([[1, 0, 1], [0, 0, 1], [0, 0, 0]]))
    assert_array_equal(D.label_frequencies(Y), [1, 0, 2])
    assert_array_equal(D.label_frequencies(Y.toarray()), [1, 0, 2])
    assert D.label_frequencies(Y).dtype == np.int64
