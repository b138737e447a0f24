"""The model file's container, read without trusting it: its zip archive,
its JSON members and the header of ``weights.safetensors``.

- the zip archive: exactly the four members, packed from the file's first
  byte to its central directory, whose end record closes the file; nothing
  encrypted, and no member that inflates beyond a cap or far beyond its
  compressed size;
- the JSON members: read in pieces up to a cap, UTF-8, nested only so deep,
  with no repeated keys and only so many arrays and objects;
- ``weights.safetensors``: its header parsed here, each tensor of a dtype of
  a short list, the data offsets tiling the member exactly.

Anything else raises :class:`_Damaged` (or :class:`_NotAModel`), which the
loader turns into one ``ValueError`` naming the file. What the tensors must
be, given the model's parameters, is checked by :mod:`sktimbre._model_file`.
"""

import json
import math
import re
import struct
import zipfile
import zlib
from typing import NamedTuple

import numpy as np
import safetensors
import safetensors.torch
import torch

from ._sklearn_compat import InvalidParameterError

_MEMBERS = ("manifest.json", "params.json", "state.json", "weights.safetensors")
_WEIGHTS = "weights.safetensors"

# ------------------------------------------------------------------ limits
# What a model file may declare. Each is far above what a model of any
# sensible size writes (the writer checks the same limits) and low enough
# that a crafted file cannot make load take much memory or time.
_MIB = 2**20
_JSON_CAPS = {"manifest.json": 2**16, "params.json": _MIB}
# state.json: the training history, plus one reference per tensor.
_STATE_BASE, _STATE_PER_TENSOR, _STATE_MOST = 4 * _MIB, 512, 16 * _MIB
_HEADER_CAP = _MIB  # the JSON header of weights.safetensors
# JSON arrays and objects per member (each costs memory once parsed); the
# state gets a few per tensor on top.
_CONTAINERS, _CONTAINERS_PER_TENSOR = 4096, 4
_MAX_DEPTH = 32  # JSON nesting; the writer's deepest is 10
# A member over 1 MiB may inflate at most this many times: weights hardly
# compress, and a zip bomb inflates a thousand-fold.
_MAX_RATIO, _RATIO_FREE = 100, _MIB
_MAX_ENTRIES = 64  # zip entries looked at, to say what a foreign zip file is
_CHUNK = _MIB
# The dtypes a tensor may have in weights.safetensors.
_DTYPES = {
    "BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8,
    "I16": torch.int16, "U16": torch.uint16, "I32": torch.int32,
    "U32": torch.uint32, "I64": torch.int64, "U64": torch.uint64,
    "F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32,
    "F64": torch.float64,
}
# Zip records (APPNOTE.TXT 4.3): local file header, end of central
# directory, and the zip64 end record and its locator.
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_END = struct.Struct("<4s4H2LH")
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")
_ENCRYPTED, _DESCRIPTOR = 0x41, 0x08
# How gzip, bz2, xz, lzma and lz4 files start (zlib is told by its checksum).
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x5d\x00\x00", b"\x04\x22\x4d\x18")


class _Damaged(ValueError):
    """Raised inside reading; turned into one message naming the file."""


class _NotAModel(ValueError):
    """The file is something else; says what, then what to do."""


# Exceptions that reading a malformed file raises from zipfile, zlib, json,
# NumPy or torch: a damaged file, never a bug to hide, since every check
# above them has passed.
_READ_FAILURES = (
    KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError,
    OverflowError, MemoryError, RecursionError, EOFError, OSError,
    NotImplementedError, struct.error, zlib.error, zipfile.BadZipFile,
    safetensors.SafetensorError,
)


def _lists(values):
    """``values`` (a list of lists), refusing any item that is not a list."""
    if not all(isinstance(v, list) for v in values):
        raise _Damaged("a list is expected where the file has something else")
    return values


def _is_count(value):
    return isinstance(value, (int, np.integer)) and not isinstance(
        value, (bool, np.bool_)) and value >= 0


def _is_real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not (
        isinstance(value, (bool, np.bool_)))


def _is_index_list(value, longest=8):
    return isinstance(value, list) and len(value) <= longest and all(
        _is_count(v) for v in value)


def _reason(exc):
    """An exception as a short clause for a message."""
    if isinstance(exc, (_Damaged, InvalidParameterError)):
        return str(exc)
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__



