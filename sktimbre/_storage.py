"""How a timbre model is stored: ``save`` and ``load`` in the pickle-free
format (see :mod:`sktimbre._persistence`), and pickling with the weights as
CPU tensors."""

import copy
import io

import torch

from ._device import loadable_device
from ._persistence import load_model, save_model

__all__ = ["StorageMixin"]


class StorageMixin:
    """``save``, ``load`` and pickling of a timbre model.

    The model lists what holds tensors in ``_module_names``,
    ``_state_names`` and ``_optimizer_names``, and provides
    ``_ensure_device`` and ``_build_optimizers``.
    """

    def save(self, path):
        """Write the fitted model to a file without pickle.

        The file holds the parameters and fitted state as JSON and the
        weights (with the optimisers' state, so a ``warm_start`` fit of the
        loaded model goes on where this one stopped) as safetensors. Unlike
        a pickle, loading it cannot run code; see :meth:`load`.

        Parameters
        ----------
        path : str or path-like
            Where to write; an existing file is replaced. ``.skt`` is the
            customary extension.

        Returns
        -------
        path : pathlib.Path
            The file written.

        Raises
        ------
        TypeError, ValueError
            If the model holds what the format, or :meth:`load`'s limits,
            cannot hold (say, class labels of over 256 characters, or
            ``callbacks``, which are code); save such a model with
            ``joblib.dump``, or set ``callbacks=None`` before saving and give
            them again after :meth:`load`.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from sktimbre import TimbreVAE
        >>> t = np.arange(11025) / 22050
        >>> a = [np.sin(2 * np.pi * 220 * t).astype(np.float32)]
        >>> b = [np.sign(np.sin(2 * np.pi * 330 * t)).astype(np.float32) * 0.2]
        >>> vae = TimbreVAE(hidden=16, max_epochs=1, early_stopping=False,
        ...                 random_state=0).fit(a, b)
        >>> folder = tempfile.TemporaryDirectory()
        >>> vae.save(f"{folder.name}/vae.skt").name
        'vae.skt'
        >>> folder.cleanup()
        """
        return save_model(self, path)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`.

        Nothing in the file is unpickled: a pickle, a ``torch.save`` file or
        any other file that is not a model of this class is refused with a
        ``ValueError`` (``TypeError`` for a model of another class) before
        anything in it runs. Nothing is read before it is sized: a file with
        bytes before, between or after the archive's members, a member
        larger than the model needs, or a tensor whose dtype or shape is not
        the one the model's parameters give it is refused the same way (see
        the Persistence & safety page). A model fitted on a GPU loads on the
        CPU of a machine without one, with a
        :class:`~sktimbre.exceptions.DeviceWarning`.

        Parameters
        ----------
        path : str or path-like
            A file written by :meth:`save`.

        Returns
        -------
        model
            A fitted model whose ``transform`` gives the same output as the
            saved one's on the same device.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a model file, is damaged or crafted, holds
            parameters outside their ranges, or uses a format version this
            sktimbre cannot read (the message names the file and the part).
        TypeError
            If the file holds a model of another class.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from sktimbre import TimbreVAE
        >>> t = np.arange(11025) / 22050
        >>> a = [np.sin(2 * np.pi * 220 * t).astype(np.float32)]
        >>> b = [np.sign(np.sin(2 * np.pi * 330 * t)).astype(np.float32) * 0.2]
        >>> vae = TimbreVAE(hidden=16, max_epochs=1, early_stopping=False,
        ...                 random_state=0).fit(a, b)
        >>> folder = tempfile.TemporaryDirectory()
        >>> path = vae.save(f"{folder.name}/vae.skt")
        >>> loaded = TimbreVAE.load(path)
        >>> np.array_equal(loaded.transform(a[0], alpha=1.0),
        ...                vae.transform(a[0], alpha=1.0))
        True
        >>> folder.cleanup()
        """
        return load_model(cls, path)

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in self._module_names + self._state_names:
            if name in state and state[name] is not None:
                # Store weights as CPU tensors so a model fitted on a GPU
                # unpickles on a machine without one (as skorch does).
                state[name] = _TorchBlob(_serialise(_to_cpu(state[name])))
        for name in self._optimizer_names:
            if name in state:
                state[name] = _TorchBlob(_serialise(_to_cpu(state[name].state_dict())))
        return state

    def __setstate__(self, state):
        for name, value in list(state.items()):
            if isinstance(value, _TorchBlob):
                state[name] = value.load()
        optimizer_states = {name: state.pop(name) for name in self._optimizer_names
                            if name in state}
        # Pickled before a parameter existed: the value it was made with.
        for name, value in getattr(self, "_params_of_older_files", {}).items():
            state.setdefault(name, value)
        if "device_" in state:
            # Fitted before a network without weights existed: it has none.
            for name in getattr(self, "_networks_of_older_files", ()):
                state.setdefault(name, torch.nn.Identity())
        self.__dict__.update(state)
        if "device_" in state:
            # A fitted model converts without passing through fit's checks.
            self._validate_params()
            self.device_ = loadable_device(self.device_)
        if optimizer_states:
            self._ensure_device()
            self._build_optimizers()
            for name, saved in optimizer_states.items():
                getattr(self, name).load_state_dict(saved)


class _TorchBlob:
    """Bytes of ``torch.save`` output inside a pickle, loaded onto the CPU."""

    def __init__(self, payload):
        self.payload = payload

    def load(self):
        return torch.load(io.BytesIO(self.payload), map_location="cpu",
                          weights_only=False)


def _serialise(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _to_cpu(obj):
    if isinstance(obj, torch.nn.Module):
        return copy.deepcopy(obj).cpu()
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj
