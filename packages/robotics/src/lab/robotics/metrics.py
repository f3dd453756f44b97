"""Pose-error metrics between estimated and ground-truth poses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lab.core import DataError

__all__ = ["error_summary", "pose_errors"]


def pose_errors(estimated: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation error (degrees, geodesic) and translation error (metres) per pose.

    Both arguments are (4, 4) or (T, 4, 4). A NaN estimate gives NaN errors for that frame.
    """
    est = np.asarray(estimated, dtype=float)
    gt = np.asarray(truth, dtype=float)
    if est.shape != gt.shape or est.shape[-2:] != (4, 4):
        raise DataError(
            f"pose_errors needs equal (..., 4, 4) shapes, got {est.shape} and {gt.shape}"
        )
    r = np.einsum("...ji,...jk->...ik", est[..., :3, :3], gt[..., :3, :3])
    cos = np.clip((np.trace(r, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    rot = np.degrees(np.arccos(cos))
    trans = np.linalg.norm(est[..., :3, 3] - gt[..., :3, 3], axis=-1)
    return rot, trans


def error_summary(
    rot_deg: Sequence[float] | np.ndarray,
    trans_m: Sequence[float] | np.ndarray,
    *,
    rot_tol_deg: float = 2.0,
    trans_tol_m: float = 0.005,
) -> dict[str, Any]:
    """Median / 95th percentile of the errors (mm and degrees) and the success rate within tolerances.

    Frames without an estimate (NaN) count as failures and are excluded from the percentiles.
    """
    r = np.asarray(rot_deg, dtype=float)
    t = np.asarray(trans_m, dtype=float)
    if r.shape != t.shape:
        raise DataError(f"rotation and translation errors differ in shape: {r.shape} vs {t.shape}")
    ok = np.isfinite(r) & np.isfinite(t)
    n = int(r.size)
    if n == 0:
        raise DataError("error_summary needs at least one error")
    success = ok & (r <= rot_tol_deg) & (t <= trans_tol_m)
    fin_r, fin_t = r[ok], t[ok] * 1000.0
    nan = float("nan")
    return {
        "n": n,
        "estimated": int(ok.sum()),
        "rot_median_deg": float(np.median(fin_r)) if ok.any() else nan,
        "rot_p95_deg": float(np.percentile(fin_r, 95)) if ok.any() else nan,
        "trans_median_mm": float(np.median(fin_t)) if ok.any() else nan,
        "trans_p95_mm": float(np.percentile(fin_t, 95)) if ok.any() else nan,
        "success_rate": float(success.mean()),
    }
