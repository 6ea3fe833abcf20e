"""Every figure script runs end to end in its --smoke size and writes its outputs."""
import glob
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "paper_figures", "fig*.py")))


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_figure_script_smoke(script, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, script, "--smoke", "--out", str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    name = os.path.splitext(os.path.basename(script))[0]
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
    results = json.loads((tmp_path / f"{name}.json").read_text())
    assert results
