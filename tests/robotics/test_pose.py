"""Pose estimation: accuracy on rendered frames, equivariance, flagged frames, width."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest
from scipy.spatial.transform import Rotation

from lab.core import ConfigError, DataError
from lab.robotics import (
    PoseEstimatorConfig,
    fuse_point_clouds,
    kabsch,
    label_episode,
    make_pose,
    pose_errors,
    segment_gripper,
)


def test_kabsch_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(10, 3))
    t = make_pose(Rotation.from_rotvec([0.3, -1.2, 2.0]).as_matrix(), (0.1, 2.0, -3.0))
    moved = pts @ t[:3, :3].T + t[:3, 3]
    np.testing.assert_allclose(kabsch(pts, moved), t, atol=1e-10)
    with pytest.raises(DataError):
        kabsch(pts[:2], moved[:2])


def test_labels_of_a_short_episode_are_accurate(episode, estimator):
    lab = label_episode(episode.frames, estimator=estimator)
    assert lab.status[0] == "init"
    assert all(s in ("tracked", "reinit") for s in lab.status[1:])
    rot, trans = pose_errors(lab.poses, episode.poses)
    assert rot.max() < 0.5 and trans.max() < 0.001, (rot, trans)
    np.testing.assert_allclose(lab.tcp_poses, lab.poses @ estimator.model.tcp)
    assert np.all(lab.fitness > 0.95) and np.all(lab.rmse < 0.002)
    ok = np.isfinite(lab.widths)
    assert ok.sum() >= 3
    assert np.abs(lab.widths[ok] - episode.widths[ok]).max() < 0.003


def test_rigid_transform_of_the_scene_transforms_the_estimate(episode, estimator):
    cloud = fuse_point_clouds(episode.frames[0])
    base = estimator.initialize(segment_gripper(cloud))
    assert base.status == "init"
    g = make_pose(Rotation.from_rotvec([0.4, -0.2, 1.1]).as_matrix(), (0.3, -0.1, 0.05))
    moved = o3d.geometry.PointCloud(cloud)
    moved.transform(g)
    res = estimator.initialize(segment_gripper(moved))
    assert res.status == "init"
    r, t = pose_errors(res.pose, g @ base.pose)
    assert r < 0.2 and t < 0.0005
    tracked = estimator.track(segment_gripper(moved), g @ base.pose)
    assert tracked.status == "tracked"
    r, t = pose_errors(tracked.pose, g @ base.pose)
    assert r < 0.1 and t < 0.0003


def test_empty_frames_are_flagged_and_kept(episode, estimator):
    segs = [segment_gripper(fuse_point_clouds(f)) for f in episode.frames[:3]]
    segs.insert(1, segment_gripper(o3d.geometry.PointCloud()))
    res = estimator.estimate_sequence(segs)
    assert [r.status for r in res][:2] == ["init", "empty"]
    assert np.isnan(res[1].pose).all() and not res[1].ok
    assert res[2].ok and res[3].ok
    rot, trans = pose_errors(res[2].pose, episode.poses[1])
    assert rot < 0.5 and trans < 0.001


def test_orientation_prior_rejects_the_wrong_orientation(episode, model):
    from lab.robotics import PoseEstimator

    seg = segment_gripper(fuse_point_clouds(episode.frames[0]))
    truth = episode.poses[0][:3, :3]
    wrong = Rotation.from_rotvec([np.pi, 0, 0]).as_matrix() @ truth
    est = PoseEstimator(
        model, PoseEstimatorConfig.fast(ransac_attempts=0, multi_start=8, prior_tolerance_deg=20)
    )
    assert est.initialize(seg, prior=wrong).status == "init_failed"
    good = est.initialize(seg, prior=truth)
    assert good.status == "init" and pose_errors(good.pose, episode.poses[0])[0] < 0.5


def test_config_validation():
    with pytest.raises(ConfigError, match="voxel_size"):
        PoseEstimatorConfig(voxel_size=0)
    with pytest.raises(ConfigError, match="no global initialisation"):
        PoseEstimatorConfig(ransac_attempts=0, multi_start=0, part_centroid_init=False)
    assert PoseEstimatorConfig().ransac_threshold == pytest.approx(0.04)
    assert PoseEstimatorConfig(voxel_size=0.05).ransac_threshold == pytest.approx(0.075)
