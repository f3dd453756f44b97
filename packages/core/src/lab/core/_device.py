"""Device selection."""

from __future__ import annotations

import os

import torch

from ._errors import DeviceError

__all__ = ["cuda_available", "get_device"]


def cuda_available() -> bool:
    """Whether CUDA can be used (honours ``LABWORKS_FORCE_CPU=1``)."""
    if os.environ.get("LABWORKS_FORCE_CPU", "") not in ("", "0"):
        return False
    return torch.cuda.is_available()


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Resolve a device request to a ``torch.device`` this machine can serve.

    ``None`` or ``"auto"`` picks CUDA when available (``cuda:$LOCAL_RANK`` under torchrun),
    else CPU. An explicit request (``"cuda"``, ``"cuda:1"``, ``"mps"``, ...) that the machine
    cannot serve raises :class:`DeviceError` naming it; nothing silently falls back.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        if cuda_available():
            local_rank = int(os.environ.get("LOCAL_RANK", "0"))
            return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
        return torch.device("cpu")
    try:
        dev = device if isinstance(device, torch.device) else torch.device(str(device).strip())
    except (RuntimeError, ValueError) as exc:
        raise DeviceError(f"unknown device {device!r}: {exc}") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not cuda_available():
            raise DeviceError(
                f"device {device!r} requested but CUDA is not available on this machine"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise DeviceError(f"device {device!r} requested but only {count} CUDA device(s) exist")
        return dev
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(
                f"device {device!r} requested but MPS is not available on this machine"
            )
        return dev
    raise DeviceError(f"device {device!r} (type {dev.type!r}) is not supported by labworks")
