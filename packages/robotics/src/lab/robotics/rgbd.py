"""RGB-D frames: folders of colour/depth images, camera parameters, back-projection and fusion.

Folder layout read by :func:`load_rgbd_folder` (and written by :func:`save_rgbd_folder`)::

    root/
      cam0/                      one folder per camera (or the camera files directly in root)
        intrinsics.json          {"width", "height", "fx", "fy", "cx", "cy", "depth_scale"}
                                 or Open3D's PinholeCameraIntrinsic JSON ("intrinsic_matrix")
        extrinsics.json          optional: {"cam_to_world": 4x4 row-major}
        color/000000.png ...     8-bit RGB
        depth/000000.png ...     16-bit depth in units of 1/depth_scale metres (0 = no data),
                                 or depth/000000.npy float depth in metres (0 or NaN = no data)

Frames pair by sorted file name. Several cameras need extrinsics to be fused into one cloud.
Pixel convention: pixel (u, v) looks along ((u - cx) / fx, (v - cy) / fy, 1), the convention
of Open3D's ``create_from_rgbd_image``, which :func:`frame_to_point_cloud` uses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lab.core import ConfigError, DataError

from ._open3d import o3d
from .transforms import check_pose

#: A frame whose median valid depth exceeds this (m) is taken for depth in the wrong unit.
MAX_PLAUSIBLE_DEPTH = 20.0

__all__ = [
    "CameraIntrinsics",
    "RGBDFrame",
    "frame_to_point_cloud",
    "fuse_point_clouds",
    "load_rgbd_folder",
    "save_rgbd_folder",
]


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics in pixels; ``depth_scale`` converts stored integer depth to metres."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    depth_scale: float = 1000.0

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ConfigError(f"image size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0):
            raise ConfigError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if not self.depth_scale > 0:
            raise ConfigError(f"depth_scale must be positive, got {self.depth_scale}")

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    def to_open3d(self) -> Any:
        """As ``open3d.camera.PinholeCameraIntrinsic``."""
        return o3d().camera.PinholeCameraIntrinsic(
            self.width, self.height, self.fx, self.fy, self.cx, self.cy
        )

    @classmethod
    def from_open3d(cls, intr: Any, depth_scale: float = 1000.0) -> CameraIntrinsics:
        """From ``open3d.camera.PinholeCameraIntrinsic``."""
        k = np.asarray(intr.intrinsic_matrix)
        return cls(
            int(intr.width),
            int(intr.height),
            float(k[0, 0]),
            float(k[1, 1]),
            float(k[0, 2]),
            float(k[1, 2]),
            depth_scale,
        )

    @classmethod
    def from_json(cls, path: str | Path) -> CameraIntrinsics:
        """Read our JSON layout or Open3D's (``intrinsic_matrix`` column-major)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read intrinsics {str(path)!r}: {exc}") from exc
        try:
            if "intrinsic_matrix" in data:
                k = np.asarray(data["intrinsic_matrix"], dtype=float).reshape(3, 3).T
                return cls(
                    int(data["width"]),
                    int(data["height"]),
                    k[0, 0],
                    k[1, 1],
                    k[0, 2],
                    k[1, 2],
                    float(data.get("depth_scale", 1000.0)),
                )
            return cls(
                int(data["width"]),
                int(data["height"]),
                float(data["fx"]),
                float(data["fy"]),
                float(data["cx"]),
                float(data["cy"]),
                float(data.get("depth_scale", 1000.0)),
            )
        except KeyError as exc:
            raise DataError(f"intrinsics {str(path)!r} lacks key {exc.args[0]!r}") from None
        except ConfigError as exc:
            raise DataError(f"intrinsics {str(path)!r}: {exc}") from None

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n", encoding="utf-8")
        return path


