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
import re
import shutil
import sys
import tempfile
import time
import types

import numpy as np
import scipy.sparse as sp

from . import _debian_archive as archive
from ._bag_of_words import (document_frequencies, ranked_vocabulary, smooth_idf, tfidf_rows,
                            tokenize_terms)
from ._debian_archive import ArchiveUnavailableError
from ._validation import check_float, check_int

__all__ = ["load_debian_xc", "load_debian_text", "load_fashion_mnist", "load_debtags_zsl",
           "load_fashion_zsl", "build_debian_xc", "build_debian_text", "build_debtags_zsl",
           "read_idx", "FASHION_CLASSES", "ArchiveUnavailableError", "DataSet",
           "default_cache_dir"]


# ----------------------------------------------------------------------------- common
class DataSet(types.SimpleNamespace):
    """A loaded set: arrays and metadata as attributes.

    Iterating yields the main arrays named in ``unpack`` (for example
    ``X, Y, Xt, Yt = load_debian_xc()``); ``stats`` is a dict of the set's
    statistics.
    """

    def __iter__(self):
        return iter([getattr(self, name) for name in self.unpack])


def default_cache_dir():
    """``$SLIDE_DATA`` if set, else ``~/.cache/slide``."""
    return os.environ.get("SLIDE_DATA") or os.path.join(os.path.expanduser("~"), ".cache",
                                                        "slide")


def _cache_root(cache_dir):
    if cache_dir is None:
        return default_cache_dir()
    try:
        return os.fsdecode(os.fspath(cache_dir))
    except TypeError:
        raise TypeError(f"cache_dir must be a path or None, got {type(cache_dir).__name__}") \
            from None


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
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    progress(f"saved {folder}")
    return data


def _hash_fraction(key):
    """A stable number in [0, 1) for a string (the split does not depend on the order)."""
    return int(hashlib.sha1(key.encode()).hexdigest()[:12], 16) / float(1 << 48)


def _debs_dir(root):
    return os.path.join(root, "debs")


def _write_json(path, obj):
    with open(path, "w") as fh:
        json.dump(obj, fh)


def _read_json(path):
    with open(path) as fh:
        return json.load(fh)


# ----------------------------------------------------------------------------- XC
def _package_texts(packages, descriptions):
    """``{package: text}``: short + long description (long one from Translation-en)."""
    texts = {}
    for name, stanza in packages.items():
        text = descriptions.get(stanza.get("Description-md5", ""), stanza.get("Description"))
        if text:
            texts[name] = archive.description_text(text)
    return texts


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
    texts = _package_texts(packages, descriptions)
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
    is_test = [_hash_fraction(source) < test_fraction for _, source, _, _ in points]
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
                   feature_names=_names(features), label_names=_names(label_ids),
                   train_names=[p[0] for p in parts[False]],
                   test_names=[p[0] for p in parts[True]])
    data.stats = _xc_stats(data)
    return data


def _names(vocabulary):
    names = [None] * len(vocabulary)
    for term, i in vocabulary.items():
        names[i] = term
    return names


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
    packages_files, translation_files = archive.ensure_lists(lists_dir)
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
              "alternatives": _check_choice(alternatives, "alternatives", ("first", "all"))}
    progress = _Progress(show_progress, "debian_xc")

    def build(root):
        packages, descriptions = _read_lists(lists_dir, progress)
        progress(f"building from {len(packages)} packages")
        return build_debian_xc(packages, descriptions, **params)

    return _cached("debian_xc", params, cache_dir, rebuild, build, _save_xc, _load_xc,
                   progress)


def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}")
    return value


# ----------------------------------------------------------------------------- text
# The English of the text task, in build order: (source name, package or None).
# A metapackage (python3-doc, linux-doc) stands for the release's versioned one.
TEXT_SOURCES = (("descriptions", None), ("wordnet", "wordnet-base"), ("gcide", "dict-gcide"),
                ("perl", "perl-doc"), ("python", "python3-doc"), ("linux", "linux-doc"))

