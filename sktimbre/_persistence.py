"""Saving timbre models without pickle.

A model file is a zip archive of four members:

- ``manifest.json``: the format name and version, the class, the versions
  that wrote it;
- ``params.json``: the constructor parameters (a nested
  :class:`~sktimbre.SpectrogramTransformer` by its own parameters);
- ``state.json``: the fitted state (history, classes, random-number state,
  the fitted spectrogram transformer, optimiser settings), with every array
  replaced by a reference into
- ``weights.safetensors``: the network weights, the optimisers' moments and
  every other array.

Reading uses only :mod:`json`, :mod:`zipfile` and :mod:`safetensors`, and
builds nothing but numbers, strings, lists, dicts, arrays, tensors, devices,
random states and the estimators of a short list, so loading a crafted file
cannot run code: the safety property pickle (and ``joblib``) cannot give.
"""

import json
import os
import re
import secrets
import zipfile
from pathlib import Path

import numpy as np
import safetensors
import safetensors.torch
import torch
from sklearn.utils.validation import check_is_fitted

from ._device import loadable_device
from ._spectrogram import SpectrogramTransformer
from ._version import __version__

__all__ = ["FORMAT_VERSION", "load_model", "save_model"]

FORMAT = "sktimbre-model"
# Bump when a file written now could be misread by an older reader or a file
# written before could be misread now; list the versions this code reads.
FORMAT_VERSION = 1
_READABLE_VERSIONS = (1,)
_MEMBERS = ("manifest.json", "params.json", "state.json", "weights.safetensors")
# The only classes a file may ask to build, besides the timbre model itself.
_ESTIMATORS = {"SpectrogramTransformer": SpectrogramTransformer}
# Fitted attributes: a name ending in one underscore, as scikit-learn's.
_ATTRIBUTE = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]*_$")
_WHAT_TO_DO = (
    "sktimbre's load never unpickles, because unpickling can run code; load "
    "a pickle or joblib file only if you trust it, with joblib.load(path), "
    "and save it again with model.save(path)."
)


class _Damaged(ValueError):
    """Raised inside decoding; turned into one message naming the file."""


