"""Text to sparse features: tokenizers, frequency-ranked vocabularies, tf-idf rows.

Used by the real data sets built from Debian's archive
(:mod:`slide_ref.debian_data`).  Vocabularies are ranked by frequency (id 0 is
the most frequent entry, ties broken by the string), the order the
log-uniform (Zipfian) samplers assume.
"""
import collections
import re

import numpy as np
import scipy.sparse as sp

__all__ = ["tokenize_terms", "tokenize_words", "ranked_vocabulary", "names_by_id",
           "document_frequencies", "smooth_idf", "tfidf_rows"]

# A term of technical English: letters and digits with inner '.', '_', '-'
# (python3-numpy, x86_64, e.g) and trailing '+' kept (c++, gtk+).
_TERM = re.compile(r"[a-z0-9][a-z0-9+]*(?:[._-][a-z0-9][a-z0-9+]*)*")
# A word of running text: letters, with an inner apostrophe (don't, o'clock).
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def tokenize_terms(text):
    """Lower-cased terms of a package description (letters, digits, ``+._-``)."""
    return _TERM.findall(text.lower())


def tokenize_words(text):
    """Lower-cased words of running text (letters only; numbers and symbols dropped)."""
    return _WORD.findall(text.lower())


def ranked_vocabulary(counts, min_count):
    """``{term: id}`` of the terms counted at least ``min_count`` times, by falling count.

    ``counts`` is a mapping term -> count (a ``collections.Counter``).  Ties are
    broken by the term, so the result depends on the counts only.
    """
    kept = [(-n, term) for term, n in counts.items() if n >= min_count]
    kept.sort()
    return {term: i for i, (_, term) in enumerate(kept)}


def names_by_id(vocabulary):
    """The terms of a ``{term: id}`` vocabulary as a list indexed by id."""
    names = [None] * len(vocabulary)
    for term, i in vocabulary.items():
        names[i] = term
    return names


def document_frequencies(token_lists):
    """``Counter`` of the number of documents each token occurs in."""
    df = collections.Counter()
    for tokens in token_lists:
        df.update(set(tokens))
    return df


def tfidf_rows(token_lists, vocabulary, idf):
    """CSR [n_docs, len(vocabulary)] float32 of L2-normalised sublinear tf-idf rows.

    ``tf = 1 + log(count)`` (a term repeated in one description should not
    dominate it), times ``idf[id]``; tokens outside ``vocabulary`` are ignored;
    a document without known tokens is an empty row.
    """
    indptr, indices, values = [0], [], []
    for tokens in token_lists:
        counts = collections.Counter(vocabulary[t] for t in tokens if t in vocabulary)
        ids = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        order = np.argsort(ids)
        ids, tf = ids[order], tf[order]
        weights = (1.0 + np.log(tf)) * idf[ids]
        norm = np.sqrt(np.sum(weights * weights))
        indices.append(ids)
        values.append(weights / norm if norm > 0 else weights)
        indptr.append(indptr[-1] + ids.size)
    n_cols = len(vocabulary)
    indices = np.concatenate(indices) if indices else np.zeros(0, np.int64)
    values = np.concatenate(values) if values else np.zeros(0)
    return sp.csr_matrix((values.astype(np.float32), indices.astype(np.int32),
                          np.asarray(indptr, dtype=np.int64)), shape=(len(token_lists), n_cols))


def smooth_idf(df, vocabulary, n_docs):
    """``idf[id] = 1 + log((1 + n_docs) / (1 + df))`` for every vocabulary entry."""
    idf = np.empty(len(vocabulary))
    for term, i in vocabulary.items():
        idf[i] = 1.0 + np.log((1.0 + n_docs) / (1.0 + df.get(term, 0)))
    return idf
