"""Hypothesis strategies that draw fuzz cases, one per group of entry points.

A strategy draws the JSON ``args`` of an op (see :mod:`fuzz_ops`) together with
whether the input is invalid and which argument names an error message may
name.  :func:`collect` turns a strategy into a list of case specs for both
backends.
"""
import json

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fuzz_inputs import LABEL_MUTATIONS, WEIGHT_MUTATIONS, X_MUTATIONS

BACKENDS = ("ref", "fast")


def case(args, invalid, names, **extra):
    return {"args": args, "invalid": bool(invalid), "names": sorted(set(names)), **extra}


# ----------------------------------------------------------------------------- inputs
def x_desc(max_rows=6, fmt=("csr", "dense"), muts=None):
    muts = sorted(muts or X_MUTATIONS)
    return st.fixed_dictionaries({
        "n": st.integers(1, max_rows), "seed": st.integers(0, 2**16),
        "fmt": st.sampled_from(fmt),
        "mut": st.one_of(st.just("none"), st.sampled_from(muts)),
        "val": st.one_of(st.integers(0, 10**6), st.sampled_from([2**31, 2**31 - 1, 2**62]))})


def label_desc():
    return st.fixed_dictionaries({"seed": st.integers(0, 99),
                                  "mut": st.one_of(st.just("none"),
                                                   st.sampled_from(sorted(LABEL_MUTATIONS))),
                                  "val": st.integers(0, 10**4)})


def x_bad(X, empty_ok=False):
    """Whether the described X is invalid input; inference and hashing take zero rows
    (they check with ``allow_empty``) and return zero rows."""
    return X_MUTATIONS[X["mut"]] and not (empty_ok and X["mut"] == "zero_rows")


@st.composite
def batch_inputs(draw, weights=True):
    """(X, Y, w) descriptions with invalid flag and the names of the bad arguments."""
    X, Y = draw(x_desc()), draw(label_desc())
    w = draw(st.sampled_from(sorted(WEIGHT_MUTATIONS))) if weights else "none"
    names = []
    if X_MUTATIONS[X["mut"]]:
        names.append("X")
    if LABEL_MUTATIONS[Y["mut"]]:
        names += ["Y"]
    if WEIGHT_MUTATIONS[w]:
        names.append("sample_weight")
    return X, Y, w, names


# ----------------------------------------------------------------------------- network
NETWORK_PARAMS = {
    "n_features": ([0, -5, 1.5, "50", None, 2**40], [1]),
    "n_outputs": ([1, 0, -1, "40", 10**9, 2**40], [2]),
    "hidden": ([(0,), (-3,), ("a",), (2**40,), (1.5,)], [(1,), ()]),
    "K": ([0, -1, 65, 1.5, "2", None, 10**6], [1]),
    "L": ([0, -1, 10**9, 1.5, None], [1]),
    "range_pow": ([0, -1, 30, 40, 1.5, "14"], [1, None]),
    "bucket_capacity": ([-1, 1.5, 10**12], [0, 1]),
    "bucket_policy": (["lifo", None, 3], ["reservoir"]),
    "selection": (["nope", None], ["threshold", "topk", "vanilla"]),
    "selection_param": ([-1, 0, 1.5, "2"], [None]),
    "min_active": ([-1, 1.5, 10**12], [0]),
    "fill_below": ([-1, 1.5], [0]),
    "optimizer": (["adagrad", None], ["sgd", "lazy_adam", "catchup_adam"]),
    "lr": ([-1.0, float("nan"), float("inf"), "0.1", 0.0], [1e-8]),
    "beta1": ([1.5, -0.1, float("nan")], [0.0]),
    "beta2": ([1.5, -0.1, float("nan")], [0.0]),
    "eps": ([-1.0, float("nan")], [1e-30]),
    "init": (["zeros", None], ["slide"]),
    "init_std": ([-1.0, float("nan"), float("inf")], [0.0]),
    "batch_size": ([0, -1, 1.5], [1]),
    # 0 is documented as "never" (TableSchedule, LSHParams)
    "rehash_every": ([-1, 1.5], [1, 0]),
    "rebuild_every": ([-1, 1.5], [1, 0]),
    "table_schedule": (["linear", None], ["exponential"]),
    "schedule_first": ([0, -1, -2**62], [1]),
    "schedule_growth": ([-1.0, float("nan"), float("inf")], [0.0]),
    "bf16": ([3, -1, 1.5, "1"], [1, 2]),
    "n_threads": ([0, 1.5, "2"], [-1, 10**6]),
    "random_state": ([-1, "seed", 1.5], [None, 2**32]),
    "sampled": ([(True, True), (True,), "yes"], [(False, False)]),
}
#: parameters whose valid extremes may try to allocate without bound: run alone
RESOURCE = {"n_outputs", "n_features", "hidden", "L", "K", "range_pow", "bucket_capacity",
            "min_active", "n_threads"}


