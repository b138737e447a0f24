"""The rows of a fitted SpectrogramTransformer on torch tensors: normalised
rows to log magnitudes and back, to linear magnitudes, and silent frames.

The models compute their losses with these methods, on their own device and
with gradients, so that the representation is defined in one place.
"""

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._dsp import mel_to_linear
from ._spectral_kernels import cached_kernels

# Floor added to magnitudes before the log: -100 dB re full scale, far below
# anything audible, so silence maps to a finite value.
AMIN = 1e-5


class NormalisedRowsMixin:
    """Tensor methods of :class:`~sktimbre.SpectrogramTransformer`'s rows;
    they read its fitted ``mean_``, ``scale_``, ``mel_basis_`` and
    ``device_``."""

    def magnitude(self, S):
        """Linear STFT magnitude of a normalised spectrogram, as a torch tensor
        on the transformer's ``device_`` (``.cpu()`` it before ``.numpy()``).

        Undoes the normalisation and the log, and the mel projection by
        non-negative least squares. Accepts ``(..., n_freq, n_frames)``.

        Examples
        --------
        >>> import numpy as np
        >>> from sktimbre import SpectrogramTransformer
        >>> clip = np.random.default_rng(0).standard_normal(4096).astype(np.float32)
        >>> spec = SpectrogramTransformer(n_mels=32, device="cpu").fit([clip])
        >>> tuple(spec.magnitude(spec.transform(clip)).shape)
        (513, 17)
        """
        check_is_fitted(self)
        values = torch.as_tensor(np.asarray(S, dtype=np.float32), device=self.device_)
        magnitude = (torch.exp(self.denormalise(values)) - AMIN).clamp_min(0)
        if self.mel_basis_ is not None:
            kernels = cached_kernels(self, self.device_)
            magnitude = mel_to_linear(magnitude, kernels.mel_basis,
                                      gram=kernels.mel_gram, pinv=kernels.mel_pinv)
        return magnitude

    def from_magnitude(self, magnitude):
        """Normalised rows of linear STFT magnitudes, as :meth:`transform`
        makes them from audio: the mel projection (when ``n_mels`` is set),
        the log and the normalisation, on ``magnitude``'s device and
        differentiable; the inverse of :meth:`magnitude`.

        Parameters
        ----------
        magnitude : torch.Tensor of shape (..., 1 + n_fft // 2, n_frames)

        Returns
        -------
        torch.Tensor of shape (..., n_freq_, n_frames)

        Examples
        --------
        >>> import torch
        >>> from sktimbre import SpectrogramTransformer
        >>> spec = SpectrogramTransformer(n_fft=256, hop_length=64, n_mels=16,
        ...                               device="cpu")
        >>> spec = spec.fit(torch.linspace(-1, 1, 2048).numpy())
        >>> tuple(spec.from_magnitude(torch.ones(3, 129, 5)).shape)
        (3, 16, 5)
        """
        check_is_fitted(self)
        if self.mel_basis_ is not None:
            magnitude = cached_kernels(self, magnitude.device).mel_basis @ magnitude
        return self.normalise(torch.log(magnitude + AMIN))

    def normalise(self, log_magnitude):
        """Normalised rows of natural-log magnitude rows (mel rows for a mel
        transformer): what :meth:`transform` outputs, on torch tensors.

        Parameters
        ----------
        log_magnitude : torch.Tensor of shape (..., n_freq, n_frames)
            ``log(|STFT| + 1e-5)``, projected on the mel bank when ``n_mels``
            is set; on any device, in any float dtype, and differentiable,
            for the models' losses.

        Returns
        -------
        torch.Tensor of the same shape, device and dtype.

        Examples
        --------
        >>> import torch
        >>> from sktimbre import SpectrogramTransformer
        >>> tone = torch.sin(torch.arange(8000) * 0.3).numpy()
        >>> spec = SpectrogramTransformer(n_fft=512, hop_length=128).fit(tone)
        >>> rows = torch.randn(257, 3)
        >>> bool(torch.allclose(spec.normalise(spec.denormalise(rows)), rows,
        ...                     atol=1e-5))
        True
        """
        mean, scale = self._statistics(log_magnitude)
        return (log_magnitude - mean) / scale

    def denormalise(self, rows):
        """Natural-log magnitude rows (mel rows stay mel) of normalised
        ``rows``, the inverse of :meth:`normalise`.

        Parameters
        ----------
        rows : torch.Tensor of shape (..., n_freq, n_frames)
            On any device, in any float dtype; differentiable.

        Returns
        -------
        torch.Tensor of the same shape, device and dtype.

        Examples
        --------
        >>> import numpy as np
        >>> import torch
        >>> from sktimbre import SpectrogramTransformer
        >>> clip = np.zeros(4096, dtype=np.float32)  # silence: the log floor
        >>> spec = SpectrogramTransformer(device="cpu").fit([clip])
        >>> rows = torch.as_tensor(np.asarray(spec.transform(clip)))
        >>> round(float(spec.denormalise(rows).max()), 3)  # log(1e-5)
        -11.513
        """
        mean, scale = self._statistics(rows)
        return rows * scale + mean

    def _statistics(self, like):
        """``(mean_, scale_)`` as columns in ``like``'s dtype and device:
        the float32 buffers kept on that device, or made for another dtype."""
        check_is_fitted(self)
        if like.dtype == torch.float32:
            kernels = cached_kernels(self, like.device)
            return kernels.mean[:, None], kernels.scale[:, None]
        return tuple(torch.as_tensor(v, dtype=like.dtype, device=like.device)[:, None]
                     for v in (self.mean_, self.scale_))

    def silent_frames(self, S):
        """Boolean mask of the frames of ``S`` whose every row is at the log
        floor: digital silence in the source clip.

        Parameters
        ----------
        S : ndarray or torch.Tensor of shape (..., n_freq, n_frames)
            Normalised rows, as :meth:`transform` outputs.

        Returns
        -------
        mask : ndarray or torch.Tensor of shape (..., n_frames)
            Of the same kind as ``S``.

        Examples
        --------
        >>> import numpy as np
        >>> from sktimbre import SpectrogramTransformer
        >>> clip = np.zeros(4096, dtype=np.float32)
        >>> clip[2048:] = 0.5
        >>> spec = SpectrogramTransformer(device="cpu").fit([clip])
        >>> spec.silent_frames(spec.transform(clip))[[0, -1]]
        array([ True, False])
        """
        check_is_fitted(self)
        floor = np.log(2 * AMIN)
        if isinstance(S, torch.Tensor):
            return (self.denormalise(S) < floor).all(dim=-2)
        # In float64, as transform computed the rows, so no frame at the
        # floor rounds above it.
        log_mag = np.asarray(S, dtype=np.float64) * self.scale_[:, None] + (
            self.mean_[:, None])
        return (log_mag < floor).all(axis=-2)
