"""Reading and writing audio files: soundfile for I/O, soxr for resampling.

Arrays follow librosa's conventions: a mono clip is ``(n_samples,)`` and
multichannel audio is channels first, ``(n_channels, n_samples)``, with float
samples nominally in [-1, 1]. soundfile's own ``(n_samples, n_channels)``
layout never leaves this module.
"""

import numbers
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ._validation import check_audio

__all__ = ["load_audio", "save_audio"]

# File-name extensions that are not a soundfile format name but are common
# spellings of one. Reading never depends on them (libsndfile detects the
# format from the file's contents); they only decide which files of a folder
# are audio, and which format save_audio writes.
_EXTENSION_ALIASES = {"aif": "AIFF", "aifc": "AIFF", "oga": "OGG", "wave": "WAV"}
# Headerless raw PCM needs its rate, channels and encoding to be passed in, so
# a ".raw" file is never picked up as audio.
_NEEDS_PARAMETERS = {"RAW"}
# A RIFF size field holding one of these means "unknown": streaming writers
# that cannot seek back leave the placeholder, and readers use the file length.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


def _formats():
    return {name for name in sf.available_formats() if name not in _NEEDS_PARAMETERS}


def _format_of(path):
    """The soundfile format name a file's extension stands for, or None."""
    ext = Path(path).suffix.lower().lstrip(".")
    name = _EXTENSION_ALIASES.get(ext, ext.upper())
    return name if name in _formats() else None


def _supported():
    return ", ".join(sorted(_formats()))


def _check_sr(sr, name="sr"):
    if sr is None:
        return None
    if (
        isinstance(sr, bool)
        or not isinstance(sr, numbers.Real)
        or not np.isfinite(sr)
        or sr <= 0
    ):
        raise ValueError(
            f"{name}={sr!r} is not a sample rate; pass a positive number of "
            "samples per second such as 22050, or None to keep the file's rate."
        )
    return int(sr) if float(sr).is_integer() else float(sr)


def _check_wav_complete(path):
    """Raise if a RIFF/WAVE file holds less audio than its header announces.

    libsndfile reads a truncated WAV without an error (it returns the frames
    that are there), so an interrupted download or copy would silently become
    a shorter clip. WAV states its data size up front, which makes the check
    cheap; other formats either fail in libsndfile or carry no such size, so
    only RIFF (little-endian) and RIFX (big-endian) WAVs are checked. RF64 and
    W64 keep 64-bit sizes elsewhere and are left to libsndfile.
    """
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[8:12] != b"WAVE":
            return
        if header[:4] == b"RIFF":
            order = "<"
        elif header[:4] == b"RIFX":
            order = ">"
        else:
            return
        file_size = os.fstat(handle.fileno()).st_size
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                # No data chunk at all: libsndfile reports that on its own.
                return
            chunk_id, size = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
            if chunk_id == b"data":
                if size in _UNKNOWN_SIZES:
                    return
                available = file_size - handle.tell()
                if available < size:
                    raise ValueError(
                        f"{path} is truncated: its WAV header announces {size} "
                        f"bytes of audio but only {available} follow "
                        f"({available / size:.0%}). The file was cut short, "
                        "e.g. by an interrupted download or copy; fetch or "
                        "export it again."
                    )
                return
            # Chunks are word-aligned: an odd-sized chunk has one pad byte.
            handle.seek(size + (size & 1), os.SEEK_CUR)


def _load_file(path, sr, mono, dtype):
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; check the path (relative paths start "
            f"from the working directory {Path.cwd()})."
        )
    if path.is_dir():
        raise ValueError(
            f"{path} is a folder inside a list of paths; pass the folder on "
            "its own, load_audio(folder), to read the audio files in it."
        )
    _check_wav_complete(path)
    read_dtype = "float64" if dtype == np.float64 else "float32"
    try:
        # always_2d so the layout is known: (n_samples, n_channels).
        y, file_sr = sf.read(path, dtype=read_dtype, always_2d=True)
    except (sf.SoundFileError, RuntimeError, TypeError) as exc:
        raise ValueError(
            f"{path} could not be read as audio: {exc} soundfile reads "
            f"these formats: {_supported()}. Check that the file is not "
            "damaged, or convert it, e.g. `ffmpeg -i in.m4a out.wav`."
        ) from exc
    if y.shape[0] == 0:
        raise ValueError(
            f"{path} holds no audio (0 frames); remove it or export it again."
        )
    finite = np.isfinite(y)
    if not finite.all():
        # Checked before resampling, which would smear one bad sample over
        # its neighbours and hide where it was.
        bad = int(y.size - np.count_nonzero(finite))
        raise ValueError(
            f"{path} contains {bad} NaN or infinite sample(s) (a float file "
            "written from unchecked data); repair it, e.g. rewrite it from "
            "np.nan_to_num(y), or leave it out."
        )
    if mono:
        # Equal-weight mean of the channels, as librosa.to_mono.
        y = y.mean(axis=1)
    if sr is not None and sr != file_sr:
        y = soxr.resample(np.ascontiguousarray(y), file_sr, sr, quality="HQ")
        file_sr = sr
    if mono:
        y = check_audio(y, name=str(path))
    else:
        # Channels first, as librosa.
        y = np.ascontiguousarray(y.T)
    return y.astype(dtype, copy=False), file_sr


