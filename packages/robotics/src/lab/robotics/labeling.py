"""The labelling pipeline: RGB-D frames -> fused cloud -> segmentation -> pose -> TCP poses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lab.core import DataError, progress

from .gripper import GripperModel
from .pose import PoseEstimator, PoseEstimatorConfig, PoseResult
from .rgbd import RGBDFrame
from .segmentation import GripperSegmentation, SegmentationConfig, segment_frames

__all__ = ["LabelledEpisode", "label_episode"]


@dataclass(frozen=True)
class LabelledEpisode:
    """Per-frame labels: gripper poses (T, 4, 4; NaN when flagged), TCP poses, widths (T,),
    statuses, fitness, RMSE, point counts and seconds per frame (segmentation + pose)."""

    poses: np.ndarray
    tcp_poses: np.ndarray
    widths: np.ndarray
    status: list[str]
    fitness: np.ndarray
    rmse: np.ndarray
    counts: list[dict[str, int]]
    seconds: np.ndarray
    pose_seconds: np.ndarray

    @property
    def flagged(self) -> np.ndarray:
        """Boolean mask of frames without a pose (too few points, empty, failed)."""
        return np.array([s not in ("init", "tracked", "reinit") for s in self.status])

    def to_json(self, path: str | Path) -> Path:
        """Write the labels as JSON (NaN as null), one record per frame."""
        rows = []
        for t in range(len(self.status)):

            def clean(x: Any) -> Any:
                arr = np.asarray(x, dtype=float)
                return (
                    [None if not np.isfinite(v) else float(v) for v in arr.ravel()]
                    if arr.ndim
                    else (None if not np.isfinite(arr) else float(arr))
                )

            rows.append(
                {
                    "frame": t,
                    "status": self.status[t],
                    "pose": clean(self.poses[t]),
                    "tcp_pose": clean(self.tcp_poses[t]),
                    "width": clean(self.widths[t]),
                    "fitness": clean(self.fitness[t]),
                    "rmse": clean(self.rmse[t]),
                    "counts": self.counts[t],
                    "seconds": float(self.seconds[t]),
                }
            )
        path = Path(path)
        path.write_text(json.dumps({"frames": rows}, indent=1) + "\n", encoding="utf-8")
        return path


def label_episode(
    frames: Sequence[Sequence[RGBDFrame]],
    model: GripperModel | None = None,
    *,
    segmentation: SegmentationConfig | None = None,
    pose: PoseEstimatorConfig | None = None,
    estimator: PoseEstimator | None = None,
    prior: np.ndarray | None = None,
    show_progress: bool = False,
) -> LabelledEpisode:
    """Label every frame (``frames[t][camera]``) of an episode with the gripper pose and width."""
    if not frames:
        raise DataError("label_episode needs at least one frame")
    model = model or (estimator.model if estimator is not None else GripperModel.default())
    est = estimator or PoseEstimator(model, pose)
    import time

    segs: list[GripperSegmentation] = []
    seg_time = []
    for per_t in progress(frames, desc="segment", disable=None if show_progress else True):
        t0 = time.perf_counter()
        segs.append(segment_frames(per_t, segmentation))
        seg_time.append(time.perf_counter() - t0)
    results: list[PoseResult] = est.estimate_sequence(segs, prior=prior, progress_bar=show_progress)
    poses = np.stack([r.pose for r in results])
    tcp = poses @ model.tcp[None]
    pose_s = np.array([r.seconds for r in results])
    return LabelledEpisode(
        poses,
        tcp,
        np.array([r.width for r in results]),
        [r.status for r in results],
        np.array([r.fitness for r in results]),
        np.array([r.rmse for r in results]),
        [dict(s.counts) for s in segs],
        np.asarray(seg_time) + pose_s,
        pose_s,
    )
