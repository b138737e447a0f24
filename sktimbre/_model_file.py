"""Reading a model file without trusting it.

Before :mod:`sktimbre._persistence` decodes anything, the checks here size
everything a model file holds:

- the zip archive: exactly the four members, packed from the file's first
  byte to its central directory, whose end record closes the file; nothing
  encrypted, and no member that inflates beyond a cap or far beyond its
  compressed size;
- the JSON members: read in pieces up to a cap, UTF-8, nested only so deep,
  with no repeated keys and only so many arrays and objects;
- ``weights.safetensors``: its header parsed here, each tensor of a dtype of
  a short list, the data offsets tiling the member exactly;
- every tensor against the dtype and shape that the model's parameters give
  it, found by building the networks on PyTorch's ``meta`` device, which
  allocates nothing whatever sizes the parameters ask for.

Anything else raises :class:`_Damaged` (or :class:`_NotAModel`), which the
loader turns into one ``ValueError`` naming the file.
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
import torch

from ._sklearn_compat import InvalidParameterError
from ._spectrogram import SpectrogramTransformer

_MEMBERS = ("manifest.json", "params.json", "state.json", "weights.safetensors")
_WEIGHTS = "weights.safetensors"
# The only classes a file may ask to build, besides the timbre model itself.
_ESTIMATORS = {"SpectrogramTransformer": SpectrogramTransformer}

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
_MAX_BINS = 2**15 + 1  # spectrogram rows: n_fft up to 65536
_MAX_MEL = 2**23  # entries of a mel filter bank (32 MiB as float32)
_MAX_LABEL, _MAX_LABELS = 256, 1024  # characters of a class label; labels
_MAX_OTHER = 2**16  # elements of an array whose shape the model does not fix
_CHUNK = _MIB
# The dtypes a tensor may have in weights.safetensors.
_DTYPES = {
    "BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8,
    "I16": torch.int16, "U16": torch.uint16, "I32": torch.int32,
    "U32": torch.uint32, "I64": torch.int64, "U64": torch.uint64,
    "F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32,
    "F64": torch.float64,
}
_FLOATS = (torch.float32, torch.float64)
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


def _checked_params(cls, params):
    valid = set(cls().get_params(deep=False))
    unknown = sorted(map(str, set(params) - valid))
    if unknown:
        raise _Damaged(f"{cls.__name__} has no parameter(s) {unknown}")
    return params


def _built(cls, params, what):
    """``cls(**params)``, its parameters checked against its constraints;
    ``what`` names the part of the file they come from."""
    if not isinstance(params, dict):
        raise _Damaged(f"{what}: the parameters are not a mapping")
    try:
        estimator = cls(**_checked_params(cls, params))
        estimator._validate_params()
        if isinstance(estimator, SpectrogramTransformer):
            estimator._check_settings()
    except (_Damaged, TypeError, ValueError) as exc:
        raise _Damaged(f"{what}: {exc}") from None
    problem = isinstance(estimator, SpectrogramTransformer) and (
        _spectrogram_size_problem(estimator))
    if problem:
        raise _Damaged(f"{what}: the spectrogram transformer {problem}")
    return estimator


def _labels_problem(items, shape):
    """Why an array of labels cannot be stored, or None."""
    if math.prod(shape) > _MAX_LABELS:
        return f"{math.prod(shape):,} labels, more than {_MAX_LABELS}"
    for item in items:
        if not isinstance(item, (str, int, float, bool)):
            return f"a {type(item).__name__} among the labels"
        if isinstance(item, str) and len(item) > _MAX_LABEL:
            return f"a label of {len(item):,} characters, more than {_MAX_LABEL}"
    return None


# ------------------------------------------------- the spectrogram's shape
def _rows(transformer):
    """(rows of its output, rows of its linear STFT)."""
    linear = 1 + transformer.n_fft // 2
    return (transformer.n_mels or linear), linear


def _spectrogram_size_problem(transformer):
    n_freq, linear = _rows(transformer)
    if max(n_freq, linear) > _MAX_BINS:
        return (f"makes {max(n_freq, linear):,} rows (n_fft={transformer.n_fft}, "
                f"n_mels={transformer.n_mels}); a model file holds at most "
                f"{_MAX_BINS:,}")
    if transformer.n_mels and transformer.n_mels * linear > _MAX_MEL:
        return (f"has a mel filter bank of {transformer.n_mels * linear:,} "
                f"entries; a model file holds at most {_MAX_MEL:,}")
    return None


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


def _references(node, found):
    """Append every tensor key the JSON tree refers to."""
    if isinstance(node, list):
        for item in node:
            _references(item, found)
    elif isinstance(node, dict):
        for tag in ("__tensor__", "__ndarray__"):
            if tag in node:
                found.append(node[tag])
        for item in node.values():
            _references(item, found)


class _Shapes:
    """Checks each declared tensor against the dtype and shape the model's
    parameters give it, before any tensor data is read."""

    def __init__(self, declared, params, state):
        self.declared = declared
        self.checked = set()
        refs = []
        _references(params, refs)
        _references(state, refs)
        if not all(isinstance(r, str) for r in refs) or len(set(refs)) != len(refs):
            raise _Damaged("state.json refers to a tensor twice, or by a key "
                           "that is not a string")
        unknown = sorted(set(refs) - set(declared))
        if unknown:
            raise _Damaged(f"state.json refers to tensors {unknown[:3]} that "
                           f"{_WEIGHTS} lacks")
        self.referenced = set(refs)

    def expect(self, node, what, allowed, tag="__tensor__"):
        """``node`` refers to one tensor whose (dtype, shape) is in ``allowed``;
        ``what`` names it for the message."""
        if not (isinstance(node, dict) and set(node) == {tag}):
            raise _Damaged(f"{what} is not a reference to an array")
        tensor = self.declared[node[tag]]
        if (tensor.dtype, tensor.shape) not in allowed:
            dtypes = " or ".join(sorted({str(d) for d, _ in allowed}))
            shapes = " or ".join(sorted({str(list(s)) for _, s in allowed}))
            raise _Damaged(
                f"{what} is a {tensor.dtype} tensor of shape "
                f"{list(tensor.shape)}; the model's parameters make it "
                f"{dtypes} of shape {shapes}")
        self.checked.add(node[tag])

    def check_the_rest(self):
        unused = sorted(set(self.declared) - self.referenced)
        if unused:
            raise _Damaged(f"{_WEIGHTS} holds tensors nothing refers to: "
                           f"{unused[:3]}")
        for key, tensor in self.declared.items():
            if key not in self.checked and math.prod(tensor.shape) > _MAX_OTHER:
                raise _Damaged(
                    f"{_WEIGHTS}: {key!r} has {math.prod(tensor.shape):,} "
                    f"elements; an array that is no network weight holds at "
                    f"most {_MAX_OTHER:,}")


def _plain(node, what):
    if not isinstance(node, dict) or any(k.startswith("__") for k in node):
        raise _Damaged(f"{what} is not a plain mapping")
    return node


def _tagged(node, tag, what):
    if not (isinstance(node, dict) and set(node) == {tag}):
        raise _Damaged(f"{what} is not a {tag} entry")
    return node[tag]


def _is_tagged(node):
    return isinstance(node, dict) and any(k.startswith("__") for k in node)


def _expect_spectrograms(shapes, node, member, path=()):
    """Check the arrays of every spectrogram transformer in a JSON tree."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            _expect_spectrograms(shapes, item, member, (*path, str(index)))
    elif isinstance(node, dict):
        if "__estimator__" in node:
            _expect_spectrogram(shapes, node, f"{member}: {'.'.join(path)}")
            return
        for key, item in node.items():
            _expect_spectrograms(shapes, item, member, (*path, key))


