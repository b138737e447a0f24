"""The TimbreCycleGAN's losses: adversarial (least squares), cycle,
identity, harmonic contrast and loudness, and the held-out cycle error."""

import torch
from torch.nn import functional as F

from ._frozen import frozen
from ._harmonic_comb import model_comb
from ._least_squares_gan import judged_loss, least_squares
from ._nn import frame_loudness

__all__ = ["CycleGANLossMixin"]

_CONTRAST_HARMONICS = 6
_CONTRAST_DECAY = 0.8
# Two instruments playing the same notes differ in level by a few dB, so
# only a loudness change beyond this many nepers (about 6 dB) costs.
_LOUDNESS_SLACK = 0.7


class CycleGANLossMixin:
    """The losses of :class:`~sktimbre.TimbreCycleGAN`; needs its networks,
    optimisers and loss weights."""

    # ------------------------------------------------------------- losses
    def _training_losses(self, batch):
        """Update the discriminators, then return the generators' losses.

        The base class steps the generators' optimiser with ``"loss"``; the
        judges take their own least-squares step here first, on the current
        translations detached from the generators.
        """
        is_b = batch.domain > 0.5
        real_a, real_b = batch.spec[~is_b], batch.spec[is_b]
        n_a, n_b = len(real_a), len(real_b)
        # Each generator sees the other instrument (to translate) and its own
        # (for the identity loss) in one call: fewer, larger convolutions.
        # A translation and its way back share the input's pitch, so its
        # harmonic comb (None when the generators draw none).
        comb_a, comb_b = self._harmonic_combs(batch, is_b)
        fake_b, same_b = self.generator_ab_(
            torch.cat([real_a, real_b]), _joined(comb_a, comb_b)).split([n_a, n_b])
        fake_a, same_a = self.generator_ba_(
            torch.cat([real_b, real_a]), _joined(comb_b, comb_a)).split([n_b, n_a])
        cycled_a = self.generator_ba_(fake_b, comb_a)
        cycled_b = self.generator_ab_(fake_a, comb_b)

        judged = [
            (self.discriminator_a_, real_a, fake_a),
            (self.discriminator_b_, real_b, fake_b),
        ]
        if self.second_adversarial:
            judged += [
                (self.discriminator_a2_, real_a, cycled_a),
                (self.discriminator_b2_, real_b, cycled_b),
            ]
        discriminator = sum(
            judged_loss(judge, real, fake.detach()) for judge, real, fake in judged
        ) / len(judged)
        frame_domain = batch.domain[:, None].expand(-1, batch.spec.shape[-1])
        domain = F.binary_cross_entropy_with_logits(
            self.domain_classifier_(batch.spec), frame_domain)
        self._optimize(discriminator + domain, self._optimizers(
            ("discriminator_optimizer_",)))

        # The judges are fixed while the generators learn to fool them.
        judges = [getattr(self, name) for name in self._discriminator_names]
        with frozen(*judges):
            adversarial = 0.5 * (
                least_squares(self.discriminator_b_(fake_b), 1.0)
                + least_squares(self.discriminator_a_(fake_a), 1.0)
            )
        cycle = 0.5 * (F.l1_loss(cycled_a, real_a) + F.l1_loss(cycled_b, real_b))
        # The fixed prior (match-EQ, or zero) is the translation's known
        # part: identity and loudness ask the learnt part alone to keep its
        # input, so neither pulls the prior back to zero.
        prior_ab = self.generator_ab_.prior[:, None]
        prior_ba = self.generator_ba_.prior[:, None]
        identity = 0.5 * (F.l1_loss(same_b - prior_ab, real_b)
                          + F.l1_loss(same_a - prior_ba, real_a))
        # Both content losses compare log magnitudes: undo the normalisation
        # once per tensor.
        log_a, log_b, log_fake_b, log_fake_a = (
            self.spectrogram_.denormalise(spec)
            for spec in (real_a, real_b, fake_b, fake_a))
        pitch = 0.5 * (
            self._contrast_lost(log_a, log_fake_b, batch, ~is_b)
            + self._contrast_lost(log_b, log_fake_a, batch, is_b)
        )
        filtered_a, filtered_b = (
            self.spectrogram_.denormalise(spec)
            for spec in (real_a + prior_ab, real_b + prior_ba))
        loudness = 0.5 * (_loudness_moved(filtered_a, log_fake_b)
                          + _loudness_moved(filtered_b, log_fake_a))
        losses = {"adversarial": adversarial, "cycle": cycle, "identity": identity,
                  "pitch": pitch, "loudness": loudness}
        total = adversarial + self.lambda_cycle * cycle + (
            self.lambda_identity * identity) + self.lambda_pitch * pitch + (
            self.lambda_loudness * loudness)
        if self.second_adversarial:
            with frozen(*judges):
                second = 0.5 * (
                    least_squares(self.discriminator_a2_(cycled_a), 1.0)
                    + least_squares(self.discriminator_b2_(cycled_b), 1.0)
                )
            losses["second_adversarial"] = second
            total = total + second
        return {"loss": total, **losses, "discriminator": discriminator.detach(),
                "domain": domain.detach()}

    def _harmonic_combs(self, batch, is_b):
        """The harmonic combs of a batch's clips of A and of B, or
        ``(None, None)`` when the generators draw no harmonics."""
        comb = model_comb(self, batch.f0, batch.features[:, 1])
        if comb is None:
            return None, None
        return comb[~is_b], comb[is_b]

    def _contrast_lost(self, real, fake, batch, rows):
        """Harmonic contrast of ``real`` that ``fake`` lost, in nepers,
        weighted by how periodic each frame is; both are log magnitudes."""
        # Row centre frequencies, linear or mel alike.
        centres = torch.as_tensor(self.spectrogram_.frequencies_, dtype=real.dtype,
                                  device=real.device)
        f0, periodicity = batch.f0[rows], batch.features[rows, 1]
        kept, wanted = (_harmonic_contrast(spec, f0, centres) for spec in (fake, real))
        return (periodicity * F.relu(wanted - kept)).mean()

    @torch.no_grad()
    def _validation_loss(self, batches):
        """Held-out cycle plus identity L1: how faithfully pieces come back."""
        self._set_train_mode(False)
        total = 0.0
        for batch in batches:
            is_b = batch.domain > 0.5
            comb_a, comb_b = self._harmonic_combs(batch, is_b)
            errors = []
            for real, comb, there, back in (
                (batch.spec[~is_b], comb_a, self.generator_ab_, self.generator_ba_),
                (batch.spec[is_b], comb_b, self.generator_ba_, self.generator_ab_),
            ):
                if len(real):
                    errors.append(F.l1_loss(back(there(real, comb), comb), real))
                    errors.append(F.l1_loss(back(real, comb), real))
            total += float(sum(errors) / len(errors)) / len(batches)
        return total


