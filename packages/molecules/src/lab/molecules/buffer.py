"""FIFO replay buffer of end points and their lean adjoints."""

from __future__ import annotations

import torch
from torch import Tensor

from lab.core import ConfigError, DataError, get_device

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    """Ring buffer holding the last ``capacity`` pairs ``(X1, a(X1))``.

    Adjoint Sampling evaluates the energy once per simulated end point and then takes many
    gradient steps on batches from this buffer: drawn uniformly with replacement
    (:meth:`sample`), or as one shuffled pass over the whole buffer per epoch
    (:meth:`epoch_batches`, the public code's scheme, with each new end point stored
    ``duplicates`` times by :meth:`add`).

    Args:
        capacity: number of pairs kept (paper: 10,000); the oldest are overwritten first.
        n_coords: length of one flattened configuration (``n_particles * dim``).
        device: where the buffer lives.
        dtype: storage dtype.
    """

    def __init__(
        self,
        capacity: int,
        n_coords: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        if capacity < 1:
            raise ConfigError(f"replay buffer capacity must be >= 1, got {capacity}")
        if n_coords < 1:
            raise ConfigError(f"n_coords must be >= 1, got {n_coords}")
        self.capacity, self.n_coords = int(capacity), int(n_coords)
        self.device = get_device(device)
        self.x = torch.zeros(capacity, n_coords, device=self.device, dtype=dtype)
        self.adjoint = torch.zeros_like(self.x)
        self.energy = torch.zeros(capacity, device=self.device, dtype=dtype)
        self._ptr = 0
        self._size = 0
        self.total_added = 0

    def __len__(self) -> int:
        return self._size

    def add(
        self, x: Tensor, adjoint: Tensor, energy: Tensor | None = None, *, duplicates: int = 1
    ) -> None:
        """Append a batch (``[B, n_coords]`` each), each pair ``duplicates`` times (adjacent);
        older entries are overwritten first."""
        if duplicates < 1:
            raise ConfigError(f"duplicates must be >= 1, got {duplicates}")
        if x.ndim != 2 or x.shape[1] != self.n_coords or adjoint.shape != x.shape:
            raise DataError(
                f"buffer expects x and adjoint of shape [B, {self.n_coords}], got "
                f"{tuple(x.shape)} and {tuple(adjoint.shape)}"
            )
        if energy is not None and energy.shape != (x.shape[0],):
            raise DataError(
                f"buffer expects energies of shape [{x.shape[0]}], got {tuple(energy.shape)}"
            )
        if duplicates > 1:
            x = x.repeat_interleave(duplicates, dim=0)
            adjoint = adjoint.repeat_interleave(duplicates, dim=0)
            energy = None if energy is None else energy.repeat_interleave(duplicates, dim=0)
        b = x.shape[0]
        if b > self.capacity:  # only the newest `capacity` survive a FIFO anyway
            x, adjoint = x[-self.capacity :], adjoint[-self.capacity :]
            energy = None if energy is None else energy[-self.capacity :]
            self.total_added += b - self.capacity
            b = self.capacity
        idx = (self._ptr + torch.arange(b, device=self.device)) % self.capacity
        self.x[idx] = x.to(self.x)
        self.adjoint[idx] = adjoint.to(self.x)
        if energy is not None:
            self.energy[idx] = energy.to(self.x)
        self._ptr = (self._ptr + b) % self.capacity
        self._size = min(self._size + b, self.capacity)
        self.total_added += b

    def sample(
        self, batch_size: int, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """``batch_size`` pairs drawn uniformly with replacement."""
        if self._size == 0:
            raise DataError("cannot sample from an empty replay buffer")
        idx = torch.randint(self._size, (batch_size,), generator=generator, device=self.device)
        return self.x[idx], self.adjoint[idx]

    def epoch_batches(
        self, batch_size: int, *, generator: torch.Generator | None = None
    ) -> list[tuple[Tensor, Tensor]]:
        """One pass over the buffer in a random order: ``ceil(len / batch_size)`` batches (the
        last one smaller when ``batch_size`` does not divide the size), every stored pair once."""
        if self._size == 0:
            raise DataError("cannot sample from an empty replay buffer")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        order = torch.randperm(self._size, generator=generator, device=self.device)
        return [(self.x[idx], self.adjoint[idx]) for idx in order.split(batch_size)]

    def state_dict(self) -> dict[str, object]:
        return {
            "x": self.x.clone(),
            "adjoint": self.adjoint.clone(),
            "energy": self.energy.clone(),
            "ptr": self._ptr,
            "size": self._size,
            "total_added": self.total_added,
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        x = state["x"]
        if not isinstance(x, Tensor) or tuple(x.shape) != tuple(self.x.shape):
            shape = tuple(x.shape) if isinstance(x, Tensor) else x
            raise DataError(f"buffer state has shape {shape}; this buffer is {tuple(self.x.shape)}")
        self.x.copy_(x)
        self.adjoint.copy_(state["adjoint"])  # type: ignore[arg-type]
        self.energy.copy_(state["energy"])  # type: ignore[arg-type]
        self._ptr, self._size = int(state["ptr"]), int(state["size"])  # type: ignore[call-overload]
        self.total_added = int(state["total_added"])  # type: ignore[call-overload]
