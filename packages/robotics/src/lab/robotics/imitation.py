"""Imitation learning from robot and from (pipeline-labelled) human demonstrations.

A small kinematic reach-grasp-lift task (numpy, vectorised over many environments; OURS,
standing in for the paper's robosuite tasks): a bar lies on a table with a random position and
yaw; the end effector starts above it, must align its yaw with the bar (modulo 180 degrees),
descend, close the gripper within ``grasp_pos_tol`` of the bar's centre and lift the bar by
``lift_height``. Actions are robosuite-style delta end-effector actions (dx, dy, dz, axis-angle
rotation, gripper +1 close / -1 open); the controller saturates each step at ``max_step`` and
``max_rot_step_deg`` like an OSC controller clips its input.

Demonstrations:

- robot demos: a scripted expert acts in the environment; its actions are recorded exactly.
- human demos: a "human" version of the expert acts (the embodiment gap, OURS: 0.7x speed,
  hand tremor of ``tremor_pos`` / ``tremor_rot_deg`` per step, an optional delay before closing);
  the hand-held gripper is rendered in RGB-D along the human's TCP trajectory with
  :func:`~lab.robotics.synthesize_episode`, labelled by the full pipeline (segmentation, pose
  estimation, width), and the actions and end-effector observations come from the labels only.
  The bar's pose comes from the simulator for both kinds (the paper's policies see images).

A behaviour-cloning MLP (OURS; the paper trains Diffusion Policy) is trained on robot, human or
both kinds of demos and scored by its success rate over seeded rollouts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from lab.core import (
    ConfigError,
    DataError,
    RunDir,
    get_device,
    load_checkpoint,
    progress,
    save_checkpoint,
)

from .actions import ActionConfig, fill_gaps, matrix_to_rot6d, poses_to_actions
from .robomimic import Demo

__all__ = [
    "OBS_KEYS",
    "BCConfig",
    "BCPolicy",
    "DemoConfig",
    "ReachGraspConfig",
    "ReachGraspEnv",
    "collect_human_demos",
    "collect_robot_demos",
    "evaluate_policy",
    "expert_action",
    "train_bc",
]

#: Observation keys, concatenated in this order for the policy (15 values).
OBS_KEYS = ("robot0_eef_pos", "robot0_eef_rot6d", "robot0_gripper_closed", "object")
_BASE = Rotation.from_euler("x", 180, degrees=True).as_matrix()


@dataclass(frozen=True)
class ReachGraspConfig:
    """The kinematic reach-grasp-lift task (all OURS).

    Attributes:
        horizon: steps per episode.
        rate_hz: control rate (for resampling human recordings).
        max_step: largest translation per step (m).
        max_rot_step_deg: largest rotation per step.
        grasp_pos_tol: TCP distance to the bar centre that allows a grasp (m).
        grasp_yaw_tol_deg: yaw misalignment (mod 180) that allows a grasp.
        grasp_tilt_tol_deg: tilt of the approach axis from vertical that allows a grasp.
        lift_height: success when the bar is this far above its resting height (m).
        object_range: half-extent of the bar's random position (m).
        start_range: half-extent of the TCP's random start position (m).
        start_height: TCP start height (m).
        object_z: resting height of the bar's centre (m).
    """

    horizon: int = 60
    rate_hz: float = 10.0
    max_step: float = 0.02
    max_rot_step_deg: float = 10.0
    grasp_pos_tol: float = 0.012
    grasp_yaw_tol_deg: float = 12.0
    grasp_tilt_tol_deg: float = 15.0
    lift_height: float = 0.08
    object_range: float = 0.08
    start_range: float = 0.06
    start_height: float = 0.2
    object_z: float = 0.01

    def __post_init__(self) -> None:
        if (
            self.horizon < 1
            or self.rate_hz <= 0
            or self.max_step <= 0
            or self.max_rot_step_deg <= 0
        ):
            raise ConfigError(f"invalid ReachGraspConfig: {self}")


def _yaw(r: np.ndarray) -> np.ndarray:
    return np.arctan2(r[..., 1, 0], r[..., 0, 0])


def _wrap_half(a: np.ndarray) -> np.ndarray:
    """Angle modulo pi into [-pi/2, pi/2)."""
    return (a + np.pi / 2) % np.pi - np.pi / 2


class ReachGraspEnv:
    """Vectorised kinematic environment (``n`` copies); see the module docstring."""

    def __init__(self, config: ReachGraspConfig | None = None, n: int = 1, *, seed: int = 0):
        if n < 1:
            raise ConfigError(f"need at least one environment, got n={n}")
        self.config = config or ReachGraspConfig()
        self.n = n
        self.reset(seed)

    def reset(self, seed: int) -> np.ndarray:
        """Seeded reset of every copy; returns the observations (n, 15)."""
        c = self.config
        rng = np.random.default_rng(seed)
        self.obj = np.zeros((self.n, 3))
        self.obj[:, :2] = rng.uniform(-c.object_range, c.object_range, (self.n, 2))
        self.obj[:, 2] = c.object_z
        self.obj_yaw = rng.uniform(-np.pi / 2, np.pi / 2, self.n)
        self.pos = np.zeros((self.n, 3))
        self.pos[:, :2] = rng.uniform(-c.start_range, c.start_range, (self.n, 2))
        self.pos[:, 2] = c.start_height
        yaw0 = rng.uniform(-np.pi / 4, np.pi / 4, self.n)
        self.rot = Rotation.from_euler("z", yaw0[:, None]).as_matrix() @ _BASE
        self.closed = np.zeros(self.n, dtype=bool)
        self.grasped = np.zeros(self.n, dtype=bool)
        self.t = 0
        return self.obs()

    def obs(self) -> np.ndarray:
        return np.concatenate(
            [
                self.pos,
                matrix_to_rot6d(self.rot),
                self.closed[:, None].astype(float),
                self.obj,
                np.sin(2 * self.obj_yaw)[:, None],
                np.cos(2 * self.obj_yaw)[:, None],
            ],
            axis=1,
        )

    def tcp_poses(self) -> np.ndarray:
        out = np.tile(np.eye(4), (self.n, 1, 1))
        out[:, :3, :3] = self.rot
        out[:, :3, 3] = self.pos
        return out

    def success(self) -> np.ndarray:
        return self.grasped & (self.obj[:, 2] >= self.config.object_z + self.config.lift_height)

    def step(self, action: np.ndarray) -> np.ndarray:
        """Apply (n, 7) delta actions (saturated by the controller); returns the new observations."""
        c = self.config
        a = np.asarray(action, dtype=float)
        if a.shape != (self.n, 7):
            raise DataError(f"actions must have shape ({self.n}, 7), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise DataError("actions contain NaN/inf")
        dp = a[:, :3]
        norm = np.linalg.norm(dp, axis=1, keepdims=True)
        dp = dp * np.minimum(1.0, c.max_step / np.maximum(norm, 1e-12))
        dr = a[:, 3:6]
        ang = np.linalg.norm(dr, axis=1, keepdims=True)
        dr = dr * np.minimum(1.0, np.radians(c.max_rot_step_deg) / np.maximum(ang, 1e-12))
        self.pos = self.pos + dp
        self.pos[:, 2] = np.maximum(self.pos[:, 2], c.object_z * 0.5)
        self.rot = Rotation.from_rotvec(dr).as_matrix() @ self.rot
        cmd = a[:, 6] > 0
        closing = cmd & ~self.closed
        tilt = np.degrees(np.arccos(np.clip(-self.rot[:, 2, 2], -1, 1)))
        yaw_err = np.degrees(np.abs(_wrap_half(_yaw(self.rot) - self.obj_yaw)))
        near = np.linalg.norm(self.pos - self.obj, axis=1) <= c.grasp_pos_tol
        self.grasped |= (
            closing & near & (yaw_err <= c.grasp_yaw_tol_deg) & (tilt <= c.grasp_tilt_tol_deg)
        )
        released = self.grasped & ~cmd
        self.grasped &= cmd
        self.obj[released, 2] = c.object_z
        self.closed = cmd
        self.obj[self.grasped] = self.pos[self.grasped]
        self.obj_yaw[self.grasped] = _yaw(self.rot[self.grasped])
        self.t += 1
        return self.obs()


def expert_action(env: ReachGraspEnv, *, speed: float = 1.0) -> np.ndarray:
    """The scripted expert's (n, 7) actions for the current state of ``env``."""
    c = env.config
    yaw_err = _wrap_half(_yaw(env.rot) - env.obj_yaw)
    target_yaw = _yaw(env.rot) - yaw_err
    above = env.obj + np.array([0.0, 0.0, 0.06])
    xy_err = np.linalg.norm(env.pos[:, :2] - env.obj[:, :2], axis=1)
    aligned = (xy_err < 0.004) & (np.abs(yaw_err) < np.radians(3))
    target = np.where(aligned[:, None], env.obj, above)
    close = ~env.grasped & aligned & (np.linalg.norm(env.pos - env.obj, axis=1) < 0.004)
    lift = env.obj.copy()
    lift[:, 2] = c.object_z + c.lift_height + 0.03
    target = np.where(env.grasped[:, None], lift, target)
    cmd = np.where(env.grasped | close, 1.0, -1.0)
    step = c.max_step * speed
    dp = target - env.pos
    dp *= np.minimum(1.0, step / np.maximum(np.linalg.norm(dp, axis=1, keepdims=True), 1e-12))
    r_des = Rotation.from_euler("z", target_yaw[:, None]).as_matrix() @ _BASE
    dr = Rotation.from_matrix(r_des @ np.swapaxes(env.rot, 1, 2)).as_rotvec()
    lim = np.radians(c.max_rot_step_deg) * speed
    dr *= np.minimum(1.0, lim / np.maximum(np.linalg.norm(dr, axis=1, keepdims=True), 1e-12))
    return np.concatenate([dp, dr, cmd[:, None]], axis=1)