@st.composite
def network_init(draw):
    name = draw(st.sampled_from(sorted(NETWORK_PARAMS)))
    bad, good = NETWORK_PARAMS[name]
    invalid = draw(st.booleans())
    value = draw(st.sampled_from(bad if invalid else good))
    value = list(value) if isinstance(value, tuple) else value
    names = [name, "hidden width"] if name == "hidden" else [name]
    huge = name in RESOURCE and isinstance(value, int) and abs(value) >= 10**6
    return case({"params": {name: value}}, invalid, names, isolate=huge,
                max_rss_mb=1200 if name in RESOURCE else None, timeout=60 if huge else 10)


@st.composite
def network_train_batch(draw):
    X, Y, w, names = draw(batch_inputs())
    params = draw(st.sampled_from([{}, {"optimizer": "sgd"}, {"bf16": 1}, {"hidden": [8, 8]},
                                   {"optimizer": "catchup_adam"}]))
    return case({"X": X, "Y": Y, "w": w, "params": params}, bool(names), names)


@st.composite
def network_predict(draw):
    X = draw(x_desc())
    method = draw(st.sampled_from(["predict_topk", "output_scores", "embed"]))
    k = draw(st.sampled_from([1, 3, 40, 0, -1, 41, 1.5, "3", None, 10**12, True]))
    k_bad = method == "predict_topk" and not (isinstance(k, int) and not isinstance(k, bool)
                                              and 1 <= k <= 40)
    names = (["X"] if x_bad(X, empty_ok=True) else []) + (["k"] if k_bad else [])
    return case({"X": X, "method": method, "k": k, "sampled": draw(st.booleans())},
                bool(names), names)


@st.composite
def network_cross(draw):
    params = draw(st.sampled_from([{}, {"optimizer": "sgd"}, {"optimizer": "lazy_adam"},
                                   {"hidden": [8, 12]}, {"bf16": 1}]))
    return case({"params": params, "seed": draw(st.integers(0, 999)),
                 "mut": draw(st.sampled_from(["none", "unsorted", "dup", "bool"])),
                 "w": draw(st.sampled_from(["none", "ones"]))}, False, [])


WRONG_JSON = ["abc", [1, 2], {"a": 1}, None, -1, 10**12, 5e6, True, -2**62]


def network_from_state(state_keys):
    """Cases that damage one array or parameter of a saved network state."""
    from fuzz_corpus import ARRAY_DAMAGE, _array_invalid
    from fuzz_ops import _mutate_array

    @st.composite
    def strategy(draw):
        config = draw(st.sampled_from(sorted(state_keys)))
        arrays, params = state_keys[config]
        if draw(st.booleans()):
            key = draw(st.sampled_from(sorted(arrays)))
            how = draw(st.sampled_from(ARRAY_DAMAGE))
            pos = draw(st.integers(0, 2**16))
            invalid = _array_invalid(key, arrays[key], how, _mutate_array(arrays[key], how, pos))
            return case({"config": config, "key": key, "how": how, "pos": pos}, invalid,
                        [key, key.split(".")[-1]], timeout=30)
        name = draw(st.sampled_from(sorted(params)))
        value = draw(st.sampled_from(WRONG_JSON))
        old = params[name]
        invalid = isinstance(value, (str, list, dict)) and not isinstance(old, str) or (
            isinstance(old, str) and not isinstance(value, str))
        return case({"config": config, "param": name, "value": value}, invalid, [name],
                    max_rss_mb=1200, timeout=30)
    return strategy()


