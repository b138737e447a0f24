"""The built-in data: violin and flute melodies rendered from a GM soundfont."""

import hashlib
import json
import os
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy.signal import fftconvolve
from sklearn.utils import Bunch

from .._atomic import atomic_path

__all__ = ["load_default", "render_notes"]

# Bump when the rendering changes, so stale caches are not reused.
_FORMAT_VERSION = 1
# Bump when the simulated room changes (keys only the "recorded" material).
_ROOM_VERSION = 1
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

SOURCES = {
    "timgm6mb": "TimGM6mb, the General MIDI soundfont that ships with pretty_midi",
    "csound": "the General MIDI bank of Debian's csound-soundfont package",
}
ROOMS = {
    None: "dry (the synthesiser's output as it is)",
    "recorded": "a simulated shoebox room per clip (RT60 0.3-1.2 s) and "
                "microphone noise at 35-50 dB SNR",
}
# Where Debian's csound-soundfont puts its bank (the second is a link).
_CSOUND_PATHS = ("/usr/share/sounds/sf2/sf_GMbank.sf2",
                 "/usr/share/samples/sf_GMbank.sf2")
RT60_RANGE = (0.3, 1.2)  # s, drawn per room
SNR_RANGE = (35.0, 50.0)  # dB over the whole clip, drawn per room
_ROOM_SIZE = ((4.0, 10.0), (3.0, 8.0), (2.5, 4.5))  # m: length, width, height
_WALL_MARGIN = 0.5  # m between a wall and the player or the microphone
_MIC_DISTANCE = (0.75, 2.5)  # m from the player
# Image sources up to this order give the early reflections; pyroomacoustics'
# ray tracing gives the late tail, so the RT60 is the drawn one at a fraction
# of the cost of the image sources alone (order ~150 for 1.2 s).
_IMAGE_ORDER = 3


def _soundfont_path(source="timgm6mb"):
    """The .sf2 file of a built-in source; never downloads."""
    if source == "timgm6mb":
        import pretty_midi

        return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")
    for path in _CSOUND_PATHS:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"source='csound' renders from Debian's csound-soundfont bank, expected "
        f"at {_CSOUND_PATHS[0]}, which is missing; install it with "
        "`apt-get install csound-soundfont`, or pass soundfont=<path to "
        "sf_GMbank.sf2> where you have a copy."
    )


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


def render_notes(notes, program, *, sr=22050, seconds, vibrato_seed=0,
                 soundfont=None):
    """Render notes with a General MIDI program of a soundfont.

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
    soundfont : str or path, optional
        The .sf2 file to render with; by default TimGM6mb, the General MIDI
        soundfont that ships with pretty_midi.

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
    synth = _synth(soundfont or _soundfont_path(), program, sr)
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


def _synth(soundfont, program, sr):
    """A synthesiser playing ``program`` of bank 0 of ``soundfont`` on channel 0."""
    if not os.path.isfile(soundfont):
        raise FileNotFoundError(f"soundfont={str(soundfont)!r} is not a file; pass "
                                "the path of a General MIDI .sf2 file.")
    synth = _synth_module().Synth(samplerate=sr)
    sfid = synth.sfload(str(soundfont))
    if synth.sfpreset_name(sfid, 0, int(program)) is None:
        raise ValueError(
            f"The soundfont {soundfont} has no preset for program {program} in "
            "bank 0; pass a General MIDI soundfont (program 40 is the violin, "
            "73 the flute)."
        )
    synth.program_select(0, sfid, 0, int(program))
    synth.pitchbend_range(0, _BEND_RANGE)
    return synth


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


class _Room(NamedTuple):
    """One simulated recording: the room's impulse response and the noise."""

    rir: np.ndarray
    rt60: float
    snr_db: float
    noise_seed: int


def _room_module():
    try:
        import pyroomacoustics
    except ImportError as exc:
        raise ImportError(
            "room='recorded' simulates the room with pyroomacoustics; install "
            "it with `pip install pyroomacoustics`."
        ) from exc
    return pyroomacoustics


def _positions(rng, size):
    """A player and a microphone in the room, apart by _MIC_DISTANCE."""
    low = np.full(3, _WALL_MARGIN)
    high = size - _WALL_MARGIN
    player = rng.uniform(low, high) * [1, 1, 0] + [0, 0, rng.uniform(1.0, 1.8)]
    while True:  # rooms are at least 3 m wide, so a draw soon fits
        mic = rng.uniform(low, high) * [1, 1, 0] + [0, 0, rng.uniform(1.0, 2.5)]
        mic[2] = min(mic[2], high[2])
        if _MIC_DISTANCE[0] <= np.linalg.norm(mic - player) <= _MIC_DISTANCE[1]:
            return player, mic


