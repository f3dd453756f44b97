"""Server side of the salted-hash protocol: per-group agreement statistics, debiasing, the
median over groups (median of means) and a confidence interval.

Per group ``g`` only the number of reports ``n_g`` and the number of ones ``o_g`` matter
(computed with one ``bincount`` each, O(n)): the all-pairs agreement fraction is
``U_g = (binom(o_g, 2) + binom(n_g - o_g, 2)) / binom(n_g, 2)`` and the debiased estimate is
``C_g = 2 m (U_g - 1/2)``, unbiased for C(p) over the random table (see
:mod:`lab.privacy.salted_hash`). The group estimates are i.i.d. when the groups have equal size.

Aggregation. A single group's estimate has the irreducible table variance ``~2 C^2`` and a
skewed (chi-square-like) law, so the plain median over groups is biased (towards ``0.45 C``);
we read the paper's "median over groups" as the median of means: the groups are split into
``B`` contiguous blocks, each block is averaged, and the median of the block means is
returned (``aggregate="median_of_means"``, the default). ``aggregate="mean"`` returns the
exactly unbiased mean over groups.

Confidence interval (ours; ``ci="chebyshev"``, distribution-free). With the variance bound
``v_b(C)`` of a block mean (:func:`~lab.privacy.salted_hash.salted_hash_variance_bound`),
Chebyshev's inequality gives ``P(|mean_b - C| > sqrt(v_b(C)/p)) <= p`` (``p`` =
``block_failure``, 1/4 by default), and the median leaves ``[C - r, C + r]`` only if at least
half of the blocks do, which has probability ``<= P(Bin(B, p) >= ceil(B/2))``; ``B`` is the
smallest odd number of blocks that makes this ``<= 1 - confidence``. The interval is the set of
``C`` in [0, 1] with ``|estimate - C| <= r(C)`` (evaluated on a fine grid, its hull returned).
For ``aggregate="mean"`` it is one block with ``p = 1 - confidence``. ``ci="normal"`` is the
asymptotic interval ``estimate +- z * sd(C_g) / sqrt(G)`` from the empirical spread of the
group estimates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from scipy.stats import binom, norm

from lab.core import ConfigError, DataError, get_device

from ._validate import check_open_unit, check_positive_int
from .estimate import CollisionEstimate
from .reports import SaltedHashReports

__all__ = [
    "LDPEstimatorConfig",
    "estimate_collision_ldp",
    "group_estimates",
    "median_of_means_blocks",
    "mom_failure_probability",
    "mom_radius",
]


@dataclass(frozen=True)
class LDPEstimatorConfig:
    """Configuration of :func:`estimate_collision_ldp`.

    Attributes:
        aggregate: ``"median_of_means"`` (default) or ``"mean"`` (exactly unbiased).
        confidence: nominal coverage of the interval, in (0, 1).
        ci: ``"chebyshev"`` (distribution-free, ours) or ``"normal"`` (asymptotic).
        n_blocks: number of median-of-means blocks; ``None`` picks the smallest odd number
            that reaches ``confidence``.
        block_failure: Chebyshev failure probability per block (ours: 1/4).
    """

    aggregate: Literal["median_of_means", "mean"] = "median_of_means"
    confidence: float = 0.95
    ci: Literal["chebyshev", "normal"] = "chebyshev"
    n_blocks: int | None = None
    block_failure: float = 0.25

    def __post_init__(self) -> None:
        check_open_unit(self.confidence, "confidence")
        check_open_unit(self.block_failure, "block_failure")
        if self.block_failure >= 0.5:
            raise ConfigError(
                f"block_failure must be < 1/2 for the median to help, got {self.block_failure!r}"
            )
        if self.aggregate not in ("median_of_means", "mean"):
            raise ConfigError(
                f"aggregate must be 'median_of_means' or 'mean', got {self.aggregate!r}"
            )
        if self.ci not in ("chebyshev", "normal"):
            raise ConfigError(f"ci must be 'chebyshev' or 'normal', got {self.ci!r}")
        if self.n_blocks is not None:
            check_positive_int(self.n_blocks, "n_blocks")


def mom_failure_probability(n_blocks: int, block_failure: float = 0.25) -> float:
    """``P(Bin(B, p) >= ceil(B/2))``: the chance that the median of ``B`` block means leaves
    an interval that each block leaves with probability at most ``p``."""
    check_positive_int(n_blocks, "n_blocks")
    return float(binom.sf(math.ceil(n_blocks / 2) - 1, n_blocks, block_failure))


def median_of_means_blocks(
    failure: float, block_failure: float = 0.25, max_blocks: int = 100_001
) -> int:
    """Smallest odd ``B`` with :func:`mom_failure_probability` ``<= failure``."""
    check_open_unit(failure, "failure")
    b = 1
    while b <= max_blocks:
        if mom_failure_probability(b, block_failure) <= failure:
            return b
        b += 2
    raise ConfigError(
        f"no number of blocks <= {max_blocks} reaches failure probability {failure!r}"
    )


def group_estimates(
    reports: SaltedHashReports, *, device: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Debiased per-group estimates ``C_g`` and group sizes ``n_g`` (float64 numpy arrays).

    Raises:
        DataError: a group with fewer than two reports, bits that are not 0/1, or a
            malformed report set.
    """
    dev = get_device(device)
    groups = reports.groups.to(dev)
    bits = reports.bits.to(dev)
    if groups.shape != bits.shape or groups.ndim != 1:
        raise DataError(
            f"groups and bits must be 1-D of equal length, got {tuple(groups.shape)} and {tuple(bits.shape)}"
        )
    if bits.numel() == 0:
        raise DataError("no reports")
    if bool(((bits != 0) & (bits != 1)).any()):
        raise DataError("reported bits must be 0 or 1")
    if int(groups.min()) < 0 or int(groups.max()) >= reports.n_groups:
        raise DataError(
            f"group ids must lie in [0, {reports.n_groups - 1}], got [{int(groups.min())}, {int(groups.max())}]"
        )
    n_g = torch.bincount(groups, minlength=reports.n_groups).double().cpu().numpy()
    ones = torch.bincount(groups, weights=bits.double(), minlength=reports.n_groups).cpu().numpy()
    small = np.flatnonzero(n_g < 2)
    if small.size:
        g = int(small[0])
        raise DataError(
            f"every group needs at least two reports; group {g} has {int(n_g[g])} "
            f"({small.size} such group(s))"
        )
    s = 2.0 * ones - n_g
    c_g = reports.m * (s * s - n_g) / (n_g * (n_g - 1.0))
    return c_g, n_g


