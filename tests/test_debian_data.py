"""Tests of the real data sets built from Debian's archive, on small fixtures shaped like the
real files (apt lists, IDX images, WordNet, debtags); never the network."""
import contextlib
import gzip
import os

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from slide_ref import _bag_of_words as bow
from slide_ref import _debian_archive as archive
from slide_ref import _debian_text as td
from slide_ref import _debian_zsl as zd
from slide_ref import debian_data as dd

# ----------------------------------------------------------------------------- fixtures
PACKAGES_NAME = "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
TRANSLATION_NAME = "deb.debian.org_debian_dists_bookworm_main_i18n_Translation-en"

THEMES = ["image viewer for photos", "audio player for music", "text editor for code",
          "network monitor for servers"]


def _stanza(name, md5, short, source=None, depends=None, recommends=None, tags=None):
    lines = [f"Package: {name}"]
    if source:
        lines.append(f"Source: {source}")
    lines += ["Version: 1.0-1", "Architecture: amd64"]
    if depends:
        lines.append(f"Depends: {depends}")
    if recommends:
        lines.append(f"Recommends: {recommends}")
    lines += [f"Description: {short}", f"Description-md5: {md5}"]
    if tags:
        lines.append(f"Tag: {tags}")
    return "\n".join(lines)


def _translation(md5, short, long_text):
    return f"Package: x\nDescription-md5: {md5}\nDescription-en: {short}\n {long_text}\n .\n more."


def fake_lists(folder, n_sources=40):
    """Packages + Translation-en lists: ``n_sources`` sources of two binaries each.

    Source ``srcK`` builds ``appK`` (depends on ``libsrcK`` (same source),
    ``libc6`` and a theme library) and ``libsrcK`` (depends on ``libc6``).
    """
    os.makedirs(folder, exist_ok=True)
    stanzas, translations = [], []
    for k in range(n_sources):
        theme = k % len(THEMES)
        md5a, md5b = f"a{k:031d}", f"b{k:031d}"
        stanzas.append(_stanza(
            f"app{k}", md5a, f"{THEMES[theme]} number {k}", source=f"src{k} (1.0-1)",
            depends=f"libsrc{k} (= 1.0-1), libc6 (>= 2.34), libtheme{theme}:any | libalt",
            recommends="helper [amd64]", tags=f"use::theme{theme}, role::program"))
        stanzas.append(_stanza(f"libsrc{k}", md5b, f"library of {THEMES[theme]}",
                               source=f"src{k}", depends="libc6"))
        translations.append(_translation(md5a, f"{THEMES[theme]} number {k}",
                                         f"This {THEMES[theme]} is small."))
        translations.append(_translation(md5b, f"library of {THEMES[theme]}",
                                         f"Shared library for the {THEMES[theme]}."))
    for name, text in ((PACKAGES_NAME, stanzas), (TRANSLATION_NAME, translations)):
        with open(os.path.join(folder, name), "w") as fh:
            fh.write("\n\n".join(text) + "\n")
    return folder


def _idx(array):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    return gzip.compress(header + array.tobytes())


def _write(root, rel, content, compress=False):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = content if isinstance(content, bytes) else content.encode()
    with open(path, "wb") as fh:
        fh.write(gzip.compress(data) if compress else data)


def _wordnet_files(root):
    """A tiny WordNet: the ten Fashion-MNIST lemmas under garment / footwear / container."""
    entries = [("00000001", "entity", None, "that which exists"),
               ("00000002", "garment", "00000001", "an article of clothing worn on the body"),
               ("00000003", "footwear", "00000001", "clothing worn on the feet"),
               ("00000004", "container", "00000001", "an object that holds things")]
    parents = {"t-shirt": "00000002", "trouser": "00000002", "pullover": "00000002",
               "dress": "00000002", "coat": "00000002", "shirt": "00000002",
               "sandal": "00000003", "sneaker": "00000003", "boot": "00000003",
               "bag": "00000004"}
    for k, (lemma, parent) in enumerate(parents.items()):
        entries.append((f"{k + 10:08d}", lemma, parent, f"a {lemma} of cloth with straps {k}"))
    data, index = ["  1 This software and database is being provided"], []
    for offset, lemma, parent, gloss in entries:
        pointers = f"001 @ {parent} n 0000" if parent else "000"
        data.append(f"{offset} 06 n 01 {lemma} 0 {pointers} | {gloss}  ")
        index.append(f"{lemma} n 1 1 @ 1 0 {offset}  ")
    _write(root, "usr/share/wordnet/data.noun", "\n".join(data) + "\n")
    _write(root, "usr/share/wordnet/index.noun", "  1 license\n" + "\n".join(index) + "\n")
    for pos in ("verb", "adj", "adv"):
        _write(root, f"usr/share/wordnet/data.{pos}",
               f"00000009 00 {pos[0]} 01 word 0 000 | the gloss of a {pos} word\n")
        _write(root, f"usr/share/wordnet/index.{pos}", f"word {pos[0]} 1 0 1 0 00000009  \n")


