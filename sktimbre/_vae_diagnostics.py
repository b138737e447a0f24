"""What a fitted TimbreVAE measures of itself after training: how much of
the instrument its latent still carries, and whether its full conversions
come out at a sensible level."""

import math
import warnings

import torch

from ._training import FIT_FRAMES

__all__ = ["latent_domain_accuracy", "measure_fit", "warn_if_conversions_ran_away"]

# A fit whose full conversions of held-out crops stray more than this from
# the other instrument's level (beyond LEVEL_SLACK) has run away; default
# fits on the four development sources stay within 0.1 dB.
_MOST_LEVEL_ERROR_DB = 20.0
# Fits of fewer steps (smoke tests) are too short to be held to it.
_LEVEL_JUDGED_AFTER_STEPS = 100


@torch.no_grad()
def measure_fit(model, batches, n_steps):
    """Both measures below of the crops ``batches``, from one pass of the
    encoder over them: ``history_["latent_domain_accuracy"]`` and
    ``history_["conversion_level_error_db"]``, with its warning."""
    means = _posterior_means(model, batches)
    model.history_["latent_domain_accuracy"] = latent_domain_accuracy(
        model, batches, means)
    # Below fit's body: TrainingLoop.run, _after_training, here and the
    # warning's function, the last three each inside torch.no_grad's wrapper.
    warn_if_conversions_ran_away(model, batches, n_steps, means,
                                 stacklevel=8 + FIT_FRAMES)


def _posterior_means(model, batches, means=None):
    """The crops' posterior means: ``means`` when given, else encoded."""
    if means is not None:
        return means
    return [model._encode(batch.spec, batch.domain)[0] for batch in batches]


@torch.no_grad()
def latent_domain_accuracy(model, batches, means=None):
    """Share of the crops' latent frames whose instrument the latent's
    gradient-reversed classifier tells right: 0.5 is none left. ``means``
    are the crops' posterior means, when already at hand."""
    correct, count = 0.0, 0
    for batch, mean in zip(batches, _posterior_means(model, batches, means)):
        guess = model.latent_classifier_(mean) > 0
        truth = batch.domain[:, None].expand_as(guess) > 0.5
        correct += float((guess == truth).float().sum())
        count += guess.numel()
    return correct / max(count, 1)


@torch.no_grad()
def warn_if_conversions_ran_away(model, batches, n_steps, means=None, *,
                                 stacklevel=2):
    """Record in ``model.history_["conversion_level_error_db"]`` how far full
    conversions of the held-out crops ``batches`` stray from the level the
    other instrument plays their notes at (dB beyond ``LEVEL_SLACK``, see
    :func:`~sktimbre._vae_loudness.conversion_level_error`), and warn above
    20 dB after ``n_steps`` training steps: a fit whose renders ran away
    (or died away) converts to noise or silence, whatever its
    reconstruction loss says. ``means`` are the crops' posterior means, when
    already at hand."""
    errors = []
    for batch, mean in zip(batches, _posterior_means(model, batches, means)):
        converted = model._full_conversions(mean, batch)
        errors.append(float(model._conversion_levels(batch, converted)[2]))
    error_db = 20.0 / math.log(10.0) * (sum(errors) / max(len(errors), 1))
    model.history_["conversion_level_error_db"] = error_db
    if n_steps >= _LEVEL_JUDGED_AFTER_STEPS and error_db > _MOST_LEVEL_ERROR_DB:
        warnings.warn(
            "Full conversions of held-out training crops come out "
            f"{error_db:.1f} dB (on average, beyond a 3 dB slack) away from "
            "the level the other instrument plays the same notes at "
            '(history_["conversion_level_error_db"]), so transform will '
            "render far too loud or too quiet. Refit with another "
            "random_state or a lower lr, and check that X and y are "
            "recordings of two instruments at sensible levels.",
            UserWarning,
            stacklevel=stacklevel,
        )
