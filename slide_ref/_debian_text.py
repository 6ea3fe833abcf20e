"""The documents and token stream of the Debian next-word task (:func:`load_debian_text`).

English from Debian packages: long package descriptions, WordNet glosses, the
GCIDE dictionary, Perl's manual and the Sphinx sources of Python's and Linux's
documentation, with their markup removed; see ``docs/data.md``.
"""
import collections
import os
import re

import numpy as np
import scipy.sparse as sp

from . import _debian_archive as archive
from ._bag_of_words import names_by_id, ranked_vocabulary, tokenize_words
from ._data_common import DataSet, hash_fraction
from ._validation import check_float, check_int

__all__ = ["TEXT_SOURCES", "text_documents", "build_debian_text", "next_word_examples"]

# The English of the text task, in build order: (source name, package or None).
# A metapackage (python3-doc, linux-doc) stands for the release's versioned one.
TEXT_SOURCES = (("descriptions", None), ("wordnet", "wordnet-base"), ("gcide", "dict-gcide"),
                ("perl", "perl-doc"), ("python", "python3-doc"), ("linux", "linux-doc"))

# GCIDE: syllabified headwords \Ab"a*ca\, bracketed etymologies, sources and accent
# codes ([1913 Webster], [a^]) and parenthesised pronunciations.
_DICT_MARKUP = re.compile(r"\\[^\\\n]*\\|\[[^\]\n]*\]|\([^()\n]*\)")
# reStructuredText: directive and comment lines (.. note::), roles (:func:`), heading rules.
_RST_MARKUP = re.compile(r"^\s*\.\. .*$|:[a-z:]+:`|^[=\-~^*+|#]{3,}.*$", re.MULTILINE)
# POD: command words (=head1, =item) and the letter of formatting codes (C<...>, B<<...>>).
_POD_MARKUP = re.compile(r"^=[a-z]+\d?|[A-Z]<+", re.MULTILINE)


def _versioned_package(packages, name):
    """``python3-doc`` -> ``python3.11-doc``: the first Depends of a doc metapackage."""
    stanza = packages.get(name)
    if stanza is None:
        return name
    depends = archive.relation_names(stanza.get("Depends", ""))
    stem = name.rsplit("-doc", 1)[0]
    return next((d for d in depends if d.startswith(stem) and "-doc" in d), name)


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
        lines = archive.read_package_file(path).splitlines()
        # Lines starting with two spaces are the licence header.
        glosses = [line.split(" | ", 1)[1].strip() for line in lines
                   if not line.startswith("  ") and " | " in line]
        yield from _blocks(f"wordnet:{pos}", glosses, 100)


def gcide_documents(root):
    """GCIDE (Webster 1913) entries, markup stripped, 400 lines per document."""
    text = archive.read_package_file(os.path.join(root, "usr/share/dictd/gcide.dict.dz"))
    yield from _blocks("gcide", _DICT_MARKUP.sub(" ", text).splitlines(), 400)


def pod_documents(root):
    """Perl's manual (``*.pod`` files), one document per file."""
    for rel in _files_under(root, (".pod",)):
        yield f"perl:{os.path.basename(rel)}", _POD_MARKUP.sub(" ", archive.read_package_file(
            os.path.join(root, rel)))


def rst_documents(root, name):
    """Sphinx sources (``_sources/**/*.rst.txt``), one document per file."""
    for rel in _files_under(root, (".rst.txt",)):
        if "/_sources/" in "/" + rel:
            yield f"{name}:{rel.split('_sources/', 1)[1]}", _RST_MARKUP.sub(
                " ", archive.read_package_file(os.path.join(root, rel)))


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
    min_count = check_int(min_count, "min_count", low=1)
    test_fraction = check_float(test_fraction, "test_fraction", low=0.0, high=0.9)
    if max_tokens is not None:
        max_tokens = check_int(max_tokens, "max_tokens", low=1)
    docs = sorted(((hash_fraction("order:" + name), name, tokenize_words(text))
                   for name, text in documents), key=lambda d: d[:2])
    kept, total = [], 0
    for _, name, words in docs:
        if max_tokens is not None and total + len(words) > max_tokens:
            continue
        kept.append((name, words, hash_fraction(name) < test_fraction))
        total += len(words)
    counts = collections.Counter(w for _, words, test in kept if not test for w in words)
    vocab = ranked_vocabulary(counts, min_count)
    ids = [np.fromiter((vocab[w] for w in words if w in vocab), dtype=np.int32)
           for _, words, _ in kept]
    vocabulary = names_by_id(vocab)
    data = DataSet(tokens=np.concatenate(ids) if ids else np.zeros(0, np.int32),
                   doc_offsets=np.cumsum([0] + [i.size for i in ids]).astype(np.int64),
                   doc_is_test=np.array([test for _, _, test in kept], dtype=bool),
                   vocabulary=vocabulary,
                   counts=np.array([counts[w] for w in vocabulary], dtype=np.int64))
    data.stats = {"documents": len(kept), "test_documents": int(data.doc_is_test.sum()),
                  "raw_tokens": total, "tokens_in_vocabulary": int(data.tokens.size),
                  "vocabulary": len(vocabulary)}
    return data


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
