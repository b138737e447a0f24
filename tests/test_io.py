import contextlib
import errno
import os
import struct

import numpy as np
import pytest
import soundfile as sf

from sktimbre.io import load_audio, save_audio


def tone(f0=440.0, seconds=0.5, sr=44100, amplitude=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


@pytest.mark.parametrize("ext, subtype, tol", [
    ("wav", "PCM_16", 1 / 2 ** 15),
    ("flac", "PCM_24", 1 / 2 ** 23),
    ("wav", "FLOAT", 0.0),
])
def test_round_trip_within_pcm_tolerance(tmp_path, ext, subtype, tol):
    y = np.random.default_rng(0).uniform(-0.9, 0.9, 4000).astype(np.float32)
    path = save_audio(tmp_path / f"x.{ext}", y, 16000, subtype=subtype)
    back, sr = load_audio(path)
    assert sr == 16000 and back.dtype == np.float32 and back.shape == y.shape
    np.testing.assert_allclose(back, y, atol=tol, rtol=0)
    assert sf.info(str(path)).subtype == subtype


def test_dtype_float64(tmp_path):
    path = save_audio(tmp_path / "x.wav", tone(), 44100, subtype="DOUBLE")
    y, _ = load_audio(path, dtype=np.float64)
    assert y.dtype == np.float64
    with pytest.raises(ValueError, match="dtype=int16"):
        load_audio(path, dtype=np.int16)


def test_stereo_downmix_is_the_channel_mean(tmp_path):
    left, right = tone(440), tone(660, amplitude=0.25)
    sf.write(tmp_path / "s.wav", np.stack([left, right], axis=1), 44100,
             subtype="FLOAT")
    y, _ = load_audio(tmp_path / "s.wav")
    assert y.shape == left.shape
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-6)
    both, _ = load_audio(tmp_path / "s.wav", mono=False)
    assert both.shape == (2, len(left))
    np.testing.assert_allclose(both[1], right, atol=1e-6)


def test_save_channels_first_and_refuses_channels_last(tmp_path):
    stereo = np.stack([tone(440), tone(550)])
    path = save_audio(tmp_path / "deep" / "er" / "s.flac", stereo, 44100)
    assert path.is_file() and sf.info(str(path)).channels == 2
    with pytest.raises(ValueError, match=r"pass y\.T"):
        save_audio(tmp_path / "t.wav", stereo.T, 44100)


def test_resampling_halves_length_and_keeps_pitch(tmp_path):
    y = tone(440, seconds=1.0)
    path = save_audio(tmp_path / "a.wav", y, 44100)
    z, sr = load_audio(path, sr=22050)
    assert sr == 22050 and abs(len(z) - len(y) / 2) <= 1
    spectrum = np.abs(np.fft.rfft(z * np.hanning(len(z))))
    peak = np.fft.rfftfreq(len(z), 1 / sr)[np.argmax(spectrum)]
    assert abs(peak - 440) < 2
    stereo, _ = load_audio(path, sr=22050, mono=False)
    assert stereo.shape == (1, len(z))


def test_folder_sorted_ignores_other_files(tmp_path):
    for name, f0 in [("b.wav", 300), ("a.flac", 200), ("c.ogg", 400)]:
        save_audio(tmp_path / name, tone(f0, seconds=0.2, sr=22050), 22050)
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / "sub").mkdir()
    save_audio(tmp_path / "sub" / "d.wav", tone(sr=22050), 22050)
    clips, sr = load_audio(tmp_path)
    assert sr == 22050 and len(clips) == 3
    lengths = [len(c) for c in clips]
    assert lengths[0] == lengths[1] == int(0.2 * 22050)
    # Name order: a (200 Hz), b (300 Hz), c (400 Hz).
    peaks = [np.argmax(np.abs(np.fft.rfft(c[:4410]))) * 22050 / 4410 for c in clips]
    assert peaks == sorted(peaks) and abs(peaks[0] - 200) < 10


