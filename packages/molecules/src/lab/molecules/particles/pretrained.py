"""Shipped particle-system models (``lab molecules particles sample --pretrained NAME``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from lab.core import ConfigError, DataError

__all__ = ["PRETRAINED", "pretrained_checkpoint", "pretrained_provenance"]

#: Name -> checkpoint file under ``lab/molecules/particles/pretrained/``. A model is listed only
#: once it has been scored against its targets; its scores and the command that trained it are
#: stored in the file (``extra["provenance"]``) and in docs/benchmarks/molecules.md.
#: ``dw4``: the benchmarked CPU config trained 1,500 epochs. Raw samples: energy W2 0.76 (target
#: <= 1.0 met), interatomic-distance W1 0.33 (target <= 0.1 missed). With importance resampling
#: (``AdjointSampler.sample_importance``, OURS) over five seeds: 0.163 and 0.077 (both met).
PRETRAINED: dict[str, str] = {"dw4": "dw4.pt"}


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


def pretrained_provenance(name: str) -> dict[str, str]:
    """What the shipped checkpoint ``name`` records about itself: the training command, its
    scores against the reference, epochs and energy evaluations."""
    import torch

    payload = torch.load(pretrained_checkpoint(name), map_location="cpu", weights_only=True)
    return dict(payload.get("extra", {}).get("provenance", {}))
