import os
import re

import numpy as np
import pytest

from sktimbre.datasets import _default, load_default, render_notes
from sktimbre.metrics import blend_gap, estimate_f0

CSOUND = next((p for p in _default._CSOUND_PATHS if os.path.isfile(p)), None)
needs_csound = pytest.mark.skipif(
    CSOUND is None, reason="apt-get install csound-soundfont (or install.sh --dev)")


@pytest.fixture(scope="module")
def data():
    return load_default()


@pytest.fixture
def small(monkeypatch):
    """load_default renders one short clip per instrument and one test pair."""
    monkeypatch.setattr(_default, "N_TRAIN_CLIPS", 1)
    monkeypatch.setattr(_default, "TRAIN_SECONDS", 2.0)
    monkeypatch.setattr(_default, "N_TEST_PIECES", 1)
    monkeypatch.setattr(_default, "TEST_SECONDS", 3.0)


@pytest.fixture(scope="module")
def rooms():
    pytest.importorskip("pyroomacoustics")
    rng = np.random.default_rng(0)
    return [_default._draw_room(rng, 22050) for _ in range(4)]


def cents_off_the_notes(clip, notes, sr):
    """Median |cents| between pYIN's f0 and each note's pitch, per note."""
    import librosa

    f0, voiced = estimate_f0(clip, sr=sr, fmin=150, fmax=2200)
    times = librosa.times_like(f0, sr=sr, hop_length=512)
    errors = []
    for onset, offset, pitch, _ in notes:
        inside = (times > onset + 0.08) & (times < offset - 0.03) & voiced
        if inside.any():
            cents = 1200 * np.log2(f0[inside] / librosa.midi_to_hz(pitch))
            errors.append(np.median(np.abs(cents)))
    return np.array(errors)


def decay_time(clip, offset, sr, drop_db=30):
    """Seconds after ``offset`` until the level is ``drop_db`` below the note's."""
    frame = int(0.02 * sr)
    n = len(clip) // frame
    level = 10 * np.log10(np.mean(clip[:n * frame].reshape(n, frame) ** 2, axis=1)
                          + 1e-20)
    times = (np.arange(n) + 0.5) * frame / sr
    before = level[(times > offset - 0.1) & (times < offset)].mean()
    quiet = (times > offset) & (level < before - drop_db)
    return times[quiet][0] - offset if quiet.any() else np.inf


def test_shapes_and_pairing(data):
    assert len(data.violin) == len(data.flute) == 24
    assert len(data.test_violin) == len(data.test_flute) == len(data.test_notes) == 4
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in data.violin)
    assert all(np.isfinite(c).all() and 0.5 < np.abs(c).max() <= 0.81
               for c in data.violin + data.flute)
    for v, f in zip(data.test_violin, data.test_flute):
        assert len(v) == len(f) and not np.allclose(v, f)
    assert data.sr == 22050 and "unpaired" in data.DESCR


def test_training_melodies_are_unpaired_and_in_range(data):
    violin_pitches = np.concatenate([n[:, 2] for n in data.violin_notes])
    flute_pitches = np.concatenate([n[:, 2] for n in data.flute_notes])
    assert violin_pitches.min() >= 55 and flute_pitches.min() >= 62
    assert not np.array_equal(data.violin_notes[0], data.flute_notes[0])


def test_deterministic_and_cached(tmp_path):
    first = load_default(data_home=tmp_path)
    assert len(list(tmp_path.glob("default-*.npz"))) == 1
    second = load_default(data_home=tmp_path)
    fresh = load_default(cache=False)
    assert all(np.array_equal(a, b) for a, b in zip(first.violin, second.violin))
    assert all(np.array_equal(a, b) for a, b in zip(first.violin, fresh.violin))


def test_corrupt_cache_is_rendered_again(tmp_path):
    load_default(data_home=tmp_path)
    path = next(tmp_path.glob("default-*.npz"))
    path.write_bytes(b"not an archive")
    with pytest.warns(UserWarning, match="unreadable"):
        data = load_default(data_home=tmp_path)
    assert len(data.violin) == 24


def test_other_seed_differs():
    a = load_default(cache=False, random_state=1)
    b = load_default()
    assert not np.array_equal(a.violin[0], b.violin[0])


@pytest.mark.parametrize("sr", [100, 200000, 22050.5, "22050"])
def test_bad_sr(sr):
    with pytest.raises(ValueError, match="sr="):
        load_default(sr=sr)


def test_pitch_matches_the_notes(data):
    notes = data.test_notes[0]
    errors = cents_off_the_notes(data.test_flute[0], notes, data.sr)
    assert len(errors) >= len(notes) // 2
    assert np.median(errors) < 50


def test_default_keeps_its_cache_key():
    # Caches rendered before there were sources and rooms stay valid.
    assert _default._cache_file("x", 22050, 0).name == "default-82d9d8ec986b.npz"


def test_each_source_room_and_soundfont_has_its_own_cache(tmp_path):
    own, other = tmp_path / "own.sf2", tmp_path / "other.sf2"
    own.write_bytes(b"one soundfont")
    other.write_bytes(b"another soundfont")
    names = {_default._cache_file(tmp_path, 22050, 0, *key).name for key in [
        ("timgm6mb", None, None), ("timgm6mb", "recorded", None),
        ("timgm6mb", None, own), ("timgm6mb", None, other),
        ("timgm6mb", "recorded", own)]}
    assert len(names) == 5


