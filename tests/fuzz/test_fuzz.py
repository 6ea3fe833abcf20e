"""Fuzz suite: hostile input to every public entry point of both backends.

Every case runs in a child process (see ``fuzz_harness``), so a segfault, an
abort or a hang is counted instead of ending the run.  The campaign runs once
per session; each entry point then asserts that none of its cases crashed,
hung, returned garbage, used unbounded memory or raised an unclear exception.
The table is printed and written to ``build/fuzz-report.json`` (or
``$SLIDE_FUZZ_REPORT``).

Budget: ``SLIDE_FUZZ_SCALE`` multiplies the drawn cases per entry point (1 in
CI, about 4 minutes on 2 cores); the hypothesis seed is fixed by
``make test-fuzz`` (``--hypothesis-seed``) so a run reproduces.  A failing case
reproduces alone with ``python tests/fuzz/fuzz_worker.py`` fed its spec (one
JSON line) from the report, and ``python tests/fuzz/fuzz_harness.py REPORT
[ENTRY]`` runs a report's failing cases again, each alone.
"""
import json
import os
import time

import numpy as np
import pytest

import slide_fast
import slide_ref

import fuzz_harness
import fuzz_specs as fs
from fuzz_corpus import build_corpus
from fuzz_ops import FAMILY_CLASSES, base_network

pytestmark = pytest.mark.fuzz

SCALE = float(os.environ.get("SLIDE_FUZZ_SCALE", "1"))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPORT = os.environ.get("SLIDE_FUZZ_REPORT", os.path.join(REPO, "build", "fuzz-report.json"))


def n_cases(base):
    return max(1, int(round(base * SCALE)))


# ----------------------------------------------------------------------------- fixed cases
def issue_reproducers():
    """The reproducers of the known failure classes, always in the campaign."""
    col = {"n": 2, "seed": 0, "fmt": "csr", "mut": "col_big", "val": 10**6}
    wrap = dict(col, mut="col_wrap40")
    header = b"3 4611686018427387904 2\n0 1:1\n1 2:2\n0 3:3\n"
    cases = [
        ("network.train_batch", fs.case({"X": col, "Y": {}, "w": "none"}, True, ["X"])),
        ("network.train_batch", fs.case({"X": wrap, "Y": {}, "w": "none"}, True, ["X"])),
        ("network.train_batch", fs.case({"X": {"n": 4}, "Y": {"mut": "out_of_range"},
                                         "w": "none"}, True, ["Y"])),
        ("network.train_batch", fs.case({"X": {"n": 4}, "Y": {"mut": "minus1_indicator"},
                                         "w": "none"}, True, ["Y"])),
        ("network.train_batch", fs.case({"X": {"n": 4}, "Y": {"mut": "float_ids"},
                                         "w": "none"}, True, ["Y"])),
        ("network.train_batch", fs.case({"X": {"n": 4}, "Y": {}, "w": "huge"}, False, [])),
        ("network.predict", fs.case({"X": col, "method": "predict_topk", "k": 3}, True, ["X"])),
        ("lsh.family", fs.case({"family": 1, "X": col, "method": "hash"}, True, ["X"])),
        ("network.init", fs.case({"params": {"selection": "threshold"}}, False, ["selection"])),
        ("network.init", fs.case({"params": {"n_outputs": 10**9}}, True, ["n_outputs"],
                                 isolate=True, max_rss_mb=1200, timeout=60)),
        ("network.init", fs.case({"params": {"n_threads": 10**6}}, False, ["n_threads"],
                                 isolate=True, timeout=60)),
        ("datasets.read_xc", fs.case({"hex": header.hex(), "expect": {
            "data": [1.0, 2.0, 3.0], "indices": [1, 2, 3], "indptr": [0, 1, 2, 3],
            "X_shape": [3, 4611686018427387904], "labels": [[0], [1], [0]]}}, False, [])),
        ("datasets.read_xc", fs.case({"hex": b"1 5 2\n0 1:1\xa02:2\n".hex()}, True, ["line 2"])),
        ("datasets.read_xc", fs.case({"hex": b"1 99999999999999999999999 2\n0 1:1\n".hex()},
                                     True, ["line 1"])),
    ]
    return [{"entry": e, "op": e, "backend": b, **c} for e, c in cases for b in fs.BACKENDS]


