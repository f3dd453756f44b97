"""From per-frame end-effector poses to policy actions, and back.

Action ``t`` moves the end effector from frame ``t`` to frame ``t + 1`` (T poses give T - 1
actions). ``absolute`` actions (the paper's default) are the target pose of frame ``t + 1``;
``delta`` actions are its change: ``p[t+1] - p[t]`` and the rotation ``R[t+1] R[t]^T``, both in
the robot base frame (robosuite's OSC_POSE convention). Rotations are axis-angle (sign kept
continuous between steps: an axis-angle near pi is replaced by its equivalent
``(theta - 2 pi) * axis`` when that is closer to the previous step) or the 6D representation
(first two rows of the rotation matrix, pytorch3d's convention used by Diffusion Policy).
An optional last channel carries the gripper: the opening ``width`` of frame ``t + 1`` or a
``binary`` command (+1 close, -1 open, robosuite's convention).

:func:`actions_to_poses` inverts :func:`poses_to_actions` exactly (up to float rounding):
integrating delta actions rebuilds the poses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from lab.core import ConfigError, DataError

from .transforms import check_pose, invert_pose, make_pose

__all__ = [
    "ActionConfig",
    "action_dim",
    "actions_to_poses",
    "fill_gaps",
    "filter_outliers",
    "matrix_to_rot6d",
    "poses_to_actions",
    "resample_poses",
    "rot6d_to_matrix",
]


@dataclass(frozen=True)
class ActionConfig:
    """How poses become actions.

    Attributes:
        mode: ``absolute`` (paper default) or ``delta``.
        rotation: ``axis_angle`` (3 values, paper's robosuite actions) or ``rot6d`` (6 values,
            the paper's Diffusion Policy actions).
        gripper: last channel: ``binary`` (+1 close / -1 open from the width), ``width`` (metres)
            or ``none``.
        close_width: openings below this (m) count as closed for ``binary`` (OURS).
        outlier_window: median-filter half-window in frames (paper: 2).
        outlier_threshold: positions farther than this (m) from the median are outliers (paper: 0.15).
    """

    mode: Literal["absolute", "delta"] = "absolute"
    rotation: Literal["axis_angle", "rot6d"] = "axis_angle"
    gripper: Literal["binary", "width", "none"] = "binary"
    close_width: float = 0.03
    outlier_window: int = 2
    outlier_threshold: float = 0.15

    def __post_init__(self) -> None:
        if self.mode not in ("absolute", "delta"):
            raise ConfigError(f"mode must be 'absolute' or 'delta', got {self.mode!r}")
        if self.rotation not in ("axis_angle", "rot6d"):
            raise ConfigError(f"rotation must be 'axis_angle' or 'rot6d', got {self.rotation!r}")
        if self.gripper not in ("binary", "width", "none"):
            raise ConfigError(f"gripper must be 'binary', 'width' or 'none', got {self.gripper!r}")
        if self.outlier_window < 1 or self.outlier_threshold <= 0:
            raise ConfigError(
                f"need outlier_window >= 1 and outlier_threshold > 0, got "
                f"{self.outlier_window}, {self.outlier_threshold}"
            )


def action_dim(config: ActionConfig) -> int:
    """Length of one action vector under ``config``."""
    return (
        3 + (3 if config.rotation == "axis_angle" else 6) + (0 if config.gripper == "none" else 1)
    )


def matrix_to_rot6d(r: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 6): the first two rows, concatenated."""
    r = np.asarray(r, dtype=float)
    return r[..., :2, :].reshape(*r.shape[:-2], 6)


def rot6d_to_matrix(d6: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (inverse of :func:`matrix_to_rot6d`)."""
    d6 = np.asarray(d6, dtype=float)
    a1, a2 = d6[..., :3], d6[..., 3:]
    n1 = np.linalg.norm(a1, axis=-1, keepdims=True)
    if np.any(n1 < 1e-9):
        raise DataError("a 6D rotation has a zero first row")
    b1 = a1 / n1
    b2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    n2 = np.linalg.norm(b2, axis=-1, keepdims=True)
    if np.any(n2 < 1e-9):
        raise DataError("a 6D rotation has parallel rows")
    b2 = b2 / n2
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-2)


def _continuous_rotvecs(rv: np.ndarray) -> np.ndarray:
    out = rv.copy()
    for t in range(1, len(out)):
        ang = np.linalg.norm(out[t])
        if ang < 1e-9:
            continue
        alt = out[t] - 2 * np.pi * out[t] / ang
        if np.linalg.norm(alt - out[t - 1]) < np.linalg.norm(out[t] - out[t - 1]):
            out[t] = alt
    return out


def _check_poses(poses: np.ndarray) -> np.ndarray:
    poses = np.asarray(poses, dtype=float)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise DataError(f"poses must have shape (T, 4, 4), got {poses.shape}")
    bad = np.flatnonzero(~np.isfinite(poses).all(axis=(1, 2)))
    if len(bad):
        raise DataError(
            f"poses {bad[:10].tolist()} are NaN/inf (flagged frames): fill them with "
            "fill_gaps() or cut the episode first"
        )
    for i, p in enumerate(poses):
        check_pose(p, f"poses[{i}]")
    return poses


def poses_to_actions(
    poses: np.ndarray,
    widths: np.ndarray | None = None,
    *,
    config: ActionConfig | None = None,
    base_from_world: np.ndarray | None = None,
) -> np.ndarray:
    """Actions (T - 1, D) from end-effector poses (T, 4, 4) and optional openings (T,).

    ``base_from_world`` (4x4) maps the poses' frame (e.g. the camera rig's world) into the
    robot base frame before anything else.
    """
    cfg = config or ActionConfig()
    poses = _check_poses(poses)
    if len(poses) < 2:
        raise DataError(f"need at least 2 poses to make an action, got {len(poses)}")
    if base_from_world is not None:
        poses = check_pose(base_from_world, "base_from_world")[None] @ poses
    if cfg.gripper != "none":
        if widths is None:
            raise DataError(f"gripper={cfg.gripper!r} needs widths (or use gripper='none')")
        widths = np.asarray(widths, dtype=float)
        if widths.shape != (len(poses),):
            raise DataError(f"widths must have shape ({len(poses)},), got {widths.shape}")
        if not np.all(np.isfinite(widths)):
            raise DataError(
                f"widths {np.flatnonzero(~np.isfinite(widths))[:10].tolist()} are NaN: fill them first"
            )
    p = poses[:, :3, 3]
    r = poses[:, :3, :3]
    if cfg.mode == "absolute":
        pos = p[1:]
        rots = r[1:]
        if cfg.rotation == "axis_angle":
            rot = _continuous_rotvecs(Rotation.from_matrix(rots).as_rotvec())
        else:
            rot = matrix_to_rot6d(rots)
    else:
        pos = p[1:] - p[:-1]
        dr = r[1:] @ np.swapaxes(r[:-1], 1, 2)
        rot = (
            Rotation.from_matrix(dr).as_rotvec()
            if cfg.rotation == "axis_angle"
            else matrix_to_rot6d(dr)
        )
    cols = [pos, rot]
    if cfg.gripper == "width":
        assert widths is not None
        cols.append(widths[1:, None])
    elif cfg.gripper == "binary":
        assert widths is not None
        cols.append(np.where(widths[1:] < cfg.close_width, 1.0, -1.0)[:, None])
    return np.concatenate(cols, axis=1)


def actions_to_poses(
    actions: np.ndarray,
    initial_pose: np.ndarray,
    *,
    config: ActionConfig | None = None,
    base_from_world: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rebuild poses (T, 4, 4) from actions (T - 1, D) and the first pose (world frame).

    Returns the poses and the gripper channel (T - 1,) as stored (None for ``gripper='none'``).
    Delta actions are integrated; absolute actions are decoded.
    """
    cfg = config or ActionConfig()
    a = np.asarray(actions, dtype=float)
    d = action_dim(cfg)
    if a.ndim != 2 or a.shape[1] != d:
        raise DataError(f"actions must have shape (T, {d}) for {cfg}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise DataError("actions contain NaN/inf")
    start = check_pose(initial_pose, "initial_pose")
    if base_from_world is not None:
        bfw = check_pose(base_from_world, "base_from_world")
        start = bfw @ start
    nrot = 3 if cfg.rotation == "axis_angle" else 6
    pos, rot = a[:, :3], a[:, 3 : 3 + nrot]
    mats = (
        Rotation.from_rotvec(rot).as_matrix()
        if cfg.rotation == "axis_angle"
        else rot6d_to_matrix(rot)
    )
    out = [start]
    for t in range(len(a)):
        if cfg.mode == "absolute":
            out.append(make_pose(mats[t], pos[t]))
        else:
            prev = out[-1]
            out.append(make_pose(mats[t] @ prev[:3, :3], prev[:3, 3] + pos[t]))
    poses = np.stack(out)
    if base_from_world is not None:
        poses = invert_pose(bfw)[None] @ poses
    grip = a[:, -1].copy() if cfg.gripper != "none" else None
    return poses, grip


def filter_outliers(
    positions: np.ndarray, *, window: int = 2, threshold: float = 0.15
) -> tuple[np.ndarray, np.ndarray]:
    """Median-filter outlier positions (paper: +-2 frames, 0.15 m) and interpolate them.

    Returns the cleaned (T, 3) positions and the boolean outlier mask (which frames changed).
    NaN positions count as outliers and are interpolated too.
    """
    x = np.asarray(positions, dtype=float)
    if x.ndim != 2 or x.shape[1] != 3:
        raise DataError(f"positions must have shape (T, 3), got {x.shape}")
    n = len(x)
    out_mask = ~np.isfinite(x).all(axis=1)
    for t in range(n):
        if out_mask[t]:
            continue
        lo, hi = max(0, t - window), min(n, t + window + 1)
        med = np.nanmedian(x[lo:hi], axis=0)
        if np.linalg.norm(x[t] - med) > threshold:
            out_mask[t] = True
    good = np.flatnonzero(~out_mask)
    if len(good) == 0:
        raise DataError("every position is an outlier or NaN: nothing to interpolate from")
    clean = x.copy()
    for k in range(3):
        clean[out_mask, k] = np.interp(np.flatnonzero(out_mask), good, x[good, k])
    return clean, out_mask


def fill_gaps(
    poses: np.ndarray, widths: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Interpolate flagged (NaN) frames: positions linearly, rotations by slerp, widths linearly.

    Frames before the first / after the last good one take the nearest good value. Returns
    the filled poses, widths and the boolean mask of frames that were filled (so that callers
    can report or weight them; nothing is hidden).
    """
    poses = np.asarray(poses, dtype=float)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise DataError(f"poses must have shape (T, 4, 4), got {poses.shape}")
    ok = np.isfinite(poses).all(axis=(1, 2))
    good = np.flatnonzero(ok)
    if len(good) == 0:
        raise DataError("no frame has a pose: nothing to fill from")
    t = np.arange(len(poses), dtype=float)
    tc = np.clip(t, good[0], good[-1])
    out = np.empty_like(poses)
    for k in range(3):
        out[:, k, 3] = np.interp(tc, good, poses[good, k, 3])
    if len(good) == 1:
        out[:, :3, :3] = poses[good[0], :3, :3]
    else:
        out[:, :3, :3] = Slerp(good.astype(float), Rotation.from_matrix(poses[good, :3, :3]))(
            tc
        ).as_matrix()
    out[:, 3] = [0, 0, 0, 1]
    w_out = None
    if widths is not None:
        w = np.asarray(widths, dtype=float)
        if w.shape != (len(poses),):
            raise DataError(f"widths must have shape ({len(poses)},), got {w.shape}")
        wg = np.flatnonzero(np.isfinite(w))
        if len(wg) == 0:
            raise DataError("no frame has a width: nothing to fill from")
        w_out = np.interp(t, wg, w[wg])
        ok = ok & np.isfinite(w)
    return out, w_out, ~ok


def resample_poses(
    poses: np.ndarray, source_rate: float, target_rate: float, widths: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Resample poses recorded at ``source_rate`` Hz to ``target_rate`` Hz (slerp + linear)."""
    poses = _check_poses(poses)
    if source_rate <= 0 or target_rate <= 0:
        raise ConfigError(f"rates must be positive, got {source_rate}, {target_rate}")
    t_src = np.arange(len(poses)) / source_rate
    n_out = int(np.floor(t_src[-1] * target_rate + 1e-9)) + 1
    t_out = np.arange(n_out) / target_rate
    out = np.zeros((n_out, 4, 4))
    for k in range(3):
        out[:, k, 3] = np.interp(t_out, t_src, poses[:, k, 3])
    if len(poses) == 1:
        out[:, :3, :3] = poses[0, :3, :3]
    else:
        out[:, :3, :3] = Slerp(t_src, Rotation.from_matrix(poses[:, :3, :3]))(t_out).as_matrix()
    out[:, 3, 3] = 1.0
    w = None
    if widths is not None:
        widths = np.asarray(widths, dtype=float)
        if widths.shape != (len(poses),):
            raise DataError(f"widths must have shape ({len(poses)},), got {widths.shape}")
        w = np.interp(t_out, t_src, widths)
    return out, w
