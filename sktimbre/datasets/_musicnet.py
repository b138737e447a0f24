"""Solo recordings from a local copy of MusicNet, cut into training clips."""

import csv
import numbers
from pathlib import Path

import numpy as np
import soundfile as sf
from sklearn.utils import Bunch

from ..io import load_audio

__all__ = ["load_musicnet"]

ZENODO_URL = "https://zenodo.org/records/5120004"
METADATA_FILE = "musicnet_metadata.csv"
# musicnet.tar.gz extracts to a "musicnet" folder holding the split folders,
# while musicnet_metadata.csv is a separate download that usually lands beside
# it; both that layout and a flat one are accepted.
_NESTED = "musicnet"
_SPLITS = {"train": ("train",), "test": ("test",), "both": ("train", "test")}
# Label columns, in the files' order; times are sample indices into the
# 44.1 kHz recording and `instrument` is a General MIDI program numbered from
# 1 (1 piano, 7 harpsichord, 41 violin, 42 viola, 43 cello, 44 contrabass,
# 61 horn, 69 oboe, 71 bassoon, 72 clarinet, 74 flute). Only start_time,
# end_time and note are used: a solo recording has one instrument.
LABEL_COLUMNS = (
    "start_time", "end_time", "instrument", "note",
    "start_beat", "end_beat", "note_value",
)
_HOW_TO_GET = (
    f"MusicNet is published at {ZENODO_URL}: download musicnet.tar.gz and "
    f"{METADATA_FILE} and extract the archive yourself (about 11 GB, 50 GB "
    "extracted); sktimbre never downloads it."
)


def _missing(path, what):
    return FileNotFoundError(f"{what} {path} does not exist. {_HOW_TO_GET}")


def _find_layout(root):
    """The folder holding musicnet_metadata.csv and the one holding the splits."""
    if not root.is_dir():
        raise _missing(root, "The MusicNet folder")
    candidates = [root, root / _NESTED]
    metadata = next(
        (c / METADATA_FILE for c in candidates if (c / METADATA_FILE).is_file()),
        None,
    )
    if metadata is None:
        raise _missing(root / METADATA_FILE, "The metadata file")
    data = next(
        (
            c
            for c in candidates
            if any((c / f"{split}_data").is_dir() for split in ("train", "test"))
        ),
        None,
    )
    if data is None:
        raise _missing(root / "train_data", "The audio folder")
    return metadata, data


