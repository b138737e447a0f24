"""Crafted model files, each loaded in a child process under a memory limit.

Every file must be refused with the documented ``ValueError`` (or
``FileNotFoundError``) naming it, run no code (the pickles in them create a
marker file when unpickled) and take little memory. The good files beside
them must load, which shows the harness can tell.

``python3 -m tests.test_hostile_files`` prints the table of outcomes.
"""

import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

import joblib
import safetensors.torch
import torch

from sktimbre import SpectrogramTransformer, TimbreCycleGAN, TimbreVAE

from .timbre_models import short_pair, tiny

# Resident memory a load may peak at, the interpreter with torch, sklearn and
# librosa imported (about 300 MB of it) included.
PEAK_LIMIT_MB = 600
# Address space the child may add once imported: a load that tries to take
# gigabytes fails there instead of swamping the machine.
ADDRESS_SPACE_MB = 3072
GOOD = ("good-vae.skt", "good-cyclegan.skt", "good-zip64.skt")
STATE, PARAMS, WEIGHTS = "state.json", "params.json", "weights.safetensors"
CASES = {}


def case(what):
    """Register a builder of one crafted file, described by ``what``."""
    def register(build):
        CASES[build.__name__.lstrip("_").replace("_", "-")] = (what, build)
        return build
    return register


class _Payload:
    """Unpickling this creates ``marker``: a stand-in for a malicious file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


class _Kit:
    """The good files the crafted ones start from, and where markers go."""

    def __init__(self, folder):
        self.folder = folder
        self.markers = folder / "markers"
        self.markers.mkdir()
        spec = SpectrogramTransformer(n_fft=256, hop_length=64, n_iter=2,
                                      device="cpu")
        a, b = short_pair()
        self.vae = tiny(TimbreVAE, hidden=8, spectrogram=spec).fit(a, b).save(
            folder / GOOD[0])
        tiny(TimbreCycleGAN, spectrogram=spec, calibrate_alpha=False).fit(
            a, b).save(folder / GOOD[1])
        self.gan = folder / GOOD[1]
        limit = zipfile.ZIP64_LIMIT
        zipfile.ZIP64_LIMIT = 1 << 10  # every record in its zip64 form
        try:
            TimbreVAE.load(self.vae).save(folder / GOOD[2])
        finally:
            zipfile.ZIP64_LIMIT = limit
        self.members = _members(self.vae)
        self.state = json.loads(self.members[STATE])
        self.params = json.loads(self.members[PARAMS])

    def payload(self, name):
        return pickle.dumps(_Payload(self.markers / name))

    def ref(self, *path):
        """The tensor key at ``path`` in the good VAE's state."""
        node = self.state
        for step in path:
            node = node[step]
        return next(iter(node.values()))


# ------------------------------------------------------------------ writing
def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(target, members, comment=b""):
    """A zip archive of ``members``, a dict or (name, bytes) pairs."""
    items = members.items() if isinstance(members, dict) else members
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in items:
                archive.writestr(name, data)
            archive.comment = comment
    return target


def _deflate(data):
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def _entry(name, data):
    """(name, stored bytes, crc, declared size, method, flags) of a member."""
    return [name, _deflate(data), zlib.crc32(data), len(data), 8, 0]


def _raw_zip(target, entries, between=b"", prefix=b""):
    """A zip archive written field by field, so that its fields can lie."""
    body, directory = bytearray(prefix), bytearray()
    for index, (name, data, crc, size, method, flags) in enumerate(entries):
        body += between if index else b""
        offset, name = len(body), name.encode()
        body += struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, flags, method, 0,
                            0x21, crc, len(data), size, len(name), 0) + name + data
        directory += struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0,
                                 flags, method, 0, 0x21, crc, len(data), size,
                                 len(name), 0, 0, 0, 0, 0, offset) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                      len(directory), len(body), 0)
    target.write_bytes(bytes(body + directory + end))
    return target


def _raw_entries(source):
    """The members of a model file as entries for :func:`_raw_zip`."""
    return [_entry(name, data) for name, data in _members(source).items()]


def _with_json(source, target, member, edit):
    """A copy of a model file whose JSON ``member`` ``edit(tree)`` changed."""
    members = _members(source)
    tree = json.loads(members[member])
    edit(tree)
    return _zip(target, {**members, member: json.dumps(tree)})


def _with_weights(source, target, edit):
    """A copy of a model file whose weights and state ``edit(tensors, state)``
    changed."""
    members = _members(source)
    tensors = safetensors.torch.load(members[WEIGHTS])
    state = json.loads(members[STATE])
    edit(tensors, state)
    members[WEIGHTS] = safetensors.torch.save(tensors)
    members[STATE] = json.dumps(state)
    return _zip(target, members)


def _with_header(source, target, edit):
    """A copy of a model file whose safetensors header ``edit(header)``
    changed."""
    members = _members(source)
    raw = members[WEIGHTS]
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    edit(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    weights = struct.pack("<Q", len(text)) + text + raw[8 + length:]
    return _zip(target, {**members, WEIGHTS: weights})


def _repeated_deflate(prefix, unit, count):
    """A deflate stream of ``prefix`` and ``count`` copies of ``unit``, made
    without compressing them all: fully flushed blocks stand alone."""
    def block(data):
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)

    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(unit, crc)
    stream = block(prefix) + block(unit) * count + b"\x03\x00"
    return stream, crc, len(prefix) + len(unit) * count


# ------------------------------------------------- files that are not models
@case("a pickle that runs code, named .skt")
def _pickle(kit, target):
    target.write_bytes(kit.payload(target.name))
    return target


@case("the same pickle named .sktimbre")
def _pickle_sktimbre(kit, target):
    target = target.with_suffix(".sktimbre")
    target.write_bytes(kit.payload(target.name))
    return target


@case("a joblib file that runs code")
def _joblib(kit, target):
    joblib.dump(_Payload(kit.markers / target.name), target)
    return target


@case("a compressed joblib file that runs code")
def _joblib_compressed(kit, target):
    joblib.dump(_Payload(kit.markers / target.name), target, compress=3)
    return target


@case("a torch.save file (a zip archive of a pickle)")
def _torch_save(kit, target):
    torch.save(_Payload(kit.markers / target.name), target)
    return target


@case("a pickle put in front of a good model file")
def _pickle_then_model(kit, target):
    target.write_bytes(kit.payload(target.name) + kit.vae.read_bytes())
    return target


@case("a shell script put in front of a good model file")
def _junk_then_model(kit, target):
    target.write_bytes(b"#!/bin/sh\necho hello\n" + kit.vae.read_bytes())
    return target


@case("a pickle where the weights belong")
def _pickle_in_weights(kit, target):
    return _zip(target, {**kit.members, WEIGHTS: kit.payload(target.name)})


@case("a pickle where state.json belongs")
def _pickle_in_state(kit, target):
    return _zip(target, {**kit.members, STATE: kit.payload(target.name)})


@case("a pickle as a fifth member")
def _pickle_member(kit, target):
    return _zip(target, {**kit.members, "data.pkl": kit.payload(target.name)})


@case("an empty file")
def _empty(kit, target):
    target.write_bytes(b"")
    return target


@case("an empty zip archive")
def _empty_zip(kit, target):
    return _zip(target, {})


@case("the first half of a good file")
def _truncated(kit, target):
    data = kit.vae.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


@case("a path where there is no file")
def _missing(kit, target):
    return target


# ---------------------------------------------------------- archive layout
@case("a good file with bytes after the archive")
def _model_then_junk(kit, target):
    target.write_bytes(kit.vae.read_bytes() + b"\0" * 1000)
    return target


@case("a good file with a pickle after the archive")
def _model_then_pickle(kit, target):
    target.write_bytes(kit.vae.read_bytes() + kit.payload(target.name))
    return target


@case("a good file with an archive comment")
def _zip_comment(kit, target):
    return _zip(target, kit.members, comment=b"hello")


@case("a pickle between two members")
def _gap_between_members(kit, target):
    return _raw_zip(target, _raw_entries(kit.vae), between=kit.payload(target.name))


@case("state.json twice, the second one hostile")
def _duplicate_member(kit, target):
    return _zip(target, [*kit.members.items(), (STATE, b"[" * 100)])


@case("state.json named ../state.json")
def _traversal(kit, target):
    members = dict(kit.members)
    members["../state.json"] = members.pop(STATE)
    return _zip(target, members)


@case("an extra member named ../../tmp/evil.pkl")
def _traversal_extra(kit, target):
    return _zip(target, {**kit.members, "../../tmp/evil.pkl": b"x"})


@case("state.json named state.json<NUL>.pkl")
def _nul_in_name(kit, target):
    entries = _raw_entries(kit.vae)
    entries[2][0] = "state.json\0.pkl"
    return _raw_zip(target, entries)


@case("5,000 members")
def _many_members(kit, target):
    return _zip(target, [*kit.members.items(), *((f"{i}", b"") for i in range(5000))])


@case("state.json marked as encrypted")
def _encrypted(kit, target):
    entries = _raw_entries(kit.vae)
    entries[2][5] = 1
    return _raw_zip(target, entries)


@case("a stored member that declares more bytes than it stores")
def _stored_lie(kit, target):
    entries = _raw_entries(kit.vae)
    data = kit.members[STATE]
    entries[2][1:] = [data, zlib.crc32(data), len(data) + 10, 0, 0]
    return _raw_zip(target, entries)


@case("state.json with a wrong CRC")
def _bad_crc(kit, target):
    entries = _raw_entries(kit.vae)
    entries[2][2] ^= 1
    return _raw_zip(target, entries)


@case("state.json's deflate data corrupted")
def _bad_deflate(kit, target):
    entries = _raw_entries(kit.vae)
    entries[2][1] = b"\xff" * len(entries[2][1])  # a reserved block type
    return _raw_zip(target, entries)


@case("state.json declaring fewer bytes than it holds")
def _declares_less(kit, target):
    entries = _raw_entries(kit.vae)
    entries[2][3] = 100
    return _raw_zip(target, entries)


@case("state.json declaring more bytes than it holds")
def _declares_more(kit, target):
    entries = _raw_entries(kit.vae)
    entries[2][3] += 1000
    return _raw_zip(target, entries)


# ------------------------------------------------------------------- sizes
@case("1 GiB of spaces after a good state.json")
def _spaces_1gib(kit, target):
    entries = _raw_entries(kit.vae)
    stream, crc, size = _repeated_deflate(kit.members[STATE], b" " * 2**20, 1024)
    entries[2][1:4] = [stream, crc, size]
    return _raw_zip(target, entries)


@case("state.json declaring 2 GiB it does not hold")
def _declares_2gib(kit, target):
    entries = _raw_entries(kit.vae)
    entries[2][3] = 2**31 - 1
    return _raw_zip(target, entries)


@case("a zip bomb: 300 MiB of zeros behind the weights")
def _weights_bomb(kit, target):
    raw = kit.members[WEIGHTS]
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    size = len(raw) - 8 - length
    header["pad"] = {"dtype": "U8", "shape": [300 * 2**20],
                     "data_offsets": [size, size + 300 * 2**20]}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    prefix = struct.pack("<Q", len(text)) + text + raw[8 + length:]
    entries = _raw_entries(kit.vae)
    entries[3][1:4] = _repeated_deflate(prefix, b"\0" * 2**20, 300)
    return _raw_zip(target, entries)


@case("300,000 empty arrays as state.json")
def _many_containers(kit, target):
    return _zip(target, {**kit.members, STATE: "[" + "[]," * 300_000 + "[]]"})


# -------------------------------------------------------------------- JSON
@case("state.json nested 200,000 levels deep")
def _nested_json(kit, target):
    return _zip(target, {**kit.members, STATE: "[" * 200_000 + "]" * 200_000})


@case("params.json nested 40 levels deep")
def _nested_params(kit, target):
    return _zip(target, {**kit.members, PARAMS: '{"a":' * 40 + "1" + "}" * 40})


@case("state.json that is not UTF-8")
def _non_utf8(kit, target):
    return _zip(target, {**kit.members, STATE: b'{"classes_": "\xff\xfe"}'})


@case("state.json repeating the key device_")
def _duplicate_keys(kit, target):
    text = '{"device_": {"__device__": "cpu"}, ' + kit.members[STATE].decode()[1:]
    return _zip(target, {**kit.members, STATE: text})


@case("a 5,000-digit integer in params.json")
def _big_integer(kit, target):
    text = kit.members[PARAMS].decode().replace('"hidden": 8',
                                                '"hidden": 1' + "0" * 5000)
    return _zip(target, {**kit.members, PARAMS: text})


