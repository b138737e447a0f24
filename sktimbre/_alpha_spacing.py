"""Where along a straight line between two timbres alpha should land.

Equal steps in log magnitude are not heard as equal steps of timbre: the
instrument that a listener (or a classifier of timbre features) hears turns
over well before the half-way point. A model that blends along such lines
can measure, once after training, how an instrument judge hears points along
them and space alpha so that the judgement moves evenly.
"""

import numpy as np

from ._classifier import InstrumentClassifier

# Positions at which the lines are judged, and the alphas the curve is
# tabulated at: 0, 0.1, ..., 1.
POSITIONS = np.linspace(0.0, 1.0, 11)
# Less rise than this along the lines, and the judge cannot space alpha.
_MIN_JUDGED_RISE = 0.05
# Timbre features (pitch tracks, harmonic ratios, vibrato) need a few frames
# of 2048 samples; shorter renders are not judged.
_MIN_JUDGED_SAMPLES = 8192


def even_steps(judgement):
    """Positions at alpha 0, 0.1, ..., 1 where ``judgement`` (P(B) at
    :data:`POSITIONS`) has risen by alpha's share of its whole rise.

    A judgement that does not rise (by at least ``_MIN_JUDGED_RISE``) gives
    equal steps.
    """
    judgement = np.asarray(judgement, dtype=np.float64)
    rise = judgement[-1] - judgement[0]
    if not np.isfinite(rise) or rise < _MIN_JUDGED_RISE:
        return POSITIONS.copy()
    share = np.clip((judgement - judgement[0]) / rise, 0.0, 1.0)
    share = np.maximum.accumulate(share)
    share[-1] = 1.0
    # Strictly increasing, as interpolation needs, without moving the ends.
    share = (share + 1e-6 * POSITIONS) / (1.0 + 1e-6)
    return np.interp(POSITIONS, share, POSITIONS)


def judge_lines(lines, transformer, *, real):
    """How an instrument judge hears points along lines of spectrograms.

    Parameters
    ----------
    lines : sequence of two lists of (start, end) pairs
        For each direction (pieces of A, pieces of B), normalised
        spectrograms ``(n_freq, n_frames)`` at position 0 (instrument A's
        end) and position 1 (B's end) of each line.
    transformer : SpectrogramTransformer
        Renders the points to audio, so that they are judged as heard.
    real : sequence of two lists of spectrograms
        Real pieces of A and of B, on whose renders the judge (an
        :class:`~sktimbre.metrics.InstrumentClassifier`) is fitted.

    Returns
    -------
    judgement : ndarray of shape (2, 11) or None
        Mean P(instrument B) at :data:`POSITIONS` along each direction's
        lines; None where there are too few long enough pieces to judge.
    """
    def long_enough(spec):
        # A plain array renders to (n_frames - 1) * hop_length samples.
        return (spec.shape[-1] - 1) * transformer.hop_length >= _MIN_JUDGED_SAMPLES

    def render(specs):
        # One batch per shape: Griffin-Lim runs on a batch at once.
        clips = []
        for shape in sorted({s.shape for s in specs}):
            same = np.stack([s for s in specs if s.shape == shape])
            clips += list(transformer.inverse_transform(same))
        return clips

    real = [[s for s in specs if long_enough(s)] for specs in real]
    lines = [[(start, end) for start, end in pairs if long_enough(start)]
             for pairs in lines]
    if min(len(specs) for specs in real) < 2 or min(len(p) for p in lines) < 1:
        return None
    examples = [render(specs) for specs in real]
    judge = InstrumentClassifier(sr=transformer.sr).fit(
        examples[0] + examples[1], [0] * len(examples[0]) + [1] * len(examples[1]))
    judgement = np.empty((2, len(POSITIONS)))
    for direction, pairs in enumerate(lines):
        p_b = [judge.predict_proba(render(
            [start + p * (end - start) for p in POSITIONS]))[:, 1]
            for start, end in pairs]
        judgement[direction] = np.mean(p_b, axis=0)
    return judgement