# ----------------------------------------------------------------------------- classifier
@st.composite
def classifier_fit(draw):
    X, Y, w, names = draw(batch_inputs())
    method = draw(st.sampled_from(["fit", "partial_fit"]))
    if X["mut"] == "wrong_width":   # a fresh estimator takes its width from X: any is valid
        names = [n for n in names if n != "X"]
    if method == "fit" and w != "none":
        w = "none"
        names = [n for n in names if n != "sample_weight"]
    params = {}
    if draw(st.integers(0, 3)) == 0:
        pname = draw(st.sampled_from(["hidden", "K", "L", "lr", "batch_size", "selection",
                                      "eval_every", "eval_size", "optimizer", "bf16"]))
        bad, _ = NETWORK_PARAMS.get(pname, ([0, -1, "x"], []))
        if pname == "optimizer":       # the classifier's None is valid: the preset's optimizer
            bad = [b for b in bad if b is not None]
        params = {pname: draw(st.sampled_from(bad))}
        names.append(pname)
        if pname == "hidden":
            names.append("hidden width")
    return case({"X": X, "Y": Y, "w": w, "params": params, "method": method}, bool(names),
                names)


@st.composite
def classifier_predict(draw):
    X = draw(x_desc())
    method = draw(st.sampled_from(["predict", "score"]))
    k = draw(st.sampled_from([1, 2, 0, -1, 1.5, "2", None, 10**9]))
    Y = draw(label_desc()) if method == "score" else {}
    k_bad = not (isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= 40)
    names = (["X"] if x_bad(X, empty_ok=method == "predict") else []) + \
        (["k"] if k_bad else []) + (["Y"] if Y and LABEL_MUTATIONS[Y["mut"]] else [])
    return case({"X": X, "Y": Y, "k": k, "method": method, "sampled": draw(st.booleans())},
                bool(names), names)


# ----------------------------------------------------------------------------- samplers
SAMPLER_NAMES = ["lsh-embedding", "lsh-label", "uniform", "unigram", "loguniform", "full"]
SAMPLER_PARAMS = {
    "n_negatives": [0, -1, 10**12, 1.5, "8"],
    "power": [float("nan"), -1.0, "1"],
    "counts": [[1.0, 2.0], [float("nan")] * 40, [-1.0] * 40, "abc"],
    "shared": ["yes", 2],
    "hard_negatives": [-1, 10**6, 1.5],
    "K": [0, 65, -1], "L": [0, 10**9], "range_pow": [0, 31, 64],
    "max_active": [-1, float("nan"), "x"], "selection": ["nope"],
    "bucket_capacity": [-1], "rehash_every": [-1],      # 0 is documented as "never"
    "schedule_growth": [float("nan")],
    "label_query": ["one"], "hash_family": ["md5", None], "hash_params": [{"bogus": 1}, "x"],
}
SAMPLER_ACCEPTS = {
    "uniform": {"n_negatives", "shared", "hard_negatives"},
    "unigram": {"n_negatives", "shared", "hard_negatives", "power", "counts"},
    "loguniform": {"n_negatives", "shared", "hard_negatives", "counts"},
    "lsh-embedding": {"K", "L", "range_pow", "max_active", "selection", "bucket_capacity",
                      "rehash_every", "schedule_growth", "label_query", "hash_family",
                      "hash_params"},
    "full": set(),
}
SAMPLER_ACCEPTS["lsh-label"] = SAMPLER_ACCEPTS["lsh-embedding"]


