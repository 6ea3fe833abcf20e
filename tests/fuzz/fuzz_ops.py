"""The operations a fuzz case can run, one function per public entry point.

Each op takes the case spec (JSON: ``op``, ``backend``, ``args``), builds its
inputs with :mod:`fuzz_inputs`, calls the library and returns the list of
invariants the result broke (empty when it looks right).  Exceptions propagate
to the worker, which reports them.
"""
import contextlib
import importlib
import io
import os

import numpy as np
import scipy.sparse as sp

from fuzz_inputs import canonical_X, make_labels, make_weights, make_X

N_FEATURES, N_OUTPUTS = 50, 40
OPS = {}


def op(name):
    def register(fn):
        OPS[name] = fn
        return fn
    return register


def backend(spec):
    return importlib.import_module("slide_" + spec["backend"])


def run(spec):
    return OPS[spec["op"]](backend(spec), spec.get("args", {}))


# ----------------------------------------------------------------------------- invariants
def check_topk(idx, scores, n_outputs, sampled):
    """Ranked ids within range (or -1/-inf padding when sampled), finite scores."""
    bad = []
    idx, scores = np.asarray(idx), np.asarray(scores)
    low = -1 if sampled else 0
    if idx.size and (idx.min() < low or idx.max() >= n_outputs):
        bad.append(f"predicted id outside [{low}, {n_outputs}): {idx.min()}..{idx.max()}")
    real = idx >= 0
    if not np.isfinite(scores[real]).all():
        bad.append("non-finite score for a real prediction")
    return bad


def check_finite(name, value):
    arr = value.data if sp.issparse(value) else np.asarray(value, dtype=np.float64)
    return [] if np.isfinite(arr).all() else [f"non-finite {name} from finite input"]


# ----------------------------------------------------------------------------- network
def label_matrix(n, n_outputs=N_OUTPUTS, seed=0):
    """Valid labels of ``n`` samples as a CSR indicator (what ``fit`` and ``prepare`` take)."""
    return as_indicator(make_labels({"seed": seed}, n, n_outputs), n_outputs)


def as_indicator(Y, n_outputs=N_OUTPUTS):
    """Label lists as a CSR indicator when every id fits; anything else unchanged."""
    if not isinstance(Y, list) or not all(
            isinstance(r, list) and all(type(c) is int and 0 <= c < n_outputs for c in r)
            for r in Y):
        return Y
    indptr = np.cumsum([0] + [len(r) for r in Y])
    cols = np.array([c for r in Y for c in r], dtype=np.int32)
    return sp.csr_matrix((np.ones(len(cols), np.float32), cols, indptr),
                         shape=(len(Y), n_outputs))


def lsh_nested(params):
    """Flat LSH settings (``K``, ``L``, ``selection``, ...) moved into ``params["lsh"]``,
    where the network, the estimator and ``LSHSampler`` take them."""
    from slide_ref._compat import nest_lsh_params
    return nest_lsh_params(params)


def small_net_params(**kw):
    params = dict(hidden=(16,), K=2, L=4, min_active=8, fill_below=12, batch_size=8,
                  random_state=0, n_threads=1)
    params.update(kw)
    return lsh_nested(params)


def small_net(mod, **kw):
    return mod.network.SlideNetwork(N_FEATURES, N_OUTPUTS, **small_net_params(**kw))


def exercise_network(net, n_features, n_outputs, seed=0):
    """Train two batches and predict both ways; the invariants of the results."""
    X = make_X({"n": 6, "d": n_features, "seed": seed})
    Y = make_labels({"seed": seed}, 6, n_outputs)
    bad = []
    for _ in range(2):
        bad += check_finite("loss", net.train_batch(X, Y))
    for sampled in (False, True):
        bad += check_topk(*net.predict_topk(X, k=min(3, n_outputs), sampled=sampled), n_outputs,
                          sampled)
    return bad


@op("network.init")
def network_init(mod, args):
    kw = small_net_params(**args.get("params", {}))
    n_features = kw.pop("n_features", N_FEATURES)
    n_outputs = kw.pop("n_outputs", N_OUTPUTS)
    net = mod.network.SlideNetwork(n_features, n_outputs, **kw)
    return exercise_network(net, n_features, n_outputs)


