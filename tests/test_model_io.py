"""Saving and loading models and sketches: atomic writes, and crafted files refused with a
StateError that names the file and the field, in both backends."""
import functools
import io
import json
import os
import stat
import struct
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import slide_fast
import slide_ref
from slide_ref import model_io
from slide_ref._validation import StateError


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def xc(tiny_xc):
    return tiny_xc


def fitted(backend, xc, **kw):
    X, Y, _, _ = xc
    params = dict(hidden=16, lsh=dict(K=3, L=6, min_active=20, fill_below=30), batch_size=100,
                  random_state=0, show_progress=False, n_threads=1)
    params.update(kw)
    return backend.SlideClassifier(**params).fit(X, Y)


def sketch(backend, family="pstable"):
    sk = backend.nwsketch.NWSketch(20, n_rows=6, n_buckets=32, family=family, key_dim=8,
                                   random_state=1)
    rng = np.random.default_rng(0)
    return sk.insert(rng.standard_normal((50, 20)), rng.random(50))


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, xc):
    return fitted(slide_fast, xc).save(tmp_path_factory.mktemp("model") / "m.npz")


@pytest.fixture(scope="module")
def sketch_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sketch")
    return {f: sketch(slide_fast, f).save(d / f"{f}.npz") for f in ("pstable", "srp")}


def loader(backend, what):
    return backend.SlideClassifier.load if what == "model" else backend.nwsketch.NWSketch.load


def assert_refused(load, path, field, match=None):
    """``load(path)`` raises StateError whose message leads with the file and ``field``."""
    with pytest.raises(StateError) as info:
        load(path)
    err = info.value
    assert err.source == os.fspath(path) and err.field == field, str(err)
    assert str(err).startswith(f"{os.fspath(path)}: {field}: ")
    if match is not None:
        assert match in str(err), str(err)
    return err


# ----------------------------------------------------------------------------- crafting
def members_of(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename[:-4]: zf.read(info) for info in zf.infolist()}


def npy(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def load_npy(raw):
    return np.load(io.BytesIO(raw), allow_pickle=False)


def write_members(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, raw in members.items():
            zf.writestr(name + ".npy", raw)
    return path


def meta_of(members):
    return json.loads(str(load_npy(members["__meta__"])[()]))


def crafted(src, dst, edit_meta=None, meta=None):
    """A copy of ``src`` with its metadata edited (``edit_meta(meta)``) or replaced
    (``meta``: an array or raw .npy bytes)."""
    members = members_of(src)
    if edit_meta is not None:
        doc = meta_of(members)
        doc = edit_meta(doc) or doc
        members["__meta__"] = npy(np.array(json.dumps(doc)))
    if meta is not None:
        members["__meta__"] = meta if isinstance(meta, bytes) else npy(meta)
    return write_members(dst, members)


def replaced(src, dst, name, value):
    """A copy of ``src`` with member ``name`` replaced (array or raw bytes) or dropped (None)."""
    members = members_of(src)
    if value is None:
        members.pop(name)
    else:
        members[name] = value if isinstance(value, bytes) else npy(value)
    return write_members(dst, members)


def raw_zip(path, entries):
    """A zip whose directory says what ``entries`` claim: (name, data, method, crc, size)."""
    out, central = bytearray(), bytearray()
    for name, data, method, crc, size in entries:
        offset = len(out)
        fname = name.encode()
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data),
                           size, len(fname), 0) + fname + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc,
                               len(data), size, len(fname), 0, 0, 0, 0, 0, offset) + fname
    start = len(out)
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries),
                                 len(central), start, 0)
    path.write_bytes(bytes(out))
    return path


