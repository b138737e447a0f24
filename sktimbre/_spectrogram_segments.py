"""What inverting a long spectrogram segment by segment needs from a
SpectrogramTransformer: how many frames of context a cut disturbs, and a
random initial phase that does not depend on where the cuts fall."""

import numpy as np
import torch

# Frames of random initial phase drawn from one generator; see _random_phase.
_PHASE_BLOCK = 256


class SegmentedInversionMixin:
    """Context and phase for :mod:`sktimbre._streaming`; reads the
    transformer's ``n_fft``, ``hop_length`` and ``n_iter``."""

    def _analysis_context(self):
        """Frames at each end of a stretch of audio whose STFT frames reach
        past it: their windows need samples from beyond a cut."""
        return -(-(self.n_fft // 2) // self.hop_length)

    def _synthesis_context(self):
        """Frames on each side of a stretch of frames that its inversion
        reads: every Griffin-Lim iteration (an inverse STFT and an STFT)
        couples frames whose windows overlap, less than n_fft / hop_length
        apart, and the last inverse STFT adds each sample's own windows."""
        per_iteration = -(-self.n_fft // self.hop_length)
        return self.n_iter * per_iteration + self._analysis_context()

    def _random_phase(self, seed, start, stop):
        """Griffin-Lim's random initial phase of frames ``start:stop`` of a
        long clip, ``(1 + n_fft // 2, stop - start)`` radians.

        Each block of ``_PHASE_BLOCK`` frames is drawn from a generator of its
        own, seeded by ``seed`` and the block's index, so a frame's phase does
        not depend on which segment of the clip it is inverted with.
        """
        first, last = start // _PHASE_BLOCK, (stop - 1) // _PHASE_BLOCK
        blocks = [
            torch.rand((_PHASE_BLOCK, 1 + self.n_fft // 2), generator=(
                torch.Generator().manual_seed(_block_seed(seed, block))))
            for block in range(first, last + 1)
        ]
        offset = first * _PHASE_BLOCK
        phase = torch.cat(blocks)[start - offset:stop - offset].T
        return (2 * np.pi * phase).numpy()


def _block_seed(seed, block):
    """The seed of one block of random phase: independent of the other
    blocks' and of other ``seed`` values' blocks."""
    return int(np.random.SeedSequence([seed, block]).generate_state(1)[0])
