"""Self-normalised importance resampling of a sampler's output (OURS; not in the paper).

Adjoint Sampling learns its control from gradients of the energy at its own samples. Where the
target's modes are separated, those gradients say nothing about how much mass each mode
should hold, so a trained sampler can get the shapes of the modes right and their weights wrong
(measured on DW-4: 40% of the particle pairs in the short-distance mode against 49-52%). The
path-space importance weights of :func:`~lab.molecules.sde.simulate_with_log_ratio` are exact
for the discretised chain; resampling by them gives an output whose distribution converges to
the target as the number of proposals grows, at one energy evaluation per proposal and with
the effective sample size (ESS) telling how much of the proposal survives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from lab.core import ConfigError, DataError

__all__ = ["ImportanceSamples", "effective_sample_size", "importance_resample"]


def _normalised(log_weights: Tensor) -> Tensor:
    lw = log_weights.detach().double().reshape(-1)
    if lw.numel() == 0:
        raise DataError("log_weights is empty")
    if bool(torch.isnan(lw).any()) or bool((lw == math.inf).any()):
        raise DataError("log_weights holds NaN or +inf values (a NaN or -inf energy?)")
    if not bool(torch.isfinite(lw).any()):
        raise DataError("every log weight is -inf: no sample has a finite energy")
    return torch.softmax(lw, 0)


def effective_sample_size(log_weights: Tensor) -> float:
    """Normalised ESS ``(sum w)^2 / (N sum w^2)`` in ``(0, 1]`` from unnormalised log weights;
    ``-inf`` entries (zero weight, e.g. a sample with infinite energy) are allowed."""
    w = _normalised(log_weights)
    return float(1.0 / (w.numel() * (w**2).sum()))


def importance_resample(
    log_weights: Tensor, n: int, *, generator: torch.Generator | None = None
) -> Tensor:
    """``n`` indices drawn by systematic resampling with probabilities ``softmax(log_weights)``.

    Systematic resampling (one uniform offset, ``n`` evenly spaced points through the
    cumulative weights) is unbiased like multinomial resampling with less added variance.
    """
    if n < 1:
        raise ConfigError(f"number of resampled points must be >= 1, got {n}")
    w = _normalised(log_weights)
    cdf = torch.cumsum(w, 0)
    cdf[-1] = 1.0
    u0 = torch.rand((), generator=generator, dtype=torch.float64, device=cdf.device)
    points = (u0 + torch.arange(n, dtype=torch.float64, device=cdf.device)) / n
    return torch.searchsorted(cdf, points).clamp_max(w.numel() - 1)


@dataclass(frozen=True)
class ImportanceSamples:
    """Output of :meth:`~lab.molecules.particles.AdjointSampler.sample_importance`.

    Attributes:
        samples: the ``n`` resampled configurations ``[n, n_particles * dim]``.
        proposals: every proposal ``[n_proposals, n_particles * dim]``.
        log_weights: float64 log importance weights of the proposals (up to a constant).
        ess: normalised effective sample size of the proposals, in ``(0, 1]``.
        n_unique: distinct proposals among the resampled ones.
        energy_evals: energy evaluations spent (one per proposal, no gradients).
    """

    samples: Tensor
    proposals: Tensor
    log_weights: Tensor
    ess: float
    n_unique: int
    energy_evals: int
