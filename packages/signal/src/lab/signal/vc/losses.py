"""CLOT-GAN losses: least-squares adversarial, collective combination, cycle, identity, OT.

The collective learning mechanism combines the per-discriminator generator losses
``L_1..L_K``. How the paper combines them is not published; both rules here are OURS
(``CLOTGANConfig.combine``):

- ``"mean"``: ``L = (1/K) sum_k L_k``;
- ``"softmax"``: ``L = sum_k w_k L_k`` with ``w = softmax(stop_grad(L) / temperature)``
  (GMAN-style, Durugkar et al. 2017): the discriminator the generator currently fools least gets
  the largest weight; ``temperature -> inf`` recovers the mean, ``-> 0`` the maximum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from lab.core import ConfigError

from .sinkhorn import sinkhorn_divergence

__all__ = [
    "collective_weights",
    "combine_losses",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "ot_loss",
]


def lsgan_g_loss(score_fake: torch.Tensor) -> torch.Tensor:
    """Generator's least-squares loss ``mean((D(G(x)) - 1)^2)``."""
    return torch.mean((score_fake - 1.0) ** 2)


def lsgan_d_loss(score_real: torch.Tensor, score_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator's least-squares loss ``mean((D(y) - 1)^2) + mean(D(G(x))^2)``."""
    return torch.mean((score_real - 1.0) ** 2) + torch.mean(score_fake**2)


def collective_weights(
    losses: Sequence[torch.Tensor],
    rule: Literal["mean", "softmax"] = "softmax",
    temperature: float = 1.0,
) -> torch.Tensor:
    """The (detached) weights the collective rule gives the per-discriminator losses."""
    if not losses:
        raise ConfigError("collective learning needs at least one discriminator loss")
    stacked = torch.stack([loss.detach() for loss in losses])
    if rule == "mean":
        return torch.full_like(stacked, 1.0 / len(losses))
    if rule == "softmax":
        if temperature <= 0:
            raise ConfigError(f"softmax temperature must be positive, got {temperature}")
        return torch.softmax(stacked / temperature, dim=0)
    raise ConfigError(f"combine rule must be 'mean' or 'softmax', got {rule!r}")


def combine_losses(
    losses: Sequence[torch.Tensor],
    rule: Literal["mean", "softmax"] = "softmax",
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum_k w_k L_k, w)`` with the weights of :func:`collective_weights`."""
    w = collective_weights(losses, rule, temperature)
    return torch.sum(w * torch.stack(list(losses))), w


def ot_loss(
    fake: torch.Tensor,
    real: torch.Tensor,
    *,
    epsilon: float = 0.1,
    n_iters: int = 50,
    max_points: int = 256,
    value: Literal["transport", "entropic"] = "entropic",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sinkhorn divergence between the mel frames of two batches ``(batch, n_mels, frames)``.

    Frames are points in ``R^n_mels`` scaled by ``1/sqrt(n_mels)`` (so ``epsilon`` is in units
    of the mean squared per-bin distance; OURS); at most ``max_points`` random frames of each
    batch enter (OURS, for cost).
    """
    d = fake.shape[1]
    a = fake.transpose(1, 2).reshape(-1, d) / d**0.5
    b = real.transpose(1, 2).reshape(-1, d) / d**0.5
    if max_points > 0:
        if a.shape[0] > max_points:
            a = a[torch.randperm(a.shape[0], generator=generator)[:max_points].to(a.device)]
        if b.shape[0] > max_points:
            b = b[torch.randperm(b.shape[0], generator=generator)[:max_points].to(b.device)]
    return sinkhorn_divergence(a, b, epsilon=epsilon, n_iters=n_iters, value=value)