def fake_package_files(name, root):
    """The files the loaders read from package ``name``, unpacked under ``root``."""
    if name == "dataset-fashion-mnist":
        rng = np.random.default_rng(0)
        folder = "usr/share/datasets/fashion-mnist"
        for prefix, n in (("train", 12), ("t10k", 4)):
            _write(root, f"{folder}/{prefix}-images-idx3-ubyte.gz",
                   _idx(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)))
            _write(root, f"{folder}/{prefix}-labels-idx1-ubyte.gz",
                   _idx((np.arange(n) % 10).astype(np.uint8)))
    elif name == "wordnet-base":
        _wordnet_files(root)
    elif name == "debtags":
        vocab = ["Facet: use\nDescription: Purpose"]
        vocab += [f"Tag: use::theme{t}\nDescription: {THEMES[t]}\n Programs: {THEMES[t]}."
                  for t in range(len(THEMES))]
        _write(root, "usr/share/debtags/vocabulary", "\n\n".join(vocab) + "\n")
    elif name == "dict-gcide":
        entries = "\n".join(f"Word{k} \\Word{k}\\ (w[o^]rd), n. [OE.]\n   the meaning of "
                            f"word {k} in the old dictionary\n   [1913 Webster]"
                            for k in range(30))
        _write(root, "usr/share/dictd/gcide.dict.dz", entries, compress=True)
    elif name == "perl-doc":
        _write(root, "usr/share/perl/5.36.0/pod/perlintro.pod",
               "=head1 NAME\n\nperlintro - a brief introduction to the language\n\n"
               + "Use C<print> to print the text of the program. " * 20)
    else:  # the Sphinx documentation sets
        _write(root, f"usr/share/doc/{name}/html/_sources/intro.rst.txt",
               ".. _intro:\n\nIntroduction\n============\n\n"
               + "The kernel reads the :func:`config` of the device and the driver. " * 20)
        _write(root, f"usr/share/doc/{name}/html/_static/skip.rst.txt", "not a source")


@pytest.fixture
def fake_archive(monkeypatch, tmp_path):
    """apt lists in a folder, packages unpacked from fakes; records what was fetched."""
    lists = fake_lists(str(tmp_path / "lists"))
    fetched = []

    @contextlib.contextmanager
    def unpacked(name, debs_dir):
        fetched.append(name)
        root = tmp_path / "unpacked" / name
        fake_package_files(name, str(root))
        yield str(root)

    monkeypatch.setattr(archive, "unpacked", unpacked)

    def no_apt(args, cwd=None):
        raise AssertionError(f"no command may run with the lists present: {args}")

    monkeypatch.setattr(archive, "run_command", no_apt)
    return {"lists": lists, "cache": str(tmp_path / "cache"), "fetched": fetched}


# ----------------------------------------------------------------------------- parsing
def test_parse_stanzas_joins_continuation_lines():
    text = ("Package: a\nDescription-en: short\n long line\n .\n next\n\n"
            "# comment\nPackage: b\nTag: x::y,\n z::w\n")
    a, b = archive.parse_stanzas(text)
    assert a == {"Package": "a", "Description-en": "short\nlong line\n.\nnext"}
    assert b["Tag"] == "x::y,\nz::w"
    assert archive.description_text(a["Description-en"]) == "short\nlong line\n\nnext"


@pytest.mark.parametrize("value, alternatives, expected", [
    ("libc6 (>= 2.34), libfoo1:any (= 1.0) | libbar, python3", "first",
     ["libc6", "libfoo1", "python3"]),
    ("libc6 (>= 2.34), libfoo1:any (= 1.0) | libbar, python3", "all",
     ["libc6", "libfoo1", "libbar", "python3"]),
    ("a [amd64] <!nocheck>, a (<< 2), b [!i386]", "first", ["a", "b"]),
    ("", "first", []),
])
def test_relation_names(value, alternatives, expected):
    assert archive.relation_names(value, alternatives) == expected