def _draw_room(rng, sr):
    """A shoebox room with a drawn RT60, its impulse response and a noise level.

    Image sources give the direct sound and early reflections, pyroomacoustics'
    ray tracing the late tail (Scheibler et al., ICASSP 2018); the wall
    absorption follows from the RT60 by Sabine's formula (``inverse_sabine``).
    """
    pra = _room_module()
    size = np.array([rng.uniform(low, high) for low, high in _ROOM_SIZE])
    rt60 = float(rng.uniform(*RT60_RANGE))
    player, mic = _positions(rng, size)
    absorption, _ = pra.inverse_sabine(rt60, size)
    # The ray tracer draws from pyroomacoustics' global generators; seeding
    # them from rng makes the response reproducible (not thread-safe).
    seed = int(rng.integers(2**63))
    pra.random.seed(numpy=seed, libroom=seed)
    room = pra.ShoeBox(size, fs=sr, materials=pra.Material(absorption),
                       max_order=_IMAGE_ORDER, ray_tracing=True, air_absorption=True)
    room.add_source(player)
    room.add_microphone(mic)
    room.compute_rir()
    return _Room(rir=np.asarray(room.rir[0][0], dtype=np.float64), rt60=rt60,
                 snr_db=float(rng.uniform(*SNR_RANGE)),
                 noise_seed=int(rng.integers(2**31)))


def _reverberate(clip, rir):
    """``clip`` through ``rir``, aligned on the direct sound, same length."""
    delay = int(np.argmax(np.abs(rir)))  # the direct sound: notes keep their times
    return fftconvolve(clip, rir)[delay:delay + len(clip)]


def _add_noise(signal, snr_db, noise_seed):
    """``signal`` plus pink noise ``snr_db`` below it (RMS over the clip)."""
    spectrum = np.fft.rfft(np.random.default_rng(noise_seed).standard_normal(
        len(signal)))
    spectrum[0] = 0.0
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))  # -3 dB per octave
    noise = np.fft.irfft(spectrum, len(signal))
    gain = np.sqrt(np.mean(signal**2) / np.mean(noise**2)) / 10 ** (snr_db / 20)
    return signal + gain * noise


def _record(clip, room):
    """``clip`` as a microphone in ``room`` hears it, at the clip's peak level."""
    recorded = _add_noise(_reverberate(clip, room.rir), room.snr_db, room.noise_seed)
    peak = np.max(np.abs(recorded))
    scale = np.max(np.abs(clip)) / peak if peak > 0 else 0.0
    return (recorded * scale).astype(np.float32)


def _render_all(sr, random_state, soundfont, room):
    rng = np.random.default_rng(random_state)
    seeds = rng.integers(2**31, size=4)
    # Drawn after the melody seeds: the recorded material plays the dry notes.
    room_rngs = [np.random.default_rng(s) for s in rng.integers(2**31, size=3)]
    data = {}
    for name, program, pitch_range, seed, room_rng in (
        ("violin", VIOLIN_PROGRAM, VIOLIN_RANGE, seeds[0], room_rngs[0]),
        ("flute", FLUTE_PROGRAM, FLUTE_RANGE, seeds[1], room_rngs[1]),
    ):
        melody_rng = np.random.default_rng(seed)
        notes = [_melody(melody_rng, TRAIN_SECONDS, pitch_range)
                 for _ in range(N_TRAIN_CLIPS)]
        clips = [render_notes(n, program, sr=sr, seconds=TRAIN_SECONDS,
                              vibrato_seed=int(seed) + i, soundfont=soundfont)
                 for i, n in enumerate(notes)]
        # Each training clip is recorded in a room of its own.
        data[name] = clips if room is None else [
            _record(clip, _draw_room(room_rng, sr)) for clip in clips]
        data[f"{name}_notes"] = notes
    test_rng = np.random.default_rng(seeds[2])
    test_notes = [_melody(test_rng, TEST_SECONDS, SHARED_RANGE)
                  for _ in range(N_TEST_PIECES)]
    # Both renderings of a test piece share its room, so a pair differs only
    # in the instrument.
    test_rooms = None if room is None else [_draw_room(room_rngs[2], sr)
                                            for _ in test_notes]
    for name, program in (("violin", VIOLIN_PROGRAM), ("flute", FLUTE_PROGRAM)):
        clips = [render_notes(n, program, sr=sr, seconds=TEST_SECONDS,
                              vibrato_seed=int(seeds[3]) + i, soundfont=soundfont)
                 for i, n in enumerate(test_notes)]
        data[f"test_{name}"] = clips if room is None else [
            _record(clip, test_room) for clip, test_room in zip(clips, test_rooms)]
    data["test_notes"] = test_notes
    return data


def _cache_file(data_home, sr, random_state, source="timgm6mb", room=None,
                soundfont=None):
    """The cache of one rendering; ``soundfont`` is None for a source's own file."""
    settings = dict(version=_FORMAT_VERSION, sr=sr, random_state=random_state,
                    n_train=N_TRAIN_CLIPS, train_s=TRAIN_SECONDS, n_test=N_TEST_PIECES,
                    test_s=TEST_SECONDS,
                    ranges=[VIOLIN_RANGE, FLUTE_RANGE, SHARED_RANGE])
    # The default keeps the key it always had, so existing caches stay valid;
    # anything else is keyed by the soundfont's content and the room.
    if (source, room, soundfont) != ("timgm6mb", None, None):
        settings.update(source=source, room=room, room_version=_ROOM_VERSION,
                        soundfont=_file_digest(soundfont or _soundfont_path(source)))
    digest = hashlib.sha1(json.dumps(settings).encode()).hexdigest()[:12]
    return Path(data_home) / f"default-{digest}.npz"


