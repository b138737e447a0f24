"""Where each frame sits in its note, read from pitch and voicing alone.

A converted note should swell and die as the target instrument plays a note,
not as the input instrument did. The loudness contour carries the input's
articulation; where a note begins and ends does not name the instrument: the
same notes start and stop at the same frames whoever plays them. So the
TimbreVAE's decoder is told, per frame, whether it sounds, how long ago its
note began and (unless it is causal) how soon the note ends, each counted in
frames up to a cap, and can learn each instrument's own attack and decay
from them.
"""

import math

import torch

__all__ = ["note_position", "note_rows", "counted_frames", "VOICED_PERIODICITY"]

# A frame sounds when its periodicity (see harmonic_f0) is above this: for
# the note counts and for the TimbreVAE's judged-alpha and level terms.
VOICED_PERIODICITY = 0.05
# A pitch change between neighbouring frames larger than half a semitone (in
# octaves) starts a note; vibrato moves the pitch by a fraction of that per
# frame.
NOTE_JUMP = 0.5 / 12


# What note_frames="auto" counts up to: 32 frames (about 0.37 s at the
# default hop) for networks that read later frames. Causal networks count
# nothing: measured on csound and timgm6mb, the count since the note began
# made their flute-to-violin conversions 1.1 dB further on csound and
# widened timgm6mb's blend gap by 1.0 dB (docs/design.md).
AUTO_NOTE_FRAMES = 32


def counted_frames(model):
    """The cap of a TimbreVAE's note counts: ``note_frames``, with "auto"
    resolved by whether its networks are causal; 0 when it counts none."""
    if model.note_frames == "auto":
        return 0 if model.causal else AUTO_NOTE_FRAMES
    return int(model.note_frames)


def note_rows(frames, causal):
    """How many rows :func:`note_position` gives: none when ``frames`` is 0,
    sounding and age when ``causal``, and the frames left as well otherwise."""
    if frames == 0:
        return 0
    return 2 if causal else 3


def note_position(pitch: torch.Tensor, periodicity: torch.Tensor, frames: int,
                  ahead: bool, voiced_periodicity: float = VOICED_PERIODICITY,
                  note_jump: float = NOTE_JUMP) -> torch.Tensor:
    """Sounding, age and frames left of each frame's note.

    The constants are arguments so that TorchScript, which reads no globals,
    compiles it for a streaming converter.

    Parameters
    ----------
    pitch, periodicity : torch.Tensor of shape (B, T)
        Rows 0 and 1 of :func:`~sktimbre._features.content_features`.
    frames : int
        Cap of the counts; a frame reads ``frames + 1`` frames on the side
        it counts on, and no further.
    ahead : bool
        Also give the frames left until the note ends, which reads later
        frames (off for causal networks).

    Returns
    -------
    torch.Tensor of shape (B, 2 or 3, T)
        1 where the frame sounds, else 0; then ``log1p(count) /
        log1p(frames)`` of the frames since the note began and, with
        ``ahead``, until its last frame, 0 where the frame is silent. A note
        begins where a silent frame or a pitch jump comes before a sounding
        frame; the clip's first frame, if it sounds, begins one, and its last
        ends one.
    """
    voiced = periodicity > voiced_periodicity
    none = torch.zeros_like(voiced[..., :1])
    before = torch.cat([none, voiced[..., :-1]], dim=-1)
    jump = torch.cat([none, (pitch[..., 1:] - pitch[..., :-1]).abs() > note_jump],
                     dim=-1)
    start = voiced & (~before | jump)
    sounding = voiced.to(pitch.dtype)
    scale = math.log1p(frames)
    rows = [sounding, _count_since(start, frames) / scale * sounding]
    if ahead:
        after_start = torch.cat([start[..., 1:], none], dim=-1)
        after = torch.cat([voiced[..., 1:], none], dim=-1)
        end = voiced & (~after | after_start)
        left = _count_since(end.flip(-1), frames).flip(-1)
        rows.append(left / scale * sounding)
    return torch.stack(rows, dim=-2)


def _count_since(event: torch.Tensor, frames: int) -> torch.Tensor:
    """``log1p`` of the frames since the last ``event`` at or before each
    frame, capped at ``frames`` (the cap where none is that close)."""
    index = torch.arange(event.shape[-1], device=event.device).expand_as(event)
    never = torch.full_like(index, -(frames + 1))
    last = torch.cummax(torch.where(event, index, never), dim=-1)[0]
    return torch.log1p((index - last).clamp(max=frames).to(torch.float32))
