"""Where tensors live: one place decides, every module asks it."""

import threading
import warnings
from contextlib import contextmanager

import joblib
import torch

from .exceptions import DeviceWarning

__all__ = ["limit_threads", "loadable_device", "resolve_device"]


def resolve_device(device="auto"):
    """Turn a ``device`` parameter into a :class:`torch.device`.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or str or torch.device
        ``"auto"`` picks CUDA when PyTorch sees a GPU and the CPU otherwise.
        ``"cuda:1"`` style strings and :class:`torch.device` objects pass
        through after a check that the device exists.

    Returns
    -------
    torch.device

    Examples
    --------
    >>> from sktimbre._device import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a device PyTorch knows; use 'auto', "
            "'cpu' or 'cuda'."
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was asked for but PyTorch sees no CUDA GPU; "
            "use device='auto' (GPU when present, else CPU) or device='cpu'."
        )
    return resolved


def loadable_device(device, *, what="This model"):
    """The device a loaded model should use: its own, or the CPU if that is a
    GPU this machine lacks (with a :class:`~sktimbre.exceptions.DeviceWarning`).

    Examples
    --------
    >>> from sktimbre._device import loadable_device
    >>> loadable_device("cpu")
    device(type='cpu')
    """
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            f"{what} was fitted on CUDA but no GPU is available; it was loaded "
            "on the CPU.", DeviceWarning, stacklevel=3,
        )
        return torch.device("cpu")
    return device


_running = 0
_running_lock = threading.Lock()


@contextmanager
def limit_threads():
    """Share the CPU cores among the torch work running at once in a process.

    torch's intra-op thread count (OpenMP) is a setting of the calling
    thread, and each new thread starts with one thread per core. Fits that
    run in threads of one process (joblib's ``"threading"`` backend, a dask
    worker with several threads or ``processes=False``) would each use every
    core and oversubscribe. Inside this context the calling thread uses
    ``cpu_count // n`` threads, ``n`` counting the contexts open in the
    process, and never more than it had: loky and dask worker processes
    already start with ``OMP_NUM_THREADS`` set to their share, which is kept.
    On leaving, the thread's own setting comes back. Usable as a decorator.

    Yields
    ------
    n_threads : int
        Threads this thread's torch operations use inside the context.

    Examples
    --------
    >>> import torch
    >>> from sktimbre._device import limit_threads
    >>> before = torch.get_num_threads()
    >>> with limit_threads() as n_threads:
    ...     n_threads <= before
    True
    >>> torch.get_num_threads() == before
    True
    """
    global _running
    with _running_lock:
        _running += 1
        share = max(1, joblib.cpu_count() // _running)
    previous = torch.get_num_threads()
    torch.set_num_threads(min(previous, share))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)
        with _running_lock:
            _running -= 1