@case("params.json that is a list")
def _params_list(kit, target):
    return _zip(target, {**kit.members, PARAMS: "[1, 2]"})


# ------------------------------------------------------------ tags, classes
@case("an unknown tag __import__ in state.json")
def _unknown_tag(kit, target):
    return _with_json(kit.vae, target, STATE,
                      lambda s: s.update(history_={"__import__": "os"}))


@case("a device entry with an extra key")
def _tag_extra_key(kit, target):
    return _with_json(kit.vae, target, STATE, lambda s: s.update(
        device_={"__device__": "cpu", "payload": "x"}))


@case("a spectrogram_ asking to build posix.system")
def _unknown_estimator(kit, target):
    return _with_json(kit.vae, target, STATE, lambda s: s["spectrogram_"].update(
        __estimator__="posix.system"))


@case("a manifest naming the class builtins.eval")
def _manifest_class(kit, target):
    return _with_json(kit.vae, target, "manifest.json",
                      lambda m: m.update({"class": "builtins.eval"}))


@case("an attribute named __class__")
def _dunder_attribute(kit, target):
    return _with_json(kit.vae, target, STATE, lambda s: s.update(__class__="x"))


@case("a device named garbage")
def _bad_device(kit, target):
    return _with_json(kit.vae, target, STATE,
                      lambda s: s.update(device_={"__device__": "garbage"}))


# ---------------------------------------------------------- arrays, dtypes
@case("classes_ of dtype <U500000000")
def _huge_string_dtype(kit, target):
    return _with_json(kit.vae, target, STATE,
                      lambda s: s["classes_"].update(dtype="<U500000000"))


@case("classes_ of shape [1000000000]")
def _huge_label_shape(kit, target):
    return _with_json(kit.vae, target, STATE,
                      lambda s: s["classes_"].update(shape=[10**9]))


@case("classes_ of 100,000 labels")
def _many_labels(kit, target):
    return _with_json(kit.vae, target, STATE, lambda s: s["classes_"].update(
        __ndarray_list__=["a"] * 100_000, shape=[100_000]))


@case("a tensor of dtype F8_E4M3")
def _unknown_dtype(kit, target):
    key = kit.ref("_torch_rng_state_")
    return _with_header(kit.vae, target, lambda h: h[key].update(dtype="F8_E4M3"))


@case("a tensor of dtype OBJECT")
def _object_dtype(kit, target):
    key = kit.ref("_torch_rng_state_")
    return _with_header(kit.vae, target, lambda h: h[key].update(dtype="OBJECT"))


@case("a network weight stored as float64")
def _weight_float64(kit, target):
    key = kit.ref("domain_classifier_", "__module__", "net.0.weight")
    return _with_weights(kit.vae, target, lambda t, s: t.update({key: t[key].double()}))


@case("a network weight of another shape")
def _weight_reshaped(kit, target):
    key = kit.ref("domain_classifier_", "__module__", "net.0.weight")
    return _with_weights(kit.vae, target,
                         lambda t, s: t.update({key: t[key].reshape(-1)}))


@case("a network weight with extra rows")
def _weight_bigger(kit, target):
    key = kit.ref("domain_classifier_", "__module__", "net.0.weight")
    return _with_weights(kit.vae, target, lambda t, s: t.update(
        {key: torch.cat([t[key], t[key]])}))


@case("NaN in a network weight")
def _nan_weight(kit, target):
    key = kit.ref("domain_classifier_", "__module__", "net.0.weight")

    def edit(tensors, state):
        tensors[key] = tensors[key].clone()
        tensors[key].view(-1)[0] = float("nan")
    return _with_weights(kit.vae, target, edit)


@case("tensor offsets past the end of the data")
def _offsets_beyond(kit, target):
    key = kit.ref("_torch_rng_state_")
    return _with_header(kit.vae, target, lambda h: h[key].update(
        shape=[2**32], data_offsets=[0, 2**32]))


@case("two tensors sharing their data")
def _overlapping(kit, target):
    first = kit.ref("domain_classifier_", "__module__", "net.0.bias")
    second = kit.ref("domain_classifier_", "__module__", "net.2.bias")
    return _with_header(kit.vae, target, lambda h: h.update({second: dict(h[first])}))


