"""What a TimbreVAE fit minimises, and the held-out loss that judges each
epoch."""

import torch
from torch.nn import functional as F

from ._nn import kl_divergence

__all__ = ["TrainingLossesMixin"]


class TrainingLossesMixin:
    """The training and held-out losses of :class:`~sktimbre.TimbreVAE`;
    needs its networks, ``_encode``, ``_decode``, ``_judged_alpha_loss`` and
    ``_conversion_adversarial``."""

    def _training_losses(self, batch):
        mean, log_var = self._encode(batch.spec, batch.domain)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        if self.latent_dropout > 0:
            # Some crops are rendered from pitch and loudness alone, as
            # conversions away from the input's own timbre are.
            shown = torch.rand(z.shape[0], 1, 1, device=z.device) >= self.latent_dropout
            z = z * shown.to(z.dtype)
        rebuilt = self._decode(z, batch.features, batch.f0, batch.domain)
        reconstruction = F.l1_loss(rebuilt, batch.spec)
        kl = kl_divergence(mean, log_var)
        frame_domain = batch.domain[:, None].expand(-1, batch.spec.shape[-1])
        adversarial = F.binary_cross_entropy_with_logits(
            self.latent_classifier_(z), frame_domain
        )
        domain = F.binary_cross_entropy_with_logits(
            self.domain_classifier_(batch.spec), frame_domain
        )
        loss = (
            reconstruction
            + self.beta * kl
            + self.lambda_adversarial * adversarial
            + domain
        )
        losses = {
            "reconstruction": reconstruction,
            "kl": kl,
            "adversarial": adversarial,
            "domain": domain,
        }
        if self.lambda_alpha > 0 or self.lambda_gan > 0:
            converted = self._full_conversions(z, batch)
        if self.lambda_alpha > 0:
            judged, level = self._judged_alpha_loss(z, batch, converted)
            losses["judged_alpha"], losses["judged_level"] = judged, level
            loss = loss + self.lambda_alpha * judged + level
        if self.lambda_gan > 0:
            losses["gan"] = self._conversion_adversarial(batch, converted)
            loss = loss + self.lambda_gan * losses["gan"]
        return {"loss": loss, **losses}

    @torch.no_grad()
    def _validation_loss(self, batches):
        self._set_train_mode(False)
        total = 0.0
        for batch in batches:
            mean, _ = self._encode(batch.spec, batch.domain)
            # A reconstruction reads the latent as a conversion at the
            # input's own timbre does (not at all if it was never shown).
            mean = self._latent_weight(batch.domain, batch.domain) * mean
            rebuilt = self._decode(mean, batch.features, batch.f0, batch.domain)
            total += float(F.l1_loss(rebuilt, batch.spec)) / len(batches)
        return total