def save_cases(tmp):
    """save() to places it cannot or must not write."""
    os.makedirs(os.path.join(tmp, "adir"), exist_ok=True)
    cases = [({"path": os.path.join(tmp, "missing", "m.npz")}, ["m.npz", "missing"]),
             ({"path": os.path.join(tmp, "exists.npz"), "exists": True}, ["exists.npz"]),
             ({"path": os.path.join(tmp, "adir")}, ["adir"]),
             ({"path": os.path.join(tmp, "nul\0.npz")}, ["path"]),
             ({"path": os.path.join(tmp, "ok.npz"), "overwrite": "yes"}, ["overwrite"])]
    specs = []
    for i, (args, names) in enumerate(cases):
        for b in fs.BACKENDS:
            a = dict(args)
            if "exists" in a or "overwrite" in a:
                a["path"] = a["path"].replace(".npz", f"-{b}.npz")
            specs.append({"entry": "classifier.save", "op": "classifier.save", "backend": b,
                          "args": a, "invalid": True,
                          "names": [n.replace(".npz", f"-{b}.npz") if "exists" in a else n
                                    for n in names]})
    return specs


def corpus_cases(tmp):
    """Every crafted model and sketch file, loaded by both backends."""
    directory = os.path.join(tmp, "corpus")
    os.makedirs(directory, exist_ok=True)
    corpus = build_corpus(directory, n_meta=n_cases(14), n_arrays=n_cases(22))
    corpus += [{"path": os.path.join(directory, "absent.npz"), "kind": k, "field": None,
                "names": [], "invalid": True} for k in ("model", "sketch")]
    corpus += [{"path": directory, "kind": k, "field": None, "names": [], "invalid": True}
               for k in ("model", "sketch")]
    specs = []
    for entry in corpus:
        op = "classifier.load" if entry["kind"] == "model" else "nwsketch.load"
        heavy = any(tag in entry["path"] for tag in (".bomb.", ".40gb.", "meta"))
        for b in fs.BACKENDS:
            specs.append({"entry": op, "op": op, "backend": b, "args": {"path": entry["path"]},
                          "file": entry["path"], "invalid": entry["invalid"],
                          "names": entry["names"], "isolate": ".bomb." in entry["path"] or
                          ".40gb." in entry["path"], "max_rss_mb": 400 if heavy else None,
                          "timeout": 60 if heavy else 20})
    return specs


def cli_cases(tmp):
    """The command line with bad flags and bad files."""
    good = os.path.join(tmp, "cli-train.txt")
    slide_ref.datasets.write_xc(good, *slide_ref.datasets.make_xc(40, 30, 12, random_state=0)[:2],
                                overwrite=True)
    bad = os.path.join(tmp, "cli-bad.txt")
    with open(bad, "wb") as fh:
        fh.write(b"2 30 12\n0 1:1\n1 99:2\n")
    model = os.path.join(tmp, "cli-model.npz")
    with open(model, "wb") as fh:
        fh.write(b"not a model")
    train = ["train", "--train", good, "--hidden", "8", "--K", "2", "--L", "3", "--no-progress",
             "--n-threads", "1"]
    argvs = [
        (["--bogus"], ["--bogus", "command"]), (["train"], ["--train"]),
        (["train", "--train", os.path.join(tmp, "nope.txt")], ["nope.txt"]),
        (["train", "--train", bad, "--no-progress"], ["cli-bad.txt"]),
        (train + ["--K", "0"], ["K"]), (train + ["--K", "x"], ["--K"]),
        (train + ["--L", "-3"], ["L"]), (train + ["--lr", "nan"], ["lr"]),
        (train + ["--batch-size", "0"], ["batch_size", "batch-size"]),
        (train + ["--epochs", "-1"], ["epochs"]), (train + ["--hidden", "0"], ["hidden"]),
        (train + ["--negatives", "-5", "--sampler", "uniform"], ["n_negatives", "negatives"]),
        (train + ["--sampler", "lsh-embedding", "--max-active", "nan"],
         ["max_active", "max-active"]),
        (train + ["--n-threads", "0"], ["n_threads", "n-threads"]),
        (train + ["--bf16", "4"], ["--bf16"]),
        (train + ["--bf16", "3"], ["--bf16", "bf16"]),    # SLIDE's LSH output (--K/--L)
        (train[:5] + ["--no-progress", "--full-softmax", "--bf16", "3"], ["--bf16", "bf16"]),
        (["evaluate", "--model", model, "--data", good], ["cli-model.npz"]),
        (["evaluate", "--model", os.path.join(tmp, "none.npz"), "--data", good], ["none.npz"]),
        (["predict", "--model", model, "--data", good, "--out", os.path.join(tmp, "o.txt")],
         ["cli-model.npz"]),
        (["generate", "--out", os.path.join(tmp, "gen"), "--n-samples", "-5"], ["n_samples"]),
        (["generate", "--out", os.path.join(tmp, "gen2"), "--n-labels", "0"], ["n_labels"]),
    ]
    return [{"entry": "cli", "op": "cli", "backend": "ref", "args": {"argv": argv},
             "invalid": True, "names": names, "timeout": 60} for argv, names in argvs]


