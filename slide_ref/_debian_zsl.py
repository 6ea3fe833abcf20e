"""Class descriptions and points of the two zero-shot sets (GBU layout).

WordNet (``wordnet-base``) describes Fashion-MNIST's classes; debtags' tag
vocabulary (``debtags``) describes the classes of one facet of Debian's
package tags.  The loaders are in :mod:`slide_ref.debian_data`; the protocols
in ``docs/data.md``.
"""
import collections
import os

import numpy as np

from . import _debian_archive as archive
from ._bag_of_words import (document_frequencies, ranked_vocabulary, smooth_idf, tfidf_rows,
                            tokenize_terms, tokenize_words)
from ._validation import check_choice, check_int

__all__ = ["FASHION_WORDNET_LEMMAS", "read_wordnet_nouns", "wordnet_class_attributes",
           "read_wordnet_glosses", "gloss_expanded", "debtags_points", "debtags_corpus",
           "read_debtags_vocabulary", "lsa_basis", "build_debtags_zsl", "redraw_debtags_split",
           "zsl_data",
           "DEBTAGS_ATTRIBUTES"]

#: WordNet lemma (first noun sense) describing each Fashion-MNIST class; WordNet
#: has no "ankle boot", its hypernym "boot" stands in.
FASHION_WORDNET_LEMMAS = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                          "sneaker", "bag", "boot")

#: How the debtags set embeds packages and class descriptions (``attributes=``):
#: ``"terms"`` tf-idf terms, ``"lsa"`` a latent semantic space of other packages' texts.
DEBTAGS_ATTRIBUTES = ("terms", "lsa")


# Words too common in glosses and tag descriptions to describe a class.
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to "
    "which with e.g used use uses packages package applies software".split())


def _content_words(text):
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
    for line in archive.read_package_file(os.path.join(folder, "index.noun")).splitlines():
        if line.startswith(" "):
            continue
        parts = line.split()
        n_senses = int(parts[2])
        index[parts[0]] = parts[-n_senses:]
    synsets = {}
    for line in archive.read_package_file(os.path.join(folder, "data.noun")).splitlines():
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
    check_choice(kind, "kind", ("hypernyms", "glosses", "both"))
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


def zsl_data(features, labels, raw_attributes, unseen, class_names, test_fraction, rng,
              source):
    from ._zsl_data import ZSLData, _gbu_splits
    n_classes = raw_attributes.shape[1]
    seen = np.setdiff1d(np.arange(n_classes), unseen)
    n_val = max(1, seen.size // 5)
    splits = _gbu_splits(labels, seen, n_val, test_fraction, rng)
    return ZSLData(features, labels, _unit_cols(raw_attributes).astype(np.float32),
                   original_attributes=raw_attributes.astype(np.float32),
                   class_names=class_names, source=source, **splits)


def zsl_stats(data):
    return {"images": int(data.labels.size), "features": int(data.features.shape[1]),
            "attributes": int(data.attributes.shape[0]), "classes": int(data.n_classes),
            "seen": int(data.seen.size), "unseen": int(data.unseen.size),
            "trainval": int(data.trainval_loc.size), "test_seen": int(data.test_seen_loc.size),
            "test_unseen": int(data.test_unseen_loc.size)}


def debtags_points(packages, descriptions, facet, min_class_size):
    """``(names, texts, tags)`` of the debtags ZSL set: one package per source.

    A point is the first package (by name) of a source package tagged with
    exactly one tag of ``facet`` (the placeholder ``facet::TODO`` ignored);
    classes are the tags with at least ``min_class_size`` points.
    """
    texts = archive.package_texts(packages, descriptions)
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
        for line in archive.read_package_file(os.path.join(folder, f"data.{pos}")).splitlines():
            if not line.startswith(" ") and " | " in line:
                head, gloss = line.split(" | ", 1)
                text[head.split(" ", 1)[0]] = gloss.strip()
        for line in archive.read_package_file(os.path.join(folder, f"index.{pos}")).splitlines():
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
            for s in archive.parse_stanzas(archive.read_package_file(path)) if "Tag" in s}


def debtags_corpus(packages, descriptions, names):
    """Texts of the packages built from no source package of ``names`` (sorted by package).

    The unlabelled corpus of the LSA space: binaries of one source share their
    text, so every source with a point of the set is left out of it.
    """
    texts = archive.package_texts(packages, descriptions)
    taken = {archive.source_name(packages[n]) for n in names}
    return [texts[n] for n in sorted(texts) if archive.source_name(packages[n]) not in taken]


