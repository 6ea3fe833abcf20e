"""Parent side of the fuzz suite: runs cases in child processes and classifies outcomes.

Cases run in batches through ``fuzz_worker.py``; the worker announces each case
before running it, so when a child dies (signal, abort, a runtime library's
``exit``) or stops answering, the running case is known.  That case is then run
alone to confirm it, and the rest of its batch continues in a fresh child.
A case's peak memory is the child's high-water mark when the case raised it
(cases marked ``isolate``, the giant allocations, run alone from the start so
the mark is theirs alone).

Outcome classes: ``ok`` (returned, invariants hold), ``allowed`` (an exception
of :data:`ALLOWED` whose message names the argument, or the file and field),
``unclear`` (any other exception, or a message that names neither), ``crash``,
``hang``, ``garbage`` (returned wrong results, or accepted input that is
invalid), ``memory`` (peak memory above the case's bound) and ``harness`` (an
exception raised by the suite's own code: a bug of the suite, never a finding).
"""
import collections
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "fuzz_worker.py")
CLASSES = ("ok", "allowed", "unclear", "crash", "hang", "garbage", "memory", "harness")
STARTUP_S = 30.0


def child_env(backend_root):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([backend_root, HERE, env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env["PYTHONFAULTHANDLER"] = "1"       # a crash leaves its Python stack in the stderr tail
    return env


# ----------------------------------------------------------------------------- running
def _run_batch(specs, env):
    """Run ``specs`` in one child until it finishes, dies or hangs.

    Returns ``(outcomes, stopped)``: outcomes of the finished cases by id, and
    ``None`` or ``(spec, outcome)`` for the case that killed or hung the child.
    """
    outcomes, current = {}, None
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, WORKER], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, env=env,
                                start_new_session=True)
        feeder = threading.Thread(target=_feed, args=(proc, specs), daemon=True)
        feeder.start()
        by_id = {s["id"]: s for s in specs}
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline, buf = time.monotonic() + STARTUP_S + specs[0].get("timeout", 10), b""
        while True:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                spec = current or specs[len(outcomes)]
                return outcomes, (spec, {"status": "hang"})
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                msg = json.loads(line)
                if msg["event"] == "start":
                    current = by_id[msg["id"]]
                    deadline = time.monotonic() + current.get("timeout", 10)
                else:
                    outcomes[msg["id"]], current = msg, None
        code = proc.wait()
        if current is None and len(outcomes) == len(specs):
            return outcomes, None
        err.seek(0)
        tail = err.read().decode(errors="replace")[-800:]
        spec = current or specs[len(outcomes)]
        return outcomes, (spec, {"status": "crash", "returncode": code, "stderr": tail})


def _feed(proc, specs):
    try:
        for spec in specs:
            proc.stdin.write((json.dumps(spec) + "\n").encode())
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass


def run_specs(specs, env):
    """Every case's outcome; a batch that loses its child continues in a new one."""
    outcomes = {}
    pending = list(specs)
    while pending:
        done, stopped = _run_batch(pending, env)
        outcomes.update(done)
        if stopped is None:
            break
        spec, outcome = stopped
        if len(pending) > 1:            # confirm alone: was it this case or an earlier one?
            alone, again = _run_batch([spec], env)
            if again is None:
                outcome = dict(outcome, note="only after earlier cases of its batch; alone: "
                               + alone[spec["id"]].get("status", "?"))
        outcomes[spec["id"]] = outcome
        pending = [s for s in pending if s["id"] not in outcomes]
    return outcomes


def run_all(specs, env, jobs=2, batch_size=80):
    """Run ``specs`` over ``jobs`` children at a time; isolated cases get a child each."""
    batches = [[s] for s in specs if s.get("isolate")]
    shared = [s for s in specs if not s.get("isolate")]
    batches += [shared[i:i + batch_size] for i in range(0, len(shared), batch_size)]
    outcomes, lock = {}, threading.Lock()
    queue = list(reversed(batches))

    def work():
        while True:
            with lock:
                if not queue:
                    return
                batch = queue.pop()
            result = run_specs(batch, env)
            with lock:
                outcomes.update(result)

    threads = [threading.Thread(target=work) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


# ----------------------------------------------------------------------------- classifying
def _allowed(outcome):
    mro = outcome.get("mro", [])
    if "ValueError" in mro or "TypeError" in mro:
        return True
    if outcome["type"] in ("FileNotFoundError", "FileExistsError", "FloatingPointError"):
        return True
    return "MemoryError" in mro and outcome.get("module", "").startswith("slide")


def _names(message, name):
    pattern = r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])"
    return re.search(pattern, message) is not None