def _expect_spectrogram(shapes, node, what):
    """Check a spectrogram transformer's arrays against its parameters; for
    a fitted one, return a stand-in of the same shapes (no arrays read)."""
    if not (isinstance(node, dict) and "__estimator__" in node
            and isinstance(node.get("params"), dict)):
        raise _Damaged(f"{what} is not a spectrogram transformer")
    name = node["__estimator__"]
    if name not in _ESTIMATORS:
        raise _Damaged(f"{what} asks to build a {name!r}, which is not allowed")
    plain = {k: v for k, v in node["params"].items() if not _is_tagged(v)}
    transformer = _built(_ESTIMATORS[name], plain, what)
    fitted = node.get("fitted")
    if not isinstance(fitted, dict) or not fitted:
        return None
    n_freq, linear = _rows(transformer)
    if fitted.get("n_freq_") != n_freq or not _is_count(fitted.get("n_freq_")):
        raise _Damaged(
            f"{what}: n_freq_ is {fitted.get('n_freq_')!r}, but "
            f"n_fft={transformer.n_fft} and n_mels={transformer.n_mels} make "
            f"{n_freq} rows")
    vector = [(dtype, (n_freq,)) for dtype in _FLOATS]
    for attribute in ("frequencies_", "mean_", "scale_"):
        shapes.expect(fitted.get(attribute), f"{what}.{attribute}", vector,
                      tag="__ndarray__")
    if transformer.n_mels is not None:
        shapes.expect(fitted.get("mel_basis_"), f"{what}.mel_basis_",
                      [(dtype, (transformer.n_mels, linear)) for dtype in _FLOATS],
                      tag="__ndarray__")
    # A stand-in of the transformer's shape, for building the networks. No
    # mel filter bank: inverting one (for the placeholder's features) takes
    # seconds to minutes for a large bank, and the networks' shapes do not
    # depend on it.
    transformer.n_freq_, transformer.mel_basis_ = n_freq, None
    transformer.mean_, transformer.scale_ = np.zeros(n_freq), np.ones(n_freq)
    transformer.device_ = torch.device("cpu")
    return transformer