def _load_many(paths, sr, mono, dtype, where):
    clips, rate, first = [], None, None
    for path in paths:
        y, file_sr = _load_file(Path(path), sr, mono, dtype)
        if rate is None:
            rate, first = file_sr, path
        elif file_sr != rate:
            # Clips at different rates cannot share one `sr`; stop before
            # decoding the rest.
            raise ValueError(
                f"{where} mix sample rates: {first} is at {rate} Hz but "
                f"{path} is at {file_sr} Hz. Pass sr= (e.g. sr=22050) to "
                "resample them all to one rate."
            )
        clips.append(y)
    return clips, rate


def load_audio(path, *, sr=None, mono=True, dtype=np.float32):
    """Load an audio file, the audio files of a folder, or a list of files.

    Parameters
    ----------
    path : str, path-like, or list of them
        A file; a folder, whose audio files are read in name order (files
        whose extension is not a format soundfile reads, see
        ``soundfile.available_formats()``, are ignored, as are hidden files
        and sub-folders); or a list of files.
    sr : number, optional
        Resample to this rate with soxr (quality ``"HQ"``). ``None`` keeps the
        file's rate; the files of a folder or list must then share one.
    mono : bool, default=True
        Downmix to one channel with the equal-weight mean of the channels, as
        ``librosa.to_mono``. ``False`` keeps the channels and returns them
        first, ``(n_channels, n_samples)``, as librosa does.
    dtype : {np.float32, np.float64}, default=np.float32
        Sample type of the returned arrays.

    Returns
    -------
    y : ndarray or list of ndarray
        For a file, one array of shape ``(n_samples,)`` (or
        ``(n_channels, n_samples)`` with ``mono=False``); for a folder or a
        list, a list of them.
    sr : int or float
        Their sample rate: ``sr`` if given, otherwise the files' rate.

    Raises
    ------
    FileNotFoundError
        If a file or folder does not exist.
    ValueError
        If a file cannot be decoded, is a truncated WAV, holds no frames or
        holds NaN/inf samples (the message names the file); if a folder holds
        no audio files; or if the files' rates differ and ``sr`` is None.

    See Also
    --------
    save_audio : Write audio in the same layout.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sktimbre.io import load_audio, save_audio
    >>> folder = tempfile.TemporaryDirectory()
    >>> tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)
    >>> path = save_audio(f"{folder.name}/tone.wav", tone, 44100)
    >>> y, sr = load_audio(path, sr=22050)
    >>> y.shape, y.dtype, sr
    ((22050,), dtype('float32'), 22050)
    >>> clips, sr = load_audio(folder.name)
    >>> len(clips), sr
    (1, 44100)
    >>> folder.cleanup()
    """
    sr = _check_sr(sr)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(
            f"dtype={np.dtype(dtype)} is not supported: audio is returned as "
            "floats in [-1, 1]. Pass np.float32 or np.float64 (for integer "
            "PCM, read the file with soundfile.read(path, dtype='int16'))."
        )
    dtype = np.dtype(dtype)
    if isinstance(path, (list, tuple)):
        if len(path) == 0:
            raise ValueError("path is an empty list; pass at least one file.")
        return _load_many(path, sr, mono, dtype, where="the files")
    if isinstance(path, np.ndarray) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path is {type(path).__name__}; pass a file or folder path, or a "
            "list of file paths. Arrays of samples need no loading."
        )
    path = Path(path)
    if path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            # Hidden files include macOS's "._name.wav" metadata twins, which
            # have an audio extension but are not audio.
            if p.is_file() and not p.name.startswith(".") and _format_of(p)
        )
        if not files:
            raise ValueError(
                f"the folder {path} holds no audio files (looked for these "
                f"formats: {_supported()}). Check the folder, or convert the "
                "files, e.g. to WAV or FLAC."
            )
        return _load_many(files, sr, mono, dtype, where=f"the files in {path}")
    return _load_file(path, sr, mono, dtype)