@st.composite
def negative_sampler(draw):
    if draw(st.integers(0, 9)) == 0:
        name = draw(st.sampled_from(["nope", "LSH", "", "uniform "]))
        return case({"name": name}, True, ["sampler", name])
    name = draw(st.sampled_from(SAMPLER_NAMES))
    accepted = sorted(SAMPLER_ACCEPTS[name])
    if not accepted:
        return case({"name": name}, False, [])
    pname = draw(st.sampled_from(accepted))
    value = draw(st.sampled_from(SAMPLER_PARAMS[pname]))
    big = pname in ("n_negatives", "L", "range_pow", "hard_negatives")
    return case({"name": name, "params": {pname: value}}, True, [pname],
                max_rss_mb=1200 if big else None, timeout=30 if big else 10)


# ----------------------------------------------------------------------------- lsh
FAMILY_PARAMS = {
    0: {"K": [0, 65, -1, "2"], "L": [0, 10**9], "bin_size": [0, -1, 10**9],
        "packing": ["x"]},
    1: {"K": [0, 65], "L": [0, -1], "bin_size": [0, 1.5]},
    2: {"K": [0, 65], "L": [0], "ratio": [0, -1, 10**9]},
    3: {"K": [0, 65], "L": [0], "topk": [0, -1]},
    4: {"K": [0, 65], "L": [0], "width": [0.0, -1.0, float("nan"), float("inf")]},
}


@st.composite
def lsh_family(draw):
    family = draw(st.integers(0, 4))
    params, names = {}, []
    if draw(st.integers(0, 3)) == 0:
        pname = draw(st.sampled_from(sorted(FAMILY_PARAMS[family])))
        params[pname] = draw(st.sampled_from(FAMILY_PARAMS[family][pname]))
        names.append(pname)
    X = draw(x_desc())
    if x_bad(X, empty_ok=True):
        names.append("X")
    method = draw(st.sampled_from(["hash", "buckets"]))
    range_pow = draw(st.sampled_from([8, 1, 0, -1, 64, 1.5])) if method == "buckets" else 8
    if method == "buckets" and range_pow not in (8, 1):
        names.append("range_pow")
    big = any(isinstance(v, int) and v >= 10**6 for v in params.values())
    return case({"family": family, "family_params": params, "X": X, "method": method,
                 "range_pow": range_pow}, bool(names), names,
                max_rss_mb=1200 if big else None)


def lsh_family_state(family_keys):
    from fuzz_corpus import ARRAY_DAMAGE, _array_invalid

    @st.composite
    def strategy(draw):
        family = draw(st.integers(0, 4))
        arrays, params = family_keys[family]
        if draw(st.booleans()) and arrays:
            key = draw(st.sampled_from(sorted(arrays)))
            how = draw(st.sampled_from(ARRAY_DAMAGE))
            return case({"family": family, "key": key, "how": how,
                         "pos": draw(st.integers(0, 2**16))},
                        _array_invalid(key, arrays[key], how), [key])
        name = draw(st.sampled_from(sorted(params)))
        value = draw(st.sampled_from(WRONG_JSON))
        return case({"family": family, "param": name, "value": value},
                    isinstance(value, (str, list, dict)) != isinstance(params[name], str),
                    [name], max_rss_mb=1200)
    return strategy()


@st.composite
def lsh_tables(draw):
    family = draw(st.integers(0, 4))
    params, names = {}, []
    choice = draw(st.integers(0, 2))
    if choice == 0:
        pname = draw(st.sampled_from(["range_pow", "capacity", "policy"]))
        params[pname] = draw(st.sampled_from({"range_pow": [0, 31, 64, -1, 1.5],
                                              "capacity": [-1, 1.5, "4"],
                                              "policy": ["lifo", None]}[pname]))
        names.append(pname)
    items = {"n": 20, "fmt": "dense"}
    X = {"n": 4}
    if choice == 1:
        items = draw(x_desc(max_rows=20))
        if X_MUTATIONS[items["mut"]]:
            names.append("items")
    elif choice == 2:
        X = draw(x_desc())
        if x_bad(X, empty_ok=True):         # a query of zero rows is answered with none
            names.append("X")
    return case({"family": family, "params": params, "items": items, "X": X}, bool(names),
                names)


