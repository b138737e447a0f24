"""Where a TimbreCycleGAN's translations start, and how far training moved
them: the match-EQ prior each generator adds, the learnt change beyond it
(``change_db_``) and the warning when a fit learnt next to nothing."""

import warnings

import numpy as np
import torch

from ._alpha_spacing import evenly
from ._harmonic_comb import clip_comb
from ._training import FIT_FRAMES

__all__ = ["match_eq_prior", "measured_change", "warn_if_unlearnt"]

# A frame counts as sounding, for the match-EQ prior, above this share of
# its clip's loudest frame's summed magnitude (as MatchEQ counts them).
_SOUNDING = 0.01
# How the generators' change is measured after training (change_db_):
# the first frames of this many training pieces of each instrument.
_CHANGE_PIECES = 8
_CHANGE_FRAMES = 512
# The least mean learnt change in dB that a fit is expected to make: default
# fits learnt 2 to 8 dB on the development sources, while fits that learnt
# nothing stay under 0.5.
_LEAST_CHANGE_DB = 1.0
# Fits of fewer steps (smoke tests) are too short to be expected to move.
_JUDGED_AFTER_STEPS = 100


@torch.no_grad()
def match_eq_prior(train, transformer):
    """The per-row change of a fixed filter from instrument A to B, in
    normalised log magnitude: the median over B's sounding training frames
    minus the median over A's (a match-EQ of typical frames); zero where
    either instrument has no sounding frame.

    ``train`` holds clips with ``spec`` (n_freq, T) and ``domain`` (0 or 1);
    ``transformer`` is the fitted SpectrogramTransformer they came from.
    """
    medians = []
    for domain in (0, 1):
        frames = []
        for clip in train:
            if clip.domain != domain:
                continue
            magnitude = transformer.denormalise(clip.spec).exp()
            energy = magnitude.sum(0)
            frames.append(clip.spec[:, energy > _SOUNDING * energy.max()])
        if not frames or sum(f.shape[1] for f in frames) == 0:
            return torch.zeros(train[0].spec.shape[0], device=train[0].spec.device)
        # The median frame rather than the mean of the logs or of the
        # magnitudes: measured on every source, it cost the source where a
        # fixed filter helps least the least (docs/design.md).
        medians.append(torch.cat(frames, 1).median(1).values)
    return medians[1] - medians[0]


@torch.no_grad()
def measured_change(model, train):
    """Mean absolute change in dB of log magnitude that each of ``model``'s
    generators makes in a full translation, beyond its fixed prior, to the
    first frames of up to ``_CHANGE_PIECES`` training pieces of its source
    instrument: A to B, then B to A."""
    to_db = 20.0 / np.log(10.0)
    change = np.zeros(2)
    for domain, generator in ((0, model.generator_ab_), (1, model.generator_ba_)):
        clips = evenly([c for c in train if c.domain == domain], _CHANGE_PIECES)
        if not clips:
            continue
        pieces = [c.spec[:, :_CHANGE_FRAMES] for c in clips]
        scale = torch.as_tensor(model.spectrogram_.scale_, dtype=pieces[0].dtype,
                                device=pieces[0].device)[:, None]
        # The learnt part: the prior is there before any training.
        moved = [(generator.learnt_change(
                      piece[None], clip_comb(model, clip, piece.shape[-1]))[0]
                  * scale).abs() for piece, clip in zip(pieces, clips)]
        values = sum(m.numel() for m in moved)
        change[domain] = to_db * float(sum(m.sum() for m in moved)) / values
    return change


def warn_if_unlearnt(model, n_steps):
    """Warn, with both figures, when a fit of at least
    ``_JUDGED_AFTER_STEPS`` steps left either generator's learnt change
    (``model.change_db_``) under ``_LEAST_CHANGE_DB``: its translations are
    then about where they started."""
    change = model.change_db_
    if n_steps < _JUDGED_AFTER_STEPS or change.min() >= _LEAST_CHANGE_DB:
        return
    start = ("the fixed match-EQ filter it starts from" if model.match_eq
             else "its input")
    warnings.warn(
        "The generators learnt barely any change: a full translation moves "
        f"the training pieces by {change[0]:.3f} dB from A to B and "
        f"{change[1]:.3f} dB from B to A on average beyond where it starts "
        f"(change_db_), under the {_LEAST_CHANGE_DB} dB that any real "
        f"conversion moves them, so transform returns about {start} at every "
        "alpha. Train longer (max_epochs), raise lr, lower lambda_cycle or "
        "lambda_identity, and check that X and y hold two different "
        "instruments.",
        UserWarning,
        # fit -> ... -> _after_training -> here
        stacklevel=5 + FIT_FRAMES,
    )
