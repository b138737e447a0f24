"""Checking a model file's tensors against the model they describe.

Once :mod:`sktimbre._model_archive` has checked the container, the checks
here size every tensor a model file holds against the dtype and shape that
the model's parameters give it, found by building the networks on PyTorch's
``meta`` device, which allocates nothing whatever sizes the parameters ask
for, before :mod:`sktimbre._persistence` decodes anything.
"""

import math
from typing import NamedTuple

import numpy as np
import torch

from ._classifier import InstrumentClassifier
from ._model_archive import (
    _WEIGHTS,
    _Damaged,
    _is_count,
    _is_real,
    _lists,
)
from ._spectrogram import SpectrogramTransformer

# The only classes a file may ask to build, besides the timbre model itself:
# the spectrogram settings, and a judge for calibrate_alpha (unfitted).
_ESTIMATORS = {"SpectrogramTransformer": SpectrogramTransformer,
               "InstrumentClassifier": InstrumentClassifier}

# What a model file may declare besides its container; see _model_archive.
_MAX_BINS = 2**15 + 1  # spectrogram rows: n_fft up to 65536
_MAX_MEL = 2**23  # entries of a mel filter bank (32 MiB as float32)
_MAX_LABEL, _MAX_LABELS = 256, 1024  # characters of a class label; labels
_MAX_OTHER = 2**16  # elements of an array whose shape the model does not fix
_FLOATS = (torch.float32, torch.float64)


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
    # A parameter added after the file was written takes the value that
    # reproduces the model the file holds, not today's default.
    params = {**getattr(cls, "_params_of_older_files", {}), **params}
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
    if not isinstance(transformer, SpectrogramTransformer):
        raise _Damaged(f"{what} is a fitted {name}; a model file holds only "
                       "unfitted ones")
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