def _obs_dict(obs: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "robot0_eef_pos": obs[:, :3],
        "robot0_eef_rot6d": obs[:, 3:9],
        "robot0_gripper_closed": obs[:, 9:10],
        "object": obs[:, 10:15],
    }


def collect_robot_demos(
    n_demos: int, config: ReachGraspConfig | None = None, *, seed: int = 0
) -> list[Demo]:
    """Successful rollouts of the scripted expert, with its exact actions."""
    cfg = config or ReachGraspConfig()
    if n_demos < 1:
        raise ConfigError(f"n_demos must be >= 1, got {n_demos}")
    demos: list[Demo] = []
    k = 0
    while len(demos) < n_demos:
        env = ReachGraspEnv(cfg, 1, seed=seed * 100_003 + k)
        k += 1
        obs, acts = [env.obs()[0]], []
        for _ in range(cfg.horizon):
            a = expert_action(env)
            acts.append(a[0])
            obs.append(env.step(a)[0])
            if env.success()[0]:
                break
        if env.success()[0]:
            o = np.stack(obs[:-1])
            demos.append(
                Demo(np.stack(acts), _obs_dict(o), attrs={"kind": "robot", "env_seed": k - 1})
            )
        if k > 20 * n_demos:
            raise DataError(f"the expert succeeded in only {len(demos)} of {k} episodes")
    return demos


