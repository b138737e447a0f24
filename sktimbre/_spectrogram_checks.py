"""Whether spectrograms can be read by a given fitted transformer: the
settings that made them and their shape, dtype and values."""

import numpy as np

from ._spectrogram_array import carried_transformer


def same_transformer(a, b):
    """Whether two fitted transformers make interchangeable spectrograms."""
    if a is b:
        return True
    keys = ("sr", "n_fft", "hop_length", "win_length", "n_mels", "fmin", "fmax",
            "normalize")
    same = all(getattr(a, k) == getattr(b, k) for k in keys)
    return same and np.allclose(a.mean_, b.mean_) and np.allclose(a.scale_, b.scale_)


def describe(transformer):
    return (f"sr={transformer.sr}, n_fft={transformer.n_fft}, hop_length="
            f"{transformer.hop_length}, n_mels={transformer.n_mels}")


def check_carried(X, transformer, *, reader, fix):
    """Refuse spectrograms ``X`` made by a transformer whose settings differ
    from ``transformer``'s, which ``reader`` (words naming it) expects."""
    carried = carried_transformer(X)
    if carried is not None and not same_transformer(carried, transformer):
        raise ValueError(
            f"X was made by a SpectrogramTransformer with other settings "
            f"({describe(carried)}) than {reader} ({describe(transformer)}); "
            f"{fix}."
        )


def check_spectrogram(S, transformer, *, name, reader, fix):
    """Refuse a spectrogram that ``reader`` (words naming it) cannot read:
    rows other than ``transformer``'s (another n_fft or n_mels), no frames,
    values that are not real numbers, or NaN/inf values.

    Parameters
    ----------
    S : array-like
        One spectrogram, ``(n_freq, n_frames)``; left as it is.
    transformer : SpectrogramTransformer
        Fitted; the one whose spectrograms ``reader`` reads.
    name : str
        How the error names ``S``, as ``"X[2]"``.
    reader, fix : str
        Who reads ``S`` (``"this model"``), and what to do instead.
    """
    arr = np.asarray(S)
    if arr.ndim != 2 or arr.shape[0] != transformer.n_freq_ or arr.shape[1] == 0:
        raise ValueError(
            f"{name} has shape {arr.shape} but {reader} reads "
            f"({transformer.n_freq_}, n_frames) spectrograms with n_frames >= 1 "
            f"({describe(transformer)}); {fix}."
        )
    if arr.dtype.kind not in "fi":
        raise TypeError(f"{name} has dtype {arr.dtype}; pass a real array.")
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} holds NaN or infinite values; a spectrogram from "
            "transform is always finite, so check what produced it."
        )
