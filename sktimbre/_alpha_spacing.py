"""Where along a straight line between two timbres alpha should land.

Equal steps in log magnitude are not heard as equal steps of timbre: the
instrument that a listener (or a classifier of timbre features) hears turns
over well before the half-way point. A model that blends along such lines
can measure, once after training, how an instrument judge hears points along
them and space alpha so that the judgement moves evenly.
"""

import numpy as np

# Positions at which the lines are judged, and the alphas the curve is
# tabulated at: 0, 0.1, ..., 1.
POSITIONS = np.linspace(0.0, 1.0, 11)
# Less rise than this along the lines, and the judge cannot space alpha.
_MIN_JUDGED_RISE = 0.05
# Timbre features (pitch tracks, harmonic ratios, vibrato) need a few frames
# of 2048 samples; shorter renders are not judged.
_MIN_JUDGED_SAMPLES = 8192
# How the lines are judged after training: this many pieces per instrument,
# their first seconds, and this many real pieces to fit the judge on.
JUDGED_PIECES = 6
JUDGED_SECONDS = 2.0
JUDGE_EXAMPLES = 24


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


def midpoint_steps(judgement, middle=0.5):
    """Positions at alpha 0, 0.1, ..., 1 that put alpha 0.5 where
    ``judgement`` (P(B) at :data:`POSITIONS`, made non-decreasing) first
    reaches ``middle``, in equal steps on either side of it.

    The ends stay where they are. A judgement that does not rise (by at
    least ``_MIN_JUDGED_RISE``) gives equal steps; one that is above
    ``middle`` from the start puts alpha 0.5 at position 0, and one that
    never reaches it at position 1.

    Examples
    --------
    >>> heard = [0.3, 0.5, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 1.0]
    >>> float(midpoint_steps(heard)[5])  # alpha 0.5: where one half is heard
    0.1
    """
    judgement = np.asarray(judgement, dtype=np.float64)
    rise = judgement[-1] - judgement[0]
    if not np.isfinite(rise) or rise < _MIN_JUDGED_RISE:
        return POSITIONS.copy()
    heard = np.maximum.accumulate(judgement)
    above = np.flatnonzero(heard >= middle)
    if len(above) == 0:
        where = 1.0
    elif above[0] == 0:
        where = 0.0
    else:
        low = above[0] - 1
        share = (middle - heard[low]) / (heard[low + 1] - heard[low])
        where = POSITIONS[low] + share * (POSITIONS[low + 1] - POSITIONS[low])
    return np.interp(POSITIONS, [0.0, 0.5, 1.0], [0.0, where, 1.0])


def unspaced():
    """``(alpha_curve_, alpha_judgement_)`` of alpha in equal steps, with
    nothing judged."""
    return np.tile(POSITIONS, (2, 1)), np.full((2, len(POSITIONS)), np.nan)


def judged_pieces(train, transformer):
    """The first :data:`JUDGED_SECONDS` of each training clip's spectrogram
    (a tensor), instrument A's then B's."""
    frames = int(JUDGED_SECONDS * transformer.sr / transformer.hop_length) + 1
    return [[c.spec[:, :frames] for c in train if c.domain == d] for d in (0, 1)]


def position(alpha, curve, row):
    """Where ``alpha`` lands by row ``row`` of a model's ``alpha_curve_``
    (``alpha`` itself when the model has none)."""
    if curve is None:
        return float(alpha)
    return float(np.interp(alpha, POSITIONS, curve[row]))


def evenly(items, count):
    """Up to ``count`` of ``items``, spread evenly over the list."""
    if len(items) <= count:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, count).astype(int)]


def long_enough(spec, transformer):
    """Whether a spectrogram renders to enough audio to be judged."""
    # A plain array renders to (n_frames - 1) * hop_length samples.
    return (spec.shape[-1] - 1) * transformer.hop_length >= _MIN_JUDGED_SAMPLES


