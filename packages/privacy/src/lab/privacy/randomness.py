"""Where the privatisers' local randomness comes from (shared by every method of lab.privacy).

A local-DP report, a DP-MLM rewrite or a DP-SGD noise vector is private only while the coins
that produced it are secret: an attacker who can regenerate the coins (a salt, a flip, a
noise draw) learns the input exactly, and the privacy loss is infinite. So every privatiser
of this package draws its coins from the operating system's entropy pool (``os.urandom``, the
same source as :mod:`secrets`) unless the caller passes an explicit **simulation seed**, a
parameter named ``simulation_seed`` everywhere to say what it is for: reproducible
*simulations* (tests, benchmarks, papers' figures). A report produced with a known simulation
seed carries no privacy guarantee.

* :func:`secret_integers` and :func:`secret_uniforms` read ``os.urandom`` directly (a CSPRNG);
  they are what the collision randomizers and DP-MLM sampling use when no simulation seed is
  given.
* :func:`entropy_generator` returns a ``torch.Generator`` seeded with 64 bits of OS entropy.
  Used for DP-SGD's Poisson sampling and Gaussian noise (Opacus draws from a torch generator);
  the seed is secret but the generator itself (Mersenne Twister / Philox) is not a CSPRNG;
  Opacus' ``secure_mode`` needs ``torchcsprng`` (see the DP-SGD docs).
* :func:`resolve_simulation_seed` keeps the pre-0.2 keyword ``seed=`` working for one release
  with a ``DeprecationWarning``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch

from lab.core import ConfigError

__all__ = [
    "entropy_generator",
    "entropy_seed",
    "resolve_simulation_seed",
    "secret_integers",
    "secret_uniforms",
]


def entropy_seed() -> int:
    """A fresh 63-bit seed from ``os.urandom`` (never logged or stored by this package)."""
    return int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)


def entropy_generator(device: Any = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with 63 bits of OS entropy."""
    g = torch.Generator(device=device)
    g.manual_seed(entropy_seed())
    return g


def secret_integers(n: int, high: int, *, device: Any = "cpu") -> torch.Tensor:
    """``n`` integers uniform on ``[0, high)`` from ``os.urandom`` (int64 tensor on ``device``).

    Exactly uniform: 64-bit words at or above the largest multiple of ``high`` are redrawn
    (rejection sampling), so there is no modulo bias.
    """
    if n < 0 or high < 1 or high > 1 << 62:
        raise ConfigError(f"need n >= 0 and 1 <= high <= 2**62, got n={n}, high={high}")
    limit = ((1 << 64) // high) * high
    out = np.empty(n, dtype=np.uint64)
    filled = 0
    while filled < n:
        need = n - filled
        words = np.frombuffer(os.urandom(8 * need), dtype=np.uint64)
        words = words[words < np.uint64(limit)] if limit < (1 << 64) else words
        out[filled : filled + words.size] = words % np.uint64(high)
        filled += words.size
    return torch.from_numpy(out.astype(np.int64)).to(device)


def secret_uniforms(n: int, *, device: Any = "cpu") -> torch.Tensor:
    """``n`` float64 uniforms on ``[0, 1)`` with 53 random bits each, from ``os.urandom``."""
    if n < 0:
        raise ConfigError(f"n must be >= 0, got {n}")
    words = np.frombuffer(os.urandom(8 * n), dtype=np.uint64) >> np.uint64(11)
    return torch.from_numpy(words.astype(np.float64) * 2.0**-53).to(device)


def resolve_simulation_seed(simulation_seed: int | None, seed: Any, where: str) -> int | None:
    """The simulation seed to use, accepting the deprecated keyword ``seed=`` for one release.

    ``seed`` is the value of the old keyword (``None`` when it was not given). Raises
    ConfigError when both are given or the value is not an integer.
    """
    if seed is not None:
        warnings.warn(
            f"{where}: the keyword 'seed' is deprecated (removed in 0.3); pass "
            "'simulation_seed' instead. A fixed seed makes the privatiser's randomness public "
            "and voids the privacy guarantee: use it for simulations only.",
            DeprecationWarning,
            stacklevel=3,
        )
        if simulation_seed is not None:
            raise ConfigError(f"{where}: pass either simulation_seed or seed, not both")
        simulation_seed = seed
    if simulation_seed is not None and (
        isinstance(simulation_seed, bool) or not isinstance(simulation_seed, (int, np.integer))
    ):
        raise ConfigError(f"{where}: simulation_seed must be an integer, got {simulation_seed!r}")
    return None if simulation_seed is None else int(simulation_seed)
