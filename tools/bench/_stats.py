"""Paired statistics shared by the benchmark scripts (imported, not run: no domain prefix)."""

from __future__ import annotations

import numpy as np
from scipy import stats


def paired_difference(x: np.ndarray | list[float], y: np.ndarray | list[float]) -> dict[str, float]:
    """Per-unit ``x - y`` (seeds, molecules): mean, SE and two-sided paired t-test p (1.0 when
    every difference is 0, where the t statistic is undefined)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    d = x - y
    p = float(stats.ttest_rel(x, y).pvalue) if np.any(d != 0) else 1.0
    return {"mean": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(len(d))), "p": p}