def test_list_of_paths_and_mixed_rates(tmp_path):
    a = save_audio(tmp_path / "a.wav", tone(seconds=0.1), 44100)
    b = save_audio(tmp_path / "b.wav", tone(seconds=0.1, sr=22050), 22050)
    with pytest.raises(ValueError, match="sr="):
        load_audio(tmp_path)
    with pytest.raises(ValueError, match="b.wav"):
        load_audio([a, b])
    clips, sr = load_audio([str(a), b], sr=16000)
    assert sr == 16000 and [len(c) for c in clips] == [1600, 1600]


def test_empty_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no audio files"):
        load_audio(tmp_path)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "gone.wav"
    with pytest.raises(FileNotFoundError, match="gone.wav"):
        load_audio(path)


def test_garbage_wav_names_the_file(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(ValueError, match="noise.wav.*WAV"):
        load_audio(path)


def test_zero_frame_wav(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 44100)
    with pytest.raises(ValueError, match="empty.wav.*0 frames"):
        load_audio(tmp_path / "empty.wav")


def test_truncated_wav(tmp_path):
    path = save_audio(tmp_path / "cut.wav", tone(seconds=0.5), 44100)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.7)])
    # soundfile alone accepts it: the check is ours.
    assert len(sf.read(str(path))[0]) > 0
    with pytest.raises(ValueError, match="cut.wav is truncated"):
        load_audio(path)


def test_wav_with_extra_chunk_is_not_truncated(tmp_path):
    # A chunk after the header must be skipped, not read as audio size.
    path = save_audio(tmp_path / "meta.wav", tone(seconds=0.1), 44100)
    info = sf.SoundFile(str(path), "r+")
    info.title = "with a LIST chunk"
    info.close()
    y, _ = load_audio(path)
    assert len(y) == 4410


def test_nan_in_float_wav(tmp_path):
    y = tone(seconds=0.1)
    y[10] = np.nan
    sf.write(tmp_path / "nan.wav", y, 44100, subtype="FLOAT")
    with pytest.raises(ValueError, match="nan.wav contains 1 NaN"):
        load_audio(tmp_path / "nan.wav")


def test_save_warns_and_clips_loud_audio(tmp_path):
    y = tone(amplitude=1.5)
    with pytest.warns(UserWarning, match=r"peaks at 1\.5.*50%"):
        path = save_audio(tmp_path / "loud.wav", y, 44100, subtype="FLOAT")
    back, _ = load_audio(path)
    assert back.max() == pytest.approx(1.0) and back.min() == pytest.approx(-1.0)
    np.testing.assert_allclose(back, np.clip(y, -1, 1))


def test_save_refuses_nan_and_bad_arguments(tmp_path):
    y = tone()
    y[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        save_audio(tmp_path / "x.wav", y, 44100)
    assert not (tmp_path / "x.wav").exists()
    with pytest.raises(ValueError, match="extension"):
        save_audio(tmp_path / "x.mp4a", tone(), 44100)
    with pytest.raises(ValueError, match="subtype='VORBIS'"):
        save_audio(tmp_path / "x.wav", tone(), 44100, subtype="VORBIS")
    with pytest.raises(ValueError, match="sr=0"):
        save_audio(tmp_path / "x.wav", tone(), 0)
    with pytest.raises(TypeError, match="integer dtype"):
        save_audio(tmp_path / "x.wav", np.zeros(10, dtype=np.int16), 44100)


# Formats whose header states the size of the audio, as soundfile writes them.
SIZED_FORMATS = {
    "wav": {"format": "WAV"},
    "rifx": {"format": "WAV", "endian": "BIG"},
    "rf64": {"format": "RF64"},
    "w64": {"format": "W64"},
    "aiff": {"format": "AIFF"},
    "aifc": {"format": "AIFF", "subtype": "FLOAT"},
    "au": {"format": "AU"},
    "caf": {"format": "CAF"},
    "flac": {"format": "FLAC"},
}


@pytest.mark.parametrize("name", SIZED_FORMATS)
def test_files_cut_in_half_are_refused_as_truncated(tmp_path, name):
    path = tmp_path / f"clip.{name}"
    sf.write(path, tone(seconds=0.2), 44100, **SIZED_FORMATS[name])
    assert len(load_audio(path)[0]) == 8820
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"clip.{name} is truncated"):
        load_audio(path)