def test_relation_names_rejects_bad_alternatives():
    with pytest.raises(ValueError, match="alternatives"):
        archive.relation_names("a", "some")


def test_source_name_strips_version():
    assert archive.source_name({"Package": "libx1", "Source": "x (1.2-3)"}) == "x"
    assert archive.source_name({"Package": "y"}) == "y"


def test_list_files_recognises_apt_names(tmp_path):
    for name in (PACKAGES_NAME + ".lz4", TRANSLATION_NAME, "lock", PACKAGES_NAME + ".diff_Index",
                 "deb.debian.org_debian_dists_bookworm_InRelease"):
        (tmp_path / name).write_text("")
    assert [os.path.basename(p) for p in archive.list_files(str(tmp_path), "Packages")] == \
        [PACKAGES_NAME + ".lz4"]
    assert len(archive.list_files(str(tmp_path), "Translation-en")) == 1


# ----------------------------------------------------------------------------- XC
def _lists(folder):
    return (archive.read_packages(archive.list_files(folder, "Packages")),
            archive.read_long_descriptions(archive.list_files(folder, "Translation-en")))


def test_xc_drops_labels_of_the_same_source(tmp_path):
    packages, descriptions = _lists(fake_lists(str(tmp_path)))
    points = {name: labels for name, _, _, labels in dd.xc_candidates(packages, descriptions)}
    # libsrc3 comes from app3's own source: dropped; the alternative libalt is not taken.
    assert points["app3"] == ["libc6", "libtheme3", "helper"]
    assert points["libsrc3"] == ["libc6"]
    every = {name: labels for name, _, _, labels in
             dd.xc_candidates(packages, descriptions, alternatives="all")}
    assert every["app3"] == ["libc6", "libtheme3", "libalt", "helper"]


def test_xc_text_joins_the_long_description(tmp_path):
    packages, descriptions = _lists(fake_lists(str(tmp_path)))
    texts = {name: text for name, _, text, _ in dd.xc_candidates(packages, descriptions)}
    assert texts["app1"].startswith("audio player for music number 1\nThis audio player")


def test_xc_split_by_source_and_features(tmp_path):
    packages, descriptions = _lists(fake_lists(str(tmp_path)))
    data = dd.build_debian_xc(packages, descriptions, test_fraction=0.5, min_label_count=2)
    X, Y, Xt, Yt = data
    sources = {name: archive.source_name(packages[name]) for name in packages}
    train_sources = {sources[n] for n in data.train_names}
    test_sources = {sources[n] for n in data.test_names}
    assert train_sources and test_sources and not train_sources & test_sources
    # Both binaries of a source land on the same side.
    for k in range(40):
        assert (f"app{k}" in data.train_names) == (f"libsrc{k}" in data.train_names)
    assert X.shape == (len(data.train_names), len(data.feature_names)) == \
        (X.shape[0], Xt.shape[1])
    assert_allclose(sp.linalg.norm(X, axis=1), 1.0, rtol=1e-6)
    assert Y.shape[1] == Yt.shape[1] == len(data.label_names)
    # Labels ranked by training count: libc6 labels every point.
    assert data.label_names[0] == "libc6"
    assert np.all(Y[:, 0].toarray() == 1)
    assert "libsrc0" not in data.label_names and "helper" in data.label_names
    assert data.stats["train_points"] == X.shape[0]


def test_xc_is_deterministic(tmp_path):
    packages, descriptions = _lists(fake_lists(str(tmp_path)))
    a = dd.build_debian_xc(packages, descriptions)
    b = dd.build_debian_xc(dict(reversed(list(packages.items()))), descriptions)
    assert a.train_names == b.train_names and a.feature_names == b.feature_names
    assert (a.X != b.X).nnz == 0 and (a.Y != b.Y).nnz == 0


