"""The helpers of the real-data zero-shot figure: per-class subsampling that keeps every split,
and the training-free nearest-description baseline."""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

pytest.importorskip("paper_figures", reason="run from the repository root")
from paper_figures import fig10_zsl_real as fig10  # noqa: E402
from slide_ref import _debian_zsl as zd  # noqa: E402
from slide_ref import datasets  # noqa: E402


def test_subsample_keeps_each_image_in_its_split():
    data = datasets.make_zsl(n_classes=10, n_unseen=3, n_per_class=40, random_state=0)
    small = fig10.subsample(data, 12, seed=0)
    assert np.bincount(small.labels).tolist() == [12] * 10
    assert_array_equal(small.unseen, data.unseen)
    assert_array_equal(small.val_classes, data.val_classes)
    for loc in ("trainval_loc", "test_seen_loc", "test_unseen_loc", "train_loc", "val_loc"):
        rows = small.features[getattr(small, loc)]
        originals = {r.tobytes() for r in data.features[getattr(data, loc)]}
        assert len(rows) and all(r.tobytes() in originals for r in rows)


def test_subsample_draws_apart_from_the_split_stream():
    # load_fashion_zsl splits with default_rng(random_state): drawing the subsample from the
    # same stream would repeat its permutations and keep only test_seen images
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 50)
    data = zd.zsl_data(rng.random((300, 4)), labels, rng.random((5, 6)), np.array([4, 5]),
                       None, 0.2, np.random.default_rng(3), "test")
    small = fig10.subsample(data, 8, seed=3)
    assert small.trainval_loc.size > small.test_seen_loc.size


def test_nearest_description_needs_one_space():
    data = datasets.make_zsl(n_classes=8, n_unseen=2, n_attributes=6, n_features=6,
                             random_state=0)
    # images equal to their class's description: the nearest one is always right
    data.features = data.attributes.T[data.labels].astype(np.float32)
    assert fig10.nearest_description_zsl(data) == 1.0
    other = datasets.make_zsl(n_classes=8, n_unseen=2, n_attributes=6, n_features=9,
                              random_state=0)
    assert fig10.nearest_description_zsl(other) is None
