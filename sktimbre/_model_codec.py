"""The pickle-free model format's values: a tree of Python, NumPy and torch
values to JSON with its arrays moved into safetensors, and back.

Decoding builds nothing but numbers, strings, lists, dicts, arrays, tensors,
devices, random states and the estimators of a short list
(:data:`sktimbre._model_file._ESTIMATORS`), so a crafted file cannot run code.
"""

import re

import numpy as np
import torch

from ._device import loadable_device
from ._model_archive import (
    _READ_FAILURES,
    _Damaged,
    _is_count,
    _is_index_list,
    _is_real,
    _lists,
    _reason,
)
from ._model_file import (
    _ESTIMATORS,
    _MAX_LABEL,
    _MAX_LABELS,
    _built,
    _labels_problem,
    _rows,
)

# Fitted attributes: a name ending in one underscore, as scikit-learn's.
_ATTRIBUTE = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]*_$")
_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


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
        problem = f"dtype {value.dtype}"
        if value.dtype.kind in "UO":
            problem = _labels_problem(value.ravel().tolist(), value.shape) or (
                value.dtype.kind == "U" and value.dtype.itemsize > 4 * _MAX_LABEL
                and f"dtype {value.dtype}")
        if not problem:
            return {"__ndarray_list__": value.tolist(), "dtype": value.dtype.str,
                    "shape": list(value.shape)}
        raise TypeError(
            f"{path} is an array with {problem}, which the pickle-free format "
            f"cannot hold (it holds up to {_MAX_LABELS} labels of up to "
            f"{_MAX_LABEL} characters, and numbers); save this model with "
            "joblib.dump instead."
        )

    def _store(self, tensor, path):
        key = path
        while key in self.tensors:  # a dict key holding "/" may repeat a path
            key += "'"
        # Copies, so tensors that share memory (tied weights) save separately.
        self.tensors[key] = tensor.detach().cpu().contiguous().clone()
        return key


# ---------------------------------------------------------------- decoding
class _Decoder:
    """The inverse of :class:`_Encoder`; builds only allow-listed types."""

    _TAGS = {
        "__tensor__": ("_tensor", set()),
        "__ndarray__": ("_ndarray", set()),
        "__ndarray_list__": ("_ndarray_list", {"dtype", "shape"}),
        "__scalar__": ("_scalar", set()),
        "__device__": ("_device", set()),
        "__random_state__": ("_random_state", set()),
        "__module__": ("_module", set()),
        "__optimizer__": ("_optimizer", set()),
        "__estimator__": ("_estimator", {"params", "fitted"}),
        "__tuple__": ("_tuple", set()),
        "__dict__": ("_dict", set()),
    }
    _LABEL_DTYPE = re.compile(r"^[<>|=]?U(\d{1,4})$")

    def __init__(self, tensors):
        self.tensors = tensors

    def attributes(self, tree, member):
        """Decode a mapping item by item, naming the item that is bad."""
        if not isinstance(tree, dict):
            raise _Damaged(f"{member} does not hold a mapping of names to values")
        decoded = {}
        for name, value in tree.items():
            try:
                decoded[name] = self(value)
            except _READ_FAILURES as exc:
                raise _Damaged(f"{member}: {name}: {_reason(exc)}") from None
        return decoded

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
        method, others = self._TAGS[tags[0]]
        if set(value) - {tags[0]} != others:
            raise _Damaged(f"the {tags[0]} entry has the keys {sorted(value)}")
        return getattr(self, method)(value)

    def _tensor(self, value):
        key = value["__tensor__"]
        if not isinstance(key, str) or key not in self.tensors:
            raise _Damaged(f"the tensor {key!r} is missing")
        return self.tensors[key]

    def _ndarray(self, value):
        return self._tensor({"__tensor__": value["__ndarray__"]}).numpy().copy()

    def _ndarray_list(self, value):
        items, dtype, shape = value["__ndarray_list__"], value["dtype"], value["shape"]
        match = self._LABEL_DTYPE.match(dtype) if isinstance(dtype, str) else None
        if dtype != "|O" and not (match and int(match.group(1)) <= _MAX_LABEL):
            raise _Damaged(f"labels of dtype {dtype!r}; a model file holds strings "
                           f"of up to {_MAX_LABEL} characters ('<U{_MAX_LABEL}')")
        if not _is_index_list(shape, longest=2):
            raise _Damaged(f"labels of shape {shape!r}")
        flat = [items]
        for _ in shape:  # one level of lists per dimension
            flat = [item for row in _lists(flat) for item in row]
        problem = _labels_problem(flat, shape)
        if problem is not None:
            raise _Damaged(f"labels: {problem}")
        arr = np.array(items, dtype=np.dtype(dtype))
        if list(arr.shape) != shape:
            raise _Damaged(f"labels of shape {list(arr.shape)}, not {shape}")
        return arr

    def _scalar(self, value):
        arr = self(value["__scalar__"])
        if not isinstance(arr, np.ndarray) or arr.shape != ():
            raise _Damaged("a scalar that is not a 0-d array")
        return arr[()]

    def _device(self, value):
        name = value["__device__"]
        try:
            device = torch.device(name) if isinstance(name, str) else None
        except RuntimeError:
            device = None
        if device is None or device.type not in _DEVICE_TYPES:
            raise _Damaged(f"the device {name!r} is none of {list(_DEVICE_TYPES)}")
        return device

    def _random_state(self, value):
        fields = value["__random_state__"]
        if not isinstance(fields, list) or len(fields) != 5:
            raise _Damaged("a random state that is not five fields")
        name, keys, pos, has_gauss, gauss = fields
        keys = self(keys)
        if (name != "MT19937" or not isinstance(keys, np.ndarray)
                or keys.shape != (624,) or not _is_count(pos) or pos > 624
                or has_gauss not in (0, 1) or not _is_real(gauss)):
            raise _Damaged("a random state that is not NumPy's MT19937 state")
        rng = np.random.RandomState()
        rng.set_state((name, keys.astype(np.uint32), pos, has_gauss, float(gauss)))
        return rng

    def _module(self, value):
        return _Weights(self(value["__module__"]))

    def _optimizer(self, value):
        return _OptimizerState(self(value["__optimizer__"]))

    def _estimator(self, value):
        name = value["__estimator__"]
        if name not in _ESTIMATORS:
            raise _Damaged(f"it asks to build a {name!r}, which is not allowed")
        estimator = _built(_ESTIMATORS[name], self(value["params"]), name)
        fitted = self(value["fitted"])
        if not isinstance(fitted, dict):
            raise _Damaged(f"the {name}'s fitted state is not a mapping")
        for attribute, item in fitted.items():
            setattr(estimator, _checked_attribute(attribute), item)
        if fitted:
            _check_spectrogram(estimator)
            estimator.device_ = loadable_device(estimator.device_,
                                                what="Its spectrogram transformer")
        return estimator

    def _tuple(self, value):
        return tuple(self(v) for v in _lists([value["__tuple__"]])[0])

    def _dict(self, value):
        pairs = _lists([value["__dict__"]])[0]
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise _Damaged("a mapping whose items are not pairs")
        decoded = {}
        for key, item in pairs:
            key = self(key)
            if not isinstance(key, (str, int, float, bool, tuple)) and key is not None:
                raise _Damaged(f"a mapping keyed by a {type(key).__name__}")
            decoded[key] = self(item)
        return decoded


