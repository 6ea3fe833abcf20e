"""Every class is bound to its own backend's kernels, and the reference never loads the fast one.

A fast class is the reference class with one attribute, ``_kernels``, bound to
``slide_fast._kernels``.  A forgotten binding would not fail: the class would
silently run the NumPy kernels.  These tests walk every public class of every
module of both backends and check the binding, and check the import graph
(``slide_ref`` never imports ``slide_fast``; no Cython kernel imports
``slide_ref``).
"""
import ast
import configparser
import inspect
import json
import pathlib
import re
import subprocess
import sys
import textwrap
import types

import pytest

import slide_fast
import slide_ref

ROOT = pathlib.Path(__file__).resolve().parent.parent
BACKENDS = {"ref": slide_ref, "fast": slide_fast}


def public_classes(package):
    """``(module name, class name, class)`` of every class in a module's ``__all__``."""
    out = []
    for mod_name in package.__all__:
        module = getattr(package, mod_name)
        if not isinstance(module, types.ModuleType):
            continue
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj):
                out.append((mod_name, name, obj))
    return out


def class_attributes(cls):
    """Every attribute a class has or inherits, by name (descriptors as stored)."""
    out = {}
    for name in dir(cls):
        try:
            out[name] = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
    return out


def binding_errors(cls, twin, own, other):
    """What ties ``cls`` (of backend package ``own``) to the ``other`` backend's kernels."""
    errors = []
    if hasattr(cls, "_kernels") or hasattr(twin, "_kernels"):
        bound = getattr(cls, "_kernels", None)
        if bound is not own._kernels:
            errors.append(f"_kernels is {getattr(bound, '__name__', bound)!r}, "
                          f"not {own._kernels.__name__}")
    for name, value in class_attributes(cls).items():
        if isinstance(value, types.ModuleType) and value.__name__.startswith(other.__name__):
            errors.append(f"{name} is the module {value.__name__}")
        elif (inspect.isclass(value) and value.__module__.split(".")[0] == other.__name__
              and hasattr(value, "_kernels")):
            errors.append(f"{name} is the class {value.__module__}.{value.__qualname__}")
    return errors


@pytest.mark.parametrize("mod_name, name, cls", public_classes(slide_fast),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_fast_class_is_bound_to_fast_kernels(mod_name, name, cls):
    twin = getattr(getattr(slide_ref, mod_name), name)
    assert binding_errors(cls, twin, slide_fast, slide_ref) == [], f"{mod_name}.{name}"


@pytest.mark.parametrize("mod_name, name, cls", public_classes(slide_ref),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_reference_class_is_bound_to_reference_kernels(mod_name, name, cls):
    assert binding_errors(cls, cls, slide_ref, slide_fast) == [], f"{mod_name}.{name}"


def test_the_check_sees_a_forgotten_binding():
    """The walk above fails for a fast class that keeps the reference kernels."""
    class Forgotten(slide_ref.zsl.SoftLabelZSL):
        pass

    class ModuleLeft(slide_ref.zsl.SoftLabelZSL):
        _kernels = slide_fast._kernels
        _extra = slide_ref._kernels.network

    assert binding_errors(Forgotten, slide_ref.zsl.SoftLabelZSL, slide_fast, slide_ref)
    assert binding_errors(ModuleLeft, slide_ref.zsl.SoftLabelZSL, slide_fast, slide_ref)
    assert not binding_errors(slide_fast.zsl.SoftLabelZSL, slide_ref.zsl.SoftLabelZSL,
                              slide_fast, slide_ref)


# ----------------------------------------------------------------------------- import graph
def _imported_modules(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_no_reference_module_imports_the_fast_backend():
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "slide_ref").rglob("*.py")
                 if any(m.split(".")[0] == "slide_fast"
                        for m in _imported_modules(ast.parse(path.read_text())))]
    assert offenders == []


def test_no_cython_kernel_imports_the_reference():
    pattern = re.compile(r"^\s*(from|import|cimport)\s+slide_ref\b", re.MULTILINE)
    sources = sorted((ROOT / "slide_fast" / "_kernels").glob("*.p[xy]*"))
    assert sources
    assert [p.name for p in sources if pattern.search(p.read_text())] == []


def test_reference_cli_never_loads_the_fast_backend(tmp_path):
    """Importing slide_ref and running its command line loads no slide_fast module."""
    script = textwrap.dedent(f"""
        import contextlib, io, json, pkgutil, sys
        import slide_ref
        for info in pkgutil.walk_packages(slide_ref.__path__, "slide_ref."):
            if not info.name.endswith("__main__"):
                __import__(info.name)
        from slide_ref.cli import main
        d = {str(tmp_path)!r}
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = [main(["info"]),
                  main(["generate", "--out", d, "--n-samples", "300", "--n-test", "50",
                        "--n-features", "40", "--n-labels", "12"]),
                  main(["train", "--train", d + "/train.txt", "--hidden", "8", "--K", "2",
                        "--L", "4", "--no-progress", "--model", d + "/m.npz"]),
                  main(["evaluate", "--model", d + "/m.npz", "--data", d + "/test.txt"]),
                  main(["demo", "--retrieval", "--n-items", "400"]),
                  main(["train", "--train", d + "/train.txt", "--backend", "fast"]),
                  main(["demo", "--no-progress"])]
        fast = sorted(m for m in sys.modules if m.split(".")[0] == "slide_fast")
        print(json.dumps({{"rc": rc, "fast": fast, "err": err.getvalue()}}))
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["rc"] == [0, 0, 0, 0, 0, 2, 2]
    assert out["fast"] == []
    assert "`slide` command" in out["err"]        # the clear error for the fast backend


def test_slide_command_is_the_fast_cli():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    scripts = cfg["options.entry_points"]["console_scripts"]
    assert "slide = slide_fast.cli:main" in [s.strip() for s in scripts.splitlines()]
    from slide_fast import cli
    assert cli.BACKENDS == {"ref": slide_ref, "fast": slide_fast}


def test_training_demo_runs_the_backend_it_is_given(tmp_path):
    from slide_ref.cli import run_training_demo
    tiny = dict(n_samples=400, n_features=60, n_labels=15, n_test=80, random_state=0)
    with open(tmp_path / "log.txt", "w") as out:
        runs = run_training_demo(slide_ref, out_dir=str(tmp_path), epochs=1,
                                 show_progress=False, data=tiny, out=out, source="synthetic")
    assert len(runs) == 3 and all(0 <= r["p1"] <= 1 for r in runs.values())
    assert (tmp_path / "p1_vs_time.png").exists()