# ----------------------------------------------------------------------------- nwsketch
SKETCH_PARAMS = {"n_rows": [0, -1, 10**9], "n_buckets": [0, 2**31, -1], "family": ["md5"],
                 "K": [0, -1, 65], "width": [0.0, float("nan"), -1.0], "key_dim": [0, -1],
                 "prior": [float("nan"), "x"], "prior_weight": [-1.0, float("nan")],
                 "n_features": [0, -1, 1.5]}


@st.composite
def nwsketch_sketch(draw):
    params, names, args = {}, [], {}
    choice = draw(st.integers(0, 3))
    if choice == 0:
        pname = draw(st.sampled_from(sorted(SKETCH_PARAMS)))
        params[pname] = draw(st.sampled_from(SKETCH_PARAMS[pname]))
        names.append(pname)
    elif choice == 1:
        args["X"] = draw(x_desc())
        # an empty batch is valid for a sketch: inserting or querying 0 rows is a no-op
        if X_MUTATIONS[args["X"]["mut"]] and args["X"]["mut"] != "zero_rows":
            names.append("X")
    elif choice == 2:
        args["losses"] = draw(st.sampled_from(sorted(WEIGHT_MUTATIONS)))
        if args["losses"] == "none":
            args["losses"] = "strings"
        if WEIGHT_MUTATIONS[args["losses"]] or args["losses"] == "huge":
            names.append("losses")
    else:
        args["gamma"] = draw(st.sampled_from([0.5, 0.0, -1.0, 1.5, float("nan"), "x"]))
        if args["gamma"] not in (0.5, 0.0):     # decay(0) is documented valid: forgets all
            names.append("gamma")
    big = any(isinstance(v, int) and v >= 10**6 for v in params.values())
    return case({"params": params, **args}, bool(names), names,
                max_rss_mb=1200 if big else None)


EXAMPLE_SAMPLERS = {"NWSampler": {"scheme": ["x"], "n_rows": [0], "n_buckets": [0, 2**31],
                                  "mix": [-0.1, 1.5, float("nan")], "tau": [0.0, -1.0],
                                  "eps": [-1.0], "keep_top": [1.5], "accept_prob": [-0.5],
                                  "weighting": ["x"], "refresh_every": [0, -1],
                                  "decay": [float("nan")]},
                    "UniformExamples": {},
                    "LossImportance": {"presample": [0, -1], "mix": [1.5, float("nan")]},
                    "SelectiveBackprop": {"beta": [-1.0, float("nan")], "history": [0]}}


@st.composite
def nwsketch_example_sampler(draw):
    name = draw(st.sampled_from(sorted(EXAMPLE_SAMPLERS)))
    args, names = {"name": name}, []
    choice = draw(st.integers(0, 3))
    if choice == 0 and EXAMPLE_SAMPLERS[name]:
        pname = draw(st.sampled_from(sorted(EXAMPLE_SAMPLERS[name])))
        args["params"] = {pname: draw(st.sampled_from(EXAMPLE_SAMPLERS[name][pname]))}
        names.append(pname)
    elif choice == 1:
        args["X"] = draw(x_desc(max_rows=40))
        args["X"]["n"] = max(args["X"]["n"], 10)
        # a sampler has no feature width of its own (start(X) sets it): any width is valid
        if X_MUTATIONS[args["X"]["mut"]] and args["X"]["mut"] != "wrong_width":
            names.append("X")
    elif choice == 2:
        args["batch_size"] = draw(st.sampled_from([0, -1, 1.5, 10**6, "8"]))
        if args["batch_size"] != 10**6:
            names.append("batch_size")
    else:
        args["losses"] = draw(st.sampled_from(["nan", "inf", "negative", "wrong_len", "strings"]))
        args["observe"] = draw(st.sampled_from([None, "bad_index"]))
        names += ["losses", "indices"]
    return case(args, bool(names), names)


