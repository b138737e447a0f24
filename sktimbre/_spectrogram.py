"""SpectrogramTransformer: audio clips <-> normalised log-magnitude spectrograms."""

import numbers

import librosa
import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._device import loadable_device, resolve_device
from ._dsp import griffinlim, stft
from ._sklearn_compat import Interval, StrOptions, fit_context
from ._spectral_kernels import cached_kernels
from ._spectrogram_array import Spectrogram, rendered_audio
from ._spectrogram_checks import check_carried, check_spectrogram
from ._spectrogram_rows import AMIN, NormalisedRowsMixin
from ._spectrogram_segments import SegmentedInversionMixin
from ._validation import (
    as_plain,
    check_clips,
    is_label_vector,
    mirror_clips,
    pad_short_clips,
)

__all__ = ["Spectrogram", "SpectrogramTransformer", "check_carried",
           "check_spectrogram"]



class SpectrogramTransformer(NormalisedRowsMixin, SegmentedInversionMixin,
                             TransformerMixin, BaseEstimator):
    """Turn audio clips into normalised log-magnitude spectrograms and back.

    ``transform`` computes ``log(|STFT| + 1e-5)`` (on a mel scale when
    ``n_mels`` is set) and, with ``normalize="per_bin"``, standardises each
    frequency bin with the mean and standard deviation learnt in ``fit``.
    ``inverse_transform`` undoes the normalisation and the log, inverts the mel
    projection by non-negative least squares, and recovers a phase by fast
    Griffin-Lim, batched on torch (CPU or GPU).

    The output is a :class:`Spectrogram`: a NumPy array that also carries this
    fitted transformer, the clips' lengths and their phase, which is how a
    following :class:`~sktimbre.TimbreVAE` in a :class:`~sklearn.pipeline.Pipeline`
    puts the untransformed ``y`` into the same representation.

    Parameters
    ----------
    sr : int, default=22050
        Sample rate of the clips, in Hz.
    n_fft : int, default=1024
        FFT size; frequency bins are ``1 + n_fft // 2``.
    hop_length : int, default=256
        Samples between frames.
    win_length : int, optional
        Window length (Hann); ``n_fft`` when omitted.
    n_mels : int, optional
        Mel bands; ``None`` keeps the linear-frequency STFT.
    fmin : float, default=0.0
        Lowest mel-band edge, in Hz.
    fmax : float, optional
        Highest mel-band edge, in Hz; ``sr / 2`` when omitted.
    normalize : {"per_bin", "none"}, default="per_bin"
        Standardise each bin with statistics learnt in ``fit``, or output the
        plain natural-log magnitude.
    n_iter : int, default=32
        Griffin-Lim iterations in ``inverse_transform``.
    momentum : float, default=0.99
        Fast Griffin-Lim momentum.
    short_clips : {"pad", "raise"}, default="pad"
        Clips shorter than ``n_fft`` are zero-padded with a warning, or refused.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where Griffin-Lim runs; ``"auto"`` uses a GPU when there is one.
    random_state : int, default=0
        Seed of Griffin-Lim's random initial phase.

    Attributes
    ----------
    n_freq_ : int
        Rows of the output: ``1 + n_fft // 2`` or ``n_mels``.
    frequencies_ : ndarray of shape (n_freq_,)
        Centre frequency of each output row, in Hz.
    mel_basis_ : ndarray of shape (n_mels, 1 + n_fft // 2) or None
        The mel filter bank.
    mean_, scale_ : ndarray of shape (n_freq_,)
        Per-bin statistics of the log magnitude (zeros and ones when
        ``normalize="none"``).
    n_clips_seen_ : int
        Clips seen in ``fit`` (``X`` and clip-valued ``y`` together).

    See Also
    --------
    Spectrogram : the array type ``transform`` returns.
    librosa.griffinlim : the reference phase reconstruction.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre import SpectrogramTransformer
    >>> t = np.arange(22050) / 22050
    >>> clip = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    >>> spec = SpectrogramTransformer(n_iter=8).fit([clip])
    >>> S = spec.transform(clip)
    >>> S.shape
    (513, 87)
    >>> spec.inverse_transform(S).shape
    (22050,)
    """

    _parameter_constraints = {
        "sr": [Interval(numbers.Integral, 1000, None, closed="left")],
        "n_fft": [Interval(numbers.Integral, 16, None, closed="left")],
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "win_length": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_mels": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "fmin": [Interval(numbers.Real, 0, None, closed="left")],
        "fmax": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "normalize": [StrOptions({"per_bin", "none"})],
        "n_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "short_clips": [StrOptions({"pad", "raise"})],
        "device": [str, torch.device],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        sr=22050,
        n_fft=1024,
        hop_length=256,
        win_length=None,
        n_mels=None,
        fmin=0.0,
        fmax=None,
        normalize="per_bin",
        n_iter=32,
        momentum=0.99,
        short_clips="pad",
        device="auto",
        random_state=0,
    ):
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.normalize = normalize
        self.n_iter = n_iter
        self.momentum = momentum
        self.short_clips = short_clips
        self.device = device
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the per-bin statistics of the clips' log magnitudes.

        Parameters
        ----------
        X : array-like
            One clip, a 2-D array ``(n_clips, n_samples)`` or a list of clips.
        y : array-like, optional
            The other instrument's clips (their statistics are pooled with
            ``X``'s so both instruments share one scale), or per-clip labels
            (ignored here).

        Returns
        -------
        self : SpectrogramTransformer

        Examples
        --------
        >>> import numpy as np
        >>> from sktimbre import SpectrogramTransformer
        >>> t = np.arange(22050) / 22050
        >>> violin = [np.sin(2 * np.pi * 220 * t).astype(np.float32)]
        >>> flute = [np.sin(2 * np.pi * 330 * t).astype(np.float32)]
        >>> spec = SpectrogramTransformer(n_mels=64).fit(violin, flute)
        >>> spec.n_freq_, spec.mean_.shape, spec.n_clips_seen_
        (64, (64,), 2)
        """
        self._check_settings()
        self.device_ = resolve_device(self.device)
        clips, _ = check_clips(as_plain(X), name="X")
        y = as_plain(y)
        if y is not None and not is_label_vector(y, X):
            clips = clips + check_clips(y, name="y")[0]
        self._build_frequency_axis()
        self.n_freq_ = len(self.frequencies_)
        logs = [self._log_magnitude(c) for c in self._prepare(clips, "X")]
        stacked = np.concatenate(logs, axis=1)
        if self.normalize == "per_bin":
            self.mean_ = stacked.mean(axis=1)
            # A bin that never changes (silence, tiny clips) gets unit scale
            # rather than a division by zero.
            std = stacked.std(axis=1)
            self.scale_ = np.where(std > 1e-3, std, 1.0)
        else:
            self.mean_ = np.zeros(self.n_freq_)
            self.scale_ = np.ones(self.n_freq_)
        self.n_clips_seen_ = len(clips)
        return self

    def _check_settings(self):
        win_length = self.win_length or self.n_fft
        if win_length > self.n_fft:
            raise ValueError(
                f"win_length={win_length} is longer than n_fft={self.n_fft}; "
                "use win_length <= n_fft."
            )
        if self.hop_length > win_length:
            raise ValueError(
                f"hop_length={self.hop_length} exceeds the window length "
                f"{win_length}, so samples between frames would be lost; use "
                "hop_length <= win_length (n_fft // 4 is usual)."
            )
        fmax = self.fmax if self.fmax is not None else self.sr / 2
        if self.n_mels is not None and not self.fmin < fmax <= self.sr / 2:
            raise ValueError(
                f"fmin={self.fmin} and fmax={fmax} must satisfy "
                f"fmin < fmax <= sr / 2 = {self.sr / 2}."
            )

    def _build_frequency_axis(self):
        if self.n_mels is None:
            self.mel_basis_ = None
            self.frequencies_ = librosa.fft_frequencies(sr=self.sr, n_fft=self.n_fft)
            return
        self.mel_basis_ = librosa.filters.mel(
            sr=self.sr,
            n_fft=self.n_fft,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=self.fmax,
        ).astype(np.float32)
        self.frequencies_ = librosa.mel_frequencies(
            n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax or self.sr / 2
        )

    # ----------------------------------------------------------- transform
    def transform(self, X):
        """Compute normalised log-magnitude spectrograms.

        Parameters
        ----------
        X : array-like
            One clip (1-D), a 2-D array ``(n_clips, n_samples)`` or a list of
            1-D clips of any lengths.

        Returns
        -------
        S : Spectrogram
            ``(n_freq, n_frames)`` for one clip, ``(n_clips, n_freq, n_frames)``
            for a 2-D array, or a list of 2-D spectrograms for a list.

        Examples
        --------
        >>> import numpy as np
        >>> from sktimbre import SpectrogramTransformer
        >>> clips = np.random.default_rng(0).standard_normal((2, 4096))
        >>> spec = SpectrogramTransformer().fit(clips)
        >>> spec.transform(clips).shape
        (2, 513, 17)
        >>> [S.shape for S in spec.transform([clips[0], clips[1, :2048]])]
        [(513, 17), (513, 9)]
        """
        check_is_fitted(self)
        clips, layout = check_clips(X, name="X")
        lengths = [c.shape[0] for c in clips]
        outputs = []
        for clip, length in zip(self._prepare(clips, "X"), lengths):
            outputs.append((*self._normalised(clip), length))
        if layout == "array":
            return Spectrogram(
                np.stack([o[0] for o in outputs]),
                transformer=self,
                lengths=np.asarray(lengths),
                phase=None if self.n_mels else np.stack([o[1] for o in outputs]),
            )
        specs = [Spectrogram(v, transformer=self, lengths=n, phase=p)
                 for v, p, n in outputs]
        return mirror_clips(specs, layout)

    def _normalised(self, clip):
        """Normalised log magnitude (float32) and STFT phase (None on a mel
        scale) of one float32 clip."""
        log_mag, phase = self._log_magnitude(clip, with_phase=True)
        values = ((log_mag - self.mean_[:, None]) / self.scale_[:, None]).astype(
            np.float32
        )
        return values, phase

    def _prepare(self, clips, name):
        clips = [c.astype(np.float32) for c in clips]
        return pad_short_clips(clips, self.n_fft, on_short=self.short_clips, name=name)

    def _log_magnitude(self, clip, *, with_phase=False):
        kernels = cached_kernels(self, "cpu")
        spec = stft(
            torch.from_numpy(clip),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=kernels.window,
        )
        magnitude = spec.abs()
        if self.mel_basis_ is not None:
            magnitude = kernels.mel_basis @ magnitude
        log_mag = torch.log(magnitude + AMIN).numpy().astype(np.float64)
        if not with_phase:
            return log_mag
        phase = None if self.mel_basis_ is not None else spec.angle().numpy()
        return log_mag, phase

    # --------------------------------------------------- inverse_transform
    def inverse_transform(self, X, *, phase=None, lengths=None):
        """Turn spectrograms back into audio of the original lengths.

        Parameters
        ----------
        X : Spectrogram or array-like
            What :meth:`transform` (or a timbre model) returned: one
            ``(n_freq, n_frames)`` array, a 3-D batch, or a list.
        phase : array-like, optional
            Phase in radians to start Griffin-Lim from (same shape as a linear
            ``X``); with ``n_iter=0`` it is used as is. Defaults to the phase a
            :class:`Spectrogram` carries, else a seeded random phase. Without
            it, a :class:`Spectrogram` that carries the waveform its timbre
            model synthesised (its ``audio``, for values unchanged since) is
            turned into that waveform, with no Griffin-Lim.
        lengths : int or array-like of int, optional
            Output lengths in samples; defaults to the lengths a
            :class:`Spectrogram` carries, else ``(n_frames - 1) * hop_length``.

        Returns
        -------
        y : ndarray or list of ndarray
            Audio mirroring the input's layout.

        Examples
        --------
        >>> import numpy as np
        >>> from sktimbre import SpectrogramTransformer
        >>> t = np.arange(22050) / 22050
        >>> clip = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        >>> spec = SpectrogramTransformer(n_iter=8).fit([clip])
        >>> S = spec.transform(clip)
        >>> spec.inverse_transform(S).shape
        (22050,)
        >>> spec.inverse_transform(np.asarray(S)).shape  # a plain array: no lengths
        (22016,)
        """
        check_is_fitted(self)
        # Another transformer's normalisation or frame layout would turn into
        # audio of the wrong level, rate or length without an error.
        check_carried(X, self, reader="this one",
                      fix="invert it with the transformer that made it, X.transformer")
        specs, layout = self._check_spectrograms(X)
        if phase is not None:
            phases = [np.asarray(phase)] if layout == "single" else list(phase)
        else:
            phases = self._carried(X, "phase", layout, len(specs))
        if lengths is not None:
            lengths = [int(n) for n in np.atleast_1d(lengths)]
        else:
            lengths = self._carried(X, "lengths", layout, len(specs))
        generator = torch.Generator().manual_seed(phase_seed(self.random_state))
        # A waveform the model synthesised itself is the audio, unless a
        # phase to start Griffin-Lim from was asked for.
        carried = [None] * len(specs) if phase is not None else self._carried(
            X, "audio", layout, len(specs))
        waveforms = [rendered_audio(c, s, n)
                     for c, s, n in zip(carried, specs, lengths)]
        if any(w is not None for w in waveforms):
            return mirror_clips([
                self._invert(s, n, p, generator) if w is None else w
                for w, s, n, p in zip(waveforms, specs, lengths, phases)
            ], layout)
        if layout == "array" and len(set(lengths)) == 1:
            stacked = None if any(p is None for p in phases) else np.stack(phases)
            return self._invert(np.stack(specs), lengths[0], stacked, generator)
        outputs = [
            self._invert(s, n, p, generator)
            for s, n, p in zip(specs, lengths, phases)
        ]
        return mirror_clips(outputs, layout)

    def _carried(self, X, attribute, layout, count):
        if layout == "list":
            return [getattr(s, attribute, None) for s in X]
        value = getattr(X, attribute, None)
        if value is None:
            return [None] * count
        if layout == "single":
            return [value]
        return list(value)

    def _check_spectrograms(self, X):
        if isinstance(X, (list, tuple)):
            if len(X) == 0:
                raise ValueError("X is an empty list; pass at least one spectrogram.")
            return [self._check_one(s, i) for i, s in enumerate(X)], "list"
        arr = np.asarray(X)
        if arr.ndim == 2:
            return [self._check_one(arr, None)], "single"
        if arr.ndim == 3:
            return [self._check_one(s, i) for i, s in enumerate(arr)], "array"
        raise ValueError(
            f"X has shape {arr.shape}; inverse_transform takes one spectrogram "
            f"({self.n_freq_}, n_frames), a batch (n_clips, {self.n_freq_}, "
            "n_frames) or a list of spectrograms."
        )

    def _check_one(self, S, index):
        check_spectrogram(S, self, name="X" if index is None else f"X[{index}]",
                          reader="this transformer",
                          fix="invert with the transformer that made it")
        return np.array(S, dtype=np.float32)

    def _invert(self, S, length, phase, generator):
        magnitude = self.magnitude(S)
        if length is None:
            length = (S.shape[-1] - 1) * self.hop_length
        init = None
        if phase is not None:
            init = torch.as_tensor(np.asarray(phase, dtype=np.float32))
            if init.shape != magnitude.shape:
                raise ValueError(
                    f"phase has shape {tuple(init.shape)} but the spectrogram's "
                    f"magnitude has {tuple(magnitude.shape)}; pass the phase of "
                    "the same clip."
                )
        audio = griffinlim(
            magnitude,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            length=int(length),
            n_iter=self.n_iter,
            momentum=self.momentum,
            init_phase=init,
            generator=generator,
            window=cached_kernels(self, magnitude.device).window,
        )
        return audio.cpu().numpy()

    def __getstate__(self):
        # A copy: object.__getstate__ hands back the live __dict__. Tensors
        # kept per device are rebuilt where the object is loaded.
        state = dict(super().__getstate__())
        state.pop("_kernels", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "device_" in state:
            # Fitted on a GPU, unpickled where there is none: go on on the CPU.
            self.device_ = loadable_device(self.device_,
                                           what="This spectrogram transformer")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def phase_seed(random_state):
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    return int(random_state)