def test_load_debian_xc_caches(fake_archive, monkeypatch):
    first = dd.load_debian_xc(cache_dir=fake_archive["cache"], lists_dir=fake_archive["lists"],
                              test_fraction=0.5)
    monkeypatch.setattr(dd, "build_debian_xc", lambda *a, **k: pytest.fail("rebuilt"))
    second = dd.load_debian_xc(cache_dir=fake_archive["cache"],
                               lists_dir=fake_archive["lists"], test_fraction=0.5)
    for a, b in zip(first, second):
        assert (a != b).nnz == 0 and a.dtype == b.dtype == np.float32
    assert second.label_names == first.label_names
    assert second.test_names == first.test_names and second.stats == first.stats
    # Other parameters are another set; rebuild=True builds again.
    with pytest.raises(pytest.fail.Exception, match="rebuilt"):
        dd.load_debian_xc(cache_dir=fake_archive["cache"], lists_dir=fake_archive["lists"],
                          test_fraction=0.3)
    with pytest.raises(pytest.fail.Exception, match="rebuilt"):
        dd.load_debian_xc(cache_dir=fake_archive["cache"], lists_dir=fake_archive["lists"],
                          test_fraction=0.5, rebuild=True)


def test_cache_dir_defaults_to_slide_data(monkeypatch, tmp_path):
    monkeypatch.setenv("SLIDE_DATA", str(tmp_path))
    assert dd.default_cache_dir() == str(tmp_path)
    monkeypatch.delenv("SLIDE_DATA")
    assert dd.default_cache_dir().endswith(os.path.join(".cache", "slide"))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"min_label_count": 0}, ValueError, "min_label_count"),
    ({"test_fraction": 1.5}, ValueError, "test_fraction"),
    ({"alternatives": "any"}, ValueError, "alternatives"),
    ({"cache_dir": 3}, TypeError, "cache_dir"),
    ({"lists_dir": 3}, TypeError, "lists_dir"),
])
def test_load_debian_xc_checks_arguments(fake_archive, kwargs, error, match):
    kwargs = dict({"cache_dir": fake_archive["cache"], "lists_dir": fake_archive["lists"]},
                  **kwargs)
    with pytest.raises(error, match=match):
        dd.load_debian_xc(**kwargs)


# ----------------------------------------------------------------------------- apt failures
def test_missing_lists_run_update_and_report_its_failure(monkeypatch, tmp_path):
    calls = []

    def failing(args, cwd=None):
        calls.append(list(args))
        return 100, "Err:1 http://deb.debian.org bookworm InRelease\nE: Could not resolve host"

    monkeypatch.setattr(archive, "run_command", failing)
    with pytest.raises(dd.ArchiveUnavailableError) as info:
        dd.load_debian_xc(cache_dir=str(tmp_path / "c"), lists_dir=str(tmp_path / "none"))
    assert isinstance(info.value, RuntimeError)
    assert calls == [["apt-get", "update", "-o", "Acquire::Languages=en"]]
    message = str(info.value)
    assert "`apt-get update -o Acquire::Languages=en` failed" in message
    assert "Could not resolve host" in message and "root" in message
    assert not os.path.exists(tmp_path / "c" / "debian_xc")


def test_update_that_leaves_no_lists_is_reported(monkeypatch, tmp_path):
    monkeypatch.setattr(archive, "run_command", lambda args, cwd=None: (0, ""))
    with pytest.raises(dd.ArchiveUnavailableError, match="still holds no Packages"):
        archive.ensure_lists(str(tmp_path))


def test_missing_apt_is_reported(monkeypatch, tmp_path):
    def missing(args, cwd=None):
        raise FileNotFoundError(args[0])

    monkeypatch.setattr(archive, "run_command", missing)
    with pytest.raises(dd.ArchiveUnavailableError, match="apt-get is not installed"):
        archive.fetch_package("dict-gcide", str(tmp_path))


def test_download_failure_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(archive, "run_command",
                        lambda args, cwd=None: (100, "E: Unable to locate package nope"))
    with pytest.raises(dd.ArchiveUnavailableError) as info:
        dd.load_fashion_mnist(cache_dir=str(tmp_path))
    assert "`apt-get download dataset-fashion-mnist` failed" in str(info.value)
    assert "apt-cache policy dataset-fashion-mnist" in str(info.value)


def test_fetch_package_reuses_a_downloaded_deb(monkeypatch, tmp_path):
    (tmp_path / "perl-doc_5.36_all.deb").write_bytes(b"")
    (tmp_path / "perl-doc-extra_1_all.deb").write_bytes(b"")
    monkeypatch.setattr(archive, "run_command", lambda *a, **k: pytest.fail("downloaded"))
    assert archive.fetch_package("perl-doc", str(tmp_path)).endswith("perl-doc_5.36_all.deb")


# ----------------------------------------------------------------------------- Fashion-MNIST
def test_read_idx_round_trip_and_errors():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert_array_equal(dd.read_idx(_idx(images)), images)
    assert_array_equal(dd.read_idx(gzip.decompress(_idx(images))), images)
    with pytest.raises(ValueError, match="magic"):
        dd.read_idx(b"\x01\x02\x08\x01")
    with pytest.raises(ValueError, match="needs"):
        dd.read_idx(gzip.decompress(_idx(images))[:-1])


def test_load_fashion_mnist(fake_archive, monkeypatch):
    X, y, Xt, yt = dd.load_fashion_mnist(cache_dir=fake_archive["cache"])
    assert X.shape == (12, 784) and Xt.shape == (4, 784)
    assert X.dtype == np.float32 and 0 <= X.min() and X.max() <= 1 and X.max() > 0.9
    assert_array_equal(y, np.arange(12) % 10)
    assert y.dtype == np.int64
    fetched = list(fake_archive["fetched"])
    again = dd.load_fashion_mnist(cache_dir=fake_archive["cache"])
    assert fake_archive["fetched"] == fetched            # read from the cache
    assert_array_equal(again.X, X)
    assert again.class_names[9] == "ankle boot"


# ----------------------------------------------------------------------------- text
def test_build_debian_text_vocabulary_and_split():
    docs = [(f"doc{k}", "the cat sat on the mat " * 3 + "q" * (k + 2)) for k in range(30)]
    data = td.build_debian_text(docs, min_count=5, test_fraction=0.3)
    assert data.vocabulary[0] == "the" and set(data.vocabulary) == {"the", "cat", "sat", "on",
                                                                    "mat"}
    assert np.all(np.diff(data.counts) <= 0)               # ranked by training count
    assert 0 < data.doc_is_test.sum() < 30
    assert data.tokens.size == 30 * 18                     # the rare words are removed
    capped = td.build_debian_text(docs, min_count=1, max_tokens=100)
    assert capped.stats["raw_tokens"] <= 100 and capped.stats["documents"] == 5


def test_next_word_examples_bag_of_previous_words():
    tokens = np.array([0, 1, 2, 1, 3, 5, 6, 7], dtype=np.int32)
    offsets = np.array([0, 5, 6, 8])                      # docs of 5, 1 and 2 tokens
    X, y = td.next_word_examples(tokens, offsets, np.array([0, 1, 2]), context=2, n_words=8)
    assert_array_equal(y, [2, 1, 3])                       # docs 1 and 2 are too short
    assert_allclose(X.toarray()[0], [0.5, 0.5, 0, 0, 0, 0, 0, 0])
    assert_allclose(X.toarray()[2], [0, 0.5, 0.5, 0, 0, 0, 0, 0])
    X, y = td.next_word_examples(tokens, offsets, np.array([2]), context=1, n_words=8)
    assert_array_equal(y, [7]) and X.indices.tolist() == [6]
    X, y = td.next_word_examples(np.array([4, 4, 4], np.int32), np.array([0, 3]),
                                 np.array([0]), context=2, n_words=5)
    assert_allclose(X.toarray(), [[0, 0, 0, 0, 1.0]])     # a repeated word adds up


@pytest.mark.parametrize("kwargs, error, match", [
    ({"context": 0}, ValueError, "context"), ({"max_tokens": 0}, ValueError, "max_tokens"),
    ({"min_count": 1.5}, TypeError, "min_count"), ({"test_fraction": -1}, ValueError, "test_"),
])
def test_load_debian_text_checks_arguments(fake_archive, kwargs, error, match):
    with pytest.raises(error, match=match):
        dd.load_debian_text(cache_dir=fake_archive["cache"], lists_dir=fake_archive["lists"],
                            **kwargs)


def test_load_debian_text_reads_every_source(fake_archive, monkeypatch):
    data = dd.load_debian_text(cache_dir=fake_archive["cache"], lists_dir=fake_archive["lists"],
                               min_count=2, context=3)
    assert fake_archive["fetched"] == ["wordnet-base", "dict-gcide", "perl-doc", "python3-doc",
                                       "linux-doc"]
    X, y, Xt, yt = data
    assert X.shape == (y.size, len(data.vocabulary)) and Xt.shape[1] == X.shape[1]
    assert_allclose(X.sum(axis=1), 1.0, rtol=1e-6)
    words = set(data.vocabulary)
    assert {"kernel", "dictionary", "introduction", "gloss", "player"} <= words
    assert not {"webster", "func", "head", "skip"} & words    # markup and non-sources
    fetched = list(fake_archive["fetched"])
    again = dd.load_debian_text(cache_dir=fake_archive["cache"],
                                lists_dir=fake_archive["lists"], min_count=2, context=2)
    assert fake_archive["fetched"] == fetched
    assert again.stats["train_examples"] > data.stats["train_examples"]
    assert again.vocabulary == data.vocabulary