@dataclass(frozen=True)
class RGBDFrame:
    """One camera image pair: colour uint8 (H, W, 3), depth float32 metres (H, W; 0 = none).

    ``cam_to_world`` is the 4x4 pose of the camera in the world (identity: camera = world).
    """

    color: np.ndarray
    depth: np.ndarray
    intrinsics: CameraIntrinsics
    cam_to_world: np.ndarray = field(default_factory=lambda: np.eye(4))
    name: str = ""

    def __post_init__(self) -> None:
        h, w = self.intrinsics.height, self.intrinsics.width
        if self.color.shape != (h, w, 3) or self.color.dtype != np.uint8:
            raise DataError(
                f"frame {self.name!r}: colour must be uint8 ({h}, {w}, 3), got "
                f"{self.color.dtype} {self.color.shape}"
            )
        if self.depth.shape != (h, w):
            raise DataError(
                f"frame {self.name!r}: depth must be ({h}, {w}), got {self.depth.shape}"
            )
        if not np.issubdtype(self.depth.dtype, np.floating):
            raise DataError(
                f"frame {self.name!r}: depth is {self.depth.dtype}; RGBDFrame wants float metres. "
                f"Integer depth (e.g. uint16 millimetres) must be divided by the camera's "
                f"depth_scale first: depth.astype(np.float32) / intrinsics.depth_scale "
                f"(here {self.intrinsics.depth_scale}), as load_rgbd_folder does"
            )
        if np.any(self.depth < 0):
            raise DataError(
                f"frame {self.name!r}: negative depth values (min {np.nanmin(self.depth)})"
            )
        valid = self.depth[np.isfinite(self.depth) & (self.depth > 0)]
        if valid.size and float(np.median(valid)) > MAX_PLAUSIBLE_DEPTH:
            raise DataError(
                f"frame {self.name!r}: median depth {float(np.median(valid)):.1f} m is not a "
                f"tabletop scene (> {MAX_PLAUSIBLE_DEPTH} m): depth must be in metres; divide "
                f"millimetres by depth_scale (here {self.intrinsics.depth_scale})"
            )
        try:
            check_pose(self.cam_to_world, f"frame {self.name!r}: cam_to_world")
        except DataError as exc:
            raise DataError(
                f"{exc} (it must be a rigid camera-to-world pose: orthonormal rotation, "
                "det +1, no scale or shear)"
            ) from None

    @classmethod
    def from_open3d(
        cls,
        rgbd: Any,
        intrinsics: CameraIntrinsics,
        cam_to_world: np.ndarray | None = None,
        name: str = "",
    ) -> RGBDFrame:
        """From an ``open3d.geometry.RGBDImage`` with RGB colour and depth in metres
        (``create_from_color_and_depth(..., depth_scale=..., convert_rgb_to_intensity=False)``)."""
        color = np.asarray(rgbd.color)
        if color.ndim != 3:
            raise DataError(
                "the RGBDImage holds intensity, not colour: create it with "
                "convert_rgb_to_intensity=False"
            )
        if color.dtype != np.uint8:
            color = np.clip(np.round(color * 255.0), 0, 255).astype(np.uint8)
        pose = np.eye(4) if cam_to_world is None else np.asarray(cam_to_world, dtype=float)
        return cls(
            np.ascontiguousarray(color[..., :3]),
            np.asarray(rgbd.depth, dtype=np.float32).copy(),
            intrinsics,
            pose,
            name,
        )

    def to_open3d(self) -> Any:
        """As ``open3d.geometry.RGBDImage`` (depth in metres, colour kept as RGB)."""
        g = o3d().geometry
        depth = np.nan_to_num(self.depth.astype(np.float32), nan=0.0)
        return g.RGBDImage.create_from_color_and_depth(
            g.Image(np.ascontiguousarray(self.color)),
            g.Image(depth),
            depth_scale=1.0,
            depth_trunc=float(np.max(depth)) + 1.0,
            convert_rgb_to_intensity=False,
        )


def frame_to_point_cloud(frame: RGBDFrame, *, max_depth: float | None = None) -> Any:
    """Back-project a frame into a coloured ``open3d.geometry.PointCloud`` in the world frame."""
    if max_depth is not None and max_depth <= 0:
        raise ConfigError(f"max_depth must be positive, got {max_depth}")
    g = o3d().geometry
    depth = np.nan_to_num(frame.depth.astype(np.float32), nan=0.0)
    if max_depth is not None:
        depth = np.where(depth <= max_depth, depth, 0.0).astype(np.float32)
    rgbd = g.RGBDImage.create_from_color_and_depth(
        g.Image(np.ascontiguousarray(frame.color)),
        g.Image(depth),
        depth_scale=1.0,
        depth_trunc=float(depth.max()) + 1.0,
        convert_rgb_to_intensity=False,
    )
    pcd = g.PointCloud.create_from_rgbd_image(
        rgbd, frame.intrinsics.to_open3d(), np.linalg.inv(frame.cam_to_world)
    )
    return pcd


def fuse_point_clouds(frames: Sequence[RGBDFrame], *, max_depth: float | None = None) -> Any:
    """Back-project several cameras' frames (same instant) into one world-frame cloud."""
    if not frames:
        raise DataError("fuse_point_clouds needs at least one frame")
    out = o3d().geometry.PointCloud()
    for f in frames:
        out += frame_to_point_cloud(f, max_depth=max_depth)
    return out


def _read_depth(path: Path, scale: float) -> np.ndarray:
    if path.suffix == ".npy":
        d = np.load(path).astype(np.float32)
        if d.ndim != 2:
            raise DataError(f"depth {str(path)!r} must be 2-D, got shape {d.shape}")
        return np.nan_to_num(d, nan=0.0)
    img = np.asarray(o3d().io.read_image(str(path)))
    if img.ndim != 2 or img.size == 0:
        raise DataError(
            f"depth {str(path)!r} must be a single-channel 16-bit PNG, got shape {img.shape}"
        )
    return (img.astype(np.float32) / scale).astype(np.float32)


