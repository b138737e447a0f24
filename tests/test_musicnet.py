"""load_musicnet on a tiny synthetic copy laid out exactly like MusicNet."""

import csv
import shutil

import numpy as np
import pytest
import soundfile as sf

from sktimbre.datasets import load_musicnet

RATE = 44100  # MusicNet's recordings and label times
NOTE_S, GAP_S, EDGE_S = 1.0, 0.5, 0.7
METADATA = [
    # id, composer, composition, movement, ensemble, source, transcriber,
    # catalog_name, seconds
    (1759, "Schubert", "Piano Sonata in A major", "2. Andantino", "Solo Piano",
     "Museopen", "Segundo G. Yogore", "D959", 4),
    (2186, "Bach", "Violin Partita No 2 in D minor, BWV 1004", "1. Allemanda",
     "Solo Violin", "Musopen", "suzuko", "BWV1004", 7),
    (2191, "Bach", "Violin Sonata No 1 in G minor", "1. Adagio", "Solo Violin",
     "Musopen", "suzuko", "BWV1001", 7),
    (2202, "Bach", "Partita in A minor", "1. Allemande", "Solo Flute",
     "European Archive", "Bach", "BWV1013", 6),
    (2494, "Beethoven", "String Quartet No 13", "5. Cavatina", "String Quartet",
     "Musopen", "Bonny", "OP130", 400),
]
# id -> (folder, MIDI pitches, GM program numbered from 1, has labels)
RECORDINGS = {
    1759: ("train", [60, 64], 1, True),
    2186: ("train", [67, 69, 71, 74], 41, True),
    2191: ("train", [62, 65, 69, 72], 41, False),
    2202: ("test", [72, 76, 79], 74, True),
}
# 2494 (a quartet) has no audio: recordings that are not selected are not
# required.


def hz(pitch):
    return 440.0 * 2 ** ((pitch - 69) / 12)


def recording(pitches, seed):
    """Harmonic notes between silences (with a faint noise floor) and labels."""
    rng = np.random.default_rng(seed)
    n_note, n_gap, n_edge = (int(s * RATE) for s in (NOTE_S, GAP_S, EDGE_S))
    t = np.arange(n_note) / RATE
    fade = np.minimum(1, np.minimum(t, t[::-1]) / 0.01)
    parts, rows, at = [np.zeros(n_edge)], [], n_edge
    for k, p in enumerate(pitches):
        note = sum(a * np.sin(2 * np.pi * hz(p) * (h + 1) * t)
                   for h, a in enumerate([1.0, 0.5, 0.3, 0.2]))
        parts.append(0.4 * note / np.abs(note).max() * fade)
        rows.append((at, at + n_note, p, k * 2.0, 2.0, "Half"))
        at += n_note
        parts.append(np.zeros(n_gap if k < len(pitches) - 1 else n_edge))
        at += len(parts[-1])
    y = np.concatenate(parts)
    return (y + 1e-4 * rng.standard_normal(len(y))).astype(np.float32), rows


@pytest.fixture
def musicnet(tmp_path):
    root = tmp_path / "musicnet_copy"
    for split in ("train", "test"):
        (root / f"{split}_data").mkdir(parents=True)
        (root / f"{split}_labels").mkdir()
    with open(root / "musicnet_metadata.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "composer", "composition", "movement", "ensemble",
                         "source", "transcriber", "catalog_name", "seconds"])
        writer.writerows(METADATA)
    for rec, (split, pitches, program, labelled) in RECORDINGS.items():
        y, rows = recording(pitches, seed=rec)
        sf.write(root / f"{split}_data" / f"{rec}.wav", y, RATE)
        if labelled:
            with open(root / f"{split}_labels" / f"{rec}.csv", "w",
                      newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["start_time", "end_time", "instrument", "note",
                                 "start_beat", "end_beat", "note_value"])
                writer.writerows((a, b, program, p, sb, eb, v)
                                 for a, b, p, sb, eb, v in rows)
    return root


def load(root, **kwargs):
    kwargs.setdefault("seconds", 1.0)
    return load_musicnet(root, **kwargs)


def test_selects_solo_recordings_by_ensemble(musicnet):
    data = load(musicnet)
    assert data.ids == {"violin": [2186, 2191], "flute": [2202]}
    assert "piano" not in data and sorted(data.metadata) == [2186, 2191, 2202]
    assert data.metadata[2186]["composition"].endswith("D minor, BWV 1004")
    assert set(data.violin_clip_ids) == {2186, 2191}
    assert set(data.flute_clip_ids) == {2202}
    assert "Solo Violin" in data.DESCR and "zenodo" in data.DESCR


def test_clip_count_and_length(musicnet):
    data = load(musicnet, sr=22050)
    assert data.sr == 22050
    # 4 s of notes per violin recording and 3 s for the flute; the trimmed
    # remainder is far less than half a clip, so it is dropped.
    assert len(data.violin) == 8 and len(data.flute) == 3
    assert len(data.violin_clip_ids) == len(data.violin_notes) == 8
    for clip in data.violin + data.flute:
        assert clip.dtype == np.float32 and clip.shape == (22050,)