_DICT_MARKUP = re.compile(r"\\[^\\\n]*\\|\[[^\]\n]*\]|\([^()\n]*\)")
_RST_MARKUP = re.compile(r"^\s*\.\. .*$|:[a-z:]+:`|^[=\-~^*+|#]{3,}.*$", re.MULTILINE)
_POD_MARKUP = re.compile(r"^=[a-z]+\d?|[A-Z]<+", re.MULTILINE)


def _versioned_package(packages, name):
    """``python3-doc`` -> ``python3.11-doc``: the first Depends of a doc metapackage."""
    stanza = packages.get(name)
    if stanza is None:
        return name
    depends = archive.relation_names(stanza.get("Depends", ""))
    stem = name.rsplit("-doc", 1)[0]
    return next((d for d in depends if d.startswith(stem) and "-doc" in d), name)


def _read_text(path):
    opener = gzip.open if path.endswith((".gz", ".dz")) else open
    with opener(path, "rb") as fh:
        return fh.read().decode("utf-8", "replace")


def _files_under(root, suffixes):
    """Sorted relative paths of the files under ``root`` ending in one of ``suffixes``."""
    found = []
    for folder, _, files in os.walk(root):
        found += [os.path.relpath(os.path.join(folder, f), root) for f in files
                  if f.endswith(suffixes)]
    return sorted(found)


def _blocks(name, lines, size):
    """Documents of ``size`` consecutive lines (entries of a dictionary file)."""
    for k in range(0, len(lines), size):
        yield f"{name}:{k // size}", "\n".join(lines[k:k + size])


def wordnet_documents(root):
    """WordNet glosses (``data.noun`` ... ``data.adv``), 100 synsets per document."""
    for pos in ("noun", "verb", "adj", "adv"):
        path = os.path.join(root, "usr/share/wordnet", f"data.{pos}")
        glosses = [line.split(" | ", 1)[1].strip() for line in _read_text(path).splitlines()
                   if not line.startswith("  ") and " | " in line]
        yield from _blocks(f"wordnet:{pos}", glosses, 100)


def gcide_documents(root):
    """GCIDE (Webster 1913) entries, markup stripped, 400 lines per document."""
    text = _read_text(os.path.join(root, "usr/share/dictd/gcide.dict.dz"))
    yield from _blocks("gcide", _DICT_MARKUP.sub(" ", text).splitlines(), 400)


def pod_documents(root):
    """Perl's manual (``*.pod`` files), one document per file."""
    for rel in _files_under(root, (".pod",)):
        yield f"perl:{os.path.basename(rel)}", _POD_MARKUP.sub(" ", _read_text(
            os.path.join(root, rel)))


def rst_documents(root, name):
    """Sphinx sources (``_sources/**/*.rst.txt``), one document per file."""
    for rel in _files_under(root, (".rst.txt",)):
        if "/_sources/" in "/" + rel:
            yield f"{name}:{rel.split('_sources/', 1)[1]}", _RST_MARKUP.sub(
                " ", _read_text(os.path.join(root, rel)))


def _source_documents(source, root):
    readers = {"wordnet": wordnet_documents, "gcide": gcide_documents, "perl": pod_documents}
    if source in readers:
        return readers[source](root)
    return rst_documents(root, source)


def text_documents(packages, descriptions, debs_dir, progress=lambda message: None):
    """Every ``(name, text)`` document of the text task, in :data:`TEXT_SOURCES` order."""
    for md5 in sorted(descriptions):
        yield f"description:{md5}", archive.description_text(descriptions[md5])
    for source, package in TEXT_SOURCES[1:]:
        package = _versioned_package(packages, package)
        progress(f"reading {package}")
        with archive.unpacked(package, debs_dir) as root:
            yield from _source_documents(source, root)


