"""The TimbreVAE's view of loudness: each instrument's loudness over its
register, the loudness the decoder reads relative to it, and the level a
render between the two instruments may have."""

import math

import torch
from torch.nn import functional as F

from ._features import LOUDNESS_CONTEXT, smooth_loudness
from ._nn import init_output_bias
from ._notes import VOICED_PERIODICITY
from ._spectrogram_rows import AMIN

# A render between the two instruments may stray this many nepers (about
# 3 dB) from the level in proportion between its two ends before it costs.
LEVEL_SLACK = 0.35
# One unit of the loudness feature, 30 dB, in nepers.
_NEPERS_PER_UNIT = 30.0 * math.log(10.0) / 20.0
# Frames quieter than this far below their clip's loudest do not count in an
# instrument's loudness statistics (rests, reverberation tails).
_VOICED_RANGE = 40.0 / 30.0


def loudness_stats(clips):
    """Each instrument's loudness over its register, (2, 3): for instrument A
    and B, the intercept and slope (per octave) of the least-squares line of
    sounding frames' loudness against their pitch, and the spread around it.

    Masked sums rather than indexing, so that the same code runs when a
    saved model's shapes are checked on PyTorch's meta device.
    """
    rows = []
    for domain in (0, 1):
        # Sums of 1, p, l, p^2, p*l, l^2 over sounding frames.
        sums = None
        for clip in clips:
            if clip.domain != domain:
                continue
            pitch, loud = clip.features[0].float(), clip.features[2].float()
            sounding = (loud > loud.max() - _VOICED_RANGE).float()
            terms = torch.stack([(sounding * term).sum() for term in (
                torch.ones_like(loud), pitch, loud, pitch * pitch, pitch * loud,
                loud * loud)])
            sums = terms if sums is None else sums + terms
        count, p, level, pp, pl, ll = [0.0] * 6 if sums is None else sums.tolist()
        count = max(count, 1.0)
        p, level, pp, pl, ll = (v / count for v in (p, level, pp, pl, ll))
        var_p = max(pp - p * p, 0.0)
        # A narrow register gives no reliable slope: the level alone is used.
        slope = (pl - p * level) / var_p if var_p > 0.01 else 0.0
        residual = max(ll - level * level - slope * slope * var_p, 0.0) ** 0.5
        rows.append([level - slope * p, slope, max(residual, 0.05)])
    return torch.tensor(rows, dtype=torch.float32)


def instrument_line(stats, weight):
    """Intercept, slope and spread of the loudness line (see
    :func:`loudness_stats`) of the instrument at ``weight``: 0 for A, 1 for
    B, a blend in between; each broadcast to ``weight``'s shape."""
    return tuple((1 - weight) * stats[0, i] + weight * stats[1, i] for i in range(3))


def relative_loudness(features, stats, source, causal=False):
    """Loudness (feature row 2) relative to what instrument ``source`` (0 for
    A, 1 for B, a blend in between; shape (B,)) plays at each frame's pitch
    (row 0), in units of its spread, by ``stats`` (from
    :func:`loudness_stats`), smoothed over ``LOUDNESS_CONTEXT`` frames each
    side (or, when ``causal``, twice as many before): (B, 1, T)."""
    pitch, loudness = features[:, 0:1], features[:, 2:3]
    intercept, slope, spread = instrument_line(
        stats, source.reshape(-1, 1, 1).to(loudness.dtype))
    expected = intercept + slope * pitch
    return smooth_loudness((loudness - expected) / spread, LOUDNESS_CONTEXT, causal)


def level_outside_ends(levels, domain, alpha):
    """Mean level (nepers) by which a render at ``alpha`` strays beyond
    ``LEVEL_SLACK`` from the level in proportion between its two ends.

    ``levels`` holds the frame levels (B, T) of the input itself (the end
    at its own ``domain``), of the full conversion (the other end) and of
    the render at ``alpha`` (B,).
    """
    own, other, rendered = levels
    is_b = (domain > 0.5)[:, None]
    level_a = torch.where(is_b, other, own)
    level_b = torch.where(is_b, own, other)
    between = level_a + alpha[:, None] * (level_b - level_a)
    return F.relu((rendered - between).abs() - LEVEL_SLACK).mean()


def conversion_level_error(own, other, features, stats, domain):
    """Mean level (nepers) by which a full conversion strays beyond
    ``LEVEL_SLACK`` from the level the other instrument plays the same
    notes at, over sounding frames.

    ``own`` and ``other`` are the frame levels (B, T) of crops of
    instrument ``domain`` (B,) and of their full conversions. A frame's
    loudness relative to its own instrument's line (in units of its
    spread, see :func:`loudness_stats`) is played at the same relative
    loudness on the other instrument's line: the conversion's level is the
    crop's, shifted by the difference between the two.
    """
    pitch, loud = features[:, 0], features[:, 2]
    weight = domain[:, None].to(loud.dtype)
    intercept, slope, spread_own = instrument_line(stats, weight)
    expected_own = intercept + slope * pitch
    intercept, slope, spread_other = instrument_line(stats, 1 - weight)
    expected_other = intercept + slope * pitch
    relative = (loud - expected_own) / spread_own
    # Loudness features are (dB - 40) / 30; levels are in nepers.
    shift = (expected_other + relative * spread_other - loud) * _NEPERS_PER_UNIT
    error = F.relu((other - (own + shift)).abs() - LEVEL_SLACK)
    sounding = (features[:, 1] > VOICED_PERIODICITY).to(error.dtype)
    return (error * sounding).sum() / sounding.sum().clamp_min(1.0)


def init_synth_levels(out, n_harmonics, transformer, train):
    """Start the synthesiser near the data's level: set the bias of its
    output layer ``out`` from the peaks and the floor of the magnitudes of
    the first training clips (harmonics first, then noise bands)."""
    magnitude = torch.cat([
        transformer.magnitude(c.spec.cpu().numpy()) for c in train[:8]
    ], dim=-1).cpu()
    log_peak = float(torch.log(magnitude.amax(dim=0) + AMIN).median())
    log_floor = float(torch.log(magnitude + AMIN).median())
    init_output_bias(out, log_floor)
    with torch.no_grad():
        k = torch.arange(1, n_harmonics + 1, dtype=torch.float32)
        out.bias[:n_harmonics] = log_peak - 1.0 - 1.5 * torch.log(k)
