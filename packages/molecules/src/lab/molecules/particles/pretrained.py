"""Shipped particle-system models (``lab molecules particles sample --pretrained NAME``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from lab.core import ConfigError, DataError

__all__ = ["PRETRAINED", "pretrained_checkpoint"]

#: Name -> checkpoint file under ``lab/molecules/particles/pretrained/``. A model is listed only
#: once it has been evaluated against its targets (docs/benchmarks/molecules.md).
PRETRAINED: dict[str, str] = {}


def pretrained_checkpoint(name: str) -> Path:
    """The path of the shipped checkpoint ``name`` (see :data:`PRETRAINED`)."""
    if name not in PRETRAINED:
        raise ConfigError(
            f"no shipped particle model {name!r}; available: {sorted(PRETRAINED) or 'none'}"
        )
    path = Path(str(resources.files("lab.molecules.particles") / "pretrained" / PRETRAINED[name]))
    if not path.is_file():
        raise DataError(f"shipped model file {str(path)!r} is missing from the installation")
    return path
