import joblib
import numpy as np
import pytest
from scipy.signal import lfilter
from sklearn.exceptions import NotFittedError

from sktimbre import MatchEQ
from sktimbre.metrics import (
    InstrumentClassifier,
    log_spectral_distance,
    mel_cepstral_distortion,
    raw_pitch_accuracy,
)

from .conftest import harmonic_tone


def test_lsd_values():
    y = harmonic_tone(440.0, [1, 0.5], seconds=0.5)
    assert log_spectral_distance(y, y) == 0.0
    assert log_spectral_distance(y, 2 * y) == pytest.approx(6.0, abs=0.2)
    other = harmonic_tone(300.0, [1, 0.9, 0.8], seconds=0.5)
    assert log_spectral_distance(y, other) == pytest.approx(
        log_spectral_distance(other, y))
    with pytest.raises(ValueError, match="same length"):
        log_spectral_distance(y, y[:2000])


def test_mcd_grows_with_filtering():
    y = harmonic_tone(440.0, [1, 0.5, 0.3, 0.2], seconds=0.5)
    mild = lfilter([1, -0.3], [1], y).astype(np.float32)
    strong = lfilter([1, -0.95], [1], y).astype(np.float32)
    assert mel_cepstral_distortion(y, y) == 0.0
    assert 0 < mel_cepstral_distortion(y, mild) < mel_cepstral_distortion(y, strong)


def test_raw_pitch_accuracy():
    y = harmonic_tone(440.0, [1, 0.5, 0.3], seconds=1.0)
    filtered = lfilter([1, -0.9], [1], y).astype(np.float32)
    semitone = harmonic_tone(440.0 * 2 ** (1 / 12), [1, 0.5, 0.3], seconds=1.0)
    assert raw_pitch_accuracy(y, filtered) > 0.95
    assert raw_pitch_accuracy(y, semitone) < 0.1


def _instrument(kind, rng, n):
    amps = [1, 0.1, 0.03] if kind == 0 else [1, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    return [harmonic_tone(rng.uniform(250, 600), amps, 1.0,
                          vibrato_cents=0 if kind == 0 else 25, seed=int(s))
            for s in rng.integers(1000, size=n)]


def test_classifier_separates_and_resists_eq():
    rng = np.random.default_rng(0)
    train = _instrument(0, rng, 8) + _instrument(1, rng, 8)
    clf = InstrumentClassifier().fit(train, [0] * 8 + [1] * 8)
    test_a, test_b = _instrument(0, rng, 4), _instrument(1, rng, 4)
    assert clf.score(test_a + test_b, [0] * 4 + [1] * 4) >= 0.9
    dull = [lfilter([0.3, 0.3], [1, -0.4], y).astype(np.float32) for y in test_b]
    assert clf.predict(dull).tolist() == [1] * 4


def test_match_eq():
    rng = np.random.default_rng(1)
    a, b = _instrument(0, rng, 4), _instrument(1, rng, 4)
    eq = MatchEQ().fit(a, b)
    assert np.allclose(eq.transform(a[0], alpha=0.0), a[0], atol=1e-4)
    with pytest.raises(ValueError, match="alpha"):
        eq.transform(a[0], alpha=1.5)
    with pytest.raises(NotFittedError):
        MatchEQ().transform(a[0])
    copy = a[0].copy()
    out = eq.transform(a[0])
    assert np.array_equal(a[0], copy) and out.shape == a[0].shape



def test_match_eq_joblib(tmp_path):
    rng = np.random.default_rng(2)
    a, b = _instrument(0, rng, 2), _instrument(1, rng, 2)
    eq = MatchEQ().fit(a, b)
    joblib.dump(eq, tmp_path / "eq.joblib")
    assert np.array_equal(joblib.load(tmp_path / "eq.joblib").transform(a[0]),
                          eq.transform(a[0]))


def test_plot_blend_grid(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from sktimbre.plotting import plot_blend_grid

    a = harmonic_tone(440.0, [1, 0.8, 0.6, 0.5], seconds=0.4)
    b = harmonic_tone(440.0, [1, 0.1], seconds=0.4)
    mix = 0.5 * (a + b)
    rendered_a = {0.0: a, 0.5: mix, 1.0: b}
    rendered_b = {1.0: b, 0.0: a, 0.5: mix}  # any order of alphas
    fig = plot_blend_grid(a, b, rendered_a, rendered_b, labels=("violin", "flute"),
                          path=tmp_path / "grid.png")
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["violin (input)", "violin, alpha = 0", "violin, alpha = 0.5",
                      "violin, alpha = 1", "flute (input)", "flute, alpha = 0",
                      "flute, alpha = 0.5", "flute, alpha = 1"]
    # One colour scale for all panels.
    limits = {image.get_clim() for ax in fig.axes if ax.get_title()
              for image in ax.collections}
    assert len(limits) == 1
    with pytest.raises(ValueError, match="same alphas"):
        plot_blend_grid(a, b, rendered_a, {0.5: mix})
