"""The one module that imports scikit-learn's private API, and its stand-in
for ``_fit_context`` on a release without it."""

import numbers

import pytest
import sklearn
from sklearn.base import BaseEstimator

from sktimbre import _sklearn_compat
from sktimbre._sklearn_compat import Interval, InvalidParameterError, fit_context


class _Counted(BaseEstimator):
    _parameter_constraints = {"n": [Interval(numbers.Integral, 1, None,
                                             closed="left")]}

    def __init__(self, n=1):
        self.n = n


def _fit(self, X=None, y=None):
    self.fitted_ = True
    return self


def test_the_tested_range_is_the_one_setup_py_requires():
    from pathlib import Path

    setup = (Path(__file__).resolve().parent.parent / "setup.py").read_text()
    assert f'"scikit-learn{_sklearn_compat.TESTED_RANGE}"' in setup


@pytest.mark.parametrize("stand_in", [False, True])
def test_fit_context_validates_unless_told_to_skip(monkeypatch, stand_in):
    if stand_in:
        # A scikit-learn release without sklearn.base._fit_context.
        monkeypatch.setattr(_sklearn_compat, "_fit_context", None)

    class Model(_Counted):
        fit = fit_context(prefer_skip_nested_validation=True)(_fit)

    with pytest.raises(InvalidParameterError, match="'n' parameter"):
        Model(n=0).fit()
    assert Model(n=2).fit().fitted_
    with sklearn.config_context(skip_parameter_validation=True):
        assert Model(n=0).fit().fitted_