def _block_coefficients(
    m: int, blocks: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # v_b(C) = (2 C^2 L_b + A_b C + B_b) / L_b^2 from the variance bound, per block.
    L = np.array([b.size for b in blocks], dtype=np.float64)
    A = np.array([np.sum(4.0 * m * (b - 2.0) / (b * (b - 1.0))) for b in blocks])
    B = np.array([np.sum(2.0 * m * m / (b * (b - 1.0))) for b in blocks])
    return L, A, B


def mom_radius(
    c: np.ndarray | float, m: int, block_sizes: Sequence[np.ndarray], block_failure: float
) -> np.ndarray:
    """Chebyshev radius ``max_b sqrt(v_b(C) / p)`` at collision level(s) ``c``.

    ``block_sizes[b]`` holds the group sizes of block ``b``.
    """
    L, A, B = _block_coefficients(m, block_sizes)
    c = np.asarray(c, dtype=np.float64)[..., None]
    v = (2.0 * c * c * L + A * c + B) / (L * L)
    return np.sqrt(v.max(axis=-1) / block_failure)


def _chebyshev_interval(
    est: float, m: int, block_sizes: Sequence[np.ndarray], p: float
) -> tuple[float, float]:
    grid = np.linspace(0.0, 1.0, 200_001)
    r = mom_radius(grid, m, block_sizes, p)
    inside = np.flatnonzero(np.abs(est - grid) <= r)
    if inside.size == 0:  # the (probability <= 1 - confidence) event that C is excluded everywhere
        j = int(np.argmin(np.abs(est - grid) - r))
        return float(grid[j]), float(grid[j])
    return float(grid[inside[0]]), float(grid[inside[-1]])


def estimate_collision_ldp(
    reports: SaltedHashReports, config: LDPEstimatorConfig | None = None, *, device: Any = None
) -> CollisionEstimate:
    """Estimate C(p) from salted-hash reports, with a confidence interval.

    Args:
        reports: the output of :meth:`SaltedHashLDP.privatize` (or reports built from real
            users' bits and their public groups).
        config: aggregation and interval options (:class:`LDPEstimatorConfig`).
        device: where the per-group counts are computed.

    Raises:
        DataError: fewer than two reports in a group, or too few groups for the requested
            median-of-means confidence.
    """
    cfg = config or LDPEstimatorConfig()
    c_g, n_g = group_estimates(reports, device=device)
    G = c_g.size
    if cfg.aggregate == "mean":
        n_blocks, p = 1, 1.0 - cfg.confidence
        blocks = [np.arange(G)]
        est = float(c_g.mean())
    else:
        p = cfg.block_failure
        if cfg.n_blocks is None:
            n_blocks = median_of_means_blocks(1.0 - cfg.confidence, p)
        else:
            n_blocks = cfg.n_blocks
            achieved = 1.0 - mom_failure_probability(n_blocks, p)
            if cfg.ci == "chebyshev" and achieved < cfg.confidence:
                raise ConfigError(
                    f"n_blocks={n_blocks} reaches confidence {achieved:.4f} < requested {cfg.confidence}"
                )
        if n_blocks > G:
            raise DataError(
                f"median of means at confidence {cfg.confidence} needs >= {n_blocks} groups, got "
                f"{G} (n={len(reports)}, m={reports.m}); collect more reports, use smaller groups, "
                "or aggregate='mean'"
            )
        blocks = np.array_split(np.arange(G), n_blocks)
        est = float(np.median([c_g[b].mean() for b in blocks]))
    sd = float(c_g.std(ddof=1)) if G >= 2 else float("nan")
    se = sd / math.sqrt(G) if G >= 2 else float("nan")
    if cfg.ci == "chebyshev":
        lo, hi = _chebyshev_interval(est, reports.m, [n_g[b] for b in blocks], p)
    else:
        if G < 2:
            raise DataError("a normal interval needs at least 2 groups, got 1")
        z = float(norm.ppf(0.5 + cfg.confidence / 2))
        lo, hi = est - z * se, est + z * se
    return CollisionEstimate(
        estimate=est,
        ci_low=lo,
        ci_high=hi,
        confidence=cfg.confidence,
        std_error=se,
        n=len(reports),
        method=f"salted-hash LDP ({cfg.aggregate})",
        details={
            "m": reports.m,
            "n_groups": G,
            "n_blocks": n_blocks,
            "mean_group_size": float(n_g.mean()),
            "alpha": reports.alpha,
            "beta": reports.beta,
            "ci": cfg.ci,
        },
    )