@dataclass(frozen=True)
class DemoConfig:
    """The human embodiment gap and the rendering of human demos (all OURS).

    Attributes:
        speed: human speed relative to the robot expert.
        tremor_pos: hand tremor per step (m, std).
        tremor_rot_deg: hand tremor per step (degrees, std).
        close_delay: steps the human waits before closing once aligned.
        open_width: rendered opening while open (m).
        closed_width: rendered opening while closed on the bar (m).
        n_cameras: cameras rendering the human demo.
        image_width: rendered image width (height = 3/4 of it).
        n_clutter: clutter boxes in the rendered scene.
    """

    speed: float = 0.7
    tremor_pos: float = 0.001
    tremor_rot_deg: float = 0.5
    close_delay: int = 0
    open_width: float = 0.06
    closed_width: float = 0.02
    n_cameras: int = 2
    image_width: int = 256
    n_clutter: int = 3


def _human_rollout(
    cfg: ReachGraspConfig, dcfg: DemoConfig, env_seed: int, rng: np.random.Generator
) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray]:
    env = ReachGraspEnv(cfg, 1, seed=env_seed)
    poses, objs, closed = [env.tcp_poses()[0]], [env.obs()[0, 10:15]], [False]
    wait = 0
    for _ in range(cfg.horizon):
        a = expert_action(env, speed=dcfg.speed)
        if a[0, 6] > 0 and not env.closed[0]:
            wait += 1
            if wait <= dcfg.close_delay:
                a[0, 6] = -1.0
                a[0, :6] = 0.0
        a[0, :3] += rng.normal(0, dcfg.tremor_pos, 3)
        a[0, 3:6] += rng.normal(0, np.radians(dcfg.tremor_rot_deg), 3)
        obs = env.step(a)
        poses.append(env.tcp_poses()[0])
        objs.append(obs[0, 10:15])
        closed.append(bool(env.closed[0]))
        if env.success()[0]:
            break
    return bool(env.success()[0]), np.stack(poses), np.stack(objs), np.array(closed)


