"""Metropolis-adjusted Langevin (MALA) with many parallel chains and step-size adaptation.

Used as the baseline at an equal number of energy evaluations and to make reference samples
for energies that have none (LJ-55). Each chain proposes
``y = x - h grad E(x)/tau + sqrt(2h) z`` and accepts with the Metropolis-Hastings ratio. During
burn-in each chain's step ``h`` adapts towards the target acceptance rate (Robbins-Monro on
``log h``); after burn-in it is frozen, so the kept samples come from a valid MCMC kernel.
For translation-invariant energies the chains move in the centre-of-mass-free subspace.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lab.core import ConfigError, progress

from .._geometry import check_coordinates, remove_com_flat
from .energies import ParticleEnergy, check_finite, energy_and_grad

__all__ = ["MALAConfig", "MALAResult", "mala"]


@dataclass(frozen=True)
class MALAConfig:
    """Configuration of :func:`mala`.

    Attributes:
        n_steps: MALA steps per chain (each costs one energy + gradient evaluation per chain).
        burn_in: steps with step-size adaptation, not kept.
        step_size: initial step ``h``.
        target_accept: acceptance rate the adaptation aims at (0.574 is optimal for MALA).
        adapt_rate: Robbins-Monro gain on ``log h``.
        thin: keep every ``thin``-th state after burn-in.
    """

    n_steps: int = 1000
    burn_in: int = 500
    step_size: float = 1e-3
    target_accept: float = 0.574
    adapt_rate: float = 0.05
    thin: int = 10

    def __post_init__(self) -> None:
        if self.n_steps < 1 or self.burn_in < 0 or self.burn_in > self.n_steps or self.thin < 1:
            raise ConfigError(
                f"need n_steps >= 1, 0 <= burn_in <= n_steps, thin >= 1; got "
                f"n_steps={self.n_steps}, burn_in={self.burn_in}, thin={self.thin}"
            )
        if not self.step_size > 0:
            raise ConfigError(f"MALA step_size must be positive, got {self.step_size!r}")
        if not 0 < self.target_accept < 1:
            raise ConfigError(f"target_accept must be in (0, 1), got {self.target_accept!r}")


@dataclass(frozen=True)
class MALAResult:
    """Output of :func:`mala`.

    Attributes:
        final: the last state of every chain ``[n_chains, n*d]``.
        samples: the kept states after burn-in (thinned), ``[n_kept * n_chains, n*d]``.
        accept_rate: mean acceptance after burn-in (during burn-in if nothing is kept).
        step_size: the per-chain step sizes used after burn-in ``[n_chains]``.
        energy_evals: energy + gradient evaluations spent (all chains, including the start).
    """

    final: Tensor
    samples: Tensor
    accept_rate: float
    step_size: Tensor
    energy_evals: int


@torch.no_grad()
def mala(
    energy: ParticleEnergy,
    x0: Tensor,
    config: MALAConfig | None = None,
    *,
    com_free: bool | None = None,
    generator: torch.Generator | None = None,
    show_progress: bool | None = None,
) -> MALAResult:
    """Run ``x0.shape[0]`` parallel MALA chains targeting ``exp(-E/tau)``.

    Args:
        energy: the target energy (its ``tau`` is the temperature).
        x0: starting configurations ``[n_chains, n*d]`` (they set the device and dtype).
        config: a :class:`MALAConfig`.
        com_free: keep chains centre-of-mass free (default: when the energy is translation
            invariant).
        generator: random generator on ``x0``'s device.
        show_progress: force the progress bar on/off.
    """
    cfg = config or MALAConfig()
    check_coordinates(x0, energy.n_particles, energy.dim, name="x0")
    n, d = energy.n_particles, energy.dim
    cf = energy.translation_invariant if com_free is None else com_free
    tau = energy.tau

    def proj(v: Tensor) -> Tensor:
        return remove_com_flat(v, n, d) if cf else v

    x = proj(x0.clone())
    e, g = energy_and_grad(energy, x)
    check_finite(x, e, g)
    g = proj(g) / tau
    evals = x.shape[0]
    log_h = torch.full(
        (x.shape[0],), float(torch.log(torch.tensor(cfg.step_size))), device=x.device, dtype=x.dtype
    )
    kept: list[Tensor] = []
    acc_sum = torch.zeros((), device=x.device)
    acc_count = 0
    for step in progress(
        range(cfg.n_steps),
        desc="mala",
        disable=None if show_progress is None else not show_progress,
    ):
        h = log_h.exp().unsqueeze(-1)
        z = proj(torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype))
        y = x - h * g + (2 * h).sqrt() * z
        ey, gy = energy_and_grad(energy, y)
        evals += y.shape[0]
        gy = proj(gy) / tau
        finite = torch.isfinite(ey) & torch.isfinite(gy).all(-1)
        ey_s = torch.where(finite, ey, torch.zeros_like(ey))
        gy_s = torch.where(finite.unsqueeze(-1), gy, torch.zeros_like(gy))
        # log q(x | y) - log q(y | x) for the Langevin proposal
        fwd = (y - x + h * g).pow(2).sum(-1)
        bwd = (x - y + h * gy_s).pow(2).sum(-1)
        log_alpha = -(ey_s - e) / tau - (bwd - fwd) / (4 * h.squeeze(-1))
        u = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)
        accept = finite & (torch.log(u) < log_alpha)  # a non-finite proposal is rejected
        x = torch.where(accept.unsqueeze(-1), y, x)
        e = torch.where(accept, ey_s, e)
        g = torch.where(accept.unsqueeze(-1), gy_s, g)
        if step < cfg.burn_in:
            alpha = torch.where(finite, log_alpha.clamp(max=0.0).exp(), torch.zeros_like(log_alpha))
            log_h = log_h + cfg.adapt_rate * (alpha - cfg.target_accept)
            if cfg.burn_in == cfg.n_steps:
                acc_sum += accept.float().mean()
                acc_count += 1
        else:
            acc_sum += accept.float().mean()
            acc_count += 1
            if (step - cfg.burn_in) % cfg.thin == cfg.thin - 1:
                kept.append(x.clone())
    samples = torch.cat(kept) if kept else x.new_zeros(0, x.shape[1])
    return MALAResult(
        final=x,
        samples=samples,
        accept_rate=float(acc_sum) / max(acc_count, 1),
        step_size=log_h.exp(),
        energy_evals=evals,
    )