def build_debian_text(documents, *, max_tokens=None, min_count=5, test_fraction=0.1):
    """Token stream of the text task from ``(name, text)`` documents.

    Documents are put in an order fixed by a hash of their names and kept
    while the total stays within ``max_tokens``; each goes to the test part by
    a hash of its name.  The vocabulary holds the words seen ``min_count``
    times in the training part, ranked by count; other words are removed
    from the stream (as word2vec does), so contexts skip them.

    Returns
    -------
    DataSet
        ``tokens`` (int32 word ids, documents concatenated), ``doc_offsets``
        [n_docs + 1], ``doc_is_test`` [n_docs] bool, ``vocabulary`` (words by
        id), ``counts`` (training count of each id) and ``stats``.
    """
    from ._bag_of_words import tokenize_words
    min_count = check_int(min_count, "min_count", low=1)
    test_fraction = check_float(test_fraction, "test_fraction", low=0.0, high=0.9)
    if max_tokens is not None:
        max_tokens = check_int(max_tokens, "max_tokens", low=1)
    docs = sorted(((_hash_fraction("order:" + name), name, tokenize_words(text))
                   for name, text in documents), key=lambda d: d[:2])
    kept, total = [], 0
    for _, name, words in docs:
        if max_tokens is not None and total + len(words) > max_tokens:
            continue
        kept.append((name, words, _hash_fraction(name) < test_fraction))
        total += len(words)
    counts = collections.Counter(w for _, words, test in kept if not test for w in words)
    vocab = ranked_vocabulary(counts, min_count)
    ids = [np.fromiter((vocab[w] for w in words if w in vocab), dtype=np.int32)
           for _, words, _ in kept]
    vocabulary = _names(vocab)
    data = DataSet(tokens=np.concatenate(ids) if ids else np.zeros(0, np.int32),
                   doc_offsets=np.cumsum([0] + [i.size for i in ids]).astype(np.int64),
                   doc_is_test=np.array([test for _, _, test in kept], dtype=bool),
                   vocabulary=vocabulary,
                   counts=np.array([counts[w] for w in vocabulary], dtype=np.int64))
    data.stats = {"documents": len(kept), "test_documents": int(data.doc_is_test.sum()),
                  "raw_tokens": total, "tokens_in_vocabulary": int(data.tokens.size),
                  "vocabulary": len(vocabulary)}
    return data


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


def next_word_examples(tokens, doc_offsets, docs, context, n_words):
    """Bag-of-context examples of the documents ``docs`` (indices into ``doc_offsets``).

    Every position with ``context`` words before it in its document is an
    example: ``X`` row = the mean of the one-hot vectors of those words (a CSR
    row of ``n_words`` columns; a repeated word weighs more), ``y`` = the word
    at the position.
    """
    starts, ends = doc_offsets[docs], doc_offsets[np.asarray(docs) + 1]
    lengths = np.maximum(ends - starts - context, 0)
    # Positions start+context .. end-1 of every document, without a Python loop.
    first = np.repeat(starts + context - np.cumsum(lengths) + lengths, lengths)
    positions = first + np.arange(lengths.sum())
    y = tokens[positions].astype(np.int64)
    cols = np.stack([tokens[positions - k] for k in range(1, context + 1)], axis=1)
    n = positions.size
    X = sp.csr_matrix((np.full(n * context, 1.0 / context, np.float32), cols.ravel(),
                       np.arange(0, n * context + 1, context, dtype=np.int64)),
                      shape=(n, n_words))
    X.sum_duplicates()
    return X, y


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
#: WordNet lemma (first noun sense) describing each Fashion-MNIST class; WordNet
#: has no "ankle boot", its hypernym "boot" stands in.
FASHION_WORDNET_LEMMAS = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                          "sneaker", "bag", "boot")

# Words too common in glosses and tag descriptions to describe a class.
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to "
    "which with e.g used use uses packages package applies software".split())


def _content_words(text):
    from ._bag_of_words import tokenize_words
    return [w for w in tokenize_words(text) if w not in _STOPWORDS and len(w) > 1]


def class_word_attributes(texts):
    """Columns of tf-idf weights of the content words of each class's text: [n_words, C].

    ``idf = log(C / df)``, so a word in every class's text weighs nothing.
    """
    bags = [collections.Counter(_content_words(t)) for t in texts]
    df = document_frequencies(bags)
    vocab = ranked_vocabulary(df, 1)
    A = np.zeros((len(vocab), len(texts)))
    for c, bag in enumerate(bags):
        for w, n in bag.items():
            A[vocab[w], c] = (1.0 + np.log(n)) * np.log(len(texts) / df[w])
    return A[np.abs(A).sum(axis=1) > 0]