def npy_header(shape, dtype="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


@functools.lru_cache(maxsize=4)
def deflate_zeros(prefix, n_zeros, chunk=16 * 2**20):
    """A raw deflate stream of ``prefix`` then ``n_zeros`` zero bytes (a zip bomb's body)."""
    comp = zlib.compressobj(1, zlib.DEFLATED, -15)
    parts = [comp.compress(prefix)]
    zeros = bytes(chunk)
    left = n_zeros
    while left:
        take = min(chunk, left)
        parts.append(comp.compress(zeros[:take]))
        left -= take
    parts.append(comp.flush())
    return b"".join(parts)


@pytest.fixture
def inflated(monkeypatch):
    """Counts the bytes every zip decompressor produces."""
    total = [0]
    original = zipfile._get_decompressor

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def decompress(self, data, max_length=0):
            out = self.inner.decompress(data, max_length)
            total[0] += len(out)
            return out

        def __getattr__(self, name):
            return getattr(self.inner, name)

    monkeypatch.setattr(zipfile, "_get_decompressor", lambda t: Counting(original(t)))
    return total


# ============================================================================= saving
@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
@pytest.mark.parametrize("what", ["model", "sketch"])
def test_failed_save_leaves_nothing(backend, xc, tmp_path, monkeypatch, exc, what):
    obj = fitted(backend, xc) if what == "model" else sketch(backend)

    def failing_writer(fh, payload):
        fh.write(b"partial data" * 1000)
        raise exc

    monkeypatch.setattr(model_io, "_write_payload", failing_writer)
    with pytest.raises(type(exc)):
        obj.save(tmp_path / "out.npz")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_mode_follows_umask(backend, xc, tmp_path, umask):
    previous = os.umask(umask)
    try:
        paths = [sketch(backend).save(tmp_path / "s.npz"),
                 fitted(backend, xc).save(tmp_path / "m.npz")]
    finally:
        os.umask(previous)
    for path in paths:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_save_fsyncs_file_and_directory(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    sketch(slide_ref).save(tmp_path / "s.npz")
    assert synced == [False, True]          # the data, then the directory after the rename


def test_save_never_replaces_unless_asked(tmp_path, monkeypatch):
    target = tmp_path / "s.npz"
    target.write_bytes(b"keep me")
    sk = sketch(slide_ref)
    with pytest.raises(FileExistsError):
        sk.save(target)
    assert target.read_bytes() == b"keep me"

    # a file that appears while the data is written is not replaced either
    target.unlink()
    real_writer = model_io._write_payload

    def racing_writer(fh, payload):
        target.write_bytes(b"written meanwhile")
        real_writer(fh, payload)

    monkeypatch.setattr(model_io, "_write_payload", racing_writer)
    with pytest.raises(FileExistsError):
        sk.save(target)
    assert target.read_bytes() == b"written meanwhile"
    assert os.listdir(tmp_path) == ["s.npz"]
    monkeypatch.setattr(model_io, "_write_payload", real_writer)
    sk.save(target, overwrite=True)
    assert slide_ref.nwsketch.NWSketch.load(target).total_count == 50


# ============================================================================= not a file
@pytest.mark.parametrize("what", ["model", "sketch"])
def test_npy_and_junk_refused(backend, tmp_path, what):
    load = loader(backend, what)
    arr = tmp_path / "a.npz"
    arr.write_bytes(npy(np.arange(5)))
    assert_refused(load, arr, "file", ".npy")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    assert_refused(load, junk, "file", f"not a slide {what} file")
    empty = write_members(tmp_path / "empty.npz", {"x": npy(np.arange(3))})
    assert_refused(load, empty, "__meta__", f"not a slide {what} file")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")


# ============================================================================= metadata types
def _set(path, value):
    def edit(meta):
        *head, last = path
        node = meta
        for key in head:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return edit


_DELETE = object()

MODEL_META_CASES = [
    (("n_features_in",), "120", "n_features_in"),
    (("n_features_in",), 119, "n_features_in"),
    (("n_outputs",), True, "n_outputs"),
    (("history",), {"a": 1}, "history"),
    (("history",), [{"loss": "x"}], "history[0].loss"),
    (("history",), [[1, 2]], "history[0]"),
    (("network",), [], "network"),
    (("network", "hidden"), [16.5], "network.hidden[0]"),
    (("network", "hidden"), "16", "network.hidden"),
    (("network", "n_outputs"), None, "network.n_outputs"),
    (("network", "L"), -3, "network.L"),
    (("network", "lr"), "fast", "network"),
    (("estimator",), [], "estimator"),
    (("estimator", "batch_size"), 0, "estimator.batch_size"),
    (("estimator", "no_such_parameter"), 1, "estimator"),
    (("estimator", "sampler"), {"class": 5, "params": {}}, "estimator.sampler"),
    (("estimator", "sampler"), {"class": "np", "params": {}}, "estimator.sampler.class"),
    (("estimator", "sampler"), {"class": "UniformSampler", "params": {"no_such": 1}},
     "estimator.sampler.params"),
    (("estimator", "sampler"), {"class": "UniformSampler", "params": [1]}, "estimator.sampler"),
    (("network", "output_sampler"), {"class": "nope", "params": {}},
     "network.output_sampler.class"),
    (("network", "output_sampler"), {"class": "MASK", "params": {}},
     "network.output_sampler.class"),
    (("network", "output_sampler"), {"class": "UniformSampler"}, "network.output_sampler"),
    (("train_time",), -1.0, "train_time"),
    (("train_time",), float("nan"), "train_time"),
    (("samples",), _DELETE, "samples"),
    (("format",), 3, "format"),
    (("format",), "slide-model-v0", "format"),
]


@pytest.mark.parametrize("keys,value,field", MODEL_META_CASES,
                         ids=[".".join(c[0]) + "=" + repr(c[1])[:12] for c in MODEL_META_CASES])
def test_model_metadata_types(backend, model_file, tmp_path, keys, value, field):
    path = crafted(model_file, tmp_path / "bad.npz", edit_meta=_set(keys, value))
    assert_refused(backend.SlideClassifier.load, path, field)


SKETCH_META_CASES = [
    (("params", "n_rows"), "6", "params.n_rows"),
    (("params", "n_rows"), 6.0, "params.n_rows"),
    (("params", "family"), "minhash", "params.family"),
    (("params", "width"), 0, "params.width"),
    (("params", "key_dim"), [8], "params.key_dim"),
    (("params", "K"), _DELETE, "params.K"),
    (("params", "extra"), 1, "params.extra"),
    (("params",), None, "params"),
    (("total_count",), -1, "total_count"),
    (("total_sum",), "1", "total_sum"),
    (("params", "n_rows"), 7, "hasher.A"),      # consistent types, arrays of another shape
]


@pytest.mark.parametrize("keys,value,field", SKETCH_META_CASES,
                         ids=[".".join(c[0]) + "=" + repr(c[1])[:12] for c in SKETCH_META_CASES])
def test_sketch_metadata_types(backend, sketch_files, tmp_path, keys, value, field):
    path = crafted(sketch_files["pstable"], tmp_path / "bad.npz", edit_meta=_set(keys, value))
    assert_refused(backend.nwsketch.NWSketch.load, path, field)


@pytest.mark.parametrize("what", ["model", "sketch"])
@pytest.mark.parametrize("document", ["[" * 100000 + "]" * 100000, "[1, 2]", "{'a': 1}", "",
                                      '{"format": ' * 50 + "1" + "}" * 50])
def test_metadata_documents(backend, model_file, sketch_files, tmp_path, what, document):
    src = model_file if what == "model" else sketch_files["pstable"]
    path = crafted(src, tmp_path / "bad.npz", meta=np.array(document))
    assert_refused(loader(backend, what), path, "__meta__")


def test_metadata_must_be_a_string(backend, sketch_files, tmp_path):
    path = crafted(sketch_files["pstable"], tmp_path / "bad.npz", meta=np.zeros(3))
    assert_refused(backend.nwsketch.NWSketch.load, path, "__meta__", "dtype float64 refused")


# ============================================================================= sizes
def test_inflated_network_metadata_refused_before_reading(backend, model_file, tmp_path):
    path = crafted(model_file, tmp_path / "big.npz",
                   edit_meta=_set(("network", "n_features"), 5_000_000))
    path = crafted(path, tmp_path / "big2.npz", edit_meta=_set(("n_features_in",), 5_000_000))
    tracemalloc.start()
    t0 = time.perf_counter()
    assert_refused(backend.SlideClassifier.load, path, "network", "implies at least")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20 and time.perf_counter() - t0 < 5


def test_huge_sketch_metadata_refused(backend, sketch_files, tmp_path):
    def edit(meta):
        meta["params"].update(n_rows=10**6, n_buckets=2**31 - 1)
    path = crafted(sketch_files["pstable"], tmp_path / "big.npz", edit_meta=edit)
    assert_refused(backend.nwsketch.NWSketch.load, path, "params", "memory available")


def test_huge_sketch_constructor_refused(backend):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="n_rows=100000.* needs about 3.1 PiB, more than the "
                                         ".* of memory available"):
        backend.nwsketch.NWSketch(100, n_rows=100_000, n_buckets=2**31 - 1)   # 3.1 PiB
    with pytest.raises(ValueError, match="memory available"):
        backend.nwsketch.NWSketch(10, n_rows=1536, n_buckets=2**27)   # 3 TiB
    assert time.perf_counter() - t0 < 2


def test_load_needs_memory(backend, model_file, sketch_files, monkeypatch):
    # enough for the metadata, not for the arrays
    monkeypatch.setattr(model_io, "available_memory", lambda: 8000)
    assert_refused(backend.SlideClassifier.load, model_file, "network", "memory available")
    monkeypatch.setattr(model_io, "available_memory", lambda: 4000)
    assert_refused(backend.nwsketch.NWSketch.load, sketch_files["srp"], "params",
                   "memory available")


def test_member_header_declaring_40_gb(backend, model_file, tmp_path):
    members = members_of(model_file)
    name = next(n for n in members if n.startswith("net/layer0.W"))
    members[name] = npy_header((100_000, 100_000), "<f4") + b"\0" * 64
    path = write_members(tmp_path / "big.npz", members)
    tracemalloc.start()
    assert_refused(backend.SlideClassifier.load, path, name, "header declares 37.3 GiB")
    assert tracemalloc.get_traced_memory()[1] < 50 * 2**20
    tracemalloc.stop()


def test_member_larger_than_the_metadata_allows(backend, model_file, tmp_path, inflated):
    """A member honestly declaring 512 MB that a small model cannot have: refused from the
    zip directory alone, nothing inflated."""
    members = members_of(model_file)
    entries = [(n + ".npy", raw, 0, zlib.crc32(raw), len(raw)) for n, raw in members.items()]
    header = npy_header((2**26,))
    entries.append(("net/extra.npy", deflate_zeros(header, 2**29), 8, 0, len(header) + 2**29))
    path = raw_zip(tmp_path / "bomb.npz", entries)
    assert_refused(backend.SlideClassifier.load, path, "network", "more than the")
    assert inflated[0] == 0


def test_member_inflating_past_its_declared_size(backend, sketch_files, tmp_path, inflated):
    """A zip bomb: the table member's stream inflates to 512 MB, its directory entry says
    the table's size; reading stops at the declared size."""
    members = members_of(sketch_files["pstable"])
    table_shape = load_npy(members["table"]).shape
    header = npy_header(table_shape)
    declared = len(header) + 8 * int(np.prod(table_shape))
    entries = [(n + ".npy", raw, 0, zlib.crc32(raw), len(raw))
               for n, raw in members.items() if n != "table"]
    entries.append(("table.npy", deflate_zeros(header, 2**29), 8, 12345, declared))
    path = raw_zip(tmp_path / "bomb.npz", entries)
    assert_refused(backend.nwsketch.NWSketch.load, path, "table", "corrupt")
    assert inflated[0] <= declared + 2**20


def test_member_shape_from_metadata(backend, sketch_files, tmp_path):
    path = replaced(sketch_files["pstable"], tmp_path / "bad.npz", "table", np.zeros((6, 31, 2)))
    assert_refused(backend.nwsketch.NWSketch.load, path, "table", "expected (6, 32, 2)")
    path = replaced(sketch_files["pstable"], tmp_path / "gone.npz", "table", None)
    assert_refused(backend.nwsketch.NWSketch.load, path, "table", "missing")


# ============================================================================= dtypes
@pytest.mark.parametrize("bad", [
    np.zeros((6, 32, 2), np.complex128),
    np.full((6, 32, 2), "x"),
    np.full((6, 32, 2), None, dtype=object),
    np.zeros((6, 32, 2), dtype="datetime64[s]"),
], ids=["complex", "string", "object", "datetime"])
def test_non_numeric_dtypes_refused(backend, sketch_files, model_file, tmp_path, bad):
    raw = npy(bad, allow_pickle=bad.dtype == object)
    path = replaced(sketch_files["pstable"], tmp_path / "s.npz", "table", raw)
    assert_refused(backend.nwsketch.NWSketch.load, path, "table", "refused")
    name = next(n for n in members_of(model_file) if n.startswith("net/layer0.W"))
    path = replaced(model_file, tmp_path / "m.npz", name, raw)
    assert_refused(backend.SlideClassifier.load, path, name, "refused")


# ============================================================================= sketch values
def _with(members_path, name, change):
    arr = load_npy(members_of(members_path)[name]).copy()
    return change(arr) if callable(change) else change


def _nan_first(arr):
    arr.flat[0] = np.nan
    return arr


def _neg_count(arr):
    arr[0, 0, 0] = -1.0
    return arr


def _inf_sum(arr):
    arr[1, 2, 1] = np.inf
    return arr


SKETCH_VALUE_CASES = [
    ("pstable", "projection", _nan_first, "NaN"),
    ("pstable", "hasher.A", _nan_first, "NaN"),
    ("pstable", "hasher.offset", lambda a: a * np.inf, "NaN"),
    ("pstable", "table", _neg_count, "bucket counts outside [0, "),
    ("pstable", "table", _inf_sum, "NaN or infinite"),
    ("pstable", "table", lambda a: a.astype(np.int64), "expected floating point"),
    ("pstable", "mix_seeds", lambda a: np.full(a.shape, -1, np.int64), "outside the range"),
    ("pstable", "mix_seeds", lambda a: np.full(a.shape, 2**63, np.uint64), "2**63"),
    ("pstable", "mix_seeds", lambda a: a.astype(np.float64), "expected integers"),
    ("srp", "hasher.idx", lambda a: a + 100, "coordinates outside"),
    ("srp", "hasher.idx", lambda a: a - 100, "coordinates outside"),
    ("srp", "hasher.sign", lambda a: a * 2, "signs"),
]


@pytest.mark.parametrize("family,name,change,match", SKETCH_VALUE_CASES,
                         ids=[f"{c[1]}-{c[3][:14]}" for c in SKETCH_VALUE_CASES])
def test_sketch_values(backend, sketch_files, tmp_path, family, name, change, match):
    src = sketch_files[family]
    path = replaced(src, tmp_path / "bad.npz", name, _with(src, name, change))
    assert_refused(backend.nwsketch.NWSketch.load, path, name, match)


# ============================================================================= good files load
@pytest.mark.parametrize("src,dst", [(slide_ref, slide_fast), (slide_fast, slide_ref)])
@pytest.mark.parametrize("config", [dict(optimizer="catchup_adam"), dict(bf16=2),
                                    dict(lsh=dict(K=3, L=6, min_active=20, fill_below=30,
                                                  hash_family="minhash")),
                                    dict(hidden=(16, 8)),
                                    dict(sampled_output=False)],
                         ids=["catchup", "bf16", "minhash", "deep", "dense"])
def test_model_configurations_load(src, dst, xc, tmp_path, config):
    X = xc[2]
    a = fitted(src, xc, **config)
    b = dst.SlideClassifier.load(a.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(b.predict(X, k=3)[0], a.predict(X, k=3)[0])
    assert b.history_ == a.history_ and b.samples_per_second == a.samples_per_second


def test_model_with_sampler_loads_in_its_backend(backend, xc, tmp_path):
    sampler = backend.negative.UniformSampler(n_negatives=20, hard_negatives=4,
                                              batch_labels=True, shared=True)
    a = fitted(backend, xc, sampler=sampler)
    b = backend.SlideClassifier.load(a.save(tmp_path / "m.npz"))
    assert type(b.sampler) is type(sampler) and b.sampler.n_negatives == 20
    np.testing.assert_array_equal(b.predict(xc[2], k=3)[0], a.predict(xc[2], k=3)[0])


# ============================================================================= every field
def _leaf_paths(node, path=()):
    """Every key path of a JSON document (lists: their first item only)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaf_paths(value, path + (key,))
    elif isinstance(node, list) and node:
        yield from _leaf_paths(node[0], path + (0,))
    yield path


@pytest.mark.parametrize("what", ["model", "sketch"])
def test_every_metadata_field_with_wrong_types(backend, model_file, sketch_files, tmp_path,
                                               what):
    """Each field set to values of every JSON type: the file loads or raises StateError,
    never another exception."""
    src = model_file if what == "model" else sketch_files["pstable"]
    members = members_of(src)
    meta = meta_of(members)
    load, n_cases = loader(backend, what), 0
    for path in _leaf_paths(meta):
        for value in (None, "x", [], {"a": [1]}, -1.5):
            doc = _edited(meta, path, value) if path else value
            members["__meta__"] = npy(np.array(json.dumps(doc)))
            try:
                load(write_members(tmp_path / "f.npz", members))
            except StateError:
                pass
            n_cases += 1
    assert n_cases > 5 * (30 if what == "model" else 12)


def _edited(meta, path, value):
    doc = json.loads(json.dumps(meta))
    _set(path, value)(doc)
    return doc
