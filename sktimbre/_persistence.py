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

Nor does reading take more memory than the model needs: before anything
is decoded, :mod:`sktimbre._model_archive` checks the archive's layout and
caps every member, and :mod:`sktimbre._model_file` checks each tensor's
dtype and shape against what the model's parameters imply. Decoding
(:mod:`sktimbre._model_codec`) then checks the parameters against their
constraints and the fitted state against the model. A file that breaks any
rule is refused with a ``ValueError`` naming the file and the part.
"""

import json
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from sklearn.utils.validation import check_is_fitted

from ._alpha_spacing import POSITIONS
from ._atomic import atomic_path
from ._device import loadable_device
from ._model_archive import (
    _JSON_CAPS,
    _READ_FAILURES,
    _Archive,
    _Damaged,
    _is_count,
    _is_real,
    _NotAModel,
    _reason,
    _state_cap,
    _state_containers,
)
from ._model_codec import (
    _checked_attribute,
    _Decoder,
    _Encoder,
    _fitted_state,
    _OptimizerState,
    _Weights,
)
from ._model_file import (
    _build_networks,
    _built,
    _expect_networks,
    _expect_random_states,
    _expect_spectrogram,
    _expect_spectrograms,
    _networks,
    _Shapes,
    _spectrogram_size_problem,
)
from ._spectrogram import SpectrogramTransformer
from ._version import __version__

__all__ = ["FORMAT_VERSION", "load_model", "save_model"]

FORMAT = "sktimbre-model"
# Bump when a file written now could be misread by an older reader or a file
# written before could be misread now; list the versions this code reads.
FORMAT_VERSION = 1
_READABLE_VERSIONS = (1,)
_WHAT_TO_DO = (
    "sktimbre's load never unpickles, because unpickling can run code; load "
    "a pickle or joblib file only if you trust it, with joblib.load(path), "
    "and save it again with model.save(path)."
)



# ------------------------------------------------------------ save / load
def save_model(model, path):
    """Write a fitted timbre model to ``path``; see ``BaseTimbreModel.save``."""
    check_is_fitted(model)
    problem = _spectrogram_size_problem(model.spectrogram_)
    if problem:
        raise ValueError(f"This model's spectrogram transformer {problem}; save "
                         "the model with joblib.dump instead.")
    _check_no_callbacks(model)
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
    caps = {**_JSON_CAPS, "state.json": _state_cap(len(encode.tensors))}
    for name, cap in caps.items():
        if len(members[name].encode()) > cap:
            raise ValueError(
                f"This model's {name} would take {len(members[name]):,} bytes, "
                f"more than the {cap:,} that load reads (a very long history_?); "
                "save the model with joblib.dump instead.")
    path = Path(path)
    # Whole or not at all: an interrupted save never leaves a half-written
    # model where a good one was.
    with atomic_path(path) as temporary, open(temporary, "xb") as raw, \
            zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _check_no_callbacks(model):
    """Refuse callbacks, which are code, before the encoder meets them."""
    callbacks = list(getattr(model, "callbacks", None) or ())
    if callbacks:
        name = type(callbacks[0]).__name__
        raise TypeError(
            f"callbacks/0 is {'an' if name[0] in 'AEIOU' else 'a'} {name}: "
            "callbacks are code, which the pickle-free format cannot hold. Set "
            "callbacks=None before save (and give them again after load), or "
            "save the model with joblib.dump, which pickles them.")


def load_model(cls, path):
    """Read a model written by :func:`save_model` as an instance of ``cls``;
    for a tuple of classes, of the one the file's manifest names.

    Raises ``FileNotFoundError`` when there is no file at ``path``,
    ``TypeError`` when the file holds a model of a class other than the
    single ``cls`` asked for, and ``ValueError`` naming the file and what is
    wrong for anything else it will not read: another kind of file, another
    format version, or a file that is damaged, crafted or beyond the limits.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; check the path, or save a model there "
            "first with model.save(path)."
        )
    with open(path, "rb") as handle:
        with _reading(path):
            archive = _Archive(handle, path.stat().st_size)
            manifest = archive.json("manifest.json", containers=8)
        cls = _chosen_class(cls, manifest)
        _check_manifest(manifest, cls, path)
        with _reading(path):
            return _read_model(archive, cls)


@contextmanager
def _reading(path):
    """Turn whatever reading raises into one ``ValueError`` naming the file."""
    try:
        yield
    except _NotAModel as exc:
        raise ValueError(f"{path} is {exc}. {_WHAT_TO_DO}") from None
    except _READ_FAILURES as exc:
        raise ValueError(
            f"{path} is a damaged sktimbre model file: {_reason(exc)}; save the "
            "model again, or fit it again."
        ) from (None if isinstance(exc, _Damaged) else exc)


def _read_model(archive, cls):
    declared = archive.weights_header()
    params = archive.json("params.json")
    state = archive.json("state.json", cap=_state_cap(len(declared)),
                         containers=_state_containers(len(declared)))
    if not isinstance(params, dict) or not isinstance(state, dict):
        raise _Damaged("its parameters or state are not a mapping")
    _check_required(state)
    # Saved before a network without weights existed: it holds none.
    for name in getattr(cls, "_networks_of_older_files", ()):
        state.setdefault(name, {"__module__": {}})
    # Every tensor's dtype and shape is checked before any data is read.
    shapes = _Shapes(declared, params, state)
    _expect_spectrograms(shapes, params, "params.json")
    _expect_spectrograms(shapes, {k: v for k, v in state.items()
                                  if k != "spectrogram_"}, "state.json")
    transformer = _expect_spectrogram(shapes, state["spectrogram_"],
                                      "state.json: spectrogram_")
    if transformer is None:
        raise _Damaged("state.json: spectrogram_ is not fitted")
    networks = _networks(cls, params, transformer)
    _expect_networks(shapes, cls, state, networks)
    for member, tree in (("params.json", params), ("state.json", state)):
        _expect_random_states(shapes, tree, member)
    if "_torch_rng_state_" in state:
        shapes.expect(state["_torch_rng_state_"], "state.json: _torch_rng_state_",
                      [(torch.uint8, tuple(torch.get_rng_state().shape))])
    shapes.check_the_rest()
    decode = _Decoder(archive.weights())
    model = _built(cls, decode.attributes(params, "params.json"), "params.json")
    _restore_state(model, decode.attributes(state, "state.json"), transformer)
    return model


def _chosen_class(cls, manifest):
    """``cls``, or for a tuple the class the manifest names (else the first,
    which ``_check_manifest`` then refuses)."""
    if not isinstance(cls, tuple):
        return cls
    named = manifest.get("class") if isinstance(manifest, dict) else None
    return next((c for c in cls if c.__name__ == named), cls[0])


def _model_class_names(cls):
    """Names of the timbre model classes: ``cls``'s base class (the topmost
    class in its hierarchy that lists network modules, BaseTimbreModel) and
    every subclass of it. Found from ``cls`` rather than imported, since the
    base class imports this module to save and load."""
    base = next((c for c in reversed(cls.__mro__) if "_module_names" in vars(c)),
                cls)
    names, classes = set(), [base]
    while classes:
        subclass = classes.pop()
        names.add(subclass.__name__)
        classes.extend(subclass.__subclasses__())
    return names


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
    named = manifest.get("class")
    if named != cls.__name__ and (not isinstance(named, str)
                                  or named not in _model_class_names(cls)):
        raise ValueError(
            f"{path} is a damaged sktimbre model file: its manifest.json names "
            f"the class {named!r}, which is no sktimbre model; save the model "
            "again, or fit it again."
        )
    if named != cls.__name__:
        raise TypeError(
            f"{path} holds a {manifest.get('class')}, not a {cls.__name__}; load "
            f"it with {manifest.get('class')}.load(path)."
        )


# --------------------------------------------------------- the fitted state
def _is_history(value):
    if not isinstance(value, dict) or not {"epoch", "train_loss", "valid_loss"} <= (
            set(value)):
        return False
    lengths = {len(value[k]) if isinstance(value[k], list) else -1
               for k in ("epoch", "train_loss", "valid_loss")}
    return len(lengths) == 1 and -1 not in lengths and all(
        isinstance(k, str) and (_is_real(v) or isinstance(v, list) and all(
            map(_is_real, v))) for k, v in value.items())


def _is_curve(value):
    return isinstance(value, np.ndarray) and value.shape == (2, len(POSITIONS)) and (
        value.dtype.kind == "f")