def read_wordnet_nouns(root):
    """``(index, synsets)`` of WordNet's nouns from an unpacked ``wordnet-base``.

    ``index``: lemma -> synset offsets by sense; ``synsets``: offset ->
    ``(hypernym offsets, gloss)``.
    """
    folder = os.path.join(root, "usr/share/wordnet")
    index = {}
    for line in _read_text(os.path.join(folder, "index.noun")).splitlines():
        if line.startswith(" "):
            continue
        parts = line.split()
        n_senses = int(parts[2])
        index[parts[0]] = parts[-n_senses:]
    synsets = {}
    for line in _read_text(os.path.join(folder, "data.noun")).splitlines():
        if line.startswith(" ") or " | " not in line:
            continue
        head, gloss = line.split(" | ", 1)
        parts = head.split()
        n_words = int(parts[3], 16)
        p = 4 + 2 * n_words
        n_pointers = int(parts[p])
        pointers = [parts[p + 1 + 4 * k: p + 5 + 4 * k] for k in range(n_pointers)]
        synsets[parts[0]] = ([off for sym, off, pos, _ in pointers
                              if sym in ("@", "@i") and pos == "n"], gloss.strip())
    return index, synsets


def _hypernym_closure(offset, synsets):
    seen, todo = [], list(synsets[offset][0])
    while todo:
        off = todo.pop()
        if off not in seen:
            seen.append(off)
            todo += synsets[off][0]
    return seen


def wordnet_class_attributes(lemmas, index, synsets, kind="both"):
    """Class attribute columns [K, C] from WordNet for nouns ``lemmas`` (first senses).

    ``"hypernyms"``: one 0/1 row per ancestor synset (shared by all classes
    dropped); ``"glosses"``: tf-idf of the content words of each class's gloss;
    ``"both"``: the two blocks stacked, each scaled to unit column norm.
    """
    _check_choice(kind, "kind", ("hypernyms", "glosses", "both"))
    missing = [lemma for lemma in lemmas if lemma not in index]
    if missing:
        raise ValueError(f"WordNet has no noun {missing}")
    senses = [index[lemma][0] for lemma in lemmas]
    closures = [set(_hypernym_closure(s, synsets)) for s in senses]
    ancestors = sorted(set().union(*closures) - set.intersection(*closures))
    H = np.array([[a in c for c in closures] for a in ancestors], dtype=np.float64)
    G = class_word_attributes([synsets[s][1] for s in senses])
    if kind == "hypernyms":
        return H
    if kind == "glosses":
        return G
    return np.vstack([_unit_cols(H), _unit_cols(G)])


def _unit_cols(M):
    norms = np.linalg.norm(M, axis=0, keepdims=True)
    return M / np.where(norms > 0, norms, 1.0)


