"""The reach-grasp task, demos from robot and (pipeline-labelled) human, behaviour cloning."""

from __future__ import annotations

import numpy as np
import pytest

from lab.core import ConfigError, DataError, RunDir
from lab.core.testing import assert_state_dicts_equal as same_state
from lab.core.testing import device_params
from lab.robotics import (
    BCConfig,
    DemoConfig,
    PoseEstimatorConfig,
    ReachGraspConfig,
    ReachGraspEnv,
    collect_human_demos,
    collect_robot_demos,
    evaluate_policy,
    expert_action,
    train_bc,
)


class _Expert:
    def __init__(self, env):
        self.env = env

    def act(self, obs):
        return expert_action(self.env)


def test_expert_solves_the_task_and_zero_policy_does_not():
    env = ReachGraspEnv(n=50, seed=1)
    for _ in range(env.config.horizon):
        env.step(expert_action(env))
    assert env.success().all()

    class Zero:
        def act(self, obs):
            return np.zeros((len(obs), 7))

    assert evaluate_policy(Zero(), n_rollouts=20) == 0.0


def test_grasp_needs_alignment_and_controller_saturates():
    cfg = ReachGraspConfig()
    env = ReachGraspEnv(cfg, n=1, seed=0)
    env.pos[:] = env.obj + np.array([0.05, 0, 0])  # beside the bar: closing must not grasp
    env.step(np.array([[0, 0, 0, 0, 0, 0, 1.0]]))
    assert not env.grasped[0]
    env = ReachGraspEnv(cfg, n=1, seed=0)
    start = env.pos.copy()
    env.step(np.array([[1.0, 0, 0, 0, 0, 0, -1]]))
    assert np.linalg.norm(env.pos - start) == pytest.approx(cfg.max_step)
    with pytest.raises(DataError, match="shape"):
        env.step(np.zeros((1, 6)))


def test_bc_on_robot_demos_learns_the_task_and_resumes_bit_exactly(tmp_path):
    demos = collect_robot_demos(20, seed=0)
    assert all(d.actions.shape[1] == 7 for d in demos)
    cfg = BCConfig(hidden=128, layers=2, epochs=150, batch_size=128, lr=3e-3)
    policy = train_bc(demos, cfg, device="cpu")
    assert evaluate_policy(policy, n_rollouts=100) >= 0.6
    # interrupted after 2 epochs then resumed == uninterrupted (same weights)
    short = BCConfig(hidden=16, layers=1, epochs=4, batch_size=64, checkpoint_every=2)
    full = train_bc(demos[:3], short, device="cpu", run_dir=RunDir.create("full", root=tmp_path))
    run = RunDir.create("part", root=tmp_path)
    train_bc(demos[:3], BCConfig(**{**short.__dict__, "epochs": 2}), device="cpu", run_dir=run)
    resumed = train_bc(demos[:3], short, device="cpu", run_dir=run, resume=True)
    same_state(full.state_dict(), resumed.state_dict())
    with pytest.raises(ConfigError):
        BCConfig(epochs=0)


def test_human_demos_are_labelled_by_the_pipeline():
    dcfg = DemoConfig(image_width=192, n_clutter=2)
    pose_cfg = PoseEstimatorConfig.fast(ransac_attempts=1, ransac_max_iterations=5000)
    demos, stats = collect_human_demos(1, seed=0, demo_config=dcfg, pose_config=pose_cfg)
    assert len(demos) == 1 and demos[0].attrs["kind"] == "human"
    assert stats["frames"] == len(demos[0].actions) + 1
    assert stats["label_trans_median_mm"] < 1.0 and stats["label_rot_median_deg"] < 0.5
    closes = demos[0].actions[:, 6]
    assert closes[0] == -1.0 and closes[-1] == 1.0  # opens, then closes on the bar
    true_demos, _ = collect_human_demos(1, seed=0, demo_config=dcfg, label=False)
    np.testing.assert_allclose(
        demos[0].obs["robot0_eef_pos"], true_demos[0].obs["robot0_eef_pos"], atol=3e-3
    )


@pytest.mark.parametrize("device", device_params)
def test_policy_runs_on_device(device):
    demos = collect_robot_demos(2, seed=1)
    policy = train_bc(demos, BCConfig(hidden=16, layers=1, epochs=2), device=device)
    assert policy.obs_mean.device.type == device
    assert policy.act(np.zeros((3, 15))).shape == (3, 7)
