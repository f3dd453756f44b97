"""Poses <-> actions: round trips, sign continuity, filtering, resampling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lab.core import DataError
from lab.robotics import (
    ActionConfig,
    action_dim,
    actions_to_poses,
    fill_gaps,
    filter_outliers,
    make_pose,
    matrix_to_rot6d,
    poses_to_actions,
    resample_poses,
    rot6d_to_matrix,
)


def _poses(n=12, seed=0):
    rng = np.random.default_rng(seed)
    rv = np.cumsum(rng.normal(0, 0.2, (n, 3)), axis=0)
    p = np.cumsum(rng.normal(0, 0.01, (n, 3)), axis=0)
    return np.stack([make_pose(Rotation.from_rotvec(rv[i]).as_matrix(), p[i]) for i in range(n)])


@pytest.mark.parametrize("mode", ["absolute", "delta"])
@pytest.mark.parametrize("rotation", ["axis_angle", "rot6d"])
@pytest.mark.parametrize("gripper", ["width", "none"])
def test_round_trip(mode, rotation, gripper):
    cfg = ActionConfig(mode=mode, rotation=rotation, gripper=gripper)
    poses = _poses()
    widths = np.linspace(0.01, 0.07, len(poses))
    base = make_pose(Rotation.from_rotvec([0.1, 0.2, -0.3]).as_matrix(), (0.5, -0.2, 0.1))
    acts = poses_to_actions(poses, widths, config=cfg, base_from_world=base)
    assert acts.shape == (len(poses) - 1, action_dim(cfg))
    back, grip = actions_to_poses(acts, poses[0], config=cfg, base_from_world=base)
    np.testing.assert_allclose(back, poses, atol=1e-9)
    if gripper == "width":
        np.testing.assert_allclose(grip, widths[1:])
    else:
        assert grip is None


def test_delta_actions_in_the_base_frame_are_known_values():
    p0 = make_pose(np.eye(3), (0, 0, 0))
    p1 = make_pose(Rotation.from_rotvec([0, 0, 0.5]).as_matrix(), (0.1, 0, 0))
    acts = poses_to_actions(np.stack([p0, p1]), config=ActionConfig(mode="delta", gripper="none"))
    np.testing.assert_allclose(acts[0], [0.1, 0, 0, 0, 0, 0.5], atol=1e-12)
    base = make_pose(Rotation.from_rotvec([0, 0, np.pi / 2]).as_matrix())
    acts = poses_to_actions(
        np.stack([p0, p1]), config=ActionConfig(mode="delta", gripper="none"), base_from_world=base
    )
    np.testing.assert_allclose(acts[0], [0, 0.1, 0, 0, 0, 0.5], atol=1e-12)
    binary = poses_to_actions(np.stack([p0, p1, p0]), np.array([0.07, 0.01, 0.05]))
    np.testing.assert_array_equal(binary[:, -1], [1.0, -1.0])


def test_axis_angle_sign_is_continuous_through_pi():
    angles = np.linspace(np.pi - 0.3, np.pi + 0.3, 13)
    poses = np.stack([make_pose(Rotation.from_rotvec([0, 0, a]).as_matrix()) for a in angles])
    acts = poses_to_actions(poses, config=ActionConfig(gripper="none"))
    rv = acts[:, 3:6]
    assert np.abs(np.diff(rv, axis=0)).max() < 0.06  # no jump of ~2 pi
    np.testing.assert_allclose(Rotation.from_rotvec(rv).as_matrix(), poses[1:, :3, :3], atol=1e-9)


def test_rot6d_round_trip():
    r = Rotation.random(20, rng=1).as_matrix()
    np.testing.assert_allclose(rot6d_to_matrix(matrix_to_rot6d(r)), r, atol=1e-12)


def test_outlier_filter_and_gaps():
    x = np.stack([np.linspace(0, 0.1, 9)] * 3, axis=1)
    spiked = x.copy()
    spiked[4] += [0.5, 0.0, 0.0]
    clean, mask = filter_outliers(spiked, window=2, threshold=0.15)
    assert mask.tolist() == [False] * 4 + [True] + [False] * 4
    np.testing.assert_allclose(clean, x, atol=1e-12)
    poses = _poses(6)
    holes = poses.copy()
    holes[2] = np.nan
    filled, w, gap = fill_gaps(holes, np.array([0.01, 0.02, np.nan, 0.04, 0.05, 0.06]))
    assert gap.tolist() == [False, False, True, False, False, False]
    np.testing.assert_allclose(filled[2, :3, 3], (poses[1, :3, 3] + poses[3, :3, 3]) / 2)
    assert w[2] == pytest.approx(0.03)
    with pytest.raises(DataError, match=r"poses \[2\]"):
        poses_to_actions(holes, config=ActionConfig(gripper="none"))


def test_resampling():
    poses = _poses(11)
    same, _ = resample_poses(poses, 10.0, 10.0)
    np.testing.assert_allclose(same, poses, atol=1e-12)
    half, w = resample_poses(poses, 20.0, 10.0, widths=np.arange(11.0))
    np.testing.assert_allclose(half, poses[::2], atol=1e-12)
    np.testing.assert_allclose(w, np.arange(0, 11, 2.0))
    double, _ = resample_poses(poses[:2], 1.0, 2.0)
    assert len(double) == 3
    np.testing.assert_allclose(double[1, :3, 3], poses[:2, :3, 3].mean(0))
    mid = Rotation.from_matrix(poses[0, :3, :3]).inv() * Rotation.from_matrix(double[1, :3, :3])
    full = Rotation.from_matrix(poses[0, :3, :3]).inv() * Rotation.from_matrix(poses[1, :3, :3])
    assert mid.magnitude() == pytest.approx(full.magnitude() / 2)
