"""Zero-shot learning data in the layout of the GBU benchmark (Xian et al., TPAMI 2018).

The benchmark ships two MATLAB files per data set (``research/zsl.md`` section 5):

``res101.mat``
    ``features`` [D, N] (one column per image), ``labels`` [N, 1] (1-based class ids),
    optionally ``image_files`` [N, 1] (cell array of paths).
``att_splits.mat``
    ``att`` [K, C] (one L2-normalised attribute column per class), optionally
    ``original_att`` and ``allclasses_names``, and the 1-based image indices
    ``trainval_loc``, ``test_seen_loc``, ``test_unseen_loc``, ``train_loc``, ``val_loc``.

:func:`load_gbu` reads them into a :class:`ZSLData` with 0-based indices and one
image per *row*; :func:`save_gbu` writes the same layout.  No benchmark data
can be downloaded here, so two offline sets share the layout:
:func:`make_zsl` (synthetic, with knobs for class overlap, attribute
sufficiency and attribute noise) and :func:`load_digits_zsl` (scikit-learn's
handwritten digits with honestly built class attributes).
"""
import os

import numpy as np

from ._validation import check_float, check_int, check_random_state

__all__ = ["ZSLData", "load_gbu", "save_gbu", "make_zsl", "load_digits_zsl",
           "DIGIT_STROKE_ATTRIBUTES"]

_SPLITS = ("trainval_loc", "test_seen_loc", "test_unseen_loc", "train_loc", "val_loc")


class ZSLData:
    """A zero-shot data set in GBU layout, 0-based.

    Attributes
    ----------
    features : ndarray [N, D], float32
        One image per row.
    labels : ndarray [N], int64
        Class id of each image, in ``[0, C)``.
    attributes : ndarray [K, C], float32
        One attribute column per class (``att``).
    original_attributes : ndarray [K, C] float32 or None
        Raw attribute values (``original_att``).
    class_names : list of str
    trainval_loc, test_seen_loc, test_unseen_loc, train_loc, val_loc : ndarray, int64
        Row indices of each split.
    seen, unseen : ndarray, int64
        Sorted class ids of the training (``trainval``) and the unseen test classes.
    train_classes, val_classes : ndarray, int64
        The class-disjoint partition of ``seen`` used for model selection.
    image_files : list of str or None
    """

    def __init__(self, features, labels, attributes, trainval_loc, test_seen_loc,
                 test_unseen_loc, train_loc, val_loc, original_attributes=None,
                 class_names=None, image_files=None, source="<memory>"):
        self.features = features
        self.labels = labels
        self.attributes = attributes
        self.original_attributes = original_attributes
        self.trainval_loc, self.test_seen_loc = trainval_loc, test_seen_loc
        self.test_unseen_loc, self.train_loc, self.val_loc = test_unseen_loc, train_loc, val_loc
        C = attributes.shape[1]
        self.class_names = (list(class_names) if class_names is not None
                            else [f"class_{c}" for c in range(C)])
        self.image_files = image_files
        self.seen = np.unique(labels[trainval_loc])
        self.unseen = np.unique(labels[test_unseen_loc])
        self.train_classes = np.unique(labels[train_loc])
        self.val_classes = np.unique(labels[val_loc])
        _check_layout(self, source)

    @property
    def n_classes(self):
        return self.attributes.shape[1]

    def split(self, name):
        """``(features, labels)`` of one split (``"trainval"``, ``"test_seen"``, ...)."""
        loc = getattr(self, name if name.endswith("_loc") else name + "_loc")
        return self.features[loc], self.labels[loc]

    def __repr__(self):
        return (f"ZSLData({self.features.shape[0]} images x {self.features.shape[1]} features, "
                f"{self.attributes.shape[0]} attributes, {len(self.seen)} seen / "
                f"{len(self.unseen)} unseen classes)")