# --------------------------------------------------------------- the archive
class _Archive:
    """A model file's zip archive, its layout checked, read member by member.

    The members must follow one another from the file's first byte to its
    central directory, and the directory's end record must close the file:
    no bytes may hide before, between or after them (a pickle put in front
    of a model file is not read past as zip readers do).
    """

    def __init__(self, handle, size):
        self.handle = handle
        start = self._at(0, 4)
        if start != b"PK\x03\x04":
            raise _NotAModel(_what_it_is(start, handle))
        n_entries, directory = self._directory(size)
        try:
            self.zip = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            raise _NotAModel(
                "not an sktimbre model file, which is a zip archive written by "
                f"model.save(path) ({exc})") from None
        self.members = self._members(n_entries, directory)

    def _at(self, offset, count):
        self.handle.seek(offset)
        data = self.handle.read(count)
        if len(data) != count:
            raise _Damaged(f"it ends before byte {offset + count:,}")
        return data

    def _directory(self, size):
        """Entries and start of the central directory, from the end record."""
        if size < _LOCAL.size + _END.size:
            raise _NotAModel(f"not an sktimbre model file: it is {size} bytes long")
        end_at = size - _END.size
        (signature, disk, start_disk, n_here, n_entries, length, offset,
         comment) = _END.unpack(self._at(end_at, _END.size))
        if signature != b"PK\x05\x06":
            raise _NotAModel(
                "not an sktimbre model file, or a damaged one: it does not end "
                "with the directory of a zip archive (it is cut short, or has "
                "bytes after the archive)")
        if end_at >= _END64_LOCATOR.size and self._at(
                end_at - _END64_LOCATOR.size, 4) == b"PK\x06\x07":
            end_at, (disk, start_disk, n_here, n_entries, length, offset) = (
                self._zip64_directory(end_at))
        if comment or disk or start_disk or n_here != n_entries:
            raise _Damaged("its zip archive has a comment or spans several disks, "
                           "which model.save never writes")
        if n_entries > _MAX_ENTRIES:
            raise _Damaged(f"its zip archive has {n_entries:,} members; a model "
                           f"file has {len(_MEMBERS)}")
        if offset + length != end_at:
            raise _Damaged(f"{abs(end_at - offset - length):,} bytes of its zip "
                           "directory are missing or unaccounted for")
        return n_entries, offset

    def _zip64_directory(self, end_at):
        locator_at = end_at - _END64_LOCATOR.size
        _, disk, record_at, n_disks = _END64_LOCATOR.unpack(
            self._at(locator_at, _END64_LOCATOR.size))
        if disk or n_disks != 1 or record_at != locator_at - _END64.size:
            raise _Damaged("its zip64 end record is missing or misplaced")
        fields = _END64.unpack(self._at(record_at, _END64.size))
        if fields[0] != b"PK\x06\x06" or fields[1] != _END64.size - 12:
            raise _Damaged("its zip64 end record is damaged")
        return record_at, fields[4:]

    def _members(self, n_entries, directory):
        infos = self.zip.infolist()
        names = [info.orig_filename for info in infos]
        if len(infos) != n_entries or len(set(names)) != len(names):
            raise _Damaged(f"its zip directory lists the members {names[:8]}, "
                           "some twice or not as many as its end record says")
        missing = sorted(set(_MEMBERS) - set(names))
        if missing:
            kind = "a torch.save file" if any(
                n.endswith("data.pkl") for n in names) else "another zip file"
            raise _NotAModel(f"{kind}, not an sktimbre model file (it lacks "
                             f"{missing})")
        extra = sorted(set(names) - set(_MEMBERS))
        if extra:
            raise _Damaged(f"its zip archive holds {extra[:5]} besides the "
                           f"members of a model file {list(_MEMBERS)}")
        self._check_packing(infos, directory)
        for info in infos:
            _check_ratio(info)
        return {info.orig_filename: info for info in infos}

    def _check_packing(self, infos, directory):
        at = 0
        for info in sorted(infos, key=lambda i: i.header_offset):
            name = info.orig_filename
            if info.header_offset != at:
                where = "before its first member" if at == 0 else f"before {name}"
                raise _Damaged(f"{info.header_offset - at:,} bytes lie {where} "
                               "in its zip archive")
            fields = _LOCAL.unpack(self._at(at, _LOCAL.size))
            flags, method, name_length, extra_length = (
                fields[3], fields[4], fields[10], fields[11])
            encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
            if (fields[0] != b"PK\x03\x04"
                    or self._at(at + _LOCAL.size, name_length)
                    != name.encode(encoding)):
                raise _Damaged(f"{name}'s local header does not match its zip "
                               "directory entry")
            if (flags | info.flag_bits) & (_ENCRYPTED | _DESCRIPTOR):
                raise _Damaged(f"{name} is encrypted or followed by a data "
                               "descriptor, which model.save never writes")
            if method != info.compress_type or method not in (
                    zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _Damaged(f"{name} uses compression method {method}; a "
                               "model file uses deflate")
            at += _LOCAL.size + name_length + extra_length + info.compress_size
        if at != directory:
            raise _Damaged(f"{directory - at:,} bytes lie between the last "
                           "member and the directory of its zip archive")

    def read(self, name, cap):
        """A member's bytes; refused unread if it declares more than ``cap``."""
        info = self.members[name]
        if info.file_size > cap:
            raise _Damaged(f"{name} declares {info.file_size:,} bytes, more than "
                           f"the {cap:,} it may hold")
        return self._inflate(info, info.file_size)

    def _inflate(self, info, count):
        """The first ``count`` bytes of a member, inflated piece by piece, so
        that memory never exceeds what was asked for (zipfile checks a whole
        member's CRC as its last byte comes)."""
        data = bytearray(count)
        done = 0
        try:
            with self.zip.open(info) as stream:
                while done < count:
                    piece = stream.read(min(_CHUNK, count - done))
                    if not piece:
                        break
                    data[done:done + len(piece)] = piece
                    done += len(piece)
        except (zlib.error, zipfile.BadZipFile, EOFError, OSError) as exc:
            raise _Damaged(f"{info.orig_filename} cannot be inflated "
                           f"({_reason(exc)})") from None
        if done != count:
            raise _Damaged(f"{info.orig_filename} holds {done:,} bytes, fewer than "
                           f"the {count:,} its zip entry declares")
        return data

    def json(self, name, cap=None, containers=_CONTAINERS):
        data = self.read(name, _JSON_CAPS[name] if cap is None else cap)
        return _parse_json(data, name, containers)

    def weights_header(self):
        """The tensors ``weights.safetensors`` declares, their layout checked."""
        info = self.members[_WEIGHTS]
        if info.file_size < 8:
            raise _Damaged(f"{_WEIGHTS} is {info.file_size} bytes long")
        (length,) = struct.unpack("<Q", self._inflate(info, 8))
        if length > min(_HEADER_CAP, info.file_size - 8):
            raise _Damaged(f"{_WEIGHTS} declares a header of {length:,} bytes, "
                           f"more than its size or the {_HEADER_CAP:,} allowed")
        header = _parse_json(self._inflate(info, 8 + length)[8:],
                             f"{_WEIGHTS}'s header", 3 * (_HEADER_CAP // 48))
        return _declared_tensors(header, info.file_size - 8 - length)

    def weights(self):
        """Every tensor of ``weights.safetensors``, on the CPU."""
        info = self.members[_WEIGHTS]
        data = bytes(self.read(_WEIGHTS, info.file_size))
        return safetensors.torch.load(data)


def _what_it_is(start, handle):
    if start == b"PK\x05\x06":
        return ("an empty zip archive, not an sktimbre model file, which is a "
                "zip archive written by model.save(path)")
    if start[:1] == b"\x80":
        kind = "a pickle (or joblib) file"
    elif start.startswith(_COMPRESSED) or (
            start[0] == 0x78 and int.from_bytes(start[:2], "big") % 31 == 0):
        kind = "a compressed file (perhaps a compressed joblib file)"
    else:
        kind = "a file"
    handle.seek(0)
    if zipfile.is_zipfile(handle):
        kind += (" with a zip archive after other bytes (a model file has no "
                 "bytes before its first member)")
    return (f"{kind}, not an sktimbre model file, which is a zip archive "
            "written by model.save(path)")


def _check_ratio(info):
    name = info.orig_filename
    if info.compress_type == zipfile.ZIP_STORED and (
            info.compress_size != info.file_size):
        raise _Damaged(f"{name} is stored uncompressed but declares "
                       f"{info.file_size:,} bytes in {info.compress_size:,}")
    if info.file_size > max(_RATIO_FREE, _MAX_RATIO * info.compress_size):
        raise _Damaged(
            f"{name} would inflate {info.compress_size:,} bytes to "
            f"{info.file_size:,}, more than {_MAX_RATIO} times; no model member "
            "compresses that well")


# --------------------------------------------------------------------- JSON
# A JSON string, so that brackets inside strings are not counted as nesting.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def _parse_json(data, name, containers):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Damaged(f"{name} is not UTF-8 text ({exc.reason} at byte "
                       f"{exc.start:,})") from None
    _check_nesting(text, name, containers)
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except (json.JSONDecodeError, _Damaged) as exc:
        raise _Damaged(f"{name} is not valid JSON ({exc})") from None
    except (ValueError, RecursionError) as exc:  # e.g. an int of 5000 digits
        raise _Damaged(f"{name} holds a value JSON cannot read ({exc})") from None


def _check_nesting(text, name, containers):
    """Refuse deep nesting (which would exhaust the parser's recursion) and
    more arrays and objects than a model writes, before parsing."""
    codes = np.frombuffer(_JSON_STRING.sub("", text).encode(), dtype=np.uint8)
    opens = (codes == ord("[")) | (codes == ord("{"))
    closes = (codes == ord("]")) | (codes == ord("}"))
    depth = np.cumsum(opens.astype(np.int64) - closes) if codes.size else codes
    if depth.size and depth.max() > _MAX_DEPTH:
        raise _Damaged(f"{name} nests {int(depth.max()):,} levels deep; a model "
                       f"file nests at most {_MAX_DEPTH}")
    if opens.sum() > containers:
        raise _Damaged(f"{name} holds {int(opens.sum()):,} arrays and objects; "
                       f"a model of this size writes at most {containers:,}")


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Damaged(f"an object repeats a key among {sorted(keys)[:6]}")
    return dict(pairs)


# ----------------------------------------------------- weights.safetensors
class _Declared(NamedTuple):
    """A tensor as the safetensors header declares it."""

    dtype: torch.dtype
    shape: tuple
    start: int
    stop: int


def _declared_tensors(header, data_size):
    if not isinstance(header, dict):
        raise _Damaged(f"{_WEIGHTS}'s header is not a mapping")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
            isinstance(v, str) for v in metadata.values()):
        raise _Damaged(f"{_WEIGHTS}'s metadata is not a mapping of strings")
    declared = {key: _declared(key, entry) for key, entry in header.items()}
    at = 0
    for key, tensor in sorted(declared.items(), key=lambda kv: kv[1][2:]):
        if tensor.start != at:
            raise _Damaged(f"{_WEIGHTS}: the data of {key!r} starts at byte "
                           f"{tensor.start:,}, not {at:,}")
        at = tensor.stop
    if at != data_size:
        raise _Damaged(f"{_WEIGHTS}: its tensors take {at:,} bytes, but it holds "
                       f"{data_size:,}")
    return declared


def _declared(key, entry):
    if not (isinstance(entry, dict)
            and set(entry) == {"dtype", "shape", "data_offsets"}):
        raise _Damaged(f"{_WEIGHTS}: the entry of {key!r} is malformed")
    name, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    dtype = _DTYPES.get(name) if isinstance(name, str) else None
    if dtype is None:
        raise _Damaged(f"{_WEIGHTS}: {key!r} has dtype {name!r}; a model file "
                       f"holds only {sorted(_DTYPES)}")
    if not (_is_index_list(shape) and _is_index_list(offsets, 2)
            and len(offsets) == 2 and offsets[0] <= offsets[1]):
        raise _Damaged(f"{_WEIGHTS}: {key!r} has shape {shape!r} and offsets "
                       f"{offsets!r}")
    if offsets[1] - offsets[0] != math.prod(shape) * dtype.itemsize:
        raise _Damaged(f"{_WEIGHTS}: {key!r} of shape {shape} takes "
                       f"{offsets[1] - offsets[0]:,} bytes, not "
                       f"{math.prod(shape) * dtype.itemsize:,}")
    return _Declared(dtype, tuple(shape), offsets[0], offsets[1])



def _state_cap(n_tensors):
    return min(_STATE_MOST, _STATE_BASE + _STATE_PER_TENSOR * n_tensors)


def _state_containers(n_tensors):
    return _CONTAINERS + _CONTAINERS_PER_TENSOR * n_tensors