def save_audio(path, y, sr, *, subtype=None):
    """Write mono or multichannel audio to a file.

    Parameters
    ----------
    path : str or path-like
        Where to write; the extension picks the format (``.wav``, ``.flac``,
        ``.ogg``, ``.aiff``, ... any of ``soundfile.available_formats()``).
        Missing parent folders are created; an existing file is replaced.
    y : array-like of shape (n_samples,) or (n_channels, n_samples)
        Float samples in [-1, 1], channels first as librosa (the transpose of
        soundfile's layout).
    sr : int
        Sample rate in Hz.
    subtype : str, optional
        Sample encoding, e.g. ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``; the
        format's default (``soundfile.default_subtype``) if None.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If ``y`` is empty, holds NaN/inf or has the wrong shape, or if the
        extension or subtype is not supported.

    Warns
    -----
    UserWarning
        If the peak exceeds 1: the samples are clipped to [-1, 1] and the
        warning says by how much they exceeded it.

    See Also
    --------
    load_audio : Read it back.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sktimbre.io import load_audio, save_audio
    >>> folder = tempfile.TemporaryDirectory()
    >>> stereo = np.zeros((2, 1000), dtype=np.float32)
    >>> path = save_audio(f"{folder.name}/new/stereo.flac", stereo, 16000)
    >>> load_audio(path, mono=False)[0].shape
    (2, 1000)
    >>> folder.cleanup()
    """
    path = Path(path)
    arr = np.asarray(y)
    if arr.ndim == 1:
        arr = check_audio(arr, name="y")
    elif arr.ndim == 2 and arr.shape[0] > 0:
        if arr.shape[0] > arr.shape[1]:
            raise ValueError(
                f"y has shape {arr.shape}: more channels than samples, so it "
                "is probably soundfile's (n_samples, n_channels) layout. "
                "save_audio takes channels first, (n_channels, n_samples): "
                "pass y.T."
            )
        arr = np.stack(
            [check_audio(ch, name="y", index=i) for i, ch in enumerate(arr)]
        )
    else:
        raise ValueError(
            f"y has shape {arr.shape}; pass one clip (n_samples,) or "
            "channels-first audio (n_channels, n_samples)."
        )
    if (
        isinstance(sr, bool)
        or not isinstance(sr, numbers.Real)
        or not float(sr).is_integer()
        or sr <= 0
    ):
        raise ValueError(
            f"sr={sr!r} is not a valid sample rate for a file; pass a positive "
            "whole number of samples per second such as 22050."
        )
    fmt = _format_of(path)
    if fmt is None:
        raise ValueError(
            f"cannot tell which format to write from the extension of {path}; "
            f"use the extension of one of {_supported()} (e.g. .wav, .flac)."
        )
    if subtype is not None and not sf.check_format(fmt, subtype):
        raise ValueError(
            f"subtype={subtype!r} is not available for {fmt} files; pass one "
            f"of {sorted(sf.available_subtypes(fmt))} or None for the default."
        )
    peak = float(np.max(np.abs(arr)))
    if peak > 1.0:
        # Integer encodings saturate out-of-range samples and float ones keep
        # them for players to clip: either way the file differs from `y`, so
        # clip here where the user can be told.
        over = 100 * (peak - 1.0)
        warnings.warn(
            f"y peaks at {peak:.3g}, {over:.3g}% ({20 * np.log10(peak):.2f} dB) "
            f"above full scale; it was clipped to [-1, 1] before writing "
            f"{path}. Scale it down first, e.g. y / np.abs(y).max(), to keep "
            "the waveform undistorted.",
            UserWarning,
            stacklevel=2,
        )
        arr = np.clip(arr, -1.0, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # soundfile wants (n_samples, n_channels).
        sf.write(path, arr.T, int(sr), subtype=subtype, format=fmt)
    except (sf.SoundFileError, RuntimeError, TypeError) as exc:
        raise ValueError(
            f"could not write {path} as {fmt} at {int(sr)} Hz: {exc} Try "
            "another format (WAV and FLAC take any rate) or subtype."
        ) from exc
    return path
