"""The built-in data: violin and flute melodies rendered from a GM soundfont."""

import hashlib
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_default", "render_notes"]

# Bump when the rendering changes, so stale caches are not reused.
_FORMAT_VERSION = 1
VIOLIN_PROGRAM = 40  # General MIDI, 0-based: Violin
FLUTE_PROGRAM = 73  # General MIDI, 0-based: Flute
N_TRAIN_CLIPS = 24
TRAIN_SECONDS = 5.0
N_TEST_PIECES = 4
TEST_SECONDS = 8.0
# Each instrument's training range, and the range both play for paired pieces.
VIOLIN_RANGE = (55, 88)
FLUTE_RANGE = (62, 93)
SHARED_RANGE = (62, 84)
_SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10]}
# Note lengths in beats and how often a melody uses them.
_DURATIONS = np.array([0.5, 1.0, 1.5, 2.0, 0.75])
_DURATION_WEIGHTS = np.array([0.35, 0.35, 0.1, 0.12, 0.08])
_BLOCK = 64  # samples between control updates (vibrato, expression)
_BEND_RANGE = 2.0  # semitones of the pitch wheel


def _soundfont_path():
    import pretty_midi

    return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


def _synth_module():
    try:
        import tinysoundfont
    except ImportError as exc:
        raise ImportError(
            "The default data is rendered with tinysoundfont; install it with "
            "`pip install --no-deps tinysoundfont` (--no-deps because its "
            "pyaudio dependency is only for live playback and needs PortAudio "
            "to build)."
        ) from exc
    return tinysoundfont


