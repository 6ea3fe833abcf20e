"""Crafted model and sketch files, generated at test time from valid saved ones.

:func:`build_corpus` saves a small classifier (both backends, two sampler
configurations) and an NW sketch into a directory, then writes damaged copies:
metadata of the wrong JSON type or value, arrays of the wrong dtype, shape or
content (NaN, permutations that are not, decreasing offsets, counters of
-2**62, ...), a member whose header declares 40 GB, a member that inflates to
512 MB, a ``.npy`` renamed ``.npz``, truncated and empty files.

Each crafted file comes with the field it damages (for the message check) and
whether the damage makes the file invalid (the loader must refuse it) or only
unusual (loading may succeed, but must not crash).
"""
import json
import os
import random
import zipfile

import numpy as np

from fuzz_inputs import make_X

#: JSON values that are the wrong type for every field that holds a number, string or dict
WRONG_JSON = {"str": "abc", "list": [1, 2], "dict": {"a": 1}, "null": None, "neg": -1,
              "huge": 10**12, "float": 5e6, "bool": True}
ARRAY_DAMAGE = ["nan", "inf", "neg_big", "negative", "out_of_range", "dup", "reverse", "shape",
                "complex", "str", "float_for_int", "scalar"]
#: damage that makes any array invalid, whatever it holds
ALWAYS_INVALID = {"nan", "inf", "shape", "complex", "str", "scalar"}


def _read_npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _write_npz(path, members):
    with open(path, "wb") as fh:
        np.savez(fh, **members)


#: damage named by the known failure classes, always in the corpus where the member exists:
#: (member name ending, damage)
TARGETED_ARRAYS = [("fill_perm", "dup"), ("fill_perm", "out_of_range"),
                   ("tables.offsets", "reverse"), ("tables.offsets", "out_of_range"),
                   ("tables.members", "out_of_range"), ("family.slots", "out_of_range"),
                   ("family.coord_bin", "out_of_range"), ("schedule", "neg_big"),
                   ("layer0.W", "nan"), ("layer1.W", "inf"), ("layer1.vW", "negative"),
                   ("layer1.W", "complex"), ("layer1.W", "str"), ("sampler.counts", "shape"),
                   ("sampler.counts", "negative"), ("projection", "nan"), ("table", "negative"),
                   ("step", "neg_big")]
#: metadata values named by the known failure classes: (section, field, value, invalid)
TARGETED_META = [("network", "n_features", 5000000, True), ("network", "n_outputs", 10**9, True),
                 ("network.lsh", "schedule_first", -2**62, True),
                 ("network.lsh", "schedule_growth", 0, False), ("network.lsh", "K", "6", True),
                 ("params", "n_buckets", 2**31 - 1, True), ("params", "n_rows", 10**9, True),
                 ("", "format", 99, True)]


def _targeted(directory, name, members, meta):
    """The damage of :data:`TARGETED_ARRAYS` and :data:`TARGETED_META` that fits this file."""
    from fuzz_ops import _mutate_array
    out = []
    for i, (suffix, how) in enumerate(TARGETED_ARRAYS):
        for key in [k for k in members if k.endswith(suffix)][:1]:
            path = os.path.join(directory, f"{name}.target{i}-{how}.npz")
            damaged = _mutate_array(members[key], how, 1)
            _write_npz(path, {**members, key: damaged})
            out.append((path, key, _array_invalid(key, members[key], how, damaged)))
    for i, (section, field, value, invalid) in enumerate(TARGETED_META):
        new = json.loads(json.dumps(meta))
        target = new
        for part in section.split(".") if section else ():     # a dotted path of sections
            target = target.get(part) if isinstance(target, dict) else None
        if not isinstance(target, dict) or field not in target:
            continue
        target[field] = value
        path = os.path.join(directory, f"{name}.tmeta{i}-{field}.npz")
        _write_npz(path, {**members, "__meta__": np.array(json.dumps(new))})
        out.append((path, field, invalid))
    return out


def _is_free_integer(key):
    """Integer members any value of which is valid (seeds, and MinHash's random ranks,
    which are arbitrary uint32 draws)."""
    return "seed" in key or key.endswith("coord_rank")


#: integer members whose entries are independent draws (bins, signs, per-row steps):
#: repeating or reordering entries leaves a valid state
ORDER_FREE = ("slots", "coord_bin", "sign", "last")
#: members whose rows may come in any order (a permutation reversed is one; SimHash's rows
#: are independent functions), though no entry may repeat
ROW_ORDER_FREE = ("fill_perm", "idx")


