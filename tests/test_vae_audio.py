import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from sktimbre import Spectrogram, SpectrogramTransformer, TimbreVAE, _streaming
from sktimbre._dsp import stft
from sktimbre._sklearn_compat import InvalidParameterError
from sktimbre._spectrogram_array import RenderedAudio

from .timbre_models import tiny


@pytest.fixture(scope="module")
def pipe(two_instruments):
    a, b = two_instruments
    return Pipeline([("spec", SpectrogramTransformer()),
                     ("vae", tiny(TimbreVAE, synthesis="additive"))]).fit(a, b)


def _far_alpha(vae, S):
    """An alpha half a step or more from the source's: no detail kept."""
    return float(vae._estimate_source_alpha(S) < 0.5)


def test_pipeline_inverse_returns_the_synthesised_audio(pipe, two_instruments):
    piece = two_instruments[0][1][:20000]
    S = pipe["spec"].transform(piece)
    out = pipe["vae"].transform(S, alpha=_far_alpha(pipe["vae"], S))
    assert isinstance(out.audio, RenderedAudio)
    audio = pipe["spec"].inverse_transform(out)
    assert audio.shape == piece.shape and audio.dtype == np.float32
    np.testing.assert_array_equal(audio, out.audio.waveform)
    assert np.abs(audio).max() > 1e-3
    # Audio in, audio out is the same waveform.
    direct = pipe["vae"].transform(piece, alpha=_far_alpha(pipe["vae"], S))
    np.testing.assert_allclose(direct, audio, atol=1e-6)


def test_additive_audio_has_the_rendered_spectrogram(pipe, two_instruments):
    piece = two_instruments[1][0]
    spec, vae = pipe["spec"], pipe["vae"]
    S = spec.transform(piece)
    out = vae.transform(S, alpha=_far_alpha(vae, S))
    heard = stft(torch.from_numpy(pipe["spec"].inverse_transform(out)),
                 n_fft=spec.n_fft, hop_length=spec.hop_length).abs()
    rendered = spec.magnitude(out)
    inner = slice(10, -10)
    loud = rendered[:, inner] > rendered[:, inner].amax() * 1e-2
    ratio = (torch.log(heard[:, inner][loud] + 1e-5)
             - torch.log(rendered[:, inner][loud]))
    # Within 3 dB at the median over the loud bins.
    assert abs(float(ratio.median())) < 0.35


def test_edited_values_fall_back_to_griffin_lim(pipe, two_instruments):
    spec, vae = pipe["spec"], pipe["vae"]
    S = spec.transform(two_instruments[0][0])
    out = vae.transform(S, alpha=_far_alpha(vae, S))
    louder = out + 0.2
    assert louder.audio is out.audio  # the attribute survives arithmetic ...
    audio = spec.inverse_transform(louder)
    # ... but the values it was rendered for are gone: Griffin-Lim is used.
    expected = spec.inverse_transform(np.asarray(louder), phase=out.phase,
                                      lengths=out.lengths)
    np.testing.assert_array_equal(audio, expected)
    assert not np.allclose(audio, out.audio.waveform, atol=1e-3)
    # An unchanged copy still carries it.
    np.testing.assert_array_equal(spec.inverse_transform(out.copy()),
                                  out.audio.waveform)


def test_detail_kept_near_the_source_uses_griffin_lim(pipe, two_instruments):
    spec, vae = pipe["spec"], pipe["vae"]
    S = spec.transform(two_instruments[0][0])
    source = vae._estimate_source_alpha(S)
    assert vae.transform(S, alpha=source).audio is None
    vae.set_params(keep_detail=0.0)
    try:
        assert vae.transform(S, alpha=source).audio is not None
    finally:
        vae.set_params(keep_detail=1.0)


def test_both_syntheses_render_the_same_spectrogram(pipe, two_instruments):
    spec, vae = pipe["spec"], pipe["vae"]
    S = spec.transform(two_instruments[1][2])
    alpha = _far_alpha(vae, S)
    additive = vae.transform(S, alpha=alpha)
    vae.set_params(synthesis="griffinlim")
    try:
        griffin = vae.transform(S, alpha=alpha)
    finally:
        vae.set_params(synthesis="additive")
    assert griffin.audio is None
    np.testing.assert_allclose(np.asarray(additive), np.asarray(griffin), atol=1e-4)


def test_batches_carry_one_waveform_per_clip(pipe, two_instruments):
    spec, vae = pipe["spec"], pipe["vae"]
    clips = np.stack([c[:15000] for c in two_instruments[0][:2]])
    S = spec.transform(clips)
    out = vae.transform(S, alpha=1.0)
    assert out.shape == S.shape and len(out.audio) == 2
    audio = spec.inverse_transform(out)
    assert audio.shape == clips.shape
    one = vae.transform(spec.transform(clips[1]), alpha=1.0)
    np.testing.assert_allclose(audio[1], spec.inverse_transform(one), atol=1e-5)


def test_long_clips_play_through_one_synthesiser(pipe, two_instruments,
                                                 monkeypatch):
    vae = pipe["vae"]
    melody = np.concatenate(two_instruments[0][:3])
    alpha = _far_alpha(vae, pipe["spec"].transform(melody))
    whole = vae.transform(melody, alpha=alpha)
    # Segments this short cut the 3 s melody in several places.
    monkeypatch.setattr(_streaming, "_SEGMENT_FRAMES", 64)
    assert _streaming.is_long(vae.spectrogram_, len(melody))
    segmented = vae.transform(melody, alpha=alpha)
    assert segmented.shape == melody.shape and np.abs(whole).max() > 1e-2
    np.testing.assert_allclose(segmented, whole, atol=2e-5)


def test_carried_audio_pickles_and_old_pickles_load(pipe, two_instruments):
    S = pipe["spec"].transform(two_instruments[0][0])
    out = pipe["vae"].transform(S, alpha=1.0)
    again = pickle.loads(pickle.dumps(out))
    np.testing.assert_array_equal(pipe["spec"].inverse_transform(again),
                                  out.audio.waveform)
    # A Spectrogram pickled before it had an audio attribute.
    old = Spectrogram(np.zeros((3, 4), dtype=np.float32), lengths=768)
    reducer, args, state = old.__reduce__()
    restored = reducer(*args)
    restored.__setstate__(state[:-1])
    assert restored.audio is None and restored.lengths == 768


def test_synthesis_is_validated_with_a_clear_message(two_instruments):
    a, b = two_instruments
    with pytest.raises(InvalidParameterError, match="synthesis"):
        tiny(TimbreVAE, synthesis="vocoder").fit(a, b)
    with pytest.raises(InvalidParameterError, match="synthesis"):
        TimbreVAE().set_params(synthesis=None)


def test_parameter_round_trips(pipe, two_instruments, tmp_path):
    vae = pipe["vae"]
    assert vae.get_params()["synthesis"] == "additive"
    assert clone(vae).synthesis == "additive"
    assert TimbreVAE().synthesis == "griffinlim"
    piece = two_instruments[0][2]
    expected = vae.transform(piece, alpha=1.0)
    joblib.dump(vae, tmp_path / "vae.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "vae.joblib").transform(piece, alpha=1.0), expected)
    loaded = TimbreVAE.load(vae.save(tmp_path / "vae.skt"))
    assert loaded.synthesis == "additive"
    np.testing.assert_allclose(loaded.transform(piece, alpha=1.0), expected,
                               atol=1e-6)
