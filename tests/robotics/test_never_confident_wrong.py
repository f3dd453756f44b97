"""Issue 22: pose estimation must flag, not return, poses it has no evidence for."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest
from scipy.spatial.transform import Rotation

from lab.core import ConfigError
from lab.robotics import (
    GripperModel,
    PoseEstimator,
    PoseEstimatorConfig,
    RGBDFrame,
    SegmentationConfig,
    SyntheticConfig,
    fuse_point_clouds,
    make_pose,
    pose_errors,
    segment_frames,
    segment_gripper,
    synthesize_episode,
)
from lab.robotics.synthetic import BASE_ROTATION

OK = ("init", "tracked", "reinit")


def _keep_labels(frames, labels, keep):
    """A partial view: gripper pixels outside the part labels ``keep`` painted grey (their
    colour is not recognised; the depth camera still sees them)."""
    out = []
    for f, lab in zip(frames, labels, strict=True):
        lose = (lab > 0) & ~np.isin(lab, keep)
        color = np.where(lose[..., None], np.uint8(128), f.color).astype(np.uint8)
        out.append(RGBDFrame(color, f.depth, f.intrinsics, f.cam_to_world, f.name))
    return out


@pytest.fixture(scope="module")
def distractor_frame(model):
    """640x480, 2 cameras, the gripper painted grey: only the green distractor box is 'gripper'."""
    mesh = o3d.geometry.TriangleMesh(model.mesh())
    mesh.paint_uniform_color([0.5, 0.5, 0.5])
    grey = GripperModel({"body": mesh}, model.tcp, body_parts=("body",))
    cfg = SyntheticConfig(width=640, height=480, n_cameras=2, n_frames=1, n_clutter=2)
    pose = make_pose(BASE_ROTATION, (0.0, 0.0, 0.2))
    return synthesize_episode(cfg, seed=0, gripper=grey, poses=pose[None]).frames[0]


def test_distractor_only_640x480_frame_is_flagged(distractor_frame, estimator):
    seg = segment_frames(distractor_frame)
    # the distractor passes the old fixed 100-point minimum, not the resolution-scaled one
    assert 100 < seg.counts["body"] < seg.min_body_points
    res = estimator.initialize(seg)
    assert res.status == "too_few_points" and not res.ok and np.isnan(res.pose).all()


def test_distractor_is_flagged_by_the_model_checks_alone(distractor_frame, estimator):
    seg = segment_frames(distractor_frame, SegmentationConfig(reference_pixels=None))
    assert seg.ok  # the old behaviour: segmentation accepts the distractor
    res = estimator.initialize(seg)
    assert res.status == "implausible" and not res.ok
    # without the finger requirement the extent check still catches it
    est = PoseEstimator(estimator.model, PoseEstimatorConfig.fast(require_fingers=False))
    res = est.initialize(seg)
    assert res.status == "implausible" and "extent" in res.message


def test_partial_views_are_flagged(episode, estimator):
    frames, labels = episode.frames[0], episode.labels[0]
    # handle only: no fingers, a small part of the body
    res = estimator.initialize(segment_frames(_keep_labels(frames, labels, [2])))
    assert res.status == "implausible" and not res.ok
    # handle and fingers without the hand: the visible hand surface is not explained
    est = PoseEstimator(estimator.model, estimator.config)
    seg = segment_frames(_keep_labels(frames, labels, [2, 3, 4]))
    assert seg.ok
    res = est.initialize(seg)
    assert res.status == "init_failed" and not res.ok, (res.status, res.message)
    # the full view passes, and reports the coverage it reached
    full = est.initialize(segment_frames(frames))
    assert full.status == "init" and full.coverage >= est.config.min_coverage


def test_model_with_fingers_needs_finger_points(episode, estimator):
    frames, labels = episode.frames[0], episode.labels[0]
    res = estimator.initialize(segment_frames(_keep_labels(frames, labels, [1, 2])))
    assert res.status == "implausible" and "finger" in res.message


def test_temporal_prior_rejects_a_flip_and_keeps_a_near_pose(episode, estimator):
    seg = segment_frames(episode.frames[0])
    truth = episode.poses[0]
    flipped = truth @ make_pose(Rotation.from_euler("y", 170, degrees=True).as_matrix())
    assert estimator.initialize(seg, near=(flipped, 1)).status == "init_failed"
    good = estimator.initialize(seg, near=(truth, 1))
    assert good.status == "init" and pose_errors(good.pose, truth)[0] < 0.5
    # a long gap widens the prior: the flip is allowed again
    assert estimator.initialize(seg, near=(flipped, 3)).status == "init"


def test_min_body_points_scales_with_resolution():
    cfg = SegmentationConfig(min_body_points=100)
    assert cfg.body_point_threshold(None) == 100
    assert cfg.body_point_threshold(320 * 240) == 100
    assert cfg.body_point_threshold(2 * 640 * 480) == 800
    assert cfg.body_point_threshold(64 * 48) == 100  # never below the configured minimum
    assert SegmentationConfig(reference_pixels=None).body_point_threshold(10**7) == 100


def test_max_depth_is_camera_depth_in_segmentation_and_clouds(episode):
    frames = episode.frames[0]
    cfg = SegmentationConfig(max_depth=0.45)
    with pytest.raises(ConfigError, match="camera depth"):
        segment_gripper(fuse_point_clouds(frames), cfg)
    seg = segment_frames(frames, cfg)
    plain = segment_gripper(fuse_point_clouds(frames, max_depth=0.45))
    assert seg.counts == plain.counts
    assert 0 < seg.counts["body"] < segment_frames(frames).counts["body"]
