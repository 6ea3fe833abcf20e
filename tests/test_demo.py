"""The training demo (``make demo``): which data set it trains on, and saying so."""
import io

import pytest

import slide_fast
import slide_ref
from slide_ref.cli import DEMO_MODELS, demo_data, run_training_demo

TINY = dict(n_samples=300, n_features=40, n_labels=12, n_test=60, random_state=0)


def unreachable(**kwargs):
    raise slide_ref.datasets.ArchiveUnavailableError("apt-get update", "no network",
                                                     "connect and retry")


@pytest.mark.parametrize("backend", [slide_ref, slide_fast], ids=["ref", "fast"])
def test_demo_falls_back_to_the_synthetic_set_and_says_so(backend, monkeypatch, tmp_path):
    monkeypatch.setattr(backend.datasets, "load_debian_xc", unreachable)
    out = io.StringIO()
    runs = run_training_demo(backend, out_dir=str(tmp_path), epochs=1, show_progress=False,
                             data=TINY, out=out)
    text = out.getvalue()
    assert "cannot be reached" in text and "no network" in text
    assert "data: the synthetic XC set" in text
    assert "Debian XC" not in text
    assert [r["preset"] for r in runs.values()] == list(DEMO_MODELS.values())
    assert all(0 <= r["p1"] <= 1 for r in runs.values())
    assert (tmp_path / "p1_vs_time.png").exists()


def test_demo_uses_the_real_set_when_it_loads(monkeypatch):
    fake = slide_ref.datasets.make_xc(**TINY)
    monkeypatch.setattr(slide_ref.datasets, "load_debian_xc", lambda **kw: fake)
    out = io.StringIO()
    *_, title = demo_data(slide_ref, "auto", TINY, out)
    assert title.startswith("Debian XC") and "the real Debian XC set" in out.getvalue()


def test_demo_on_debian_only_raises_when_the_archive_is_unreachable(monkeypatch):
    monkeypatch.setattr(slide_ref.datasets, "load_debian_xc", unreachable)
    with pytest.raises(slide_ref.datasets.ArchiveUnavailableError):
        demo_data(slide_ref, "debian", TINY, io.StringIO())


def test_demo_synthetic_never_touches_the_archive(monkeypatch):
    monkeypatch.setattr(slide_ref.datasets, "load_debian_xc", unreachable)
    out = io.StringIO()
    *_, title = demo_data(slide_ref, "synthetic", TINY, out)
    assert title.startswith("synthetic") and "cannot be reached" not in out.getvalue()


def test_demo_refuses_an_unknown_source():
    with pytest.raises(ValueError, match="source"):
        demo_data(slide_ref, "imagenet", TINY, io.StringIO())
