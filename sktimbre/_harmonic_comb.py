"""Where a frame's harmonics lie, as rows of a spectrogram: what the
TimbreCycleGAN's generators may draw a harmonic into."""

import torch

from ._notes import VOICED_PERIODICITY

__all__ = ["clip_comb", "harmonic_comb", "model_comb"]

# Half width of a comb peak, in harmonic numbers (a harmonic's peak in a
# Hann-windowed 1024-point frame of a note with vibrato spans about a tenth
# of the spacing of low harmonics).
COMB_WIDTH = 0.12
# Harmonics drawn; the TimbreVAE's synthesiser renders as many by default.
COMB_HARMONICS = 60


def harmonic_comb(f0, periodicity, frequencies, *, width=COMB_WIDTH,
                  n_harmonics=COMB_HARMONICS):
    """A comb of peaks at the harmonics of ``f0`` over spectrogram rows.

    Each row's centre frequency divided by the frame's f0 is a harmonic
    number ``h``; the comb is ``exp(-(h - round(h))^2 / (2 width^2))`` for
    the first ``n_harmonics`` harmonics of frames that sound, and 0
    elsewhere (below half the fundamental, above the last harmonic, in
    unpitched frames). A generator that adds a learnt multiple of it to a
    row raises or lowers that row only where a harmonic of the input's
    pitch falls, which is how one instrument's harmonics are drawn where
    the other's are too weak to be scaled.

    Parameters
    ----------
    f0 : torch.Tensor of shape (B, T)
        Fundamental per frame in Hz. Frames whose f0 is not positive (0 or
        NaN where the tracker found none) get no comb.
    periodicity : torch.Tensor of shape (B, T)
        The pitch tracker's periodicity; frames at or below the threshold
        the models count as sounding (0.05) get no comb.
    frequencies : array-like of shape (n_rows,)
        Centre frequency of each row in Hz (linear or mel rows alike).
    width : float, default=0.12
    n_harmonics : int, default=60

    Returns
    -------
    torch.Tensor of shape (B, n_rows, T), values in [0, 1].

    Examples
    --------
    >>> import torch
    >>> from sktimbre._harmonic_comb import harmonic_comb
    >>> comb = harmonic_comb(torch.full((1, 1), 100.0), torch.ones(1, 1),
    ...                      [50.0, 100.0, 150.0, 200.0])
    >>> [round(v, 2) for v in comb[0, :, 0].tolist()]
    [0.0, 1.0, 0.0, 1.0]
    """
    centres = torch.as_tensor(frequencies, dtype=f0.dtype, device=f0.device)
    pitched = (periodicity > VOICED_PERIODICITY) & (f0 > 0)
    # Unpitched frames divide by a harmless stand-in; their comb is zeroed.
    harmonic = centres[None, :, None] / torch.where(pitched, f0, 1.0)[:, None, :]
    comb = torch.exp(-0.5 * ((harmonic - torch.round(harmonic)) / width) ** 2)
    drawn = (harmonic > 0.5) & (harmonic < n_harmonics + 0.5) & pitched[:, None, :]
    return comb * drawn.to(comb.dtype)


def model_comb(model, f0, periodicity):
    """The comb of harmonics (B, n_rows, T) of frames with ``f0`` and
    ``periodicity`` (B, T) over ``model``'s spectrogram rows, or None when
    its generators draw no harmonics (``draw_harmonics=False``)."""
    if not model.draw_harmonics:
        return None
    return harmonic_comb(f0, periodicity, model.spectrogram_.frequencies_)


def clip_comb(model, clip, frames):
    """:func:`model_comb` of a prepared clip's first ``frames`` frames, as a
    batch of one."""
    return model_comb(model, clip.f0[None, :frames], clip.features[None, 1, :frames])