def classify(spec, outcome):
    """``(class, detail)`` of one case's outcome."""
    status = outcome.get("status")
    if status in ("crash", "hang"):
        return status, _crash_summary(outcome)
    limit = spec.get("max_rss_mb")
    peak = outcome.get("maxrss_mb", 0)
    if limit and peak > limit and peak > outcome.get("maxrss_before_mb", 0):
        return "memory", f"peak {outcome['maxrss_mb']} MB > {limit} MB"
    if status == "ok":
        if outcome["violations"]:
            return "garbage", "; ".join(outcome["violations"])
        if spec.get("invalid"):
            return "garbage", "invalid input accepted without error"
        return "ok", ""
    text = f"{outcome['type']}: {outcome['message']}"
    if outcome.get("origin") == "harness":
        return "harness", text + " at " + outcome.get("where", "")
    if not _allowed(outcome):
        return "unclear", text
    if spec.get("file") and os.path.basename(spec["file"]) not in outcome["message"]:
        return "unclear", "message does not name the file: " + text
    names = spec.get("names") or []
    if names and not any(_names(outcome["message"], n) for n in names):
        return "unclear", f"message names none of {names}: " + text
    return "allowed", ""


def _crash_summary(outcome):
    """The signal or exit status and the innermost Python frame faulthandler printed."""
    if outcome["status"] == "hang":
        return "hang (no answer within the case's timeout)"
    lines = outcome.get("stderr", "").splitlines()
    fatal = [ln for ln in lines if "Fatal Python error" in ln or "Aborted" in ln
             or "double free" in ln or "corrupted" in ln or "libgomp" in ln]
    frames = [ln.strip() for ln in lines if ln.strip().startswith("File ")]
    code = outcome.get("returncode")
    head = f"signal {-code}" if isinstance(code, int) and code < 0 else f"exit status {code}"
    return "; ".join([head] + fatal[:2] + frames[:1])


def summarize(specs, outcomes):
    """Counts per (entry, backend) and the list of failures."""
    table = collections.defaultdict(collections.Counter)
    failures = []
    for spec in specs:
        outcome = outcomes.get(spec["id"], {"status": "crash", "stderr": "no outcome"})
        cls, detail = classify(spec, outcome)
        row = table[(spec["entry"], spec["backend"])]
        row["cases"] += 1
        row[cls] += 1
        if cls not in ("ok", "allowed"):
            failures.append({"class": cls, "entry": spec["entry"], "backend": spec["backend"],
                             "detail": detail[:400], "spec": spec})
    return table, failures


def format_table(table):
    cols = ("cases", "crash", "hang", "garbage", "unclear", "memory", "harness")
    lines = [f"{'entry point':28s} {'backend':7s} " + " ".join(f"{c:>8s}" for c in cols)]
    total = collections.Counter()
    for (entry, backend), row in sorted(table.items()):
        total.update(row)
        lines.append(f"{entry:28s} {backend:7s} " + " ".join(f"{row[c]:8d}" for c in cols))
    lines.append(f"{'total':28s} {'':7s} " + " ".join(f"{total[c]:8d}" for c in cols))
    return "\n".join(lines)


def write_report(path, table, failures, seconds):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    rows = [{"entry": e, "backend": b, **{c: row[c] for c in ("cases",) + CLASSES}}
            for (e, b), row in sorted(table.items())]
    with open(path, "w") as fh:
        json.dump({"seconds": round(seconds, 1), "table": rows, "failures": failures}, fh,
                  indent=1, default=str)


def rerun(report_path, entry=None, limit=20):
    """Run the failing cases of a report again, each alone; prints their class now.

    ``python tests/fuzz/fuzz_harness.py build/fuzz-report.json [entry]`` (from the
    repository root, with the backends importable) checks whether a fix closed them.
    """
    with open(report_path) as fh:
        failures = json.load(fh)["failures"]
    chosen = [f["spec"] for f in failures if entry in (None, f["entry"])][:limit]
    root = os.path.dirname(os.path.dirname(os.path.abspath(
        __import__("slide_fast").__file__)))
    for spec in chosen:
        outcome = run_specs([spec], child_env(root))[spec["id"]]
        cls, detail = classify(spec, outcome)
        print(f"{spec['entry']:24s} {spec['backend']:4s} {cls:8s} {detail[:150]}")


if __name__ == "__main__":
    rerun(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
