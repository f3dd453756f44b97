"""Small geometric helpers on particle coordinates (private)."""

from __future__ import annotations

import torch
from torch import Tensor

from lab.core import DataError

__all__ = ["check_coordinates", "pairwise_distances", "remove_com", "remove_com_flat", "triu_pairs"]


def triu_pairs(n: int, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """Indices ``(i, j)`` of the unordered pairs ``i < j`` of ``n`` particles."""
    idx = torch.triu_indices(n, n, offset=1, device=device)
    return idx[0], idx[1]


def remove_com(x: Tensor) -> Tensor:
    """Subtract the centre of mass from ``[..., n, d]`` coordinates."""
    return x - x.mean(dim=-2, keepdim=True)


def remove_com_flat(x: Tensor, n_particles: int, dim: int) -> Tensor:
    """Subtract the centre of mass from flattened ``[B, n*d]`` coordinates."""
    return remove_com(x.view(x.shape[0], n_particles, dim)).reshape(x.shape[0], n_particles * dim)


def pairwise_distances(x: Tensor, n_particles: int, dim: int) -> Tensor:
    """Distances of the unordered pairs ``i < j``: ``[B, n(n-1)/2]`` from ``[B, n*d]``."""
    xs = x.reshape(x.shape[0], n_particles, dim)
    i, j = triu_pairs(n_particles, x.device)
    return (xs[:, i] - xs[:, j]).norm(dim=-1)


def check_coordinates(x: Tensor, n_particles: int, dim: int, *, name: str = "x") -> Tensor:
    """Validate a batch of flattened coordinates ``[B, n_particles * dim]``; return it.

    Raises:
        DataError: naming the expected and the actual shape, or a non-floating dtype.
    """
    if not isinstance(x, Tensor):
        raise DataError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != n_particles * dim:
        raise DataError(
            f"{name} has shape {tuple(x.shape)}; expected [B, {n_particles * dim}] "
            f"(B configurations of {n_particles} particles in {dim}-D, flattened)"
        )
    if not x.is_floating_point():
        raise DataError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x
