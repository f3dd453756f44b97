"""The Adjoint Sampling SDE on the torus of torsion angles.

Angles live in ``[-pi, pi)``. Euler-Maruyama steps of the memoryless SDE (the geometric schedule
of :class:`~lab.molecules.GeometricNoiseSchedule`, paper: sigma from 0.0314 to pi) are wrapped
after every step. The base process' end point is a wrapped normal with variance ``kappa(1)``
(a sum over the ``2 pi`` images); its score enters the lean adjoint. The bridge from ``0`` to a
wrapped end point first draws one ``2 pi`` image of the end point with probability proportional
to the base density of that image, bridges on the real line, then wraps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..sde import GeometricNoiseSchedule

__all__ = [
    "periodic_bridge",
    "wrap",
    "wrapped_normal_log_density",
    "wrapped_normal_score",
]

TWO_PI = 2.0 * math.pi


def wrap(x: Tensor) -> Tensor:
    """Angles mapped to ``[-pi, pi)``."""
    return torch.remainder(x + math.pi, TWO_PI) - math.pi


def _images(x: Tensor, n_images: int) -> Tensor:
    k = torch.arange(-n_images, n_images + 1, device=x.device, dtype=x.dtype)
    return x.unsqueeze(-1) + TWO_PI * k


def wrapped_normal_log_density(x: Tensor, var: float | Tensor, n_images: int = 5) -> Tensor:
    """Elementwise ``log sum_k N(x + 2 pi k; 0, var)`` over ``|k| <= n_images``."""
    var = torch.as_tensor(var, dtype=x.dtype, device=x.device)
    y = _images(x, n_images)
    logn = -0.5 * y**2 / var.unsqueeze(-1) - 0.5 * torch.log(TWO_PI * var).unsqueeze(-1)
    return torch.logsumexp(logn, dim=-1)


def wrapped_normal_score(x: Tensor, var: float | Tensor, n_images: int = 5) -> Tensor:
    """``d/dx log p(x)`` of the wrapped normal: ``sum_k w_k (-(x + 2 pi k) / var)`` with
    ``w_k`` the posterior weights of the images (closed form, no autograd)."""
    var = torch.as_tensor(var, dtype=x.dtype, device=x.device)
    y = _images(x, n_images)
    w = torch.softmax(-0.5 * y**2 / var.unsqueeze(-1), dim=-1)
    return (w * (-y / var.unsqueeze(-1))).sum(-1)


def periodic_bridge(
    x1: Tensor,
    t: Tensor,
    schedule: GeometricNoiseSchedule,
    *,
    n_images: int = 5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``X_t`` of the base bridge from 0 to the wrapped end point ``x1`` (any shape ``[B, ...]``,
    times ``t`` ``[B]``): pick an image ``x1 + 2 pi k`` with probability
    ``∝ N(x1 + 2 pi k; 0, kappa(1))`` per angle, then
    ``X_t = gamma x1' + sqrt(kappa(1) gamma (1 - gamma)) z`` with ``gamma = kappa(t)/kappa(1)``,
    wrapped to ``[-pi, pi)``."""
    k1 = schedule.kappa1
    y = _images(x1, n_images)
    logits = -0.5 * y**2 / k1
    flat = torch.softmax(logits.reshape(-1, logits.shape[-1]), dim=-1)
    pick = torch.multinomial(flat, 1, generator=generator).view(x1.shape)
    x_img = x1 + TWO_PI * (pick - n_images).to(x1.dtype)
    gamma = (schedule.kappa(t) / k1).clamp(0.0, 1.0).view(-1, *([1] * (x1.ndim - 1)))
    z = torch.randn(x1.shape, generator=generator, device=x1.device, dtype=x1.dtype)
    return wrap(gamma * x_img + (k1 * gamma * (1 - gamma)).sqrt() * z)
