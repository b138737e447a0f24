"""The models' pitch tracker follows the note being played: against known
notes, including a note that starts while the one before still rings."""

import numpy as np
import pytest
import torch

from sktimbre._dsp import stft
from sktimbre._features import harmonic_f0

SR = 22050


def harmonic_tone(f0, seconds, amplitude, *, n_harmonics=8, decay=0.7):
    t = np.arange(int(seconds * SR)) / SR
    return amplitude * sum(decay ** (k - 1) * np.sin(2 * np.pi * k * f0 * t)
                           for k in range(1, n_harmonics + 1))


def tracked(audio, **kwargs):
    magnitude = stft(torch.as_tensor(audio, dtype=torch.float32), n_fft=1024,
                     hop_length=256).abs()
    f0, _ = harmonic_f0(magnitude, sr=SR, n_fft=1024, **kwargs)
    return f0.numpy()[4:-4]  # away from the clip's edges


def cents(f0, reference):
    return 1200 * np.log2(f0 / reference)


@pytest.mark.parametrize("f0", [196.0, 440.0, 880.0, 1318.5])
def test_a_single_note_is_tracked_at_its_own_octave(f0):
    assert np.all(np.abs(cents(tracked(harmonic_tone(f0, 0.5, 0.3)), f0)) < 50)


@pytest.mark.parametrize("f0", [587.3, 880.0, 987.8])
def test_a_ringing_note_an_octave_below_does_not_pull_the_f0_down(f0):
    # The note before, an octave below, rings on at a third of the level
    # (a release tail or a room) under the note being played. Its odd
    # harmonics sit between the new note's harmonics.
    audio = harmonic_tone(f0, 0.5, 0.3) + harmonic_tone(f0 / 2, 0.5, 0.1)
    assert np.all(np.abs(cents(tracked(audio), f0)) < 50)


def test_without_the_octave_check_the_ringing_note_wins():
    # What the check is for: the harmonic sum alone picks the note below.
    f0 = 880.0
    audio = harmonic_tone(f0, 0.5, 0.3) + harmonic_tone(f0 / 2, 0.5, 0.1)
    plain = tracked(audio, octave_ratio=np.inf)
    checked = tracked(audio)
    assert np.median(np.abs(cents(plain, f0 / 2))) < 50
    assert np.median(np.abs(cents(checked, f0))) < 50
