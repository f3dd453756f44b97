"""Colour segmentation of the gripper: HSV thresholds per part, then DBSCAN.

As in the paper, the gripper's known colours are thresholded and DBSCAN (eps 0.02 m, min 20
points) keeps the largest cluster, which removes same-coloured clutter elsewhere in the scene.
The paper thresholds RGB; we threshold hue (with saturation/value floors) per part, which
survives shading and renderer post-processing that shift RGB values (OURS, see
:class:`SegmentationConfig`). Point counts are reported per part, and a frame with too few
gripper points gets ``status="too_few_points"`` (or ``"empty"``): it is flagged, never dropped.

The body-point minimum scales with the image resolution (``min_body_points`` is per
``reference_pixels`` of fused image area, OURS): a small green distractor covers four times as
many pixels at 640x480 as at 320x240 and must not pass a fixed count. :func:`segment_frames`
fuses a time step's camera frames and segments them, recording the camera centres (the pose
estimator uses them to predict which model surface should be visible) and the pixel count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial import cKDTree

from lab.core import ConfigError, DataError

from ._open3d import o3d

if TYPE_CHECKING:
    from .rgbd import RGBDFrame

__all__ = [
    "GripperSegmentation",
    "SegmentationConfig",
    "rgb_to_hsv",
    "segment_frames",
    "segment_gripper",
]


@dataclass(frozen=True)
class SegmentationConfig:
    """Colour thresholds and clustering for :func:`segment_gripper`.

    Attributes:
        body_hue: hue (degrees) of the hand and handle (paper: pure green, 120).
        finger_a_hue: hue of the first finger (paper: cyan, 180).
        finger_b_hue: hue of the second finger (paper: magenta, 300).
        hue_tolerance: accepted hue distance in degrees (OURS).
        min_saturation: HSV saturation floor in [0, 1] (OURS).
        min_value: HSV value floor in [0, 1] (OURS).
        dbscan_eps: DBSCAN neighbourhood radius in metres (paper: 0.02).
        dbscan_min_points: DBSCAN core-point count (paper: 20).
        dbscan_voxel: run DBSCAN on representatives of this voxel size (m) and label every
            point like its nearest representative (OURS, for speed: Open3D's DBSCAN on every
            pixel of a 2 cm neighbourhood is slow); 0 clusters all points as the paper does.
        attach_distance: also keep clusters that come within this distance (m) of the largest
            one (OURS: the paper keeps the largest cluster only, but a finger whose root is
            hidden by the palm forms its own cluster; 0 restores the paper's rule).
        min_body_points: fewer body points than this flags the frame ``too_few_points``, per
            ``reference_pixels`` of image area (OURS).
        reference_pixels: image area (pixels, all fused cameras together) at which
            ``min_body_points`` applies; the threshold grows in proportion to the actual area
            when it is known (:func:`segment_frames`, or ``pixels=``). Default one 320x240
            image. None: a fixed ``min_body_points`` whatever the resolution (before issue 22).
        max_depth: camera depth (m, along each camera's optical axis, the meaning of
            :func:`~lab.robotics.frame_to_point_cloud`'s ``max_depth``) beyond which pixels are
            ignored; applied when the cloud is built, so it needs :func:`segment_frames`
            (a bare world-frame cloud has no camera depth). None keeps all.
    """

    body_hue: float = 120.0
    finger_a_hue: float = 180.0
    finger_b_hue: float = 300.0
    hue_tolerance: float = 20.0
    min_saturation: float = 0.5
    min_value: float = 0.15
    dbscan_eps: float = 0.02
    dbscan_min_points: int = 20
    dbscan_voxel: float = 0.004
    attach_distance: float = 0.03
    min_body_points: int = 100
    reference_pixels: int | None = 320 * 240
    max_depth: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.hue_tolerance < 90:
            raise ConfigError(f"hue_tolerance must be in (0, 90) degrees, got {self.hue_tolerance}")
        for n in ("min_saturation", "min_value"):
            if not 0 <= getattr(self, n) <= 1:
                raise ConfigError(f"{n} must be in [0, 1], got {getattr(self, n)}")
        if self.dbscan_eps <= 0 or self.dbscan_min_points < 1 or self.min_body_points < 1:
            raise ConfigError(
                f"need dbscan_eps > 0, dbscan_min_points >= 1, min_body_points >= 1; got "
                f"{self.dbscan_eps}, {self.dbscan_min_points}, {self.min_body_points}"
            )
        if self.reference_pixels is not None and self.reference_pixels < 1:
            raise ConfigError(f"reference_pixels must be >= 1 or None, got {self.reference_pixels}")
        if self.max_depth is not None and not self.max_depth > 0:
            raise ConfigError(f"max_depth must be positive, got {self.max_depth}")

    def body_point_threshold(self, pixels: int | None) -> int:
        """``min_body_points`` scaled to ``pixels`` of image area (unscaled when unknown)."""
        if pixels is None or self.reference_pixels is None:
            return self.min_body_points
        return max(
            self.min_body_points,
            int(np.ceil(self.min_body_points * pixels / self.reference_pixels)),
        )

    def hues(self) -> dict[str, float]:
        return {"body": self.body_hue, "finger_a": self.finger_a_hue, "finger_b": self.finger_b_hue}


@dataclass(frozen=True)
class GripperSegmentation:
    """Result of :func:`segment_gripper`.

    Attributes:
        parts: ``body``, ``finger_a``, ``finger_b`` -> Open3D point clouds (kept points).
        indices: the same parts as index arrays into the input cloud.
        counts: kept points per part (after DBSCAN).
        colour_counts: points per part that passed the colour test (before DBSCAN).
        status: ``"ok"``, ``"too_few_points"`` (fewer body points than the threshold) or ``"empty"``.
        message: why a frame is flagged.
        viewpoints: (k, 3) world positions of the cameras that saw the cloud, when known.
        frames: the camera frames the cloud was fused from (:func:`segment_frames`), when
            known: the pose estimator projects the model into their depth images.
        min_body_points: the body-point threshold that was applied (after resolution scaling).
    """

    parts: dict[str, Any]
    indices: dict[str, np.ndarray]
    counts: dict[str, int]
    colour_counts: dict[str, int]
    status: str
    message: str = field(default="")
    viewpoints: np.ndarray | None = None
    min_body_points: int = 0
    frames: tuple[RGBDFrame, ...] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def cloud(self, parts: tuple[str, ...] = ("body", "finger_a", "finger_b")) -> Any:
        """The named parts merged into one point cloud."""
        out = o3d().geometry.PointCloud()
        for p in parts:
            out += self.parts[p]
        return out


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """(n, 3) RGB in [0, 1] -> (n, 3) HSV with hue in degrees [0, 360), S and V in [0, 1]."""
    rgb = np.asarray(rgb, dtype=float)
    mx = rgb.max(axis=-1)
    mn = rgb.min(axis=-1)
    c = mx - mn
    safe = np.where(c > 1e-12, c, 1.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    h = np.where(
        mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)
    )
    h = np.where(c > 1e-12, h * 60.0 % 360.0, 0.0)
    s = np.where(mx > 1e-12, c / np.where(mx > 1e-12, mx, 1.0), 0.0)
    return np.stack([h, s, mx], axis=-1)


def segment_frames(
    frames: Sequence[RGBDFrame], config: SegmentationConfig | None = None
) -> GripperSegmentation:
    """Fuse one time step's camera frames (``max_depth`` applied per camera) and segment them.

    The result carries the camera centres and the total pixel count, so the body-point
    threshold scales with resolution and the pose estimator can check the visible surface.
    """
    from .rgbd import fuse_point_clouds

    cfg = config or SegmentationConfig()
    if not frames:
        raise DataError("segment_frames needs at least one camera frame")
    cloud = fuse_point_clouds(frames, max_depth=cfg.max_depth)
    seg = segment_gripper(
        cloud,
        cfg,
        viewpoints=np.stack([np.asarray(f.cam_to_world, float)[:3, 3] for f in frames]),
        pixels=sum(f.intrinsics.width * f.intrinsics.height for f in frames),
        _depth_applied=True,
    )
    return replace(seg, frames=tuple(frames))


def segment_gripper(
    cloud: Any,
    config: SegmentationConfig | None = None,
    *,
    viewpoints: np.ndarray | None = None,
    pixels: int | None = None,
    _depth_applied: bool = False,
) -> GripperSegmentation:
    """Segment the gripper's parts in a coloured Open3D point cloud.

    Points whose hue is within ``hue_tolerance`` of a part's hue (and bright and saturated
    enough) are candidates; DBSCAN over all candidates keeps the largest cluster. Returns the
    kept points per part, their counts and a status; never raises for a gripper-free frame.

    Args:
        cloud: coloured world-frame point cloud (e.g. :func:`~lab.robotics.fuse_point_clouds`).
        config: :class:`SegmentationConfig`.
        viewpoints: optional (k, 3) camera centres in the world (enables the pose estimator's
            visible-surface check; :func:`segment_frames` fills it in).
        pixels: image area behind the cloud (all cameras), for the body-point threshold.
    """
    cfg = config or SegmentationConfig()
    if cfg.max_depth is not None and not _depth_applied:
        raise ConfigError(
            f"max_depth={cfg.max_depth} is a camera depth and a fused cloud has none: use "
            "segment_frames(frames, config) or fuse_point_clouds(frames, max_depth=...)"
        )
    if viewpoints is not None:
        viewpoints = np.asarray(viewpoints, dtype=float).reshape(-1, 3)
    if pixels is not None and pixels < 1:
        raise DataError(f"pixels must be positive, got {pixels}")
    if not hasattr(cloud, "points"):
        raise DataError(
            f"segment_gripper needs an open3d.geometry.PointCloud, got {type(cloud).__name__}"
        )
    pts = np.asarray(cloud.points)
    if len(pts) and not cloud.has_colors():
        raise DataError(
            "segment_gripper needs a coloured point cloud (cloud.has_colors() is False)"
        )
    cols = np.asarray(cloud.colors) if len(pts) else np.zeros((0, 3))
    names = ("body", "finger_a", "finger_b")
    # Saturation/value first (cheap), hue only for the survivors.
    mx, mn = cols.max(axis=1), cols.min(axis=1)
    bright = (mx >= cfg.min_value) & (mx - mn >= cfg.min_saturation * mx)
    sel = np.flatnonzero(bright)
    hsv = rgb_to_hsv(cols[sel])
    ok = (hsv[:, 1] >= cfg.min_saturation) & (hsv[:, 2] >= cfg.min_value)
    part_of = np.full(len(pts), -1)
    for i, n in enumerate(names):
        d = np.abs((hsv[:, 0] - cfg.hues()[n] + 180.0) % 360.0 - 180.0)
        part_of[sel[ok & (d <= cfg.hue_tolerance)]] = i
    colour_counts = {n: int((part_of == i).sum()) for i, n in enumerate(names)}
    cand = np.flatnonzero(part_of >= 0)
    keep = np.zeros(0, dtype=int)
    if len(cand) >= cfg.dbscan_min_points:
        sub = cloud.select_by_index(cand.tolist())
        if cfg.dbscan_voxel > 0:
            # Cluster voxel representatives, then give each point its representative's label.
            down = sub.voxel_down_sample(cfg.dbscan_voxel)
            lab_d = np.asarray(
                down.cluster_dbscan(eps=cfg.dbscan_eps, min_points=cfg.dbscan_min_points)
            )
            nearest = cKDTree(np.asarray(down.points)).query(pts[cand], k=1)[1]
            lab = lab_d[nearest]
        else:
            lab = np.asarray(
                sub.cluster_dbscan(eps=cfg.dbscan_eps, min_points=cfg.dbscan_min_points)
            )
        if (lab >= 0).any():
            largest = np.bincount(lab[lab >= 0]).argmax()
            kept = lab == largest
            if cfg.attach_distance > 0:
                tree = cKDTree(pts[cand[kept]])
                for c in np.unique(lab[(lab >= 0) & ~kept]):
                    members = lab == c
                    if tree.query(pts[cand[members]], k=1)[0].min() <= cfg.attach_distance:
                        kept |= members
            keep = cand[kept]
    indices = {n: keep[part_of[keep] == i] for i, n in enumerate(names)}
    parts = {n: cloud.select_by_index(idx.tolist()) for n, idx in indices.items()}
    counts = {n: len(idx) for n, idx in indices.items()}
    need = cfg.body_point_threshold(pixels)
    if len(keep) == 0:
        status, msg = "empty", f"no gripper-coloured cluster (colour candidates: {colour_counts})"
    elif counts["body"] < need:
        status, msg = (
            "too_few_points",
            f"{counts['body']} body points < {need} (min_body_points={cfg.min_body_points} "
            f"per {cfg.reference_pixels} pixels, {pixels} pixels)",
        )
    else:
        status, msg = "ok", ""
    return GripperSegmentation(parts, indices, counts, colour_counts, status, msg, viewpoints, need)
