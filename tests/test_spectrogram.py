import joblib
import librosa
import numpy as np
import pytest
from sklearn.base import clone

from sktimbre import Spectrogram, SpectrogramTransformer

from .conftest import SR, harmonic_tone


@pytest.fixture
def clip():
    return harmonic_tone(440.0, [1, 0.5, 0.25], seconds=0.5)


def lsd(a, b):
    A = np.abs(librosa.stft(a, n_fft=1024, hop_length=256)) ** 2 + 1e-10
    B = np.abs(librosa.stft(b, n_fft=1024, hop_length=256)) ** 2 + 1e-10
    return float(np.mean(np.sqrt(np.mean((10 * np.log10(A / B)) ** 2, axis=0))))


def test_layouts_mirror_input(clip):
    spec = SpectrogramTransformer(n_iter=2).fit([clip])
    single = spec.transform(clip)
    assert single.shape == (513, 1 + len(clip) // 256)
    batch = spec.transform(np.stack([clip, clip]))
    assert batch.shape == (2, 513, single.shape[1])
    ragged = spec.transform([clip, clip[:6000]])
    assert isinstance(ragged, list) and ragged[1].shape == (513, 1 + 6000 // 256)
    assert spec.inverse_transform(single).shape == clip.shape
    assert spec.inverse_transform(batch).shape == (2, len(clip))
    back = spec.inverse_transform(ragged)
    assert [len(b) for b in back] == [len(clip), 6000]


def test_spectrogram_carries_transformer_and_lengths(clip):
    spec = SpectrogramTransformer().fit([clip])
    S = spec.transform(clip)
    assert isinstance(S, Spectrogram)
    assert S.transformer is spec and S.lengths == len(clip)
    assert (S * 2).transformer is spec
    assert np.asarray(S).__class__ is np.ndarray


def test_per_bin_normalisation_is_standard(clip):
    spec = SpectrogramTransformer().fit([clip])
    S = np.asarray(spec.transform(clip))
    varying = spec.scale_ > 1e-3
    assert np.allclose(S.mean(axis=1)[varying], 0, atol=1e-3)
    raw = SpectrogramTransformer(normalize="none").fit([clip]).transform(clip)
    expected = np.log(np.abs(librosa.stft(clip, n_fft=1024, hop_length=256)) + 1e-5)
    audible = expected > np.log(1e-3)
    assert np.allclose(np.asarray(raw)[audible], expected[audible], atol=5e-3)


def test_round_trip_close_to_librosa_griffinlim(clip):
    spec = SpectrogramTransformer(normalize="none").fit([clip])
    ours = spec.inverse_transform(np.asarray(spec.transform(clip)),
                                  lengths=len(clip))
    magnitude = np.abs(librosa.stft(clip, n_fft=1024, hop_length=256))
    theirs = librosa.griffinlim(magnitude, n_iter=32, hop_length=256, n_fft=1024,
                                length=len(clip), random_state=0)
    assert abs(lsd(clip, ours) - lsd(clip, theirs)) < 0.5


def test_carried_phase_makes_round_trip_nearly_exact(clip):
    spec = SpectrogramTransformer(n_iter=0).fit([clip])
    back = spec.inverse_transform(spec.transform(clip))
    assert np.max(np.abs(back - clip)) < 1e-3


def test_mel_round_trip(clip):
    spec = SpectrogramTransformer(n_mels=128).fit([clip])
    S = spec.transform(clip)
    assert S.shape[0] == 128
    back = spec.inverse_transform(S)
    assert back.shape == clip.shape
    assert lsd(clip, back) < 12.0
    f, t = np.argmax(np.abs(librosa.stft(back, n_fft=1024)), axis=0)[5], 0
    assert abs(f * SR / 1024 - 440) < 30 + t


def test_griffinlim_is_seeded(clip):
    S = np.asarray(SpectrogramTransformer().fit([clip]).transform(clip))
    a = SpectrogramTransformer(random_state=3).fit([clip]).inverse_transform(S)
    b = SpectrogramTransformer(random_state=3).fit([clip]).inverse_transform(S)
    c = SpectrogramTransformer(random_state=4).fit([clip]).inverse_transform(S)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_clone_and_joblib_give_identical_outputs(clip, tmp_path):
    spec = SpectrogramTransformer(n_mels=64, hop_length=128).fit([clip])
    cloned = clone(spec).fit([clip])
    path = tmp_path / "spec.joblib"
    joblib.dump(spec, path)
    loaded = joblib.load(path)
    assert np.array_equal(spec.transform(clip), cloned.transform(clip))
    assert np.array_equal(spec.transform(clip), loaded.transform(clip))
    S = spec.transform(clip)
    assert np.array_equal(spec.inverse_transform(S), loaded.inverse_transform(S))
    assert cloned.get_params() == spec.get_params()


def test_y_clips_are_pooled_and_labels_ignored(clip):
    other = harmonic_tone(300.0, [1, 0.9, 0.8, 0.7], seconds=0.5)
    pooled = SpectrogramTransformer().fit([clip], [other])
    alone = SpectrogramTransformer().fit([clip])
    labelled = SpectrogramTransformer().fit([clip, other], np.array([0, 1]))
    assert not np.allclose(pooled.mean_, alone.mean_)
    assert np.allclose(pooled.mean_, labelled.mean_)


def test_short_clip_is_padded_with_warning_or_refused():
    short = np.zeros(100, dtype=np.float32)
    with pytest.warns(UserWarning, match="shorter than n_fft=1024"):
        S = SpectrogramTransformer().fit([short]).transform(short)
    assert S.shape[1] == 5
    with pytest.raises(ValueError, match="shorter than n_fft"):
        SpectrogramTransformer(short_clips="raise").fit([short])


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (np.array([0.0, np.nan, 0.1] * 400), ValueError, r"X\[0\] contains 400 NaN"),
        (np.full(2000, np.inf), ValueError, "infinite"),
        (np.zeros(0, dtype=np.float32), ValueError, "empty"),
        ((np.ones(2000) * 1000).astype(np.int16), TypeError, "integer dtype int16"),
        (np.zeros((44100, 2), dtype=np.float32), ValueError, "n_channels"),
        ([np.zeros((2, 4000), dtype=np.float32)], ValueError, "multichannel"),
        ("clip.wav", TypeError, "load_audio"),
    ],
)
def test_bad_input_has_clear_error(bad, error, match, clip):
    spec = SpectrogramTransformer().fit([clip])
    with pytest.raises(error, match=match):
        spec.transform(bad if not isinstance(bad, np.ndarray) or bad.ndim != 1
                       else [bad])


def test_inputs_are_not_modified(clip):
    original = clip.copy()
    spec = SpectrogramTransformer().fit([clip])
    S = spec.transform(clip)
    S_copy = np.array(S)
    spec.inverse_transform(S)
    assert np.array_equal(clip, original) and np.array_equal(np.asarray(S), S_copy)


def test_inverse_rejects_wrong_shape_and_nonfinite(clip):
    spec = SpectrogramTransformer().fit([clip])
    with pytest.raises(ValueError, match="513, n_frames"):
        spec.inverse_transform(np.zeros((128, 10)))
    bad = np.zeros((513, 10))
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        spec.inverse_transform(bad)


def test_invalid_settings_fail_in_fit(clip):
    with pytest.raises(ValueError, match="hop_length"):
        SpectrogramTransformer(hop_length=2048).fit([clip])
    with pytest.raises(ValueError, match="n_fft"):
        SpectrogramTransformer(n_fft=8).fit([clip])