# ----------------------------------------------------------------------------- zsl
@st.composite
def zsl_fit(draw):
    cls = draw(st.sampled_from(["SoftLabelZSL", "ESZSL", "SJE"]))
    target = draw(st.sampled_from(["X", "y", "attributes", "Xq", "seen", "mode", "params"]))
    args, names = {"cls": cls, "target": target}, []
    if target in ("X", "Xq", "attributes"):
        args["how"] = draw(st.sampled_from(["nan", "inf", "complex", "str", "shape", "transpose",
                                            "empty"]))
        names = [target.rstrip("q")]
        if args["how"] in ("shape", "transpose", "empty") and target != "attributes":
            names.append("y")       # a sample-count mismatch may be reported on y
    elif target == "y":
        args["how"] = draw(st.sampled_from(["out_of_range", "negative", "float", "str", "shape",
                                            "nan"]))
        names = ["y"]
    elif target == "seen":
        args["seen"] = draw(st.sampled_from([[0, 0], [-1], [99], ["a"], [0.5]]))
        names = ["seen"]
    elif target == "mode":
        args["mode"] = draw(st.sampled_from(["zsl2", None, 3]))
        names = ["mode"]
    else:
        pname, value = draw(st.sampled_from({
            "SoftLabelZSL": [("lr", -1.0), ("q", 1.0), ("temperature", 0.0),
                             ("hidden", [0]), ("epochs", -1), ("loss", "x")],
            "ESZSL": [("feature_reg", -1.0), ("attribute_reg", float("nan")),
                      ("normalize", "x")],
            "SJE": [("lr", float("nan")), ("margin", -1.0), ("epochs", -1),
                    ("batch_size", 0)]}[cls]))
        args["params"] = {pname: value}
        names = [pname, "hidden width"] if pname == "hidden" else [pname]
    # fewer or no query rows, or fewer (or transposed: other) attributes are still valid data
    valid = (target == "Xq" and args.get("how") in ("shape", "empty")) or \
        (target == "attributes" and args.get("how") in ("shape", "transpose"))
    return case(args, not valid, names)


# ----------------------------------------------------------------------------- datasets
@st.composite
def xc_valid(draw):
    n = draw(st.integers(1, 5))
    n_feat, n_lab = draw(st.integers(1, 20)), draw(st.integers(1, 8))
    lines, data, indices, indptr, labels = [], [], [], [0], []
    for _ in range(n):
        feats = sorted(draw(st.sets(st.integers(0, n_feat - 1), max_size=4)))
        labs = sorted(draw(st.sets(st.integers(0, n_lab - 1), max_size=3)))
        vals = [draw(st.sampled_from([1.0, 0.5, -2.25, 3e3, 1e-3, 7.0])) for _ in feats]
        sep = draw(st.sampled_from([" ", "  ", "\t"]))
        tokens = [f"{f}:{v!r}" for f, v in zip(feats, vals)]
        head = ",".join(map(str, labs))
        lines.append((head + sep if head else sep) + sep.join(tokens))
        data += vals
        indices += feats
        indptr.append(len(indices))
        labels.append(labs)
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    text = f"{n} {n_feat} {n_lab}{eol}" + eol.join(lines) + eol
    expect = {"data": data, "indices": indices, "indptr": indptr, "X_shape": [n, n_feat],
              "labels": labels}
    return text.encode(), expect


XC_BYTES = [b"\xa0", b"\x85", b"\x1c", b"\x1d", b"\x1e", b"\x1f", b"\x00", b"\xff",
            b"\xe2\x80\x83"]


