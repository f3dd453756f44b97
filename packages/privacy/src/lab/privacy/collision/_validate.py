"""Boundary checks shared by every component (each names the offending value)."""

from __future__ import annotations

import math

from lab.core import ConfigError

__all__ = ["check_alpha", "check_open_unit", "check_positive_int"]


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """A privacy parameter alpha must be a finite number > 0."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise ConfigError(f"{name} must be a number, got {alpha!r}")
    if not math.isfinite(alpha) or alpha <= 0:
        raise ConfigError(f"{name} must be a finite number > 0, got {alpha!r}")
    return float(alpha)


def check_open_unit(value: float, name: str) -> float:
    """beta, delta, confidence levels: a number strictly inside (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number in (0, 1), got {value!r}")
    if not (0.0 < value < 1.0):
        raise ConfigError(f"{name} must lie strictly inside (0, 1), got {value!r}")
    return float(value)


def check_positive_int(value: int, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value