def _check_layout(d, source):
    """Consistency checks shared by the loader and the generators."""
    N, C = d.features.shape[0], d.attributes.shape[1]
    if d.labels.shape != (N,):
        raise ValueError(f"{source}: {d.labels.size} labels for {N} images")
    if N and (d.labels.min() < 0 or d.labels.max() >= C):
        raise ValueError(f"{source}: labels must lie in 1..{C} (the columns of att), "
                         f"got {d.labels.min() + 1}..{d.labels.max() + 1}")
    for name in _SPLITS:
        loc = getattr(d, name)
        if loc.size and (loc.min() < 0 or loc.max() >= N):
            raise ValueError(f"{source}: {name} indexes images 1..{N}, got "
                             f"{loc.min() + 1}..{loc.max() + 1}")
        if np.unique(loc).size != loc.size:
            raise ValueError(f"{source}: {name} lists an image twice")
    for name in ("trainval_loc", "test_unseen_loc"):
        if getattr(d, name).size == 0:
            raise ValueError(f"{source}: {name} is empty")
    both = np.intersect1d(d.seen, d.unseen)
    if both.size:
        raise ValueError(f"{source}: classes {both.tolist()[:10]} are both seen (trainval_loc) "
                         "and unseen (test_unseen_loc)")
    if np.intersect1d(d.trainval_loc, d.test_seen_loc).size:
        raise ValueError(f"{source}: trainval_loc and test_seen_loc share images")
    if not np.isin(d.labels[d.test_seen_loc], d.seen).all():
        raise ValueError(f"{source}: test_seen_loc holds images of classes not in trainval_loc")
    if np.intersect1d(d.train_classes, d.val_classes).size:
        raise ValueError(f"{source}: train_loc and val_loc share classes (the validation "
                         "split must be class-disjoint)")
    if not np.isin(np.concatenate([d.train_classes, d.val_classes]), d.seen).all():
        raise ValueError(f"{source}: train_loc/val_loc hold images of classes that are not seen")
    if not np.isfinite(d.features).all():
        raise ValueError(f"{source}: features contain NaN or infinite values")
    if not np.isfinite(d.attributes).all():
        raise ValueError(f"{source}: att contains NaN or infinite values")


# ----------------------------------------------------------------------------- GBU files
def _loadmat(path):
    import scipy.io
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found (a GBU directory holds res101.mat and "
                                "att_splits.mat)")
    try:
        return scipy.io.loadmat(path)
    except Exception as exc:        # scipy raises several types for a corrupt file
        raise ValueError(f"{path}: not a readable MATLAB .mat file ({exc})") from None


def _get(mat, key, path, required=True):
    if key not in mat:
        if required:
            raise ValueError(f"{path}: missing variable {key!r}")
        return None
    return mat[key]


def _numeric(a, key, path, ndim=None):
    a = np.asarray(a)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"{path}: {key} must be numeric, got dtype {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{path}: {key} must be {ndim}-D, got shape {a.shape}")
    return a


def _index_vector(a, key, path):
    """A MATLAB column/row vector of 1-based integers -> 0-based int64."""
    a = _numeric(a, key, path)
    if a.ndim == 2 and 1 in a.shape:
        a = a.reshape(-1)
    elif a.ndim != 1 and a.size:
        raise ValueError(f"{path}: {key} must be a vector, got shape {a.shape}")
    a = a.reshape(-1)
    if a.size and not np.isfinite(a.astype(np.float64)).all():
        raise ValueError(f"{path}: {key} contains NaN or infinite values")
    if a.size and not np.array_equal(a, np.round(a)):
        raise ValueError(f"{path}: {key} must hold integers (1-based indices)")
    a = a.astype(np.int64)
    if a.size and a.min() < 1:
        raise ValueError(f"{path}: {key} must be 1-based, got a value {a.min()}")
    return a - 1


def _strings(cell):
    """A MATLAB cell array of strings (as loadmat returns it) -> list of str."""
    out = []
    for item in np.asarray(cell, dtype=object).reshape(-1):
        while isinstance(item, np.ndarray) and item.dtype == object and item.size == 1:
            item = item.reshape(-1)[0]
        if isinstance(item, np.ndarray):
            item = item.reshape(-1)[0] if item.size else ""
        out.append(str(item))
    return out


