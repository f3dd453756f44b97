"""The result type every collision-probability estimator of this package returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CollisionEstimate"]


@dataclass(frozen=True)
class CollisionEstimate:
    """A collision-probability estimate with its confidence interval.

    Attributes:
        estimate: the point estimate of C(p) (unbiased estimators may fall outside [0, 1];
            nothing is clipped).
        ci_low: lower end of the confidence interval.
        ci_high: upper end of the confidence interval.
        confidence: the nominal coverage of ``[ci_low, ci_high]``.
        std_error: an estimate of the standard error of ``estimate``.
        n: number of reports (users) that entered the estimate.
        method: which estimator produced it.
        details: method-specific numbers (groups, table size, blocks, ...).
    """

    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    std_error: float
    n: int
    method: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of every field."""
        return {
            "estimate": self.estimate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "std_error": self.std_error,
            "n": self.n,
            "method": self.method,
            **{f"details.{k}": v for k, v in self.details.items()},
        }
