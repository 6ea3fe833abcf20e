"""Child process of the fuzz suite: runs fuzz cases and reports each as one JSON line.

Usage: ``python fuzz_worker.py < cases.jsonl``.  For every case it prints a line
``{"id": ..., "event": "start"}`` before running it and a line with the outcome
after, flushing both, so the parent knows which case was running when the
process died (signal, abort, ``exit`` from a runtime library) or stopped
answering (hang).

An outcome is ``{"status": "ok", "violations": [...]}`` (the call returned;
``violations`` lists broken invariants: silent garbage) or ``{"status":
"raised", "type", "module", "mro", "message"}``.  What counts as acceptable is
decided by the parent (``fuzz_harness``), not here.
"""
import contextlib
import io
import json
import os
import resource
import sys
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fuzz_ops  # noqa: E402  (needs the path above)


def _limit_memory():
    """Cap the address space so an unbounded allocation fails in this child, not the host."""
    mb = int(os.environ.get("SLIDE_FUZZ_MEMORY_MB", "2048"))
    resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))


def _origin(exc):
    """"library" when the deepest frame of slide or of this suite is the library's, else
    "harness" (an exception of the fuzz code itself, a bug of the suite, not a finding)."""
    if type(exc).__name__ == "CliError":       # the command line's exit status, by design
        return "library"
    origin = "library"
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        path = frame.f_code.co_filename.replace(os.sep, "/")
        if "/slide_ref/" in path or "/slide_fast/" in path:
            origin = "library"
        elif path.endswith(("/fuzz_ops.py", "/fuzz_inputs.py")):
            origin = "harness"
    return origin


def _describe(exc):
    mro = [c.__name__ for c in type(exc).__mro__]
    return {"status": "raised", "type": type(exc).__name__, "module": type(exc).__module__,
            "mro": mro, "message": str(exc)[:600], "origin": _origin(exc),
            "where": traceback.format_exception(exc)[-2][:400] if exc.__traceback__ else ""}


def run_one(spec):
    """Run one case; never raises (except for the process-killing failures under test)."""
    stderr = io.StringIO()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    try:
        with contextlib.redirect_stderr(stderr), np.errstate(all="ignore"):
            violations = fuzz_ops.run(spec) or []
        out = {"status": "ok", "violations": list(violations)}
    except RecursionError as exc:          # reported as an unclear exception, with a short text
        out = _describe(exc)
        out["message"] = out["message"][:200]
    except BaseException as exc:           # noqa: BLE001  SystemExit included: it is an outcome
        out = _describe(exc)
    # the high-water mark: a case raised it when it ends above its value before the case
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    out["maxrss_before_mb"] = rss_before
    return out


def main():
    _limit_memory()
    for line in sys.stdin:
        if not line.strip():
            continue
        spec = json.loads(line)
        print(json.dumps({"id": spec["id"], "event": "start"}), flush=True)
        out = run_one(spec)
        out.update(id=spec["id"], event="done")
        print(json.dumps(out, default=str), flush=True)


if __name__ == "__main__":
    main()
