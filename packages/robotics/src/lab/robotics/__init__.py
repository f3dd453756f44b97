"""lab.robotics: precise end-effector pose labels for human demonstrations, and imitation learning.

Implements "Imitation Learning with Precisely Labeled Human Demonstrations" (Song, 2025): a
hand-held gripper painted in known colours (hand green, fingers cyan and magenta) is segmented
in fused RGB-D point clouds, its model is registered by FPFH + RANSAC (made robust by candidate
competition) and multi-scale point-to-plane ICP, frames are tracked by ICP, and the poses
become robomimic-style action labels for imitation learning. Open3D does the geometry; pick the
``[cpu]`` (open3d-cpu) or ``[gpu]`` (open3d) extra. Open3D is imported only when first used.
"""

from __future__ import annotations

from .actions import (
    ActionConfig,
    action_dim,
    actions_to_poses,
    fill_gaps,
    filter_outliers,
    matrix_to_rot6d,
    poses_to_actions,
    resample_poses,
    rot6d_to_matrix,
)
from .gripper import GripperConfig, GripperModel
from .imitation import (
    BCConfig,
    BCPolicy,
    DemoConfig,
    ReachGraspConfig,
    ReachGraspEnv,
    collect_human_demos,
    collect_robot_demos,
    evaluate_policy,
    expert_action,
    train_bc,
)
from .labeling import LabelledEpisode, label_episode
from .metrics import error_summary, pose_errors
from .pose import PoseEstimator, PoseEstimatorConfig, PoseResult, estimate_width, kabsch
from .rgbd import (
    CameraIntrinsics,
    RGBDFrame,
    frame_to_point_cloud,
    fuse_point_clouds,
    load_rgbd_folder,
    save_rgbd_folder,
)
from .robomimic import Demo, demo_from_poses, export_robomimic, read_robomimic
from .segmentation import (
    GripperSegmentation,
    SegmentationConfig,
    rgb_to_hsv,
    segment_frames,
    segment_gripper,
)
from .synthetic import SyntheticConfig, SyntheticEpisode, random_trajectory, synthesize_episode
from .transforms import check_pose, invert_pose, look_at, make_pose, transform_points

__all__ = [
    "ActionConfig",
    "BCConfig",
    "BCPolicy",
    "CameraIntrinsics",
    "Demo",
    "DemoConfig",
    "GripperConfig",
    "GripperModel",
    "GripperSegmentation",
    "LabelledEpisode",
    "PoseEstimator",
    "PoseEstimatorConfig",
    "PoseResult",
    "RGBDFrame",
    "ReachGraspConfig",
    "ReachGraspEnv",
    "SegmentationConfig",
    "SyntheticConfig",
    "SyntheticEpisode",
    "action_dim",
    "actions_to_poses",
    "check_pose",
    "collect_human_demos",
    "collect_robot_demos",
    "demo_from_poses",
    "error_summary",
    "estimate_width",
    "evaluate_policy",
    "expert_action",
    "export_robomimic",
    "fill_gaps",
    "filter_outliers",
    "frame_to_point_cloud",
    "fuse_point_clouds",
    "invert_pose",
    "kabsch",
    "label_episode",
    "load_rgbd_folder",
    "look_at",
    "make_pose",
    "matrix_to_rot6d",
    "pose_errors",
    "poses_to_actions",
    "random_trajectory",
    "read_robomimic",
    "resample_poses",
    "rgb_to_hsv",
    "rot6d_to_matrix",
    "save_rgbd_folder",
    "segment_frames",
    "segment_gripper",
    "synthesize_episode",
    "train_bc",
    "transform_points",
]