@op("network.train_batch")
def network_train_batch(mod, args):
    net = small_net(mod, **args.get("params", {}))
    X = make_X({"d": N_FEATURES, **args["X"]})
    n = X.shape[0] if hasattr(X, "shape") and np.ndim(X) == 2 else 6
    Y = make_labels(args.get("Y", {}), n, N_OUTPUTS)
    w = make_weights(args.get("w", "none"), n)
    loss = net.train_batch(X, Y, sample_weight=w)
    bad = check_finite("loss", loss)
    if args["X"].get("mut") in ("unsorted", "dup"):
        twin = small_net(mod, **args.get("params", {}))
        other = twin.train_batch(canonical_X({"d": N_FEATURES, **args["X"]}), Y, sample_weight=w)
        if not np.isclose(loss, other, rtol=1e-4, atol=1e-6):
            bad.append(f"loss {loss} on {args['X']['mut']} CSR differs from {other} on its "
                       "canonical form")
    return bad


@op("network.predict")
def network_predict(mod, args):
    net = small_net(mod)
    net.train_batch(make_X({"n": 8, "d": N_FEATURES}), make_labels({}, 8, N_OUTPUTS))
    X = make_X({"d": N_FEATURES, **args["X"]})
    method, sampled = args.get("method", "predict_topk"), args.get("sampled", False)
    if method == "predict_topk":
        idx, scores = net.predict_topk(X, k=args.get("k", 3), sampled=sampled)
        bad = check_topk(idx, scores, N_OUTPUTS, sampled)
        if args["X"].get("mut") in ("unsorted", "dup") and not sampled:
            ref_idx, _ = net.predict_topk(canonical_X({"d": N_FEATURES, **args["X"]}),
                                          k=args.get("k", 3))
            if not np.array_equal(idx, ref_idx):
                bad.append("predictions on a non-canonical CSR differ from its canonical form")
        return bad
    if method == "output_scores":
        res = net.output_scores(X, sampled=sampled)
        return check_finite("scores", res[2] if isinstance(res, tuple) else res)
    return check_finite("embedding", net.embed(X))


@op("network.cross")
def network_cross(mod, args):
    """Ref and fast on the same valid input: losses and scores must agree."""
    import slide_fast
    import slide_ref
    kw = args.get("params", {})
    nets = [small_net(m, **kw) for m in (slide_ref, slide_fast)]
    bad = []
    for step in range(2):
        X = make_X({"n": 8, "d": N_FEATURES, "seed": args.get("seed", 0) + step,
                    "mut": args.get("mut", "none")})
        Y = make_labels({"seed": step}, 8, N_OUTPUTS)
        w = make_weights(args.get("w", "none"), 8)
        losses = [n.train_batch(X, Y, sample_weight=w) for n in nets]
        if not np.isclose(losses[0], losses[1], rtol=1e-4, atol=1e-5):
            bad.append(f"ref loss {losses[0]} != fast loss {losses[1]} at step {step}")
    X = make_X({"n": 5, "d": N_FEATURES, "seed": 99})
    s = [n.output_scores(X) for n in nets]
    if not np.allclose(s[0], s[1], rtol=1e-3, atol=1e-4):
        bad.append("ref and fast output_scores differ")
    return bad


def _mutate_array(value, how, pos):
    """One array of a saved state, damaged in the way ``how`` names."""
    a = np.array(value)
    flat_pos = pos % a.size if a.size else 0
    if how == "nan" and a.size:
        a = a.astype(np.float64) if a.dtype.kind in "iub" else a
        a.flat[flat_pos] = np.nan
    elif how == "inf" and a.size:
        a = a.astype(np.float64) if a.dtype.kind in "iub" else a
        a.flat[flat_pos] = np.inf
    elif how == "neg_big" and a.size:
        a = a.astype(np.int64) if a.dtype.kind in "iub" else a
        a.flat[flat_pos] = -2**62
    elif how == "negative" and a.size:
        with np.errstate(over="ignore"):        # -abs(INT_MIN) wraps; still negative enough
            a.flat[flat_pos] = -abs(a.flat[flat_pos]) - 1
    elif how == "out_of_range" and a.size:
        a = a.astype(np.int64) if a.dtype.kind in "iub" else a
        a.flat[flat_pos] = a.max() + 10**6
    elif how == "dup" and a.size >= 2:
        a.flat[1] = a.flat[0]
    elif how == "reverse" and a.ndim:       # a 0-d array has no order to reverse
        a = a[::-1].copy()
    elif how == "shape":
        a = a.ravel()[:-1] if a.size else np.zeros(3, a.dtype)
    elif how == "complex":
        a = a.astype(np.complex128)
    elif how == "str":
        a = a.astype(str)
    elif how == "float_for_int":
        a = a.astype(np.float64) + 0.5
    elif how == "scalar":
        a = np.asarray(a.ravel()[0] if a.size else 0)
    return a


