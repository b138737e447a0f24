import math

import numpy as np
import pytest
import torch

from sktimbre._dsp import stft
from sktimbre._nn import HarmonicRenderer
from sktimbre._synth import AdditiveSynth

SR, N_FFT, HOP = 22050, 1024, 256
N_HARMONICS, N_BANDS = 6, 16


def _controls(n_frames, *, f0=440.0, noise=-30.0, seed=0):
    """Steady f0, harmonics falling off from 50, a flat noise envelope."""
    amplitude = torch.tensor([50.0, 20.0, 10.0, 5.0, 2.0, 1.0])
    harmonic = torch.log(amplitude)[None, :, None].repeat(1, 1, n_frames)
    rng = torch.Generator().manual_seed(seed)
    # A gentle vibrato and changing levels, so blocks meet mid-movement.
    wobble = torch.sin(torch.arange(n_frames) / 5.0)
    f0s = (f0 * (1 + 0.02 * wobble))[None]
    harmonic = harmonic + 0.3 * torch.randn(harmonic.shape, generator=rng)
    noise_env = torch.full((1, N_BANDS, n_frames), noise)
    return f0s, harmonic, noise_env


def _synth(**params):
    return AdditiveSynth(SR, N_FFT, HOP, N_HARMONICS, N_BANDS, **params)


def test_steady_tone_peaks_match_the_renderer():
    n_frames = 60
    f0 = torch.full((1, n_frames), 440.0)
    harmonic = torch.log(torch.tensor([50.0, 20, 10, 5, 2, 1]))[None, :, None]
    harmonic = harmonic.expand(1, N_HARMONICS, n_frames)
    noise = torch.full((1, N_BANDS, n_frames), -30.0)
    audio = _synth()(f0, harmonic, noise, length=(n_frames - 1) * HOP)
    heard = stft(audio, n_fft=N_FFT, hop_length=HOP).abs()[0]
    rendered = HarmonicRenderer(SR, N_FFT, N_HARMONICS, N_BANDS)(f0, harmonic, noise)[0]
    inner = slice(8, n_frames - 8)  # away from the clip's zero-padded ends
    for k in range(1, N_HARMONICS + 1):
        near = round(440 * k * N_FFT / SR)
        peak = heard[near - 1:near + 2, inner].amax(dim=0)
        expected = rendered[near - 1:near + 2, inner].amax(dim=0)
        assert torch.allclose(peak, expected, rtol=1e-3), k


def test_noise_level_matches_the_envelope_at_its_median():
    n_frames = 80
    f0 = torch.full((1, n_frames), 440.0)
    silent = torch.full((1, N_HARMONICS, n_frames), -30.0)
    noise = torch.zeros((1, N_BANDS, n_frames))  # magnitude 1 at every bin
    audio = _synth()(f0, silent, noise, length=(n_frames - 1) * HOP)
    heard = stft(audio, n_fft=N_FFT, hop_length=HOP).abs()[0, 20:400, 10:-10]
    assert abs(20 * math.log10(float(heard.median()))) < 0.5  # dB


def test_harmonics_above_nyquist_are_silent():
    n_frames = 30
    f0 = torch.full((1, n_frames), 4000.0)  # 3rd harmonic is past 11025 Hz
    harmonic = torch.full((1, N_HARMONICS, n_frames), 5.0)
    noise = torch.full((1, N_BANDS, n_frames), -30.0)
    audio = _synth()(f0, harmonic, noise, length=(n_frames - 1) * HOP)
    spectrum = stft(audio, n_fft=N_FFT, hop_length=HOP).abs()[0, :, 5:-5]
    fundamental = spectrum[round(4000 * N_FFT / SR)].median()
    assert fundamental > 100
    # Harmonics 3-6 would fold back to 10050, 6050, 2050 and 1950 Hz.
    for folded in (10050, 6050, 2050):
        assert spectrum[round(folded * N_FFT / SR)].median() < fundamental * 1e-4


@pytest.mark.parametrize("splits", [(1, 7, 40), (33, 34), (5,)])
def test_blocks_concatenate_to_the_whole(splits):
    n_frames = 70
    f0, harmonic, noise = _controls(n_frames, noise=-4.0)
    synth = _synth(seed=11)
    length = (n_frames - 1) * HOP
    whole = synth(f0, harmonic, noise, length=length)
    state = synth.initial_state(1, torch.device("cpu"))
    blocks = []
    for start, stop in zip((0, *splits), (*splits, n_frames)):
        audio, state = synth.synthesize_block(
            f0[:, start:stop], harmonic[..., start:stop], noise[..., start:stop], state)
        assert audio.shape == (1, (stop - start) * HOP)
        blocks.append(audio)
    streamed = torch.cat(blocks, dim=-1)[:, synth.latency:]
    assert int(state.frame) == n_frames
    np.testing.assert_allclose(streamed.numpy(), whole[:, :streamed.shape[1]].numpy(),
                               atol=1e-5)


def test_noise_is_seeded_and_batched():
    f0, harmonic, noise = _controls(20, noise=0.0)
    length = 19 * HOP
    first = _synth(seed=1)(f0, harmonic, noise, length=length)
    again = _synth(seed=1)(f0, harmonic, noise, length=length)
    other = _synth(seed=2)(f0, harmonic, noise, length=length)
    assert torch.equal(first, again) and not torch.allclose(first, other)
    pair = _synth(seed=1)(f0.repeat(2, 1), harmonic.repeat(2, 1, 1),
                          noise.repeat(2, 1, 1), length=length)
    np.testing.assert_allclose(pair[1].numpy(), first[0].numpy(), atol=1e-6)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_scripted_module_matches_eager():
    f0, harmonic, noise = _controls(40, noise=-3.0)
    synth = _synth(seed=5)
    scripted = torch.jit.script(synth)
    length = 39 * HOP
    np.testing.assert_allclose(scripted(f0, harmonic, noise, length).numpy(),
                               synth(f0, harmonic, noise, length=length).numpy(),
                               atol=1e-6)
    state = scripted.initial_state(1, torch.device("cpu"))
    audio, state = scripted.synthesize_block(f0, harmonic, noise, state)
    assert audio.shape == (1, 40 * HOP) and int(state.frame) == 40


def test_output_is_float32_and_long_pieces_keep_phase():
    # A float32 running phase would be some 1e-3 rad off after these frames.
    n_frames = 3000
    f0 = torch.full((1, n_frames), 441.0)
    synth = AdditiveSynth(SR, N_FFT, HOP, 1, 2)
    state = synth.initial_state(1, torch.device("cpu"))
    step = 441.0 * 2 * math.pi * HOP / SR
    _, state = synth.synthesize_block(
        f0, torch.zeros((1, 1, n_frames)), torch.full((1, 2, n_frames), -30.0), state)
    error = math.remainder(float(state.phase[0]) - n_frames * step, 2 * math.pi)
    assert abs(error) < 1e-6
    audio = synth(f0[:, :10], torch.zeros((1, 1, 10)),
                  torch.full((1, 2, 10), -30.0), length=9 * HOP)
    assert audio.dtype == torch.float32
