"""Boundary checks shared by the estimators (private)."""

from __future__ import annotations

import math
import numbers

import torch

from lab.core import ConfigError, DataError


def check_unit_interval(name: str, value: float) -> float:
    """``value`` must be a finite number strictly inside (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number in (0, 1), got {value!r}")
    if not math.isfinite(value) or not 0.0 < value < 1.0:
        raise ConfigError(f"{name} must be in the open interval (0, 1), got {value!r}")
    return float(value)


def check_positive_int(name: str, value: int, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return value


def check_mask(
    alpha: torch.Tensor, n_features: int | None = None, *, name: str = "alpha"
) -> torch.Tensor:
    """A binary explanation mask of shape ``(n_features,)`` as a flat ``long`` tensor.

    Raises DataError for a non-tensor, a wrong shape or values other than 0 and 1.
    """
    if not isinstance(alpha, torch.Tensor):
        raise DataError(f"{name} must be a torch.Tensor, got {type(alpha).__name__}")
    if alpha.dim() != 1:
        raise DataError(
            f"{name} must be a flat mask of shape (n_features,), got shape {tuple(alpha.shape)}"
        )
    if n_features is not None and alpha.numel() != n_features:
        raise DataError(
            f"{name} has {alpha.numel()} entries but the masker has {n_features} features "
            f"(shape {tuple(alpha.shape)})"
        )
    if alpha.is_floating_point() and not torch.isfinite(alpha).all():
        raise DataError(f"{name} holds NaN or infinite values")
    bad = (alpha != 0) & (alpha != 1)
    if bad.any():
        value = alpha[bad][0].item()
        raise DataError(f"{name} must be binary (0/1), found the value {value!r}")
    return alpha.long()


def check_masks(masks: torch.Tensor, n_features: int, *, name: str = "masks") -> torch.Tensor:
    """A batch of binary masks of shape ``(B, n_features)``."""
    if not isinstance(masks, torch.Tensor):
        raise DataError(f"{name} must be a torch.Tensor, got {type(masks).__name__}")
    if masks.dim() != 2 or masks.shape[1] != n_features:
        raise DataError(f"{name} must have shape (B, {n_features}), got {tuple(masks.shape)}")
    return masks


def check_radius(radius: int, alpha: torch.Tensor) -> int:
    """``0 <= radius <= m`` where m is the number of zeros of ``alpha``; any integral number
    (Python ``int``, numpy or 0-d torch integers) is accepted and returned as ``int``."""
    if isinstance(radius, torch.Tensor) and radius.dim() == 0 and not radius.is_floating_point():
        radius = int(radius.item())
    if isinstance(radius, bool) or not isinstance(radius, numbers.Integral):
        raise ConfigError(f"radius must be an integer, got {radius!r}")
    radius = int(radius)
    m = int((alpha == 0).sum().item())
    if radius < 0:
        raise ConfigError(f"radius must be >= 0, got {radius}")
    if radius > m:
        raise ConfigError(
            f"radius {radius} is larger than the number of features outside the mask ({m} of "
            f"{alpha.numel()}): Delta_r(alpha) only grows up to r = {m}"
        )
    return radius
