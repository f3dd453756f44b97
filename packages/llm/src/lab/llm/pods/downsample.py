"""PODS rollout down-sampling: choose ``m`` of ``n`` rollouts per prompt to train on.

Xu, Savani, Fang, Kolter (2025), "Not All Rollouts are Useful: Down-Sampling Rollouts in LLM
Reinforcement Learning" (arXiv 2504.13818). Three rules:

- ``max_variance`` (the paper's PODS rule): the ``m`` rewards with the largest variance. After
  sorting, an optimal subset is always the ``k`` highest plus the ``m - k`` lowest rewards for some
  ``k`` in ``0..m``; prefix sums of ``r`` and ``r**2`` score each of the ``m + 1`` candidates in
  O(1), so a group costs O(n log n) (the sort).
- ``max_reward``: the ``m`` highest rewards.
- ``random``: ``m`` rollouts drawn uniformly without replacement.

Every rule accepts a 1-D array (one group) or a 2-D array ``(groups, n)`` and returns integer
indices into the last axis, shape ``(..., m)``, of the same kind as the input (numpy in, numpy
out; torch in, torch out on the same device).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from lab.core import ConfigError, DataError

__all__ = [
    "DOWNSAMPLE_RULES",
    "DownsampleRule",
    "downsample",
    "max_reward_downsample",
    "max_variance_downsample",
    "max_variance_downsample_bruteforce",
    "random_downsample",
    "subset_variance",
]

Rewards = np.ndarray | torch.Tensor | Sequence[float] | Sequence[Sequence[float]]
DownsampleRule = Literal["max_variance", "max_reward", "random"]
DOWNSAMPLE_RULES: tuple[str, ...] = ("max_variance", "max_reward", "random")


def _as_tensor(rewards: Rewards) -> tuple[torch.Tensor, bool]:
    """(float64 tensor, was_numpy); validates shape and finiteness."""
    was_numpy = not isinstance(rewards, torch.Tensor)
    if was_numpy:
        arr = np.asarray(rewards)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise DataError(f"rewards must be numeric, got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))
    else:
        assert isinstance(rewards, torch.Tensor)
        t = rewards.detach()
        if t.is_complex() or t.dtype == torch.bool:
            raise DataError(f"rewards must be real numbers, got dtype {t.dtype}")
        t = t.to(torch.float64)
    if t.ndim not in (1, 2):
        raise DataError(f"rewards must be 1-D (n,) or 2-D (groups, n), got shape {tuple(t.shape)}")
    if t.shape[-1] == 0:
        raise DataError(
            f"rewards must hold at least one rollout per group, got shape {tuple(t.shape)}"
        )
    if not torch.isfinite(t).all():
        bad = t[~torch.isfinite(t)].flatten()[0].item()
        raise DataError(f"rewards must be finite, found {bad!r}")
    return t, was_numpy


def _check_m(m: int, n: int) -> int:
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)):
        raise ConfigError(f"m must be an integer, got {m!r}")
    m = int(m)
    if m < 1:
        raise ConfigError(f"m must be >= 1, got {m}")
    if m > n:
        raise ConfigError(f"cannot keep m={m} rollouts out of n={n}: m must be <= n")
    return m


def _out(idx: torch.Tensor, was_numpy: bool, like: Rewards) -> np.ndarray | torch.Tensor:
    if was_numpy:
        return idx.cpu().numpy()
    assert isinstance(like, torch.Tensor)
    return idx.to(like.device)


def max_variance_downsample(rewards: Rewards, m: int) -> np.ndarray | torch.Tensor:
    """Indices of the ``m`` rollouts whose rewards have the largest variance (PODS).

    Args:
        rewards: shape ``(n,)`` or ``(groups, n)``, finite real numbers (numpy or torch).
        m: how many rollouts to keep per group, ``1 <= m <= n``.

    Returns:
        Integer indices of shape ``(m,)`` or ``(groups, m)`` into the last axis of ``rewards``
        (numpy int64 for numpy input, a torch long tensor on the input's device otherwise).
        Among subsets of equal variance the one with the fewest top rewards is returned (ties
        among equal reward values are broken by the stable sort order).

    The rewards are sorted once (O(n log n)); with prefix sums of the sorted values and their
    squares the sum of squared deviations of "the k highest plus the m-k lowest" costs O(1) per
    k, and the best of the m+1 candidates is optimal (paper, Theorem 1). The sums are formed on
    rewards centred by their group mean, in float64, so a constant shift does not change the
    choice beyond rounding.
    """
    t, was_numpy = _as_tensor(rewards)
    single = t.ndim == 1
    r = t.unsqueeze(0) if single else t
    n = r.shape[-1]
    m = _check_m(m, n)
    r = r - r.mean(dim=-1, keepdim=True)
    sorted_r, perm = torch.sort(r, dim=-1, stable=True)
    zero = torch.zeros(r.shape[0], 1, dtype=r.dtype, device=r.device)
    s1 = torch.cat([zero, sorted_r.cumsum(-1)], dim=-1)  # s1[:, j] = sum of the j lowest
    s2 = torch.cat([zero, (sorted_r * sorted_r).cumsum(-1)], dim=-1)
    k = torch.arange(m + 1, device=r.device)  # number taken from the top
    low = m - k
    sum1 = s1[:, low] + s1[:, n : n + 1] - s1[:, n - k]
    sum2 = s2[:, low] + s2[:, n : n + 1] - s2[:, n - k]
    score = sum2 - sum1 * sum1 / m  # m * variance of the candidate subset
    best_k = score.argmax(dim=-1, keepdim=True)  # first maximum: fewest top rewards
    j = torch.arange(m, device=r.device).unsqueeze(0)
    pos = torch.where(j < m - best_k, j, n - m + j)
    idx = perm.gather(-1, pos)
    if single:
        idx = idx[0]
    return _out(idx, was_numpy, rewards)


def max_reward_downsample(rewards: Rewards, m: int) -> np.ndarray | torch.Tensor:
    """Indices of the ``m`` highest rewards per group (ties: lower index first).

    Same shapes and types as :func:`max_variance_downsample`.
    """
    t, was_numpy = _as_tensor(rewards)
    m = _check_m(m, t.shape[-1])
    order = torch.sort(-t, dim=-1, stable=True).indices
    return _out(order[..., :m], was_numpy, rewards)


def random_downsample(
    rewards: Rewards,
    m: int,
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> np.ndarray | torch.Tensor:
    """``m`` indices per group drawn uniformly without replacement.

    Pass a ``torch.Generator`` (CPU) or a ``seed``; with neither the global torch RNG is used.
    Same shapes and types as :func:`max_variance_downsample`.
    """
    t, was_numpy = _as_tensor(rewards)
    m = _check_m(m, t.shape[-1])
    if generator is None and seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    keys = torch.rand(t.shape, generator=generator, dtype=torch.float64)
    idx = keys.argsort(dim=-1)[..., :m]
    return _out(idx, was_numpy, rewards)


def downsample(
    rewards: Rewards,
    m: int,
    rule: str = "max_variance",
    *,
    generator: torch.Generator | None = None,
) -> np.ndarray | torch.Tensor:
    """Dispatch to one of :data:`DOWNSAMPLE_RULES` by name."""
    if rule == "max_variance":
        return max_variance_downsample(rewards, m)
    if rule == "max_reward":
        return max_reward_downsample(rewards, m)
    if rule == "random":
        return random_downsample(rewards, m, generator=generator)
    raise ConfigError(
        f"unknown down-sampling rule {rule!r}; choose one of {list(DOWNSAMPLE_RULES)}"
    )


def subset_variance(
    rewards: Rewards, idx: np.ndarray | torch.Tensor | Sequence[Sequence[int]]
) -> np.ndarray:
    """Population variance of ``rewards`` restricted to ``idx`` (per group), as float64 numpy."""
    r = np.asarray(
        rewards.detach().cpu() if isinstance(rewards, torch.Tensor) else rewards, dtype=np.float64
    )
    i = np.asarray(idx.detach().cpu() if isinstance(idx, torch.Tensor) else idx, dtype=np.int64)
    return np.take_along_axis(r, i, axis=-1).var(axis=-1)


def max_variance_downsample_bruteforce(rewards: np.ndarray | list[float], m: int) -> np.ndarray:
    """Reference: try every ``m``-subset of a 1-D reward vector (C(n, m) subsets; small n only).

    Returns the indices (sorted) of a subset of maximal population variance. This is the
    baseline that tests and ``tools/bench/llm_downsample.py`` compare against.
    """
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim != 1:
        raise DataError(f"the brute-force reference takes one group (1-D), got shape {r.shape}")
    m = _check_m(m, r.shape[0])
    if math.comb(r.shape[0], m) > 5_000_000:
        raise ConfigError(f"C({r.shape[0]}, {m}) subsets is too many for brute force")
    best, best_idx = -1.0, None
    for comb in itertools.combinations(range(r.shape[0]), m):
        v = float(r[list(comb)].var())
        if v > best:
            best, best_idx = v, comb
    assert best_idx is not None
    return np.asarray(best_idx, dtype=np.int64)
