"""Where tensors live: one place decides, every module asks it."""

import torch

__all__ = ["resolve_device"]


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