def base_network(mod, config):
    if config == "unigram":
        sampler = mod.negative.UnigramSampler(n_negatives=8)
        net = small_net(mod, output_sampler=sampler)
        net.sampler_.prepare(label_matrix(32))
    elif config == "minhash":
        net = small_net(mod, hash_family="minhash")
    elif config == "catchup":
        net = small_net(mod, optimizer="catchup_adam", bf16=1)
    else:
        net = small_net(mod)
    for seed in range(2):
        net.train_batch(make_X({"n": 8, "d": N_FEATURES, "seed": seed}),
                        make_labels({"seed": seed}, 8, N_OUTPUTS))
    return net


@op("network.from_state")
def network_from_state(mod, args):
    params, arrays = base_network(mod, args.get("config", "lsh")).get_state()
    if "key" in args:
        arrays[args["key"]] = _mutate_array(arrays[args["key"]], args["how"], args.get("pos", 0))
    if "param" in args:
        params = dict(params, **{args["param"]: args["value"]})
        lsh = params.pop("lsh", None) or {}
        params = lsh_nested({**lsh, **params})      # a (damaged) LSH setting goes in lsh
    net = mod.network.SlideNetwork.from_state(params, arrays)
    return exercise_network(net, net.n_features, net.n_outputs)


# ----------------------------------------------------------------------------- classifier
def small_clf(mod, **kw):
    base = dict(hidden=16, K=2, L=4, min_active=8, fill_below=12, batch_size=8, random_state=0,
                show_progress=False, eval_every=1000, n_threads=1)
    base.update(kw)
    return mod.SlideClassifier(**lsh_nested(base))


@op("classifier.fit")
def classifier_fit(mod, args):
    X = make_X({"d": N_FEATURES, **args["X"]})
    n = X.shape[0] if hasattr(X, "shape") and np.ndim(X) == 2 else 6
    Y = as_indicator(make_labels(args.get("Y", {}), n, N_OUTPUTS))
    clf = small_clf(mod, **args.get("params", {}))
    method = args.get("method", "fit")
    if method == "fit":
        clf.fit(X, Y, epochs=args.get("epochs", 1))
    else:
        clf.partial_fit(X, Y, sample_weight=make_weights(args.get("w", "none"), n))
    Xv = make_X({"n": 4, "d": clf.n_features_in_, "seed": 7})
    idx, scores = clf.predict(Xv, k=2)
    return check_topk(idx, scores, clf.n_outputs_, False)


def fitted_clf(mod, config="lsh"):
    kw = {"sampler": mod.negative.UnigramSampler(n_negatives=8)} if config == "unigram" else {}
    clf = small_clf(mod, **kw)
    clf.fit(make_X({"n": 16, "d": N_FEATURES}), label_matrix(16))
    return clf


@op("classifier.predict")
def classifier_predict(mod, args):
    clf = fitted_clf(mod)
    X = make_X({"d": N_FEATURES, **args["X"]})
    if args.get("method") == "score":
        n = X.shape[0] if hasattr(X, "shape") and np.ndim(X) == 2 else 4
        value = clf.score(X, as_indicator(make_labels(args.get("Y", {}), n, N_OUTPUTS)),
                          k=args.get("k", 1))
        return [] if 0 <= value <= 1 else [f"score {value} outside [0, 1]"]
    idx, scores = clf.predict(X, k=args.get("k", 3), sampled=args.get("sampled", False))
    return check_topk(idx, scores, N_OUTPUTS, args.get("sampled", False))


@op("classifier.save")
def classifier_save(mod, args):
    clf = fitted_clf(mod)
    path = args["path"]
    if args.get("exists"):
        open(path, "wb").close()
    clf.save(path, overwrite=args.get("overwrite", False))
    return [] if os.path.exists(path) else ["save returned but wrote no file"]


