"""calibrate_alpha takes the judge that spaces alpha: True (the default
judge), False, or a classifier that the model clones and fits."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LinearRegression

from sktimbre import SpectrogramTransformer
from sktimbre._alpha_spacing import POSITIONS, midpoint_steps
from sktimbre._sklearn_compat import InvalidParameterError
from sktimbre.metrics import InstrumentClassifier

from .timbre_models import TIMBRE_MODELS, short_pair, tiny


class UnsureJudge(ClassifierMixin, BaseEstimator):
    """Hears every clip as P(B) = 0.5."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), 2), 0.5)


def _fast_spectrogram():
    return SpectrogramTransformer(n_iter=2, device="cpu")


@pytest.mark.parametrize("cls", TIMBRE_MODELS, ids=lambda c: c.__name__)
def test_the_judge_given_spaces_alpha_and_stays_unfitted(cls):
    # Just long enough to be judged (8192 samples).
    a, b = short_pair(n_clips=2, seconds=0.4)
    judge = UnsureJudge()
    model = tiny(cls, calibrate_alpha=judge, spectrogram=_fast_spectrogram()).fit(a, b)
    # Only this judge hears every render as exactly 0.5.
    assert np.array_equal(model.alpha_judgement_, np.full((2, len(POSITIONS)), 0.5))
    # No rise along alpha: equal steps.
    assert np.array_equal(model.alpha_curve_, np.tile(POSITIONS, (2, 1)))
    assert not hasattr(judge, "classes_"), "the parameter itself was fitted"
    assert model.get_params()["calibrate_alpha"] is judge


@pytest.mark.parametrize("cls", TIMBRE_MODELS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", ["yes", 1.5, LinearRegression()],
                         ids=["string", "number", "no predict_proba"])
def test_calibrate_alpha_refuses_what_cannot_judge(cls, value):
    a, b = short_pair(n_clips=2, seconds=0.2)
    with pytest.raises(InvalidParameterError, match="calibrate_alpha"):
        tiny(cls, calibrate_alpha=value).fit(a, b)


@pytest.mark.parametrize("cls", TIMBRE_MODELS, ids=lambda c: c.__name__)
def test_a_model_with_an_instrument_classifier_judge_saves_and_loads(cls, tmp_path):
    # Clips too short to judge: the judge is a parameter, never fitted here.
    a, b = short_pair(n_clips=2, seconds=0.3)
    judge = InstrumentClassifier(sr=22050, C=0.5, feature_set="eq_invariant")
    model = tiny(cls, calibrate_alpha=judge).fit(a, b)
    loaded = cls.load(model.save(tmp_path / "model.skt"))
    kept = loaded.get_params()["calibrate_alpha"]
    assert isinstance(kept, InstrumentClassifier)
    assert kept.get_params() == judge.get_params()


def test_a_judge_the_model_file_cannot_hold_is_refused_on_save(tmp_path):
    cls = TIMBRE_MODELS[0]
    a, b = short_pair(n_clips=2, seconds=0.3)
    model = tiny(cls, calibrate_alpha=UnsureJudge()).fit(a, b)
    with pytest.raises(TypeError, match="joblib"):
        model.save(tmp_path / "model.skt")


def test_midpoint_steps_put_alpha_half_where_the_judge_hears_half():
    heard = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 0.9, 0.9, 0.95, 0.95, 1.0])
    curve = midpoint_steps(heard)
    # One half lies half way between positions 0.3 and 0.4.
    assert curve[5] == pytest.approx(0.35)
    assert curve[0] == 0 and curve[-1] == 1
    np.testing.assert_allclose(curve[:6], np.linspace(0, 0.35, 6))
    np.testing.assert_allclose(curve[5:], np.linspace(0.35, 1, 6))
    # A dip is heard as no fall: the first position that reaches one half.
    dipped = heard.copy()
    dipped[5] = 0.2
    assert midpoint_steps(dipped)[5] == pytest.approx(0.35)


def test_midpoint_steps_at_the_ends_and_without_a_rise():
    assert midpoint_steps(np.linspace(0.6, 1.0, 11))[5] == 0.0
    assert midpoint_steps(np.linspace(0.0, 0.4, 11))[5] == 1.0
    np.testing.assert_array_equal(midpoint_steps(np.full(11, 0.5)), POSITIONS)
    np.testing.assert_array_equal(midpoint_steps(np.linspace(1.0, 0.0, 11)), POSITIONS)