# ---------------------------------------------------------------- encoding
class _Encoder:
    """Turn a tree of values into JSON, moving arrays into ``tensors``."""

    def __init__(self):
        self.tensors = {}

    def __call__(self, value, path):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, torch.Tensor):
            return {"__tensor__": self._store(value, path)}
        if isinstance(value, np.ndarray):
            return self._array(value, path)
        if isinstance(value, np.generic):
            return {"__scalar__": self._array(np.asarray(value), path)}
        if isinstance(value, torch.device):
            return {"__device__": str(value)}
        if isinstance(value, np.random.RandomState):
            name, keys, pos, has_gauss, gauss = value.get_state()
            return {"__random_state__": [name, self._array(keys, path), int(pos),
                                         int(has_gauss), float(gauss)]}
        if isinstance(value, torch.nn.Module):
            return {"__module__": self(value.state_dict(), path)}
        if isinstance(value, torch.optim.Optimizer):
            return {"__optimizer__": self(value.state_dict(), path)}
        if type(value).__name__ in _ESTIMATORS and isinstance(
            value, _ESTIMATORS[type(value).__name__]
        ):
            return {"__estimator__": type(value).__name__,
                    "params": self(value.get_params(deep=False), f"{path}/params"),
                    "fitted": self(_fitted_state(value), f"{path}/fitted")}
        if isinstance(value, tuple):
            return {"__tuple__": [self(v, f"{path}/{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self(v, f"{path}/{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return self._dict(value, path)
        raise TypeError(
            f"{path} is a {type(value).__name__}, which the pickle-free format "
            "cannot hold; save this model with joblib.dump instead."
        )

    def _dict(self, value, path):
        plain = all(isinstance(k, str) and not k.startswith("__") for k in value)
        if plain:
            return {k: self(v, f"{path}/{k}") for k, v in value.items()}
        return {"__dict__": [[self(k, f"{path}/key{i}"), self(v, f"{path}/{k}")]
                             for i, (k, v) in enumerate(value.items())]}

    def _array(self, value, path):
        if value.dtype.kind in "biuf":
            native = value.astype(value.dtype.newbyteorder("="), copy=True)
            return {"__ndarray__": self._store(torch.from_numpy(native), path)}
        if value.dtype.kind in "UO" and all(
            isinstance(v, (str, int, float, bool)) for v in value.ravel().tolist()
        ):
            return {"__ndarray_list__": value.tolist(), "dtype": value.dtype.str,
                    "shape": list(value.shape)}
        raise TypeError(
            f"{path} is an array of dtype {value.dtype}, which the pickle-free "
            "format cannot hold; save this model with joblib.dump instead."
        )

    def _store(self, tensor, path):
        key = path
        while key in self.tensors:  # a dict key holding "/" may repeat a path
            key += "'"
        # Copies, so tensors that share memory (tied weights) save separately.
        self.tensors[key] = tensor.detach().cpu().contiguous().clone()
        return key


class _Decoder:
    """The inverse of :class:`_Encoder`; builds only allow-listed types."""

    _TAGS = {
        "__tensor__": "_tensor",
        "__ndarray__": "_ndarray",
        "__ndarray_list__": "_ndarray_list",
        "__scalar__": "_scalar",
        "__device__": "_device",
        "__random_state__": "_random_state",
        "__module__": "_module",
        "__optimizer__": "_optimizer",
        "__estimator__": "_estimator",
        "__tuple__": "_tuple",
        "__dict__": "_dict",
    }

    def __init__(self, tensors):
        self.tensors = tensors

    def __call__(self, value):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            raise _Damaged(f"unexpected JSON value {value!r}")
        tags = [k for k in value if k.startswith("__")]
        if not tags:
            return {k: self(v) for k, v in value.items()}
        if len(tags) != 1 or tags[0] not in self._TAGS:
            raise _Damaged(f"unknown entry {tags}")
        return getattr(self, self._TAGS[tags[0]])(value)

    def _tensor(self, value):
        key = value["__tensor__"]
        if key not in self.tensors:
            raise _Damaged(f"the tensor {key!r} is missing")
        return self.tensors[key]

    def _ndarray(self, value):
        return self._tensor({"__tensor__": value["__ndarray__"]}).numpy().copy()

    def _ndarray_list(self, value):
        arr = np.array(value["__ndarray_list__"], dtype=np.dtype(str(value["dtype"])))
        return arr.reshape([int(n) for n in value["shape"]])

    def _scalar(self, value):
        return self(value["__scalar__"])[()]

    def _device(self, value):
        return torch.device(str(value["__device__"]))

    def _random_state(self, value):
        name, keys, pos, has_gauss, gauss = value["__random_state__"]
        rng = np.random.RandomState()
        rng.set_state((str(name), self(keys).astype(np.uint32), int(pos),
                       int(has_gauss), float(gauss)))
        return rng

    def _module(self, value):
        return _Weights(self(value["__module__"]))

    def _optimizer(self, value):
        return _OptimizerState(self(value["__optimizer__"]))

    def _estimator(self, value):
        name = value["__estimator__"]
        if name not in _ESTIMATORS:
            raise _Damaged(f"it asks to build a {name!r}, which is not allowed")
        estimator = _ESTIMATORS[name](**_checked_params(
            _ESTIMATORS[name], self(value["params"])))
        for attribute, item in self(value["fitted"]).items():
            setattr(estimator, _checked_attribute(attribute), item)
        if hasattr(estimator, "device_"):
            estimator.device_ = loadable_device(estimator.device_,
                                                what="Its spectrogram transformer")
        return estimator

    def _tuple(self, value):
        return tuple(self(v) for v in value["__tuple__"])

    def _dict(self, value):
        return {self(k): self(v) for k, v in value["__dict__"]}


class _Weights(dict):
    """A module's saved ``state_dict``, loaded into the rebuilt module."""


class _OptimizerState(dict):
    """An optimiser's saved ``state_dict``, loaded into the rebuilt one."""


def _fitted_state(estimator):
    return {k: v for k, v in vars(estimator).items()
            if k.endswith("_") and not k.startswith("__")}


def _checked_params(cls, params):
    valid = set(cls().get_params(deep=False))
    unknown = sorted(set(params) - valid)
    if unknown:
        raise _Damaged(f"{cls.__name__} has no parameter(s) {unknown}")
    return params


def _checked_attribute(name):
    if not isinstance(name, str) or not _ATTRIBUTE.match(name) or (
        name.startswith("__")
    ):
        raise _Damaged(f"{name!r} is not the name of a fitted attribute")
    return name


# ------------------------------------------------------------ save / load
def save_model(model, path):
    """Write a fitted timbre model to ``path``; see ``BaseTimbreModel.save``."""
    check_is_fitted(model)
    encode = _Encoder()
    params = encode(model.get_params(deep=False), "params")
    state = encode(_fitted_state(model), "state")
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": type(model).__name__,
        "sktimbre_version": __version__,
        "torch_version": torch.__version__,
    }
    members = {
        "manifest.json": json.dumps(manifest, indent=1),
        "params.json": json.dumps(params, indent=1),
        "state.json": json.dumps(state),
        "weights.safetensors": safetensors.torch.save(
            encode.tensors, metadata={"format": FORMAT}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed, so an interrupted save never
    # leaves a half-written model where a good one was.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as raw, zipfile.ZipFile(
            raw, "w", compression=zipfile.ZIP_DEFLATED
        ) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def load_model(cls, path):
    """Read a model written by :func:`save_model` as an instance of ``cls``;
    for a tuple of classes, of the one the file's manifest names (a file
    naming none of them is refused as if the first were asked for)."""
    path = Path(path)
    members = _read_members(path)
    manifest = _parse_json(members, "manifest.json", path)
    if isinstance(cls, tuple):
        named = manifest.get("class") if isinstance(manifest, dict) else None
        cls = next((c for c in cls if c.__name__ == named), cls[0])
    _check_manifest(manifest, cls, path)
    try:
        tensors = safetensors.torch.load(members["weights.safetensors"])
        decode = _Decoder(tensors)
        params = decode(_parse_json(members, "params.json", path))
        state = decode(_parse_json(members, "state.json", path))
        if not isinstance(params, dict) or not isinstance(state, dict):
            raise _Damaged("its parameters or state are not a mapping")
        model = cls(**_checked_params(cls, params))
        _restore_state(model, state)
    except (_Damaged, safetensors.SafetensorError, KeyError, TypeError,
            ValueError, RuntimeError) as exc:
        raise ValueError(
            f"{path} is a damaged sktimbre model file ({exc}); save the model "
            "again, or fit it again."
        ) from exc
    return model


def _read_members(path):
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; check the path, or save a model there "
            "first with model.save(path)."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not set(_MEMBERS) <= names:
                kind = "a torch.save file" if any(
                    n.endswith("data.pkl") for n in names) else "another zip file"
                raise ValueError(
                    f"{path} is {kind}, not an sktimbre model file (it lacks "
                    f"{sorted(set(_MEMBERS) - names)}). {_WHAT_TO_DO}"
                )
            return {name: archive.read(name) for name in _MEMBERS}
    except zipfile.BadZipFile as exc:
        with open(path, "rb") as handle:
            start = handle.read(2)
        kind = "a pickle (or joblib) file, not" if start[:1] == b"\x80" else "not"
        raise ValueError(
            f"{path} is {kind} an sktimbre model file, which is a zip archive "
            f"written by model.save(path) ({exc}). {_WHAT_TO_DO}"
        ) from None


def _parse_json(members, name, path):
    try:
        return json.loads(members[name].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path} is a damaged sktimbre model file: {name} is not valid "
            f"JSON ({exc}); save the model again."
        ) from None


def _check_manifest(manifest, cls, path):
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not an sktimbre model file: its manifest.json does not "
            f"name the format {FORMAT!r}. {_WHAT_TO_DO}"
        )
    version = manifest.get("format_version")
    writer = manifest.get("sktimbre_version", "an unknown version")
    if version not in _READABLE_VERSIONS:
        if isinstance(version, int) and version > FORMAT_VERSION:
            fix = (f"upgrade sktimbre (pip install -U sktimbre) to a version "
                   f"that reads format {version}")
        else:
            fix = (f"load it with sktimbre {writer}, which wrote it, and save it "
                   "with this version, or fit the model again")
        raise ValueError(
            f"{path} uses model file format version {version!r} (written by "
            f"sktimbre {writer}), but this sktimbre ({__version__}) reads format "
            f"version(s) {list(_READABLE_VERSIONS)}; {fix}."
        )
    if manifest.get("class") != cls.__name__:
        raise TypeError(
            f"{path} holds a {manifest.get('class')}, not a {cls.__name__}; load "
            f"it with {manifest.get('class')}.load(path)."
        )


def _restore_state(model, state):
    weights, optimizers = {}, {}
    for name, value in state.items():
        _checked_attribute(name)
        if isinstance(value, _Weights):
            weights[name] = value
        elif isinstance(value, _OptimizerState):
            optimizers[name] = value
        else:
            setattr(model, name, value)
    expected = set(type(model)._module_names)
    if set(weights) != expected:
        raise _Damaged(f"it holds the networks {sorted(weights)}, not "
                       f"{sorted(expected)}")
    model.device_ = loadable_device(model.device_)
    placeholder = model._clip_data(
        np.zeros((model.spectrogram_.n_freq_, 8), dtype=np.float32), 0)
    # Building draws initial weights, which the saved ones replace; leave the
    # global random state as it was.
    with torch.random.fork_rng(devices=[]):
        model._build_networks([placeholder])
    for name, saved in weights.items():
        getattr(model, name).load_state_dict(saved)
    for name, saved in optimizers.items():
        getattr(model, name).load_state_dict(saved)
    model._ensure_device()