# ----------------------------------------------------------------------------- ZSL
def test_wordnet_class_attributes(tmp_path):
    _wordnet_files(str(tmp_path))
    index, synsets = zd.read_wordnet_nouns(str(tmp_path))
    assert synsets["00000010"][0] == ["00000002"]
    H = zd.wordnet_class_attributes(zd.FASHION_WORDNET_LEMMAS, index, synsets, "hypernyms")
    # entity is shared by all: dropped; garment / footwear / container remain.
    assert H.shape == (3, 10)
    assert_array_equal(H.sum(axis=0), np.ones(10))
    G = zd.wordnet_class_attributes(zd.FASHION_WORDNET_LEMMAS, index, synsets, "glosses")
    # Rows: the lemma words (t-shirt and shirt share "shirt"); "cloth" and "straps" are in
    # every gloss and weigh nothing.
    assert G.shape == (9, 10) and np.all(np.abs(G).sum(axis=0) > 0)
    both = zd.wordnet_class_attributes(zd.FASHION_WORDNET_LEMMAS, index, synsets)
    assert both.shape == (H.shape[0] + G.shape[0], 10)
    with pytest.raises(ValueError, match="no noun"):
        zd.wordnet_class_attributes(["unicorn"], index, synsets)


def test_load_fashion_zsl(fake_archive):
    data = dd.load_fashion_zsl(cache_dir=fake_archive["cache"], test_fraction=0.0)
    assert data.features.shape == (16, 784)
    assert [data.class_names[c] for c in data.unseen] == ["pullover", "dress", "sandal"]
    assert_allclose(np.linalg.norm(data.attributes, axis=0), 1.0, rtol=1e-6)
    again = dd.load_fashion_zsl(cache_dir=fake_archive["cache"], test_fraction=0.0)
    assert_array_equal(again.attributes, data.attributes)
    assert_array_equal(again.trainval_loc, data.trainval_loc)
    with pytest.raises(ValueError, match="unseen"):
        dd.load_fashion_zsl(cache_dir=fake_archive["cache"], unseen=("hat",))
    with pytest.raises(TypeError, match="unseen"):
        dd.load_fashion_zsl(cache_dir=fake_archive["cache"], unseen="sandal")


def test_load_debtags_zsl(fake_archive):
    data = dd.load_debtags_zsl(cache_dir=fake_archive["cache"], lists_dir=fake_archive["lists"],
                               facet="use", min_class_size=5, n_unseen=1, attributes="terms")
    assert data.class_names == [f"use::theme{t}" for t in range(4)]
    # One package per source: the apps (the libraries carry no use:: tag).
    assert data.features.shape[0] == 40 and all(n.startswith("app") for n in data.image_files)
    assert data.unseen.size == 1 and data.seen.size == 3
    assert data.attributes.shape[1] == 4
    again = dd.load_debtags_zsl(cache_dir=fake_archive["cache"], lists_dir=fake_archive["lists"],
                                facet="use", min_class_size=5, n_unseen=1, attributes="terms")
    assert fake_archive["fetched"] == ["debtags"]               # the second call: cached
    assert_array_equal(again.features, data.features)
    assert again.class_names == data.class_names
    assert again.stats == data.stats


def test_load_debtags_zsl_checks_the_facet(fake_archive):
    with pytest.raises(ValueError, match="facet 'nope' has 0 tags"):
        dd.load_debtags_zsl(cache_dir=fake_archive["cache"], lists_dir=fake_archive["lists"],
                            facet="nope")
    with pytest.raises(TypeError, match="facet"):
        dd.load_debtags_zsl(cache_dir=fake_archive["cache"], facet=3)


def test_debtags_points_skip_todo_and_small_classes(tmp_path):
    packages, descriptions = _lists(fake_lists(str(tmp_path)))
    packages["app0"]["Tag"] = "use::TODO, use::theme0"
    packages["app1"]["Tag"] = "use::theme1, use::theme2"     # two tags: not a point
    names, _, tags = zd.debtags_points(packages, descriptions, "use", 5)
    assert "app0" in names and "app1" not in names
    assert set(tags) == {f"use::theme{t}" for t in range(4)}
    names, _, _ = zd.debtags_points(packages, descriptions, "use", 11)
    assert names == []


# ----------------------------------------------------------------------------- both backends
@pytest.mark.parametrize("name", ["load_debian_xc", "load_debian_text", "load_fashion_mnist",
                                  "load_debtags_zsl", "load_fashion_zsl"])
def test_both_backends_export_the_loaders(backend, name):
    assert name in backend.datasets.__all__
    assert getattr(backend.datasets, name) is getattr(dd, name)


def test_both_backends_expose_the_archive_error(backend):
    assert backend.datasets.ArchiveUnavailableError is dd.ArchiveUnavailableError
    assert issubclass(dd.ArchiveUnavailableError, RuntimeError)


def test_build_data_command_line(fake_archive, capsys):
    from slide_ref import build_data
    assert build_data.main(["--sets", "fmnist", "--cache-dir", fake_archive["cache"]]) == 0
    assert "load_fashion_mnist" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_data.main(["--sets", "nope"])


def test_gloss_expansion_uses_first_senses(tmp_path):
    _wordnet_files(str(tmp_path))
    glosses = zd.read_wordnet_glosses(str(tmp_path))
    assert glosses["garment"] == "an article of clothing worn on the body"
    assert glosses["word"] == "the gloss of a verb word"          # the verb, not the adj
    text = zd.gloss_expanded("Garments and containers", glosses)
    assert text.split("\n") == ["Garments and containers", glosses["garment"],
                                glosses["container"]]


def test_debtags_attributes_share_the_feature_terms(tmp_path):
    packages, descriptions = _lists(fake_lists(str(tmp_path)))
    names, texts, tags = zd.debtags_points(packages, descriptions, "use", 5)
    vocabulary = {f"use::theme{t}": f"{THEMES[t]}" for t in range(4)}
    data = zd.build_debtags_zsl(names, texts, tags, vocabulary, n_unseen=1)
    # One attribute per description term that is also a package-text term: the 13 words
    # of the four themes ("for" included, "theme0" is no package term).
    assert data.attributes.shape == (13, 4)
    assert_allclose(np.linalg.norm(data.attributes, axis=0), 1.0, rtol=1e-6)
    df = bow.document_frequencies([bow.tokenize_terms(t) for t in texts])
    assert data.features.shape[1] == sum(n >= 2 for n in df.values())


# ----------------------------------------------------------------------------- debtags LSA
def add_untagged_sources(folder, n=24):
    """A second Packages + Translation-en pair: ``n`` untagged documentation packages, each
    its own source, about the four themes (the unlabelled corpus of the LSA space)."""
    stanzas, translations = [], []
    for k in range(n):
        theme, md5 = THEMES[k % len(THEMES)], f"d{k:031d}"
        stanzas.append(_stanza(f"doc{k}", md5, f"documentation of the {theme}"))
        translations.append(_translation(md5, f"documentation of the {theme}",
                                         f"Manual pages for the {theme} and its plugins."))
    for name, text in ((PACKAGES_NAME.replace("main", "contrib"), stanzas),
                       (TRANSLATION_NAME.replace("main", "contrib"), translations)):
        with open(os.path.join(folder, name), "w") as fh:
            fh.write("\n\n".join(text) + "\n")
    return folder


def _debtags_lsa_inputs(tmp_path):
    packages, descriptions = _lists(add_untagged_sources(fake_lists(str(tmp_path))))
    names, texts, tags = zd.debtags_points(packages, descriptions, "use", 5)
    vocabulary = {f"use::theme{t}": f"{THEMES[t]}" for t in range(4)}
    return names, texts, tags, vocabulary, zd.debtags_corpus(packages, descriptions, names)


def test_debtags_corpus_leaves_out_the_sources_of_points(tmp_path):
    *_, corpus = _debtags_lsa_inputs(tmp_path)
    # appK and libsrcK share source srcK, which has a point: only the doc packages remain.
    assert len(corpus) == 24 and all(t.startswith("documentation of the") for t in corpus)