def load_gbu(directory):
    """Read a GBU data set (``res101.mat`` and ``att_splits.mat``) from ``directory``.

    Indices and labels are converted from 1-based to 0-based, features are
    transposed to one image per row and cast to float32, the seen classes are
    those of ``trainval_loc`` and the unseen ones those of ``test_unseen_loc``.

    Parameters
    ----------
    directory : str or path-like

    Returns
    -------
    ZSLData

    Raises
    ------
    FileNotFoundError
        A file is missing.
    ValueError
        A file is unreadable, lacks a variable, or is inconsistent (out-of-range
        or 0-based indices, seen and unseen classes overlapping, NaN, ...);
        the message names the file and the variable.
    """
    directory = os.fspath(directory)
    res_path = os.path.join(directory, "res101.mat")
    att_path = os.path.join(directory, "att_splits.mat")
    res, att = _loadmat(res_path), _loadmat(att_path)
    features = _numeric(_get(res, "features", res_path), "features", res_path, ndim=2)
    labels = _index_vector(_get(res, "labels", res_path), "labels", res_path)
    if features.shape[1] != labels.size:
        hint = (" (features must be [D, N], one column per image)"
                if features.shape[0] == labels.size else "")
        raise ValueError(f"{res_path}: features has {features.shape[1]} columns but there are "
                         f"{labels.size} labels{hint}")
    A = _numeric(_get(att, "att", att_path), "att", att_path, ndim=2)
    orig = _get(att, "original_att", att_path, required=False)
    if orig is not None:
        orig = _numeric(orig, "original_att", att_path, ndim=2)
        if orig.shape != A.shape:
            raise ValueError(f"{att_path}: original_att has shape {orig.shape}, att {A.shape}")
        orig = orig.astype(np.float32)
    names = _get(att, "allclasses_names", att_path, required=False)
    names = _strings(names) if names is not None else None
    if names is not None and len(names) != A.shape[1]:
        raise ValueError(f"{att_path}: {len(names)} allclasses_names for {A.shape[1]} att "
                         "columns")
    files = _get(res, "image_files", res_path, required=False)
    files = _strings(files) if files is not None else None
    if files is not None and len(files) != labels.size:
        raise ValueError(f"{res_path}: {len(files)} image_files for {labels.size} images")
    locs = {k: _index_vector(_get(att, k, att_path), k, att_path) for k in _SPLITS}
    return ZSLData(np.ascontiguousarray(features.T, dtype=np.float32), labels,
                   np.ascontiguousarray(A, dtype=np.float32), original_attributes=orig,
                   class_names=names, image_files=files, source=directory, **locs)


def save_gbu(data, directory, overwrite=False):
    """Write ``data`` (a :class:`ZSLData`) as ``res101.mat`` and ``att_splits.mat``.

    The inverse of :func:`load_gbu`: features [D, N], 1-based column vectors,
    cell arrays of strings.
    """
    import scipy.io
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, n) for n in ("res101.mat", "att_splits.mat")]
    for p in paths:
        if os.path.exists(p) and not overwrite:
            raise FileExistsError(f"{p} exists; pass overwrite=True to replace it")

    def col(a):
        return (np.asarray(a, np.int64) + 1).reshape(-1, 1).astype(np.float64)

    def cell(strings):
        out = np.empty((len(strings), 1), dtype=object)
        for i, s in enumerate(strings):
            out[i, 0] = np.array([s])
        return out

    res = {"features": np.asarray(data.features, np.float32).T, "labels": col(data.labels)}
    if data.image_files is not None:
        res["image_files"] = cell(data.image_files)
    att = {"att": np.asarray(data.attributes, np.float64),
           "allclasses_names": cell(data.class_names)}
    if data.original_attributes is not None:
        att["original_att"] = np.asarray(data.original_attributes, np.float64)
    for k in _SPLITS:
        att[k] = col(getattr(data, k))
    scipy.io.savemat(paths[0], res)
    scipy.io.savemat(paths[1], att)
    return paths