def judge_lines(lines, transformer, *, real, judge):
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
        Real pieces of A and of B, on whose renders the judge is fitted.
    judge : classifier
        Unfitted; fitted here on those renders with labels 0 (A) and 1 (B),
        then asked ``predict_proba`` (see
        :func:`sktimbre._spacing_judge.spacing_judge`).

    Returns
    -------
    judgement : ndarray of shape (2, 11) or None
        Mean P(instrument B) at :data:`POSITIONS` along each direction's
        lines; None where there are too few long enough pieces to judge.
    """
    paths = [[[start + p * (end - start) for p in POSITIONS] for start, end in pairs]
             for pairs in lines]
    return judge_paths(paths, transformer, real=real, judge=judge)


def judge_paths(paths, transformer, *, real, judge):
    """How an instrument judge hears renderings of pieces along alpha.

    Parameters
    ----------
    paths : sequence of two lists of lists
        For each direction (pieces of A, pieces of B), one list per piece of
        its normalised spectrograms ``(n_freq, n_frames)`` at the 11
        :data:`POSITIONS`.
    transformer : SpectrogramTransformer
        Renders the spectrograms to audio, so that they are judged as heard.
    real : sequence of two lists of spectrograms
        Real pieces of A and of B, on whose renders the judge is fitted.
    judge : classifier
        Unfitted; fitted here on those renders with labels 0 (A) and 1 (B),
        then asked ``predict_proba`` (see
        :func:`sktimbre._spacing_judge.spacing_judge`).

    Returns
    -------
    judgement : ndarray of shape (2, 11) or None
        Mean P(instrument B) at each position along each direction's
        pieces; None where there are too few long enough pieces to judge.
    """
    def render(specs):
        # One batch per shape: Griffin-Lim runs on a batch at once.
        clips = [None] * len(specs)
        for shape in sorted({s.shape for s in specs}):
            where = [i for i, s in enumerate(specs) if s.shape == shape]
            batch = np.stack([specs[i] for i in where])
            rendered = transformer.inverse_transform(batch)
            for i, clip in zip(where, rendered):
                clips[i] = clip
        return clips

    real = [[s for s in specs if long_enough(s, transformer)] for specs in real]
    paths = [[path for path in group if long_enough(path[0], transformer)]
             for group in paths]
    if min(len(specs) for specs in real) < 2 or min(len(g) for g in paths) < 1:
        return None
    examples = [render(specs) for specs in real]
    judge = judge.fit(
        examples[0] + examples[1], [0] * len(examples[0]) + [1] * len(examples[1]))
    judgement = np.empty((2, len(POSITIONS)))
    for direction, group in enumerate(paths):
        # Every position of every piece in one batch per shape.
        flat = [spec for path in group for spec in path]
        p_b = judge.predict_proba(render(flat))[:, 1].reshape(len(group), -1)
        judgement[direction] = p_b.mean(axis=0)
    return judgement


def judge_conversions(convert, train, transformer, judge):
    """How ``judge`` hears a model's conversions of its training pieces
    along alpha.

    Parameters
    ----------
    convert : callable
        ``convert(spectrogram, source_alpha, alpha)``: the model's normalised
        spectrogram of a piece of instrument ``source_alpha`` (0 or 1)
        rendered at ``alpha``.
    train : list
        The model's training clips (``.spec``, ``.domain``).
    transformer : SpectrogramTransformer
        Renders the spectrograms to audio.
    judge : classifier
        Unfitted; see :func:`judge_paths`.

    Returns
    -------
    judgement : ndarray of shape (2, 11) or None
        As :func:`judge_paths`; None where fewer than two pieces of an
        instrument are long enough to judge.
    """
    real = [[piece.cpu().numpy() for piece in group
             if long_enough(piece, transformer)]
            for group in judged_pieces(train, transformer)]
    if min(len(group) for group in real) < 2:
        return None
    paths = [[[convert(piece, float(domain), float(p)) for p in POSITIONS]
              for piece in evenly(real[domain], JUDGED_PIECES)]
             for domain in (0, 1)]
    examples = [evenly(group, JUDGE_EXAMPLES) for group in real]
    return judge_paths(paths, transformer, real=examples, judge=judge)
