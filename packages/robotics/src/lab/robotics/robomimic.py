"""Labelled episodes as robomimic-style HDF5 (what robomimic and Diffusion Policy read).

Layout written by :func:`export_robomimic`::

    data/                       attrs: total (samples), env_args (JSON string)
      demo_0/                   attrs: num_samples
        actions                 (N, D) float
        rewards, dones          (N,)
        obs/<key>               (N, ...) e.g. robot0_eef_pos, robot0_eef_quat (xyzw),
                                robot0_gripper_qpos, object
        next_obs/<key>          (N, ...) observations one step later
    mask/train, mask/valid      demo names (bytes)

:func:`demo_from_poses` builds the standard end-effector observations from labelled poses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from lab.core import ConfigError, DataError

from .actions import ActionConfig, poses_to_actions

__all__ = ["Demo", "demo_from_poses", "export_robomimic", "read_robomimic"]


@dataclass(frozen=True)
class Demo:
    """One episode: actions (N, D), observations ``obs[key]`` (N, ...), optional next_obs."""

    actions: np.ndarray
    obs: Mapping[str, np.ndarray]
    next_obs: Mapping[str, np.ndarray] | None = None
    rewards: np.ndarray | None = None
    dones: np.ndarray | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.actions)
        if np.asarray(self.actions).ndim != 2 or n == 0:
            raise DataError(
                f"actions must be a non-empty (N, D) array, got shape {np.shape(self.actions)}"
            )
        for group, data in (("obs", self.obs), ("next_obs", self.next_obs or {})):
            for k, v in data.items():
                if len(v) != n:
                    raise DataError(f"{group}/{k} has {len(v)} rows, actions have {n}")
        for name in ("rewards", "dones"):
            v = getattr(self, name)
            if v is not None and np.shape(v) != (n,):
                raise DataError(f"{name} must have shape ({n},), got {np.shape(v)}")


def demo_from_poses(
    poses: np.ndarray,
    widths: np.ndarray,
    *,
    config: ActionConfig | None = None,
    base_from_world: np.ndarray | None = None,
    extra_obs: Mapping[str, np.ndarray] | None = None,
) -> Demo:
    """A :class:`Demo` from T end-effector poses and widths: T - 1 actions with the robomimic
    observations of frames 0..T-2 (``robot0_eef_pos``, ``robot0_eef_quat`` xyzw,
    ``robot0_gripper_qpos`` = (+w/2, -w/2)) and next_obs of frames 1..T-1.

    ``extra_obs`` (each (T, ...)) adds keys such as an object pose.
    """
    actions = poses_to_actions(poses, widths, config=config, base_from_world=base_from_world)
    p = np.asarray(poses, dtype=float)
    if base_from_world is not None:
        p = np.asarray(base_from_world, dtype=float)[None] @ p
    w = np.asarray(widths, dtype=float)
    full = {
        "robot0_eef_pos": p[:, :3, 3],
        "robot0_eef_quat": Rotation.from_matrix(p[:, :3, :3]).as_quat(),
        "robot0_gripper_qpos": np.stack([w / 2, -w / 2], axis=1),
    }
    for k, v in (extra_obs or {}).items():
        v = np.asarray(v)
        if len(v) != len(p):
            raise DataError(f"extra_obs[{k!r}] has {len(v)} rows, poses have {len(p)}")
        full[k] = v
    n = len(actions)
    dones = np.zeros(n)
    dones[-1] = 1.0
    return Demo(
        actions,
        {k: v[:-1] for k, v in full.items()},
        {k: v[1:] for k, v in full.items()},
        np.zeros(n),
        dones,
    )


def export_robomimic(
    path: str | Path,
    demos: Sequence[Demo],
    *,
    env_name: str = "labworks_human_demo",
    env_kwargs: Mapping[str, Any] | None = None,
    valid_fraction: float = 0.1,
) -> Path:
    """Write ``demos`` to a robomimic HDF5 file (layout in the module docstring).

    The last ``ceil(valid_fraction * n)`` demos (at least one when there are two or more) go
    into ``mask/valid``, the rest into ``mask/train``.
    """
    import h5py

    if not demos:
        raise DataError("export_robomimic needs at least one demo")
    if not 0 <= valid_fraction < 1:
        raise ConfigError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [f"demo_{i}" for i in range(len(demos))]
    n_valid = (
        0
        if len(demos) < 2
        else max(1, int(np.ceil(valid_fraction * len(demos))))
        if valid_fraction > 0
        else 0
    )
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        total = 0
        for name, demo in zip(names, demos, strict=True):
            g = data.create_group(name)
            g.create_dataset("actions", data=np.asarray(demo.actions, dtype=np.float64))
            g.create_dataset(
                "rewards",
                data=np.asarray(
                    demo.rewards if demo.rewards is not None else np.zeros(len(demo.actions))
                ),
            )
            dones = demo.dones
            if dones is None:
                dones = np.zeros(len(demo.actions))
                dones[-1] = 1
            g.create_dataset("dones", data=np.asarray(dones))
            for grp_name, group in (("obs", demo.obs), ("next_obs", demo.next_obs)):
                if group is None:
                    continue
                og = g.create_group(grp_name)
                for k, v in group.items():
                    og.create_dataset(k, data=np.asarray(v))
            g.attrs["num_samples"] = len(demo.actions)
            for k, v in demo.attrs.items():
                g.attrs[k] = v
            total += len(demo.actions)
        data.attrs["total"] = total
        data.attrs["env_args"] = json.dumps(
            {"env_name": env_name, "type": 1, "env_kwargs": dict(env_kwargs or {})}
        )
        mask = f.create_group("mask")
        train = names[: len(names) - n_valid]
        valid = names[len(names) - n_valid :]
        mask.create_dataset("train", data=np.array(train, dtype="S"))
        mask.create_dataset("valid", data=np.array(valid, dtype="S"))
    return path


def read_robomimic(path: str | Path) -> list[Demo]:
    """Read every ``data/demo_*`` of a robomimic HDF5 file, in demo-number order."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataError(f"robomimic file {str(path)!r} does not exist")
    out = []
    with h5py.File(path, "r") as f:
        if "data" not in f:
            raise DataError(f"{str(path)!r} has no 'data' group: not a robomimic file")
        names = sorted(
            f["data"].keys(),
            key=lambda s: int(s.split("_")[-1]) if s.split("_")[-1].isdigit() else -1,
        )
        for name in names:
            g = f["data"][name]
            if "actions" not in g:
                raise DataError(f"{str(path)!r}: data/{name} has no actions")
            obs = {k: g["obs"][k][()] for k in g["obs"]} if "obs" in g else {}
            nxt = {k: g["next_obs"][k][()] for k in g["next_obs"]} if "next_obs" in g else None
            out.append(
                Demo(
                    g["actions"][()],
                    obs,
                    nxt,
                    g["rewards"][()] if "rewards" in g else None,
                    g["dones"][()] if "dones" in g else None,
                    dict(g.attrs),
                )
            )
    return out
