"""The constants of a fitted spectrogram, built once per device.

A :class:`~sktimbre.SpectrogramTransformer` turns audio into rows and back
with a few fixed tensors: the STFT window, the mel filter bank (and, to
invert it, its Gram matrix and pseudo-inverse) and the per-row statistics of
the normalisation. :class:`SpectralKernels` holds them as registered buffers,
as torchaudio's transforms hold their windows, so they are made once on the
device that uses them and shared by Griffin-Lim (every iteration) and by the
models' losses (every training step), instead of being rebuilt per call.
"""

import torch

from ._dsp import hann_window


class SpectralKernels(torch.nn.Module):
    """Window, mel bank and normalisation statistics of one transformer.

    Every buffer is computed on ``device`` itself, in the order the
    functions of :mod:`sktimbre._dsp` computed it per call, so results are
    the same as before, bit for bit.

    Parameters
    ----------
    transformer : SpectrogramTransformer
        Fitted; read once, here.
    device : torch.device

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sktimbre import SpectrogramTransformer
    >>> spec = SpectrogramTransformer(n_fft=128, hop_length=32, n_mels=8, device="cpu")
    >>> spec = spec.fit(np.ones((2, 1000), dtype=np.float32))
    >>> kernels = SpectralKernels(spec, torch.device("cpu"))
    >>> kernels.window.shape, kernels.mel_basis.shape, kernels.mel_pinv.shape
    (torch.Size([128]), torch.Size([8, 65]), torch.Size([65, 8]))
    """

    def __init__(self, transformer, device):
        super().__init__()
        win_length = transformer.win_length or transformer.n_fft
        self.register_buffer("window", hann_window(win_length, device))
        # float32, as every tensor the models and Griffin-Lim compute with.
        for name in ("mean", "scale"):
            # fit computes log magnitudes before it has the statistics.
            values = getattr(transformer, f"{name}_", None)
            self.register_buffer(name, None if values is None else torch.as_tensor(
                values, dtype=torch.float32, device=device))
        basis = transformer.mel_basis_
        if basis is None:
            self.mel_basis = self.mel_gram = self.mel_pinv = None
            return
        basis = torch.as_tensor(basis, device=device)
        self.register_buffer("mel_basis", basis)
        self.register_buffer("mel_gram", basis.T @ basis)
        self.register_buffer("mel_pinv", torch.linalg.pinv(basis))


def kernels_key(transformer):
    """What the kernels of ``transformer`` are made from: its fitted arrays
    (held, so that their ids cannot be reused) and its STFT settings."""
    arrays = tuple(getattr(transformer, name, None)
                   for name in ("mean_", "scale_", "mel_basis_"))
    settings = (transformer.n_fft, transformer.win_length)
    return tuple(id(a) for a in arrays) + settings, arrays


def cached_kernels(transformer, device):
    """``transformer``'s :class:`SpectralKernels` on ``device``, built on the
    first call and again only after a fit changes its arrays."""
    cache = transformer.__dict__.setdefault("_kernels", {})
    key, arrays = kernels_key(transformer)
    device = torch.device(device)
    entry = cache.get(device)
    if entry is None or entry[0] != key:
        entry = (key, arrays, SpectralKernels(transformer, device))
        cache[device] = entry
    return entry[2]
