"""Baselines a learned timbre model has to beat."""

import numbers

import librosa
import numpy as np
from scipy.ndimage import uniform_filter1d
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._sklearn_compat import Interval, fit_context
from ._validation import check_alpha, check_clips, mirror_clips, split_clips

__all__ = ["MatchEQ"]


class MatchEQ(TransformerMixin, BaseEstimator):
    """One fixed filter from instrument A's average spectrum to instrument B's.

    ``fit`` learns each instrument's long-term average magnitude spectrum over
    frames above a silence threshold; the filter is their ratio, smoothed over
    frequency and limited to +-``max_gain_db``. ``transform`` applies it with
    the source phase, raised to ``alpha`` (0 is the input unchanged).

    Parameters
    ----------
    sr : int, default=22050
    n_fft : int, default=1024
    hop_length : int, default=256
    smoothing : int, default=5
        Width in bins of the moving average over frequency.
    max_gain_db : float, default=30

    Attributes
    ----------
    gain_ : ndarray of shape (1 + n_fft // 2,)
        Linear A -> B gain per bin.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre import MatchEQ
    >>> rng = np.random.default_rng(0)
    >>> a = [rng.standard_normal(8000).astype(np.float32)]
    >>> eq = MatchEQ().fit(a, [0.5 * a[0]])
    >>> float(np.round(np.median(eq.gain_), 2))
    0.5
    """

    _parameter_constraints = {
        "sr": [Interval(numbers.Integral, 1000, None, closed="left")],
        "n_fft": [Interval(numbers.Integral, 16, None, closed="left")],
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "smoothing": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_gain_db": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(self, *, sr=22050, n_fft=1024, hop_length=256, smoothing=5,
                 max_gain_db=30.0):
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.smoothing = smoothing
        self.max_gain_db = max_gain_db

    def _average_spectrum(self, clips, name):
        frames = []
        for clip in clips:
            mag = np.abs(librosa.stft(clip, n_fft=self.n_fft,
                                      hop_length=self.hop_length))
            energy = mag.sum(axis=0)
            frames.append(mag[:, energy > 0.01 * energy.max()])
        frames = np.concatenate(frames, axis=1)
        if frames.shape[1] == 0:
            # Silence has no spectrum: the mean of no frames would be NaN and
            # every later transform NaN too.
            raise ValueError(
                f"the clips of {name} are silent (every sample is 0), so "
                "there is no spectrum to match; pass recordings with sound."
            )
        return frames.mean(axis=1) + 1e-8

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the A -> B filter from domain-A clips ``X`` and domain-B ``y``.

        ``y`` may also hold one label per clip of ``X`` with two classes (the
        sorted first is domain A), as for the timbre models; a 1-D float
        ``y`` is labels only with exactly one value per clip, and a clip of
        domain B otherwise.

        Examples
        --------
        >>> import numpy as np
        >>> from sktimbre import MatchEQ
        >>> rng = np.random.default_rng(0)
        >>> a = [rng.standard_normal(8000).astype(np.float32) for _ in range(2)]
        >>> b = [0.5 * clip for clip in a]
        >>> float(np.round(np.median(MatchEQ().fit(a, b).gain_), 2))
        0.5
        >>> eq = MatchEQ().fit(a + b, ["violin", "violin", "flute", "flute"])
        >>> float(np.round(np.median(eq.gain_), 2))  # "flute" sorts first: A
        2.0
        """
        a, b, _ = split_clips(X, y, who="MatchEQ")
        ratio = self._average_spectrum(b, "domain B") / self._average_spectrum(
            a, "domain A")
        log_gain = uniform_filter1d(np.log(ratio), self.smoothing, mode="nearest")
        limit = self.max_gain_db / 20 * np.log(10)
        self.gain_ = np.exp(np.clip(log_gain, -limit, limit))
        return self

    def _apply(self, X, exponent):
        clips, layout = check_clips(X, name="X")
        gain = self.gain_[:, None] ** exponent
        out = []
        for clip in clips:
            spec = librosa.stft(clip, n_fft=self.n_fft, hop_length=self.hop_length)
            out.append(librosa.istft(spec * gain, hop_length=self.hop_length,
                                     n_fft=self.n_fft, length=len(clip))
                       .astype(clip.dtype))
        return mirror_clips(out, layout)

    def transform(self, X, alpha=1.0):
        """Filter domain-A audio towards domain B by ``alpha`` in [0, 1].

        Examples
        --------
        >>> import numpy as np
        >>> from sktimbre import MatchEQ
        >>> a = [np.random.default_rng(0).standard_normal(8000).astype(np.float32)]
        >>> eq = MatchEQ().fit(a, [0.5 * a[0]])
        >>> for alpha in (0.0, 0.5, 1.0):
        ...     y = eq.transform(a[0], alpha=alpha)
        ...     print(alpha, round(float(np.std(y) / np.std(a[0])), 2))
        0.0 1.0
        0.5 0.71
        1.0 0.5
        """
        check_is_fitted(self)
        return self._apply(X, check_alpha(alpha))

    def inverse_transform(self, X):
        """Filter domain-B audio towards domain A (the inverse filter).

        Examples
        --------
        >>> import numpy as np
        >>> from sktimbre import MatchEQ
        >>> a = [np.random.default_rng(0).standard_normal(8000).astype(np.float32)]
        >>> eq = MatchEQ().fit(a, [0.5 * a[0]])
        >>> y = eq.inverse_transform(0.5 * a[0])
        >>> round(float(np.std(y) / np.std(a[0])), 2)
        1.0
        """
        check_is_fitted(self)
        return self._apply(X, -1.0)