class _Weights(dict):
    """A module's saved ``state_dict``, loaded into the rebuilt module."""


class _OptimizerState(dict):
    """An optimiser's saved ``state_dict``, loaded into the rebuilt one."""


def _fitted_state(estimator):
    return {k: v for k, v in vars(estimator).items()
            if k.endswith("_") and not k.startswith("__")}


def _checked_attribute(name):
    if not isinstance(name, str) or not _ATTRIBUTE.match(name) or (
        name.startswith("__")
    ):
        raise _Damaged(f"{name!r} is not the name of a fitted attribute")
    return name


def _check_spectrogram(transformer):
    """A fitted transformer's state agrees with its own parameters."""
    missing = [a for a in ("device_", "n_freq_", "frequencies_", "mean_", "scale_",
                           "mel_basis_") if not hasattr(transformer, a)]
    if missing:
        raise _Damaged(f"its spectrogram transformer lacks {missing}")
    n_freq, linear = _rows(transformer)
    if not isinstance(transformer.device_, torch.device):
        raise _Damaged("its spectrogram transformer's device_ is not a device")
    if not _is_count(transformer.n_freq_) or transformer.n_freq_ != n_freq:
        raise _Damaged(
            f"its spectrogram transformer's n_freq_ is {transformer.n_freq_!r}, "
            f"but n_fft={transformer.n_fft} and n_mels={transformer.n_mels} make "
            f"{n_freq} rows")
    arrays = {"frequencies_": (n_freq,), "mean_": (n_freq,), "scale_": (n_freq,),
              "mel_basis_": None if transformer.n_mels is None else (
                  transformer.n_mels, linear)}
    for name, shape in arrays.items():
        value = getattr(transformer, name)
        if shape is None and value is None:
            continue
        if not (isinstance(value, np.ndarray) and value.shape == shape
                and value.dtype.kind == "f" and np.isfinite(value).all()):
            raise _Damaged(
                f"its spectrogram transformer's {name} is not a finite float "
                f"array of shape {shape}")
    if not (transformer.scale_ > 0).all():
        raise _Damaged("its spectrogram transformer's scale_ is not positive")