# ----------------------------------------------------------------------------- generators
def _unit_columns(M):
    norms = np.linalg.norm(M, axis=0, keepdims=True)
    return (M / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _gbu_splits(labels, seen, n_val_classes, test_fraction, rng, keep=None):
    """GBU-style split indices: seen images -> trainval/test_seen, unseen -> test_unseen,
    and a class-disjoint train/val partition of trainval."""
    idx = np.arange(labels.size) if keep is None else np.asarray(keep)
    trainval, test_seen, test_unseen = [], [], []
    for c in np.unique(labels[idx]):
        members = rng.permutation(idx[labels[idx] == c])
        if c in seen:
            n_test = int(round(test_fraction * members.size))
            test_seen.append(members[:n_test])
            trainval.append(members[n_test:])
        else:
            test_unseen.append(members)
    trainval = np.sort(np.concatenate(trainval))
    val_classes = rng.choice(seen, size=n_val_classes, replace=False)
    is_val = np.isin(labels[trainval], val_classes)
    return dict(trainval_loc=trainval, test_seen_loc=np.sort(np.concatenate(test_seen)),
                test_unseen_loc=np.sort(np.concatenate(test_unseen)),
                train_loc=trainval[~is_val], val_loc=trainval[is_val])


def make_zsl(n_classes=50, n_unseen=10, n_attributes=24, n_features=128, n_per_class=60,
             overlap=2.0, class_specific=0.0, attribute_noise=0.0, nonlinear=True,
             n_val_classes=None, test_fraction=0.2, random_state=None):
    """Synthetic zero-shot data in GBU layout, with a real and controllable signal.

    Class ``c`` has binary attributes ``a_c`` (Bernoulli(0.4), no two classes
    alike); its prototype in feature space is ``mu_c = g(a_c) + class_specific *
    e_c``, where ``g`` is one map shared by all classes (a random one-hidden-layer
    ReLU network, or linear) and ``e_c ~ N(0, I)`` is specific to the class and
    cannot be predicted from attributes.  Images are ``mu_c + overlap * N(0, I)``.
    The learner sees ``a_c + attribute_noise * N(0, 1)`` (raw values in
    ``original_attributes``, L2-normalised columns in ``attributes``).

    Knobs: ``overlap`` sets class overlap; ``class_specific`` removes attribute
    sufficiency (0 = the attributes determine the class fully, large values push
    zero-shot accuracy to chance); ``attribute_noise`` corrupts the annotations.
    The prototypes' spread is normalised to 1 per feature, so ``overlap`` is in
    units of that spread.

    Parameters
    ----------
    n_classes, n_unseen : int
        Number of classes in total and unseen (the last ``n_unseen`` of a random order).
    n_attributes, n_features, n_per_class : int
    overlap, class_specific, attribute_noise : float, >= 0
    nonlinear : bool, default=True
        ``g`` is a ReLU network (True) or linear (False).
    n_val_classes : int, optional
        Seen classes held out as pseudo-unseen for model selection (default: a fifth).
    test_fraction : float, default=0.2
        Fraction of each seen class's images in ``test_seen``.
    random_state : int, Generator or None

    Returns
    -------
    ZSLData
    """
    C = check_int(n_classes, "n_classes", low=3)
    U = check_int(n_unseen, "n_unseen", low=1, high=C - 2)
    K = check_int(n_attributes, "n_attributes", low=1)
    D = check_int(n_features, "n_features", low=1)
    n = check_int(n_per_class, "n_per_class", low=2)
    overlap = check_float(overlap, "overlap", low=0.0)
    class_specific = check_float(class_specific, "class_specific", low=0.0)
    attribute_noise = check_float(attribute_noise, "attribute_noise", low=0.0)
    test_fraction = check_float(test_fraction, "test_fraction", low=0.0, high=0.9)
    n_val = (max(1, (C - U) // 5) if n_val_classes is None
             else check_int(n_val_classes, "n_val_classes", low=1, high=C - U - 2))
    if 2.0 ** K < C:
        raise ValueError(f"{K} binary attributes cannot tell {C} classes apart")
    rng = check_random_state(random_state)

    codes = set()
    att = np.empty((C, K))
    c = 0
    while c < C:
        a = (rng.random(K) < 0.4).astype(np.float64)
        if not a.any() or a.tobytes() in codes:
            continue
        codes.add(a.tobytes())
        att[c] = a
        c += 1
    if nonlinear:
        H = 2 * D
        W1 = rng.standard_normal((K, H)) / np.sqrt(K)
        b1 = rng.standard_normal(H) * 0.5
        mu = np.maximum(att @ W1 + b1, 0) @ rng.standard_normal((H, D))
    else:
        mu = att @ rng.standard_normal((K, D))
    mu = (mu - mu.mean(axis=0)) / max(mu.std(), 1e-12)
    mu = mu + class_specific * rng.standard_normal((C, D))
    labels = np.repeat(np.arange(C), n)
    X = (mu[labels] + overlap * rng.standard_normal((C * n, D))).astype(np.float32)
    observed = att + attribute_noise * rng.standard_normal(att.shape)
    order = rng.permutation(C)
    seen = np.sort(order[:C - U])
    splits = _gbu_splits(labels, seen, n_val, test_fraction, rng)
    return ZSLData(X, labels.astype(np.int64), _unit_columns(observed.T),
                   original_attributes=observed.T.astype(np.float32), source="make_zsl",
                   **splits)


# ----------------------------------------------------------------------------- digits
#: Hand-coded stroke attributes of the digits 0-9, fixed once (values 0 / 0.5 / 1).
DIGIT_STROKE_ATTRIBUTES = {
    "names": ["closed loop", "two loops", "loop in upper half", "loop in lower half",
              "straight vertical stroke", "top horizontal bar", "bottom horizontal bar",
              "middle horizontal bar", "diagonal stroke", "opening on the left",
              "left-right symmetry", "curved strokes"],
    "table": np.array([
        # loop two  up  low vert top  bot  mid  diag left sym curve
        [1.0, 0.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0],   # 0
        [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.5, 0.0, 0.5, 0.0, 1.0, 0.0],   # 1
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0],   # 2
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.0, 1.0, 0.0, 1.0],   # 3
        [0.5, 0.0, 0.5, 0.0, 1.0, 0.0, 0.0, 1.0, 0.5, 0.0, 0.0, 0.0],   # 4
        [0.0, 0.0, 0.0, 0.5, 0.5, 1.0, 0.5, 0.5, 0.0, 1.0, 0.0, 1.0],   # 5
        [1.0, 0.0, 0.0, 1.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.0, 1.0],   # 6
        [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0],   # 7
        [1.0, 1.0, 1.0, 1.0, 0.0, 0.5, 0.5, 0.0, 0.5, 0.0, 1.0, 1.0],   # 8
        [1.0, 0.0, 1.0, 0.0, 1.0, 0.5, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0],   # 9
    ]),
}


