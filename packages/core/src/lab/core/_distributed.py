"""torch.distributed helpers: the same code runs in one process or under ``torchrun``."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from ._device import cuda_available, get_device
from ._errors import DeviceError

__all__ = [
    "DistributedInfo",
    "all_reduce_mean",
    "barrier",
    "cleanup_distributed",
    "init_distributed",
    "is_distributed",
    "is_main",
    "local_rank",
    "rank",
    "world_size",
    "wrap_ddp",
]


@dataclass(frozen=True)
class DistributedInfo:
    rank: int
    local_rank: int
    world_size: int
    backend: str | None
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def is_distributed() -> bool:
    """True when a process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else _env_int("RANK", 0)


def local_rank() -> int:
    return _env_int("LOCAL_RANK", 0)


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else _env_int("WORLD_SIZE", 1)


def is_main() -> bool:
    """True on rank 0 (and in a single process): the rank that writes files and logs."""
    return rank() == 0


def init_distributed(
    backend: str | None = None,
    *,
    device: str | torch.device | None = None,
    timeout_s: float = 1800.0,
) -> DistributedInfo:
    """Initialise torch.distributed from torchrun's environment (RANK, WORLD_SIZE, ...).

    Without those variables it returns single-process info and initialises nothing. The
    backend defaults to NCCL when the process uses CUDA and gloo otherwise. Under CUDA each
    process uses ``cuda:$LOCAL_RANK``.
    """
    ws = _env_int("WORLD_SIZE", 1)
    dev = get_device(device)
    if "RANK" not in os.environ or ws <= 1:
        return DistributedInfo(rank=0, local_rank=0, world_size=1, backend=None, device=dev)
    if dev.type == "cuda":
        if not cuda_available():
            raise DeviceError("CUDA requested under torchrun but not available")
        dev = torch.device("cuda", local_rank())
        torch.cuda.set_device(dev)
    if backend is None:
        backend = "nccl" if dev.type == "cuda" else "gloo"
    if not is_distributed():
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    return DistributedInfo(
        rank=dist.get_rank(),
        local_rank=local_rank(),
        world_size=dist.get_world_size(),
        backend=backend,
        device=dev,
    )


def cleanup_distributed() -> None:
    """Tear the process group down once every rank has arrived (no-op outside torchrun).

    A barrier first, so that no rank closes its connections while another is still in a
    collective, and a garbage collection, so that DDP reducers of models that are no longer
    referenced release the group before it is destroyed (tearing gloo down under them can
    abort the process at exit).
    """
    if is_distributed():
        try:
            dist.barrier()
        finally:
            gc.collect()
            dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` over ranks in place and return it (identity in a single process)."""
    if is_distributed() and world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= world_size()
    return tensor


def wrap_ddp(
    model: torch.nn.Module, device: torch.device | str | None = None, **ddp_kwargs: object
) -> torch.nn.Module:
    """Move ``model`` to the device and wrap it in DistributedDataParallel when distributed.

    In a single process the model is only moved, so the same training code runs in both
    settings. Parameters are broadcast from rank 0 at wrap time, so every rank starts equal.
    """
    dev = get_device(device)
    model = model.to(dev)
    if not is_distributed() or world_size() <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if dev.type == "cuda":
        return DistributedDataParallel(model, device_ids=[dev.index], **ddp_kwargs)  # type: ignore[arg-type]
    return DistributedDataParallel(model, **ddp_kwargs)  # type: ignore[arg-type]