def _append_chunk(path, chunk_id, payload, order):
    """Add a chunk after the audio and fix the RIFF/FORM size."""
    data = bytearray(path.read_bytes())
    data += chunk_id + struct.pack(order + "I", len(payload)) + payload
    data[4:8] = struct.pack(order + "I", len(data) - 8)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name, chunk_id, order", [
    ("wav", b"LIST", "<"), ("aiff", b"ANNO", ">")])
def test_chunks_after_the_audio_are_not_truncation(tmp_path, name, chunk_id, order):
    path = tmp_path / f"tail.{name}"
    sf.write(path, tone(seconds=0.1), 44100, subtype="PCM_16")
    _append_chunk(path, chunk_id, b"a note after the samples", order)
    y, _ = load_audio(path)
    assert len(y) == 4410


@pytest.mark.parametrize("name, field", [("au", slice(8, 12)), ("wav", None)])
def test_unknown_size_sentinels_are_not_truncation(tmp_path, name, field):
    # Streaming writers that cannot seek back leave 0xFFFFFFFF for the size;
    # readers then take the audio up to the end of the file.
    path = tmp_path / f"stream.{name}"
    sf.write(path, tone(seconds=0.1), 44100, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    if field is None:
        start = data.find(b"data") + 4
        field = slice(start, start + 4)
    data[field] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data[: len(data) // 2]))
    y, _ = load_audio(path)
    assert 2000 < len(y) < 2300


def _fail_halfway(*args, **kwargs):
    """Stand in for a writer that runs out of disk space halfway."""
    target = next(a for a in args
                  if isinstance(a, (str, os.PathLike)) or hasattr(a, "write"))
    with (open(target, "wb") if isinstance(target, (str, os.PathLike))
          else contextlib.nullcontext(target)) as handle:
        handle.write(b"half a file")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.skipif("MP3" not in sf.available_formats(),
                    reason="this libsndfile writes no MP3")
def test_save_at_a_rate_the_format_cannot_hold_keeps_the_old_file(tmp_path):
    path = tmp_path / "old.mp3"
    path.write_bytes(b"an older mp3")
    # MPEG audio has no 192 kHz rate: libsndfile refuses it.
    with pytest.raises(ValueError, match="could not write .*old.mp3"):
        save_audio(path, tone(seconds=0.1), 192000)
    assert path.read_bytes() == b"an older mp3"
    assert [p.name for p in tmp_path.iterdir()] == ["old.mp3"]


def _plot(path):
    from sktimbre.plotting import plot_alpha_sweep

    plot_alpha_sweep([0, 1], [0.1, 0.9], path=path)


def _cache(path):
    from sktimbre.datasets._default import _save

    _save(path, {"violin": [np.zeros(4, np.float32)]})


def _page(path):
    from sktimbre._cli_text import write_text

    write_text(path, "<html></html>")


@pytest.mark.parametrize("write, name, failing", [
    (lambda p: save_audio(p, tone(seconds=0.1), 44100), "x.wav", "soundfile.write"),
    (_plot, "x.png", "matplotlib.figure.Figure.savefig"),
    (_cache, "x.npz", "numpy.savez_compressed"),
    (_page, "index.html", "pathlib.Path.write_text"),
], ids=["audio", "picture", "default-data cache", "demo page"])
def test_writers_replace_files_whole_or_not_at_all(tmp_path, monkeypatch, write,
                                                  name, failing):
    path = tmp_path / name
    write(path)
    before = path.read_bytes()
    assert before
    monkeypatch.setattr(failing, _fail_halfway)
    with pytest.raises(OSError, match="No space left"):
        write(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_atomic_path_keeps_permissions_and_writes_through_links(tmp_path):
    from sktimbre._atomic import atomic_path

    real = tmp_path / "real.txt"
    real.write_text("old")
    real.chmod(0o600)
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    with atomic_path(link) as temporary:
        temporary.write_text("new")
    assert link.is_symlink() and real.read_text() == "new"
    assert real.stat().st_mode & 0o777 == 0o600
