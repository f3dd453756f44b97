"""Rigid transforms as 4x4 numpy arrays (rotations through :mod:`scipy.spatial.transform`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from lab.core import ConfigError, DataError

__all__ = ["check_pose", "invert_pose", "look_at", "make_pose", "transform_points"]


def make_pose(
    rotation: np.ndarray | Rotation | None = None,
    translation: Sequence[float] | np.ndarray = (0.0, 0.0, 0.0),
) -> np.ndarray:
    """A 4x4 pose from a 3x3 matrix (or scipy Rotation) and a translation."""
    out = np.eye(4)
    if isinstance(rotation, Rotation):
        out[:3, :3] = rotation.as_matrix()
    elif rotation is not None:
        out[:3, :3] = np.asarray(rotation, dtype=float)
    out[:3, 3] = np.asarray(translation, dtype=float)
    return out


def check_pose(pose: np.ndarray, name: str = "pose") -> np.ndarray:
    """Return ``pose`` as float array after checking it is a finite 4x4 rigid transform."""
    p = np.asarray(pose, dtype=float)
    if p.shape != (4, 4):
        raise DataError(f"{name} must be 4x4, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise DataError(f"{name} has non-finite entries")
    r = p[:3, :3]
    if (
        not np.allclose(r @ r.T, np.eye(3), atol=1e-5)
        or np.linalg.det(r) < 0
        or not np.allclose(p[3], [0, 0, 0, 1])
    ):
        raise DataError(f"{name} is not a rigid transform: {p.tolist()}")
    return p


def invert_pose(pose: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 transform (or a stack (..., 4, 4))."""
    p = np.asarray(pose, dtype=float)
    out = np.zeros_like(p)
    rt = np.swapaxes(p[..., :3, :3], -1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rt, p[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def transform_points(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to (n, 3) points."""
    return np.asarray(points) @ pose[:3, :3].T + pose[:3, 3]


def look_at(
    eye: Sequence[float] | np.ndarray,
    target: Sequence[float] | np.ndarray,
    up: Sequence[float] | np.ndarray = (0.0, 0.0, 1.0),
) -> np.ndarray:
    """Camera-to-world pose of a camera at ``eye`` looking at ``target`` (OpenCV axes: x right,
    y down, z forward)."""
    eye_a, target_a, up_a = (np.asarray(v, dtype=float) for v in (eye, target, up))
    z = target_a - eye_a
    if np.linalg.norm(z) < 1e-9:
        raise ConfigError(f"look_at: eye {eye_a.tolist()} equals target")
    z /= np.linalg.norm(z)
    x = np.cross(z, up_a)
    if np.linalg.norm(x) < 1e-9:
        raise ConfigError(
            f"look_at: viewing direction {z.tolist()} is parallel to up {up_a.tolist()}"
        )
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return make_pose(np.stack([x, y, z], axis=1), eye_a)
