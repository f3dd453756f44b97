"""Paired comparisons of two methods over matched runs (seeds, draws of engines, ...)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from lab.core import DataError

__all__ = ["paired_difference"]


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Mean of ``a - b`` over matched runs with its standard error and a two-sided paired t test.

    Returns ``n``, ``mean``, ``se`` (sample sd / sqrt(n)), ``t``, ``p`` (two-sided, n-1 degrees of
    freedom; NaN when n < 2; 1.0 when every difference is 0) and ``a_lower`` (runs where ``a`` was
    strictly below ``b``). Lower is better for RMSE and the PHM08 score, so a negative mean
    favours ``a``.
    """
    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise DataError(f"paired runs differ in number: {x.size} vs {y.size}")
    if x.size == 0:
        raise DataError("paired_difference needs at least one pair")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise DataError("paired_difference got a non-finite value")
    d = x - y
    n = int(d.size)
    mean = float(d.mean())
    out = {"n": float(n), "mean": mean, "a_lower": float(np.sum(d < 0))}
    if n < 2:
        out.update(se=math.nan, t=math.nan, p=math.nan)
        return out
    se = float(d.std(ddof=1) / math.sqrt(n))
    if se == 0.0:
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0.0 else 0.0
    else:
        t = mean / se
        p = float(2.0 * stats.t.sf(abs(t), n - 1))
    out.update(se=se, t=t, p=p)
    return out