def _digit_descriptors(images):
    """A priori visual descriptors of 8x8 digit images (values 0..16) -> [n, 28].

    Holes (background regions not connected to the border, after
    thresholding), ink mass per quadrant and per top/middle/bottom band,
    left-right and top-bottom symmetry, the ink's centre of mass, and 4x4
    average-pooled intensities.
    """
    from scipy import ndimage
    img = images.reshape(-1, 8, 8) / 16.0
    out = []
    for im in img:
        background = np.pad(im < 0.3, 1, constant_values=True)
        lab, n_regions = ndimage.label(background)
        border = set(np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])))
        holes = len(set(range(1, n_regions + 1)) - border)
        quads = [im[:4, :4].mean(), im[:4, 4:].mean(), im[4:, :4].mean(), im[4:, 4:].mean()]
        bands = [im[:3].mean(), im[3:5].mean(), im[5:].mean()]
        sym = [1 - np.abs(im - im[:, ::-1]).mean(), 1 - np.abs(im - im[::-1]).mean()]
        mass = im.sum() + 1e-9
        centre = [(im.sum(axis=1) @ np.arange(8)) / mass / 7, (im.sum(axis=0) @ np.arange(8))
                  / mass / 7]
        pooled = im.reshape(4, 2, 4, 2).mean(axis=(1, 3)).ravel()
        out.append(np.concatenate([[holes], quads, bands, sym, centre, pooled]))
    return np.asarray(out)


