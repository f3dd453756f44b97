"""Training helpers shared by the particle and conformer samplers: the parameter EMA and the
learning-rate schedule."""

from __future__ import annotations

import math

import torch

from lab.core import ConfigError

__all__ = ["ema_update", "lr_factor"]


def lr_factor(
    step: int,
    total_steps: int,
    *,
    schedule: str = "constant",
    lr: float = 1.0,
    lr_min: float = 0.0,
    warmup_steps: int = 0,
) -> float:
    """Multiplier of the base ``lr`` for optimiser step ``step`` (0-based) of ``total_steps``.

    ``constant``: 1 after warm-up. ``cosine``: ``lr_min + (lr - lr_min) (1 + cos(pi p)) / 2``
    and ``linear``: ``lr - (lr - lr_min) p``, with ``p`` the fraction of the post-warm-up steps
    done (0 at the first step after warm-up, 1 at step ``total_steps``; held at ``lr_min``
    beyond). Warm-up ramps linearly from ``lr / warmup_steps`` to ``lr``. The returned value is
    the learning rate divided by ``lr`` (what ``torch.optim.lr_scheduler.LambdaLR`` expects).
    """
    if schedule not in ("constant", "cosine", "linear"):
        raise ConfigError(f"lr_schedule must be constant, cosine or linear, got {schedule!r}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    p = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "cosine":
        value = lr_min + (lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * p))
    else:
        value = lr - (lr - lr_min) * p
    return value / lr


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * model``, parameter by parameter, in place."""
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters(), strict=True):
            pe.lerp_(p, 1.0 - decay)