@case("a safetensors header of 2**62 bytes")
def _header_length(kit, target):
    raw = kit.members[WEIGHTS]
    return _zip(target, {**kit.members, WEIGHTS: struct.pack("<Q", 2**62) + raw[8:]})


@case("a safetensors header nested 100,000 levels deep")
def _header_nested(kit, target):
    text = b"[" * 100_000 + b"]" * 100_000
    return _zip(target, {**kit.members,
                         WEIGHTS: struct.pack("<Q", len(text)) + text})


@case("a 4 MB tensor that nothing refers to")
def _unreferenced_tensor(kit, target):
    return _with_weights(kit.vae, target,
                         lambda t, s: t.update(extra=torch.zeros(2**20)))


@case("a reference to a tensor the weights lack")
def _missing_tensor(kit, target):
    key = kit.ref("domain_classifier_", "__module__", "net.0.weight")
    return _with_weights(kit.vae, target, lambda t, s: t.pop(key))


@case("a 200,000-element array where a count belongs")
def _big_other_array(kit, target):
    def edit(tensors, state):
        tensors["big"] = torch.zeros(200_000)
        state["n_frames_seen_"] = {"__ndarray__": "big"}
    return _with_weights(kit.vae, target, edit)


# ------------------------------------------------------------- spectrogram
def _with_spectrogram(kit, target, part, **values):
    """The VAE with values of its spectrogram_'s params or fitted state set."""
    return _with_json(kit.vae, target, STATE,
                      lambda s: s["spectrogram_"][part].update(values))


@case("spectrogram_.n_freq_ of 10**12")
def _n_freq_huge(kit, target):
    return _with_spectrogram(kit, target, "fitted", n_freq_=10**12)


@case("spectrogram_.n_freq_ that does not match n_fft")
def _n_freq_mismatch(kit, target):
    return _with_spectrogram(kit, target, "fitted", n_freq_=130)


@case("spectrogram_ with n_fft 2**40 and n_freq_ to match")
def _n_fft_huge(kit, target):
    def edit(state):
        state["spectrogram_"]["params"]["n_fft"] = 2**40
        state["spectrogram_"]["fitted"]["n_freq_"] = 2**39 + 1
    return _with_json(kit.vae, target, STATE, edit)


@case("spectrogram_ with a mel filter bank of 134 million entries")
def _mel_bank_huge(kit, target):
    def edit(state):
        state["spectrogram_"]["params"].update(n_fft=2**16, n_mels=4096)
        state["spectrogram_"]["fitted"]["n_freq_"] = 4096
    return _with_json(kit.vae, target, STATE, edit)


@case("spectrogram_ with a mel filter bank that is slow to invert")
def _mel_bank_slow(kit, target):
    def edit(state):
        state["spectrogram_"]["params"].update(n_fft=2**14, n_mels=512)
        state["spectrogram_"]["fitted"]["n_freq_"] = 512
    return _with_json(kit.vae, target, STATE, edit)


@case("spectrogram_ with n_fft -1")
def _n_fft_negative(kit, target):
    return _with_spectrogram(kit, target, "params", n_fft=-1)


@case("spectrogram_.mean_ of the wrong length")
def _mean_shape(kit, target):
    key = kit.ref("spectrogram_", "fitted", "mean_")
    return _with_weights(kit.vae, target, lambda t, s: t.update(
        {key: torch.zeros(1000, dtype=torch.float64)}))


@case("spectrogram_.scale_ all NaN")
def _scale_nan(kit, target):
    key = kit.ref("spectrogram_", "fitted", "scale_")
    return _with_weights(kit.vae, target, lambda t, s: t.update(
        {key: torch.full_like(t[key], float("nan"))}))


@case("the spectrogram parameter with n_fft -1")
def _param_spectrogram(kit, target):
    return _with_json(kit.vae, target, PARAMS,
                      lambda p: p["spectrogram"]["params"].update(n_fft=-1))


# ------------------------------------------------------------ fitted state
@case("state.json without device_")
def _missing_device(kit, target):
    return _with_json(kit.vae, target, STATE, lambda s: s.pop("device_"))


@case("state.json without spectrogram_")
def _missing_spectrogram(kit, target):
    return _with_json(kit.vae, target, STATE, lambda s: s.pop("spectrogram_"))