# What each fitted attribute that a timbre model's fit sets must be.
_FITTED = {
    "device_": (lambda v: isinstance(v, torch.device), "a device"),
    "spectrogram_": (lambda v: isinstance(v, SpectrogramTransformer)
                     and hasattr(v, "n_freq_"), "a fitted SpectrogramTransformer"),
    "classes_": (lambda v: isinstance(v, np.ndarray) and v.shape == (2,),
                 "an array of two class labels"),
    "input_is_spectrogram_": (lambda v: isinstance(v, bool), "True or False"),
    "n_clips_": (lambda v: isinstance(v, tuple) and len(v) == 2
                 and all(map(_is_count, v)), "a pair of clip counts"),
    "n_frames_seen_": (_is_count, "a count"),
    "n_epochs_": (_is_count, "a count"),
    "best_epoch_": (_is_count, "an epoch number"),
    "history_": (_is_history, "a mapping of per-epoch lists with 'epoch', "
                 "'train_loss' and 'valid_loss' of one length"),
    "fit_time_": (_is_real, "a number"),
    "_best_loss_": (_is_real, "a number"),
    "_rng_": (lambda v: isinstance(v, np.random.RandomState), "a random state"),
    "_torch_seed_": (_is_count, "a seed"),
    "_split_seed_": (_is_count, "a seed"),
    "_torch_rng_state_": (lambda v: isinstance(v, torch.Tensor), "a tensor"),
    "_best_state_": (lambda v: v is None or isinstance(v, dict), "weights"),
    "_resume_state_": (lambda v: v is None or isinstance(v, dict), "weights"),
    "_average_state_": (lambda v: v is None or isinstance(v, dict), "weights"),
    "alpha_curve_": (lambda v: _is_curve(v) and np.isfinite(v).all(),
                     f"a finite array of shape (2, {len(POSITIONS)})"),
    "alpha_judgement_": (_is_curve, f"an array of shape (2, {len(POSITIONS)})"),
}
# What transform needs, and what a warm fit needs besides.
_REQUIRED = ("device_", "spectrogram_", "classes_", "history_")
_WARM_START = ("_rng_", "_split_seed_", "_best_loss_", "best_epoch_")


def _check_required(state):
    required = _REQUIRED + (_WARM_START if "_torch_rng_state_" in state else ())
    missing = [name for name in required if name not in state]
    if missing:
        raise _Damaged(f"state.json lacks the fitted attribute(s) {missing}")


def _check_fitted_state(state):
    for name, value in state.items():
        try:
            _checked_attribute(name)
        except _Damaged as exc:
            raise _Damaged(f"state.json: {exc}") from None
        check, what = _FITTED.get(name, (None, None))
        if check is not None and not check(value):
            raise _Damaged(f"state.json: {name} is not {what}")
    epochs = len(state["history_"]["epoch"])
    for name in ("n_epochs_", "best_epoch_"):
        if state.get(name, 0) > epochs:
            raise _Damaged(f"state.json: {name} is {state[name]}, beyond the "
                           f"{epochs} epochs of history_")


def _restore_state(model, state, stand_in):
    _check_fitted_state(state)
    weights, optimizers = {}, {}
    for name, value in state.items():
        if isinstance(value, _Weights):
            weights[name] = value
        elif isinstance(value, _OptimizerState):
            optimizers[name] = value
        else:
            setattr(model, name, value)
    cls = type(model)
    if set(weights) != set(cls._module_names) or set(optimizers) != set(
            cls._optimizer_names):
        raise _Damaged(f"it holds the networks {sorted(weights)} and optimisers "
                       f"{sorted(optimizers)}, not {list(cls._module_names)} and "
                       f"{list(cls._optimizer_names)}")
    for name in (*weights, *cls._state_names):
        _check_finite(name, state.get(name))
    model.device_ = loadable_device(model.device_)
    _build_networks(model, stand_in)
    for name, saved in (*weights.items(), *optimizers.items()):
        try:
            getattr(model, name).load_state_dict(saved)
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise _Damaged(f"state.json: {name} does not fit the model it "
                           f"describes ({_reason(exc)})") from None
    model._ensure_device()


def _check_finite(name, weights):
    """Network weights are finite: fit never keeps a NaN, so one is damage."""
    if weights is None:
        return
    for key, value in weights.items():
        if isinstance(value, dict):
            _check_finite(f"{name}.{key}", value)
        elif isinstance(value, torch.Tensor) and value.is_floating_point() and (
                not torch.isfinite(value).all()):
            raise _Damaged(f"state.json: {name}.{key} holds NaN or infinite "
                           "weights")