@op("classifier.load")
def classifier_load(mod, args):
    clf = mod.SlideClassifier.load(args["path"])
    net = clf.network_
    if (clf.n_features_in_, clf.n_outputs_) != (net.n_features, net.n_outputs) or \
            type(clf.n_features_in_) is not int or type(clf.n_outputs_) is not int:
        return [f"loaded n_features_in_={clf.n_features_in_!r}, n_outputs_={clf.n_outputs_!r} "
                f"disagree with the network's ({net.n_features}, {net.n_outputs})"]
    X = make_X({"n": 4, "d": int(clf.n_features_in_), "seed": 3})
    bad = []
    for sampled in (False, True):
        bad += check_topk(*clf.predict(X, k=2, sampled=sampled), int(clf.n_outputs_), sampled)
    clf.partial_fit(X, label_matrix(4, int(clf.n_outputs_)))
    return bad + check_topk(*clf.predict(X, k=2), int(clf.n_outputs_), False)


# ----------------------------------------------------------------------------- samplers
@op("negative.sampler")
def negative_sampler(mod, args):
    name = args.get("name", "uniform")
    params = args.get("params", {})
    if name.startswith("lsh") or name == "LSHSampler":
        params = lsh_nested(params)
    if args.get("via_make", True):
        sampler = mod.negative.make_sampler(name, module=mod.negative, **params)
    else:
        sampler = getattr(mod.negative, name)(**params)
    net = small_net(mod, output_sampler=sampler)
    if "counts" not in args.get("params", {}):      # frequency samplers see the labels first
        net.sampler_.prepare(label_matrix(32))
    return exercise_network(net, N_FEATURES, N_OUTPUTS)


# ----------------------------------------------------------------------------- lsh
FAMILY_CLASSES = ["WTAHash", "DWTAHash", "SimHash", "DensifiedMinHash", "PStableHash"]


def make_family(mod, args):
    cls = getattr(mod.lsh, FAMILY_CLASSES[args.get("family", 0) % len(FAMILY_CLASSES)])
    params = {"K": 2, "L": 3, "random_state": 0, **args.get("family_params", {})}
    return cls(args.get("n_features", N_FEATURES), **params)


def check_codes(codes, n_rows):
    """One row of hash codes per input row."""
    codes = np.asarray(codes)
    return [] if codes.shape[0] == n_rows else [f"{codes.shape[0]} code rows for {n_rows} rows"]


@op("lsh.family")
def lsh_family(mod, args):
    family = make_family(mod, args)
    X = make_X({"d": family.n_features, **args.get("X", {"n": 4})})
    method = args.get("method", "hash")
    if method == "hash":
        return check_codes(family.hash(X), np.shape(X)[0])
    buckets = np.asarray(family.buckets(X, args.get("range_pow", 8)))
    rp = args.get("range_pow", 8)
    if buckets.size and (buckets.min() < 0 or buckets.max() >= 2**rp):
        return [f"bucket id outside [0, 2**{rp})"]
    return []


@op("lsh.family_state")
def lsh_family_state(mod, args):
    family = make_family(mod, args)
    state = family.get_state()
    if "key" in args:
        key = args["key"]
        state["arrays"][key] = _mutate_array(state["arrays"][key], args["how"], args.get("pos", 0))
    if "param" in args:
        state["params"][args["param"]] = args["value"]
    fam = mod.lsh.hash_family_from_state(state, module=mod.lsh)
    X = make_X({"n": 4, "d": fam.n_features})
    tables = mod.lsh.LSHTables(fam, range_pow=6, capacity=4, random_state=0)
    tables.build(make_X({"n": 20, "d": fam.n_features, "seed": 1}).toarray())
    return _check_candidates(tables.query(X), 20) + check_codes(fam.hash(X), 4)


def _check_candidates(result, n_items):
    """Query results: CSR [n_queries, n_items] whose column ids are item ids."""
    ids = result.indices
    if ids.size and (ids.min() < 0 or ids.max() >= n_items):
        return [f"candidate id outside [0, {n_items})"]
    return []


@op("lsh.tables")
def lsh_tables(mod, args):
    family = make_family(mod, args)
    tables = mod.lsh.LSHTables(family, **{"range_pow": 6, "capacity": 4, "random_state": 0,
                                          **args.get("params", {})})
    items = make_X({"d": family.n_features, **args.get("items", {"n": 20, "fmt": "dense"})})
    tables.build(items)
    X = make_X({"d": family.n_features, **args.get("X", {"n": 4})})
    n_items = np.shape(items)[0]
    return _check_candidates(tables.query(X), n_items)