@case("spectrogram_ that is the number 5")
def _spectrogram_number(kit, target):
    return _with_json(kit.vae, target, STATE, lambda s: s.update(spectrogram_=5))


@case("history_ that is a string")
def _history_string(kit, target):
    return _with_json(kit.vae, target, STATE, lambda s: s.update(history_="x"))


@case("three classes_")
def _three_classes(kit, target):
    return _with_json(kit.vae, target, STATE, lambda s: s["classes_"].update(
        __ndarray_list__=["a", "b", "c"], shape=[3]))


@case("a random state at position 10**9")
def _rng_position(kit, target):
    return _with_json(kit.vae, target, STATE,
                      lambda s: s["_rng_"]["__random_state__"].__setitem__(2, 10**9))


@case("torch's random state of 10 bytes")
def _torch_rng_short(kit, target):
    key = kit.ref("_torch_rng_state_")
    return _with_weights(kit.vae, target, lambda t, s: t.update(
        {key: torch.zeros(10, dtype=torch.uint8)}))


@case("state.json without one network")
def _missing_network(kit, target):
    def edit(tensors, state):
        for key in state.pop("decoder_")["__module__"].values():
            tensors.pop(key["__tensor__"])
    return _with_weights(kit.vae, target, edit)


@case("an optimiser moment of another shape")
def _optimizer_shape(kit, target):
    key = kit.state["optimizer_"]["__optimizer__"]["state"]["__dict__"][0][1][
        "exp_avg"]["__tensor__"]
    return _with_weights(kit.vae, target, lambda t, s: t.update(
        {key: torch.zeros(3, 3)}))


@case("optimiser parameter groups numbered otherwise")
def _optimizer_groups(kit, target):
    def edit(state):
        group = state["optimizer_"]["__optimizer__"]["param_groups"][0]
        group["params"] = [i + 1 for i in group["params"]]
    return _with_json(kit.vae, target, STATE, edit)


@case("an optimiser learning rate that is a string")
def _optimizer_lr(kit, target):
    def edit(state):
        state["optimizer_"]["__optimizer__"]["param_groups"][0]["lr"] = "fast"
    return _with_json(kit.vae, target, STATE, edit)


@case("CycleGAN moving averages of a network it does not have")
def _average_state(kit, target):
    def edit(tensors, state):
        average = state["_average_state_"]
        average["evil_"] = average.pop("generator_ab_")
    return _with_weights(kit.gan, target, edit)


# -------------------------------------------------------------- parameters
@case("hidden=-5 in params.json")
def _negative_hidden(kit, target):
    return _with_json(kit.vae, target, PARAMS, lambda p: p.update(hidden=-5))


@case("chunk_frames=0 in params.json")
def _zero_chunk_frames(kit, target):
    return _with_json(kit.vae, target, PARAMS, lambda p: p.update(chunk_frames=0))


@case("hidden=10**7 in params.json (terabytes of weights)")
def _huge_hidden(kit, target):
    return _with_json(kit.vae, target, PARAMS, lambda p: p.update(hidden=10**7))


@case("an unknown parameter in params.json")
def _unknown_param(kit, target):
    return _with_json(kit.vae, target, PARAMS, lambda p: p.update(evil=1))


# ------------------------------------------------------------- the harness
_CHILD = r"""
import json, os, resource, sys, time
from sktimbre import TimbreCycleGAN, TimbreVAE
from sktimbre._persistence import load_model

def status(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

paths, extra = json.loads(sys.argv[1]), int(sys.argv[2]) * 2**20
_, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (status("VmSize") + extra, hard))
try:
    reset = os.open("/proc/self/clear_refs", os.O_WRONLY)
except OSError:
    reset = None
for path in paths:
    if reset is not None:
        os.write(reset, b"5")  # restart the peak (VmHWM) from now
    before, start = status("VmRSS"), time.perf_counter()
    try:
        load_model((TimbreVAE, TimbreCycleGAN), path)
        outcome, message = "loaded", ""
    except Exception as exc:  # every outcome is recorded and judged
        outcome, message = type(exc).__name__, str(exc)
    peak = status("VmHWM") if reset is not None else (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    print(json.dumps({"path": path, "outcome": outcome, "message": message[:400],
                      "before_mb": before / 2**20, "peak_mb": peak / 2**20,
                      "seconds": time.perf_counter() - start}), flush=True)
"""


