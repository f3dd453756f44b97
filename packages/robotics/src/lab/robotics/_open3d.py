"""The one place that imports Open3D (lazily, with an install hint naming both wheels)."""

from __future__ import annotations

from types import ModuleType

from lab.core import require

__all__ = ["o3d"]


def o3d() -> ModuleType:
    """Import and return ``open3d``, or raise ImportError naming the pip and apt lines.

    Open3D ships as two wheels that both provide the module ``open3d``: ``open3d-cpu``
    (extra ``[cpu]``) and ``open3d`` (extra ``[gpu]``, CUDA build). Install exactly one.
    """
    try:
        return require("open3d", "labworks-robotics[cpu]")
    except ImportError as exc:
        raise ImportError(
            f"{exc} (CPU wheel open3d-cpu), or 'labworks-robotics[gpu]' (CUDA wheel open3d); "
            "on Debian/Ubuntu `import open3d` also needs: "
            "apt-get install libusb-1.0-0 (and libvulkan1 mesa-vulkan-drivers for offscreen rendering)"
        ) from exc.__cause__
