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

from ._atomic import atomic_path
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


# W64 names its chunks with GUIDs: the RIFF and WAVE headers, and the chunk
# that holds the samples.
_W64_RIFF = bytes.fromhex("72696666 2e91cf11 a5d628db 04c10000".replace(" ", ""))
_W64_WAVE = bytes.fromhex("77617665 f3acd311 8cd100c0 4f8edb8a".replace(" ", ""))
_W64_DATA = bytes.fromhex("64617461 f3acd311 8cd100c0 4f8edb8a".replace(" ", ""))


class _Chunks:
    """How a chunked container lays out its chunks.

    ``start``: offset of the first chunk; ``id_size``: bytes of a chunk's
    name; ``size_format``: struct format of its size field; ``align``: chunks
    start on multiples of this; ``inclusive``: whether the size counts the
    chunk's own header; ``data``: the name of the chunk holding the samples;
    ``lead``: bytes of that chunk before the samples; ``unknown``: size
    values that mean "not known when the header was written" (streaming
    writers that cannot seek back leave them, and readers use the file's
    length).
    """

    def __init__(self, kind, start, id_size, size_format, align, inclusive, data,
                 lead, unknown):
        self.kind, self.start, self.id_size = kind, start, id_size
        self.size_format, self.align, self.inclusive = size_format, align, inclusive
        self.data, self.lead, self.unknown = data, lead, unknown


def _container(head):
    """The chunk layout of a file starting with ``head``, or None."""
    riff = head[:4]
    if head[8:12] == b"WAVE" and riff in (b"RIFF", b"RIFX", b"RF64", b"BW64"):
        order = ">" if riff == b"RIFX" else "<"
        return _Chunks("WAV" if riff in (b"RIFF", b"RIFX") else riff.decode(), 12, 4,
                       order + "I", 2, False, b"data", 0, (0, 0xFFFFFFFF))
    if riff == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        # SSND: an offset and a block size, then the samples.
        return _Chunks("AIFF", 12, 4, ">I", 2, False, b"SSND", 8, (0, 0xFFFFFFFF))
    if head[:16] == _W64_RIFF and head[24:40] == _W64_WAVE:
        return _Chunks("W64", 40, 16, "<Q", 8, True, _W64_DATA, 0, (0,))
    if riff == b"caff":
        # data: an edit count, then the samples.
        return _Chunks("CAF", 8, 4, ">q", 1, False, b"data", 4, (-1,))
    return None


def _declared_audio(handle):
    """``(kind, offset, size)``: where the audio starts and how many bytes the
    header says it holds; None when the header does not say."""
    head = handle.read(40)
    if head[:4] in (b".snd", b"dns."):
        # AU/SND: a fixed header holding the data's offset and size.
        order = ">" if head[:4] == b".snd" else "<"
        offset, size = struct.unpack(order + "II", head[4:12])
        return None if size == 0xFFFFFFFF else ("AU", offset, size)
    layout = _container(head)
    if layout is None:
        return None
    header = layout.id_size + struct.calcsize(layout.size_format)
    position, ds64_size = layout.start, None
    while True:
        handle.seek(position)
        chunk = handle.read(header)
        if len(chunk) < header:
            # No audio chunk: libsndfile reports that on its own.
            return None
        name = chunk[:layout.id_size]
        size = struct.unpack(layout.size_format, chunk[layout.id_size:])[0]
        if name == b"ds64":
            # RF64 keeps 64-bit sizes here and 0xFFFFFFFF in the data chunk.
            ds64 = handle.read(16)
            ds64_size = struct.unpack("<Q", ds64[8:])[0] if len(ds64) == 16 else None
        content = size - header if layout.inclusive else size
        if name == layout.data:
            if size == 0xFFFFFFFF and ds64_size not in (None, 0, 2 ** 64 - 1):
                content = ds64_size
            elif size in layout.unknown:
                return None
            return (layout.kind, position + header + layout.lead,
                    content - layout.lead)
        if content < 0:
            return None  # damaged; libsndfile says so
        step = header + content
        position += step + (-step % layout.align)