@pytest.mark.parametrize("source, room", [
    ("timgm6mb", "recorded"),
    pytest.param("csound", None, marks=needs_csound),
    pytest.param("csound", "recorded", marks=needs_csound),
])
def test_sources_and_rooms_are_reproducible(small, source, room):
    if room is not None:
        pytest.importorskip("pyroomacoustics")
    first = load_default(source=source, room=room, cache=False)
    second = load_default(source=source, room=room, cache=False)
    dry = load_default(cache=False)
    for key in ("violin", "flute", "test_violin", "test_flute"):
        assert all(np.array_equal(a, b) for a, b in zip(first[key], second[key]))
        assert not np.array_equal(first[key][0], dry[key][0])
        assert [len(c) for c in first[key]] == [len(c) for c in dry[key]]
    assert all(np.array_equal(a, b) for a, b in zip(first.test_notes, dry.test_notes))
    assert f"Source {source!r}" in first.DESCR and f"Room {room!r}" in first.DESCR


@needs_csound
def test_explicit_soundfont_renders_from_that_file(small):
    by_name = load_default(source="csound", cache=False)
    by_path = load_default(soundfont=CSOUND, cache=False)
    assert np.array_equal(by_name.violin[0], by_path.violin[0])
    assert f"Rendered from the soundfont {CSOUND}" in by_path.DESCR


@needs_csound
@pytest.mark.parametrize("program", [_default.VIOLIN_PROGRAM, _default.FLUTE_PROGRAM])
def test_csound_bank_plays_in_tune(program):
    notes = _default._melody(np.random.default_rng(3), 4.0, _default.SHARED_RANGE)
    clip = render_notes(notes, program, seconds=4.0, soundfont=CSOUND)
    assert np.sqrt(np.mean(clip**2)) > 0.02
    errors = cents_off_the_notes(clip, notes, 22050)
    assert len(errors) >= 0.8 * len(notes)
    assert np.median(errors) < 25


def test_recorded_pairs_share_a_room_and_training_clips_do_not(small, monkeypatch):
    pytest.importorskip("pyroomacoustics")
    monkeypatch.setattr(_default, "N_TRAIN_CLIPS", 2)

    def same_for_every_instrument(notes, program, *, sr, seconds, **kwargs):
        t = np.arange(int(round(seconds * sr))) / sr
        return (0.8 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)

    monkeypatch.setattr(_default, "render_notes", same_for_every_instrument)
    data = load_default(room="recorded", cache=False)
    assert np.array_equal(data.test_violin[0], data.test_flute[0])
    assert not np.array_equal(data.violin[0], data.violin[1])
    assert not np.array_equal(data.violin[0], data.flute[0])


def test_room_reverb_time_is_the_drawn_one(rooms):
    from pyroomacoustics.experimental import measure_rt60

    for room in rooms:
        assert _default.RT60_RANGE[0] <= room.rt60 <= _default.RT60_RANGE[1]
        measured = measure_rt60(room.rir, fs=22050, decay_db=30)
        assert abs(measured / room.rt60 - 1) < 0.3, (measured, room.rt60)


def test_recorded_note_rings_on_after_its_offset(rooms):
    notes = np.array([[0.1, 0.6, 69, 100]])
    dry = render_notes(notes, _default.VIOLIN_PROGRAM, seconds=2.0)
    assert decay_time(dry, 0.6, 22050) < 0.15
    for room in rooms:
        recorded = _default._record(dry, room)
        assert decay_time(recorded, 0.6, 22050) > 0.2
        assert len(recorded) == len(dry) and recorded.dtype == np.float32
        assert np.isclose(np.abs(recorded).max(), np.abs(dry).max())


def test_recorded_noise_is_35_to_50_db_below_the_music(rooms):
    notes = np.array([[0.1, 0.6, 69, 100], [0.7, 1.6, 72, 90]])
    dry = render_notes(notes, _default.FLUTE_PROGRAM, seconds=2.0)
    for room in rooms:
        wet = _default._reverberate(dry, room.rir)
        noise = _default._add_noise(wet, room.snr_db, room.noise_seed) - wet
        snr = 10 * np.log10(np.sum(wet**2) / np.sum(noise**2))
        assert 35 <= snr <= 50 and np.isclose(snr, room.snr_db)


@pytest.mark.parametrize("kwargs, valid", [
    ({"source": "fluidr3"}, "'timgm6mb', 'csound'"),
    ({"source": None}, "'timgm6mb', 'csound'"),
    ({"room": "hall"}, "None, 'recorded'"),
    ({"room": ["recorded"]}, "None, 'recorded'"),
])
def test_unknown_source_or_room(kwargs, valid):
    name, value = next(iter(kwargs.items()))
    message = re.escape(f"{name}={value!r} is unknown")
    with pytest.raises(ValueError, match=message) as error:
        load_default(**kwargs)
    assert valid in str(error.value)


def test_missing_csound_bank_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(_default, "_CSOUND_PATHS", (str(tmp_path / "none.sf2"),))
    with pytest.raises(FileNotFoundError, match="apt-get install csound-soundfont"):
        load_default(source="csound", cache=False)


def test_missing_soundfont_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="soundfont=.*is not a file"):
        load_default(soundfont=tmp_path / "none.sf2")


def test_blend_gap_is_zero_for_identical_renderings(data):
    assert blend_gap(data.test_violin, data.test_violin) == 0.0


def test_blend_gap_of_a_piece_and_its_pair_is_large(data):
    # Doing nothing: the violin and flute renderings of the same notes.
    assert blend_gap(data.test_violin, data.test_flute) > 8
