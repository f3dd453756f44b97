"""``lab demo`` for robotics: label a short synthetic demonstration and score the labels."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from lab.core.report import DemoResult, demo_size, line_plot, pyplot, save_figure

from .gripper import GripperModel
from .labeling import label_episode
from .metrics import error_summary, pose_errors
from .pose import PoseEstimator, PoseEstimatorConfig
from .rgbd import RGBDFrame
from .synthetic import SyntheticConfig, synthesize_episode

__all__ = ["demo"]


def demo(out_dir: Path, *, device: torch.device, seed: int) -> DemoResult:
    """Render a 16-frame two-camera episode, blank one frame (occlusion), label it, plot errors.

    The labelling runs on Open3D's CPU pipeline whatever ``device`` is (Open3D registration is
    CPU code); ``device`` is accepted for the common demo signature.
    """
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # `lab demo --size tiny` (a smoke run): 10 frames instead of 16, same resolution
    cfg = SyntheticConfig(n_frames=10 if demo_size() == "tiny" else 16, width=256, height=192)
    model = GripperModel.default()
    ep = synthesize_episode(cfg, seed=seed, gripper=model)
    frames = [list(f) for f in ep.frames]
    blank = 8  # a fully occluded frame: it must be flagged, not dropped
    frames[blank] = [
        RGBDFrame(f.color, np.zeros_like(f.depth), f.intrinsics, f.cam_to_world, f.name)
        for f in frames[blank]
    ]
    est = PoseEstimator(model, PoseEstimatorConfig.fast(seed=seed))
    lab = label_episode(frames, model, estimator=est)
    rot, trans = pose_errors(lab.poses, ep.poses)
    init = error_summary(rot[:1], trans[:1])
    track = error_summary(rot[1:], trans[1:])
    width_err = np.abs(lab.widths - ep.widths) * 1000
    t = np.arange(len(rot))
    plots = [
        line_plot(
            out_dir / "robotics_pose_errors.png",
            {
                "rotation (deg)": (t.tolist(), np.nan_to_num(rot, nan=-1.0).tolist()),
                "translation (mm)": (t.tolist(), np.nan_to_num(trans * 1000, nan=-1.0).tolist()),
            },
            title="label errors per frame (-1 = flagged frame)",
            xlabel="frame",
            ylabel="error",
        ),
    ]
    plt = pyplot("labworks-robotics[plots]")

    fig, axes = plt.subplots(1, 3, figsize=(10, 3), dpi=100)
    for k, ax in enumerate(axes):
        ax.plot(t, ep.tcp_poses[:, k, 3] * 1000, label="truth")
        ax.plot(t, lab.tcp_poses[:, k, 3] * 1000, "o", ms=3, label="label")
        ax.set_title("xyz"[k] + " of the TCP (mm)")
        ax.set_xlabel("frame")
    axes[0].legend()
    plots.append(save_figure(fig, out_dir / "robotics_tcp_trajectory.png"))
    metrics = {
        "frames": len(rot),
        "flagged_frames": int(lab.flagged.sum()),
        "blank_frame_status": lab.status[blank],
        "init_rot_deg": init["rot_median_deg"],
        "init_trans_mm": init["trans_median_mm"],
        "track_rot_median_deg": track["rot_median_deg"],
        "track_trans_median_mm": track["trans_median_mm"],
        "track_rot_p95_deg": track["rot_p95_deg"],
        "track_trans_p95_mm": track["trans_p95_mm"],
        "width_err_median_mm": float(np.nanmedian(width_err)),
        "seconds_per_tracked_frame": float(np.median(lab.seconds[1:])),
    }
    summary = (
        f"Labelled a synthetic 2-camera demonstration: tracking median error "
        f"{track['rot_median_deg']:.3f} deg / {track['trans_median_mm']:.3f} mm; the blanked frame "
        f"{blank} is flagged `{lab.status[blank]}` and kept in place."
    )
    return DemoResult(
        "pose labels for a human demonstration (synthetic RGB-D)",
        metrics,
        plots,
        summary,
        time.perf_counter() - t0,
    )