def _changes(value, how):
    """Whether the damage ``how`` changes ``value`` at all (dup of equal entries does not)."""
    from fuzz_ops import _mutate_array
    damaged, value = _mutate_array(value, how, 0), np.asarray(value)
    return damaged.shape != value.shape or damaged.dtype != value.dtype or \
        not np.array_equal(damaged, value)


def _array_invalid(key, value, how, damaged=None):
    """Whether damage ``how`` of member ``key`` (``damaged``: the result, when known)
    makes the state invalid."""
    if damaged is not None and key.endswith("schedule") and np.shape(damaged) == (3,) and \
            np.array_equal(np.asarray(damaged)[:2], np.asarray(value)[:2]):
        return False    # its last entry counts table builds, which rehash() adds to at will
    if not _changes(value, how):        # damage that leaves the array as it was (a scalar
        return False                    # made a scalar) leaves the file valid
    if how in ALWAYS_INVALID:
        return True
    integer = np.asarray(value).dtype.kind in "iub"
    if how == "float_for_int":
        return integer
    if how == "neg_big":
        return integer and not _is_free_integer(key)
    if how in ("out_of_range", "dup", "reverse"):
        if not (integer and not _is_free_integer(key) and np.asarray(value).size > 1):
            return False
        if how == "out_of_range":
            return True
        last = key.split(".")[-1]
        # a reordering the format allows leaves a valid file
        return last not in ORDER_FREE and not (
            how == "reverse" and last in ROW_ORDER_FREE)
    if how == "negative":
        return key.endswith((".vW", ".vb", "counts", "table"))
    return False


def _field_names(key):
    """Ways a message may name a member: full key, without its prefix, its last part."""
    bare = key.split("/", 1)[-1]
    return sorted({key, bare, bare.split(".")[-1]})


def _save_bases(directory):
    """Valid files: classifiers of both backends and configurations, and a sketch."""
    import slide_fast
    import slide_ref
    from fuzz_ops import N_FEATURES, label_matrix, small_clf
    bases = {}
    X, Y = make_X({"n": 16, "d": N_FEATURES}), label_matrix(16)
    for mod in (slide_ref, slide_fast):
        for config in ("lsh", "unigram"):
            kw = {"sampler": mod.negative.UnigramSampler(n_negatives=8)} \
                if config == "unigram" else {}
            path = os.path.join(directory, f"model-{mod.__name__}-{config}.npz")
            small_clf(mod, **kw).fit(X, Y).save(path)
            bases[path] = "model"
    sk = slide_ref.nwsketch.NWSketch(12, n_rows=8, n_buckets=64, K=2, key_dim=8, random_state=0)
    sk.insert(np.random.default_rng(0).standard_normal((20, 12)), np.ones(20))
    path = os.path.join(directory, "sketch.npz")
    sk.save(path)
    bases[path] = "sketch"
    return bases


def _meta_variants(meta):
    """(field, new meta, invalid) for wrong JSON types and values of each field."""
    sections = [((), meta)] + [((k,), v) for k, v in meta.items() if isinstance(v, dict)]
    for prefix, section in sections:
        for key, old in section.items():
            if isinstance(old, dict):
                continue
            for label, value in WRONG_JSON.items():
                if value == old or (label == "null" and old is None):
                    continue
                new = json.loads(json.dumps(meta))
                target = new
                for part in prefix:
                    target = target[part]
                target[key] = value
                # hidden takes an int or a list of widths: a list is no wrong type there
                wrong_type = (isinstance(old, (int, float)) and not isinstance(old, bool)
                              and label in ("str", "list", "dict")
                              and (key, label) != ("hidden", "list")) or \
                             (isinstance(old, str) and label in ("list", "dict", "neg", "huge"))
                yield key, new, wrong_type