# ----------------------------------------------------------------------------- nwsketch
def small_sketch(mod, **kw):
    params = {"n_rows": 8, "n_buckets": 64, "K": 2, "key_dim": 8, "random_state": 0,
              "n_threads": 1}
    params.update(kw)
    return mod.nwsketch.NWSketch(kw.pop("n_features", 12) if "n_features" in kw else 12,
                                 **{k: v for k, v in params.items() if k != "n_features"})


@op("nwsketch.sketch")
def nwsketch_sketch(mod, args):
    sk = small_sketch(mod, **args.get("params", {}))
    X = make_X({"d": sk.n_features, "fmt": "dense", **args.get("X", {"n": 6})})
    n = np.shape(X)[0] if np.ndim(X) == 2 else 6
    losses = make_weights(args.get("losses", "ones"), n)
    sk.insert(X, losses)
    if "gamma" in args:
        sk.decay(args["gamma"])
    q = sk.query(make_X({"n": 3, "d": sk.n_features, "fmt": "dense", "seed": 4}))
    return check_finite("estimate", q)


@op("nwsketch.load")
def nwsketch_load(mod, args):
    sk = mod.nwsketch.NWSketch.load(args["path"])
    X = make_X({"n": 3, "d": sk.n_features, "fmt": "dense"})
    q = sk.query(X)
    sk.insert(X, np.ones(3))
    return check_finite("estimate", q) + check_finite("estimate", sk.query(X))


@op("nwsketch.example_sampler")
def nwsketch_example_sampler(mod, args):
    cls = getattr(mod.nwsketch, args.get("name", "NWSampler"))
    sampler = cls(random_state=0, **args.get("params", {}))
    X = make_X({"d": 8, "fmt": "dense", **args.get("X", {"n": 40})})
    sampler.start(X, args.get("batch_size", 8))
    n = np.shape(X)[0]
    dense = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    bad = []
    for _ in range(3):
        idx, w = sampler.next_batch(lambda i: np.abs(dense[i, 0]) + 0.1)
        if len(idx) and (np.min(idx) < 0 or np.max(idx) >= n):
            bad.append("example index outside the data")
        if w is not None and not np.isfinite(w).all():
            bad.append("non-finite example weight")
        obs = args.get("observe")
        if obs == "bad_index":
            idx = np.array([n + 5])
        losses = make_weights(args.get("losses", "ones"), len(idx))
        sampler.observe(idx, losses if losses is not None else np.ones(len(idx)))
    return bad


# ----------------------------------------------------------------------------- zsl
def zsl_data(args):
    rng = np.random.default_rng(args.get("seed", 0))
    n_classes, n_attr, d = 6, 5, 10
    attributes = rng.standard_normal((n_attr, n_classes))
    y = rng.integers(0, 4, size=30)
    X = rng.standard_normal((30, d)) + attributes[:, y].T.sum(axis=1, keepdims=True)
    return X, y, attributes


def _damage(a, how):
    a = np.array(a)
    if how == "nan":
        a = a.astype(np.float64)
        a.flat[0] = np.nan
    elif how == "inf":
        a = a.astype(np.float64)
        a.flat[-1] = np.inf
    elif how == "complex":
        a = a.astype(complex)
    elif how == "str":
        a = a.astype(str)
    elif how == "shape":
        a = a[:-1]
    elif how == "out_of_range":
        a = a.copy()
        a.flat[0] = 10**6
    elif how == "negative":
        a = a.copy()
        a.flat[0] = -1
    elif how == "float":
        a = a.astype(np.float64) + 0.5
    elif how == "transpose":
        a = a.T
    elif how == "empty":
        a = a[:0]
    return a


