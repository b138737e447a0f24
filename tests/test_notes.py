"""Where each frame sits in its note: the decoder input that does not depend
on who plays the notes."""

import math

import numpy as np
import pytest
import torch

from sktimbre import TimbreVAE
from sktimbre._notes import counted_frames, note_position, note_rows


def _counts(rows, frames):
    """Frame counts back from ``log1p(count) / log1p(frames)``."""
    return np.rint(np.expm1(rows.numpy() * math.log1p(frames))).astype(int)


def _melody():
    # Two notes, a silent frame, a third note a semitone up, then a fourth
    # an octave up straight after it; pitch in octaves from 440 Hz.
    pitch = [0.0] * 4 + [0.25] * 5 + [0.0] + [1 / 12] * 3 + [13 / 12] * 3
    periodicity = [0.9] * 9 + [0.0] + [0.8] * 6
    return torch.tensor([pitch]), torch.tensor([periodicity])


def test_counts_since_the_note_began_and_until_it_ends():
    pitch, periodicity = _melody()
    rows = note_position(pitch, periodicity, 8, ahead=True)[0]
    np.testing.assert_array_equal(rows[0].numpy(), [1] * 9 + [0] + [1] * 6)
    np.testing.assert_array_equal(
        _counts(rows[1], 8), [0, 1, 2, 3, 0, 1, 2, 3, 4, 0, 0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(
        _counts(rows[2], 8), [3, 2, 1, 0, 4, 3, 2, 1, 0, 0, 2, 1, 0, 2, 1, 0])


def test_vibrato_does_not_start_a_note():
    frames = torch.arange(200, dtype=torch.float32)
    # 40 cents of vibrato at 6 Hz, 86 frames a second.
    pitch = (0.4 / 12 * torch.sin(2 * math.pi * 6 * frames / 86))[None]
    rows = note_position(pitch, torch.ones_like(pitch), 16, ahead=True)[0]
    assert _counts(rows[1], 16)[16:].min() == 16


def test_counts_stop_at_the_cap():
    pitch = torch.zeros(1, 50)
    rows = note_position(pitch, torch.ones_like(pitch), 10, ahead=True)[0]
    assert _counts(rows[1], 10).tolist() == list(range(10)) + [10] * 40
    assert _counts(rows[2], 10).tolist() == [10] * 40 + list(range(9, -1, -1))


@pytest.mark.parametrize("ahead", [True, False])
def test_a_frame_reads_no_further_than_the_cap_and_one(ahead):
    # What chunked conversion and the stream's buffers rely on.
    generator = torch.Generator().manual_seed(0)
    steps = torch.randint(0, 4, (1, 120), generator=generator).float()
    pitch = torch.cumsum(torch.where(steps == 0, 1 / 12, 0.0), dim=-1)
    periodicity = (torch.rand(1, 120, generator=generator) > 0.1).float()
    frames, at = 6, 60
    whole = note_position(pitch, periodicity, frames, ahead)[..., at]
    lo = at - frames - 1
    hi = at + frames + 2 if ahead else at + 1
    cut = note_position(pitch[:, lo:hi], periodicity[:, lo:hi], frames, ahead)
    torch.testing.assert_close(cut[..., at - lo], whole, rtol=0, atol=0)
    assert note_rows(frames, causal=not ahead) == cut.shape[1]


def test_causal_position_reads_no_later_frame():
    pitch, periodicity = _melody()
    whole = note_position(pitch, periodicity, 8, ahead=False)
    assert whole.shape[1] == 2
    for cut in range(1, pitch.shape[-1]):
        part = note_position(pitch[:, :cut], periodicity[:, :cut], 8, ahead=False)
        torch.testing.assert_close(part, whole[..., :cut], rtol=0, atol=0)


def test_position_compiles_for_a_stream():
    scripted = torch.jit.script(note_position)
    pitch, periodicity = _melody()
    torch.testing.assert_close(scripted(pitch, periodicity, 8, True),
                               note_position(pitch, periodicity, 8, True))


def test_auto_counts_for_networks_that_read_ahead_only():
    assert counted_frames(TimbreVAE()) == 32
    assert counted_frames(TimbreVAE(causal=True)) == 0
    assert counted_frames(TimbreVAE(causal=True, note_frames=8)) == 8
    assert counted_frames(TimbreVAE(note_frames=0)) == 0
