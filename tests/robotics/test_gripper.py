"""The gripper model: asymmetry, TCP, sampling, user meshes."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from lab.core import ConfigError, DataError
from lab.robotics import GripperConfig, GripperModel


def _chamfer(a: np.ndarray, b: np.ndarray) -> float:
    return float(cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean())


def test_default_parts_colours_and_tcp():
    m = GripperModel.default()
    assert set(m.parts) == {"hand", "handle", "finger_a", "finger_b"}
    colours = {n: np.asarray(p.vertex_colors)[0] for n, p in m.parts.items()}
    np.testing.assert_allclose(colours["hand"], [0, 1, 0])
    np.testing.assert_allclose(colours["finger_a"], [0, 1, 1])
    np.testing.assert_allclose(colours["finger_b"], [1, 0, 1])
    np.testing.assert_allclose(m.tcp[:3, 3], [0, 0, 0.05])
    # fingers sit symmetrically around the TCP at the requested opening
    fa = m.parts["finger_a"].get_axis_aligned_bounding_box()
    fb = m.parts["finger_b"].get_axis_aligned_bounding_box()
    assert fa.get_min_bound()[0] - fb.get_max_bound()[0] == pytest.approx(m.width)
    assert fa.get_min_bound()[0] == pytest.approx(m.width / 2)
    assert GripperModel.default(width=0.07).width == 0.07


def test_default_gripper_has_no_rigid_self_symmetry():
    m = GripperModel.default()
    pts, _, _ = m.sample(3000, parts=list(m.body_parts), seed=0)
    c = pts.mean(0)
    base = _chamfer(pts, m.sample(3000, parts=list(m.body_parts), seed=1)[0])
    group = Rotation.create_group("O")
    others = [r for r in group if r.magnitude() > 1e-6]
    assert len(others) == 23  # every non-identity rotation of the cube group
    for r in others:
        moved = r.apply(pts - c) + c
        assert _chamfer(moved, pts) > 5 * base, r.as_rotvec()


def test_sampling_is_seeded_and_on_the_surface():
    m = GripperModel.default()
    a, na, la = m.sample(500, seed=3)
    b, _, _ = m.sample(500, seed=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(na, axis=1), 1.0, atol=1e-9)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(m.mesh()))
    d = scene.compute_distance(o3d.core.Tensor(a.astype(np.float32))).numpy()
    assert d.max() < 1e-5
    assert set(np.unique(la)) <= set(range(len(m.parts)))


def test_width_and_config_validation():
    with pytest.raises(ConfigError, match="width"):
        GripperModel.default(width=0.5)
    with pytest.raises(ConfigError, match="palm_size"):
        GripperConfig(palm_size=(0.08, -0.01, 0.02))
    with pytest.raises(ConfigError, match="tcp"):
        GripperModel(GripperModel.default().parts, np.eye(3), body_parts=("hand",))


def test_user_mesh_with_tcp_offset_and_finger_hues(tmp_path):
    m = GripperModel.default()
    path = tmp_path / "gripper.ply"
    assert o3d.io.write_triangle_mesh(str(path), m.mesh(), write_vertex_colors=True)
    user = GripperModel.from_mesh(path, tcp_offset=(0.0, 0.0, 0.05), finger_hues=(180.0, 300.0))
    assert user.finger_parts == ("finger_a", "finger_b")
    np.testing.assert_allclose(user.tcp[:3, 3], [0, 0, 0.05])
    n_tri = {n: len(p.triangles) for n, p in m.parts.items()}
    assert len(user.parts["finger_a"].triangles) == n_tri["finger_a"]
    assert len(user.parts["body"].triangles) == n_tri["hand"] + n_tri["handle"]
    assert user.finger_thickness() == pytest.approx(0.012)
    mm = GripperModel.from_mesh(path, scale=1000.0, tcp_offset=np.eye(4))
    ext = mm.parts["body"].get_axis_aligned_bounding_box().get_extent()
    assert ext[0] == pytest.approx(1000 * m.mesh().get_axis_aligned_bounding_box().get_extent()[0])
    with pytest.raises(DataError, match="unsupported extension"):
        GripperModel.from_mesh(tmp_path / "g.dae")
    with pytest.raises(DataError, match="does not exist"):
        GripperModel.from_mesh(tmp_path / "missing.stl")
    with pytest.raises(ConfigError, match="tcp_offset"):
        GripperModel.from_mesh(path, tcp_offset=(1.0, 2.0))


def test_missing_open3d_names_both_wheels_and_apt(monkeypatch):
    import sys

    from lab.robotics._open3d import o3d as get_o3d

    monkeypatch.setitem(sys.modules, "open3d", None)  # import open3d -> ImportError
    with pytest.raises(
        ImportError, match=r"labworks-robotics\[cpu\].*labworks-robotics\[gpu\].*libusb"
    ):
        get_o3d()
