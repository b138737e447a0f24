"""Long input: chunked and segmented conversion equal whole-piece conversion,
and converting a longer recording takes no more memory than its audio."""

import json
import subprocess
import sys

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone

from sktimbre import SpectrogramTransformer, TimbreCycleGAN, TimbreVAE, _streaming
from sktimbre._cyclegan import _MAX_RESIDUAL_BLOCKS
from sktimbre._spectrogram_segments import _PHASE_BLOCK

from .conftest import harmonic_tone
from .timbre_models import one_torch_thread, short_pair, tiny  # noqa: F401

# Segments this short cut a clip of a few seconds in several places.
_TEST_SEGMENT_FRAMES = 128


def _copy_fitted(model, **params):
    twin = clone(model).set_params(**params)
    twin.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_")})
    return twin


def _melody(seconds):
    """Notes of a few pitches with vibrato, so that every frame differs."""
    notes = [harmonic_tone(f0, [1, 0.5, 0.3], seconds=0.6, vibrato_cents=20, seed=i)
             for i, f0 in enumerate((220, 330, 262, 440, 294, 392))]
    line = np.concatenate(notes * int(np.ceil(seconds / 3.6)))
    return line[:int(seconds * 22050)]


# ------------------------------------------------------------------ chunks
def test_deepest_generator_converts_in_chunks_without_seams():
    a, b = short_pair()
    gan = tiny(TimbreCycleGAN, width=8, n_residual_blocks=_MAX_RESIDUAL_BLOCKS,
               calibrate_alpha=False).fit(a, b)
    # The generators start as the identity; random output layers make every
    # frame of context count, as a trained generator's do.
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for network in (gan.generator_ab_, gan.generator_ba_):
            network.out.weight.copy_(0.1 * torch.randn(network.out.weight.shape,
                                                       generator=generator))
    S = gan.spectrogram_.transform(_melody(3.0))
    whole = gan.transform(S, alpha=0.5)
    assert np.abs(whole - S).max() > 1.0  # the translation moves the piece
    chunked = _copy_fitted(gan, chunk_frames=16).transform(S, alpha=0.5)
    assert np.abs(chunked - whole).max() <= 1e-5
    # 24 blocks read 112 frames on each side, more than a fixed 48 covered.
    assert gan._conversion_margin() == 112


def test_vae_converts_in_chunks_without_seams():
    a, b = short_pair()
    vae = tiny(TimbreVAE).fit(a, b)
    S = vae.spectrogram_.transform(_melody(3.0))
    for alpha in (0.0, 0.5, 1.0):
        whole = vae.transform(S, alpha=alpha)
        chunked = _copy_fitted(vae, chunk_frames=16).transform(S, alpha=alpha)
        assert np.abs(chunked - whole).max() <= 1e-5
    # Decoder 16 frames, on top of the note's position (33), which reads
    # further than the encoder (9): what conversion reads, and no more.
    assert vae._conversion_margin() == 49
    assert _copy_fitted(vae, note_frames=0)._conversion_margin() == 25


def test_deeper_generators_are_refused():
    a, b = short_pair()
    too_deep = tiny(TimbreCycleGAN, n_residual_blocks=_MAX_RESIDUAL_BLOCKS + 1)
    with pytest.raises(ValueError, match=r"n_residual_blocks.*\[0, 24\]"):
        too_deep.fit(a, b)


# ---------------------------------------------------------------- segments
@pytest.fixture(scope="module")
def fitted():
    """Tiny models of each kind, on linear spectrograms (with Griffin-Lim's
    default 32 iterations, whose context a segment must hold) and on mel
    spectrograms (8 iterations: inverting mel rows costs more)."""
    a, b = short_pair()
    spectrograms = {None: SpectrogramTransformer(device="cpu"),
                    64: SpectrogramTransformer(n_mels=64, n_iter=8, device="cpu")}
    return {
        (cls.__name__, n_mels): tiny(cls, calibrate_alpha=False,
                                     spectrogram=spectrogram).fit(a, b)
        for cls in (TimbreVAE, TimbreCycleGAN)
        for n_mels, spectrogram in spectrograms.items()
    }


def _whole(model, clip, alpha):
    """``clip`` converted in one piece; on a mel scale Griffin-Lim starts
    from the same per-block random phase as a segmented conversion."""
    transformer = model.spectrogram_
    if not transformer.n_mels:
        return model.transform(clip, alpha=alpha)
    converted = model.transform(transformer.transform(clip), alpha=alpha)
    n_frames = converted.shape[-1]
    return transformer.inverse_transform(
        converted, phase=transformer._random_phase(transformer.random_state, 0,
                                                   n_frames))


@pytest.mark.parametrize("n_mels", [None, 64])
@pytest.mark.parametrize("name", ["TimbreVAE", "TimbreCycleGAN"])
def test_segmented_conversion_equals_whole(fitted, name, n_mels, monkeypatch):
    model = fitted[name, n_mels]
    hop = model.spectrogram_.hop_length
    # Mid-frame and on a frame; 2 and 3 segments; a last segment of 1 frame.
    for n_samples in (2 * 22050 + 77, 300 * hop, _TEST_SEGMENT_FRAMES * hop + 10):
        clip = _melody(n_samples / 22050)[:n_samples]
        whole = _whole(model, clip, 0.7)
        monkeypatch.setattr(_streaming, "_SEGMENT_FRAMES", _TEST_SEGMENT_FRAMES)
        assert _streaming.is_long(model.spectrogram_, n_samples)
        streamed = model.transform(clip, alpha=0.7)
        monkeypatch.undo()
        assert streamed.shape == clip.shape and streamed.dtype == np.float32
        assert np.abs(streamed - whole).max() < 1e-4
        assert np.abs(whole).max() > 0.05  # not silence compared with silence


