"""``lab robotics``: synth | label | train-bc | eval-bc.

Examples::

    lab robotics synth --out runs/synth --seed 0 --n-frames 30
    lab robotics label --input runs/synth --out runs/labels --robomimic runs/labels/demo.hdf5
    lab robotics train-bc --kind human --n-demos 10 --out runs/bc
    lab robotics eval-bc --run runs/bc/bc-human/<stamp> --n-rollouts 100
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab.core import (
    DataError,
    RunDir,
    add_config_arguments,
    config_from_args,
    config_from_dict,
    config_to_dict,
    get_device,
    load_checkpoint,
    set_seed,
)

from .actions import ActionConfig, fill_gaps, filter_outliers, resample_poses
from .imitation import (
    BCConfig,
    BCPolicy,
    ReachGraspConfig,
    collect_human_demos,
    collect_robot_demos,
    evaluate_policy,
    train_bc,
)
from .pose import PoseEstimatorConfig
from .robomimic import demo_from_poses, export_robomimic, read_robomimic
from .segmentation import SegmentationConfig
from .synthetic import SyntheticConfig

__all__ = ["LabelConfig", "main"]


@dataclass(frozen=True)
class LabelConfig:
    """Settings of ``lab robotics label`` (nested: ``--segmentation.*``, ``--pose.*``, ``--actions.*``)."""

    segmentation: SegmentationConfig = field(default_factory=lambda: SegmentationConfig())
    pose: PoseEstimatorConfig = field(default_factory=lambda: PoseEstimatorConfig())
    actions: ActionConfig = field(default_factory=lambda: ActionConfig())


def _cmd_synth(args: argparse.Namespace) -> int:
    from .rgbd import save_rgbd_folder
    from .synthetic import synthesize_episode

    cfg = config_from_args(SyntheticConfig, args)
    ep = synthesize_episode(cfg, seed=args.seed)
    out = save_rgbd_folder(args.out, ep.frames, depth_format=args.depth_format)
    (out / "ground_truth.json").write_text(
        json.dumps(
            {
                "poses": ep.poses.tolist(),
                "tcp_poses": ep.tcp_poses.tolist(),
                "widths": ep.widths.tolist(),
                "config": config_to_dict(cfg),
                "seed": args.seed,
            }
        )
        + "\n"
    )
    print(f"wrote {len(ep.frames)} frames x {cfg.n_cameras} cameras to {out}")
    return 0


def _cmd_label(args: argparse.Namespace) -> int:
    from .gripper import GripperModel
    from .labeling import label_episode
    from .metrics import error_summary, pose_errors
    from .rgbd import load_rgbd_folder

    cfg = config_from_args(LabelConfig, args)
    frames = load_rgbd_folder(args.input)
    if args.gripper_mesh:
        model = GripperModel.from_mesh(
            args.gripper_mesh, tcp_offset=args.tcp_offset, scale=args.mesh_scale
        )
    else:
        model = GripperModel.default()
    lab = label_episode(
        frames, model, segmentation=cfg.segmentation, pose=cfg.pose, show_progress=True
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lab.to_json(out / "labels.json")
    statuses = {s: lab.status.count(s) for s in sorted(set(lab.status))}
    summary: dict[str, object] = {
        "frames": len(lab.status),
        "statuses": statuses,
        "seconds_per_frame": float(np.mean(lab.seconds)),
    }
    gt_path = Path(args.input) / "ground_truth.json"
    if gt_path.is_file():
        gt = json.loads(gt_path.read_text())
        r, t = pose_errors(lab.poses, np.asarray(gt["poses"]))
        summary["errors"] = error_summary(r, t)
    if args.robomimic:
        poses, widths, filled = fill_gaps(lab.tcp_poses, lab.widths)
        assert widths is not None
        clean, outliers = filter_outliers(
            poses[:, :3, 3],
            window=cfg.actions.outlier_window,
            threshold=cfg.actions.outlier_threshold,
        )
        poses[:, :3, 3] = clean
        if args.policy_rate is not None:
            poses, widths = resample_poses(poses, args.camera_rate, args.policy_rate, widths=widths)
            assert widths is not None
        demo = demo_from_poses(poses, widths, config=cfg.actions)
        summary["outlier_frames"] = int(outliers.sum())
        summary["action_steps"] = len(demo.actions)
        export_robomimic(args.robomimic, [demo])
        summary["robomimic"] = str(args.robomimic)
        summary["filled_frames"] = int(filled.sum())
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    bc = config_from_args(BCConfig, args)
    get_device(args.device)  # validate the device before any work or run folder
    for p in args.hdf5 or []:
        if not Path(p).is_file():
            raise DataError(f"demonstrations file {str(p)!r} does not exist")
    set_seed(bc.seed)
    env_cfg = ReachGraspConfig()
    if args.resume:
        run = RunDir.open(args.resume)
        saved = run.load_config_dict()
        demos = read_robomimic(run.path / "demos.hdf5")
        bc = config_from_dict(BCConfig, saved["bc"])
    else:
        if args.hdf5:
            demos = [d for p in args.hdf5 for d in read_robomimic(p)]
        else:
            demos = []
            if args.kind in ("robot", "both"):
                demos += collect_robot_demos(args.n_demos, env_cfg, seed=bc.seed)
            if args.kind in ("human", "both"):
                human, stats = collect_human_demos(
                    args.n_demos, env_cfg, seed=bc.seed, show_progress=True
                )
                print(f"human demo labels: {stats}")
                demos += human
        run = RunDir.create(
            f"bc-{args.kind}",
            root=args.out,
            config={"bc": config_to_dict(bc), "kind": args.kind, "n_demos": args.n_demos},
        )
        export_robomimic(run.path / "demos.hdf5", demos, env_name="labworks_reach_grasp")
    train_bc(
        demos, bc, device=args.device, run_dir=run, resume=bool(args.resume), show_progress=True
    )
    print(f"trained on {len(demos)} demos; checkpoints in {run.checkpoints}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    run = RunDir.open(args.run)
    bc = config_from_dict(BCConfig, run.load_config_dict()["bc"])
    ckpt = run.latest_checkpoint()
    if ckpt is None:
        raise DataError(f"run {str(run.path)!r} has no checkpoint")
    dev = get_device(args.device)
    policy = BCPolicy(15, 7, bc.hidden, bc.layers).to(dev)
    load_checkpoint(ckpt, model=policy, map_location=dev, restore_rng=False)
    rate = evaluate_policy(
        policy.eval(), ReachGraspConfig(), n_rollouts=args.n_rollouts, seed=args.seed
    )
    print(
        json.dumps({"checkpoint": str(ckpt), "success_rate": rate, "n_rollouts": args.n_rollouts})
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lab robotics",
        description="Pose labels for human demonstrations "
        "from RGB-D (Open3D) and imitation learning.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="render a synthetic RGB-D episode with ground truth")
    s.add_argument("--out", type=Path, required=True, help="output folder")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--depth-format", choices=["png", "npy"], default="png")
    add_config_arguments(s, SyntheticConfig)
    s.set_defaults(func=_cmd_synth)

    lb = sub.add_parser("label", help="label an RGB-D folder with gripper poses and widths")
    lb.add_argument(
        "--input", type=Path, required=True, help="RGB-D folder (see lab.robotics.rgbd)"
    )
    lb.add_argument(
        "--out", type=Path, required=True, help="output folder for labels.json, summary.json"
    )
    lb.add_argument(
        "--robomimic", type=Path, default=None, help="also export actions to this HDF5 file"
    )
    lb.add_argument(
        "--gripper-mesh", type=Path, default=None, help=".ply/.obj/.stl of your gripper"
    )
    lb.add_argument(
        "--tcp-offset", type=float, nargs=3, default=(0.0, 0.0, 0.0), help="TCP in the mesh frame"
    )
    lb.add_argument("--mesh-scale", type=float, default=1.0, help="mesh unit scale (0.001 for mm)")
    lb.add_argument(
        "--camera-rate", type=float, default=30.0, help="frame rate of the recording (Hz)"
    )
    lb.add_argument(
        "--policy-rate", type=float, default=None, help="resample the labels to this rate (Hz)"
    )
    add_config_arguments(lb, LabelConfig)
    lb.set_defaults(func=_cmd_label)

    t = sub.add_parser("train-bc", help="train a behaviour-cloning policy on robot/human demos")
    t.add_argument("--kind", choices=["robot", "human", "both"], default="robot")
    t.add_argument("--n-demos", type=int, default=20, help="demos per kind")
    t.add_argument(
        "--hdf5", type=Path, nargs="+", default=None, help="train on robomimic files instead"
    )
    t.add_argument("--out", type=Path, default=Path("runs"), help="root of the run folder")
    t.add_argument("--resume", type=Path, default=None, help="resume this run folder")
    t.add_argument("--device", default="auto")
    add_config_arguments(t, BCConfig)  # --seed seeds demos, initialisation and shuffling
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval-bc", help="success rate of a trained policy over seeded rollouts")
    e.add_argument("--run", type=Path, required=True, help="run folder written by train-bc")
    e.add_argument("--n-rollouts", type=int, default=100)
    e.add_argument("--seed", type=int, default=10_000)
    e.add_argument("--device", default="auto")
    e.set_defaults(func=_cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lab robotics``."""
    args = _parser().parse_args(argv)
    return int(args.func(args))
