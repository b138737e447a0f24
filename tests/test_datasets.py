import numpy as np
import pytest

from sktimbre.datasets import load_default


@pytest.fixture(scope="module")
def data():
    return load_default()


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
    import librosa

    clip, notes = data.test_flute[0], data.test_notes[0]
    f0, voiced, _ = librosa.pyin(clip, fmin=150, fmax=2200, sr=data.sr,
                                 frame_length=2048, hop_length=512)
    times = librosa.times_like(f0, sr=data.sr, hop_length=512)
    errors = []
    for onset, offset, pitch, _ in notes:
        inside = (times > onset + 0.08) & (times < offset - 0.03) & voiced
        if inside.any():
            cents = 1200 * np.log2(f0[inside] / librosa.midi_to_hz(pitch))
            errors.append(np.median(np.abs(cents)))
    assert len(errors) >= len(notes) // 2
    assert np.median(errors) < 50