def test_clips_of_one_segment_are_converted_whole_as_before(fitted, monkeypatch):
    model = fitted["TimbreVAE", None]
    transformer = model.spectrogram_
    monkeypatch.setattr(_streaming, "_SEGMENT_FRAMES", _TEST_SEGMENT_FRAMES)
    n_samples = (_TEST_SEGMENT_FRAMES - 1) * transformer.hop_length + 100
    clip = _melody(n_samples / 22050 + 0.1)[:n_samples]
    assert not _streaming.is_long(transformer, n_samples)
    assert _streaming.is_long(transformer, n_samples + transformer.hop_length)
    before = transformer.inverse_transform(
        model.transform(transformer.transform(clip), alpha=0.7))
    assert np.array_equal(model.transform(clip, alpha=0.7), before)


def test_long_clips_keep_the_layout_and_inverse_transform(fitted, monkeypatch):
    model = fitted["TimbreCycleGAN", None]
    clips = [_melody(2.0), _melody(2.5)[::-1].copy()]
    singles = [model.transform(c, alpha=1.0) for c in clips]
    back = model.inverse_transform(clips[1])
    monkeypatch.setattr(_streaming, "_SEGMENT_FRAMES", _TEST_SEGMENT_FRAMES)
    batch = model.transform(np.stack([clips[0], clips[0]]), alpha=1.0)
    assert batch.shape == (2, len(clips[0]))
    assert np.abs(batch - singles[0]).max() < 1e-4
    short = clips[1][:4000]
    mixed = model.transform([clips[1], short], alpha=1.0)
    assert [len(m) for m in mixed] == [len(clips[1]), len(short)]
    assert np.abs(mixed[0] - singles[1]).max() < 1e-4
    assert np.array_equal(mixed[1], model.transform(short, alpha=1.0))
    assert np.abs(model.inverse_transform(clips[1]) - back).max() < 1e-4


def test_random_phase_of_a_frame_does_not_depend_on_the_segment(fitted):
    transformer = fitted["TimbreVAE", 64].spectrogram_
    whole = transformer._random_phase(0, 0, 3 * _PHASE_BLOCK)
    part = transformer._random_phase(0, _PHASE_BLOCK - 7, 2 * _PHASE_BLOCK + 5)
    assert whole.shape == (1 + transformer.n_fft // 2, 3 * _PHASE_BLOCK)
    assert np.array_equal(part, whole[:, _PHASE_BLOCK - 7:2 * _PHASE_BLOCK + 5])
    assert 0 <= whole.min() and whole.max() < 2 * np.pi
    assert not np.allclose(transformer._random_phase(1, 0, 10), whole[:, :10])


@pytest.mark.parametrize("device", [
    pytest.param("cuda", marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs a CUDA GPU")),
])
def test_segmented_conversion_equals_whole_on_a_gpu(device, monkeypatch):
    a, b = short_pair()
    model = tiny(TimbreVAE, device=device,
                 spectrogram=SpectrogramTransformer(device=device)).fit(a, b)
    clip = _melody(3.0)
    whole = model.transform(clip, alpha=0.7)
    monkeypatch.setattr(_streaming, "_SEGMENT_FRAMES", _TEST_SEGMENT_FRAMES)
    assert np.abs(model.transform(clip, alpha=0.7) - whole).max() < 1e-4


# ------------------------------------------------------------------ memory
_CHILD = """
import json, resource, sys
import joblib, numpy as np, torch
from sktimbre import _streaming
torch.set_num_threads(1)
# Segments of 3 s: many of them in either length, so the allocator's
# reserve has settled by the end of both.
_streaming._SEGMENT_FRAMES = 256
model = joblib.load(sys.argv[1])
n_samples = int(float(sys.argv[2]) * model.spectrogram_.sr)
audio = np.random.default_rng(0).standard_normal(n_samples, dtype=np.float32)
audio *= 0.1
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model.transform(audio, alpha=0.5)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before": before / 1024, "after": after / 1024}))
"""


def _peak_growth(path, seconds):
    """MB the conversion of ``seconds`` of noise adds to a fresh process's
    peak resident memory."""
    # A child of a shell, not of this process: on Linux ru_maxrss starts at
    # the resident size of the process that spawned it, models and all.
    args = [sys.executable, "-c", _CHILD, str(path), str(seconds)]
    done = subprocess.run(["/bin/sh", "-c", '"$@"; exit $?', "sh", *args],
                          capture_output=True, text=True, check=True, timeout=120)
    rss = json.loads(done.stdout.strip().splitlines()[-1])
    return rss["after"] - rss["before"]


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="ru_maxrss is in kB on Linux only")
def test_memory_does_not_grow_with_the_length(tmp_path):
    a, b = short_pair()
    model = tiny(TimbreVAE, spectrogram=SpectrogramTransformer(
        n_iter=4, device="cpu")).fit(a, b)
    joblib.dump(model, tmp_path / "model.joblib")
    short, long = (_peak_growth(tmp_path / "model.joblib", s) for s in (30, 120))
    per_second = (long - short) / 90
    # Whole-piece conversion adds 4 to 6 MB per second of audio; the audio
    # itself, the validated copy of the input and the output, 0.18 MB.
    assert per_second < 0.6, (short, long)
    assert long < 200, long
