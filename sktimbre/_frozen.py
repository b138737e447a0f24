"""Holding a network fixed while another one learns from its judgement."""

from contextlib import contextmanager


@contextmanager
def frozen(*modules):
    """Turn off the gradients of ``modules``' parameters inside the block,
    and give each parameter back the flag it had, however the block ends.

    A judge (a discriminator, a domain classifier) that scores a generated
    spectrogram during the generator's loss must pass gradients through to
    the generator but learn nothing itself from that score.

    Parameters
    ----------
    *modules : torch.nn.Module

    Examples
    --------
    >>> import torch
    >>> judge, generator = torch.nn.Linear(2, 1), torch.nn.Linear(2, 2)
    >>> with frozen(judge):
    ...     judge(generator(torch.ones(1, 2))).sum().backward()
    >>> judge.weight.grad is None, generator.weight.grad is not None
    (True, True)
    >>> judge.weight.requires_grad
    True
    """
    parameters = [p for module in modules for p in module.parameters()]
    flags = [p.requires_grad for p in parameters]
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad_(flag)
