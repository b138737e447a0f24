"""Input checks shared by every entry point that takes audio.

One validator, used everywhere, in the spirit of ``librosa.util.valid_audio``:
each error names the offending clip, the rule it broke and what to do instead.
"""

import numbers
import os
import warnings

import numpy as np
from sklearn.utils import check_consistent_length

from ._spectrogram_array import Spectrogram

__all__ = [
    "check_audio",
    "check_clips",
    "check_alpha",
    "mirror_clips",
    "is_label_vector",
    "split_instruments",
    "split_clips",
]

# A 2-D array with at most this many columns is soundfile's (n_samples,
# n_channels) layout (up to 7.1 surround) once it has many more rows than
# columns (see _is_channels_last): read as (n_clips, n_samples) it would be
# clips of 8 samples or fewer, shorter than any n_fft.
_MAX_CHANNELS_LAST = 8
# Rows per column from which 3 to 8 columns are read as channels: any real
# recording is longer than 64 samples (3 ms), while small tables such as
# scikit-learn's test data, 20 to 150 rows of 3 to 5 columns, stay clips.
_MIN_SAMPLES_PER_CHANNEL = 64


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
        if arr.ndim == 2 and min(arr.shape) <= _MAX_CHANNELS_LAST:
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
            if _is_channels_last(arr):
                raise ValueError(
                    f"{name} has shape {arr.shape}: this is soundfile's "
                    f"(n_samples, n_channels) layout of one multichannel clip "
                    f"with {arr.shape[1]} channel(s), not {arr.shape[0]} clips "
                    f"of {arr.shape[1]} sample(s). sktimbre works on mono "
                    f"clips: downmix it with {name}.mean(axis=1) and pass the "
                    "1-D result (or pass the channels as separate clips, "
                    f"{name}.T). Should it really be a batch of clips that "
                    "short, pass them as a list of 1-D arrays."
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


def _is_channels_last(arr):
    """Whether a 2-D array is one multichannel clip in soundfile's layout.

    One or two columns under more rows (stereo), or 3 to
    ``_MAX_CHANNELS_LAST`` columns under at least
    ``_MIN_SAMPLES_PER_CHANNEL`` rows each: read as ``(n_clips, n_samples)``
    it would be many clips too short for any STFT, so the shape only makes
    sense as ``(n_samples, n_channels)``.
    """
    n_rows, n_columns = arr.shape
    if n_columns <= 2:
        return n_rows > n_columns
    return (n_columns <= _MAX_CHANNELS_LAST
            and n_rows >= _MIN_SAMPLES_PER_CHANNEL * n_columns)


def as_items(X):
    """The clips or spectrograms of ``X`` as a list, without copying.

    A list of numbers is one clip; a 1-D array one clip; a 2-D array rows of
    clips, unless it is a :class:`~sktimbre.Spectrogram` (then it is one);
    a 3-D array a batch of spectrograms.
    """
    if isinstance(X, (list, tuple)):
        if X and all(isinstance(v, numbers.Real) for v in X):
            return [X]
        return list(X)
    arr = X if isinstance(X, Spectrogram) else np.asarray(X)
    if arr.ndim <= 1 or (arr.ndim == 2 and isinstance(arr, Spectrogram)):
        return [arr]
    return [arr[i] for i in range(arr.shape[0])]


def is_label_vector(y, X):
    """Whether ``y`` holds one label per clip of ``X`` rather than audio.

    ``fit(X, y)`` takes either two instruments' clips or all clips and their
    labels. A list of scalars or a 1-D array of integers, booleans, strings
    or objects is labels, whatever its length (a wrong count is then an
    error, not a clip). A 1-D float array is ambiguous, since a mono clip is
    one too: it is labels only when it has exactly one entry per clip of
    ``X``, and instrument B's audio otherwise. Complex values and
    spectrograms are never labels.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre._validation import is_label_vector
    >>> clips = np.zeros((4, 1000), dtype=np.float32)
    >>> is_label_vector(["a", "a", "b", "b"], clips)
    True
    >>> is_label_vector(np.array([0.0, 0.0, 1.0, 1.0]), clips)
    True
    >>> is_label_vector(np.zeros(1000, dtype=np.float32), clips)  # one clip
    False
    """
    if isinstance(y, Spectrogram) or y is None:
        return False
    if isinstance(y, (list, tuple)):
        if not y or any(np.ndim(v) != 0 for v in y):
            return False
    arr = np.asarray(as_plain(y))
    if arr.ndim != 1 or arr.dtype.kind == "c":
        return False
    return arr.dtype.kind != "f" or arr.shape[0] == len(as_items(as_plain(X)))


def _require_y(y, who):
    # Worded as scikit-learn's estimator checks expect of a missing y.
    if y is None:
        raise ValueError(
            f"{who} requires y to be passed, but the target y is None. Pass "
            "either the second instrument's clips (X holding the first's) or "
            "one label per clip of X with exactly two classes."
        )


def split_instruments(X, y, *, who="This estimator"):
    """Split ``fit(X, y)``'s input into instrument A's and instrument B's.

    The one place where both calling forms are told apart: ``fit(a, b)`` with
    each instrument's clips (or spectrograms), and ``fit(clips, labels)``
    with one label per clip and exactly two classes, the sorted first being
    instrument A. See :func:`is_label_vector` for how ``y`` is read.

    Parameters
    ----------
    X : array-like or Spectrogram
        Instrument A's clips, or all clips when ``y`` holds labels. Not
        validated here: raw audio goes through :func:`check_clips`.
    y : array-like or Spectrogram
        Instrument B's clips, or one label per clip of ``X``.
    who : str, default="This estimator"
        What is being fitted, for messages.

    Returns
    -------
    x_a, x_b : list or array-like
        With labels, lists of the items of ``X`` (the caller's arrays or views
        of them, never modified); otherwise ``X`` and ``y`` as given.
    classes : ndarray of shape (2,) or None
        The sorted labels, or None when ``y`` is instrument B.

    Raises
    ------
    ValueError
        If ``y`` is None, holds labels for another number of clips than ``X``
        has, or holds other than two classes.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre._validation import split_instruments
    >>> clips = [np.full(100, v, dtype=np.float32) for v in (0.1, 0.2, 0.3)]
    >>> a, b, classes = split_instruments(clips, ["v", "f", "v"])
    >>> len(a), len(b), classes.tolist()
    (1, 2, ['f', 'v'])
    >>> split_instruments(clips, [0, 1])
    Traceback (most recent call last):
    ...
    ValueError: X holds 3 clip(s) but y holds 2 label(s)...
    """
    X, y = as_plain(X), as_plain(y)
    _require_y(y, who)
    if not is_label_vector(y, X):
        return X, y, None
    items, labels = as_items(X), np.asarray(y)
    try:
        check_consistent_length(items, labels)
    except ValueError as exc:
        pcm = (
            " If y is instead the second instrument's audio as integer PCM, "
            "convert it to floats first: y.astype(np.float32) / "
            "np.iinfo(y.dtype).max."
        ) if labels.dtype.kind in "iu" else ""
        raise ValueError(
            f"X holds {len(items)} clip(s) but y holds {len(labels)} label(s); "
            f"{who} needs exactly one label per clip of X to tell the two "
            "instruments apart, so no clip is dropped or guessed. Pass one "
            "label per clip, or the second instrument's clips as y." + pcm
        ) from exc
    classes = np.unique(labels)
    if len(classes) != 2:
        raise ValueError(
            f"y holds {len(classes)} class(es) {classes.tolist()[:5]}; {who} "
            "needs exactly two, one per instrument: pass labels of both "
            "instruments and no others (in a search, a StratifiedKFold keeps "
            "both in every fold)."
        )
    return (
        [items[i] for i in np.flatnonzero(labels == classes[0])],
        [items[i] for i in np.flatnonzero(labels == classes[1])],
        classes,
    )


def split_clips(X, y, *, who="This estimator"):
    """Validated clips of each instrument from either calling form of ``fit``.

    :func:`check_clips` on ``X`` (and on ``y`` when it holds clips), then
    :func:`split_instruments`; for estimators that take raw audio only.

    Returns
    -------
    clips_a, clips_b : list of ndarray
        New 1-D float arrays, one per clip.
    classes : ndarray of shape (2,) or None
        As for :func:`split_instruments`.

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre._validation import split_clips
    >>> a, b, classes = split_clips(np.zeros((3, 100)), np.zeros(50))
    >>> len(a), len(b), classes is None
    (3, 1, True)
    """
    _require_y(y, who)
    clips, _ = check_clips(as_plain(X), name="X")
    clips_a, clips_b, classes = split_instruments(clips, y, who=who)
    if classes is None:
        clips_b, _ = check_clips(as_plain(clips_b), name="y")
    return list(clips_a), list(clips_b), classes


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