def _save(path, data):
    arrays = {}
    for key, value in data.items():
        for i, item in enumerate(value):
            arrays[f"{key}/{i}"] = item
    # Whole or not at all: a parallel reader never sees half a file, and a
    # failed write (a full disk) leaves no partial cache behind.
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def _file_digest(path):
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_choice(name, value, choices):
    if value not in list(choices):  # a list: unhashable values get the message too
        valid = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name}={value!r} is unknown; pass one of {valid}.")


def _describe(source, room, soundfont, explicit):
    """DESCR: what the data is, and which source and room made it."""
    origin = (f"Rendered from the soundfont {soundfont}" if explicit else
              f"Source {source!r}: {SOURCES[source]} ({soundfont})")
    about = load_default.__doc__.split("\n\n")[1]
    return f"{about}\n\n{origin}. Room {room!r}: {ROOMS[room]}."


def _load(path):
    data = {}
    with np.load(path) as archive:
        for name in archive.files:
            key, index = name.rsplit("/", 1)
            data.setdefault(key, {})[int(index)] = archive[name]
    return {key: [items[i] for i in range(len(items))] for key, items in data.items()}


def load_default(*, source="timgm6mb", room=None, soundfont=None, sr=22050,
                 random_state=0, data_home=None, cache=True, verbose=0):
    """Violin and flute recordings rendered from General MIDI, ready to fit.

    Melodies in major and minor keys, with varied rhythm, phrase rests,
    dynamics and delayed vibrato, rendered by a General MIDI soundfont through
    tinysoundfont (violin is program 40, flute program 73), dry or recorded
    in a simulated room. The training sets are unpaired (each instrument
    plays its own melodies, in its own range, as in MusicNet); the test
    pieces are paired (both instruments play the same notes), which gives the
    ground truth a conversion is measured against.

    Parameters
    ----------
    source : {"timgm6mb", "csound"}, default="timgm6mb"
        The soundfont. ``"timgm6mb"``: TimGM6mb, which ships with pretty_midi.
        ``"csound"``: the General MIDI bank of Debian's ``csound-soundfont``
        package (``apt-get install csound-soundfont``), read from
        ``/usr/share/sounds/sf2/sf_GMbank.sf2``; nothing is downloaded, and a
        missing bank is a ``FileNotFoundError``. Both play the same melodies
        for the same ``random_state``.
    room : {None, "recorded"}, default=None
        ``None``: the synthesiser's dry output. ``"recorded"``: as a
        microphone in a room hears it: each training clip in a shoebox room of
        its own (4-10 m by 3-8 m by 2.5-4.5 m, RT60 drawn in 0.3-1.2 s, the
        microphone 0.75-2.5 m from the player; image sources for the early
        reflections and ray tracing for the tail, with pyroomacoustics), plus
        pink microphone noise at an SNR drawn in 35-50 dB. Both renderings of
        a test piece share its room and noise, so a pair differs only in the
        instrument. The clips keep their length (the tail past the end is
        cut), their timing (aligned on the direct sound) and the dry clip's
        peak.
    soundfont : str or path, optional
        A General MIDI soundfont (.sf2, or .sf3 with compressed samples) to
        render from instead of the source's own: the csound bank where it
        lives elsewhere, or a soundfont of your own (it needs programs 40 and
        73 in bank 0).
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
        (onset_s, offset_s, midi_pitch, velocity) rows; ``sr``; ``DESCR``,
        which names the source, the soundfont file and the room.

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
    _check_choice("source", source, SOURCES)
    _check_choice("room", room, ROOMS)
    if soundfont is not None and not os.path.isfile(soundfont):
        raise FileNotFoundError(f"soundfont={str(soundfont)!r} is not a file; pass "
                                "the path of a General MIDI .sf2 file.")
    soundfont_file = _soundfont_path(source) if soundfont is None else soundfont
    data_home = data_home or os.environ.get("SKTIMBRE_DATA") or (
        Path.home() / ".cache" / "sktimbre"
    )
    path = _cache_file(data_home, int(sr), random_state, source, room, soundfont)
    data = None
    if cache and path.exists():
        try:
            data = _load(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable cache is re-made
            warnings.warn(f"The cached default data {path} is unreadable ({exc}); "
                          "rendering it again.", UserWarning, stacklevel=2)
    if data is None:
        start = time.perf_counter()
        data = _render_all(int(sr), random_state, soundfont_file, room)
        if verbose:
            print(f"Rendered the default data in {time.perf_counter() - start:.1f} s")
        if cache:
            _save(path, data)
    return Bunch(**data, sr=int(sr), DESCR=_describe(
        source, room, soundfont_file, explicit=soundfont is not None))
