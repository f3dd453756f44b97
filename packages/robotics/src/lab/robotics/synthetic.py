"""Synthetic RGB-D episodes of the gripper with ground truth, rendered by ray casting.

Rendering uses ``open3d.t.geometry.RaycastingScene`` (no display or graphics stack needed):
each pixel's ray gives the z-depth and the id of the geometry it hits, so the colour image,
the depth image and an exact part-label image come out of one cast. Colours are the flat
part colours times a head-light Lambert factor (brightness changes, hue does not) plus
Gaussian colour noise; depth gets Gaussian noise growing with the squared distance, the usual
structured-light/ToF model. All of this is OURS (the paper renders with robosuite/MuJoCo).

A scene holds a grey table, clutter boxes with random colours whose hues keep away from the
gripper colours, optionally a small green distractor (so that DBSCAN has something to reject),
and the gripper moving along a smooth random trajectory (or poses you pass in).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from lab.core import ConfigError, DataError

from ._open3d import o3d
from .gripper import GripperModel
from .rgbd import CameraIntrinsics, RGBDFrame
from .transforms import check_pose, look_at, make_pose

__all__ = [
    "PART_LABELS",
    "SyntheticConfig",
    "SyntheticEpisode",
    "random_trajectory",
    "synthesize_episode",
]

#: Values of the label images: 0 background, then one per default-gripper part.
PART_LABELS = {"background": 0, "hand": 1, "handle": 2, "finger_a": 3, "finger_b": 4, "body": 1}

#: Base orientation of the gripper in the synthetic world: approach axis pointing down.
BASE_ROTATION = Rotation.from_euler("x", 180, degrees=True)


@dataclass(frozen=True)
class SyntheticConfig:
    """Scene, cameras, noise and trajectory of a synthetic episode (all OURS).

    Attributes:
        width: image width in pixels (the paper renders 640x480).
        height: image height in pixels.
        fov_deg: horizontal field of view.
        n_cameras: cameras on a circle around the workspace, fused into one cloud.
        camera_distance: distance of each camera from the workspace centre (m).
        camera_elevation_deg: camera elevation above the table.
        n_frames: frames per episode.
        workspace_center: centre of the gripper's motion (table at z=0).
        position_range: half-extent of the random waypoints around the centre (m).
        rotation_range_deg: largest tilt of waypoint orientations away from pointing down.
        yaw_range_deg: largest rotation of each waypoint about the vertical axis.
        episode_yaw_range_deg: largest yaw applied to the whole trajectory (one draw per
            episode), so that short, slow episodes still start in any orientation.
        n_waypoints: waypoints of the random trajectory.
        depth_noise: depth noise std at 1 m (m); scales with depth squared.
        color_noise: colour noise std (0-255 units).
        n_clutter: clutter boxes on the table.
        distractor: add a small green box away from the gripper (tests DBSCAN).
        min_width: smallest gripper opening along the trajectory.
        max_width: largest gripper opening along the trajectory (<= the gripper's max).
    """

    width: int = 320
    height: int = 240
    fov_deg: float = 50.0
    n_cameras: int = 2
    camera_distance: float = 0.5
    camera_elevation_deg: float = 50.0
    n_frames: int = 20
    workspace_center: tuple[float, float, float] = (0.0, 0.0, 0.2)
    position_range: float = 0.08
    rotation_range_deg: float = 35.0
    yaw_range_deg: float = 90.0
    episode_yaw_range_deg: float = 180.0
    n_waypoints: int = 3
    depth_noise: float = 0.001
    color_noise: float = 4.0
    n_clutter: int = 5
    distractor: bool = True
    min_width: float = 0.01
    max_width: float = 0.07

    def __post_init__(self) -> None:
        if self.width < 8 or self.height < 8:
            raise ConfigError(f"image {self.width}x{self.height} is too small")
        if not 1 <= self.fov_deg < 179:
            raise ConfigError(f"fov_deg must be in [1, 179), got {self.fov_deg}")
        if self.n_cameras < 1 or self.n_frames < 1 or self.n_waypoints < 2:
            raise ConfigError(
                f"need n_cameras >= 1, n_frames >= 1, n_waypoints >= 2; got "
                f"{self.n_cameras}, {self.n_frames}, {self.n_waypoints}"
            )
        if self.depth_noise < 0 or self.color_noise < 0:
            raise ConfigError(
                f"noise levels must be >= 0, got {self.depth_noise}, {self.color_noise}"
            )
        if not 0 <= self.min_width <= self.max_width:
            raise ConfigError(
                f"need 0 <= min_width <= max_width, got {self.min_width}, {self.max_width}"
            )

    def intrinsics(self) -> CameraIntrinsics:
        f = 0.5 * self.width / np.tan(np.radians(self.fov_deg) / 2)
        return CameraIntrinsics(
            self.width, self.height, f, f, (self.width - 1) / 2, (self.height - 1) / 2
        )

    def camera_poses(self) -> list[np.ndarray]:
        c = np.asarray(self.workspace_center, dtype=float)
        el = np.radians(self.camera_elevation_deg)
        poses = []
        for i in range(self.n_cameras):
            az = np.radians(-60.0 + 360.0 * i / self.n_cameras)
            eye = c + self.camera_distance * np.array(
                [np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)]
            )
            poses.append(look_at(eye, c))
        return poses


@dataclass(frozen=True)
class SyntheticEpisode:
    """A rendered episode: ``frames[t][camera]``, ground-truth gripper poses (T, 4, 4) in the
    world, opening widths (T,), TCP poses (T, 4, 4) and part-label images ``labels[t][camera]``."""

    frames: list[list[RGBDFrame]]
    poses: np.ndarray
    widths: np.ndarray
    tcp_poses: np.ndarray
    labels: list[list[np.ndarray]]


def random_trajectory(config: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """Smooth random gripper poses (T, 4, 4): slerp/cosine blends between random waypoints."""
    c = np.asarray(config.workspace_center, dtype=float)
    k = config.n_waypoints
    pos = c + rng.uniform(-config.position_range, config.position_range, size=(k, 3)) * np.array(
        [1, 1, 0.6]
    )
    tilt_axis = rng.normal(size=(k, 3)) * np.array([1, 1, 0])
    tilt_axis /= np.linalg.norm(tilt_axis, axis=1, keepdims=True)
    tilt = np.radians(rng.uniform(0, config.rotation_range_deg, size=k))
    yaw = np.radians(rng.uniform(-config.yaw_range_deg, config.yaw_range_deg, size=k))
    yaw = yaw + np.radians(rng.uniform(-config.episode_yaw_range_deg, config.episode_yaw_range_deg))
    rots = (
        Rotation.from_rotvec(tilt_axis * tilt[:, None])
        * Rotation.from_euler("z", yaw[:, None])
        * BASE_ROTATION
    )
    t = np.linspace(0, k - 1, config.n_frames)
    seg = np.minimum(np.floor(t).astype(int), k - 2)
    u = t - seg
    s = 0.5 - 0.5 * np.cos(np.pi * u)  # ease in/out inside each segment
    p = pos[seg] * (1 - s)[:, None] + pos[seg + 1] * s[:, None]
    slerp = Slerp(np.arange(k), rots)
    r = slerp(seg + s)
    return np.stack([make_pose(r[i], p[i]) for i in range(config.n_frames)])


def _clutter(config: SyntheticConfig, rng: np.random.Generator) -> list[tuple[Any, np.ndarray]]:
    g = o3d().geometry
    out = []
    table = g.TriangleMesh.create_box(1.2, 1.2, 0.02)
    table.translate([-0.6, -0.6, -0.02])
    out.append((table, np.array([0.55, 0.55, 0.52])))
    forbidden = np.array([120.0, 180.0, 300.0])
    for _ in range(config.n_clutter):
        while True:
            hue = rng.uniform(0, 360)
            if np.all(np.abs((hue - forbidden + 180) % 360 - 180) > 35):
                break
        sat = rng.uniform(0.0, 0.8)
        colour = _hsv_to_rgb(hue, sat, rng.uniform(0.4, 0.9))
        size = rng.uniform([0.03, 0.03, 0.02], [0.1, 0.1, 0.12])
        ang = rng.uniform(0, 2 * np.pi)
        rad = rng.uniform(0.12, 0.3)
        box = g.TriangleMesh.create_box(*size)
        box.translate([rad * np.cos(ang) - size[0] / 2, rad * np.sin(ang) - size[1] / 2, 0.0])
        out.append((box, colour))
    if config.distractor:
        box = g.TriangleMesh.create_box(0.015, 0.015, 0.015)
        ang = rng.uniform(0, 2 * np.pi)
        box.translate([0.32 * np.cos(ang), 0.32 * np.sin(ang), 0.0])
        out.append((box, np.array([0.1, 0.9, 0.1])))
    return out


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    c = v * s
    x = c * (1 - abs((h / 60.0) % 2 - 1))
    m = v - c
    i = int(h // 60) % 6
    rgb = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][i]
    return np.array(rgb) + m


def _rays(intr: CameraIntrinsics, cam_to_world: np.ndarray) -> np.ndarray:
    u, v = np.meshgrid(np.arange(intr.width), np.arange(intr.height))
    d_cam = np.stack(
        [(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u, dtype=float)], -1
    )
    d = d_cam @ cam_to_world[:3, :3].T
    o = np.broadcast_to(cam_to_world[:3, 3], d.shape)
    return np.concatenate([o, d], -1).astype(np.float32)


def render_frame(
    meshes: Sequence[tuple[Any, np.ndarray | None, int]],
    intr: CameraIntrinsics,
    cam_to_world: np.ndarray,
    rng: np.random.Generator,
    *,
    depth_noise: float,
    color_noise: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ray-cast (mesh, colour, label) triples: colour uint8, depth float32 (m), label uint8.

    ``colour`` is an RGB triple in [0, 1], or None to use the mesh's per-vertex colours
    (interpolated barycentrically over each triangle).
    """
    O3D = o3d()
    scene = O3D.t.geometry.RaycastingScene()
    colours, labels, vertex_cols = [], [], []
    for mesh, colour, label in meshes:
        scene.add_triangles(O3D.t.geometry.TriangleMesh.from_legacy(mesh))
        if colour is None:
            if not mesh.has_vertex_colors():
                raise DataError("render_frame: colour None needs a mesh with vertex colours")
            tri = np.asarray(mesh.triangles)
            vertex_cols.append(np.asarray(mesh.vertex_colors)[tri])  # (n_tri, 3 vertices, 3)
            colours.append(np.zeros(3))
        else:
            vertex_cols.append(None)
            colours.append(np.asarray(colour, dtype=float))
        labels.append(label)
    rays = _rays(intr, cam_to_world)
    hit = scene.cast_rays(O3D.core.Tensor(rays))
    t = hit["t_hit"].numpy()
    gid = hit["geometry_ids"].numpy().astype(np.int64)
    nrm = hit["primitive_normals"].numpy()
    valid = np.isfinite(t)
    gid = np.where(valid, gid, 0)
    col_tab = np.asarray(colours, dtype=float)
    lab_tab = np.asarray(labels, dtype=np.uint8)
    base = col_tab[gid]
    if any(v is not None for v in vertex_cols):
        prim = hit["primitive_ids"].numpy().astype(np.int64)
        uv = hit["primitive_uvs"].numpy()
        for g, vc in enumerate(vertex_cols):
            if vc is None:
                continue
            m = valid & (gid == g)
            c = vc[prim[m]]
            u, v = uv[m][:, :1], uv[m][:, 1:2]
            base[m] = (1 - u - v) * c[:, 0] + u * c[:, 1] + v * c[:, 2]
    d = rays[..., 3:] / np.linalg.norm(rays[..., 3:], axis=-1, keepdims=True)
    shade = 0.35 + 0.65 * np.abs(np.sum(nrm * d, axis=-1))
    color = base * shade[..., None] * 255.0
    color = np.where(valid[..., None], color, 20.0)
    if color_noise > 0:
        color = color + rng.normal(0, color_noise, size=color.shape)
    depth = np.where(valid, t, 0.0)
    if depth_noise > 0:
        depth = np.where(
            valid, depth + rng.normal(0, 1, size=depth.shape) * depth_noise * depth**2, 0.0
        )
    label_img = np.where(valid, lab_tab[gid], 0).astype(np.uint8)
    return (
        np.clip(np.round(color), 0, 255).astype(np.uint8),
        np.maximum(depth, 0).astype(np.float32),
        label_img,
    )


def synthesize_episode(
    config: SyntheticConfig | None = None,
    *,
    seed: int = 0,
    gripper: GripperModel | None = None,
    poses: np.ndarray | None = None,
    widths: np.ndarray | None = None,
) -> SyntheticEpisode:
    """Render a gripper episode in RGB-D from ``config.n_cameras`` cameras with ground truth.

    Args:
        config: scene/camera/noise settings (defaults: :class:`SyntheticConfig`).
        seed: seeds trajectory, clutter and noise (numpy Generator; fully reproducible).
        gripper: the default gripper (its fingers are moved to each frame's width) or a user
            mesh (:meth:`GripperModel.from_mesh`), rendered with its per-vertex colours; a
            user mesh has a fixed opening, so its widths are :meth:`GripperModel.fixed_width`.
        poses: optional (T, 4, 4) gripper-to-world poses to render instead of a random trajectory.
        widths: optional (T,) openings; default a smooth random open/close profile (default
            gripper only: a user mesh cannot be given other widths than its own).
    """
    cfg = config or SyntheticConfig()
    model = gripper or GripperModel.default()
    rng = np.random.default_rng(seed)
    if poses is None:
        poses = random_trajectory(cfg, rng)
    else:
        poses = np.asarray(poses, dtype=float)
        if poses.ndim != 3 or poses.shape[1:] != (4, 4) or len(poses) == 0:
            raise DataError(f"poses must have shape (T, 4, 4), got {poses.shape}")
        for i, p in enumerate(poses):
            check_pose(p, f"poses[{i}]")
    n = len(poses)
    if model.config is None:  # a user mesh: its opening is what the mesh shows
        fixed = np.full(n, model.fixed_width())
        if widths is not None and not np.allclose(
            np.asarray(widths, dtype=float), fixed, atol=1e-6, equal_nan=True
        ):
            raise DataError(
                f"a user mesh has a fixed opening ({fixed[0]:.4f} m); synthesize_episode "
                "cannot render it at other widths (omit widths)"
            )
        widths = fixed
    elif widths is None:
        phase = rng.uniform(0, 2 * np.pi)
        s = 0.5 + 0.5 * np.sin(phase + np.linspace(0, 2 * np.pi, n))
        widths = cfg.min_width + (cfg.max_width - cfg.min_width) * s
    widths = np.asarray(widths, dtype=float)
    if widths.shape != (n,):
        raise DataError(f"widths must have shape ({n},), got {widths.shape}")
    if model.config is not None and (widths.min() < 0 or widths.max() > model.config.max_width):
        raise DataError(
            f"widths must lie in [0, {model.config.max_width}], got range "
            f"[{widths.min():.4f}, {widths.max():.4f}]"
        )
    static = [(m, c, 0) for m, c in _clutter(cfg, rng)]
    intr = cfg.intrinsics()
    cams = cfg.camera_poses()
    frames, labels = [], []
    for i in range(n):
        m = model.with_width(float(widths[i])) if model.config is not None else model
        parts = []
        for name, mesh in m.parts.items():
            g = o3d().geometry.TriangleMesh(mesh)
            g.transform(poses[i])
            colour = None if mesh.has_vertex_colors() else np.array([0, 1.0, 0])
            parts.append((g, colour, PART_LABELS.get(name, 1)))
        per_cam, per_lab = [], []
        for c, cam in enumerate(cams):
            col, dep, lab = render_frame(
                static + parts,
                intr,
                cam,
                rng,
                depth_noise=cfg.depth_noise,
                color_noise=cfg.color_noise,
            )
            per_cam.append(RGBDFrame(col, dep, intr, cam, name=f"cam{c}/{i:06d}"))
            per_lab.append(lab)
        frames.append(per_cam)
        labels.append(per_lab)
    tcp = np.einsum("tij,jk->tik", poses, model.tcp)
    return SyntheticEpisode(frames, poses, widths, tcp, labels)