@st.composite
def datasets_read_xc(draw):
    blob, expect = draw(xc_valid())
    kind = draw(st.sampled_from(["valid", "byte", "header", "truncate", "value", "id"]))
    if kind == "valid":
        return case({"hex": blob.hex(), "expect": expect}, False, [])
    lines = blob.split(b"\n")
    if kind == "byte":
        body = lines[1] if len(lines) > 1 else b""
        at = draw(st.integers(0, max(0, len(body))))
        lines[1] = body[:at] + draw(st.sampled_from(XC_BYTES)) + body[at:]
        # a byte between tokens, where whitespace is legal, still is not whitespace in the format
        return case({"hex": b"\n".join(lines).hex()}, True, ["line 2", "line"])
    if kind == "header":
        header = draw(st.sampled_from([b"1 2**70 3",
                                       b"99999999999999999999999 1 1", b"1 1", b"-1 2 3",
                                       b"1 0 0", b"1 2 3 4", b"a b c"]))
        return case({"hex": (header + b"\n" + b"\n".join(lines[1:])).hex()}, True,
                    ["line 1", "header"])
    if kind == "truncate":
        cut = draw(st.integers(1, max(1, len(blob) - 1)))
        return case({"hex": blob[:cut].hex()}, None, ["line"])
    if kind == "value":
        bad = draw(st.sampled_from([b"nan", b"inf", b"1e999", b"0x10", b"1,5", b"", b"--1"]))
        lines[1] = lines[1] + b" 0:" + bad
        return case({"hex": b"\n".join(lines).hex()}, True, ["line 2", "line"])
    bad = draw(st.sampled_from([b"-1", b"99999999999999999999", b"1.5", b"9223372036854775808"]))
    lines[1] = lines[1] + b" " + bad + b":1"
    return case({"hex": b"\n".join(lines).hex()}, True, ["line 2", "line"])


@st.composite
def datasets_write_xc(draw):
    X = draw(x_desc())
    Y = draw(label_desc())
    if X["mut"] == "zero_rows":
        Y["mut"] = "none"           # no rows: damaged labels would have no row to land in
    # write_xc fixes no width, infers n_labels, documents 0 points and dense 0/1 indicators
    names = (["X"] if X_MUTATIONS[X["mut"]] and X["mut"] not in ("wrong_width", "zero_rows")
             else []) + \
        (["Y"] if LABEL_MUTATIONS[Y["mut"]] and Y["mut"] not in ("dense2d", "out_of_range")
         else [])
    if X["mut"] == "huge":
        X["mut"] = "none"
    return case({"X": X, "Y": Y}, bool(names), names)


# ----------------------------------------------------------------------------- metrics
@st.composite
def metrics_case(draw):
    fn = draw(st.sampled_from(["precision_at_k", "ndcg_at_k", "recall_at_k",
                               "psprecision_at_k", "psndcg_at_k"]))
    target = draw(st.sampled_from(["pred", "Y", "inv", "k", None]))
    args, names = {"fn": fn, "target": target, "seed": draw(st.integers(0, 99))}, []
    if target == "k":
        args["k"] = draw(st.sampled_from([0, -1, 1.5, "5", None, 10**9]))
        names = ["k"]
    elif target in ("pred", "Y", "inv"):
        if target == "inv" and not fn.startswith("ps"):
            target = args["target"] = "pred"
        args["how"] = draw(st.sampled_from(["nan", "out_of_range", "negative", "float", "str",
                                            "complex", "shape", "empty"]))
        names = {"pred": ["pred", "predicted", "predictions"], "Y": ["Y_true"],
                 "inv": ["inv_propensity"]}[target]
    # inverse propensities are any positive reals: 1.5 ("float") and 10**6 are valid values;
    # a predicted id of -1 ("negative") is the documented "no prediction" padding
    valid = (target == "inv" and args.get("how") in ("float", "out_of_range")) or \
        (target == "pred" and args.get("how") == "negative")
    invalid = target is not None and not (target == "k" and args.get("k") == 10**9) \
        and not valid
    return case(args, invalid, names)


# ----------------------------------------------------------------------------- collecting
def collect(strategy, n, backends=BACKENDS, entry=None, op=None):
    """``n`` drawn cases (deduplicated), one spec per backend each."""
    drawn = []

    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draw(value):
        drawn.append(value)

    draw()
    seen, specs = set(), []
    for value in drawn:
        key = json.dumps(value, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        for b in backends:
            specs.append({"entry": entry, "op": op or entry, "backend": b, **value})
    return specs