def collect_human_demos(
    n_demos: int,
    config: ReachGraspConfig | None = None,
    *,
    seed: int = 0,
    demo_config: DemoConfig | None = None,
    pose_config: Any = None,
    label: bool = True,
    show_progress: bool = False,
) -> tuple[list[Demo], dict[str, Any]]:
    """Human demos labelled by the pipeline from rendered RGB-D (see the module docstring).

    Returns the demos and label statistics (pose errors of the labels against the true human
    trajectory, flagged-frame counts). ``label=False`` skips rendering and uses the true human
    trajectory (isolates the embodiment gap from the labelling error).
    """
    from .gripper import GripperModel
    from .labeling import label_episode
    from .metrics import pose_errors
    from .pose import PoseEstimator, PoseEstimatorConfig
    from .synthetic import SyntheticConfig, synthesize_episode
    from .transforms import invert_pose

    cfg = config or ReachGraspConfig()
    dcfg = demo_config or DemoConfig()
    if n_demos < 1:
        raise ConfigError(f"n_demos must be >= 1, got {n_demos}")
    rng = np.random.default_rng(seed + 7_919)
    model = GripperModel.default()
    est = PoseEstimator(model, pose_config or PoseEstimatorConfig.fast())
    syn = SyntheticConfig(
        width=dcfg.image_width,
        height=dcfg.image_width * 3 // 4,
        n_cameras=dcfg.n_cameras,
        n_clutter=dcfg.n_clutter,
        workspace_center=(0.0, 0.0, 0.08),
        camera_distance=0.55,
        distractor=False,
    )
    demos: list[Demo] = []
    rot_err, trans_err, flagged, filled = [], [], 0, 0
    k = 0
    bar = progress(total=n_demos, desc="human demos", disable=None if show_progress else True)
    while len(demos) < n_demos:
        env_seed = seed * 100_003 + 50_000 + k
        k += 1
        if k > 20 * n_demos:
            raise DataError(f"the human expert succeeded in only {len(demos)} of {k - 1} episodes")
        ok, tcp, objs, closed = _human_rollout(cfg, dcfg, env_seed, rng)
        if not ok:
            continue
        widths = np.where(closed, dcfg.closed_width, dcfg.open_width)
        if label:
            grip = tcp @ invert_pose(model.tcp)[None]
            ep = synthesize_episode(syn, seed=env_seed, gripper=model, poses=grip, widths=widths)
            lab = label_episode(ep.frames, model, estimator=est)
            r, t = pose_errors(lab.tcp_poses, tcp)
            rot_err += r.tolist()
            trans_err += t.tolist()
            flagged += int(lab.flagged.sum())
            est_tcp, est_w, gap = fill_gaps(lab.tcp_poses, lab.widths)
            filled += int(gap.sum())
        else:
            est_tcp, est_w = tcp, widths
        acfg = ActionConfig(
            mode="delta",
            rotation="axis_angle",
            gripper="binary",
            close_width=0.5 * (dcfg.open_width + dcfg.closed_width),
        )
        assert est_w is not None
        actions = poses_to_actions(est_tcp, est_w, config=acfg)
        est_closed = (est_w < acfg.close_width).astype(float)
        obs = np.concatenate(
            [est_tcp[:, :3, 3], matrix_to_rot6d(est_tcp[:, :3, :3]), est_closed[:, None], objs], 1
        )
        demos.append(
            Demo(actions, _obs_dict(obs[:-1]), attrs={"kind": "human", "env_seed": env_seed})
        )
        bar.update(1)
    bar.close()
    stats: dict[str, Any] = {
        "frames": len(rot_err),
        "flagged_frames": flagged,
        "filled_frames": filled,
    }
    if rot_err:
        stats.update(
            label_rot_median_deg=float(np.nanmedian(rot_err)),
            label_trans_median_mm=float(np.nanmedian(trans_err) * 1000),
        )
    return demos, stats


@dataclass(frozen=True)
class BCConfig:
    """Behaviour cloning (MLP; OURS, the paper uses Diffusion Policy).

    Attributes:
        hidden: hidden units per layer.
        layers: hidden layers.
        epochs: passes over the data.
        batch_size: minibatch size.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        seed: initialisation and shuffling seed.
        checkpoint_every: epochs between checkpoints (when a run directory is given).
    """

    hidden: int = 128
    layers: int = 3
    epochs: int = 300
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        if (
            self.hidden < 1
            or self.layers < 1
            or self.epochs < 1
            or self.batch_size < 1
            or self.lr <= 0
        ):
            raise ConfigError(f"invalid BCConfig: {self}")


