"""What a TimbreVAE's decoder reads besides the timbre code, and how many
frames around each frame that reaches."""

import torch

from ._features import FEATURE_CONTEXT, LOUDNESS_CONTEXT
from ._nn import context_frames
from ._notes import counted_frames, note_position, note_rows
from ._vae_loudness import relative_loudness

__all__ = ["DecoderInputsMixin", "n_decoder_features"]


def n_decoder_features(model):
    """Rows of :meth:`DecoderInputsMixin._decoder_inputs` before the latent:
    pitch, relative loudness and the note's position."""
    return 2 + note_rows(counted_frames(model), model.causal)


class DecoderInputsMixin:
    """``_decoder_inputs`` and ``_conversion_margin`` of
    :class:`~sktimbre.TimbreVAE`; the model provides ``decoder_``,
    ``encoder_``, ``causal`` and ``note_frames``."""

    def _decoder_inputs(self, z, features, source):
        """What the decoder reads besides the code: pitch, the loudness
        contour relative to the source instrument's own, smoothed, where
        the frame sits in its note, and the latent.

        The decoder must not be able to tell the source instrument from what
        it reads, or alpha 0.5 from a violin and from a flute are two voices.
        Measured on paired pieces, the loudness contour told it most: each
        instrument has its own level, its own loudness across its register
        (up to 10 dB per octave apart) and its own attack. So loudness is
        read relative to what the source instrument (``source``, 0 for A and
        1 for B, in between for a blend) plays at that pitch, in units of its
        spread, and smoothed over about 0.1 s, which keeps the phrasing and
        drops the attack; periodicity and onsets, which differ between a bow
        and a breath, are not read as such. Where each frame sits in its
        note (:func:`~sktimbre._notes.note_position`, ``note_frames``: whether
        it sounds, by a low periodicity threshold, and how far it is from
        the note's start and end) is the same whoever plays the notes, and
        lets the decoder play its own instrument's attack and decay.
        """
        pitch = features[:, 0:1]
        loudness = relative_loudness(features, self.decoder_.loudness_stats, source,
                                     self.causal)
        rows = [pitch, loudness]
        frames = counted_frames(self)
        if frames > 0:
            rows.append(note_position(features[:, 0], features[:, 1], frames,
                                      not self.causal))
        return torch.cat([*rows, z], dim=1)

    def _conversion_margin(self):
        # The decoder reads latents and content features around each frame;
        # a latent reads the spectrogram around its own frame. Causal
        # networks read all of their receptive field before the frame.
        def context(field):
            return field - 1 if self.causal else context_frames(field)

        encoder = max(context(e.receptive_field) for e in self.encoder_)
        loudness = LOUDNESS_CONTEXT * (2 if self.causal else 1)
        # A note's position reads note_frames + 1 frames on the side it
        # counts, both sides unless causal.
        frames = counted_frames(self)
        notes = frames + 1 if frames > 0 else 0
        return context(self.decoder_.receptive_field) + max(
            encoder, FEATURE_CONTEXT + loudness, notes)
