"""robomimic HDF5 export and read-back."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from lab.core import DataError
from lab.robotics import (
    ActionConfig,
    Demo,
    demo_from_poses,
    export_robomimic,
    make_pose,
    read_robomimic,
)


def test_export_and_read_back(tmp_path):
    poses = np.stack([make_pose(np.eye(3), (0.01 * i, 0, 0.2)) for i in range(5)])
    widths = np.array([0.06, 0.06, 0.02, 0.02, 0.02])
    d0 = demo_from_poses(
        poses,
        widths,
        config=ActionConfig(mode="delta"),
        extra_obs={"object": np.arange(15.0).reshape(5, 3)},
    )
    d1 = Demo(np.ones((3, 7)), {"robot0_eef_pos": np.zeros((3, 3))})
    path = export_robomimic(
        tmp_path / "demos.hdf5", [d0, d1], env_name="test_env", valid_fraction=0.5
    )
    with h5py.File(path) as f:
        assert f["data"].attrs["total"] == 4 + 3
        assert json.loads(f["data"].attrs["env_args"])["env_name"] == "test_env"
        assert f["data/demo_0"].attrs["num_samples"] == 4
        assert sorted(f["data/demo_0/obs"]) == [
            "object",
            "robot0_eef_pos",
            "robot0_eef_quat",
            "robot0_gripper_qpos",
        ]
        assert [n.decode() for n in f["mask/train"][()]] == ["demo_0"]
        assert [n.decode() for n in f["mask/valid"][()]] == ["demo_1"]
    back = read_robomimic(path)
    assert len(back) == 2
    np.testing.assert_allclose(back[0].actions, d0.actions)
    np.testing.assert_allclose(back[0].actions[:, :3], [[0.01, 0, 0]] * 4, atol=1e-12)
    np.testing.assert_allclose(back[0].actions[:, -1], [-1, 1, 1, 1])
    np.testing.assert_allclose(back[0].obs["robot0_eef_quat"], np.tile([0, 0, 0, 1.0], (4, 1)))
    np.testing.assert_allclose(back[0].next_obs["object"], np.arange(3.0, 15.0).reshape(4, 3))
    np.testing.assert_allclose(back[0].obs["robot0_gripper_qpos"][:, 0], widths[:-1] / 2)
    assert back[0].dones.tolist() == [0, 0, 0, 1]
    np.testing.assert_allclose(back[1].actions, 1.0)


def test_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="obs/x has 2 rows"):
        Demo(np.zeros((3, 7)), {"x": np.zeros((2, 1))})
    with pytest.raises(DataError, match="at least one demo"):
        export_robomimic(tmp_path / "x.hdf5", [])
    with pytest.raises(DataError, match="does not exist"):
        read_robomimic(tmp_path / "missing.hdf5")
