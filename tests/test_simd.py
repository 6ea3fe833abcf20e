"""Runtime SIMD dispatch of slide_fast: level choice, refusal, env override."""
import os
import subprocess
import sys

import pytest

import slide_fast


def test_levels_are_ordered_and_scalar_always_available():
    levels = slide_fast.available_simd_levels()
    assert levels[0] == "scalar"
    assert slide_fast.simd_level() in levels


def test_set_simd_level_refuses_unknown_and_unsupported():
    previous = slide_fast.simd_level()
    try:
        with pytest.raises(ValueError, match="unknown SIMD level"):
            slide_fast.set_simd_level("sse9")
        missing = [lv for lv in ("avx2", "avx512", "avx512_bf16")
                   if lv not in slide_fast.available_simd_levels()]
        for level in missing:
            with pytest.raises(ValueError, match="does not support"):
                slide_fast.set_simd_level(level)
        assert slide_fast.set_simd_level("scalar") == "scalar"
        assert slide_fast.simd_level() == "scalar"
        assert slide_fast.set_simd_level("best") == slide_fast.available_simd_levels()[-1]
    finally:
        slide_fast.set_simd_level(previous)


def _level_in_subprocess(value):
    env = dict(os.environ, SLIDE_FAST_SIMD=value)
    out = subprocess.run([sys.executable, "-W", "default", "-c",
                          "import slide_fast; print(slide_fast.simd_level())"],
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip(), out.stderr


def test_environment_override():
    assert _level_in_subprocess("scalar")[0] == "scalar"
    level, err = _level_in_subprocess("no-such-level")
    assert level == slide_fast.available_simd_levels()[-1]
    assert "SLIDE_FAST_SIMD" in err


def test_show_config_prints_level_and_threads(capsys):
    slide_fast.show_config()
    out = capsys.readouterr().out
    assert "simd_level" in out and slide_fast.simd_level() in out
    assert "openmp threads" in out
    assert "huge pages" in out


def test_config_reports_the_kernel_thp_mode_and_emulation():
    from slide_fast._sysinfo import config_info
    info = config_info()
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            text = f.read()
        assert f"[{info['transparent_hugepages']}]" in text
    except OSError:
        assert info["transparent_hugepages"] is None
    assert info["numpy_madvise_hugepage"] in (True, False, None)
    # a regular build is never the emulated test build (make test-simd-emulated)
    assert info["simd_emulated"] == ("simd-emulated" in slide_fast.__file__)