def build_files(folder):
    """Write the good and crafted files; return ``{name: (what, path)}``."""
    kit = _Kit(folder)
    files = {name: ("good file", folder / name) for name in GOOD}
    for name, (what, build) in CASES.items():
        files[name] = (what, build(kit, folder / f"{name}.skt"))
    return kit, files


def load_in_child(paths):
    """Load each path in one child process; a record per path."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps([str(p) for p in paths]),
         str(ADDRESS_SPACE_MB)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    records = [json.loads(line) for line in done.stdout.splitlines()
               if line.startswith("{")]
    assert len(records) == len(paths), done.stderr[-3000:]
    return records


def summary(files, records, markers):
    """The table of outcomes, and the counts the test asserts."""
    by_path = {r["path"]: r for r in records}
    counts = {"tried": 0, "ran code": len(list(markers.iterdir())),
              "raw exceptions": 0, "good files loaded": 0}
    head = (f"{'file':24} {'outcome':17} {'peak MB':>7} {'added':>5} {'s':>5}  "
            "what it is")
    rows = [head, "-" * len(head)]
    for name, (what, path) in files.items():
        record = by_path[str(path)]
        good = name in GOOD
        counts["tried"] += not good
        counts["raw exceptions"] += not good and not _documented(record)
        counts["good files loaded"] += good and record["outcome"] == "loaded"
        rows.append(f"{name:24} {record['outcome']:17} {record['peak_mb']:7.0f} "
                    f"{record['peak_mb'] - record['before_mb']:5.0f} "
                    f"{record['seconds']:5.2f}  {what}")
    crafted = [by_path[str(path)] for name, (_, path) in files.items()
               if name not in GOOD]
    peaks = [r["peak_mb"] for r in crafted]
    added = [r["peak_mb"] - r["before_mb"] for r in crafted]
    counts["peak MB"] = (min(peaks), max(peaks))
    rows += ["", f"{counts['tried']} crafted files tried, {counts['ran code']} ran "
             f"code, {counts['raw exceptions']} raised anything but the "
             "documented ValueError or FileNotFoundError naming the file; peak "
             f"resident memory {min(peaks):.0f}-{max(peaks):.0f} MB (limit "
             f"{PEAK_LIMIT_MB}), at most {max(added):.0f} MB above the process "
             f"before each load; {counts['good files loaded']} of {len(GOOD)} "
             "good files loaded"]
    return "\n".join(rows), counts, by_path


def _documented(record):
    return record["outcome"] in ("ValueError", "FileNotFoundError") and (
        record["path"] in record["message"])


def test_crafted_files_are_refused_without_running_code_or_taking_memory(
        tmp_path, capsys):
    kit, files = build_files(tmp_path)
    records = load_in_child([path for _, path in files.values()])
    table, counts, by_path = summary(files, records, kit.markers)
    with capsys.disabled():  # the counts, for the record; the table: see main
        print("\nhostile model files: " + table.splitlines()[-1])
    assert counts["tried"] >= 30
    assert counts["ran code"] == 0, sorted(p.name for p in kit.markers.iterdir())
    assert counts["good files loaded"] == len(GOOD), table
    wrong = {name: f"{by_path[str(path)]['outcome']}: "
             f"{by_path[str(path)]['message'][:200]}"
             for name, (_, path) in files.items()
             if name not in GOOD and not _documented(by_path[str(path)])}
    assert not wrong, wrong
    heavy = {name: by_path[str(path)]["peak_mb"] for name, (_, path) in files.items()
             if by_path[str(path)]["peak_mb"] > PEAK_LIMIT_MB}
    assert not heavy, heavy


def test_the_payload_runs_when_unpickled(tmp_path):
    # Without this the "ran code: 0" above would prove nothing.
    pickle.loads(pickle.dumps(_Payload(tmp_path / "proof"))).close()
    assert (tmp_path / "proof").exists()


def test_every_case_is_described():
    assert len(CASES) >= 30
    assert all(len(what) > 10 for what, _ in CASES.values())


def main():
    with tempfile.TemporaryDirectory() as folder:
        kit, files = build_files(Path(folder))
        records = load_in_child([path for _, path in files.values()])
        print(summary(files, records, kit.markers)[0])


if __name__ == "__main__":
    main()
