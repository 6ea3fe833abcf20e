"""Real data sets built at run time from Debian's archive (never shipped: licences vary).

Four sets, each built once into a cache folder and read back from it:

:func:`load_debian_xc`
    Extreme classification: package descriptions -> the packages they depend on.
:func:`load_debian_text`
    Next-word prediction over ~17M tokens of English from Debian packages
    (a Zipfian output layer of ~77k words, the papers' Text8 setting).
:func:`load_fashion_mnist`
    Fashion-MNIST (70k 28x28 images), from the ``dataset-fashion-mnist`` package.
:func:`load_debtags_zsl`, :func:`load_fashion_zsl`
    Zero-shot sets in GBU layout (:class:`~slide_ref.datasets.ZSLData`): debtags
    classes described by the tag vocabulary's text, and Fashion-MNIST classes
    described by WordNet.

The protocol of each set (what is a point, a label, the split) is written in
``docs/data.md``.  The cache folder is ``cache_dir``, else ``$SLIDE_DATA``, else
``~/.cache/slide``; a set lives in a sub-folder named after its build
parameters, so builds with other parameters do not overwrite it.  When apt
cannot reach the archive the loaders raise
:class:`~slide_ref._debian_archive.ArchiveUnavailableError` (a ``RuntimeError``)
naming the failed command and the fix.

Command line (``make data``): ``python -m slide_ref.build_data --sets xc,text,fmnist,zsl``.
"""
import collections
import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp

from . import _debian_archive as archive
from ._bag_of_words import (document_frequencies, names_by_id, ranked_vocabulary, smooth_idf,
                            tfidf_rows, tokenize_terms)
from ._data_common import DataSet, hash_fraction
from ._debian_archive import ArchiveUnavailableError
from ._debian_text import build_debian_text, next_word_examples, text_documents
from ._debian_zsl import (DEBTAGS_ATTRIBUTES, FASHION_WORDNET_LEMMAS, build_debtags_zsl,
                          debtags_corpus, debtags_points, read_debtags_vocabulary,
                          read_wordnet_glosses, read_wordnet_nouns, wordnet_class_attributes,
                          zsl_data, zsl_stats)
from ._validation import check_choice, check_float, check_int

__all__ = ["load_debian_xc", "load_debian_text", "load_fashion_mnist", "load_debtags_zsl",
           "load_fashion_zsl", "build_debian_xc", "build_debian_text", "build_debtags_zsl",
           "read_idx", "FASHION_CLASSES", "ArchiveUnavailableError", "DataSet",
           "default_cache_dir"]


# ----------------------------------------------------------------------------- cache
def default_cache_dir():
    """``$SLIDE_DATA`` if set, else ``~/.cache/slide``."""
    return os.environ.get("SLIDE_DATA") or os.path.join(os.path.expanduser("~"), ".cache",
                                                        "slide")


def _check_path(value, name):
    """``value`` as a ``str`` path; ``TypeError`` naming ``name`` for anything else."""
    try:
        return os.fsdecode(os.fspath(value))
    except TypeError:
        raise TypeError(f"{name} must be a path, got {type(value).__name__}") from None


def _cache_root(cache_dir):
    return default_cache_dir() if cache_dir is None else _check_path(cache_dir, "cache_dir")