def _harmonic_contrast(log_magnitude, f0, centres):
    """Decay-weighted sum over harmonics k of the log magnitude at k * f0
    minus that at (k - 1/2) * f0, per frame.

    ``log_magnitude`` is (batch, n_rows, T), ``f0`` (batch, T) in Hz and
    ``centres`` the rows' centre frequencies (linear or mel); returns
    (batch, T).
    """
    total = torch.zeros_like(f0)
    for k in range(1, _CONTRAST_HARMONICS + 1):
        weight = _CONTRAST_DECAY ** (k - 1)
        audible = (f0 * k < centres[-2]).to(f0.dtype)
        peak = _at_frequency(log_magnitude, f0 * k, centres)
        trough = _at_frequency(log_magnitude, f0 * (k - 0.5), centres)
        total = total + weight * audible * (peak - trough)
    return total


def _at_frequency(values, hz, centres):
    """``values`` (batch, n_rows, T) interpolated linearly between the rows
    whose centre frequencies bracket ``hz`` (batch, T)."""
    upper = torch.searchsorted(centres, hz.contiguous()).clamp(1, len(centres) - 1)
    lower = upper - 1
    frac = ((hz - centres[lower]) / (centres[upper] - centres[lower])).clamp(0, 1)
    low_values = values.gather(1, lower[:, None]).squeeze(1)
    high_values = values.gather(1, upper[:, None]).squeeze(1)
    return low_values + frac * (high_values - low_values)


def _loudness_moved(real, fake):
    """Mean change of frame loudness from ``real`` to ``fake`` (log
    magnitudes, batch, n_rows, T) beyond the slack, in nepers: the log of a
    frame's summed power, halved."""
    moved = [frame_loudness(log_magnitude) for log_magnitude in (real, fake)]
    return F.relu((moved[1] - moved[0]).abs() - _LOUDNESS_SLACK).mean()


def _joined(first, second):
    """Two batches' combs as one, or None when there are none."""
    return None if first is None else torch.cat([first, second])
