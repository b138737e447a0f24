"""Input checks shared by every entry point that takes audio.

One validator, used everywhere, in the spirit of ``librosa.util.valid_audio``:
each error names the offending clip, the rule it broke and what to do instead.
"""

import numbers
import os
import warnings

import numpy as np

__all__ = ["check_audio", "check_clips", "check_alpha", "mirror_clips"]

# A 2-D array whose rows are this short is soundfile's (n_samples, n_channels)
# layout, not a batch of clips: no real clip has one or two samples.
_MAX_CHANNELS_LAST = 2


def check_audio(y, *, name="y", index=None, min_length=1):
    """Validate one mono clip and return it as a new float array.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        A mono clip with floating-point samples, nominally in [-1, 1].
    name : str, default="y"
        How the argument is called in messages.
    index : int, optional
        Position of the clip in a batch, for messages.
    min_length : int, default=1
        Fewest samples accepted.

    Returns
    -------
    y : ndarray of shape (n_samples,)
        A float32 or float64 copy; the caller's array is never modified.

    Raises
    ------
    TypeError
        If the samples are not floating point (integer PCM, strings, objects).
    ValueError
        If the clip is not 1-D, is shorter than ``min_length`` or holds NaN/inf.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre._validation import check_audio
    >>> check_audio(np.zeros(4, dtype=np.float32)).dtype
    dtype('float32')
    """
    where = f"{name}[{index}]" if index is not None else name
    if isinstance(y, (str, bytes)) or y is None:
        raise TypeError(
            f"{where} is {type(y).__name__}, not audio; pass a float array of "
            "samples, or load a file with sktimbre.io.load_audio(path)."
        )
    arr = np.asarray(y)
    if arr.dtype.kind in "iub":
        raise TypeError(
            f"{where} has integer dtype {arr.dtype} (PCM samples); sktimbre "
            "expects floats in [-1, 1]: convert with "
            "y.astype(np.float32) / np.iinfo(y.dtype).max."
        )
    if arr.dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {where} is complex; pass real-valued "
            "audio samples, not a spectrum."
        )
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{where} has dtype object with non-numeric items ({exc}); "
                "pass a float array of audio samples."
            ) from exc
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{where} has dtype {arr.dtype}; pass a float array of audio samples."
        )
    if arr.ndim != 1:
        if arr.ndim == 2 and min(arr.shape) <= _MAX_CHANNELS_LAST + 6:
            raise ValueError(
                f"{where} has shape {arr.shape}: it looks like multichannel "
                "audio. sktimbre works on mono clips; downmix first, e.g. "
                "y.mean(axis=1) for soundfile's (n_samples, n_channels) layout "
                "or librosa.to_mono(y) for (n_channels, n_samples)."
            )
        raise ValueError(
            f"{where} has shape {arr.shape}; a clip must be a 1-D array of "
            "samples. Pass several clips as a list or a 2-D array "
            "(n_clips, n_samples)."
        )
    if arr.shape[0] < min_length:
        what = "is empty" if arr.shape[0] == 0 else f"has {arr.shape[0]} samples"
        raise ValueError(
            f"{where} {what}; at least {min_length} sample(s) are needed. "
            "Drop empty clips before calling."
        )
    if not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{where} contains {bad} NaN or infinite sample(s); clean the clip "
            "first, e.g. np.nan_to_num(y) or drop it."
        )
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float32)
    return np.array(arr, copy=True)