def write_xc_cases(tmp):
    specs = fs.collect(fs.datasets_write_xc(), n_cases(15), entry="datasets.write_xc")
    for i, spec in enumerate(specs):
        spec["args"] = dict(spec["args"], path=os.path.join(tmp, f"w{i}.txt"))
    return specs


# ----------------------------------------------------------------------------- campaign
def state_keys():
    """Arrays and parameters of saved network states, per configuration (for the drawers)."""
    out = {}
    for config in ("lsh", "unigram", "minhash", "catchup"):
        params, arrays = base_network(slide_ref, config).get_state()
        out[config] = ({k: np.asarray(v) for k, v in arrays.items()}, params)
    return out


def family_keys():
    out = {}
    for i, name in enumerate(FAMILY_CLASSES):
        state = getattr(slide_ref.lsh, name)(50, K=2, L=3, random_state=0).get_state()
        out[i] = ({k: np.asarray(v) for k, v in state["arrays"].items()}, state["params"])
    return out


def drawn_cases():
    """The hypothesis-drawn cases of every entry point; ``(strategy, base count, entry)``."""
    groups = [
        (fs.network_init(), 40, "network.init"),
        (fs.network_train_batch(), 70, "network.train_batch"),
        (fs.network_predict(), 45, "network.predict"),
        (fs.network_cross(), 8, "network.cross"),
        (fs.network_from_state(state_keys()), 70, "network.from_state"),
        (fs.classifier_fit(), 35, "classifier.fit"),
        (fs.classifier_predict(), 25, "classifier.predict"),
        (fs.negative_sampler(), 40, "negative.sampler"),
        (fs.lsh_family(), 45, "lsh.family"),
        (fs.lsh_family_state(family_keys()), 30, "lsh.family_state"),
        (fs.lsh_tables(), 30, "lsh.tables"),
        (fs.nwsketch_sketch(), 30, "nwsketch.sketch"),
        (fs.nwsketch_example_sampler(), 30, "nwsketch.example_sampler"),
        (fs.zsl_fit(), 35, "zsl.fit"),
        (fs.datasets_read_xc(), 60, "datasets.read_xc"),
        (fs.metrics_case(), 40, "metrics"),
    ]
    specs = []
    for strategy, base, entry in groups:
        backends = ("fast",) if entry == "network.cross" else fs.BACKENDS
        specs += fs.collect(strategy, n_cases(base), backends=backends, entry=entry)
    return specs


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, request):
    tmp = str(tmp_path_factory.mktemp("fuzz"))
    start = time.monotonic()
    specs = (issue_reproducers() + drawn_cases() + save_cases(tmp) + corpus_cases(tmp)
             + cli_cases(tmp) + write_xc_cases(tmp))
    for i, spec in enumerate(specs):
        spec["id"] = i
    root = os.path.dirname(os.path.dirname(os.path.abspath(slide_fast.__file__)))
    outcomes = fuzz_harness.run_all(specs, fuzz_harness.child_env(root),
                                    jobs=int(os.environ.get("SLIDE_FUZZ_JOBS", "2")))
    table, failures = fuzz_harness.summarize(specs, outcomes)
    seconds = time.monotonic() - start
    fuzz_harness.write_report(REPORT, table, failures, seconds)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    text = (f"\nfuzz campaign: {len(specs)} cases in {seconds:.0f} s, backends from {root}\n"
            + fuzz_harness.format_table(table) + f"\nreport: {REPORT}")
    if reporter is not None:
        reporter.write_line(text)
    else:
        print(text)
    return table, failures


ENTRIES = ["network.init", "network.train_batch", "network.predict", "network.cross",
           "network.from_state", "classifier.fit", "classifier.predict", "classifier.save",
           "classifier.load", "negative.sampler", "lsh.family", "lsh.family_state", "lsh.tables",
           "nwsketch.sketch", "nwsketch.load", "nwsketch.example_sampler", "zsl.fit",
           "datasets.read_xc", "datasets.write_xc", "metrics", "cli"]


@pytest.mark.parametrize("entry", ENTRIES)
def test_no_crash_hang_garbage_or_unclear_error(campaign, entry):
    table, failures = campaign
    assert any(e == entry for e, _ in table), f"no cases ran for {entry}"
    mine = [f for f in failures if f["entry"] == entry]
    summary = "\n".join(f"[{f['class']}/{f['backend']}] {f['detail'][:200]} <- "
                        f"{json.dumps(f['spec']['args'], default=str)[:200]}"
                        for f in mine[:15])
    assert not mine, f"{len(mine)} failing cases of {entry}:\n{summary}"
