"""The machine a measurement ran on: CPU model, cores, SIMD level, threads.

Stored beside every figure's results (``paper_figures``) so that each table in
``docs/`` can name the machine that produced it.
"""
import os
import platform


def cpu_model():
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def usable_cores():
    """CPUs this process may run on (its affinity mask), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:     # not on Linux
        return os.cpu_count() or 1


def machine_info(n_threads=None):
    """A JSON-ready dict: ``cpu``, ``cores``, ``simd_level`` (slide_fast's chosen level),
    ``simd_available``, ``platform`` and ``n_threads`` (the threads the run used)."""
    info = {"cpu": cpu_model(), "cores": usable_cores(), "platform": platform.platform(),
            "n_threads": n_threads}
    try:
        import slide_fast
        info["simd_level"] = slide_fast.simd_level()
        info["simd_available"] = list(slide_fast.available_simd_levels())
    except ImportError:         # the fast backend is not built: no SIMD level to report
        info["simd_level"] = None
        info["simd_available"] = []
    return info


def describe(info):
    """One line for a docs page, e.g. ``AMD EPYC, 2 cores, SIMD avx2, 2 threads``."""
    parts = [info.get("cpu") or "unknown CPU", f"{info.get('cores')} cores"]
    if info.get("simd_level"):
        parts.append(f"SIMD {info['simd_level']}")
    if info.get("n_threads"):
        parts.append(f"{info['n_threads']} threads")
    return ", ".join(parts)
