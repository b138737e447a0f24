"""Reading and writing audio files: soundfile for I/O, soxr for resampling."""

import os
import struct
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ._validation import check_audio

__all__ = ["load_audio", "save_audio"]


def _readable(path):
    return path.suffix.lower().lstrip(".") in {f.lower() for f in sf.available_formats()}


def _check_wav_complete(path):
    """soundfile reads a truncated WAV without complaint: compare the data
    chunk's declared size with what the file holds."""
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                remaining = os.path.getsize(path) - handle.tell()
                if remaining < size:
                    raise ValueError(
                        f"{path} is truncated: its header announces {size} bytes "
                        f"of audio but only {remaining} follow; re-export or "
                        "re-download the file.")
                return
            handle.seek(size + (size & 1), 1)


def _load_file(path, sr, mono, dtype):
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    _check_wav_complete(path)
    try:
        y, file_sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise ValueError(
            f"{path} could not be read as audio ({exc}); supported formats: "
            f"{', '.join(sorted(sf.available_formats()))}.") from exc
    if y.shape[0] == 0:
        raise ValueError(f"{path} holds no audio (0 frames).")
    # soundfile gives (n_samples, n_channels); librosa and sktimbre put time last.
    y = y.T
    if mono:
        y = y.mean(axis=0)  # equal-weight downmix, as librosa.to_mono
    if sr is not None and sr != file_sr:
        y = np.atleast_2d(y)
        y = np.stack([soxr.resample(ch, file_sr, sr, quality="HQ") for ch in y])
        y = y[0] if mono else y
        file_sr = sr
    if not np.isfinite(y).all():
        raise ValueError(f"{path} contains NaN or infinite samples.")
    if mono:
        y = check_audio(y, name=str(path))
    return y.astype(dtype), int(file_sr)


def load_audio(path, *, sr=None, mono=True, dtype=np.float32):
    """Load an audio file, a folder of audio files, or a list of paths.

    Parameters
    ----------
    path : str, path, or list of them
        A file; a folder (its audio files, sorted by name, non-audio files
        ignored); or a list of files.
    sr : int, optional
        Resample to this rate (soxr, high quality); ``None`` keeps the file's.
    mono : bool, default=True
        Average the channels (equal weights, as ``librosa.to_mono``);
        ``False`` returns ``(n_channels, n_samples)``, channels first.
    dtype : numpy dtype, default=float32

    Returns
    -------
    y : ndarray or list of ndarray
    sr : int

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sktimbre.io import load_audio, save_audio
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> _ = save_audio(path, np.zeros(44100, dtype=np.float32), 44100)
    >>> y, sr = load_audio(path, sr=22050)
    >>> y.shape, sr
    ((22050,), 22050)
    """
    if isinstance(path, (list, tuple)):
        loaded = [_load_file(Path(p), sr, mono, dtype) for p in path]
        rates = {r for _, r in loaded}
        if len(rates) > 1:
            raise ValueError(f"the files have different sample rates {sorted(rates)}; "
                             "pass sr= to resample them to one.")
        return [y for y, _ in loaded], rates.pop()
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _readable(p))
        if not files:
            raise ValueError(f"the folder {path} holds no audio files.")
        return load_audio(files, sr=sr, mono=mono, dtype=dtype)
    return _load_file(path, sr, mono, dtype)


def save_audio(path, y, sr, *, subtype=None):
    """Write mono ``(n_samples,)`` or ``(n_channels, n_samples)`` audio.

    Peaks above 1 are clipped with a warning; the format follows the file
    extension; parent folders are created. Returns the path.
    """
    y = np.asarray(y)
    if y.ndim == 1:
        y = check_audio(y, name="y")
    elif not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinite samples; clean it first.")
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 1.0:
        warnings.warn(f"peak {peak:.3f} exceeds 1.0 and was clipped; scale the "
                      "audio down to avoid distortion.", UserWarning, stacklevel=2)
        y = np.clip(y, -1.0, 1.0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.T, int(sr), subtype=subtype)
    return path