@op("zsl.fit")
def zsl_fit(mod, args):
    X, y, attributes = zsl_data(args)
    target = args.get("target")
    if target == "X":
        X = _damage(X, args["how"])
    elif target == "y":
        y = _damage(y, args["how"])
    elif target == "attributes":
        attributes = _damage(attributes, args["how"])
    cls = getattr(mod.zsl, args.get("cls", "SoftLabelZSL"))
    defaults = {"SoftLabelZSL": dict(hidden=(8,), epochs=2, batch_size=8, random_state=0,
                                     n_threads=1),
                "ESZSL": {}, "SJE": dict(epochs=2, random_state=0)}[args.get("cls", "SoftLabelZSL")]
    model = cls(**{**defaults, **args.get("params", {})})
    seen, unseen = args.get("seen"), args.get("unseen")
    model.fit(X, y, attributes, seen=seen, unseen=unseen)
    Xq = X if target != "Xq" else _damage(X, args["how"])
    pred = np.asarray(model.predict(Xq, mode=args.get("mode", "gzsl")))
    n_classes = np.shape(attributes)[1] if np.ndim(attributes) == 2 else 0
    if pred.size and (pred.min() < 0 or pred.max() >= max(n_classes, 1)):
        return ["predicted class outside the attribute columns"]
    return []


# ----------------------------------------------------------------------------- datasets
@op("datasets.read_xc")
def datasets_read_xc(mod, args):
    blob = bytes.fromhex(args["hex"])
    X, Y = mod.datasets.read_xc(io.BytesIO(blob))
    expect = args.get("expect")
    if expect is None:
        return []
    want_X = sp.csr_matrix((np.array(expect["data"], np.float64), expect["indices"],
                            expect["indptr"]), shape=tuple(expect["X_shape"]))
    bad = []
    if X.shape != want_X.shape or abs(X.astype(np.float64) - want_X).max() > 1e-6 * \
            max(1.0, abs(want_X).max()):
        bad.append("features differ from the file's content")
    want_Y = [sorted(r) for r in expect["labels"]]
    got_Y = [sorted(Y.indices[Y.indptr[i]:Y.indptr[i + 1]].tolist()) for i in range(Y.shape[0])]
    if got_Y != want_Y:
        bad.append("labels differ from the file's content")
    return bad


@op("datasets.write_xc")
def datasets_write_xc(mod, args):
    X = make_X({"d": 12, **args.get("X", {"n": 5})})
    n = np.shape(X)[0] if np.ndim(X) == 2 else 5
    Y = make_labels(args.get("Y", {}), n, 7)
    mod.datasets.write_xc(args["path"], X, Y, overwrite=args.get("overwrite", False),
                          n_labels=args.get("n_labels"))
    try:
        X2, _ = mod.datasets.read_xc(args["path"])
    except ValueError as exc:
        return [f"write_xc wrote a file that read_xc refuses: {exc}"]
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    if X2.shape != Xd.shape or not np.allclose(X2.toarray(), Xd, rtol=1e-6):
        return ["write_xc then read_xc changed the features"]
    return []


# ----------------------------------------------------------------------------- metrics
@op("metrics")
def metrics_op(mod, args):
    rng = np.random.default_rng(args.get("seed", 0))
    n, L = 6, 9
    Y = sp.csr_matrix((rng.random((n, L)) < 0.3).astype(np.float32))
    pred = np.argsort(-rng.random((n, L)), axis=1)[:, :5]
    inv = np.ones(L)
    how, target = args.get("how"), args.get("target")
    if target == "pred":
        pred = _damage(pred, how)
    elif target == "Y":
        Y = sp.csr_matrix(_damage(Y.toarray(), how)) if how not in ("str", "complex") else \
            _damage(Y.toarray(), how)
    elif target == "inv":
        inv = _damage(inv, how)
    k = args.get("k", 5)
    fn = getattr(mod.metrics, args.get("fn", "precision_at_k"))
    if args.get("fn", "").startswith("ps"):
        value = fn(Y, pred, inv, k=k)
    else:
        value = fn(Y, pred, k=k)
    value = np.asarray(value, dtype=np.float64)
    if not np.isfinite(value).all() or (value.size and (value.min() < 0 or value.max() > 1 + 1e-9)
                                        and not args.get("fn", "").startswith("ps")):
        return [f"metric outside [0, 1]: {value}"]
    return []


# ----------------------------------------------------------------------------- cli
@op("cli")
def cli_op(mod, args):
    from slide_ref import cli
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(args["argv"])
        except SystemExit as exc:
            code = exc.code
    if code not in (0, None):
        raise CliError(code, err.getvalue().strip().splitlines()[-1:] or [""])
    return []


class CliError(ValueError):
    """A non-zero exit of the command line, carrying its last line of stderr."""

    def __init__(self, code, lines):
        super().__init__(f"exit {code}: {lines[0]}")