def test_silence_is_trimmed(musicnet):
    data = load(musicnet)
    for clip in data.violin + data.flute:
        frames = np.lib.stride_tricks.sliding_window_view(clip, 1024)[::512]
        rms = np.sqrt((frames ** 2).mean(axis=1))
        assert np.mean(rms < 0.01) < 0.1
    kept = load(musicnet, top_db=None, instruments="violin")
    # 6.9 s per recording untrimmed: 6 whole clips and a 0.9 s tail.
    assert len(kept.violin) == 14


def test_split_filtering(musicnet):
    train = load(musicnet, split="train", instruments=("violin",))
    assert train.ids == {"violin": [2186, 2191]} and "flute" not in train
    test = load(musicnet, split="test", instruments="flute")
    assert test.ids == {"flute": [2202]} and len(test.flute) == 3
    with pytest.raises(ValueError, match=r"\[2202\].*split='both'"):
        load(musicnet, split="train")


def test_notes_follow_the_trimmed_audio(musicnet):
    data = load(musicnet)
    labelled = [(c, n) for c, n, i in zip(data.violin, data.violin_notes,
                                          data.violin_clip_ids) if i == 2186]
    assert len(labelled) == 4
    assert all(n is None for n, i in zip(data.violin_notes, data.violin_clip_ids)
               if i == 2191)
    first = labelled[0][1]
    assert first[0, 0] < 0.05  # the leading silence is gone
    for clip, notes in labelled + list(zip(data.flute, data.flute_notes)):
        assert notes.shape[1] == 3 and (notes[:, 1] <= 1.0 + 1e-9).all()
        for onset, offset, pitch in notes:
            if offset - onset < 0.3:
                continue
            a, b = (int(x * data.sr) for x in (onset + 0.05, offset - 0.05))
            spectrum = np.abs(np.fft.rfft(clip[a:b] * np.hanning(b - a)))
            peak = np.argmax(spectrum) * data.sr / (b - a)
            assert abs(peak / hz(pitch) - 1) < 0.03


def test_max_clips_stops_reading(musicnet):
    data = load(musicnet, max_clips=3, instruments="violin")
    assert len(data.violin) == 3 and data.ids == {"violin": [2186]}


def test_missing_wav_listed_in_metadata(musicnet):
    (musicnet / "train_data" / "2191.wav").unlink()
    with pytest.raises(FileNotFoundError,
                       match=r"2191\.wav.*zenodo\.org/records/5120004"):
        load(musicnet)


def test_missing_metadata_and_root(musicnet, tmp_path):
    (musicnet / "musicnet_metadata.csv").unlink()
    with pytest.raises(FileNotFoundError, match="musicnet_metadata.csv.*zenodo"):
        load(musicnet)
    with pytest.raises(FileNotFoundError, match="no_such_folder.*zenodo"):
        load(tmp_path / "no_such_folder")


def test_archive_layout_with_nested_folder(musicnet):
    # musicnet.tar.gz extracts to musicnet/{train,test}_{data,labels}, with the
    # separately downloaded metadata beside that folder.
    nested = musicnet / "musicnet"
    nested.mkdir()
    for name in ("train_data", "train_labels", "test_data", "test_labels"):
        shutil.move(musicnet / name, nested / name)
    data = load(musicnet, instruments="flute")
    assert len(data.flute) == 3


def test_unknown_instrument_lists_solo_ensembles(musicnet):
    with pytest.raises(ValueError, match="Solo Oboe.*'Solo Flute', 'Solo Piano', "
                                         "'Solo Violin'"):
        load(musicnet, instruments=("violin", "oboe"))


@pytest.mark.parametrize("kwargs, match", [
    ({"split": "val"}, "split='val'"),
    ({"seconds": 0}, "seconds=0"),
    ({"sr": 22050.5}, "sr=22050.5"),
    ({"instruments": ("violin", "Violin")}, "twice"),
    ({"max_clips": 0}, "max_clips=0"),
    ({"top_db": -3}, "top_db=-3"),
])
def test_bad_parameters(musicnet, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load(musicnet, **kwargs)


def test_a_note_across_a_removed_gap_stays_whole():
    from sktimbre.datasets._musicnet import _clip_notes, _trimmed_notes

    # Kept: samples [10, 20) and [30, 50); a note from 15 to 40 spans the gap.
    notes = np.array([[15, 40, 60], [32, 35, 62], [22, 28, 64]])
    moved = _trimmed_notes(notes, np.array([[10, 20], [30, 50]]))
    assert moved.tolist() == [[5, 20, 60], [12, 15, 62]]
    rows = _clip_notes(moved, 10, 10, sr=10)
    assert rows.tolist() == [[0.0, 1.0, 60.0], [0.2, 0.5, 62.0]]
