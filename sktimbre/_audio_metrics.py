"""Audio measures: spectral distances between paired clips, and pitch kept.

Kept apart from :mod:`sktimbre.metrics`, which re-exports them (its
``__all__`` lists them), so that the scorers built on them import only
downward.
"""

import librosa
import numpy as np

from ._validation import check_audio, check_clips


def _pairs(y_true, y_pred, n_fft):
    """Validated (reference, estimate) pairs trimmed to a common length."""
    refs, _ = check_clips(y_true, name="y_true")
    ests, _ = check_clips(y_pred, name="y_pred")
    if len(refs) != len(ests):
        raise ValueError(
            f"y_true has {len(refs)} clip(s) but y_pred has {len(ests)}; pass "
            "equal numbers of clips, paired by position."
        )
    pairs = []
    for i, (ref, est) in enumerate(zip(refs, ests)):
        if abs(len(ref) - len(est)) > n_fft:
            raise ValueError(
                f"y_true[{i}] has {len(ref)} samples but y_pred[{i}] has "
                f"{len(est)}; paired clips must have the same length (within "
                f"n_fft={n_fft})."
            )
        n = min(len(ref), len(est))
        pairs.append((ref[:n], est[:n]))
    return pairs


def log_spectral_distance(y_true, y_pred, *, sr=22050, n_fft=1024, hop_length=256,
                          eps=1e-5):
    """Log-spectral distance in dB between paired clips.

    ``mean over frames of sqrt(mean over bins of (10 log10(|Y|^2 + eps) -
    10 log10(|Y'|^2 + eps))^2)``, on ``librosa.stft`` magnitudes. ``eps`` is
    an absolute power floor (-50 dB): bins quieter than that in both clips
    count as equal.

    Parameters
    ----------
    y_true, y_pred : ndarray or list of ndarray
        One clip each, or equal-length lists of clips (the mean over pairs is
        returned).
    sr : int, default=22050
        Unused by the formula; kept so all metrics share a signature.
    n_fft, hop_length : int
    eps : float, default=1e-5

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre.metrics import log_spectral_distance
    >>> y = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    >>> round(log_spectral_distance(y, 2 * y), 1)
    6.0
    """
    values = []
    for ref, est in _pairs(y_true, y_pred, n_fft):
        diff = (power_db(ref, n_fft=n_fft, hop_length=hop_length, eps=eps)
                - power_db(est, n_fft=n_fft, hop_length=hop_length, eps=eps))
        values.append(frame_rms_mean(diff))
    return float(np.mean(values))


def power_db(clip, *, n_fft=1024, hop_length=256, eps=1e-5):
    """``10 log10(|STFT|^2 + eps)`` of one clip, ``(1 + n_fft // 2, frames)``:
    the rows :func:`log_spectral_distance` compares."""
    power = np.abs(librosa.stft(clip, n_fft=n_fft, hop_length=hop_length)) ** 2
    return 10 * np.log10(power + eps)


def frame_rms_mean(difference):
    """Mean over frames of the RMS over bins of a dB ``difference``: the
    log-spectral distance of two :func:`power_db` rows."""
    return float(np.mean(np.sqrt(np.mean(difference**2, axis=0))))


def mel_cepstral_distortion(y_true, y_pred, *, sr=22050, n_mfcc=25, n_fft=1024,
                            hop_length=256, n_mels=80):
    """Mel-cepstral distortion in dB between paired clips, frame by frame.

    ``(10 / ln 10) * sqrt(2 * sum_{k=1..K} (c_k - c'_k)^2)`` averaged over
    frames, with ``c`` the orthonormal DCT-II of the natural-log power mel
    spectrogram (c0, the level, excluded). Frames are aligned by time, not by
    DTW, since paired renderings share their timing.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre.metrics import mel_cepstral_distortion
    >>> y = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    >>> mel_cepstral_distortion(y, y)
    0.0
    """
    values = []
    for ref, est in _pairs(y_true, y_pred, n_fft):
        cepstra = [
            librosa.feature.mfcc(
                S=np.log(librosa.feature.melspectrogram(
                    y=clip, sr=sr, n_fft=n_fft, hop_length=hop_length,
                    n_mels=n_mels) + 1e-10),
                n_mfcc=n_mfcc, dct_type=2, norm="ortho")[1:]
            for clip in (ref, est)
        ]
        diff = cepstra[0] - cepstra[1]
        values.append(np.mean(10 / np.log(10) * np.sqrt(2 * np.sum(diff**2, axis=0))))
    return float(np.mean(values))