def _read_metadata(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if not {"id", "ensemble"} <= set(columns):
            raise ValueError(
                f"{path} has columns {columns}; MusicNet's metadata needs at "
                "least 'id' and 'ensemble'. Pass the root of an unmodified "
                "copy of MusicNet."
            )
        rows = {}
        for line, row in enumerate(reader, start=2):
            try:
                rows[int(row["id"])] = row
            except (TypeError, ValueError):
                raise ValueError(
                    f"{path}, line {line}: id={row['id']!r} is not a whole "
                    "number; the file looks damaged: download it again."
                ) from None
    return rows


def _read_labels(path, rate, sr):
    """(onset, offset, pitch) rows in samples at ``sr`` from a label CSV."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"start_time", "end_time", "note"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(
                f"{path} lacks the column(s) {sorted(missing)}; MusicNet "
                f"labels have the columns {', '.join(LABEL_COLUMNS)}."
            )
        rows = [
            (float(r["start_time"]), float(r["end_time"]), float(r["note"]))
            for r in reader
        ]
    notes = np.array(rows, dtype=np.float64).reshape(-1, 3)
    notes[:, :2] *= sr / rate
    return np.round(notes).astype(np.int64)


def _trimmed_notes(notes, intervals):
    """Move notes onto the time line that keeps only ``intervals``.

    A note that spans a removed gap comes out whole, since the two sides of
    the gap meet once it is cut.
    """
    pieces, kept = [], 0
    for start, end in intervals:
        inside = (notes[:, 0] < end) & (notes[:, 1] > start)
        index = np.flatnonzero(inside)
        on = np.maximum(notes[index, 0], start) - start + kept
        off = np.minimum(notes[index, 1], end) - start + kept
        pieces.append(np.column_stack([index, on, off]))
        kept += end - start
    pieces = np.concatenate(pieces) if pieces else np.zeros((0, 3), np.int64)
    if len(pieces) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    # A stable sort keeps each note's pieces in time order.
    pieces = pieces[np.argsort(pieces[:, 0], kind="stable")]
    joins = np.zeros(len(pieces), dtype=bool)
    joins[1:] = (pieces[1:, 0] == pieces[:-1, 0]) & (pieces[1:, 1] == pieces[:-1, 2])
    first = np.flatnonzero(~joins)
    on = pieces[first, 1]
    off = np.maximum.reduceat(pieces[:, 2], first)
    return np.column_stack([on, off, notes[pieces[first, 0], 2]])


def _clip_notes(notes, start, length, sr):
    end = start + length
    inside = notes[(notes[:, 0] < end) & (notes[:, 1] > start)]
    rows = np.column_stack([
        (np.maximum(inside[:, 0], start) - start) / sr,
        (np.minimum(inside[:, 1], end) - start) / sr,
        inside[:, 2],
    ]).astype(np.float64)
    return rows[np.argsort(rows[:, 0], kind="stable")]


def _check_params(instruments, seconds, sr, split, top_db, max_clips):
    if isinstance(instruments, str):
        instruments = (instruments,)
    instruments = tuple(instruments)
    if not instruments or not all(isinstance(i, str) for i in instruments):
        raise ValueError(
            f"instruments={instruments!r}; pass instrument names such as "
            "('violin', 'flute')."
        )
    names = tuple(i.strip().lower() for i in instruments)
    if len(set(names)) != len(names):
        raise ValueError(
            f"instruments={instruments!r} names an instrument twice; list "
            "each once."
        )
    if isinstance(sr, bool) or not isinstance(sr, numbers.Integral) or sr <= 0:
        raise ValueError(
            f"sr={sr!r} is not a sample rate; pass a positive whole number "
            "such as 22050."
        )
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, numbers.Real)
        or not np.isfinite(seconds)
        or round(seconds * sr) < 1
    ):
        raise ValueError(
            f"seconds={seconds!r} is not a clip length; pass a positive "
            "number of seconds such as 5.0."
        )
    if split not in _SPLITS:
        raise ValueError(
            f"split={split!r} is not one of {sorted(_SPLITS)}; MusicNet ships "
            "a train and a test folder, and 'both' reads the two."
        )
    if top_db is not None and (
        isinstance(top_db, bool)
        or not isinstance(top_db, numbers.Real)
        or not top_db > 0
    ):
        raise ValueError(
            f"top_db={top_db!r}; pass a positive number of decibels below "
            "the peak to count as silence (e.g. 40), or None to keep silence."
        )
    if max_clips is not None and (
        isinstance(max_clips, bool)
        or not isinstance(max_clips, numbers.Integral)
        or max_clips < 1
    ):
        raise ValueError(
            f"max_clips={max_clips!r}; pass a positive whole number of clips "
            "per instrument, or None for all."
        )
    return names


def _select(metadata, metadata_path, names):
    solo = sorted({r["ensemble"] for r in metadata.values()
                   if r["ensemble"].startswith("Solo ")})
    selected = {}
    for name in names:
        ensemble = "Solo " + name.title()
        ids = sorted(i for i, r in metadata.items() if r["ensemble"] == ensemble)
        if not ids:
            choices = ", ".join(repr(s[5:].lower()) for s in solo) or "none"
            raise ValueError(
                f"{metadata_path} lists no recording with ensemble "
                f"{ensemble!r}, so there is no solo {name} in MusicNet. Solo "
                f"ensembles available: {solo}; pick instruments among "
                f"{choices}."
            )
        selected[name] = ids
    return selected


def _locate(selected, data, split, metadata_path):
    """Each selected recording's wav and split, checked before any decoding."""
    located = {}
    for name, ids in selected.items():
        located[name], elsewhere = [], []
        for rec in ids:
            paths = {s: data / f"{s}_data" / f"{rec}.wav" for s in ("train", "test")}
            found = [s for s in _SPLITS[split] if paths[s].is_file()]
            if found:
                located[name].append((rec, paths[found[0]], found[0]))
            elif any(paths[s].is_file() for s in paths):
                elsewhere.append(rec)
            else:
                wanted = " or ".join(str(paths[s]) for s in _SPLITS["both"])
                raise FileNotFoundError(
                    f"Recording {rec} is listed in {metadata_path} but its "
                    f"audio {wanted} does not exist: the copy is incomplete. "
                    + _HOW_TO_GET
                )
        if not located[name]:
            raise ValueError(
                f"no solo {name} recording is in the {split} split (ids "
                f"{elsewhere} are in the other one); pass split='both'."
            )
    return located


def load_musicnet(
    root,
    *,
    instruments=("violin", "flute"),
    seconds=5.0,
    sr=22050,
    split="both",
    top_db=40,
    max_clips=None,
    verbose=0,
):
    """Load MusicNet's solo recordings of some instruments as clips.

    MusicNet (Thickstun, Harchaoui and Kakade, "Learning Features of Music
    from Scratch", ICLR 2017; CC BY 4.0) holds 330 classical recordings with
    aligned note labels. This reads a local copy in its published layout::

        root/
            musicnet_metadata.csv
            train_data/<id>.wav    test_data/<id>.wav     (44.1 kHz)
            train_labels/<id>.csv  test_labels/<id>.csv

    (the split folders may also sit in ``root/musicnet/``, where the archive
    puts them). Nothing is downloaded: get the files from
    https://zenodo.org/records/5120004 and extract them first.

    Each recording whose ``ensemble`` is ``"Solo " + instrument.title()``
    ("Solo Violin", "Solo Flute", ...) is resampled to ``sr``, its silences
    are cut out (the intervals within ``top_db`` of its peak are joined) and
    the rest is cut into consecutive clips of ``seconds``.

    Parameters
    ----------
    root : str or path-like
        Folder of the extracted copy.
    instruments : str or sequence of str, default=("violin", "flute")
        Instrument names, e.g. ``"violin"``, ``"flute"``, ``"cello"``,
        ``"piano"``; each must have a "Solo ..." ensemble in the metadata.
    seconds : float, default=5.0
        Clip length. The last clip of a recording is shorter when what is
        left is at least half a clip; a shorter tail is dropped.
    sr : int, default=22050
        Sample rate of the clips (soxr resampling from 44.1 kHz).
    split : {"both", "train", "test"}, default="both"
        Read recordings from ``train_data``, ``test_data`` or both.
    top_db : float or None, default=40
        Frames quieter than this many dB below a recording's peak are silence
        and removed (``librosa.effects.split``); None keeps everything.
    max_clips : int, optional
        Stop after this many clips per instrument (recordings are read in id
        order, and no further ones are decoded).
    verbose : int, default=0
        Print one line per recording when positive.

    Returns
    -------
    data : Bunch
        ``data[instrument]`` (e.g. ``data.violin``): list of float32 clips.
        ``<instrument>_clip_ids``: ndarray, the recording id of each clip
        (use as ``groups`` so a recording's clips stay on one side of a
        split). ``<instrument>_notes``: per clip an array of (onset_s,
        offset_s, midi_pitch) rows on the clip's time line, or None where
        the recording has no label file. ``ids``: dict of the recording ids
        read per instrument. ``metadata``: dict id -> metadata row. ``sr``,
        ``DESCR``.

    Raises
    ------
    FileNotFoundError
        If ``root``, the metadata file, or the wav of a selected recording is
        missing; checked before any audio is decoded.
    ValueError
        If an instrument has no solo recordings (the message lists those
        there are) or none in ``split``, or if its recordings give no clip
        (all silence, or shorter than half a clip once silence is cut).

    See Also
    --------
    sktimbre.datasets.load_default : Built-in data, no download needed.

    Examples
    --------
    A stand-in copy in MusicNet's layout, with one solo violin and one solo
    flute recording of 3 s (no label files, so the notes are None):

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from sktimbre.datasets import load_musicnet
    >>> from sktimbre.io import save_audio
    >>> folder = tempfile.TemporaryDirectory()
    >>> root = Path(folder.name)
    >>> _ = (root / "musicnet_metadata.csv").write_text(
    ...     "id,ensemble\\n1,Solo Violin\\n2,Solo Flute\\n")
    >>> tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(3 * 44100) / 44100)
    >>> for rec in (1, 2):
    ...     _ = save_audio(root / "train_data" / f"{rec}.wav", tone, 44100)
    >>> data = load_musicnet(root, seconds=1.0)
    >>> len(data.violin), data.violin[0].shape, data.violin_clip_ids.tolist()
    (3, (22050,), [1, 1, 1])
    >>> folder.cleanup()

    On a real copy:

    >>> data = load_musicnet("/data/musicnet", seconds=4.0)  # doctest: +SKIP
    >>> len(data.violin), data.violin[0].shape  # doctest: +SKIP
    (1020, (88200,))
    """
    names = _check_params(instruments, seconds, sr, split, top_db, max_clips)
    import librosa

    root = Path(root).expanduser()
    metadata_path, data_dir = _find_layout(root)
    metadata = _read_metadata(metadata_path)
    selected = _select(metadata, metadata_path, names)
    located = _locate(selected, data_dir, split, metadata_path)

    sr = int(sr)
    clip_len = int(round(seconds * sr))
    out = {"ids": {}}
    for name, recordings in located.items():
        clips, clip_ids, clip_notes, used = [], [], [], []
        for rec, wav, rec_split in recordings:
            if max_clips is not None and len(clips) >= max_clips:
                break
            y, _ = load_audio(wav, sr=sr)
            if top_db is None:
                intervals = np.array([[0, len(y)]])
            elif not np.any(y):
                # librosa measures silence relative to the peak, so a
                # recording of zeros would count as all sound.
                intervals = np.zeros((0, 2), dtype=np.int64)
            else:
                intervals = librosa.effects.split(y, top_db=top_db)
            # Joined end to end without fades: the cuts fall where the level
            # is top_db under the peak, so the joins are nearly inaudible.
            kept = np.concatenate([y[a:b] for a, b in intervals] or [y[:0]])
            labels = data_dir / f"{rec_split}_labels" / f"{rec}.csv"
            notes = None
            if labels.is_file():
                raw = _read_labels(labels, sf.info(str(wav)).samplerate, sr)
                notes = _trimmed_notes(raw, intervals)
            starts = [
                s for s in range(0, len(kept), clip_len)
                if 2 * min(clip_len, len(kept) - s) >= clip_len
            ]
            if max_clips is not None:
                starts = starts[: max_clips - len(clips)]
            for s in starts:
                clip = kept[s:s + clip_len]
                clips.append(clip)
                clip_ids.append(rec)
                clip_notes.append(
                    None if notes is None else _clip_notes(notes, s, len(clip), sr)
                )
            used.append(rec)
            if verbose > 0:
                row = metadata[rec]
                print(
                    f"{name}: {rec} ({row.get('composer', '?')}, "
                    f"{row.get('composition', '?')}) {len(y) / sr:.1f} s, "
                    f"{len(kept) / sr:.1f} s after trimming -> "
                    f"{len(starts)} clip(s)"
                )
        if not clips:
            # An empty list would only fail later, in fit, far from the cause.
            raise ValueError(
                f"the solo {name} recordings {used} give no clip of "
                f"seconds={seconds}: after removing silence (top_db={top_db}) "
                "each is shorter than half a clip. Pass a smaller seconds, a "
                "larger top_db or top_db=None."
            )
        out[name] = clips
        out[f"{name}_clip_ids"] = np.array(clip_ids, dtype=np.int64)
        out[f"{name}_notes"] = clip_notes
        out["ids"][name] = used

    summary = "\n".join(
        f"- {name}: {len(out[name])} clip(s) from ensemble 'Solo {name.title()}', "
        f"recordings {out['ids'][name]}"
        for name in names
    )
    descr = (
        "MusicNet solo recordings (Thickstun, Harchaoui and Kakade, "
        '"Learning Features of Music from Scratch", ICLR 2017; CC BY 4.0; '
        f"{ZENODO_URL}), read from {root}.\n\n"
        f"Clips of {seconds} s at {sr} Hz (a recording's last clip may be "
        f"shorter, down to half) from the {split} split"
        + (
            f", silence more than {top_db} dB below each recording's peak "
            "removed"
            if top_db is not None
            else ""
        )
        + f":\n{summary}"
    )
    used_ids = {i for ids in out["ids"].values() for i in ids}
    return Bunch(
        **out,
        metadata={i: dict(metadata[i]) for i in sorted(used_ids)},
        sr=sr,
        DESCR=descr,
    )