def _check_complete(path):
    """Raise if a file holds less audio than its header announces.

    libsndfile reads a truncated WAV, RF64, W64, AIFF or AU file without an
    error (it returns the frames that are there), so an interrupted download
    or copy would silently become a shorter clip. These formats, and CAF, state
    the size of their audio in the header, which makes the check cheap.
    """
    with open(path, "rb") as handle:
        declared = _declared_audio(handle)
        if declared is None:
            return
        kind, offset, size = declared
        available = max(os.fstat(handle.fileno()).st_size - offset, 0)
    if available < size:
        raise ValueError(
            f"{path} is truncated: its {kind} header announces {size} bytes "
            f"of audio but only {available} follow ({100 * available // size}%). "
            "The file was cut short, e.g. by an interrupted download or copy; "
            "fetch or export it again."
        )


def _flac_samples(path):
    """The number of samples a FLAC file's STREAMINFO announces (0: unknown),
    or None for other files."""
    with open(path, "rb") as handle:
        head = handle.read(26)
    # "fLaC", a 4-byte block header, then STREAMINFO: 10 bytes of block and
    # frame sizes, then 20 bits of rate, 3 of channels, 5 of sample size and
    # 36 of total samples.
    if len(head) < 26 or head[:4] != b"fLaC" or head[4] & 0x7F != 0:
        return None
    return int.from_bytes(head[18:26], "big") & (2 ** 36 - 1)


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
    _check_complete(path)
    announced = _flac_samples(path)
    read_dtype = "float64" if dtype == np.float64 else "float32"
    try:
        # always_2d so the layout is known: (n_samples, n_channels).
        y, file_sr = sf.read(path, dtype=read_dtype, always_2d=True)
    except (sf.SoundFileError, RuntimeError, TypeError) as exc:
        if announced:
            # libsndfile fails on a FLAC file that ends before the samples its
            # STREAMINFO announces (lost sync, or a failed seek at the end).
            raise ValueError(
                f"{path} is truncated or damaged: its FLAC header announces "
                f"{announced} samples per channel, but decoding failed ({exc}). "
                "Fetch or export it again."
            ) from exc
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
        If a file cannot be decoded, is truncated (holds less audio than its
        WAV, RF64, W64, AIFF, AU, CAF or FLAC header announces), holds no
        frames or holds NaN/inf samples (the message names the file); if a
        folder holds no audio files; or if the files' rates differ and ``sr``
        is None.

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
        files = _audio_files(path)
        return _load_many(files, sr, mono, dtype, where=f"the files in {path}")
    return _load_file(path, sr, mono, dtype)


def _audio_files(folder):
    """The audio files of ``folder`` in name order, as ``load_audio`` reads
    them; raises if there are none."""
    folder = Path(folder)
    files = sorted(
        p
        for p in folder.iterdir()
        # Hidden files include macOS's "._name.wav" metadata twins, which
        # have an audio extension but are not audio.
        if p.is_file() and not p.name.startswith(".") and _format_of(p)
    )
    if not files:
        raise ValueError(
            f"the folder {folder} holds no audio files (looked for these "
            f"formats: {_supported()}). Check the folder, or convert the "
            "files, e.g. to WAV or FLAC."
        )
    return files


def save_audio(path, y, sr, *, subtype=None):
    """Write mono or multichannel audio to a file.

    Parameters
    ----------
    path : str or path-like
        Where to write; the extension picks the format (``.wav``, ``.flac``,
        ``.ogg``, ``.aiff``, ... any of ``soundfile.available_formats()``).
        Missing parent folders are created; an existing file is replaced
        only once the new one is written whole, so a failed write leaves it
        as it was.
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
    try:
        # Written whole or not at all: a failed write (a rate the format
        # cannot hold, a full disk) leaves an existing file as it was.
        with atomic_path(path) as temporary:
            # soundfile wants (n_samples, n_channels).
            sf.write(temporary, arr.T, int(sr), subtype=subtype, format=fmt)
    except (sf.SoundFileError, RuntimeError, TypeError) as exc:
        raise ValueError(
            f"could not write {path} as {fmt} at {int(sr)} Hz: {exc} Try "
            "another format (WAV and FLAC take any rate) or subtype."
        ) from exc
    return path
