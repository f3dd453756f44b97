"""RUL metrics: RMSE and the asymmetric PHM08 score, computed over engines (never per batch)."""

from __future__ import annotations

import numpy as np

from lab.core import DataError

__all__ = ["phm08_score", "rmse"]


def _pair(pred: object, true: object) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    t = np.asarray(true, dtype=np.float64).reshape(-1)
    if p.shape != t.shape:
        raise DataError(f"prediction and truth differ in length: {p.shape[0]} vs {t.shape[0]}")
    if p.size == 0:
        raise DataError("cannot score an empty set of predictions")
    for name, a in (("prediction", p), ("truth", t)):
        if not np.all(np.isfinite(a)):
            i = int(np.flatnonzero(~np.isfinite(a))[0])
            raise DataError(f"{name} {i} is not finite: {a[i]!r}")
    return p, t


def rmse(pred: object, true: object) -> float:
    """Root mean squared error over all given values (one per engine for test scoring)."""
    p, t = _pair(pred, true)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def phm08_score(pred: object, true: object) -> float:
    """PHM08 challenge score, summed over engines: with ``d = pred - true``,
    ``exp(-d/13) - 1`` for early predictions (d < 0) and ``exp(d/10) - 1`` for late ones."""
    p, t = _pair(pred, true)
    d = p - t
    return float(np.sum(np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))))