def _expect_random_states(shapes, node, member):
    if isinstance(node, list):
        for item in node:
            _expect_random_states(shapes, item, member)
    elif isinstance(node, dict):
        fields = node.get("__random_state__")
        if isinstance(fields, list) and len(fields) == 5:
            shapes.expect(fields[1], f"{member}: a random state's keys",
                          [(torch.uint32, (624,))], tag="__ndarray__")
        for item in node.values():
            _expect_random_states(shapes, item, member)


class _Networks(NamedTuple):
    """The (dtype, shape) of every tensor of a model's networks."""

    modules: dict  # module name -> {state_dict key: (dtype, shape)}
    optimizers: dict  # optimiser name -> [[(dtype, shape) per parameter]]


def _networks(cls, params, transformer):
    """What networks a model with these parameters builds, found on PyTorch's
    meta device: nothing is allocated, however large the parameters ask."""
    probe = _built(cls, {k: v for k, v in params.items() if not _is_tagged(v)},
                   "params.json")
    probe.device_ = torch.device("cpu")
    # Meta tensors have no data to move to a device.
    probe._ensure_device = lambda: None
    with torch.device("meta"):
        _build_networks(probe, transformer)
    modules = {
        name: {k: (v.dtype, tuple(v.shape))
               for k, v in getattr(probe, name).state_dict().items()}
        for name in cls._module_names
    }
    optimizers = {
        name: [[(p.dtype, tuple(p.shape)) for p in group["params"]]
               for group in getattr(probe, name).param_groups]
        for name in cls._optimizer_names
    }
    return _Networks(modules, optimizers)


def _build_networks(model, stand_in):
    """Build ``model``'s networks as fit does, for spectrograms of the shape
    of ``stand_in`` (see :func:`_expect_spectrogram`); the saved weights then
    replace the initial ones drawn here."""
    fitted = getattr(model, "spectrogram_", None)
    model.spectrogram_ = stand_in
    try:
        placeholder = model._clip_data(
            np.zeros((stand_in.n_freq_, 8), dtype=np.float32), 0)
        # Leave the global random state as it was.
        with torch.random.fork_rng(devices=[]):
            model._build_networks([placeholder])
    finally:
        model.spectrogram_ = fitted