def _zsl_data(features, labels, raw_attributes, unseen, class_names, test_fraction, rng,
              source):
    from ._zsl_data import ZSLData, _gbu_splits
    n_classes = raw_attributes.shape[1]
    seen = np.setdiff1d(np.arange(n_classes), unseen)
    n_val = max(1, seen.size // 5)
    splits = _gbu_splits(labels, seen, n_val, test_fraction, rng)
    return ZSLData(features, labels, _unit_cols(raw_attributes).astype(np.float32),
                   original_attributes=raw_attributes.astype(np.float32),
                   class_names=class_names, source=source, **splits)


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
    params = {"unseen": sorted(unseen_ids), "attributes": _check_choice(
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
    data = _zsl_data(features, labels, A, np.asarray(params["unseen"]), list(FASHION_CLASSES),
                     params["test_fraction"], np.random.default_rng(params["random_state"]),
                     "load_fashion_zsl")
    data.stats = _zsl_stats(data)
    return data


def _class_ids(names, classes, argument):
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{argument} must be a sequence of class names")
    unknown = [n for n in names if n not in classes]
    if unknown or not names:
        raise ValueError(f"{argument} must name classes among {list(classes)}, got {names!r}")
    return [classes.index(n) for n in names]


def _zsl_stats(data):
    return {"images": int(data.labels.size), "features": int(data.features.shape[1]),
            "attributes": int(data.attributes.shape[0]), "classes": int(data.n_classes),
            "seen": int(data.seen.size), "unseen": int(data.unseen.size),
            "trainval": int(data.trainval_loc.size), "test_seen": int(data.test_seen_loc.size),
            "test_unseen": int(data.test_unseen_loc.size)}


def debtags_points(packages, descriptions, facet, min_class_size):
    """``(names, texts, tags)`` of the debtags ZSL set: one package per source.

    A point is the first package (by name) of a source package tagged with
    exactly one tag of ``facet`` (the placeholder ``facet::TODO`` ignored); classes are the tags with at least
    ``min_class_size`` points.
    """
    texts = _package_texts(packages, descriptions)
    chosen = {}
    for name in sorted(texts):
        tags = [t.strip() for t in packages[name].get("Tag", "").replace("\n", " ").split(",")]
        # "facet::TODO" marks a package still to be classified, not a class.
        in_facet = [t for t in tags if t.startswith(facet + "::") and not t.endswith("::TODO")]
        source = archive.source_name(packages[name])
        if len(in_facet) == 1 and source not in chosen:
            chosen[source] = (name, texts[name], in_facet[0])
    sizes = collections.Counter(tag for _, _, tag in chosen.values())
    points = sorted(p for p in chosen.values() if sizes[p[2]] >= min_class_size)
    return [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]


def read_wordnet_glosses(root):
    """``{lemma: gloss of its first sense}`` over WordNet's four parts of speech.

    A lemma that is a noun gets the noun gloss, else the verb, adjective or
    adverb one.
    """
    folder = os.path.join(root, "usr/share/wordnet")
    glosses = {}
    for pos in ("noun", "verb", "adj", "adv"):
        text = {}
        for line in _read_text(os.path.join(folder, f"data.{pos}")).splitlines():
            if not line.startswith(" ") and " | " in line:
                head, gloss = line.split(" | ", 1)
                text[head.split(" ", 1)[0]] = gloss.strip()
        for line in _read_text(os.path.join(folder, f"index.{pos}")).splitlines():
            parts = line.split()
            if parts and not line.startswith(" ") and parts[0] not in glosses:
                first_sense = parts[-int(parts[2])]
                if first_sense in text:
                    glosses[parts[0]] = text[first_sense]
    return glosses


def _lemma_of(word, glosses):
    """``word`` or the first of a few regular stems of it that WordNet knows."""
    candidates = [word, word[:-1] if word.endswith("s") else None,
                  word[:-3] if word.endswith("ing") else None,
                  word[:-3] + "e" if word.endswith("ing") else None]
    return next((c for c in candidates if c and c in glosses), None)


def gloss_expanded(text, glosses):
    """``text`` followed by the WordNet gloss of each of its content words.

    Tag descriptions are a few words long; the glosses give classes a shared,
    richer vocabulary (``"compressing"`` -> "make more compact by or as if by
    pressing").
    """
    words = dict.fromkeys(_content_words(text))
    lemmas = [_lemma_of(w, glosses) for w in words]
    return "\n".join([text] + [glosses[lemma] for lemma in lemmas if lemma])


def _tag_words(tag):
    """``"works-with::3dmodel"`` -> ``"3dmodel"``, ``"use::gameplaying"`` -> ``"gameplaying"``."""
    return tag.split("::", 1)[1].replace("-", " ").replace(":", " ")


def read_debtags_vocabulary(root):
    """``{tag: description}`` from an unpacked ``debtags`` (``usr/share/debtags/vocabulary``)."""
    path = os.path.join(root, "usr/share/debtags/vocabulary")
    return {s["Tag"]: archive.description_text(s.get("Description", ""))
            for s in archive.parse_stanzas(_read_text(path)) if "Tag" in s}


def build_debtags_zsl(names, texts, tags, vocabulary, *, glosses=None, n_unseen=None,
                      max_features=2048, test_fraction=0.2, random_state=0):
    """ZSLData of the debtags set from :func:`debtags_points` and the tag vocabulary.

    With ``glosses`` (:func:`read_wordnet_glosses`) each tag description is
    expanded by :func:`gloss_expanded` before it becomes attributes.
    """
    classes = sorted(set(tags))
    missing = [c for c in classes if c not in vocabulary]
    if missing:
        raise ValueError(f"the debtags vocabulary does not describe {missing}")
    C = len(classes)
    if C < 4:
        raise ValueError(f"the debtags set needs at least 4 classes, found {C}")
    U = max(1, C // 4) if n_unseen is None else check_int(n_unseen, "n_unseen", low=1,
                                                          high=C - 3)
    tokens = [tokenize_terms(t) for t in texts]
    df = document_frequencies(tokens)
    features = ranked_vocabulary(df, 2)
    features = {t: i for t, i in features.items() if i < max_features}
    idf = smooth_idf(df, features, len(tokens))
    X = tfidf_rows(tokens, features, idf).toarray()
    labels = np.array([classes.index(t) for t in tags], dtype=np.int64)
    # A class is its tag's name and description, embedded like a package's text in
    # the same term space (attribute k = feature k); terms no class uses are dropped.
    descriptions = [_tag_words(c) + "\n" + vocabulary[c] for c in classes]
    if glosses is not None:
        descriptions = [gloss_expanded(d, glosses) for d in descriptions]
    A = tfidf_rows([tokenize_terms(d) for d in descriptions], features, idf).toarray().T
    A = A[np.abs(A).sum(axis=1) > 0].astype(np.float64)
    rng = np.random.default_rng(random_state)
    unseen = np.sort(rng.choice(C, size=U, replace=False))
    data = _zsl_data(X, labels, A, unseen, classes, test_fraction, rng, "load_debtags_zsl")
    data.image_files = list(names)
    data.stats = _zsl_stats(data)
    return data


def load_debtags_zsl(*, facet="works-with", min_class_size=20, n_unseen=None, wordnet=False,
                     max_features=2048, test_fraction=0.2, random_state=0, cache_dir=None,
                     rebuild=False, show_progress=False, lists_dir=archive.DEFAULT_LISTS_DIR):
    """Debian packages as a zero-shot set: classes are the tags of one debtags facet.

    Points (:func:`debtags_points`) are packages with exactly one tag of
    ``facet`` (one package per source package); features are their
    descriptions' L2-normalised tf-idf over the ``max_features`` terms in
    most descriptions (dense); each class is described by its tag's name and
    the text the ``debtags`` package's vocabulary gives the tag (short + long
    description), followed with ``wordnet=True`` by the WordNet gloss of each
    of its content words (``wordnet-base``), embedded like a package text in
    the same tf-idf term space (attribute rows are the terms some class uses).  ``n_unseen`` classes (default a quarter) drawn with
    ``random_state`` are unseen; GBU splits as in :func:`load_fashion_zsl`.
    ``image_files`` holds the package of each row.

    Returns
    -------
    ZSLData
    """
    params = {"facet": str(facet), "min_class_size": check_int(min_class_size,
                                                                "min_class_size", low=2),
              "n_unseen": None if n_unseen is None else check_int(n_unseen, "n_unseen", low=1),
              "wordnet": bool(wordnet),
              "max_features": check_int(max_features, "max_features", low=1),
              "test_fraction": check_float(test_fraction, "test_fraction", low=0.0, high=0.9),
              "random_state": check_int(random_state, "random_state", low=0)}
    progress = _Progress(show_progress, "debtags_zsl")

    def build(root):
        packages, descriptions = _read_lists(lists_dir, progress)
        names, texts, tags = debtags_points(packages, descriptions, facet, min_class_size)
        progress(f"fetching debtags ({len(names)} points)")
        with archive.unpacked("debtags", _debs_dir(root)) as tags_root:
            vocabulary = read_debtags_vocabulary(tags_root)
        glosses = None
        if wordnet:
            with archive.unpacked("wordnet-base", _debs_dir(root)) as wn_root:
                glosses = read_wordnet_glosses(wn_root)
        return build_debtags_zsl(names, texts, tags, vocabulary, glosses=glosses,
                                 **{k: params[k] for k in ("n_unseen", "max_features",
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