class BCPolicy(torch.nn.Module):
    """MLP from the 15 observations to 7 delta actions, with stored input/output normalisation."""

    obs_mean: torch.Tensor
    obs_std: torch.Tensor
    act_mean: torch.Tensor
    act_std: torch.Tensor

    def __init__(self, obs_dim: int = 15, act_dim: int = 7, hidden: int = 128, layers: int = 3):
        super().__init__()
        mods: list[torch.nn.Module] = []
        d = obs_dim
        for _ in range(layers):
            mods += [torch.nn.Linear(d, hidden), torch.nn.ReLU()]
            d = hidden
        mods.append(torch.nn.Linear(d, act_dim))
        self.net = torch.nn.Sequential(*mods)
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.register_buffer("act_mean", torch.zeros(act_dim))
        self.register_buffer("act_std", torch.ones(act_dim))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        z = self.net((obs - self.obs_mean) / self.obs_std)
        return z * self.act_std + self.act_mean

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        dev = self.obs_mean.device
        return self(torch.as_tensor(obs, dtype=torch.float32, device=dev)).cpu().double().numpy()


def _stack(demos: Sequence[Demo]) -> tuple[np.ndarray, np.ndarray]:
    if not demos:
        raise DataError("no demonstrations to train on")
    obs, act = [], []
    for d in demos:
        missing = [k for k in OBS_KEYS if k not in d.obs]
        if missing:
            raise DataError(f"demo lacks observation keys {missing}")
        obs.append(
            np.concatenate(
                [np.asarray(d.obs[k], dtype=float).reshape(len(d.actions), -1) for k in OBS_KEYS], 1
            )
        )
        act.append(np.asarray(d.actions, dtype=float))
    o, a = np.concatenate(obs), np.concatenate(act)
    if o.shape[1] != 15 or a.shape[1] != 7:
        raise DataError(
            f"expected 15 observations and 7 actions per step, got {o.shape[1]} and {a.shape[1]}"
        )
    return o, a


def train_bc(
    demos: Sequence[Demo],
    config: BCConfig | None = None,
    *,
    device: str | torch.device | None = None,
    run_dir: RunDir | str | Path | None = None,
    resume: bool = False,
    show_progress: bool = False,
) -> BCPolicy:
    """Train a :class:`BCPolicy` on ``demos`` with MSE; checkpoints into ``run_dir`` and resumes."""
    cfg = config or BCConfig()
    dev = get_device(device)
    o, a = _stack(demos)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    policy = BCPolicy(15, 7, cfg.hidden, cfg.layers)
    policy.obs_mean.copy_(torch.as_tensor(o.mean(0)))
    policy.obs_std.copy_(torch.as_tensor(o.std(0) + 1e-3))
    policy.act_mean.copy_(torch.as_tensor(a.mean(0)))
    policy.act_std.copy_(torch.as_tensor(a.std(0) + 1e-3))
    policy.to(dev)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    run = RunDir(run_dir) if isinstance(run_dir, (str, Path)) else run_dir
    start = 0
    if run is not None and resume:
        ckpt = run.latest_checkpoint()
        if ckpt is not None:
            state = load_checkpoint(ckpt, model=policy, optimizer=opt, map_location=dev)
            start = state.step
            gen.set_state(state.extra["generator"])
    ot = torch.as_tensor(o, dtype=torch.float32, device=dev)
    at = torch.as_tensor(a, dtype=torch.float32, device=dev)
    n = len(ot)
    for epoch in progress(
        range(start, cfg.epochs),
        desc="bc",
        disable=None if show_progress else True,
        initial=start,
        total=cfg.epochs,
    ):
        perm = torch.randperm(n, generator=gen).to(dev)
        total = 0.0
        for i in range(0, n, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            loss = torch.nn.functional.mse_loss(
                (policy(ot[idx]) - policy.act_mean) / policy.act_std,
                (at[idx] - policy.act_mean) / policy.act_std,
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        if run is not None and ((epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs):
            run.log(epoch=epoch + 1, loss=total / n)
            save_checkpoint(
                run.checkpoint_path(epoch + 1),
                model=policy,
                optimizer=opt,
                step=epoch + 1,
                extra={"generator": gen.get_state()},
            )
    return policy.eval()


def evaluate_policy(
    policy: BCPolicy | Any,
    config: ReachGraspConfig | None = None,
    *,
    n_rollouts: int = 100,
    seed: int = 10_000,
) -> float:
    """Success rate of ``policy`` (``.act(obs) -> actions``) over ``n_rollouts`` seeded rollouts."""
    cfg = config or ReachGraspConfig()
    if n_rollouts < 1:
        raise ConfigError(f"n_rollouts must be >= 1, got {n_rollouts}")
    env = ReachGraspEnv(cfg, n_rollouts, seed=seed)
    obs = env.obs()
    done = np.zeros(n_rollouts, dtype=bool)
    for _ in range(cfg.horizon):
        obs = env.step(policy.act(obs))
        done |= env.success()
    return float(done.mean())
