"""Atomic checkpoints with bit-exact resume."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._errors import DataError
from ._seed import get_rng_state, set_rng_state

__all__ = ["CheckpointState", "atomic_save", "load_checkpoint", "save_checkpoint"]

_FORMAT = 1


@dataclass(frozen=True)
class CheckpointState:
    """What :func:`load_checkpoint` returns besides the restored objects."""

    step: int
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    # DistributedDataParallel / DataParallel keep the real model in `.module`.
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, torch.nn.Module) else model


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash mid-write leaves the previous file (if any) intact, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    step: int = 0,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write model, optimizer, scheduler, global RNG states and ``step`` atomically.

    ``extra`` must hold only tensors and plain python values (it is read back with
    ``torch.load(weights_only=True)``). DDP-wrapped models are saved unwrapped.
    """
    payload: dict[str, Any] = {
        "format": _FORMAT,
        "step": int(step),
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": get_rng_state(),
        "extra": dict(extra or {}),
    }
    return atomic_save(payload, path)


def load_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    map_location: str | torch.device = "cpu",
    restore_rng: bool = True,
    strict: bool = True,
) -> CheckpointState:
    """Restore what :func:`save_checkpoint` wrote (``torch.load(weights_only=True)``).

    With ``restore_rng=True`` the python, numpy and torch RNG states are restored too, so a
    resumed run draws exactly the numbers the uninterrupted run would have drawn.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt file, foreign pickle, ...
        raise DataError(f"checkpoint {str(path)!r} cannot be read: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise DataError(f"checkpoint {str(path)!r} is not a labworks checkpoint (format {_FORMAT})")
    if model is not None:
        _unwrap(model).load_state_dict(payload["model"], strict=strict)
    if optimizer is not None:
        if payload["optimizer"] is None:
            raise DataError(f"checkpoint {str(path)!r} holds no optimizer state")
        optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None:
        if payload["scheduler"] is None:
            raise DataError(f"checkpoint {str(path)!r} holds no scheduler state")
        scheduler.load_state_dict(payload["scheduler"])
    if restore_rng:
        set_rng_state(payload["rng"])
    return CheckpointState(step=int(payload["step"]), extra=payload["extra"], path=path)