def _melody(rng, seconds, pitch_range):
    """Notes (onset, offset, pitch, velocity) of a melody in phrases."""
    tempo = rng.uniform(80, 120)
    beat = 60.0 / tempo
    notes, time_s = [], rng.uniform(0.05, 0.3)
    low, high = pitch_range
    while time_s < seconds - 0.4:
        tonic = int(rng.integers(low, low + 12))
        scale = _SCALES[rng.choice(list(_SCALES))]
        pitches = [p for p in range(low, high + 1) if (p - tonic) % 12 in scale]
        index = int(rng.integers(len(pitches) // 4, 3 * len(pitches) // 4))
        base_velocity = rng.uniform(55, 110)
        shape = rng.choice([-1.0, 1.0]) * rng.uniform(10, 25)  # (de)crescendo
        n_notes = int(rng.integers(4, 10))
        for k in range(n_notes):
            step = rng.choice([-2, -1, -1, 1, 1, 2, -3, 3, -4, 4],
                              p=[.1, .2, .15, .2, .15, .1, .03, .03, .02, .02])
            index = int(np.clip(index + step, 0, len(pitches) - 1))
            length = rng.choice(_DURATIONS, p=_DURATION_WEIGHTS) * beat
            articulation = rng.uniform(0.75, 1.0)
            velocity = np.clip(base_velocity + shape * k / n_notes
                               + rng.normal(0, 5), 30, 127)
            if time_s + length > seconds - 0.2:
                break
            notes.append((time_s, time_s + length * articulation,
                          pitches[index], velocity))
            time_s += length
        time_s += rng.choice([0.5, 1.0, 1.5]) * beat  # phrase rest
    return np.array(notes, dtype=np.float64).reshape(-1, 4)


def render_notes(notes, program, *, sr=22050, seconds, vibrato_seed=0):
    """Render notes with a General MIDI program of the bundled soundfont.

    Parameters
    ----------
    notes : ndarray of shape (n_notes, 4)
        (onset_s, offset_s, midi_pitch, velocity) rows.
    program : int
        General MIDI program, 0-based (40 violin, 73 flute).
    sr : int, default=22050
    seconds : float
        Length of the output.
    vibrato_seed : int, default=0
        Seed of the vibrato rate and depth of each note.

    Returns
    -------
    ndarray of shape (int(seconds * sr),), float32, peak 0.8

    Examples
    --------
    >>> import numpy as np
    >>> from sktimbre.datasets import render_notes
    >>> notes = np.array([[0.0, 0.4, 69, 100]])  # A4 for 0.4 s
    >>> y = render_notes(notes, 40, seconds=0.5)  # violin
    >>> y.shape, y.dtype, round(float(np.abs(y).max()), 2)
    ((11025,), dtype('float32'), 0.8)
    """
    tsf = _synth_module()
    synth = tsf.Synth(samplerate=sr)
    sfid = synth.sfload(_soundfont_path())
    synth.program_select(0, sfid, 0, int(program))
    synth.pitchbend_range(0, _BEND_RANGE)
    rng = np.random.default_rng(vibrato_seed)
    n_total = int(round(seconds * sr))
    events = _events(notes, sr)
    rates = rng.uniform(5.0, 6.2, len(notes))
    depths = rng.uniform(15, 30, len(notes))  # cents
    out = np.zeros(n_total, dtype=np.float32)
    active, next_event = None, 0
    for start in range(0, n_total, _BLOCK):
        while next_event < len(events) and events[next_event][0] <= start:
            _, kind, index = events[next_event]
            pitch, velocity = int(notes[index, 2]), int(notes[index, 3])
            if kind == "on":
                synth.noteon(0, pitch, velocity)
                active = index
            else:
                synth.noteoff(0, pitch)
                active = None if active == index else active
            next_event += 1
        synth.pitchbend(0, _vibrato_bend(notes, active, start / sr, rates, depths))
        n = min(_BLOCK, n_total - start)
        block = np.frombuffer(synth.generate(n), dtype=np.float32)
        out[start:start + n] = block.reshape(-1, 2).mean(axis=1)
    peak = np.max(np.abs(out))
    return (out * (0.8 / peak)).astype(np.float32) if peak > 0 else out


def _events(notes, sr):
    events = []
    for i, (onset, offset, _, _) in enumerate(notes):
        events.append((int(onset * sr), "on", i))
        events.append((int(offset * sr), "off", i))
    # Offs before ons at the same sample, so repeated pitches re-attack.
    return sorted(events, key=lambda e: (e[0], e[1] == "on"))


def _vibrato_bend(notes, active, now, rates, depths):
    if active is None:
        return 8192
    age = now - notes[active, 0]
    fade = np.clip((age - 0.15) / 0.3, 0.0, 1.0)  # vibrato grows after onset
    cents = fade * depths[active] * np.sin(2 * np.pi * rates[active] * age)
    return int(np.clip(8192 + cents / (100 * _BEND_RANGE) * 8192, 0, 16383))


def _render_all(sr, random_state, verbose):
    rng = np.random.default_rng(random_state)
    seeds = rng.integers(2**31, size=4)
    data = {}
    for name, program, pitch_range, seed in (
        ("violin", VIOLIN_PROGRAM, VIOLIN_RANGE, seeds[0]),
        ("flute", FLUTE_PROGRAM, FLUTE_RANGE, seeds[1]),
    ):
        melody_rng = np.random.default_rng(seed)
        notes = [_melody(melody_rng, TRAIN_SECONDS, pitch_range)
                 for _ in range(N_TRAIN_CLIPS)]
        data[name] = [render_notes(n, program, sr=sr, seconds=TRAIN_SECONDS,
                                   vibrato_seed=int(seed) + i)
                      for i, n in enumerate(notes)]
        data[f"{name}_notes"] = notes
    test_rng = np.random.default_rng(seeds[2])
    test_notes = [_melody(test_rng, TEST_SECONDS, SHARED_RANGE)
                  for _ in range(N_TEST_PIECES)]
    for name, program in (("violin", VIOLIN_PROGRAM), ("flute", FLUTE_PROGRAM)):
        data[f"test_{name}"] = [
            render_notes(n, program, sr=sr, seconds=TEST_SECONDS,
                         vibrato_seed=int(seeds[3]) + i)
            for i, n in enumerate(test_notes)
        ]
    data["test_notes"] = test_notes
    return data


def _cache_file(data_home, sr, random_state):
    settings = dict(version=_FORMAT_VERSION, sr=sr, random_state=random_state,
                    n_train=N_TRAIN_CLIPS, train_s=TRAIN_SECONDS, n_test=N_TEST_PIECES,
                    test_s=TEST_SECONDS,
                    ranges=[VIOLIN_RANGE, FLUTE_RANGE, SHARED_RANGE])
    digest = hashlib.sha1(json.dumps(settings).encode()).hexdigest()[:12]
    return Path(data_home) / f"default-{digest}.npz"


def _save(path, data):
    arrays = {}
    for key, value in data.items():
        for i, item in enumerate(value):
            arrays[f"{key}/{i}"] = item
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)  # atomic: a parallel reader never sees half a file


def _load(path):
    data = {}
    with np.load(path) as archive:
        for name in archive.files:
            key, index = name.rsplit("/", 1)
            data.setdefault(key, {})[int(index)] = archive[name]
    return {key: [items[i] for i in range(len(items))] for key, items in data.items()}


def load_default(*, sr=22050, random_state=0, data_home=None, cache=True, verbose=0):
    """Violin and flute recordings rendered from General MIDI, ready to fit.

    Melodies in major and minor keys, with varied rhythm, phrase rests,
    dynamics and delayed vibrato, rendered by the General MIDI soundfont that
    ships with pretty_midi (TimGM6mb) through tinysoundfont: violin is
    program 40 and flute program 73. The training sets are unpaired (each
    instrument plays its own melodies, in its own range, as in MusicNet); the
    test pieces are paired (both instruments play the same notes), which gives
    the ground truth a conversion is measured against.

    Parameters
    ----------
    sr : int, default=22050
        Sample rate to render at.
    random_state : int, default=0
        Seed of the melodies and vibrato.
    data_home : str or path, optional
        Cache folder; ``$SKTIMBRE_DATA`` or ``~/.cache/sktimbre`` by default.
    cache : bool, default=True
        Keep the rendering on disk and reuse it.
    verbose : int, default=0
        Print how long rendering took.

    Returns
    -------
    data : Bunch
        ``violin``, ``flute``: 24 training clips of 5 s each (float32, mono);
        ``test_violin``, ``test_flute``: 4 paired pieces of 8 s;
        ``violin_notes``, ``flute_notes``, ``test_notes``: per clip an array of
        (onset_s, offset_s, midi_pitch, velocity) rows; ``sr``; ``DESCR``.

    Examples
    --------
    >>> from sktimbre.datasets import load_default
    >>> data = load_default()
    >>> len(data.violin), len(data.test_flute), data.sr
    (24, 4, 22050)
    """
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or not (
        8000 <= sr <= 96000
    ):
        raise ValueError(f"sr={sr!r} must be an int between 8000 and 96000 Hz.")
    data_home = data_home or os.environ.get("SKTIMBRE_DATA") or (
        Path.home() / ".cache" / "sktimbre"
    )
    path = _cache_file(data_home, int(sr), random_state)
    data = None
    if cache and path.exists():
        try:
            data = _load(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable cache is re-made
            warnings.warn(f"The cached default data {path} is unreadable ({exc}); "
                          "rendering it again.", UserWarning, stacklevel=2)
    if data is None:
        start = time.perf_counter()
        data = _render_all(int(sr), random_state, verbose)
        if verbose:
            print(f"Rendered the default data in {time.perf_counter() - start:.1f} s")
        if cache:
            _save(path, data)
    return Bunch(**data, sr=int(sr), DESCR=load_default.__doc__.split("\n\n")[1])
