"""Content features of a spectrogram that do not depend on the instrument.

Pitch and loudness are what a conversion must keep, so the timbre models
condition on them explicitly (DDSP, Engel et al. 2020) instead of hoping a
latent carries them. They are read from the linear magnitude, so they work on
any spectrogram a :class:`~sktimbre.SpectrogramTransformer` makes, on the CPU or
a GPU, and cost far less than pYIN.
"""

import functools
import math

import torch
from torch.nn import functional as F

__all__ = ["harmonic_f0", "loudness_db", "content_features", "smooth_loudness"]

# Frames on each side of a frame that its features read besides the frame
# itself: the onset is the loudness change from the frame before.
FEATURE_CONTEXT = 1

# Frames on each side that a TimbreVAE decoder's loudness is averaged over:
# 9 frames, about 0.1 s at the default hop, longer than an attack, shorter
# than a note.
LOUDNESS_CONTEXT = 4

_N_HARMONICS = 10
# Harmonic weights decay so that the fundamental dominates (Klapuri 2006);
# the negative teeth halfway between harmonics stop the subharmonic f0 / 2
# from collecting the even harmonics and winning.
_DECAY = 0.8
_CENTS_PER_STEP = 20.0
# A candidate an octave above the best wins when its salience is at least
# this share of the best's. A note's own octave-up candidate sums the even
# harmonics and is punished by the odd ones in its troughs, so it stays far
# below; but where the note before still rings (a soundfont's release, a
# room's reverberation) under a note an octave above a pitch it shares
# harmonics with, the old note's odd harmonics sit in the new note's troughs
# and the subharmonic can win. Measured against the notes played, on the
# flute of the four development sources, this moved the octave-below frames
# from 4-14% to under 0.5%, and no violin frame went an octave up.
_OCTAVE_RATIO = 0.3
# Sum of the harmonic weights: a frame's largest possible salience per unit
# of its compressed magnitude.
_TOTAL_WEIGHT = sum(_DECAY ** (k - 1) for k in range(1, _N_HARMONICS + 1))


def _candidate_f0s(fmin, fmax, device):
    n = int(math.ceil(1200 * math.log2(fmax / fmin) / _CENTS_PER_STEP)) + 1
    steps = torch.arange(n, device=device, dtype=torch.float32)
    return fmin * 2 ** (steps * _CENTS_PER_STEP / 1200)


def _interp_bins(values, positions):
    """Linear interpolation of ``values (..., n_bins, T)`` at fractional bins.

    ``positions`` has shape (n_points,); returns (..., n_points, T).
    """
    n_bins = values.shape[-2]
    pos = positions.clamp(0, n_bins - 1.001)
    low = pos.floor().long()
    frac = (pos - low).to(values.dtype)[:, None]
    lower = values.index_select(-2, low)
    upper = values.index_select(-2, low + 1)
    return lower + frac * (upper - lower)


def full_scale_peak(win_length):
    """The STFT peak of a full-scale sine under a periodic Hann window of
    ``win_length`` samples (half the window's sum): a fixed ``peak`` for
    :func:`harmonic_f0` where the clip's own largest magnitude is not known
    in advance, as in a stream."""
    return float(torch.hann_window(win_length, periodic=True,
                                   dtype=torch.float64).sum()) / 2


def salience_matrix(*, sr, n_fft, fmin=65.0, fmax=2100.0):
    """The matrix of :func:`harmonic_f0`'s harmonic summation, on the CPU in
    float32, for a streaming converter to hold as a buffer (see
    :func:`_salience_weights`)."""
    return _salience_weights(n_fft // 2 + 1, sr, n_fft, fmin, min(fmax, sr / 2 / 2),
                             torch.device("cpu"), torch.float32).clone()


@functools.lru_cache(maxsize=16)
def _salience_weights(n_bins, sr, n_fft, fmin, fmax, device, dtype):
    """Matrix ``(n_candidates, n_bins)`` whose product with a compressed
    magnitude is each candidate's weighted harmonic sum: peaks at k f0 minus
    troughs at (k - 1/2) f0, read by linear interpolation between bins.

    One matrix product instead of gathering each harmonic's bins frame by
    frame: the pitch tracker's cost, which conversion pays on every piece.
    """
    identity = torch.eye(n_bins, device=device, dtype=dtype)
    candidates = _candidate_f0s(fmin, fmax, device)
    bin_hz = sr / n_fft
    weights = torch.zeros(len(candidates), n_bins, device=device, dtype=dtype)
    for k in range(1, _N_HARMONICS + 1):
        peak = candidates * k / bin_hz
        trough = candidates * (k - 0.5) / bin_hz
        inside = (peak < n_bins - 1).to(dtype)[:, None]
        weights += _DECAY ** (k - 1) * inside * (
            _interp_bins(identity, peak) - _interp_bins(identity, trough))
    return weights


