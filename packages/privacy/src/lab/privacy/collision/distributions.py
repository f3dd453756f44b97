"""Test distributions of the paper's experiments (uniform, power-law/Zipf) plus Dirichlet draws.

Each returns a float64 probability vector (numpy); :func:`sample_categorical` draws i.i.d.
category indices from it on a torch device.
"""

from __future__ import annotations

import numpy as np
import torch

from lab.core import ConfigError, get_device

from ._validate import check_positive_int

__all__ = [
    "dirichlet_distribution",
    "exact_collision_probability",
    "sample_categorical",
    "uniform_distribution",
    "zipf_distribution",
]


def uniform_distribution(k: int) -> np.ndarray:
    """Uniform over ``k`` categories: C = 1/k."""
    check_positive_int(k, "k")
    return np.full(k, 1.0 / k)


def zipf_distribution(k: int, exponent: float = 1.0) -> np.ndarray:
    """Power law p_i proportional to i**-exponent over ``k`` categories."""
    check_positive_int(k, "k")
    if not exponent >= 0:
        raise ConfigError(f"Zipf exponent must be >= 0, got {exponent!r}")
    w = np.arange(1, k + 1, dtype=np.float64) ** (-float(exponent))
    return w / w.sum()


def dirichlet_distribution(k: int, concentration: float = 1.0, *, seed: int = 0) -> np.ndarray:
    """One draw from the symmetric Dirichlet(concentration) over ``k`` categories."""
    check_positive_int(k, "k")
    if not concentration > 0:
        raise ConfigError(f"Dirichlet concentration must be > 0, got {concentration!r}")
    p = np.random.default_rng(seed).dirichlet(np.full(k, float(concentration)))
    return p / p.sum()


def exact_collision_probability(p: np.ndarray) -> float:
    """C(p) = sum_i p_i**2 of a probability vector (validated)."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise ConfigError(f"a distribution must be a non-empty 1-D vector, got shape {p.shape}")
    if np.any(~np.isfinite(p)) or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-9:
        raise ConfigError(
            f"not a probability vector: min {p.min()!r}, sum {p.sum()!r} (need p >= 0, sum 1)"
        )
    return float(np.sum(p * p))


def sample_categorical(
    p: np.ndarray,
    n: int,
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    device: str | torch.device | None = "cpu",
) -> torch.Tensor:
    """``n`` i.i.d. category indices (int64 tensor) drawn from ``p`` on ``device``.

    Pass a ``generator`` (on that device) or a ``seed``; inverse-CDF sampling keeps it O(n log k).
    """
    exact_collision_probability(p)
    check_positive_int(n, "n")
    dev = get_device(device)
    if generator is None:
        generator = torch.Generator(device=dev)
        generator.manual_seed(0 if seed is None else int(seed))
    cdf = torch.as_tensor(np.cumsum(p), dtype=torch.float64, device=dev)
    cdf[-1] = 1.0
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=dev)
    # u < 1 = cdf[-1], so every index is in [0, k-1].
    return torch.searchsorted(cdf, u, right=True)