def _expect_networks(shapes, cls, state, networks):
    for name, expected in networks.modules.items():
        entries = _tagged(state.get(name), "__module__", f"state.json: {name}")
        _expect_state_dict(shapes, entries, expected, f"state.json: {name}")
    for name in cls._state_names:
        saved = state.get(name)
        if saved is None:
            continue
        for module, entries in _plain(saved, f"state.json: {name}").items():
            if module not in networks.modules:
                raise _Damaged(f"state.json: {name} holds weights of {module!r}, "
                               "which is not one of the model's networks")
            expected = networks.modules[module]
            if isinstance(entries, dict) and "n_averaged" in entries:
                # A moving average (torch.optim.swa_utils.AveragedModel).
                expected = {"n_averaged": (torch.int64, ()),
                            **{f"module.{k}": v for k, v in expected.items()}}
            _expect_state_dict(shapes, entries, expected,
                               f"state.json: {name}.{module}")
    for name, groups in networks.optimizers.items():
        _expect_optimizer(shapes, state.get(name), groups, f"state.json: {name}")


def _expect_state_dict(shapes, entries, expected, what):
    entries = _plain(entries, what)
    if set(entries) != set(expected):
        extra = sorted(set(entries) - set(expected))[:3]
        missing = sorted(set(expected) - set(entries))[:3]
        raise _Damaged(f"{what} does not hold the weights of the "
                       f"network its parameters build (extra {extra}, missing "
                       f"{missing})")
    for key, allowed in expected.items():
        shapes.expect(entries[key], f"{what}.{key}", [allowed])


def _expect_optimizer(shapes, node, groups, name):
    saved = _plain(_tagged(node, "__optimizer__", name), name)
    if set(saved) != {"state", "param_groups"}:
        raise _Damaged(f"{name} is not an optimiser's state")
    saved_groups = saved["param_groups"]
    if not isinstance(saved_groups, list) or len(saved_groups) != len(groups):
        raise _Damaged(f"{name} has other parameter groups than the "
                       "optimiser the model builds")
    parameters = [p for group in groups for p in group]
    first = 0
    for saved_group, group in zip(saved_groups, groups):
        saved_group = _plain(saved_group, f"{name}.param_groups")
        if saved_group.get("params") != list(range(first, first + len(group))):
            raise _Damaged(f"{name} numbers its parameters otherwise "
                           "than the optimiser the model builds")
        first += len(group)
        for key, value in saved_group.items():
            if key != "params" and not _is_setting(value):
                raise _Damaged(f"{name}'s setting {key} is {value!r}")
    state = saved["state"]
    pairs = [] if state == {} else _tagged(state, "__dict__", f"{name}.state")
    seen = set()
    for pair in _lists([pairs])[0]:
        if not (isinstance(pair, list) and len(pair) == 2 and _is_count(pair[0])
                and pair[0] < len(parameters) and pair[0] not in seen):
            raise _Damaged(f"{name} holds the state of a parameter "
                           "it does not have")
        index, entry = pair
        seen.add(index)
        allowed = [parameters[index], *((dtype, ()) for dtype in _FLOATS)]
        for key, value in _plain(entry, f"{name}.state").items():
            if isinstance(value, dict):
                shapes.expect(value, f"{name}.state.{index}.{key}", allowed)
            elif not _is_real(value):
                raise _Damaged(f"{name}.state.{index}.{key} is "
                               f"{value!r}")


def _is_setting(value):
    """An optimiser setting: a number, a flag, None or a few numbers."""
    if value is None or isinstance(value, bool):
        return True
    if _is_real(value):
        return math.isfinite(value)
    if isinstance(value, dict) and set(value) == {"__tuple__"}:
        items = value["__tuple__"]
        return isinstance(items, list) and len(items) <= 4 and all(
            _is_real(v) and math.isfinite(v) for v in items)
    return False


def _state_cap(n_tensors):
    return min(_STATE_MOST, _STATE_BASE + _STATE_PER_TENSOR * n_tensors)


def _state_containers(n_tensors):
    return _CONTAINERS + _CONTAINERS_PER_TENSOR * n_tensors


