"""Every figure script runs end to end in its --smoke size and writes its outputs, with the
command and machine the docs tables name; the docs generator fills marked tables from them."""
import glob
import json
import os
import subprocess
import sys

import pytest

# paper_figures is not installed: it imports when the tests run from the repository root
# (`python -m pytest`), not from the emulated-SIMD test build (make test-simd-emulated)
pytest.importorskip("paper_figures", reason="run from the repository root")
from paper_figures import _common, make_docs  # noqa: E402
from slide_bench import configs, machine  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(os.path.splitext(os.path.basename(p))[0]
                 for p in glob.glob(os.path.join(ROOT, "paper_figures", "fig*.py")))


def run_module(module, *args):
    """``python -m <module> ARGS`` from the repository root, with this checkout importable."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", module, *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("name", SCRIPTS)
def test_figure_script_smoke(name, tmp_path):
    out = run_module(f"paper_figures.{name}", "--smoke", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
    results = json.loads((tmp_path / f"{name}.json").read_text())
    meta = results["meta"]
    assert meta["command"] == f"python -m paper_figures.{name} --smoke"
    assert meta["machine"]["cpu"] and meta["machine"]["cores"] >= 1
    assert meta["machine"]["simd_level"]
    # the docs generator renders this figure's tables from the real output
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    keys = list(make_docs.figure_tables(name, results))
    assert keys and all(k.split(":")[0] == name.split("_")[0] for k in keys)
    page.write_text("".join(f"<!-- table:{k} -->\nold\n<!-- /table -->\n" for k in keys))
    make_docs.main(["--out", str(tmp_path), "--docs", str(page.parent)])
    assert page.read_text().count("old") == len(keys)      # smoke outputs stay out of the docs
    assert make_docs.main(["--out", str(tmp_path), "--docs", str(page.parent),
                           "--allow-smoke"]) == 0
    text = page.read_text()
    assert "old" not in text
    assert text.count(f"Command: `python -m paper_figures.{name} --smoke`; machine: ") == len(keys)
    assert sum(line.startswith("|---") for line in text.splitlines()) == len(keys)


# --- the generator on a small fixture -------------------------------------------------------

FIG03_FIXTURE = {
    "table": [{"dataset": "synthetic", "method": "ESZSL", "chance": 10.0, "n_seeds": 2,
               **{k: v for m, v in (("zsl", 64.1), ("U", 54.0), ("S", 43.9), ("H", 47.9),
                                    ("H_uncalibrated", 47.6), ("control_zsl", 4.2))
                  for k, v in ((m, v), (m + "_std", 1.5))}}],
    "meta": {"command": "python -m paper_figures.fig03_zsl_table --seeds 2",
             "machine": {"cpu": "Test CPU 9000", "cores": 4, "simd_level": "avx2",
                         "n_threads": 2}},
}

PAGE = """# Zero-shot

Intro text stays.

<!-- table:fig03 -->
| old | table |
|---|---|
<!-- /table -->

Between the tables.

<!-- table:fig04 -->
| not run | stays |
<!-- /table -->
"""


@pytest.fixture
def fixture_dirs(tmp_path):
    out, docs = tmp_path / "out", tmp_path / "docs"
    out.mkdir()
    docs.mkdir()
    (out / "fig03_zsl_table.json").write_text(json.dumps(FIG03_FIXTURE))
    (docs / "zsl.md").write_text(PAGE)
    return out, docs


def test_generator_fills_marked_table_and_names_command_and_machine(fixture_dirs):
    out, docs = fixture_dirs
    assert make_docs.main(["--out", str(out), "--docs", str(docs)]) == 0
    text = (docs / "zsl.md").read_text()
    assert "| old | table |" not in text
    assert ("Command: `python -m paper_figures.fig03_zsl_table --seeds 2`; machine: "
            "Test CPU 9000, 4 cores, SIMD avx2, 2 threads.") in text
    assert "| synthetic | ESZSL | 64.1 ± 1.5 | 54.0 ± 1.5 | 43.9 ± 1.5 | 47.9 ± 1.5 |" in text
    # text outside the blocks, and a block whose figure has no JSON, are kept
    assert text.startswith("# Zero-shot\n\nIntro text stays.\n\n<!-- table:fig03 -->\n")
    assert "Between the tables." in text
    assert "<!-- table:fig04 -->\n| not run | stays |\n<!-- /table -->" in text
    # a second run changes nothing
    assert make_docs.main(["--out", str(out), "--docs", str(docs), "--check"]) == 0


README = """# slide