def estimate_f0(y, *, sr=22050, fmin=None, fmax=None, frame_length=2048,
                hop_length=512):
    """pYIN f0 and voicing of one clip (``librosa.pyin``), for reuse.

    Returns
    -------
    f0 : ndarray of shape (n_frames,)
        Hz; NaN where pYIN found no pitch candidate.
    voiced : ndarray of bool, shape (n_frames,)

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre.metrics import estimate_f0
    >>> t = np.arange(11025) / 22050
    >>> tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    >>> f0, voiced = estimate_f0(tone)
    >>> round(float(np.median(f0[voiced])))
    440
    """
    y = check_audio(y, name="y")
    fmin = librosa.note_to_hz("C3") if fmin is None else fmin
    fmax = librosa.note_to_hz("C7") if fmax is None else fmax
    f0, voiced, _ = librosa.pyin(y, sr=sr, fmin=fmin, fmax=fmax,
                                 frame_length=frame_length, hop_length=hop_length,
                                 fill_na=np.nan)
    return f0, voiced


def raw_pitch_accuracy(y_ref, y_est, *, sr=22050, tolerance_cents=50.0,
                       ref_f0=None, **pyin_kwargs):
    """Share of the reference's voiced frames whose pitch the estimate keeps.

    MIREX raw pitch accuracy: among frames pYIN calls voiced in ``y_ref``, the
    fraction where the estimate's f0 is within ``tolerance_cents`` (a frame
    without an f0 in the estimate counts as wrong).

    Parameters
    ----------
    y_ref, y_est : ndarray or list of ndarray
        Paired clips; lists give the mean over pairs.
    sr : int, default=22050
    tolerance_cents : float, default=50
    ref_f0 : tuple or list of tuples, optional
        Precomputed ``estimate_f0(y_ref)`` result(s).
    **pyin_kwargs
        Passed to :func:`estimate_f0`.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre.metrics import raw_pitch_accuracy
    >>> t = np.arange(22050) / 22050
    >>> tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    >>> raw_pitch_accuracy(tone, 0.5 * tone)
    1.0
    """
    pairs = _pairs(y_ref, y_est, 2048)
    if ref_f0 is not None and not isinstance(ref_f0, list):
        ref_f0 = [ref_f0]
    scores = []
    for i, (ref, est) in enumerate(pairs):
        f_ref, voiced = ref_f0[i] if ref_f0 is not None else estimate_f0(
            ref, sr=sr, **pyin_kwargs)
        f_est, _ = estimate_f0(est, sr=sr, **pyin_kwargs)
        n = min(len(f_ref), len(f_est))
        f_ref, voiced, f_est = f_ref[:n], voiced[:n], f_est[:n]
        if not voiced.any():
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            cents = np.abs(1200 * np.log2(f_est[voiced] / f_ref[voiced]))
        scores.append(float(np.mean(np.nan_to_num(cents, nan=np.inf)
                                    <= tolerance_cents)))
    if not scores:
        raise ValueError(
            "No frame of y_ref is voiced, so pitch accuracy is undefined; pass "
            "clips with pitched sound."
        )
    return float(np.mean(scores))


def blend_gap(a_rendering, b_rendering, *, sr=22050, n_fft=1024, hop_length=256):
    """How far apart the blended voice is when reached from either instrument.

    A piece played by instrument A and the same notes played by B, both
    converted to the same alpha (0.5 for the blend), should come out as one
    voice: the gap is the log-spectral distance (dB, as
    :func:`log_spectral_distance`) between the two renderings. It is 0 when
    they are identical; doing nothing leaves the gap between the inputs
    themselves (13-17 dB between the default data's violin and flute).

    Parameters
    ----------
    a_rendering : ndarray or list of ndarray
        The rendering at alpha of pieces played by instrument A.
    b_rendering : ndarray or list of ndarray
        The rendering at the same alpha of the paired pieces (same notes)
        played by instrument B, in the same order.
    sr : int, default=22050
    n_fft, hop_length : int
        As in :func:`log_spectral_distance`.

    Returns
    -------
    float
        Mean over pairs, in dB.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre.metrics import blend_gap
    >>> t = np.arange(22050) / 22050
    >>> bright = sum(np.sin(2 * np.pi * 440 * k * t) / k for k in range(1, 9))
    >>> pure = np.sin(2 * np.pi * 440 * t)
    >>> blend_gap(pure, pure)
    0.0
    >>> blend_gap(bright.astype(np.float32), pure.astype(np.float32)) > 10
    True
    """
    return log_spectral_distance(a_rendering, b_rendering, sr=sr, n_fft=n_fft,
                                 hop_length=hop_length)