def lsa_basis(rows, n_components):
    """[D, k] orthonormal top right singular vectors of the (sparse) corpus matrix ``rows``.

    From the eigenvectors of the D x D Gram matrix (deterministic, unlike an
    iterative SVD started at random); each column's sign makes its largest
    entry positive, so two builds give the same basis.
    """
    k = check_int(n_components, "n_components", low=1, high=rows.shape[1])
    rows = rows.astype(np.float64)
    gram = np.asarray((rows.T @ rows).todense())
    _, vectors = np.linalg.eigh(gram)                 # ascending eigenvalues
    basis = vectors[:, ::-1][:, :k]
    signs = np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(k)])
    return basis * signs


def _unit_rows(M):
    return _unit_cols(M.T).T


def build_debtags_zsl(names, texts, tags, vocabulary, *, glosses=None, corpus=None,
                      attributes="terms", n_components=128, n_unseen=None, max_features=2048,
                      test_fraction=0.2, random_state=0):
    """ZSLData of the debtags set from :func:`debtags_points` and the tag vocabulary.

    With ``glosses`` (:func:`read_wordnet_glosses`) each tag description is
    expanded by :func:`gloss_expanded` before it becomes attributes.
    ``attributes="terms"``: features are the packages' tf-idf rows, a class is
    its description's tf-idf over the same terms (rows no class uses dropped).
    ``attributes="lsa"``: both are projected on the ``n_components`` top
    singular vectors (:func:`lsa_basis`) of ``corpus``'s tf-idf rows
    (:func:`debtags_corpus`), features L2-normalised, class descriptions
    L2-normalised and centred over the classes (an attribute all classes share
    says nothing about which one a package has).  ValueError when a class's
    description has no term among the features (a facet with such tags, e.g.
    ``use``, needs ``glosses`` or a larger ``max_features``).
    """
    attributes = check_choice(attributes, "attributes", DEBTAGS_ATTRIBUTES)
    if attributes == "lsa" and not corpus:
        raise ValueError("attributes='lsa' needs a corpus of package texts (debtags_corpus)")
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
    X = tfidf_rows(tokens, features, idf)
    labels = np.array([classes.index(t) for t in tags], dtype=np.int64)
    # A class is its tag's name and description, embedded like a package's text in
    # the same term space (attribute k = feature k).
    descriptions = [_tag_words(c) + "\n" + vocabulary[c] for c in classes]
    if glosses is not None:
        descriptions = [gloss_expanded(d, glosses) for d in descriptions]
    D = tfidf_rows([tokenize_terms(d) for d in descriptions], features, idf).toarray()
    empty = [c for c, row in zip(classes, D) if not row.any()]
    if empty:   # a class no package term describes could only be guessed
        raise ValueError(f"the descriptions of {empty} share no term with the package texts "
                         f"(the {len(features)} most frequent terms)")
    if attributes == "terms":
        X, A = X.toarray(), D.T[np.abs(D.T).sum(axis=1) > 0]      # terms no class uses dropped
    else:
        X, A = _lsa_embedding(X, D, tfidf_rows(
            [tokenize_terms(t) for t in corpus], features, idf), n_components)
    rng = np.random.default_rng(random_state)
    unseen = np.sort(rng.choice(C, size=U, replace=False))
    data = zsl_data(X, labels, A.astype(np.float64), unseen, classes, test_fraction, rng,
                    "load_debtags_zsl")
    data.image_files = list(names)
    data.stats = zsl_stats(data)
    return data


def redraw_debtags_split(data, random_state, n_unseen=None, test_fraction=0.2):
    """A built debtags set with the unseen classes and splits of another ``random_state``.

    Features and class descriptions do not depend on ``random_state``, so this
    gives what :func:`build_debtags_zsl` (and ``load_debtags_zsl``) would with
    it, up to the float32 rounding of the stored attributes, without a rebuild.
    """
    C = data.n_classes
    U = max(1, C // 4) if n_unseen is None else check_int(n_unseen, "n_unseen", low=1,
                                                          high=C - 3)
    rng = np.random.default_rng(check_int(random_state, "random_state", low=0))
    unseen = np.sort(rng.choice(C, size=U, replace=False))
    raw = (data.original_attributes if data.original_attributes is not None
           else data.attributes).astype(np.float64)
    new = zsl_data(data.features, data.labels, raw, unseen, data.class_names, test_fraction,
                   rng, "load_debtags_zsl")
    new.image_files = data.image_files
    new.stats = zsl_stats(new)
    return new


def _lsa_embedding(X, D, corpus_rows, n_components):
    """``(features [n, k], attributes [k, C])`` of packages ``X`` and descriptions ``D``."""
    basis = lsa_basis(corpus_rows, n_components)
    features = _unit_rows(np.asarray(X @ basis)).astype(np.float32)
    described = _unit_rows(D @ basis)
    return features, (described - described.mean(axis=0)).T
