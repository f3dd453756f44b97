"""The hand-held gripper model: a default asymmetric parallel-jaw gripper or a user mesh.

The paper recolours the gripper so that it is easy to segment: hand pure green, one finger
cyan, the other magenta. The default model here is built from Open3D box primitives in that
colour scheme, with a handle that makes it clearly asymmetric (no rotation maps it onto
itself, so registration cannot flip it by 180 degrees), and its tool centre point (TCP).

Gripper frame (OURS, the paper uses robosuite's Panda hand): origin at the centre of the
palm, +z the approach direction (palm to finger tips), +x the opening direction towards the
cyan finger, +y = z x x. The handle sits behind the palm (-z), offset to +x, with a thumb rest
on its +y side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lab.core import ConfigError, DataError

from ._open3d import o3d
from .segmentation import rgb_to_hsv

__all__ = ["BODY_PARTS", "FINGER_PARTS", "GripperConfig", "GripperModel", "part_hue_labels"]

#: Parts of the default model that move rigidly with the hand (used for registration).
BODY_PARTS = ("hand", "handle")
#: The two fingers: ``finger_a`` (cyan, +x side) and ``finger_b`` (magenta, -x side).
FINGER_PARTS = ("finger_a", "finger_b")

_COLOURS = {
    "hand": (0.0, 1.0, 0.0),
    "handle": (0.0, 0.8, 0.0),
    "finger_a": (0.0, 1.0, 1.0),
    "finger_b": (1.0, 0.0, 1.0),
}


@dataclass(frozen=True)
class GripperConfig:
    """Dimensions of the default gripper in metres (all OURS; the paper used the Panda hand).

    Attributes:
        palm_size: box of the hand (x, y, z), centred on the gripper origin.
        finger_size: box of each finger (x = thickness, y, z = length).
        handle_size: box of the handle behind the palm.
        handle_offset_x: sideways offset of the handle towards the cyan finger (asymmetry).
        thumb_size: small box on the +y side of the handle (breaks the last mirror symmetry).
        width: default opening (gap between the inner finger faces).
        max_width: largest opening the fingers allow.
        tcp_depth: distance of the TCP from the palm centre along +z (between the finger tips).
    """

    palm_size: tuple[float, float, float] = (0.08, 0.03, 0.02)
    finger_size: tuple[float, float, float] = (0.012, 0.02, 0.05)
    handle_size: tuple[float, float, float] = (0.025, 0.025, 0.09)
    handle_offset_x: float = 0.02
    thumb_size: tuple[float, float, float] = (0.016, 0.014, 0.025)
    width: float = 0.04
    max_width: float = 0.08
    tcp_depth: float = 0.05

    def __post_init__(self) -> None:
        for name in ("palm_size", "finger_size", "handle_size", "thumb_size"):
            v = getattr(self, name)
            if len(v) != 3 or any(not np.isfinite(x) or x <= 0 for x in v):
                raise ConfigError(f"GripperConfig.{name} must be three positive sizes, got {v!r}")
        if not 0 <= self.width <= self.max_width:
            raise ConfigError(
                f"GripperConfig.width={self.width} must lie in [0, max_width={self.max_width}]"
            )
        if self.max_width + 2 * self.finger_size[0] > self.palm_size[0] + 0.05:
            raise ConfigError(f"GripperConfig.max_width={self.max_width} is too wide for the palm")


def _box(size: Sequence[float], centre: Sequence[float], colour: Sequence[float]) -> Any:
    mesh = o3d().geometry.TriangleMesh.create_box(*[float(s) for s in size])
    mesh.translate(np.asarray(centre, dtype=float) - np.asarray(size, dtype=float) / 2)
    mesh.paint_uniform_color(np.asarray(colour, dtype=float))
    mesh.compute_triangle_normals()
    mesh.compute_vertex_normals()
    return mesh


def part_hue_labels(colours: np.ndarray, hues: dict[str, float], tolerance: float) -> np.ndarray:
    """Name of the part whose hue (degrees) is within ``tolerance`` of each colour, else ''."""
    hsv = rgb_to_hsv(np.asarray(colours, dtype=float))
    hue, sat = hsv[..., 0], hsv[..., 1]
    out = np.full(hue.shape, "", dtype=object)
    for name, h in hues.items():
        diff = np.abs((hue - h + 180.0) % 360.0 - 180.0)
        out[(diff <= tolerance) & (sat > 0.2)] = name
    return out


class GripperModel:
    """A gripper as named Open3D triangle meshes in the gripper frame, plus its TCP.

    Build the default with :meth:`default` or load a user mesh with :meth:`from_mesh`. Parts
    listed in :attr:`body_parts` move rigidly with the hand and are what pose estimation
    registers; :attr:`finger_parts` (when present) give the opening width.

    Args:
        parts: part name -> ``open3d.geometry.TriangleMesh`` in the gripper frame.
        tcp: 4x4 pose of the tool centre point in the gripper frame.
        body_parts: names of the rigid parts.
        finger_parts: ``(finger_a, finger_b)`` names, or ``()`` when the model has no fingers.
        config: the :class:`GripperConfig` of a default model (None for a user mesh).
        width: the opening the meshes are built at (None when unknown).
    """

    def __init__(
        self,
        parts: dict[str, Any],
        tcp: np.ndarray,
        *,
        body_parts: Sequence[str],
        finger_parts: Sequence[str] = (),
        config: GripperConfig | None = None,
        width: float | None = None,
    ):
        tcp = np.asarray(tcp, dtype=float)
        if tcp.shape != (4, 4) or not np.allclose(tcp[3], [0, 0, 0, 1]):
            raise ConfigError(f"tcp must be a 4x4 homogeneous transform, got {tcp!r}")
        if not body_parts or any(p not in parts for p in body_parts):
            raise ConfigError(
                f"body_parts {list(body_parts)} must be non-empty names of {sorted(parts)}"
            )
        if any(p not in parts for p in finger_parts):
            raise ConfigError(f"finger_parts {list(finger_parts)} are not all in {sorted(parts)}")
        for name, mesh in parts.items():
            if len(mesh.triangles) == 0:
                raise DataError(f"gripper part {name!r} has no triangles")
        self.parts = dict(parts)
        self.tcp = tcp
        self.body_parts = tuple(body_parts)
        self.finger_parts = tuple(finger_parts)
        self.config = config
        self.width = width

    # ------------------------------------------------------------------ construction
    @classmethod
    def default(
        cls, config: GripperConfig | None = None, *, width: float | None = None
    ) -> GripperModel:
        """The default asymmetric gripper (hand green, fingers cyan/magenta, handle) at ``width``."""
        cfg = config or GripperConfig()
        w = cfg.width if width is None else float(width)
        if not 0 <= w <= cfg.max_width:
            raise ConfigError(f"gripper width {w} must lie in [0, {cfg.max_width}]")
        pz = cfg.palm_size[2]
        fx, fz = cfg.finger_size[0], cfg.finger_size[2]
        hy, hz = cfg.handle_size[1], cfg.handle_size[2]
        ty, tz = cfg.thumb_size[1], cfg.thumb_size[2]
        parts = {
            "hand": _box(cfg.palm_size, (0, 0, 0), _COLOURS["hand"]),
            "finger_a": _box(
                cfg.finger_size, (w / 2 + fx / 2, 0, pz / 2 + fz / 2), _COLOURS["finger_a"]
            ),
            "finger_b": _box(
                cfg.finger_size, (-w / 2 - fx / 2, 0, pz / 2 + fz / 2), _COLOURS["finger_b"]
            ),
        }
        handle = _box(
            cfg.handle_size, (cfg.handle_offset_x, 0, -pz / 2 - hz / 2), _COLOURS["handle"]
        )
        thumb = _box(
            cfg.thumb_size,
            (cfg.handle_offset_x, hy / 2 + ty / 2, -pz / 2 - tz / 2 - 0.01),
            _COLOURS["handle"],
        )
        parts["handle"] = handle + thumb
        parts["handle"].compute_triangle_normals()
        tcp = np.eye(4)
        tcp[2, 3] = cfg.tcp_depth
        return cls(
            parts, tcp, body_parts=BODY_PARTS, finger_parts=FINGER_PARTS, config=cfg, width=w
        )

    @classmethod
    def from_mesh(
        cls,
        path: str | Path,
        *,
        tcp_offset: Sequence[float] | np.ndarray = (0.0, 0.0, 0.0),
        scale: float = 1.0,
        finger_hues: tuple[float, float] | None = None,
        hue_tolerance: float = 20.0,
    ) -> GripperModel:
        """Load a user gripper mesh (.ply, .obj, .stl) with its TCP offset.

        The mesh must be in the gripper frame of this module: +z the approach direction and,
        when ``finger_hues`` are given, +x the opening direction towards the first finger
        (the plausibility check and the width estimate use it).

        Args:
            path: mesh file, in the gripper frame.
            tcp_offset: TCP position (3 values) or full 4x4 TCP pose, in the gripper frame.
            scale: factor applied to the vertices (e.g. 0.001 for a mesh in millimetres).
            finger_hues: with vertex colours, the hues (degrees) of the two fingers; their
                triangles become ``finger_a``/``finger_b`` (opening width becomes measurable)
                and the rest the rigid ``body``. Without it the whole mesh is the body (OURS).
            hue_tolerance: hue tolerance in degrees for ``finger_hues``.
        """
        path = Path(path)
        if path.suffix.lower() not in (".ply", ".obj", ".stl"):
            raise DataError(
                f"gripper mesh {str(path)!r}: unsupported extension {path.suffix!r} (use .ply, .obj or .stl)"
            )
        if not path.is_file():
            raise DataError(f"gripper mesh {str(path)!r} does not exist")
        if not np.isfinite(scale) or scale <= 0:
            raise ConfigError(f"mesh scale must be positive, got {scale!r}")
        mesh = o3d().io.read_triangle_mesh(str(path))
        if len(mesh.vertices) == 0:
            head = path.read_bytes()[:3]
            what = (
                "is not a PLY file (it does not start with 'ply')"
                if path.suffix.lower() == ".ply" and head != b"ply"
                else "could not be parsed"
            )
            raise DataError(f"gripper mesh {str(path)!r} {what}: Open3D read no vertices from it")
        if len(mesh.triangles) == 0:
            raise DataError(
                f"gripper mesh {str(path)!r} has {len(mesh.vertices)} vertices but no "
                "triangles (a point cloud, not a mesh)"
            )
        if scale != 1.0:
            mesh.scale(scale, center=np.zeros(3))
        tcp_arr = np.asarray(tcp_offset, dtype=float)
        if tcp_arr.shape == (3,):
            tcp = np.eye(4)
            tcp[:3, 3] = tcp_arr
        elif tcp_arr.shape == (4, 4):
            tcp = tcp_arr
        else:
            raise ConfigError(
                f"tcp_offset must be 3 values or a 4x4 matrix, got shape {tcp_arr.shape}"
            )
        if not mesh.has_vertex_colors():
            mesh.paint_uniform_color(np.asarray(_COLOURS["hand"]))
        parts: dict[str, Any] = {}
        if finger_hues is not None:
            tri = np.asarray(mesh.triangles)
            cols = np.asarray(mesh.vertex_colors)[tri[:, 0]]
            labels = part_hue_labels(
                cols, {"finger_a": finger_hues[0], "finger_b": finger_hues[1]}, hue_tolerance
            )
            for name, mask in (
                ("finger_a", labels == "finger_a"),
                ("finger_b", labels == "finger_b"),
                ("body", labels == ""),
            ):
                if not mask.any():
                    raise DataError(
                        f"gripper mesh {str(path)!r}: no triangles for part {name!r} "
                        f"(finger_hues={finger_hues})"
                    )
                part = o3d().geometry.TriangleMesh(mesh)
                part.remove_triangles_by_mask(~mask)
                part.remove_unreferenced_vertices()
                parts[name] = part
            fingers: tuple[str, ...] = FINGER_PARTS
        else:
            parts["body"] = mesh
            fingers = ()
        for p in parts.values():
            p.compute_triangle_normals()
            p.compute_vertex_normals()
        return cls(parts, tcp, body_parts=("body",), finger_parts=fingers)

    # ------------------------------------------------------------------ geometry
    def with_width(self, width: float) -> GripperModel:
        """The same default gripper with the fingers at opening ``width``."""
        if self.config is None:
            raise ConfigError(
                "with_width needs a default (parametric) gripper; a user mesh has a fixed width"
            )
        return GripperModel.default(self.config, width=width)

    def mesh(self, parts: Sequence[str] | None = None) -> Any:
        """The named parts (default all) merged into one coloured ``TriangleMesh``."""
        names = list(self.parts) if parts is None else list(parts)
        out = o3d().geometry.TriangleMesh()
        for n in names:
            if n not in self.parts:
                raise ConfigError(f"unknown gripper part {n!r} (known: {sorted(self.parts)})")
            out += self.parts[n]
        out.compute_triangle_normals()
        return out

    def sample(
        self, n_points: int, *, parts: Sequence[str] | None = None, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Area-uniform surface samples: (points (n, 3), normals (n, 3), part index (n,)).

        Sampling uses numpy with ``seed`` (not Open3D's global RNG), so it is reproducible.
        The part index refers to ``parts`` (default: all parts, in model order).
        """
        if n_points <= 0:
            raise ConfigError(f"n_points must be positive, got {n_points}")
        names = list(self.parts) if parts is None else list(parts)
        rng = np.random.default_rng(seed)
        tris, normals, labels, areas = [], [], [], []
        for i, n in enumerate(names):
            if n not in self.parts:
                raise ConfigError(f"unknown gripper part {n!r} (known: {sorted(self.parts)})")
            m = self.parts[n]
            v = np.asarray(m.vertices)[np.asarray(m.triangles)]
            cr = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
            a = 0.5 * np.linalg.norm(cr, axis=1)
            tris.append(v)
            normals.append(cr / np.maximum(2 * a, 1e-15)[:, None])
            labels.append(np.full(len(v), i))
            areas.append(a)
        v = np.concatenate(tris)
        nrm = np.concatenate(normals)
        lab = np.concatenate(labels)
        area = np.concatenate(areas)
        idx = rng.choice(len(v), size=n_points, p=area / area.sum())
        r1 = np.sqrt(rng.random(n_points))
        r2 = rng.random(n_points)
        t = v[idx]
        pts = (
            (1 - r1)[:, None] * t[:, 0]
            + (r1 * (1 - r2))[:, None] * t[:, 1]
            + (r1 * r2)[:, None] * t[:, 2]
        )
        return pts, nrm[idx], lab[idx]

    def point_cloud(
        self, voxel_size: float, *, parts: Sequence[str] | None = None, seed: int = 0
    ) -> Any:
        """A voxel-downsampled Open3D point cloud of the named parts with exact face normals."""
        if voxel_size <= 0:
            raise ConfigError(f"voxel_size must be positive, got {voxel_size}")
        names = list(self.body_parts) if parts is None else list(parts)
        area = sum(self.parts[n].get_surface_area() for n in names)
        n = int(min(max(4 * area / voxel_size**2, 2000), 400_000))
        pts, nrm, _ = self.sample(n, parts=names, seed=seed)
        pcd = o3d().geometry.PointCloud(o3d().utility.Vector3dVector(pts))
        pcd.normals = o3d().utility.Vector3dVector(nrm)
        return pcd.voxel_down_sample(voxel_size)

    def fixed_width(self) -> float:
        """Opening of a user mesh with fingers: the gap between the fingers' facing sides
        along x (NaN when the fingers overlap in x or the model has none)."""
        if not self.finger_parts:
            return float("nan")
        a = np.asarray(self.parts[self.finger_parts[0]].vertices)[:, 0]
        b = np.asarray(self.parts[self.finger_parts[1]].vertices)[:, 0]
        gap = float(a.min() - b.max())
        return gap if gap >= 0 else float("nan")

    def finger_thickness(self) -> float:
        """Thickness of a finger along x (for the opening-width estimate)."""
        if self.config is not None:
            return float(self.config.finger_size[0])
        if not self.finger_parts:
            raise ConfigError("this gripper model has no finger parts")
        ext = self.parts[self.finger_parts[0]].get_axis_aligned_bounding_box().get_extent()
        return float(ext[0])

    def __repr__(self) -> str:
        return (
            f"GripperModel(parts={sorted(self.parts)}, body={list(self.body_parts)}, "
            f"fingers={list(self.finger_parts)}, width={self.width})"
        )