def _structural(directory, name, members, kind):
    """Whole-file damage: truncation, wrong container, oversized members."""
    base = os.path.join(directory, name)
    src = f"{base}.npz"
    blob = open(src, "rb").read()
    out = []
    for frac in (0.0, 0.1, 0.5, 0.97):
        path = f"{base}.trunc{int(frac * 100)}.npz"
        with open(path, "wb") as fh:
            fh.write(blob[:int(len(blob) * frac)])
        out.append((path, "file", True))
    path = f"{base}.npy-renamed.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.arange(10))
    out.append((path, "file", True))
    path = f"{base}.random.npz"
    with open(path, "wb") as fh:
        fh.write(random.Random(0).randbytes(4096))
    out.append((path, "file", True))
    key = max((k for k in members if k != "__meta__"), key=lambda k: members[k].size)
    out.append((_huge_header(f"{base}.40gb.npz", members, key), key, True))
    out.append((_zip_bomb(f"{base}.bomb.npz", members, key), key, True))
    meta_path = f"{base}.deep-meta.npz"
    _write_npz(meta_path, {**members, "__meta__": np.array("[" * 100000 + "]" * 100000)})
    out.append((meta_path, "__meta__", True))
    for label, meta in (("no-meta", None), ("meta-not-json", np.array("{not json")),
                        ("meta-2d", np.zeros((2, 2))), ("meta-list", np.array("[1, 2]"))):
        path = f"{base}.{label}.npz"
        _write_npz(path, {k: v for k, v in members.items() if k != "__meta__"} |
                   ({} if meta is None else {"__meta__": meta}))
        out.append((path, "__meta__", True))
    return out


def _npy_header(shape, dtype="<f4"):
    """A version-1 ``.npy`` header for ``shape``, padded to 64 bytes as NumPy does."""
    text = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (dtype, tuple(shape))
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode()


def _copy_members_except(zf_out, members, skip):
    for k, v in members.items():
        if k == skip:
            continue
        with zf_out.open(k + ".npy", "w") as fh:
            np.lib.format.write_array(fh, np.asarray(v), allow_pickle=False)


def _huge_header(path, members, key):
    """``key`` declared as 10**10 float32 (40 GB) with only a few bytes of data."""
    with zipfile.ZipFile(path, "w") as zf:
        _copy_members_except(zf, members, key)
        zf.writestr(key + ".npy", _npy_header((10**10,)) + b"\0" * 64)
    return path


def _zip_bomb(path, members, key):
    """``key`` as a deflated member of 512 MB of zeros (a few hundred kB on disk)."""
    n = (512 << 20) // 4
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        _copy_members_except(zf, members, key)
        with zf.open(key + ".npy", "w", force_zip64=True) as fh:
            fh.write(_npy_header((n,)))
            chunk = b"\0" * (8 << 20)
            for _ in range((512 << 20) // len(chunk)):
                fh.write(chunk)
    return path


def build_corpus(directory, n_meta, n_arrays, seed=0):
    """Write the corpus into ``directory``; returns a list of crafted-file descriptions.

    Each description is ``{"path", "kind" ("model" or "sketch"), "field", "names",
    "invalid"}``.  ``n_meta`` and ``n_arrays`` bound the metadata and array
    mutations per base file (drawn with ``seed``); structural damage is always in.
    """
    rng = random.Random(seed)
    corpus = []
    bases = _save_bases(directory)
    bomb_done = set()
    for path, kind in bases.items():
        members = _read_npz(path)
        name = os.path.basename(path)[:-4]
        corpus.append({"path": path, "kind": kind, "field": None, "invalid": False})
        meta = json.loads(str(members["__meta__"]))
        metas = list(_meta_variants(meta))
        for i, (field, new, invalid) in enumerate(rng.sample(metas, min(n_meta, len(metas)))):
            out = os.path.join(directory, f"{name}.meta{i}-{field}.npz")
            _write_npz(out, {**members, "__meta__": np.array(json.dumps(new))})
            corpus.append({"path": out, "kind": kind, "field": field, "invalid": invalid})
        for out, field, invalid in _targeted(directory, name, members, meta):
            corpus.append({"path": out, "kind": kind, "field": field, "invalid": invalid})
        arrays = [(k, how) for k in members if k != "__meta__" for how in ARRAY_DAMAGE]
        from fuzz_ops import _mutate_array
        for i, (key, how) in enumerate(rng.sample(arrays, min(n_arrays, len(arrays)))):
            damaged = _mutate_array(members[key], how, rng.randrange(1 << 16))
            out = os.path.join(directory, f"{name}.arr{i}-{how}.npz")
            _write_npz(out, {**members, key: damaged})
            corpus.append({"path": out, "kind": kind, "field": key,
                           "invalid": _array_invalid(key, members[key], how, damaged)})
        # one structural set per kind of file (the bomb costs seconds to write)
        if kind not in bomb_done:
            bomb_done.add(kind)
            for out, field, invalid in _structural(directory, name, members, kind):
                corpus.append({"path": out, "kind": kind, "field": field, "invalid": invalid})
    for entry in corpus:
        entry["names"] = _field_names(entry["field"]) if entry["field"] not in (None, "file") \
            else []
    return corpus