def _read_color(path: Path) -> np.ndarray:
    img = np.asarray(o3d().io.read_image(str(path)))
    if img.ndim != 3 or img.shape[2] not in (3, 4) or img.dtype != np.uint8:
        raise DataError(
            f"colour {str(path)!r} must be an 8-bit RGB PNG, got {img.dtype} {img.shape}"
        )
    return np.ascontiguousarray(img[..., :3])


def _camera_dirs(root: Path) -> list[Path]:
    if (root / "intrinsics.json").is_file():
        return [root]
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and (p / "intrinsics.json").is_file())
    if not dirs:
        raise DataError(
            f"{str(root)!r} holds no intrinsics.json, neither directly nor in camera sub-folders"
        )
    return dirs


def load_rgbd_folder(root: str | Path) -> list[list[RGBDFrame]]:
    """Read an RGB-D folder (layout in the module docstring): ``frames[t][camera]``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"RGB-D folder {str(root)!r} does not exist")
    cams = _camera_dirs(root)
    per_cam: list[list[RGBDFrame]] = []
    for cam in cams:
        intr = CameraIntrinsics.from_json(cam / "intrinsics.json")
        ext_path = cam / "extrinsics.json"
        if ext_path.is_file():
            try:
                pose = np.asarray(json.loads(ext_path.read_text())["cam_to_world"], dtype=float)
            except (KeyError, json.JSONDecodeError, ValueError) as exc:
                raise DataError(
                    f"extrinsics {str(ext_path)!r}: need a 4x4 'cam_to_world' ({exc})"
                ) from None
        elif len(cams) > 1:
            raise DataError(
                f"camera {cam.name!r} has no extrinsics.json: several cameras cannot be "
                "fused without their poses"
            )
        else:
            pose = np.eye(4)
        colors = sorted((cam / "color").glob("*.png"))
        depths = {
            p.stem: p for p in sorted((cam / "depth").glob("*")) if p.suffix in (".png", ".npy")
        }
        if not colors:
            raise DataError(f"camera folder {str(cam)!r} has no color/*.png")
        frames = []
        for c in colors:
            if c.stem not in depths:
                raise DataError(f"colour image {str(c)!r} has no depth/{c.stem}.png or .npy")
            frames.append(
                RGBDFrame(
                    _read_color(c),
                    _read_depth(depths[c.stem], intr.depth_scale),
                    intr,
                    pose,
                    name=f"{cam.name}/{c.stem}",
                )
            )
        extra = sorted(set(depths) - {c.stem for c in colors})
        if extra:
            raise DataError(f"camera {cam.name!r}: depth images without colour: {extra[:5]}")
        per_cam.append(frames)
    lengths = {len(f) for f in per_cam}
    if len(lengths) != 1:
        raise DataError(
            f"cameras have different frame counts: { {c.name: len(f) for c, f in zip(cams, per_cam, strict=True)} }"
        )
    return [list(t) for t in zip(*per_cam, strict=True)]


def save_rgbd_folder(
    root: str | Path, frames: Sequence[Sequence[RGBDFrame]], *, depth_format: str = "png"
) -> Path:
    """Write ``frames[t][camera]`` in the folder layout (depth as 16-bit PNG or float NPY)."""
    if depth_format not in ("png", "npy"):
        raise ConfigError(f"depth_format must be 'png' or 'npy', got {depth_format!r}")
    if not frames or not frames[0]:
        raise DataError("save_rgbd_folder needs at least one frame with one camera")
    root = Path(root)
    n_cam = len(frames[0])
    for c in range(n_cam):
        cam = root / f"cam{c}"
        (cam / "color").mkdir(parents=True, exist_ok=True)
        (cam / "depth").mkdir(parents=True, exist_ok=True)
        f0 = frames[0][c]
        f0.intrinsics.to_json(cam / "intrinsics.json")
        (cam / "extrinsics.json").write_text(
            json.dumps({"cam_to_world": f0.cam_to_world.tolist()}) + "\n"
        )
        for t, per_t in enumerate(frames):
            if len(per_t) != n_cam:
                raise DataError(f"frame {t} has {len(per_t)} cameras, frame 0 has {n_cam}")
            f = per_t[c]
            o3d().io.write_image(
                str(cam / "color" / f"{t:06d}.png"),
                o3d().geometry.Image(np.ascontiguousarray(f.color)),
            )
            if depth_format == "npy":
                np.save(cam / "depth" / f"{t:06d}.npy", f.depth.astype(np.float32))
            else:
                scaled = np.round(f.depth * f.intrinsics.depth_scale)
                if scaled.max() > 65535:
                    raise DataError(
                        f"depth {f.depth.max():.3f} m does not fit a 16-bit PNG at "
                        f"depth_scale {f.intrinsics.depth_scale}; use depth_format='npy'"
                    )
                o3d().io.write_image(
                    str(cam / "depth" / f"{t:06d}.png"),
                    o3d().geometry.Image(scaled.astype(np.uint16)),
                )
    return root
