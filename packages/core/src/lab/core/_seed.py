"""Seeding of python, numpy and torch, and RNG state capture/restore."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from ._errors import ConfigError

__all__ = ["get_rng_state", "seeded", "set_rng_state", "set_seed"]

_MAX_SEED = 2**32 - 1


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def set_seed(
    seed: int | None = None, deterministic: bool = False, *, rank_offset: bool = True
) -> int:
    """Seed python, numpy and torch (CPU and all CUDA devices); return the seed used.

    ``seed=None`` draws a fresh seed from the operating system. Under torchrun the rank is
    added (``rank_offset=True``) so that ranks draw different noise; the returned value is the
    seed this process actually used. ``deterministic=True`` also asks torch for deterministic
    algorithms (and sets ``CUBLAS_WORKSPACE_CONFIG`` as CUDA requires).
    """
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little") % (_MAX_SEED + 1)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    if seed < 0 or seed > _MAX_SEED:
        raise ConfigError(f"seed must be in [0, 2**32 - 1], got {seed}")
    if rank_offset:
        seed = (seed + _rank()) % (_MAX_SEED + 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return seed


def get_rng_state() -> dict[str, Any]:
    """Capture python, numpy and torch RNG states in a ``torch.load(weights_only=True)``-safe form."""
    py_version, py_internal, py_gauss = random.getstate()
    np_state = np.random.get_state(legacy=True)
    assert isinstance(np_state, tuple)
    name, keys, pos, has_gauss, cached = np_state
    state: dict[str, Any] = {
        "python": {"version": py_version, "internal": list(py_internal), "gauss": py_gauss},
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states captured by :func:`get_rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    npst = state["numpy"]
    keys = npst["keys"].numpy().astype(np.uint32)
    np.random.set_state(
        (npst["name"], keys, npst["pos"], npst["has_gauss"], npst["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]]
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])


@contextmanager
def seeded(seed: int, deterministic: bool = False) -> Iterator[int]:
    """Run a block with all global RNGs seeded, restoring the previous states afterwards.

    The rank offset is not applied: ``seeded(s)`` gives the same draws on every rank.
    """
    saved = get_rng_state()
    try:
        yield set_seed(seed, deterministic=deterministic, rank_offset=False)
    finally:
        set_rng_state(saved)
