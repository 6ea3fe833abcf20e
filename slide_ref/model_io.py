"""The one file format of saved models and sketches, written safely and read defensively.

A file is an ``.npz`` archive (a zip of ``.npy`` members) with a JSON document in
the member ``__meta__`` and numeric arrays in the others.  ``SlideClassifier``
and ``NWSketch`` both save and load through this module.

Writing (:func:`save_npz_atomic`): a temporary file in the target directory,
fsync, rename, fsync of the directory; the temporary file is removed on any
failure (``KeyboardInterrupt`` included); the final mode follows the umask like
a file made by ``open()``; an existing file is replaced only when asked.

Reading (:class:`NpzReader`) trusts nothing in the file, in this order:

1. the archive itself (a ``.npy`` or a non-zip file gets a clear error);
2. the metadata: size and nesting depth of the JSON bounded, then every field
   checked against a schema (:class:`Record`, :class:`Int`, ...);
3. sizes: the caller turns the metadata into a memory estimate
   (:func:`check_memory`) and into bounds on the bytes the members may declare
   (:meth:`NpzReader.check_declared_bytes`), all before any array is read;
4. each member: its ``.npy`` header (numeric dtype, shape, consistency with the
   size the zip directory declares) before its data, and the data read as a
   stream that stops at the declared size (a member that would inflate further
   is never decompressed past it).

Every problem is a :class:`slide_ref._validation.StateError` (a ``ValueError``)
whose message starts with the file and the field at fault.
"""
import io
import json
import math
import numbers
import os
import re
import secrets
import zipfile

import numpy as np

from ._memory import available_memory
from ._validation import StateError

__all__ = ["save_npz_atomic", "NpzReader", "check_memory",
           "format_bytes", "Int", "Real", "Str", "Bool", "Null", "OneOf", "ListOf", "MapOf",
           "Record", "AnyJSON", "META", "parse_json_bounded", "check_finite"]

META = "__meta__"
#: largest metadata document read, in characters (a long training history is ~1 MB)
MAX_META_CHARS = 16 * 2**20
#: deepest nesting of JSON arrays and objects accepted in the metadata
MAX_JSON_DEPTH = 32
#: numpy dtype kinds a member may hold: bool, signed, unsigned, float
NUMERIC_KINDS = "biuf"
_READ_CHUNK = 16 * 2**20


# ============================================================================ memory
def format_bytes(n):
    """``n`` bytes in a readable unit (``"3.0 TiB"``)."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def check_memory(nbytes, what, error):
    """Refuse an allocation of about ``nbytes`` that memory cannot hold.

    ``error(message)`` builds the exception raised (a ``ValueError`` naming the
    argument, or a :class:`StateError` naming the file and field); the message
    gives the estimate and the memory available.  Unknown available memory
    refuses nothing.
    """
    available = available_memory()
    if available is not None and nbytes > available:
        raise error(f"{what} needs about {format_bytes(nbytes)}, more than the "
                    f"{format_bytes(available)} of memory available")


# ============================================================================ writing
def check_path(path, name="path"):
    """``path`` as a ``str`` file name: TypeError for what is not a path, ValueError naming
    ``name`` for a name no file can have (an embedded NUL byte)."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"{name} must be a str or path-like, got {type(path).__name__}") \
            from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if "\0" in path:
        raise ValueError(f"{name} contains a NUL byte: {path!r}")
    return path