| paper | result | page |
|---|---|---|
| Soft-label ZSL | old result | [zsl.md](docs/zsl.md#results) `fig03` |
| LNS | not run, stays | [lns.md](docs/lns.md#results) `fig04` |
"""


def test_generator_fills_the_readme_summary_rows(fixture_dirs):
    out, docs = fixture_dirs
    readme = docs.parent / "README.md"
    readme.write_text(README)
    assert make_docs.main(["--out", str(out), "--docs", str(docs)]) == 0
    lines = readme.read_text().splitlines()
    assert lines[4] == ("| Soft-label ZSL | synthetic: GZSL H ESZSL 47.9 | "
                        "[zsl.md](docs/zsl.md#results) `fig03` |")
    assert lines[5] == README.splitlines()[5]
    assert make_docs.main(["--out", str(out), "--docs", str(docs), "--check"]) == 0


def test_generator_check_reports_a_stale_page(fixture_dirs):
    out, docs = fixture_dirs
    assert make_docs.main(["--out", str(out), "--docs", str(docs), "--check"]) == 1
    assert (docs / "zsl.md").read_text() == PAGE      # --check writes nothing


def test_generator_refuses_json_without_meta(fixture_dirs):
    out, docs = fixture_dirs
    data = dict(FIG03_FIXTURE)
    del data["meta"]
    (out / "fig03_zsl_table.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="meta"):
        make_docs.main(["--out", str(out), "--docs", str(docs)])


# --- the module the benchmarks and figures share ----------------------------------------------

SMALL = dict(n_features=300, n_labels=400, labels_per_sample=2, range_pow=8)


def test_model_names_parse_negatives_and_memory():
    assert configs.parse_model_name("batch-hard:800:2", 10_000) == ("batch-hard", 800, 2)
    assert configs.parse_model_name("batch-hard", 10_000) == ("batch-hard", 1000, 4)
    assert configs.parse_model_name("uniform-lazy", 400) == ("uniform-lazy", 200, 4)  # capped


@pytest.mark.parametrize("model", configs.SLIDE_MODELS)
def test_every_shared_model_trains_on_a_small_configuration(model):
    X, Y, Xt, Yt = configs.make_data(SMALL, n_train=2 * configs.BATCH, n_test=50)
    net = configs.make_model(SMALL, model, Y, n_threads=1)
    configs.train(net, X, Y, 3)
    assert 0.0 <= configs.p_at_1(net, Xt, Yt) <= 1.0
    assert configs.top1(net, Xt).shape == (50,)


@pytest.mark.parametrize("model", ["softmax", "torch-everything"])
def test_unknown_model_name_is_refused(model):
    with pytest.raises(ValueError, match="unknown model"):
        configs.make_model(SMALL, model)


def test_configurations_are_shared_by_name():
    assert set(configs.CONFIGS) >= {"A", "B", "670k"}
    assert configs.CONFIGS["B"]["n_labels"] == 100_000


def test_machine_description_names_cpu_cores_simd_and_threads():
    info = machine.machine_info(n_threads=3)
    assert info["cpu"] and info["cores"] >= 1 and info["n_threads"] == 3
    assert info["simd_level"] in info["simd_available"]
    text = machine.describe({"cpu": "X CPU", "cores": 8, "simd_level": "avx512", "n_threads": 2})
    assert text == "X CPU, 8 cores, SIMD avx512, 2 threads"


def test_recorded_command_leaves_out_the_output_directory():
    assert (_common.command_line("fig04_lns_samplers", ["--out", "/tmp/x", "--seeds", "0",
                                                        "--out=/y", "--configs", "100k labels"])
            == "python -m paper_figures.fig04_lns_samplers --seeds 0 --configs '100k labels'")


# --- fig09: the models of a seed train in turns -----------------------------------------------

def test_training_jobs_take_turns_and_a_finished_job_drops_out():
    from paper_figures.fig09_nwsketch_fmnist import train_in_turns
    order = []

    def job(name, intervals):
        def run(hand_over):
            for k in range(intervals):
                order.append((name, k))
                hand_over()
            return name
        return run

    assert train_in_turns([job("a", 3), job("b", 1), job("c", 2)]) == ["a", "b", "c"]
    assert order == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("c", 1), ("a", 2)]


def test_training_in_turns_reraises_a_jobs_error():
    from paper_figures.fig09_nwsketch_fmnist import train_in_turns

    def failing(hand_over):
        raise ValueError("broken job")

    with pytest.raises(ValueError, match="broken job"):
        train_in_turns([lambda hand_over: hand_over(), failing])
