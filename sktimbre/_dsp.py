"""Signal processing on torch tensors: STFT pairs, Griffin-Lim, mel inversion.

Everything here batches along leading axes and runs on whatever device its
inputs live on, so the same code serves a laptop CPU and a GPU. Time is the
last axis: audio is ``(..., n_samples)``, spectrograms ``(..., n_freq, n_frames)``.
"""

import math

import torch

__all__ = ["stft", "istft", "InverseSTFT", "griffinlim", "mel_to_linear",
           "hann_window"]


def hann_window(win_length, device, dtype=torch.float32):
    """Periodic Hann window, as ``librosa.filters.get_window("hann", n,
    fftbins=True)``."""
    return torch.hann_window(win_length, periodic=True, device=device, dtype=dtype)


def _window(window, win_length, like):
    """``window`` if given (built once by the caller), else a new Hann window
    in ``like``'s dtype and on its device."""
    if window is not None and window.dtype == like.dtype:
        return window
    return hann_window(win_length, like.device, like.dtype)


def stft(y, *, n_fft, hop_length, win_length=None, window=None):
    """Complex STFT of ``y`` with librosa's conventions (centred, zero-padded).

    Parameters
    ----------
    y : torch.Tensor of shape (..., n_samples)
    n_fft, hop_length, win_length : int
    window : torch.Tensor of shape (win_length,), optional
        The Hann window on ``y``'s device, when the caller keeps one.

    Returns
    -------
    torch.Tensor of shape (..., 1 + n_fft // 2, n_frames), complex
    """
    win_length = win_length or n_fft
    lead = y.shape[:-1]
    spec = torch.stft(
        y.reshape(-1, y.shape[-1]),
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=_window(window, win_length, y),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(spec, *, n_fft, hop_length, win_length=None, length, window=None):
    """Inverse of :func:`stft`, trimmed or padded to ``length`` samples."""
    return InverseSTFT(spec.shape[-1], n_fft=n_fft, hop_length=hop_length,
                       win_length=win_length, length=length,
                       window=_window(window, win_length or n_fft, spec.real))(spec)


class InverseSTFT:
    """The inverse of :func:`stft` for spectrograms of ``n_frames`` frames,
    made once and applied many times (Griffin-Lim inverts the same shape
    every iteration).

    Equal to ``torch.istft(..., center=True, length=length)`` to float
    rounding, and about three times as fast on a CPU: the frames'
    overlap-add is ``ceil(n_fft / hop_length)`` shifted additions instead of
    a general fold, and the window's squared envelope, which the result is
    divided by, is computed once here rather than on every call.

    Parameters
    ----------
    n_frames : int
    n_fft, hop_length, win_length : int
    length : int
        Samples in the output.
    window : torch.Tensor of shape (win_length,)
        The analysis window, on the device and in the real dtype of the
        spectrograms to invert.
    """

    def __init__(self, n_frames, *, n_fft, hop_length, win_length=None, length,
                 window):
        win_length = win_length or n_fft
        left = (n_fft - win_length) // 2
        # The window centred in n_fft samples, as torch.stft places it.
        self.window = torch.nn.functional.pad(window, (left, n_fft - win_length - left))
        self.n_fft, self.hop_length, self.length = n_fft, hop_length, int(length)
        self.n_frames = n_frames
        self.shifts = -(-n_fft // hop_length)
        envelope = self._overlap_add(self.window.square().expand(n_frames, n_fft))
        envelope = self._trim(envelope)
        # Where the frames do not reach (past the last one), the output is 0.
        self.reciprocal = torch.where(envelope > 1e-11, 1.0 / envelope,
                                      torch.zeros_like(envelope))
        reached = min(self.length, (n_frames - 1) * hop_length)
        if reached and float(envelope[:reached].min()) <= 1e-11:
            raise ValueError(
                f"a window of {win_length} samples every {hop_length} samples "
                "leaves gaps no inverse STFT can fill; use a hop_length of at "
                "most half the window.")

    def _overlap_add(self, frames):
        """Sum of ``frames`` (..., n_frames, n_fft), frame t starting at
        sample t * hop_length."""
        hop, shifts, n_frames = self.hop_length, self.shifts, self.n_frames
        lead = frames.shape[:-2]
        padded = torch.nn.functional.pad(frames, (0, shifts * hop - self.n_fft))
        parts = padded.reshape(*lead, n_frames, shifts, hop)
        out = frames.new_zeros(*lead, n_frames + shifts - 1, hop)
        for shift in range(shifts):
            out[..., shift:shift + n_frames, :] += parts[..., shift, :]
        return out.reshape(*lead, -1)

    def _trim(self, signal):
        """The ``length`` samples after the first frame's centre."""
        start = self.n_fft // 2
        signal = signal[..., start:start + self.length]
        missing = self.length - signal.shape[-1]
        return torch.nn.functional.pad(signal, (0, missing)) if missing > 0 else signal

    def __call__(self, spec):
        """Audio ``(..., length)`` of complex spectrograms ``(..., 1 + n_fft
        // 2, n_frames)``."""
        frames = torch.fft.irfft(spec.transpose(-1, -2), n=self.n_fft, dim=-1)
        return self._trim(self._overlap_add(frames * self.window)) * self.reciprocal


def griffinlim(
    magnitude,
    *,
    n_fft,
    hop_length,
    win_length=None,
    length,
    n_iter=32,
    momentum=0.99,
    init_phase=None,
    generator=None,
    window=None,
):
    """Fast Griffin-Lim phase reconstruction (Perraudin et al., 2013).

    The same iteration as :func:`librosa.griffinlim` (momentum applied as
    ``momentum / (1 + momentum)``), written on torch so that a batch of
    spectrograms is reconstructed at once, on the CPU or a GPU.

    Parameters
    ----------
    magnitude : torch.Tensor of shape (..., n_freq, n_frames)
        Non-negative linear magnitudes.
    n_fft, hop_length, win_length : int
        STFT settings the magnitudes were computed with.
    length : int
        Samples in the output.
    n_iter : int, default=32
        Iterations; 0 returns the inverse STFT with the initial phase.
    momentum : float, default=0.99
        Fast Griffin-Lim momentum.
    init_phase : torch.Tensor, optional
        Initial phase in radians, same shape as ``magnitude``; random
        (from ``generator``) when omitted.
    generator : torch.Generator, optional
        CPU generator for the random initial phase, for reproducibility across
        devices.
    window : torch.Tensor of shape (win_length,), optional
        The Hann window on ``magnitude``'s device, made once for all the
        iterations' transforms; built here when omitted.

    Returns
    -------
    torch.Tensor of shape (..., length)
    """
    if init_phase is None:
        init_phase = 2 * math.pi * torch.rand(
            magnitude.shape, generator=generator, dtype=magnitude.dtype
        ).to(magnitude.device)
    angles = torch.polar(torch.ones_like(magnitude),
                         init_phase.to(device=magnitude.device, dtype=magnitude.dtype))
    win_length = win_length or n_fft
    # One window for every iteration's pair of transforms.
    window = _window(window, win_length, magnitude)
    kwargs = dict(n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                  window=window)
    weight = momentum / (1.0 + momentum)
    tprev = None
    tiny = torch.finfo(magnitude.dtype).tiny
    # Iterate on a signal whose STFT has as many frames as ``magnitude``: a
    # clip zero-padded to n_fft (or a ``length`` that is not the frames'
    # own) would otherwise re-analyse to another frame count.
    n_frames = magnitude.shape[-1]
    span = length if 1 + length // hop_length == n_frames else (
        (n_frames - 1) * hop_length)
    inverse = InverseSTFT(n_frames, n_fft=n_fft, hop_length=hop_length,
                          win_length=win_length, length=span, window=window)
    spectrum = magnitude * angles
    for _ in range(n_iter):
        rebuilt = stft(inverse(spectrum), **kwargs)
        accelerated = rebuilt if tprev is None else rebuilt - weight * tprev
        # The magnitude over the accelerated spectrum's own, as one real
        # factor: cheaper than dividing by a complex abs.
        scale = magnitude * torch.rsqrt(accelerated.real.square()
                                        + accelerated.imag.square() + tiny)
        spectrum = accelerated * scale
        tprev = rebuilt
    if length > span:
        inverse = InverseSTFT(n_frames, n_fft=n_fft, hop_length=hop_length,
                              win_length=win_length, length=length, window=window)
    return inverse(spectrum)[..., :length]


def mel_to_linear(mel, mel_basis, *, n_iter=100, gram=None, pinv=None):
    """Non-negative least-squares inverse of a mel projection.

    Solves ``min ||mel_basis @ x - mel||^2`` subject to ``x >= 0`` for every
    frame at once with multiplicative updates (Lee & Seung, 2001), which keep
    ``x`` non-negative without a projection step and batch on a GPU; started
    from the clipped pseudo-inverse, as ``librosa.util.nnls`` is.

    Parameters
    ----------
    mel : torch.Tensor of shape (..., n_mels, n_frames)
    mel_basis : torch.Tensor of shape (n_mels, n_freq)
    n_iter : int, default=100
    gram, pinv : torch.Tensor, optional
        ``mel_basis.T @ mel_basis`` and ``torch.linalg.pinv(mel_basis)``,
        when the caller keeps them; computed here when omitted.

    Returns
    -------
    torch.Tensor of shape (..., n_freq, n_frames)
    """
    tiny = torch.finfo(mel.dtype).tiny
    gram = mel_basis.T @ mel_basis if gram is None else gram
    pinv = torch.linalg.pinv(mel_basis) if pinv is None else pinv
    target = mel_basis.T @ mel
    x = (pinv @ mel).clamp_min(0) + 1e-6
    for _ in range(n_iter):
        x = x * target / (gram @ x + tiny)
    return x
