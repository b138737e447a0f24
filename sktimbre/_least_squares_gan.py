"""Least-squares adversarial losses (Mao et al. 2017), shared by the
TimbreCycleGAN's discriminators and the TimbreVAE's ``lambda_gan``."""

import torch

__all__ = ["judged_loss", "least_squares"]


def judged_loss(judge, real, fake):
    """Least-squares loss of a judge that should score ``real`` 1 and
    ``fake`` 0, from one call on both.

    Examples
    --------
    >>> import torch
    >>> judge = torch.nn.Identity()
    >>> float(judged_loss(judge, torch.ones(2, 3), torch.zeros(2, 3)))
    0.0
    """
    scores = judge(torch.cat([real, fake]))
    return least_squares(scores[:len(real)], 1.0) + least_squares(
        scores[len(real):], 0.0)


def least_squares(scores, target):
    """Mean squared distance of ``scores`` from ``target``."""
    return (scores - target).pow(2).mean()