def test_lsa_basis_spans_the_top_singular_vectors():
    rng = np.random.default_rng(0)
    rows = sp.random(60, 12, density=0.4, random_state=1, format="csr") \
        + sp.csr_matrix(rng.random((60, 1)) @ rng.random((1, 12)))
    basis = zd.lsa_basis(rows, 3)
    assert basis.shape == (12, 3)
    assert_allclose(basis.T @ basis, np.eye(3), atol=1e-10)
    _, _, vt = np.linalg.svd(rows.toarray(), full_matrices=False)
    assert_allclose(np.abs(basis.T @ vt[:3].T), np.eye(3), atol=1e-8)   # same vectors, any sign
    assert np.all(basis[np.abs(basis).argmax(axis=0), np.arange(3)] > 0)
    assert_array_equal(zd.lsa_basis(rows, 3), basis)
    with pytest.raises(ValueError, match="n_components"):
        zd.lsa_basis(rows, 13)


def test_debtags_lsa_embeds_packages_and_descriptions_in_one_space(tmp_path):
    names, texts, tags, vocabulary, corpus = _debtags_lsa_inputs(tmp_path)
    data = zd.build_debtags_zsl(names, texts, tags, vocabulary, corpus=corpus,
                                attributes="lsa", n_components=3, n_unseen=1)
    assert data.features.shape == (40, 3) and data.features.dtype == np.float32
    assert data.attributes.shape == (3, 4)
    assert_allclose(np.linalg.norm(data.features, axis=1), 1.0, rtol=1e-5)
    # descriptions centred over the classes (before the unit columns every set gets)
    assert_allclose(data.original_attributes.mean(axis=1), 0.0, atol=1e-6)
    # a package is nearest to its own theme's description in the shared space
    nearest = np.argmax(data.features @ data.attributes, axis=1)
    assert (nearest == data.labels).mean() > 0.9
    with pytest.raises(ValueError, match="corpus"):
        zd.build_debtags_zsl(names, texts, tags, vocabulary, attributes="lsa")
    with pytest.raises(ValueError, match="attributes"):
        zd.build_debtags_zsl(names, texts, tags, vocabulary, attributes="words")
    vocabulary["use::theme2"] = "xylophones"                    # no package term
    for attributes in ("terms", "lsa"):
        with pytest.raises(ValueError, match=r"\['use::theme2'\] share no term"):
            zd.build_debtags_zsl(names, texts, tags, vocabulary, corpus=corpus,
                                 attributes=attributes)


def test_redraw_debtags_split_matches_a_build_with_that_seed(tmp_path):
    names, texts, tags, vocabulary, corpus = _debtags_lsa_inputs(tmp_path)
    kw = dict(corpus=corpus, attributes="lsa", n_components=3, n_unseen=1)
    built = zd.build_debtags_zsl(names, texts, tags, vocabulary, random_state=0, **kw)
    for seed in (1, 2, 5):
        want = zd.build_debtags_zsl(names, texts, tags, vocabulary, random_state=seed, **kw)
        got = zd.redraw_debtags_split(built, seed, n_unseen=1)
        assert_array_equal(got.unseen, want.unseen)
        for loc in ("trainval_loc", "test_seen_loc", "test_unseen_loc", "train_loc", "val_loc"):
            assert_array_equal(getattr(got, loc), getattr(want, loc))
        assert_allclose(got.attributes, want.attributes, rtol=1e-5, atol=1e-6)
        assert_array_equal(got.features, want.features)
    assert not np.array_equal(zd.redraw_debtags_split(built, 1, n_unseen=1).unseen,
                              zd.redraw_debtags_split(built, 2, n_unseen=1).unseen) or \
        not np.array_equal(zd.redraw_debtags_split(built, 1, n_unseen=1).trainval_loc,
                           zd.redraw_debtags_split(built, 2, n_unseen=1).trainval_loc)


def test_load_debtags_zsl_lsa_by_default(fake_archive):
    add_untagged_sources(fake_archive["lists"])
    kw = dict(cache_dir=fake_archive["cache"], lists_dir=fake_archive["lists"], facet="use",
              min_class_size=5, n_unseen=1)
    data = dd.load_debtags_zsl(n_components=3, **kw)
    assert data.features.shape == (40, 3) and data.attributes.shape == (3, 4)
    terms = dd.load_debtags_zsl(attributes="terms", **kw)
    assert terms.features.shape[1] > 3                        # another cache folder
    again = dd.load_debtags_zsl(n_components=3, **kw)
    assert_array_equal(again.features, data.features)
    with pytest.raises(ValueError, match="attributes"):
        dd.load_debtags_zsl(attributes="lda", **kw)
    with pytest.raises(TypeError, match="n_components"):
        dd.load_debtags_zsl(n_components="3", **kw)
