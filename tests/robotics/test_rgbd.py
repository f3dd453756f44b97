"""RGB-D frames: back-projection, folder round trip, multi-camera fusion."""

from __future__ import annotations

import json

import numpy as np
import open3d as o3d
import pytest

from lab.core import DataError
from lab.robotics import (
    CameraIntrinsics,
    RGBDFrame,
    frame_to_point_cloud,
    fuse_point_clouds,
    load_rgbd_folder,
    make_pose,
    save_rgbd_folder,
)


def test_back_projection_of_a_plane_matches_the_pinhole_model():
    intr = CameraIntrinsics(8, 6, fx=10.0, fy=20.0, cx=3.0, cy=2.0)
    depth = np.full((6, 8), 2.0, dtype=np.float32)
    depth[0, 0] = 0.0  # no data: no point
    color = np.zeros((6, 8, 3), np.uint8)
    color[..., 1] = 255
    pose = make_pose(np.eye(3), (1.0, 0.0, 0.0))
    pcd = frame_to_point_cloud(RGBDFrame(color, depth, intr, pose))
    pts = np.asarray(pcd.points)
    assert len(pts) == 47
    u, v = np.meshgrid(np.arange(8), np.arange(6))
    expect = np.stack(
        [(u - 3.0) * 2.0 / 10.0 + 1.0, (v - 2.0) * 2.0 / 20.0, np.full(u.shape, 2.0)], -1
    )
    np.testing.assert_allclose(pts, expect.reshape(-1, 3)[1:], atol=1e-6)
    np.testing.assert_allclose(np.asarray(pcd.colors)[:, 1], 1.0)


def test_rendered_points_lie_on_the_scene(episode, model):
    # With no depth noise, every back-projected gripper pixel is on the posed gripper surface.
    from lab.robotics import SyntheticConfig, synthesize_episode

    ep = synthesize_episode(
        SyntheticConfig(width=128, height=96, n_frames=1, depth_noise=0.0), seed=1
    )
    scene = o3d.t.geometry.RaycastingScene()
    mesh = model.with_width(float(ep.widths[0])).mesh()
    mesh.transform(ep.poses[0])
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    for frame, lab in zip(ep.frames[0], ep.labels[0], strict=True):
        pts = np.asarray(frame_to_point_cloud(frame).points)
        grip = pts[(lab[frame.depth > 0] > 0)]
        assert len(grip) > 50
        d = scene.compute_distance(o3d.core.Tensor(grip.astype(np.float32))).numpy()
        assert np.percentile(d, 99) < 1e-4


def test_folder_round_trip_png_and_npy(tmp_path, episode):
    frames = episode.frames[:2]
    save_rgbd_folder(tmp_path / "png", frames)
    save_rgbd_folder(tmp_path / "npy", frames, depth_format="npy")
    for fmt, tol in (("png", 0.5e-3 + 1e-6), ("npy", 0.0)):
        back = load_rgbd_folder(tmp_path / fmt)
        assert len(back) == 2 and len(back[0]) == len(frames[0])
        for t in range(2):
            for c in range(len(frames[0])):
                np.testing.assert_array_equal(back[t][c].color, frames[t][c].color)
                np.testing.assert_allclose(back[t][c].depth, frames[t][c].depth, atol=tol)
                np.testing.assert_allclose(back[t][c].cam_to_world, frames[t][c].cam_to_world)
    f0 = frames[0][0]
    again = RGBDFrame.from_open3d(f0.to_open3d(), f0.intrinsics, f0.cam_to_world)
    np.testing.assert_array_equal(again.color, f0.color)
    np.testing.assert_array_equal(again.depth, f0.depth)
    fused = fuse_point_clouds(back[0])
    n = sum(int((f.depth > 0).sum()) for f in back[0])
    assert len(fused.points) == n


def test_folder_errors_and_open3d_intrinsics(tmp_path, episode):
    root = save_rgbd_folder(tmp_path / "x", episode.frames[:1])
    (root / "cam1" / "extrinsics.json").unlink()
    with pytest.raises(DataError, match=r"cam1.*extrinsics"):
        load_rgbd_folder(root)
    (root / "cam0" / "depth" / "000000.png").unlink()
    with pytest.raises(DataError, match="no depth"):
        load_rgbd_folder(root / "cam0")
    intr = episode.frames[0][0].intrinsics
    o3d.io.write_pinhole_camera_intrinsic(str(tmp_path / "o3d.json"), intr.to_open3d())
    back = CameraIntrinsics.from_json(tmp_path / "o3d.json")
    assert (back.fx, back.cx, back.width) == pytest.approx((intr.fx, intr.cx, intr.width))
    (tmp_path / "bad.json").write_text(json.dumps({"width": 4}))
    with pytest.raises(DataError, match="lacks key 'height'"):
        CameraIntrinsics.from_json(tmp_path / "bad.json")
    with pytest.raises(DataError, match="colour must be uint8"):
        RGBDFrame(np.zeros((2, 2, 3)), np.zeros((2, 2)), CameraIntrinsics(2, 2, 1, 1, 1, 1))
    with pytest.raises(DataError, match="negative depth"):
        RGBDFrame(
            np.zeros((2, 2, 3), np.uint8), -np.ones((2, 2)), CameraIntrinsics(2, 2, 1, 1, 1, 1)
        )
