"""A learnt skirt around each harmonic the TimbreVAE's synthesiser renders."""

import torch
from torch import nn

__all__ = ["HarmonicSkirt"]

# Where the skirt starts, in log10 amplitude relative to a lobe's level at
# 1, 2, 3, 4 bins (and 4's beyond): about the Hann window's own sidelobes.
_START = (-3.0, -1.5, -2.0, -2.4)


class HarmonicSkirt(nn.Module):
    """What a skirt of ``bins`` bins on each side adds to main lobes.

    The main lobe is what a steady sinusoid gives under the window. What an
    instrument's STFT shows around each harmonic is wider: the window's
    sidelobes, and the spread of a partial whose level and pitch move within
    the window. The skirt spreads every rendered main lobe by a symmetric
    kernel over bins that is 0 at the centre, the same for every harmonic
    and both instruments, so it widens each peak without moving it: pitch
    is kept.

    Parameters
    ----------
    bins : int
        Bins on each side of a lobe the skirt reaches.

    Examples
    --------
    >>> import torch
    >>> lobes = torch.zeros(1, 1, 9)
    >>> lobes[0, 0, 4] = 1.0
    >>> skirt = HarmonicSkirt(bins=2)(lobes)[0, 0]
    >>> bool(skirt[4] == 0 and skirt[3] == skirt[5] > 0 and skirt[0] == 0)
    True
    """

    def __init__(self, bins):
        super().__init__()
        self.bins = int(bins)
        start = [_START[min(d, len(_START)) - 1] for d in range(1, self.bins + 1)]
        # In units of 20 dB, so that a fit's steps move it by tens of dB, as
        # they move the decoder's log amplitudes.
        self.levels = nn.Parameter(torch.tensor(start, dtype=torch.float32))

    def forward(self, lobes):
        """Spread of ``lobes`` ``(batch, frames, bins)``, the main lobes alone."""
        side = torch.pow(10.0, self.levels.clamp(max=0.0))
        reach = self.bins
        padded = nn.functional.pad(lobes, (reach, reach))
        n_bins = lobes.shape[-1]
        # Shifted copies rather than a one-channel convolution, which runs
        # some ten times slower forward and back on a CPU.
        spread = torch.zeros_like(lobes)
        for d in range(1, reach + 1):
            spread = spread + side[d - 1] * (
                padded[..., reach - d:reach - d + n_bins]
                + padded[..., reach + d:reach + d + n_bins])
        return spread
