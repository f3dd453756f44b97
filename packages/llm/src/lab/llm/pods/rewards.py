"""Reward functions with TRL's signature and their weighted combination.

A reward function is ``f(prompts, completions, **columns) -> list[float | None]``: one value per
completion, where ``columns`` holds the other dataset fields (``answer``, ...) repeated to match
the completions. ``None`` means "this function does not apply to this sample"; a sample for which
every function returns ``None`` is excluded from training (never selected, no loss).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from lab.core import ConfigError, DataError

__all__ = ["RewardFunction", "compute_rewards", "reward_name"]

RewardFunction = Callable[..., Sequence[float | None]]


def reward_name(func: RewardFunction) -> str:
    """The name metrics use for a reward function."""
    return getattr(func, "__name__", None) or type(func).__name__


def compute_rewards(
    reward_funcs: Sequence[RewardFunction],
    prompts: Sequence[Any],
    completions: Sequence[str],
    columns: Mapping[str, Sequence[Any]] | None = None,
    *,
    weights: Sequence[float] | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Call every reward function and combine them.

    Args:
        reward_funcs: one or more reward functions.
        prompts: one prompt per completion.
        completions: the completion texts.
        columns: extra keyword arguments (one list per dataset field, aligned with completions).
        weights: one weight per function (default all 1).
        device: where the returned tensors live.

    Returns:
        ``(per_func (N, F) with NaN where a function returned None, total (N,), excluded (N,) bool)``.
        ``total`` is the weighted sum over the functions that returned a value (TRL's ``nansum``);
        it is 0 on excluded rows.

    Raises:
        DataError: a function returned the wrong number of values, NaN/inf or a non-number.
        ConfigError: no functions, or a wrong number of weights.
    """
    if len(reward_funcs) == 0:
        raise ConfigError("at least one reward function is required")
    if weights is None:
        weights = [1.0] * len(reward_funcs)
    if len(weights) != len(reward_funcs):
        raise ConfigError(
            f"{len(weights)} reward weights given for {len(reward_funcs)} reward functions"
        )
    n = len(completions)
    if len(prompts) != n:
        raise DataError(f"{len(prompts)} prompts for {n} completions")
    cols = dict(columns or {})
    for k, col in cols.items():
        if len(col) != n:
            raise DataError(f"column {k!r} has {len(col)} values for {n} completions")
    table = torch.full((n, len(reward_funcs)), float("nan"), dtype=torch.float64)
    for j, f in enumerate(reward_funcs):
        vals = f(prompts=list(prompts), completions=list(completions), **cols)
        name = reward_name(f)
        try:
            count = len(vals)
        except TypeError:
            raise DataError(
                f"reward function {name!r} returned {type(vals).__name__}, not a list"
            ) from None
        if count != n:
            raise DataError(f"reward function {name!r} returned {count} values for {n} completions")
        for i, v in enumerate(list(vals)):
            if v is None:
                continue
            if isinstance(v, bool) or (
                not isinstance(v, numbers.Real)
                and not (isinstance(v, torch.Tensor) and v.numel() == 1)
            ):
                raise DataError(
                    f"reward function {name!r} returned {v!r} for sample {i}; expected a number or None"
                )
            x = float(v)
            if not math.isfinite(x):
                raise DataError(
                    f"reward function {name!r} returned {x} for sample {i}; rewards must be finite"
                )
            table[i, j] = x
    w = torch.tensor([float(x) for x in weights], dtype=torch.float64)
    excluded = torch.isnan(table).all(1)
    total = (table * w).nansum(1)
    dev = torch.device(device)
    return table.to(dev), total.to(dev), excluded.to(dev)
