"""Shared fixtures: the two backends and the SIMD levels of the fast one."""
import numpy as np
import pytest

import slide_fast
import slide_ref

BACKENDS = {"ref": slide_ref, "fast": slide_fast}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request):
    """Each backend module in turn (``slide_ref`` and ``slide_fast``)."""
    return BACKENDS[request.param]


@pytest.fixture(params=slide_fast.available_simd_levels())
def simd_level(request):
    """Force each SIMD level this CPU has, restoring the previous one afterwards."""
    previous = slide_fast.simd_level()
    slide_fast.set_simd_level(request.param)
    yield request.param
    slide_fast.set_simd_level(previous)


@pytest.fixture(scope="session")
def tiny_xc():
    """A small multi-label XC set (400 points, 120 features, 60 labels, 10 test points)
    for estimator tests that only need something to fit."""
    return slide_ref.datasets.make_xc(400, 120, 60, n_test=10, labels_per_sample=2,
                                      random_state=0)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def assert_allclose_f32(actual, desired, rtol=2e-5, atol=1e-6):
    """The one float tolerance used to compare float32 kernels across backends."""
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "fuzz: the fuzz campaign of tests/fuzz (minutes; run by make test-fuzz, "
                   "deselected unless -m names it)")


def pytest_collection_modifyitems(config, items):
    """Leave the fuzz campaign out of every run whose -m expression does not name it."""
    if "fuzz" in (config.getoption("-m") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("fuzz") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