def check_clips(X, *, name="X", min_length=1):
    """Validate a batch of mono clips.

    Parameters
    ----------
    X : array-like
        One clip (1-D), a 2-D array ``(n_clips, n_samples)`` or a list of
        1-D arrays of different lengths.
    name : str, default="X"
        How the argument is called in messages.
    min_length : int, default=1
        Fewest samples accepted per clip.

    Returns
    -------
    clips : list of ndarray
        Validated copies, one 1-D float array per clip.
    layout : {"single", "array", "list"}
        How the input was shaped, so outputs can mirror it
        (see :func:`mirror_clips`).

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre._validation import check_clips
    >>> clips, layout = check_clips(np.zeros((3, 100)))
    >>> len(clips), layout
    (3, 'array')
    """
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{name}={X!r} is a path, not audio; load it first with "
            "sktimbre.io.load_audio(path, sr=...) and pass the samples."
        )
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(
            f"{name} is a sparse matrix; sparse input is not supported. Audio "
            "clips are dense: pass X.toarray() if it really holds samples."
        )
    if hasattr(X, "__array__") and not isinstance(X, (list, tuple)):
        arr = np.asarray(X)
        if arr.ndim == 1:
            return [check_audio(arr, name=name, min_length=min_length)], "single"
        if arr.ndim == 2:
            if arr.shape[1] == 0:
                raise ValueError(
                    f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum "
                    "of 1 is required: every clip is empty. Pass clips with samples."
                )
            if arr.shape[1] <= _MAX_CHANNELS_LAST < arr.shape[0]:
                raise ValueError(
                    f"{name} has shape {arr.shape}: this is soundfile's "
                    "(n_samples, n_channels) layout of one multichannel clip, "
                    f"not {arr.shape[0]} clips of {arr.shape[1]} sample(s). "
                    "Downmix it with X.mean(axis=1) and pass the 1-D result."
                )
            if arr.shape[0] == 0:
                raise ValueError(
                    f"{name} holds no clips (shape {arr.shape}); pass at least one."
                )
            clips = [
                check_audio(row, name=name, index=i, min_length=min_length)
                for i, row in enumerate(arr)
            ]
            return clips, "array"
        raise ValueError(
            f"{name} has {arr.ndim} dimension(s) (shape {arr.shape}); pass one "
            "clip (1-D), a 2-D array (n_clips, n_samples) or a list of 1-D clips."
        )
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError(f"{name} is an empty list; pass at least one clip.")
        if all(isinstance(v, numbers.Real) for v in X):
            return [check_audio(np.asarray(X), name=name, min_length=min_length)], (
                "single"
            )
        clips = [
            check_audio(v, name=name, index=i, min_length=min_length)
            for i, v in enumerate(X)
        ]
        return clips, "list"
    raise TypeError(
        f"{name} is {type(X).__name__}; pass a 1-D clip, a 2-D array "
        "(n_clips, n_samples) or a list of 1-D clips."
    )


def as_plain(X):
    """Array-likes that are neither arrays nor lists (e.g. xarray, pandas) as
    NumPy arrays; everything else untouched."""
    if X is None or isinstance(X, (np.ndarray, list, tuple, str, bytes)):
        return X
    if hasattr(X, "__array__") and not hasattr(X, "tocsr"):
        return np.asarray(X)
    return X


def mirror_clips(outputs, layout):
    """Shape per-clip outputs the way the input was shaped.

    ``"single"`` gives the one output, ``"array"`` stacks them (they must share
    a shape) and ``"list"`` keeps a list.
    """
    if layout == "single":
        return outputs[0]
    if layout == "array":
        return np.stack(outputs)
    return list(outputs)


def check_alpha(alpha, *, name="alpha"):
    """Return ``alpha`` as a float in [0, 1] or raise a ValueError that says why.

    Examples
    --------
    >>> from sktimbre._validation import check_alpha
    >>> check_alpha(0.25)
    0.25
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(
            f"{name}={alpha!r} is not a number; pass a float between 0 "
            "(domain A) and 1 (domain B)."
        )
    alpha = float(alpha)
    if not np.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
        raise ValueError(
            f"{name}={alpha} is outside [0, 1]; pass a value between 0 "
            "(domain A) and 1 (domain B)."
        )
    return alpha


def pad_short_clips(clips, min_length, *, on_short="pad", name="X"):
    """Zero-pad clips shorter than ``min_length``, warning once, or raise.

    Returns new arrays; a padded clip's original length is kept by the caller.
    """
    short = [i for i, c in enumerate(clips) if c.shape[0] < min_length]
    if not short:
        return clips
    message = (
        f"{len(short)} clip(s) of {name} (first: {name}[{short[0]}] with "
        f"{clips[short[0]].shape[0]} samples) are shorter than n_fft="
        f"{min_length}"
    )
    if on_short == "raise":
        raise ValueError(
            message + "; pass longer clips, lower n_fft, or set "
            "short_clips='pad' to zero-pad them."
        )
    warnings.warn(
        message + "; they were zero-padded. Set short_clips='raise' to make "
        "this an error.",
        UserWarning,
        stacklevel=3,
    )
    return [
        np.pad(c, (0, min_length - c.shape[0])) if c.shape[0] < min_length else c
        for c in clips
    ]