def save_npz_atomic(path, payload, *, overwrite=True):
    """Write ``payload`` (name -> array) to ``path`` as an ``.npz``, all or nothing.

    The data goes to a temporary file in the same directory, which is flushed
    to disk (fsync) and renamed over ``path``; the directory is then synced so
    the rename survives a crash.  The temporary file is removed on any failure,
    including ``KeyboardInterrupt``.  The file's mode follows the umask
    (``0o666 & ~umask``, as ``open()`` gives).  With ``overwrite=False`` an
    existing ``path`` raises ``FileExistsError`` and is never replaced.

    Returns ``path``.
    """
    path = check_path(path)
    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    directory = os.path.dirname(os.path.abspath(path))
    tmp, fd = _create_temp(directory, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_payload(fh, payload)
            fh.flush()
            os.fsync(fh.fileno())
        _publish(tmp, path, overwrite)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_directory(directory)
    return path


def _create_temp(directory, name):
    """A new file next to the target; created with mode 0o666 so the umask applies."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")


def _write_payload(fh, payload):
    np.savez(fh, **payload)


def _publish(tmp, path, overwrite):
    """Move the finished temporary file to ``path``."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:                # a hard link fails if path exists: no window for a race
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it") from None
    except OSError:     # file systems without hard links
        if os.path.exists(path):
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _remove_quietly(tmp):
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:     # e.g. platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:     # some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


# ============================================================================ metadata schema
class _Spec:
    """A type rule for one JSON value; ``check`` returns the value or raises StateError."""

    def check(self, value, source, field):
        raise NotImplementedError

    def _fail(self, value, source, field, expected):
        raise StateError(source, field, f"expected {expected}, got {_describe(value)}")


def _describe(value):
    if _is_json_scalar(value):
        return f"{_json_type(value)} {json.dumps(value)[:60]}"
    return _json_type(value)


def _is_json_scalar(value):
    return value is None or isinstance(value, (bool, int, float, str))


def _json_type(value):
    names = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string",
             list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


class Int(_Spec):
    """An integer (not a boolean) in ``[low, high]``."""

    def __init__(self, low=None, high=None):
        self.low, self.high = low, high

    def check(self, value, source, field):
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail(value, source, field, "an integer")
        if (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high):
            raise StateError(source, field, f"{value} is outside [{self.low}, {self.high}]")
        return value


class Real(_Spec):
    """A number; ``finite`` refuses NaN and infinities; ``low`` (inclusive unless
    ``low_open``) and ``high`` (inclusive) bound it."""

    def __init__(self, low=None, finite=True, low_open=False, high=None):
        self.low, self.finite, self.low_open, self.high = low, finite, low_open, high

    def check(self, value, source, field):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._fail(value, source, field, "a number")
        if self.finite and not math.isfinite(value):
            raise StateError(source, field, f"must be finite, got {value}")
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise StateError(source, field, f"must be {'>' if self.low_open else '>='} "
                                            f"{self.low}, got {value}")
        if self.high is not None and value > self.high:
            raise StateError(source, field, f"must be <= {self.high}, got {value}")
        return value


class Str(_Spec):
    """A string, one of ``choices`` when given."""

    def __init__(self, choices=None, max_len=1000):
        self.choices, self.max_len = choices, max_len

    def check(self, value, source, field):
        if not isinstance(value, str):
            self._fail(value, source, field, "a string")
        if len(value) > self.max_len:
            raise StateError(source, field, f"string of {len(value)} characters is too long")
        if self.choices is not None and value not in self.choices:
            raise StateError(source, field, f"{value!r} is not one of {sorted(self.choices)}")
        return value


class Bool(_Spec):
    def check(self, value, source, field):
        if not isinstance(value, bool):
            self._fail(value, source, field, "a boolean")
        return value


class Null(_Spec):
    def check(self, value, source, field):
        if value is not None:
            self._fail(value, source, field, "null")
        return value


class OneOf(_Spec):
    """The first of ``specs`` the value satisfies."""

    def __init__(self, *specs, expected):
        self.specs, self.expected = specs, expected

    def check(self, value, source, field):
        for spec in self.specs:
            try:
                return spec.check(value, source, field)
            except StateError:
                continue
        self._fail(value, source, field, self.expected)


class ListOf(_Spec):
    """A JSON array of at most ``max_len`` items, each satisfying ``item``."""

    def __init__(self, item, max_len=10**6):
        self.item, self.max_len = item, max_len

    def check(self, value, source, field):
        if not isinstance(value, list):
            self._fail(value, source, field, "an array")
        if len(value) > self.max_len:
            raise StateError(source, field, f"array of {len(value)} items, at most "
                                            f"{self.max_len} allowed")
        return [self.item.check(v, source, f"{field}[{i}]") for i, v in enumerate(value)]


class MapOf(_Spec):
    """A JSON object whose values all satisfy ``value``."""

    def __init__(self, value):
        self.value = value

    def check(self, value, source, field):
        if not isinstance(value, dict):
            self._fail(value, source, field, "an object")
        return {k: self.value.check(v, source, f"{field}.{k}") for k, v in value.items()}


class Record(_Spec):
    """A JSON object with the listed ``fields`` (name -> spec).

    Names in ``optional`` may be absent.  Other keys are refused when ``extra``
    is False, kept unchecked when it is True (the constructor they go to checks
    them), and checked against ``extra`` when it is a spec.
    """

    def __init__(self, fields, optional=(), extra=False):
        self.fields, self.optional, self.extra = fields, set(optional), extra

    def check(self, value, source, field):
        if not isinstance(value, dict):
            self._fail(value, source, field, "an object")
        out = {}
        for name, item in value.items():
            path = f"{field}.{name}" if field else name
            spec = self.fields.get(name, self.extra)
            if spec is False:
                raise StateError(source, path, "unknown field")
            out[name] = item if spec is True else spec.check(item, source, path)
        for name in self.fields:
            if name not in value and name not in self.optional:
                raise StateError(source, f"{field}.{name}" if field else name, "missing")
        return out


class AnyJSON(_Spec):
    """Any JSON value (its depth and size are bounded when the document is parsed)."""

    def check(self, value, source, field):
        return value


def parse_json_bounded(text, source, field=META):
    """Parse a JSON document whose size and nesting depth are bounded first.

    A deep document would otherwise exhaust the recursion limit of the parser.
    """
    if len(text) > MAX_META_CHARS:
        raise StateError(source, field, f"{len(text)} characters of metadata, at most "
                                        f"{MAX_META_CHARS} allowed")
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise StateError(source, field, f"JSON nested {depth} levels deep, at most "
                                        f"{MAX_JSON_DEPTH} allowed")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise StateError(source, field, f"not valid JSON ({exc})") from None


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _json_depth(text):
    """Deepest bracket nesting outside strings (vectorized: metadata can be megabytes)."""
    code = _JSON_STRING.sub('""', text).encode("utf-8", "surrogatepass")
    chars = np.frombuffer(code, dtype=np.uint8)
    steps = (np.isin(chars, (ord("["), ord("{"))).astype(np.int64)
             - np.isin(chars, (ord("]"), ord("}"))))
    return int(np.cumsum(steps).max()) if steps.size else 0


# ============================================================================ reading
class NpzReader:
    """A saved ``.npz`` file opened for checked reading (a context manager).

    Parameters
    ----------
    path : str or path-like
    kind : str
        What the file should be ("slide model"), for the messages.
    """

    def __init__(self, path, kind):
        self.path, self.kind = check_path(path), kind
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"no {kind} file at {self.path}")
        if os.path.isdir(self.path):
            raise self._error("file", f"is a directory, not a {kind} file")
        self._zip = self._open_zip()
        self.members = self._index_members()

    def _error(self, field, message):
        return StateError(self.path, field, message)

    def _open_zip(self):
        with open(self.path, "rb") as fh:
            magic = fh.read(6)
        if magic == b"\x93NUMPY":
            raise self._error("file", f"not a {self.kind} file: it is a single .npy array, "
                                      "not an .npz archive")
        try:
            return zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise self._error("file", f"not a {self.kind} file (not a readable zip archive: "
                                      f"{exc})") from None

    def _index_members(self):
        """Member name (without ``.npy``) -> ZipInfo; duplicates and directories refused."""
        members = {}
        for info in self._zip.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.is_dir() or not info.filename.endswith(".npy"):
                raise self._error(info.filename, "not an .npy member")
            if name in members:
                raise self._error(name, "member appears twice in the archive")
            members[name] = info
        return members

    def close(self):
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----------------------------------------------------------------- metadata
    def read_meta(self, schema, expected_format):
        """The ``__meta__`` document, checked against ``schema`` (a :class:`Record`).

        Its ``format`` field must equal ``expected_format``.
        """
        if META not in self.members:
            raise self._error(META, f"not a {self.kind} file: it has no {META} member")
        arr = self.read(META, kinds="U", max_bytes=4 * MAX_META_CHARS)
        if arr.shape != ():
            raise self._error(META, f"expected a single string, got shape {arr.shape}")
        meta = parse_json_bounded(str(arr[()]), self.path)
        if not isinstance(meta, dict):
            raise self._error(META, f"expected a JSON object, got {_json_type(meta)}")
        fmt = meta.get("format")
        if fmt != expected_format:
            raise self._error("format", f"not a {self.kind} file: format {fmt!r}, expected "
                                        f"{expected_format!r}")
        return schema.check(meta, self.path, "")

    # ----------------------------------------------------------------- sizes
    def declared_bytes(self, names):
        """Total uncompressed size the zip directory declares for ``names``."""
        return sum(self.members[n].file_size for n in names)

    def check_declared_bytes(self, names, *, at_least=0, at_most=None, what="the arrays",
                             field=META):
        """Refuse before reading when the declared sizes contradict the metadata.

        ``at_least``: bytes the metadata implies must be stored; ``at_most``: an
        upper bound the metadata implies; ``field``: the metadata field the sizes
        come from.  Returns the declared total.
        """
        total = self.declared_bytes(names)
        if total < at_least:
            raise self._error(field, f"the metadata implies at least {format_bytes(at_least)} "
                                    f"of {what}, the file holds {format_bytes(total)}")
        if at_most is not None and total > at_most:
            largest = max(names, key=lambda n: self.members[n].file_size)
            raise self._error(field, f"the file declares {format_bytes(total)} of {what}, more "
                                    f"than the {format_bytes(at_most)} its metadata allows "
                                    f"(largest member: {largest}, "
                                    f"{format_bytes(self.members[largest].file_size)})")
        return total

    # ----------------------------------------------------------------- arrays
    def header(self, name, kinds=NUMERIC_KINDS):
        """``(dtype, shape, fortran_order)`` of a member, checked, without reading its data."""
        info = self._member(name)
        with self._open(info) as fh:
            return self._read_header(fh, name, info, kinds)[:3]

    def read(self, name, *, shape=None, kinds=NUMERIC_KINDS, max_bytes=None):
        """Read one member as an array after checking its header.

        Parameters
        ----------
        name : str
            Member name without ``.npy``.
        shape : tuple, optional
            The shape the metadata implies; anything else is refused unread.
        kinds : str
            Accepted dtype kinds (numeric by default: complex, object, strings,
            structured and datetime arrays are refused).
        max_bytes : int, optional
            Largest data size accepted for this member.
        """
        info = self._member(name)
        with self._open(info) as fh:
            dtype, mshape, fortran, nbytes = self._read_header(fh, name, info, kinds)
            if shape is not None and tuple(mshape) != tuple(shape):
                raise self._error(name, f"has shape {tuple(mshape)}, expected {tuple(shape)}")
            if max_bytes is not None and nbytes > max_bytes:
                raise self._error(name, f"declares {format_bytes(nbytes)} of data, at most "
                                        f"{format_bytes(max_bytes)} allowed")
            check_memory(nbytes, f"member {name}", lambda msg: self._error(name, msg))
            return self._read_data(fh, name, dtype, mshape, fortran, nbytes)

    def _member(self, name):
        if name not in self.members:
            raise self._error(name, "missing")
        return self.members[name]

    def _open(self, info):
        try:
            return self._zip.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError,
                ValueError, EOFError) as exc:
            raise self._error(info.filename[:-4], f"unreadable zip member ({exc})") from None

    def _read_header(self, fh, name, info, kinds):
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            header_len = fh.tell()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:   # the stream, not the header
            raise self._error(name, f"corrupt data ({exc})") from None
        except (ValueError, TypeError, SyntaxError, OverflowError, KeyError,
                io.UnsupportedOperation) as exc:
            raise self._error(name, f"bad .npy header ({exc})") from None
        self._check_dtype(name, dtype, kinds)
        if any(not isinstance(d, numbers.Integral) or d < 0 for d in shape):
            raise self._error(name, f"bad shape {shape}")
        nbytes = math.prod(int(d) for d in shape) * dtype.itemsize
        if info.file_size != header_len + nbytes:
            raise self._error(name, f"header declares {format_bytes(nbytes)} of data but the "
                                    f"archive declares {format_bytes(info.file_size - header_len)}")
        return dtype, tuple(int(d) for d in shape), fortran, nbytes

    def _check_dtype(self, name, dtype, kinds):
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None \
                or dtype.kind not in kinds:
            wanted = "numbers" if kinds == NUMERIC_KINDS else "a string"
            raise self._error(name, f"dtype {dtype} refused: the member must hold {wanted}")

    def _read_data(self, fh, name, dtype, shape, fortran, nbytes):
        """Stream the data into a new array; the stream ends at the declared size."""
        arr = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
        view = memoryview(arr.reshape(-1).view(np.uint8)) if nbytes else memoryview(b"")
        done = 0
        try:
            while done < nbytes:
                chunk = fh.read(min(_READ_CHUNK, nbytes - done))
                if not chunk:
                    break
                view[done:done + len(chunk)] = chunk
                done += len(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise self._error(name, f"corrupt data ({exc})") from None
        if done != nbytes:
            raise self._error(name, f"truncated: {done} of {nbytes} bytes")
        return arr.T if fortran else arr


def check_finite(arr, source, field):
    """Refuse NaN and infinite values in a float array."""
    if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
        raise StateError(source, field, "contains NaN or infinite values")
    return arr