class _Progress:
    """Stage messages with elapsed time on stderr, or nothing."""

    def __init__(self, show, name):
        self.show, self.name, self.start = bool(show), name, time.perf_counter()

    def __call__(self, message):
        if self.show:
            elapsed = time.perf_counter() - self.start
            print(f"[{self.name} {elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)


#: Version of the cached layout and build protocol; part of every cache folder's name,
#: so a change to either never reads an old build.
BUILD_VERSION = 1


def _set_folder(root, kind, params):
    """``root/kind-<digest of params>``: one folder per set and build parameters."""
    blob = json.dumps(dict(params, build_version=BUILD_VERSION), sort_keys=True).encode()
    return os.path.join(root, f"{kind}-{hashlib.sha1(blob).hexdigest()[:10]}")


def _cached(kind, params, cache_dir, rebuild, build, save, load, progress):
    """Load the set from its cache folder, or build it, save it there and return it.

    The build is written into a temporary folder renamed into place, so the
    cache folder exists only once complete; ``params.json`` in it records the
    parameters.
    """
    root = _cache_root(cache_dir)
    folder = _set_folder(root, kind, params)
    if os.path.isdir(folder) and not rebuild:
        progress(f"reading {folder}")
        return load(folder)
    os.makedirs(root, exist_ok=True)
    data = build(root)
    tmp = tempfile.mkdtemp(prefix=f".{kind}-", dir=root)
    try:
        save(data, tmp)
        with open(os.path.join(tmp, "params.json"), "w") as fh:
            json.dump({"params": params, "stats": data.stats}, fh, indent=1, sort_keys=True)
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not os.path.isdir(folder):   # else another process saved the same set first
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    progress(f"saved {folder}")
    return data


def _debs_dir(root):
    return os.path.join(root, "debs")


def _write_json(path, obj):
    with open(path, "w") as fh:
        json.dump(obj, fh)


def _read_json(path):
    with open(path) as fh:
        return json.load(fh)


# ----------------------------------------------------------------------------- XC
def _binaries_by_source(packages):
    out = collections.defaultdict(set)
    for name, stanza in packages.items():
        out[archive.source_name(stanza)].add(name)
    return out


def xc_candidates(packages, descriptions, alternatives="first"):
    """Points before filtering: one per described package, sorted by name.

    Each is ``(name, source, text, labels)``; labels are the names in
    Depends, Pre-Depends and Recommends (:func:`relation_names`), minus the
    packages built from the point's own source (``foo-dev`` -> ``libfoo1``
    says nothing the text does not).
    """
    texts = archive.package_texts(packages, descriptions)
    siblings = _binaries_by_source(packages)
    points = []
    for name in sorted(texts):
        stanza = packages[name]
        source = archive.source_name(stanza)
        labels = []
        for field in ("Pre-Depends", "Depends", "Recommends"):
            labels += archive.relation_names(stanza.get(field, ""), alternatives)
        labels = [lab for lab in dict.fromkeys(labels) if lab not in siblings[source]]
        points.append((name, source, texts[name], labels))
    return points


def build_debian_xc(packages, descriptions, *, min_label_count=2, min_feature_count=2,
                    test_fraction=0.2, alternatives="first"):
    """The Debian XC set from parsed lists (see :func:`load_debian_xc` for the protocol).

    Parameters
    ----------
    packages : dict
        ``{name: stanza}`` (:func:`~slide_ref._debian_archive.read_packages`).
    descriptions : dict
        ``{Description-md5: description}``
        (:func:`~slide_ref._debian_archive.read_long_descriptions`).

    Returns
    -------
    DataSet
        ``X, Y, Xt, Yt`` (CSR float32), ``feature_names``, ``label_names``,
        ``train_names``, ``test_names`` (package of each row) and ``stats``.
    """
    min_label_count = check_int(min_label_count, "min_label_count", low=1)
    min_feature_count = check_int(min_feature_count, "min_feature_count", low=1)
    test_fraction = check_float(test_fraction, "test_fraction", low=0.0, high=0.9)
    points = xc_candidates(packages, descriptions, alternatives)
    is_test = [hash_fraction(source) < test_fraction for _, source, _, _ in points]
    tokens = [tokenize_terms(text) for _, _, text, _ in points]
    train_tokens = [t for t, test in zip(tokens, is_test) if not test]
    # Vocabularies and idf come from the training points only.
    df = document_frequencies(train_tokens)
    features = ranked_vocabulary(df, min_feature_count)
    idf = smooth_idf(df, features, len(train_tokens))
    label_counts = collections.Counter(
        lab for (_, _, _, labels), test in zip(points, is_test) if not test for lab in labels)
    label_ids = ranked_vocabulary(label_counts, min_label_count)

    parts = {False: [], True: []}
    for point, toks, test in zip(points, tokens, is_test):
        labels = sorted(label_ids[lab] for lab in point[3] if lab in label_ids)
        if labels and any(t in features for t in toks):
            parts[test].append((point[0], toks, labels))
    X, Y = _xc_matrices(parts[False], features, idf, len(label_ids))
    Xt, Yt = _xc_matrices(parts[True], features, idf, len(label_ids))
    data = DataSet(X=X, Y=Y, Xt=Xt, Yt=Yt, unpack=("X", "Y", "Xt", "Yt"),
                   feature_names=names_by_id(features), label_names=names_by_id(label_ids),
                   train_names=[p[0] for p in parts[False]],
                   test_names=[p[0] for p in parts[True]])
    data.stats = _xc_stats(data)
    return data


def _xc_matrices(rows, features, idf, n_labels):
    X = tfidf_rows([toks for _, toks, _ in rows], features, idf)
    indptr = np.cumsum([0] + [len(labels) for _, _, labels in rows])
    ids = np.asarray([i for _, _, labels in rows for i in labels], dtype=np.int32)
    Y = sp.csr_matrix((np.ones(ids.size, np.float32), ids, indptr), shape=(len(rows), n_labels))
    return X, Y


def _xc_stats(data):
    n, nt = data.X.shape[0], data.Xt.shape[0]
    return {"train_points": n, "test_points": nt, "features": data.X.shape[1],
            "labels": data.Y.shape[1],
            "labels_per_point": round(float((data.Y.nnz + data.Yt.nnz) / max(n + nt, 1)), 3),
            "features_per_point": round(float((data.X.nnz + data.Xt.nnz) / max(n + nt, 1)), 2),
            "test_labels_unseen_in_train": int(np.count_nonzero(
                (np.asarray(data.Y.sum(axis=0)).ravel() == 0)
                & (np.asarray(data.Yt.sum(axis=0)).ravel() > 0)))}


def _save_xc(data, folder):
    from .datasets import write_xc
    n_labels = data.Y.shape[1]
    write_xc(os.path.join(folder, "train.txt"), data.X, data.Y, n_labels=n_labels)
    write_xc(os.path.join(folder, "test.txt"), data.Xt, data.Yt, n_labels=n_labels)
    _write_json(os.path.join(folder, "names.json"),
                {k: getattr(data, k) for k in ("feature_names", "label_names", "train_names",
                                               "test_names")})


def _load_xc(folder):
    from .datasets import read_xc
    X, Y = read_xc(os.path.join(folder, "train.txt"))
    Xt, Yt = read_xc(os.path.join(folder, "test.txt"))
    names = _read_json(os.path.join(folder, "names.json"))
    stats = _read_json(os.path.join(folder, "params.json"))["stats"]
    return DataSet(X=X, Y=Y, Xt=Xt, Yt=Yt, unpack=("X", "Y", "Xt", "Yt"), stats=stats,
                   **names)


def _read_lists(lists_dir, progress):
    packages_files, translation_files = archive.ensure_lists(_check_path(lists_dir, "lists_dir"))
    progress(f"reading {len(packages_files)} Packages and {len(translation_files)} "
             "Translation-en lists")
    return (archive.read_packages(packages_files),
            archive.read_long_descriptions(translation_files))


def load_debian_xc(*, cache_dir=None, rebuild=False, show_progress=False, min_label_count=2,
                   min_feature_count=2, test_fraction=0.2, alternatives="first",
                   lists_dir=archive.DEFAULT_LISTS_DIR):
    """Debian XC: package descriptions -> the packages they depend on.

    Protocol (``docs/data.md``): one point per binary package in apt's
    Packages lists that has a description; its text is the short + long
    English description (Translation-en, joined on ``Description-md5``); its
    labels are the packages named in Pre-Depends, Depends and Recommends
    (versions and architecture qualifiers stripped; of alternatives ``a | b``
    the first, or all with ``alternatives="all"``), minus those built from the
    point's own source package.  Points are split into train/test by a hash
    of their *source* package (binaries of one source share text), so no
    source is on both sides.  Labels seen ``min_label_count`` times and terms
    in ``min_feature_count`` descriptions of the training part are kept
    (vocabularies ranked by frequency: id 0 the most frequent); features are
    L2-normalised sublinear tf-idf rows.  Points left without labels or
    features are dropped.  The result depends on the lists only.

    Parameters
    ----------
    cache_dir : path, optional
        Cache root (default ``$SLIDE_DATA`` or ``~/.cache/slide``).
    rebuild : bool, default=False
        Build again even when cached (for example after ``apt-get update``).
    show_progress : bool, default=False
        Stage messages on stderr.
    min_label_count, min_feature_count : int
    test_fraction : float, default=0.2
        Fraction of the source packages in the test part.
    alternatives : {"first", "all"}
    lists_dir : path, default="/var/lib/apt/lists"
        apt's lists; ``apt-get update -o Acquire::Languages=en`` runs when it
        lacks Packages or Translation-en files.

    Returns
    -------
    DataSet
        Unpacks as ``X, Y, Xt, Yt`` (CSR float32: tf-idf features, 0/1 labels);
        also ``feature_names``, ``label_names``, ``train_names``,
        ``test_names`` and ``stats``.

    Raises
    ------
    ArchiveUnavailableError
        apt could not fetch the lists.
    """
    params = {"min_label_count": check_int(min_label_count, "min_label_count", low=1),
              "min_feature_count": check_int(min_feature_count, "min_feature_count", low=1),
              "test_fraction": check_float(test_fraction, "test_fraction", low=0.0, high=0.9),
              "alternatives": check_choice(alternatives, "alternatives", ("first", "all"))}
    progress = _Progress(show_progress, "debian_xc")

    def build(root):
        packages, descriptions = _read_lists(lists_dir, progress)
        progress(f"building from {len(packages)} packages")
        return build_debian_xc(packages, descriptions, **params)

    return _cached("debian_xc", params, cache_dir, rebuild, build, _save_xc, _load_xc,
                   progress)


# ----------------------------------------------------------------------------- text
def _save_text(data, folder):
    np.savez(os.path.join(folder, "tokens.npz"), tokens=data.tokens,
             doc_offsets=data.doc_offsets, doc_is_test=data.doc_is_test, counts=data.counts)
    with open(os.path.join(folder, "vocabulary.txt"), "w") as fh:
        fh.write("\n".join(data.vocabulary) + "\n")


def _load_text(folder):
    with np.load(os.path.join(folder, "tokens.npz")) as z:
        arrays = {k: z[k] for k in z.files}
    with open(os.path.join(folder, "vocabulary.txt")) as fh:
        vocabulary = fh.read().split("\n")[:-1]
    stats = _read_json(os.path.join(folder, "params.json"))["stats"]
    return DataSet(vocabulary=vocabulary, stats=stats, **arrays)


def load_debian_text(*, context=4, max_tokens=None, cache_dir=None, rebuild=False,
                     show_progress=False, min_count=5, test_fraction=0.1,
                     lists_dir=archive.DEFAULT_LISTS_DIR):
    """Next-word prediction over English from Debian packages (a Text8-like task).

    Protocol (``docs/data.md``): documents are the long package descriptions
    (Translation-en), WordNet glosses (``wordnet-base``, 100 synsets a
    document), the GCIDE dictionary (``dict-gcide``, 400 lines a document),
    Perl's manual (``perl-doc``), and the Sphinx sources of Python's and
    Linux's documentation (``python3-doc``, ``linux-doc``).  Tokens are
    lower-cased words (letters, inner apostrophe); the vocabulary holds the
    words seen ``min_count`` times in training documents, ranked by count (id
    0 the most frequent); other words are removed.  An example is the bag of
    the ``context`` previous words (mean of one-hots over the vocabulary) ->
    the next word.  Documents go to the test part by a hash of their names.

    Parameters
    ----------
    context : int, default=4
        Context words per example (chosen at load time; the cache holds tokens).
    max_tokens : int, optional
        Keep documents (in an order fixed by a hash of their names) up to this
        many tokens: a smaller set, built faster.
    cache_dir, rebuild, show_progress, lists_dir
        As in :func:`load_debian_xc`.
    min_count : int, default=5
    test_fraction : float, default=0.1
        Fraction of documents in the test part.

    Returns
    -------
    DataSet
        Unpacks as ``X, y, Xt, yt`` (CSR float32 [n, n_words], int64 word ids);
        also ``vocabulary``, ``counts`` (training count of each word) and ``stats``.
    """
    context = check_int(context, "context", low=1)
    params = {"max_tokens": None if max_tokens is None else check_int(max_tokens, "max_tokens",
                                                                      low=1),
              "min_count": check_int(min_count, "min_count", low=1),
              "test_fraction": check_float(test_fraction, "test_fraction", low=0.0, high=0.9)}
    progress = _Progress(show_progress, "debian_text")

    def build(root):
        packages, descriptions = _read_lists(lists_dir, progress)
        documents = text_documents(packages, descriptions, _debs_dir(root), progress)
        data = build_debian_text(documents, **params)
        progress(f"{data.stats}")
        return data

    stream = _cached("debian_text", params, cache_dir, rebuild, build, _save_text, _load_text,
                     progress)
    n_words = len(stream.vocabulary)
    docs = np.arange(stream.doc_is_test.size)
    X, y = next_word_examples(stream.tokens, stream.doc_offsets, docs[~stream.doc_is_test],
                              context, n_words)
    Xt, yt = next_word_examples(stream.tokens, stream.doc_offsets, docs[stream.doc_is_test],
                                context, n_words)
    stats = dict(stream.stats, context=context, train_examples=int(y.size),
                 test_examples=int(yt.size))
    return DataSet(X=X, y=y, Xt=Xt, yt=yt, unpack=("X", "y", "Xt", "yt"),
                   vocabulary=stream.vocabulary, counts=stream.counts, stats=stats)


# ----------------------------------------------------------------------------- Fashion-MNIST
#: Fashion-MNIST's class names, by label id.
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle boot")

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(content):
    """Decode an IDX array (the MNIST file format) from bytes (gzip is detected).

    Layout: two zero bytes, a type code, the number of dimensions, then each
    dimension as a big-endian uint32, then the values row-major.
    """
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    if len(content) < 4 or content[:2] != b"\x00\x00" or content[2] not in _IDX_TYPES:
        raise ValueError("not an IDX file (bad magic number)")
    ndim = content[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(content[4:header], dtype=">u4"))
    dtype = np.dtype(_IDX_TYPES[content[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(content) - header != expected:
        raise ValueError(f"IDX file holds {len(content) - header} bytes of data, its header "
                         f"{shape} needs {expected}")
    return np.frombuffer(content, dtype=dtype, offset=header).reshape(shape)


def _fashion_arrays(root):
    """uint8 images and labels of both parts from an unpacked ``dataset-fashion-mnist``."""
    folder = os.path.join(root, "usr/share/datasets/fashion-mnist")
    arrays = {}
    for part, prefix in (("train", "train"), ("test", "t10k")):
        for kind, key in (("images", "idx3"), ("labels", "idx1")):
            with open(os.path.join(folder, f"{prefix}-{kind}-{key}-ubyte.gz"), "rb") as fh:
                arrays[f"{part}_{kind}"] = read_idx(fh.read())
    return arrays


def _fashion_set(arrays):
    def images(a):
        return (a.reshape(a.shape[0], -1).astype(np.float32) / 255.0)

    stats = {"train_images": int(arrays["train_labels"].size),
             "test_images": int(arrays["test_labels"].size), "pixels": 784, "classes": 10}
    return DataSet(X=images(arrays["train_images"]), y=arrays["train_labels"].astype(np.int64),
                   Xt=images(arrays["test_images"]), yt=arrays["test_labels"].astype(np.int64),
                   unpack=("X", "y", "Xt", "yt"), class_names=list(FASHION_CLASSES),
                   raw=arrays, stats=stats)


def load_fashion_mnist(*, cache_dir=None, rebuild=False, show_progress=False):
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (the IDX files in it).

    Returns
    -------
    DataSet
        Unpacks as ``X, y, Xt, yt``: 60,000 / 10,000 images as float32 rows of
        784 pixels in [0, 1] and int64 labels 0-9 (``class_names``).
    """
    progress = _Progress(show_progress, "fashion_mnist")

    def build(root):
        progress("fetching dataset-fashion-mnist")
        with archive.unpacked("dataset-fashion-mnist", _debs_dir(root)) as unpacked_root:
            return _fashion_set(_fashion_arrays(unpacked_root))

    def save(data, folder):
        np.savez(os.path.join(folder, "fashion_mnist.npz"), **data.raw)

    def load(folder):
        with np.load(os.path.join(folder, "fashion_mnist.npz")) as z:
            return _fashion_set({k: z[k] for k in z.files})

    return _cached("fashion_mnist", {"format": 1}, cache_dir, rebuild, build, save, load,
                   progress)


# ----------------------------------------------------------------------------- ZSL
def load_fashion_zsl(*, unseen=("pullover", "sandal", "dress"), attributes="both",
                     test_fraction=0.2, random_state=0, cache_dir=None, rebuild=False,
                     show_progress=False):
    """Fashion-MNIST as a zero-shot set, classes described by WordNet (GBU layout).

    Features are the 784 pixels in [0, 1] of all 70,000 images; each class's
    attributes come from the first noun sense of its name in WordNet
    (:data:`FASHION_WORDNET_LEMMAS`): hypernym indicators, gloss words, or both
    (:func:`wordnet_class_attributes`).  Images of the ``unseen`` classes form
    ``test_unseen``; ``test_fraction`` of each seen class's images form
    ``test_seen``; a fifth of the seen classes are the validation classes.

    Returns
    -------
    ZSLData
    """
    unseen_ids = _class_ids(unseen, FASHION_CLASSES, "unseen")
    params = {"unseen": sorted(unseen_ids), "attributes": check_choice(
        attributes, "attributes", ("hypernyms", "glosses", "both")),
        "test_fraction": check_float(test_fraction, "test_fraction", low=0.0, high=0.9),
        "random_state": check_int(random_state, "random_state", low=0)}
    progress = _Progress(show_progress, "fashion_zsl")
    images = load_fashion_mnist(cache_dir=cache_dir, show_progress=show_progress)
    features = np.concatenate([images.X, images.Xt])
    labels = np.concatenate([images.y, images.yt])

    def build(root):
        progress("fetching wordnet-base")
        with archive.unpacked("wordnet-base", _debs_dir(root)) as wn_root:
            index, synsets = read_wordnet_nouns(wn_root)
        A = wordnet_class_attributes(FASHION_WORDNET_LEMMAS, index, synsets, attributes)
        return _fashion_zsl(features, labels, A, params)

    def save(data, folder):
        np.savez(os.path.join(folder, "fashion_zsl.npz"), attributes=data.original_attributes)

    def load(folder):
        with np.load(os.path.join(folder, "fashion_zsl.npz")) as z:
            return _fashion_zsl(features, labels, z["attributes"].astype(np.float64), params)

    return _cached("fashion_zsl", params, cache_dir, rebuild, build, save, load, progress)


def _fashion_zsl(features, labels, A, params):
    data = zsl_data(features, labels, A, np.asarray(params["unseen"]), list(FASHION_CLASSES),
                     params["test_fraction"], np.random.default_rng(params["random_state"]),
                     "load_fashion_zsl")
    data.stats = zsl_stats(data)
    return data


def _class_ids(names, classes, argument):
    """Ids of the class ``names`` (a sequence of strings) among ``classes``."""
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{argument} must be a sequence of class names")
    unknown = [n for n in names if n not in classes]
    if unknown or not names:
        raise ValueError(f"{argument} must name classes among {list(classes)}, got {names!r}")
    return [classes.index(n) for n in names]


def load_debtags_zsl(*, facet="works-with", min_class_size=20, n_unseen=None, wordnet=False,
                     attributes="lsa", n_components=128, max_features=2048, test_fraction=0.2,
                     random_state=0, cache_dir=None,
                     rebuild=False, show_progress=False, lists_dir=archive.DEFAULT_LISTS_DIR):
    """Debian packages as a zero-shot set: classes are the tags of one debtags facet.

    Points (:func:`debtags_points`) are packages with exactly one tag of
    ``facet`` (one package per source package); features are their
    descriptions' L2-normalised tf-idf over the ``max_features`` terms in
    most descriptions (dense); each class is described by its tag's name and
    the text the ``debtags`` package's vocabulary gives the tag (short + long
    description), followed with ``wordnet=True`` by the WordNet gloss of each
    of its content words (``wordnet-base``), embedded like a package text in
    the same tf-idf term space (``attributes="terms"``: attribute rows are
    the terms some class uses), or (``"lsa"``, the default) both projected on
    the ``n_components`` top singular vectors of the tf-idf rows of every
    package built from another source (:func:`debtags_corpus`), class
    descriptions centred over the classes (:func:`build_debtags_zsl`).
    ``n_unseen`` classes (default a quarter) drawn with
    ``random_state`` are unseen; GBU splits as in :func:`load_fashion_zsl`.
    ``image_files`` holds the package of each row.

    Returns
    -------
    ZSLData
    """
    if not isinstance(facet, str):
        raise TypeError(f"facet must be a debtags facet name (str), got {type(facet).__name__}")
    params = {"facet": facet, "min_class_size": check_int(min_class_size,
                                                                "min_class_size", low=2),
              "n_unseen": None if n_unseen is None else check_int(n_unseen, "n_unseen", low=1),
              "wordnet": bool(wordnet),
              "attributes": check_choice(attributes, "attributes", DEBTAGS_ATTRIBUTES),
              "n_components": check_int(n_components, "n_components", low=1),
              "max_features": check_int(max_features, "max_features", low=1),
              "test_fraction": check_float(test_fraction, "test_fraction", low=0.0, high=0.9),
              "random_state": check_int(random_state, "random_state", low=0)}
    progress = _Progress(show_progress, "debtags_zsl")

    def build(root):
        packages, descriptions = _read_lists(lists_dir, progress)
        names, texts, tags = debtags_points(packages, descriptions, facet, min_class_size)
        if len(set(tags)) < 4:
            raise ValueError(f"facet {facet!r} has {len(set(tags))} tags with "
                             f"min_class_size={min_class_size} packages; the set needs 4 "
                             "(facets with many: works-with, use, field, game)")
        progress(f"fetching debtags ({len(names)} points)")
        with archive.unpacked("debtags", _debs_dir(root)) as tags_root:
            vocabulary = read_debtags_vocabulary(tags_root)
        glosses = None
        if wordnet:
            with archive.unpacked("wordnet-base", _debs_dir(root)) as wn_root:
                glosses = read_wordnet_glosses(wn_root)
        corpus = debtags_corpus(packages, descriptions, names) if attributes == "lsa" else None
        return build_debtags_zsl(names, texts, tags, vocabulary, glosses=glosses, corpus=corpus,
                                 **{k: params[k] for k in ("attributes", "n_components",
                                                           "n_unseen", "max_features",
                                                           "test_fraction", "random_state")})

    def save(data, folder):
        from ._zsl_data import save_gbu
        save_gbu(data, folder)

    def load(folder):
        from ._zsl_data import load_gbu
        data = load_gbu(folder)
        data.stats = _read_json(os.path.join(folder, "params.json"))["stats"]
        return data

    return _cached("debtags_zsl", params, cache_dir, rebuild, build, save, load, progress)
