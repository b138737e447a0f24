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
