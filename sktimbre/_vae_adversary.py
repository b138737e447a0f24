"""The TimbreVAE's optional adversary (``lambda_gan``): a discriminator per
instrument that tells its real crops from the other instrument's crops
converted to it."""

import torch

from ._frozen import frozen
from ._least_squares_gan import judged_loss, least_squares
from ._nn import PatchDiscriminator

__all__ = ["ConversionAdversaryMixin"]

# The discriminators read the spectrogram's normalised rows, as the
# TimbreCycleGAN's do, with its default width.
_DISCRIMINATOR_WIDTH = 64


class ConversionAdversaryMixin:
    """Discriminators of full conversions for :class:`~sktimbre.TimbreVAE`;
    needs its ``lambda_gan``, ``optimizer_`` and ``_optimize``."""

    _discriminator_names = ("discriminator_a_", "discriminator_b_")

    def _build_discriminators(self, n_freq):
        # Only a fit with lambda_gan has discriminators; otherwise the names
        # hold modules without weights, so model files stay as they were.
        for name in self._discriminator_names:
            setattr(self, name, PatchDiscriminator(n_freq, _DISCRIMINATOR_WIDTH)
                    if self.lambda_gan > 0 else torch.nn.Identity())

    def _add_discriminator_group(self, optimizer):
        """Give the discriminators their own group of ``optimizer``, with the
        momentum adversaries train with (as the TimbreCycleGAN's). Each
        update steps only the parameters its loss reached, so one optimiser
        serves both sides; without discriminators it is left as it was."""
        judges = [p for name in self._discriminator_names
                  for p in getattr(self, name).parameters()]
        if judges:
            optimizer.add_param_group({"params": judges, "betas": (0.5, 0.999)})

    def _conversion_adversarial(self, batch, converted):
        """Update the discriminators once, then return the decoder's
        least-squares loss for being told apart from the real crops.

        ``converted[i]`` is crop ``i`` rendered as the other instrument (the
        full conversion, which reads no latent and none of the input's
        detail), so a violin crop's conversion is judged against real flute
        crops of the same batch, and the other way round.
        """
        if not isinstance(self.discriminator_a_, PatchDiscriminator):
            raise ValueError(
                "lambda_gan is above 0, but this model was first fitted with "
                "lambda_gan=0 and has no discriminators to continue with; fit "
                "it again with warm_start=False.")
        is_b = batch.domain > 0.5
        real = (batch.spec[~is_b], batch.spec[is_b])
        fake = (converted[is_b], converted[~is_b])
        judges = (self.discriminator_a_, self.discriminator_b_)
        judged = [judged_loss(judge, own, other.detach())
                  for judge, own, other in zip(judges, real, fake) if len(own)]
        if judged:
            self._optimize(sum(judged) / len(judged), [self.optimizer_])
        with frozen(*judges):
            fooled = [least_squares(judge(other), 1.0)
                      for judge, other in zip(judges, fake) if len(other)]
        return sum(fooled) / max(len(fooled), 1)
