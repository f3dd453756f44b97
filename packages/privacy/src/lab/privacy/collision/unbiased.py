"""The non-private unbiased estimator of the collision probability C(p) = sum_i p_i**2.

For n i.i.d. samples the all-pairs U-statistic

    U_n = (1 / binom(n, 2)) * sum_{a < b} 1[x_a = x_b] = sum_x c_x (c_x - 1) / (n (n - 1)),

with c_x the count of value x, is the minimum-variance unbiased estimator of C(p) (it is the
U-statistic of the kernel 1[x = y]). It is computed from the value counts in O(n), never over
pairs. Its exact variance (Hoeffding 1948, order-2 U-statistic) is

    Var(U_n) = 2 / (n (n - 1)) * (2 (n - 2) zeta_1 + zeta_2),
    zeta_1 = C_3 - C^2,  zeta_2 = C (1 - C),  C_3 = sum_i p_i**3.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.stats import norm

from lab.core import DataError

from ._hashing import category_codes
from ._validate import check_open_unit
from .distributions import exact_collision_probability
from .estimate import CollisionEstimate

__all__ = [
    "collision_probability",
    "collision_variance",
    "estimate_collision",
    "value_counts",
]


def value_counts(values: Any) -> np.ndarray:
    """Counts (int64) of the distinct values of a sequence, array or integer tensor.

    Integer tensors are counted on their own device with ``torch.unique``.
    """
    if isinstance(values, torch.Tensor) and not values.is_floating_point():
        if values.ndim != 1:
            raise DataError(f"values must be a 1-D tensor, got shape {tuple(values.shape)}")
        if values.numel() and int(values.min()) >= 0 and int(values.max()) < 4 * values.numel():
            counts = torch.bincount(values)  # O(n) for small non-negative codes
            counts = counts[counts > 0]
        else:
            _, counts = torch.unique(values, return_counts=True)
        return counts.cpu().numpy().astype(np.int64)
    codes, _ = category_codes(values)
    return np.bincount(codes).astype(np.int64)


def _u_from_counts(counts: np.ndarray) -> tuple[float, int]:
    n = int(counts.sum())
    if n < 2:
        raise DataError(f"the collision probability needs at least 2 samples, got {n}")
    pairs = int(np.sum(counts * (counts - 1)))
    return pairs / (n * (n - 1)), n


def collision_probability(values: Any) -> float:
    """The unbiased all-pairs estimate of C(p) from samples (O(n) via value counts).

    Args:
        values: a sequence of hashable categories, a 1-D numpy array, or an integer tensor
            (counted on its device).

    Raises:
        DataError: fewer than 2 samples, or a value that is not a hashable category.
    """
    return _u_from_counts(value_counts(values))[0]


def collision_variance(p: np.ndarray, n: int) -> float:
    """Exact variance of :func:`collision_probability` for ``n`` i.i.d. samples from ``p``."""
    if n < 2:
        raise DataError(f"the variance needs n >= 2 samples, got {n}")
    c = exact_collision_probability(p)
    p = np.asarray(p, dtype=np.float64)
    c3 = float(np.sum(p**3))
    zeta1, zeta2 = c3 - c * c, c * (1.0 - c)
    return 2.0 / (n * (n - 1)) * (2.0 * (n - 2) * zeta1 + zeta2)


def estimate_collision(values: Any, *, confidence: float = 0.95) -> CollisionEstimate:
    """:func:`collision_probability` with a normal-approximation confidence interval.

    The variance is the plug-in of the formula in the module docstring, with zeta_1 estimated
    by the empirical variance of the U-statistic's projections h_a = (c_{x_a} - 1)/(n - 1)
    (ours: the paper gives no interval for the non-private estimator).
    """
    check_open_unit(confidence, "confidence")
    counts = value_counts(values).astype(np.float64)
    u, n = _u_from_counts(counts.astype(np.int64))
    h_sq = float(np.sum(counts * (counts - 1.0) ** 2)) / (n - 1) ** 2 / n
    zeta1 = max(h_sq - u * u, 0.0)
    var = 4.0 * zeta1 / n + 2.0 * u * (1.0 - u) / (n * (n - 1))
    se = math.sqrt(var)
    z = float(norm.ppf(0.5 + confidence / 2))
    return CollisionEstimate(
        estimate=u,
        ci_low=u - z * se,
        ci_high=u + z * se,
        confidence=confidence,
        std_error=se,
        n=n,
        method="all-pairs U-statistic (non-private)",
        details={"distinct_values": int(counts.size)},
    )
