"""The synthetic RGB-D generator: reproducibility, ground truth, validation."""

from __future__ import annotations

import numpy as np
import pytest

from lab.core import ConfigError, DataError
from lab.robotics import SyntheticConfig, synthesize_episode
from lab.robotics.synthetic import random_trajectory


def test_same_seed_same_episode_and_ground_truth_is_consistent(model):
    cfg = SyntheticConfig(width=96, height=72, n_frames=3, n_cameras=1)
    a = synthesize_episode(cfg, seed=5, gripper=model)
    b = synthesize_episode(cfg, seed=5, gripper=model)
    c = synthesize_episode(cfg, seed=6, gripper=model)
    np.testing.assert_array_equal(a.frames[2][0].color, b.frames[2][0].color)
    np.testing.assert_array_equal(a.frames[2][0].depth, b.frames[2][0].depth)
    assert not np.array_equal(a.poses, c.poses)
    np.testing.assert_allclose(a.tcp_poses, a.poses @ model.tcp)
    assert np.all((a.widths >= cfg.min_width) & (a.widths <= cfg.max_width))
    for t in range(3):
        lab = a.labels[t][0]
        assert set(np.unique(lab)) <= {0, 1, 2, 3, 4}
        assert (lab > 0).sum() > 20
        # gripper pixels are green, cyan or magenta (hue survives the shading)
        col = a.frames[t][0].color[lab == 1].astype(float)
        assert np.all(col[:, 1] > col[:, 0] + 40) and np.all(col[:, 1] > col[:, 2] + 40)


def test_trajectory_is_smooth_and_within_range():
    cfg = SyntheticConfig(n_frames=40)
    poses = random_trajectory(cfg, np.random.default_rng(0))
    steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
    assert steps.max() < 0.02
    assert np.all(np.abs(poses[:, :2, 3]) <= cfg.position_range + 1e-9)
    approach = poses[:, :3, 2]  # gripper z axis stays within the tilt range of straight down
    tilt = np.degrees(np.arccos(np.clip(-approach[:, 2], -1, 1)))
    assert tilt.max() <= cfg.rotation_range_deg + 1e-6


def test_given_poses_and_validation(model):
    cfg = SyntheticConfig(width=64, height=48, n_cameras=1)
    poses = random_trajectory(SyntheticConfig(n_frames=2), np.random.default_rng(1))
    ep = synthesize_episode(cfg, seed=0, gripper=model, poses=poses, widths=np.array([0.02, 0.05]))
    np.testing.assert_array_equal(ep.poses, poses)
    with pytest.raises(DataError, match="widths must lie"):
        synthesize_episode(cfg, gripper=model, poses=poses, widths=np.array([0.02, 0.5]))
    with pytest.raises(DataError, match="rigid"):
        synthesize_episode(cfg, gripper=model, poses=poses * 2)
    with pytest.raises(ConfigError, match="min_width"):
        SyntheticConfig(min_width=0.05, max_width=0.01)
