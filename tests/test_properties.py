"""Properties that hold for any clip: finite audio of the input's length comes
out of every conversion and round trip, and fits are reproducible."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from sktimbre import SpectrogramTransformer, convert

from .conftest import SR
from .timbre_models import (  # noqa: F401
    TIMBRE_MODELS,
    one_torch_thread,
    same_weights,
    short_pair,
    tiny,
    tiny_pipeline,
    weights,
)

# Clips from one sample (shorter than n_fft is zero-padded, with a warning)
# to three seconds; peaks from -80 dB to full scale, or digital silence.
LENGTHS = st.one_of(st.integers(1, 2048), st.integers(2049, 3 * SR))
PEAKS = st.one_of(st.just(0.0), st.floats(1e-4, 1.0))


def clip(length, peak, seed):
    """A tone with noise and a random start, scaled to ``peak``."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / SR
    y = np.sin(2 * np.pi * rng.uniform(100, 2000) * t + rng.uniform(0, 6.3))
    y = y + 0.3 * rng.standard_normal(length)
    return (peak * y / np.abs(y).max()).astype(np.float32)


@pytest.fixture(scope="module")
def pipelines():
    a, b = short_pair()
    return {cls.__name__: tiny_pipeline(cls).fit(a, b) for cls in TIMBRE_MODELS}


def assert_audio_like(out, x):
    assert out.shape == x.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    if not x.any():
        # Silence in, silence out.
        assert np.abs(out).max() < 1e-6


@pytest.mark.parametrize("name", [cls.__name__ for cls in TIMBRE_MODELS])
@pytest.mark.filterwarnings("ignore:.*shorter than n_fft:UserWarning")
@settings(max_examples=12, deadline=None)
@given(length=LENGTHS, peak=PEAKS, alpha=st.floats(0, 1), seed=st.integers(0, 99))
def test_convert_gives_finite_audio_of_the_same_length(pipelines, name, length,
                                                       peak, alpha, seed):
    x = clip(length, peak, seed)
    before = x.copy()
    assert_audio_like(convert(pipelines[name], x, alpha=alpha), x)
    np.testing.assert_array_equal(x, before)


@pytest.fixture(scope="module")
def spectrograms():
    a, b = short_pair()
    return {n_mels: SpectrogramTransformer(n_mels=n_mels, n_iter=4,
                                           device="cpu").fit(a, b)
            for n_mels in (None, 64)}


@pytest.mark.parametrize("n_mels", [None, 64], ids=["linear", "mel"])
@pytest.mark.filterwarnings("ignore:.*shorter than n_fft:UserWarning")
@settings(max_examples=12, deadline=None)
@given(length=LENGTHS, peak=PEAKS, seed=st.integers(0, 99))
def test_spectrogram_round_trip_gives_finite_audio_of_the_same_length(
        spectrograms, n_mels, length, peak, seed):
    spec = spectrograms[n_mels]
    x = clip(length, peak, seed)
    S = spec.transform(x)
    assert S.shape[0] == spec.n_freq_ and np.isfinite(S).all()
    assert_audio_like(spec.inverse_transform(S), x)


@pytest.mark.parametrize("cls", TIMBRE_MODELS, ids=lambda cls: cls.__name__)
@settings(max_examples=3, deadline=None)
@given(random_state=st.integers(0, 2**31 - 2))
def test_clone_and_refit_with_the_same_seed_is_identical(cls, random_state):
    a, b = short_pair(seconds=0.3)
    first = tiny(cls, random_state=random_state).fit(a, b)
    second = clone(first).fit(a, b)
    assert same_weights(weights(first), weights(second))
    np.testing.assert_equal(first.history_, second.history_)
    np.testing.assert_array_equal(first.transform(a[0], alpha=0.7),
                                  second.transform(a[0], alpha=0.7))
