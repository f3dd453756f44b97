"""Reciprocal adjoint matching: the lean adjoint target, bridge sampling and the loss."""

from __future__ import annotations

import torch
from torch import Tensor

from lab.core import ConfigError

from ._geometry import remove_com_flat
from .sde import Control, GeometricNoiseSchedule, com_free_noise

__all__ = [
    "adjoint_matching_loss",
    "bridge_sample",
    "clip_per_particle",
    "lean_adjoint",
    "sample_times",
]


def sample_times(
    n: int,
    schedule: GeometricNoiseSchedule,
    kind: str = "uniform",
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Loss times: ``uniform`` on [0, 1] (the paper) or ``variance``: uniform in ``kappa``,
    ``t = kappa^{-1}(U kappa(1))`` (OURS), which spends the steps where the base process
    injects its noise (most of it at small t for the geometric schedule). The per-time minimiser
    of the loss, ``u(t, x) = -E[a | X_t = x]``, is the same for both."""
    u = torch.rand(n, generator=generator, device=device, dtype=dtype)
    if kind == "uniform":
        return u
    if kind == "variance":
        return schedule.kappa_inverse(u.double() * schedule.kappa1).to(dtype).clamp(0.0, 1.0)
    raise ConfigError(f"unknown loss time sampling {kind!r}; choose 'uniform' or 'variance'")


def clip_per_particle(
    v: Tensor, n_particles: int, dim: int, max_norm: float | None
) -> tuple[Tensor, Tensor]:
    """Rescale each particle's ``dim``-vector to norm at most ``max_norm``.

    Returns the clipped ``[B, n*d]`` tensor and a boolean ``[B, n]`` mask of the clipped particles
    (so callers can report how much was clipped). ``max_norm=None`` clips nothing.
    """
    vs = v.view(v.shape[0], n_particles, dim)
    norms = vs.norm(dim=-1, keepdim=True)
    if max_norm is None:
        return v, torch.zeros(vs.shape[:2], dtype=torch.bool, device=v.device)
    if not max_norm > 0:
        raise ConfigError(f"per-particle clip must be positive, got {max_norm!r}")
    clipped = norms.squeeze(-1) > max_norm
    scale = torch.clamp(max_norm / (norms + 1e-12), max=1.0)
    return (vs * scale).reshape_as(v), clipped


def lean_adjoint(
    x1: Tensor,
    grad_energy: Tensor,
    *,
    tau: float,
    kappa1: float,
    n_particles: int,
    dim: int,
    clip: float | None = 100.0,
    com_free: bool = True,
) -> tuple[Tensor, Tensor]:
    """The (time-constant) lean adjoint ``a = clip(grad E(X1) / tau) - X1 / kappa(1)``.

    ``-X1 / kappa(1)`` is the score of the base process' end-point density N(0, kappa(1) I), so
    ``a`` is the gradient of the terminal cost ``E/tau + log p_base``. The energy gradient is
    clipped per particle (norm ``clip``; paper: 100 for DW/LJ) and the centre of mass removed.

    Returns:
        ``a`` of shape ``[B, n*d]`` and the ``[B, n]`` mask of clipped particles.
    """
    g, clipped = clip_per_particle(grad_energy / tau, n_particles, dim, clip)
    a = g - x1 / kappa1
    if com_free:
        a = remove_com_flat(a, n_particles, dim)
    return a, clipped


def bridge_sample(
    x1: Tensor,
    t: Tensor,
    schedule: GeometricNoiseSchedule,
    *,
    n_particles: int,
    dim: int,
    com_free: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw ``X_t`` from the base process' bridge from ``X_0 = 0`` to ``X_1 = x1``.

    ``gamma = kappa(t)/kappa(1)``, ``X_t = gamma x1 + sqrt(kappa(1) gamma (1 - gamma)) z``.
    """
    gamma = (schedule.kappa(t) / schedule.kappa1).clamp(0.0, 1.0).unsqueeze(-1)
    z = com_free_noise(
        (x1.shape[0], x1.shape[1]),
        n_particles,
        dim,
        generator=generator,
        device=x1.device,
        dtype=x1.dtype,
        com_free=com_free,
    )
    return gamma * x1 + (schedule.kappa1 * gamma * (1 - gamma)).sqrt() * z


def adjoint_matching_loss(
    control: Control,
    x1: Tensor,
    adjoint: Tensor,
    schedule: GeometricNoiseSchedule,
    *,
    n_particles: int,
    dim: int,
    com_free: bool = True,
    generator: torch.Generator | None = None,
    t: Tensor | None = None,
    t_sampling: str = "uniform",
) -> Tensor:
    """``mean ||u(t, X_t) + a(X1)||^2`` with ``t`` from :func:`sample_times` (or given) and
    ``X_t`` from the bridge. The sum runs over the coordinates, the mean over the batch.
    """
    if t is None:
        t = sample_times(
            x1.shape[0], schedule, t_sampling, generator=generator, device=x1.device, dtype=x1.dtype
        )
    xt = bridge_sample(
        x1, t, schedule, n_particles=n_particles, dim=dim, com_free=com_free, generator=generator
    )
    u = control(t, xt)
    return (u + adjoint).pow(2).sum(-1).mean()