def load_digits_zsl(unseen=(1, 5, 8), attributes="descriptors", annotation_fraction=0.15,
                    projection=None, n_val_classes=2, test_fraction=0.2, random_state=None):
    """scikit-learn's handwritten digits as a zero-shot problem in GBU layout.

    1,797 8x8 images of 10 digits (shipped with scikit-learn, no download).
    Class attributes are built without touching any training or test image:

    ``"descriptors"``
        A fraction ``annotation_fraction`` of every class's images is set aside
        as an "annotation" subset (used for nothing else).  The class attribute
        is the mean over that subset of a priori visual descriptors (holes, ink
        per quadrant and band, symmetries, centre of mass, 4x4 pooled ink),
        mimicking annotators who describe a class from a few examples.  Each
        descriptor is then standardised across the ten class descriptions.
    ``"strokes"``
        The fixed table :data:`DIGIT_STROKE_ATTRIBUTES` (loops, bars, diagonal,
        symmetry, ...); the annotation subset is still removed, so both options
        train and test on the same images.

    Parameters
    ----------
    unseen : sequence of int, default=(1, 5, 8)
        The unseen digits (chance in zero-shot: ``1/len(unseen)``).
    attributes : {"descriptors", "strokes"}
    annotation_fraction : float, default=0.15
    projection : int, optional
        If given, features are a fixed random ReLU projection of the 64 pixels to
        this many dimensions (CNN-like non-negative features); otherwise the
        pixels scaled to [0, 1].
    n_val_classes : int, default=2
        Seen digits held out as pseudo-unseen for model selection.
    test_fraction : float, default=0.2
    random_state : int, Generator or None
        Draws the annotation subset, the splits and the projection.

    Returns
    -------
    ZSLData
    """
    from sklearn.datasets import load_digits
    if attributes not in ("descriptors", "strokes"):
        raise ValueError(f"attributes must be 'descriptors' or 'strokes', got {attributes!r}")
    unseen = np.unique(np.asarray(unseen, dtype=np.int64))
    if unseen.size < 1 or unseen.size > 7 or unseen.min() < 0 or unseen.max() > 9:
        raise ValueError(f"unseen must be 1 to 7 distinct digits in 0..9, got {unseen.tolist()}")
    frac = check_float(annotation_fraction, "annotation_fraction", low=0.0, high=0.5)
    n_seen = 10 - unseen.size
    n_val = check_int(n_val_classes, "n_val_classes", low=1, high=n_seen - 2)
    rng = check_random_state(random_state)
    digits = load_digits()
    images, labels = digits.data.astype(np.float64), digits.target.astype(np.int64)
    annotation = np.zeros(labels.size, dtype=bool)
    for c in range(10):
        members = np.flatnonzero(labels == c)
        n_ann = max(1, int(round(frac * members.size))) if frac > 0 else 0
        annotation[rng.choice(members, size=n_ann, replace=False)] = True
    if attributes == "descriptors":
        if frac == 0:
            raise ValueError("descriptor attributes need an annotation subset "
                             "(annotation_fraction > 0)")
        desc = _digit_descriptors(images[annotation])
        raw = np.stack([desc[labels[annotation] == c].mean(axis=0) for c in range(10)])
        std = raw.std(axis=0)
        att = (raw - raw.mean(axis=0)) / np.where(std > 0, std, 1.0)
    else:
        raw = DIGIT_STROKE_ATTRIBUTES["table"].copy()
        att = raw - raw.mean(axis=0)
    X = images / 16.0
    if projection is not None:
        P = check_int(projection, "projection", low=1)
        proj_rng = np.random.default_rng(rng.integers(2**63 - 1))
        X = np.maximum(X @ proj_rng.standard_normal((64, P)) / 8.0, 0.0)
    keep = np.flatnonzero(~annotation)
    seen = np.setdiff1d(np.arange(10), unseen)
    splits = _gbu_splits(labels, seen, n_val, test_fraction, rng, keep=keep)
    return ZSLData(X.astype(np.float32), labels, _unit_columns(att.T),
                   original_attributes=raw.T.astype(np.float32),
                   class_names=[str(c) for c in range(10)], source="load_digits_zsl", **splits)