def harmonic_f0(magnitude, *, sr, n_fft, fmin=65.0, fmax=2100.0, peak=None,
                octave_ratio=_OCTAVE_RATIO):
    """Frame-wise f0 by weighted harmonic summation over a log-frequency grid.

    Parameters
    ----------
    magnitude : torch.Tensor of shape (..., 1 + n_fft // 2, n_frames)
        Linear STFT magnitude.
    sr, n_fft : int
        Settings the magnitude was computed with.
    fmin, fmax : float
        Search range in Hz.
    peak : float, optional
        The clip's largest magnitude, which sets the level of the log
        compression; the largest value of ``magnitude`` (per leading index)
        when omitted. Pass it when ``magnitude`` is one segment of a longer
        clip, so that each frame's f0 is the one the whole clip gives.
    octave_ratio : float, optional
        Share of the best candidate's salience at which the candidate an
        octave above it wins instead (see :func:`pick_f0`); ``inf`` turns the
        octave check off.

    Returns
    -------
    f0 : torch.Tensor of shape (..., n_frames)
        Estimated fundamental in Hz, refined by parabolic interpolation.
    periodicity : torch.Tensor of shape (..., n_frames)
        Salience of the winning candidate relative to the frame's spectral
        mass, in [0, 1]: near 1 for a clean harmonic tone, near 0 for noise.
    """
    fmax = min(fmax, sr / 2 / 2)
    if peak is None:
        peak = magnitude.amax(dim=(-2, -1), keepdim=True)
    else:
        peak = torch.as_tensor(peak, dtype=magnitude.dtype, device=magnitude.device)
    compressed = torch.log1p(magnitude / (peak * 1e-3 + 1e-12))
    weights = _salience_weights(magnitude.shape[-2], sr, n_fft, fmin, fmax,
                                magnitude.device, magnitude.dtype)
    salience = weights @ compressed
    return pick_f0(salience, compressed, fmin, octave_ratio=octave_ratio)


def pick_f0(salience, compressed, fmin: float,
            cents_per_step: float = _CENTS_PER_STEP,
            total_weight: float = _TOTAL_WEIGHT,
            octave_ratio: float = _OCTAVE_RATIO):
    """The f0 (Hz) and periodicity of each frame from the salience
    ``(..., n_candidates, n_frames)`` of the candidates from ``fmin`` up and
    the compressed magnitude it was summed from (see :func:`harmonic_f0`).

    The best candidate gives way to the one an octave above it where that
    one's salience is at least ``octave_ratio`` of the best's: a ringing
    note under the next one must not pull the f0 an octave down.

    The constants are arguments so that TorchScript, which reads no
    globals, compiles it for a streaming converter."""
    best = salience.argmax(dim=-2, keepdim=True)
    octave = int(round(1200.0 / cents_per_step))
    above = best + octave
    inside = above < salience.shape[-2]
    above_salience = salience.gather(-2, above.clamp_max(salience.shape[-2] - 1))
    best_salience = salience.gather(-2, best)
    best = torch.where(inside & (above_salience >= octave_ratio * best_salience)
                       & (best_salience > 0), above, best)
    # Parabolic refinement between the neighbouring candidates.
    left = salience.gather(-2, (best - 1).clamp_min(0))
    centre = salience.gather(-2, best)
    right = salience.gather(-2, (best + 1).clamp_max(salience.shape[-2] - 1))
    denom = left - 2 * centre + right
    offset = torch.where(denom.abs() > 1e-9, 0.5 * (left - right) / denom,
                         torch.zeros_like(denom))
    offset = offset.clamp(-0.5, 0.5)
    steps = best.to(compressed.dtype) + offset
    f0 = fmin * torch.pow(2.0, steps * cents_per_step / 1200)
    mass = compressed.amax(dim=-2, keepdim=True) * total_weight + 1e-6
    periodicity = (centre / mass).clamp(0, 1)
    return f0.squeeze(-2), periodicity.squeeze(-2)


def loudness_db(magnitude):
    """Frame energy in dB from a linear magnitude ``(..., n_freq, n_frames)``."""
    power = magnitude.pow(2).sum(dim=-2)
    return 10 * torch.log10(power + 1e-10)


def scaled_loudness(magnitude):
    """The loudness feature of each frame: its energy in dB, with 60 dB of
    dynamics around a typical STFT level mapped to about [-1, 1]."""
    return (loudness_db(magnitude) - 40.0) / 30.0


def content_features(magnitude, *, sr, n_fft, peak=None):
    """Stack the conditioning features the decoders use, per frame.

    Returns a tensor ``(..., 4, n_frames)``: log2 f0 relative to 440 Hz,
    periodicity, loudness scaled to roughly unit range, and the frame-to-frame
    loudness change (onsets), plus the raw f0 in Hz as a second output.
    A frame's features depend on the frame, the one before it
    (``FEATURE_CONTEXT``) and the clip's largest magnitude ``peak`` (see
    :func:`harmonic_f0`), and on nothing else.
    """
    f0, periodicity = harmonic_f0(magnitude, sr=sr, n_fft=n_fft, peak=peak)
    loud_scaled = scaled_loudness(magnitude)
    onset = torch.diff(loud_scaled, dim=-1, prepend=loud_scaled[..., :1])
    pitch = torch.log2(f0 / 440.0)
    return torch.stack([pitch, periodicity, loud_scaled, onset], dim=-2), f0


def smooth_loudness(values, context, causal=False):
    """Moving average over ``2 * context + 1`` frames of (B, C, T), centred
    or, when ``causal``, ending on each frame, with the edge frames repeated
    so a clip's ends are not pulled down."""
    left, right = smoothing_pads(context, causal)
    padded = F.pad(values, (left, right), mode="replicate")
    return F.avg_pool1d(padded, 2 * context + 1, stride=1)


def smoothing_pads(context, causal):
    """Frames repeated before and after a clip by :func:`smooth_loudness`."""
    return (2 * context, 0) if causal else (context, context)
