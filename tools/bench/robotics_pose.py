"""Benchmark: gripper pose labels from synthetic RGB-D, ours vs the Open3D tutorial pipeline.

Ours: :class:`lab.robotics.PoseEstimator` (candidate competition for the first frame, then
multi-scale ICP tracking with fallback). Baseline (named): the Open3D global-registration
tutorial pipeline run independently on every frame: one FPFH + RANSAC call (mutual filter,
3-point, edge-length 0.9 + distance checkers, 100000 iterations, confidence 0.999, distance
1.5 voxels) then point-to-plane ICP at 0.4 voxels, as in
http://www.open3d.org/docs/release/tutorial/pipelines/global_registration.html.
Both get the same segmented points and the same voxel size (the paper's 2 mm).

Scored separately: global initialisation (the first frame of each episode) and tracking (the
other frames): median and 95th percentile rotation/translation errors, success within
2 deg / 5 mm, seconds per frame. Writes runs/bench/robotics_pose.json and a plot.

    python tools/bench/robotics_pose.py                 # CPU: 50 episodes x 5 frames, 320x240, 2 cameras
    python tools/bench/robotics_pose.py --paper         # 100 episodes x 20 frames, 640x480, 3 cameras
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from lab.core import progress
from lab.robotics import (
    GripperModel,
    PoseEstimator,
    PoseEstimatorConfig,
    SyntheticConfig,
    error_summary,
    pose_errors,
    segment_frames,
    synthesize_episode,
)
from lab.robotics.transforms import invert_pose


class TutorialBaseline:
    """Open3D's global-registration tutorial: FPFH + RANSAC, then point-to-plane ICP, per frame."""

    def __init__(self, model: GripperModel, voxel: float, seed: int):
        import open3d as o3d

        self.o3d = o3d
        self.voxel = voxel
        self.seed = seed
        self.target = model.point_cloud(voxel, seed=seed)
        self.target_fpfh = self._fpfh(self.target)

    def _fpfh(self, pcd):  # type: ignore[no-untyped-def]
        reg = self.o3d.pipelines.registration
        return reg.compute_fpfh_feature(
            pcd, self.o3d.geometry.KDTreeSearchParamHybrid(radius=5 * self.voxel, max_nn=100)
        )

    def estimate(self, seg, frame: int):  # type: ignore[no-untyped-def]
        o3d = self.o3d
        reg = o3d.pipelines.registration
        t0 = time.perf_counter()
        if not seg.ok:
            return np.full((4, 4), np.nan), time.perf_counter() - t0
        src = seg.cloud(("body",)).voxel_down_sample(self.voxel)
        src.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=2 * self.voxel, max_nn=30))
        fpfh = self._fpfh(src)
        d = 1.5 * self.voxel
        o3d.utility.random.seed(self.seed * 1000 + frame)
        ransac = reg.registration_ransac_based_on_feature_matching(
            src,
            self.target,
            fpfh,
            self.target_fpfh,
            True,
            d,
            reg.TransformationEstimationPointToPoint(False),
            3,
            [
                reg.CorrespondenceCheckerBasedOnEdgeLength(0.9),
                reg.CorrespondenceCheckerBasedOnDistance(d),
            ],
            reg.RANSACConvergenceCriteria(100000, 0.999),
        )
        icp = reg.registration_icp(
            src,
            self.target,
            0.4 * self.voxel,
            ransac.transformation,
            reg.TransformationEstimationPointToPlane(),
        )
        return invert_pose(np.asarray(icp.transformation)), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--paper", action="store_true", help="paper-sized images, cameras and episodes")
    p.add_argument("--episodes", type=int, default=None)
    p.add_argument("--frames", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = p.parse_args(argv)
    # Hand motion of a demonstration filmed at ~30 Hz: a few mm and degrees per frame; every
    # episode starts at a random yaw (episode_yaw_range_deg) and tilt, so initialisation is global.
    motion = {
        "n_waypoints": 2,
        "position_range": 0.03,
        "rotation_range_deg": 25.0,
        "yaw_range_deg": 15.0,
        "episode_yaw_range_deg": 180.0,
    }
    if args.paper:
        syn = SyntheticConfig(
            width=640, height=480, n_cameras=3, n_frames=args.frames or 20, **motion
        )
        episodes = args.episodes or 100
    else:
        syn = SyntheticConfig(
            width=320, height=240, n_cameras=2, n_frames=args.frames or 5, **motion
        )
        episodes = args.episodes or 50
    model = GripperModel.default()
    cfg = PoseEstimatorConfig(seed=args.seed)
    base = TutorialBaseline(model, cfg.voxel_size, args.seed)
    rows = {
        "ours": {"rot": [], "trans": [], "sec": [], "init": []},
        "tutorial": {"rot": [], "trans": [], "sec": [], "init": []},
    }
    seg_sec, statuses = [], []
    for e in progress(range(episodes), desc="episodes", disable=False):
        ep = synthesize_episode(syn, seed=args.seed * 10_000 + e, gripper=model)
        segs = []
        for frames in ep.frames:
            t0 = time.perf_counter()
            segs.append(segment_frames(frames))
            seg_sec.append(time.perf_counter() - t0)
        est = PoseEstimator(model, cfg)  # a fresh estimator per episode: no state carried over
        res = est.estimate_sequence(segs)
        statuses += [r.status for r in res]
        r, t = pose_errors(np.stack([x.pose for x in res]), ep.poses)
        rows["ours"]["rot"] += r.tolist()
        rows["ours"]["trans"] += t.tolist()
        rows["ours"]["sec"] += [x.seconds for x in res]
        rows["ours"]["init"] += [True] + [False] * (len(res) - 1)
        for i, s in enumerate(segs):
            pose, sec = base.estimate(s, e * 1000 + i)
            r, t = pose_errors(pose, ep.poses[i])
            rows["tutorial"]["rot"].append(float(r))
            rows["tutorial"]["trans"].append(float(t))
            rows["tutorial"]["sec"].append(sec)
            rows["tutorial"]["init"].append(i == 0)
    result: dict[str, object] = {
        "command": "python tools/bench/robotics_pose.py" + (" --paper" if args.paper else ""),
        "episodes": episodes,
        "frames_per_episode": syn.n_frames,
        "image": f"{syn.width}x{syn.height}",
        "cameras": syn.n_cameras,
        "omp_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "segmentation_seconds_per_frame": float(np.median(seg_sec)),
        "ours_statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
    }
    for name, d in rows.items():
        init = np.array(d["init"])
        rot, trans, sec = np.array(d["rot"]), np.array(d["trans"]), np.array(d["sec"])
        result[name] = {
            "init": error_summary(rot[init], trans[init]),
            "tracking": error_summary(rot[~init], trans[~init]),
            "init_seconds_median": float(np.median(sec[init])),
            "tracking_seconds_median": float(np.median(sec[~init])),
        }
    o, b = result["ours"], result["tutorial"]
    result["ratios_tutorial_over_ours"] = {
        "tracking_rot_median": b["tracking"]["rot_median_deg"] / o["tracking"]["rot_median_deg"],
        "tracking_trans_median": b["tracking"]["trans_median_mm"]
        / o["tracking"]["trans_median_mm"],
        "tracking_seconds": b["tracking_seconds_median"] / o["tracking_seconds_median"],
        "init_success_ours_minus_tutorial": o["init"]["success_rate"] - b["init"]["success_rate"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = "robotics_pose" + ("_paper" if args.paper else "")
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=100)
        for nm, d in rows.items():
            init = np.array(d["init"])
            for ax, key, scale, unit in (
                (axes[0], "rot", 1.0, "deg"),
                (axes[1], "trans", 1000.0, "mm"),
            ):
                v = np.sort(np.nan_to_num(np.array(d[key])[~init] * scale, nan=1e3))
                ax.plot(v, np.arange(1, len(v) + 1) / len(v), label=f"{nm} (tracking frames)")
                ax.set_xscale("log")
                ax.set_xlabel(f"error ({unit})")
        axes[0].set_ylabel("fraction of frames")
        axes[0].legend()
        fig.tight_layout()
        fig.savefig(args.out / f"{name}.png")
        plt.close(fig)
    except ImportError:
        pass
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
