"""How the TimbreVAE's alpha names one voice whichever instrument came in:
the judged-alpha loss of training, and the spacing of alpha after it."""

import numpy as np
import torch
from torch.nn import functional as F

from ._alpha_spacing import judge_conversions, midpoint_steps, position, unspaced
from ._frozen import frozen
from ._nn import frame_loudness
from ._notes import VOICED_PERIODICITY
from ._spacing_judge import spacing_judge
from ._vae_loudness import conversion_level_error, level_outside_ends

__all__ = ["AlphaBlendMixin"]


class AlphaBlendMixin:
    """The judged-alpha loss and alpha spacing of
    :class:`~sktimbre.TimbreVAE`; needs its networks and ``_decode``."""

    def _judged_alpha_loss(self, z, batch, converted):
        """Render each crop at a random alpha and ask the input domain
        classifier, held fixed, to judge it P(B) = alpha; and the level of
        each frame of that render to lie between its levels at alpha 0 and
        1, in proportion (in dB), within ``LEVEL_SLACK``. The end at the
        crop's own instrument is the crop itself, as a conversion with
        ``keep_detail=1`` renders it.

        Reconstruction alone never shows the decoder another instrument's
        code with this content, so it may read the instrument from the
        latent, periodicity or loudness instead of the code; then alpha 0.5
        from a violin and from a flute are two voices. Judged at every alpha
        from both sides, the code must carry the instrument, and the same
        alpha is the same voice whatever the input was.

        A frame classifier is unsure of a quiet frame: without the level
        term the decoder learns to render the middle alphas tens of dB
        down, which the classifier judges 0.5 and no one hears as a blend.

        The levels are held to the crop's own level, not to its
        reconstruction's: renders held to a render (a target the same
        weights move) chase it. A level term weighs a frame's loudest bins
        hundreds of times more than the reconstruction's L1 over all bins,
        so when the full conversion lagged its reconstruction (as causal
        networks, reading no later frame, did on timgm6mb) each step that
        raised the conversion raised the reconstruction with it, and the
        renders' level ran away, about 90 dB in 30 steps, until the
        synthesiser's cap on its controls stopped every gradient
        (docs/design.md).
        """
        alpha = torch.rand_like(batch.domain)
        rendered = self._decode(self._latent_weight(batch.domain, alpha) * z,
                                batch.features, batch.f0, alpha, batch.domain)
        judge = self.domain_classifier_
        # The classifier learns from real spectrograms only: a rendering
        # moves the decoder, not the judge.
        with frozen(judge):
            logits = judge(rendered)
        # Silent frames carry no timbre to judge.
        voiced = (batch.features[:, 1] > VOICED_PERIODICITY).to(logits.dtype)
        target = alpha[:, None].expand_as(logits)
        frame_loss = F.binary_cross_entropy_with_logits(logits, target,
                                                        reduction="none")
        judged = (frame_loss * voiced).sum() / voiced.sum().clamp_min(1.0)
        # The ends' levels are the crop's own and the full conversion's,
        # which the render in between must not undercut. Nothing else fixes
        # the full conversion's level (anchored): the judge is unsure of
        # quiet frames and the renders between follow their ends.
        own_level, other_level, anchored = self._conversion_levels(batch, converted)
        level = frame_loudness(self.spectrogram_.denormalise(rendered))
        between = level_outside_ends([own_level, other_level.detach(), level],
                                     batch.domain, alpha)
        return judged, between + anchored

    def _full_conversions(self, z, batch):
        """Each crop rendered as the other instrument, from latents ``z``
        weighed as a conversion there weighs them."""
        other_end = 1.0 - batch.domain
        return self._decode(self._latent_weight(batch.domain, other_end) * z,
                            batch.features, batch.f0, other_end, batch.domain)

    def _conversion_levels(self, batch, converted):
        """Frame levels (nepers) of the crops and of their full conversions
        ``converted`` to the other instrument, and by how much the
        conversions stray from the other instrument's level
        (:func:`~sktimbre._vae_loudness.conversion_level_error`)."""
        own_level, other_level = (
            frame_loudness(self.spectrogram_.denormalise(spec))
            for spec in (batch.spec, converted))
        error = conversion_level_error(own_level, other_level, batch.features,
                                       self.decoder_.loudness_stats, batch.domain)
        return own_level, other_level, error

    def _space_alpha(self, train):
        """Judge the decoder alone along its code; put alpha 0.5 where it is
        heard half way between the instruments (``alpha_curve_``)."""
        self.alpha_curve_, self.alpha_judgement_ = unspaced()
        if self.calibrate_alpha is False:
            return
        # What alpha 0.5 renders from either instrument's piece is the
        # decoder alone (no latent, none of the input's detail): judged along
        # its code, that voice is what the spacing places. The ends keep the
        # input or the full conversion whatever the code's spacing.
        judge = spacing_judge(self.calibrate_alpha, self.spectrogram_.sr)
        judgement = judge_conversions(self._render_alone, train, self.spectrogram_,
                                      judge)
        if judgement is not None:
            self.alpha_judgement_ = judgement
            # One spacing for both instruments' pieces: the same alpha is
            # the same voice whichever instrument came in.
            self.alpha_curve_ = np.tile(midpoint_steps(judgement.mean(axis=0)), (2, 1))

    def _render_alone(self, spec, source_alpha, position):
        """Normalised spectrogram of ``spec`` (a piece of instrument
        ``source_alpha``, 0 or 1) as alpha 0.5 renders it, its code at
        decoder alpha ``position``: half a step from the source, the latent
        is weighed as there and none of the input's detail is kept."""
        return self._convert_by(
            spec, lambda chunk: self._convert_chunk(chunk, source_alpha, 0.5, position))

    def _position(self, alpha):
        """Where the timbre code sits for the ``alpha`` asked for."""
        # Both rows of the curve are the same spacing.
        return position(alpha, getattr(self, "alpha_curve_", None), 0)
