"""Constructors store their arguments as given (scikit-learn's convention), by one helper."""
import numpy as np
import pytest
from sklearn.base import clone

from slide_ref import negative, zsl
from slide_ref._params import store_params

ESTIMATORS = [
    negative.UniformSampler(7, shared=True, logq=True, batch_labels=True, hard_negatives=2,
                            random_state=3),
    negative.UnigramSampler(5, counts=np.arange(4.0), power=0.75, remove_accidental_hits=False),
    negative.LogUniformSampler(9, counts=[1, 2, 3], shared=True, random_state=1),
    negative.LSHSampler("label", label_query="all", lsh={"K": 2}, faithful=True, random_state=2),
    zsl.SoftLabelZSL(hidden=(8,), loss="hard", q=0.1, epochs=2, show_progress=True),
    zsl.ESZSL(feature_reg=5.0, attribute_reg=0.5, normalize="l2"),
    zsl.SJE(lr=0.2, margin=0.5, batch_size=4, random_state=0),
]


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_every_argument_is_stored_as_given(est):
    params = est.get_params(deep=False)
    assert set(params) == set(type(est)._get_param_names())
    assert all(getattr(est, name) is value for name, value in params.items())
    twin = clone(est)
    assert all(getattr(twin, name) is value or np.array_equal(getattr(twin, name), value)
               for name, value in params.items())


def test_only_parameters_are_stored():
    class Estimator:
        def __init__(self, a, b=2):
            store_params(self, locals())
            assert __class__ is Estimator      # puts __class__ into locals()

    est = Estimator(1)
    assert vars(est) == {"a": 1, "b": 2}
