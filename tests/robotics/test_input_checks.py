"""Issue 22 item 2: inputs in the wrong unit, shape or format are refused with a clear error."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from lab.core import DataError
from lab.robotics import (
    CameraIntrinsics,
    GripperModel,
    RGBDFrame,
    SyntheticConfig,
    make_pose,
    segment_frames,
    synthesize_episode,
)
from lab.robotics.synthetic import BASE_ROTATION

INTR = CameraIntrinsics(4, 3, 2.0, 2.0, 1.5, 1.0)


def test_integer_depth_is_refused_with_a_depth_scale_hint():
    depth_mm = np.full((3, 4), 600, dtype=np.uint16)
    with pytest.raises(DataError, match=r"uint16.*depth_scale.*1000"):
        RGBDFrame(np.zeros((3, 4, 3), np.uint8), depth_mm, INTR)


def test_float_millimetres_are_refused_with_a_depth_scale_hint():
    with pytest.raises(DataError, match=r"median depth 600.0 m.*depth_scale"):
        RGBDFrame(np.zeros((3, 4, 3), np.uint8), np.full((3, 4), 600.0, np.float32), INTR)
    RGBDFrame(np.zeros((3, 4, 3), np.uint8), np.full((3, 4), 0.6, np.float32), INTR)  # metres


def test_cam_to_world_must_be_rigid():
    scaled = np.diag([2.0, 2.0, 2.0, 1.0])
    shear = np.eye(4)
    shear[0, 1] = 0.3
    mirror = np.diag([1.0, 1.0, -1.0, 1.0])
    for bad in (scaled, shear, mirror, np.full((4, 4), np.nan)):
        with pytest.raises(DataError, match="cam_to_world"):
            RGBDFrame(np.zeros((3, 4, 3), np.uint8), np.zeros((3, 4), np.float32), INTR, bad)


def test_unparsable_ply_says_so(tmp_path):
    bad = tmp_path / "broken.ply"
    bad.write_text("this is not a mesh\n")
    with pytest.raises(DataError, match="not a PLY file"):
        GripperModel.from_mesh(bad)
    garbled = tmp_path / "garbled.ply"
    garbled.write_text("ply\nformat ascii 1.0\nelement vertex banana\nend_header\n")
    with pytest.raises(DataError, match="could not be parsed"):
        GripperModel.from_mesh(garbled)
    cloud = tmp_path / "cloud.ply"
    pcd = o3d.geometry.PointCloud(
        o3d.utility.Vector3dVector(np.random.default_rng(0).random((20, 3)))
    )
    o3d.io.write_point_cloud(str(cloud), pcd)
    with pytest.raises(DataError, match="no triangles"):
        GripperModel.from_mesh(cloud)


@pytest.fixture(scope="module")
def user_mesh_path(tmp_path_factory, model):
    """The default gripper saved as a coloured .ply, its palm a green-to-yellow gradient."""
    mesh = model.mesh()
    cols = np.asarray(mesh.vertex_colors).copy()
    hand = np.asarray(model.parts["hand"].vertices)
    n_hand = len(hand)  # mesh() merges parts in model order: hand first
    x = hand[:, 0]
    red = 0.7 * (x - x.min()) / np.ptp(x)
    cols[:n_hand] = np.stack([red, np.ones_like(x), np.zeros_like(x)], 1)
    mesh.vertex_colors = o3d.utility.Vector3dVector(cols)
    path = tmp_path_factory.mktemp("mesh") / "gripper.ply"
    assert o3d.io.write_triangle_mesh(str(path), mesh, write_vertex_colors=True)
    return path


def test_user_mesh_with_fingers_renders_with_its_vertex_colours(user_mesh_path):
    user = GripperModel.from_mesh(user_mesh_path, finger_hues=(180.0, 300.0))
    assert user.fixed_width() == pytest.approx(0.04)
    cfg = SyntheticConfig(
        width=160, height=120, n_cameras=1, n_frames=1, n_clutter=0, color_noise=0
    )
    pose = make_pose(BASE_ROTATION, (0.0, 0.0, 0.2))
    ep = synthesize_episode(cfg, seed=0, gripper=user, poses=pose[None])
    np.testing.assert_allclose(ep.widths, [0.04])
    frame, labels = ep.frames[0][0], ep.labels[0][0]
    body = frame.color[labels == 1].astype(float)
    # per-vertex colours: the palm shows its gradient (red 0 to 0.7), not one uniform colour
    assert body[:, 0].max() > 60 and body[:, 0].min() < 10
    assert (labels == 3).sum() > 0 and (labels == 4).sum() > 0  # both fingers rendered
    with pytest.raises(DataError, match="fixed opening"):
        synthesize_episode(cfg, gripper=user, poses=pose[None], widths=np.array([0.02]))


def test_user_mesh_episode_segments_its_fingers(model, tmp_path):
    path = tmp_path / "plain.ply"
    assert o3d.io.write_triangle_mesh(str(path), model.mesh(), write_vertex_colors=True)
    user = GripperModel.from_mesh(path, finger_hues=(180.0, 300.0))
    cfg = SyntheticConfig(width=192, height=144, n_frames=1, n_clutter=2)
    ep = synthesize_episode(cfg, seed=1, gripper=user)
    seg = segment_frames(ep.frames[0])
    assert seg.ok and seg.counts["finger_a"] > 10 and seg.counts["finger_b"] > 10
