"""Reference samples of the particle benchmarks (read from ``$LABWORKS_DATA/particles``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lab.core import ConfigError, DataError, get_device

from .energies import HarmonicCluster, IsotropicGaussian

__all__ = ["REFERENCE_FILES", "data_dir", "exact_samples", "lattice_start", "load_reference"]

#: Benchmark name -> (file name, particles, dimension). The files are the long-MCMC test sets
#: of Klein, Kramer and Noe (2023) used by the DEM and Adjoint Sampling benchmarks.
REFERENCE_FILES: dict[str, tuple[str, int, int]] = {
    "dw4": ("dw4_test.npy", 4, 2),
    "dw4_val": ("dw4_val.npy", 4, 2),
    "lj13": ("lj13_test.npy", 13, 3),
    "lj55": ("lj55_test.npy", 55, 3),
}


def data_dir(path: str | Path | None = None) -> Path | None:
    """The particles folder: ``path``, else ``$LABWORKS_DATA/particles``, else ``None``."""
    if path is not None:
        return Path(path)
    root = os.environ.get("LABWORKS_DATA")
    return Path(root) / "particles" if root else None


def load_reference(
    name: str,
    path: str | Path | None = None,
    *,
    remove_com: bool = True,
    device: torch.device | str | None = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Load a reference set ``[N, n*d]`` by benchmark name (or a ``.npy`` file path).

    Args:
        name: ``dw4``, ``dw4_val``, ``lj13`` or ``lj55`` (LJ-55 has no public file here: make one
            with :func:`~lab.molecules.mala` and pass its path).
        path: folder holding the files (default ``$LABWORKS_DATA/particles``) or a ``.npy`` file.
        remove_com: subtract each configuration's centre of mass (the DW-4 files keep it).
    """
    if name not in REFERENCE_FILES:
        raise ConfigError(
            f"unknown reference set {name!r}; choose one of {sorted(REFERENCE_FILES)}"
        )
    fname, n, d = REFERENCE_FILES[name]
    p = Path(path) if path is not None and str(path).endswith(".npy") else data_dir(path)
    if p is None:
        raise DataError(
            f"no data folder for reference set {name!r}: set LABWORKS_DATA or pass path"
        )
    file = p if p.suffix == ".npy" else p / fname
    if not file.is_file():
        raise DataError(f"reference file {str(file)!r} for {name!r} does not exist")
    arr = np.load(file)
    if arr.ndim != 2 or arr.shape[1] != n * d:
        raise DataError(f"{str(file)!r} has shape {arr.shape}; expected [N, {n * d}] for {name!r}")
    if not np.isfinite(arr).all():
        raise DataError(f"{str(file)!r} holds non-finite values")
    x = torch.from_numpy(arr).to(device=get_device(device), dtype=dtype)
    if remove_com:
        xs = x.view(-1, n, d)
        x = (xs - xs.mean(1, keepdim=True)).reshape(-1, n * d)
    return x


def lattice_start(
    n_chains: int,
    n_particles: int,
    dim: int,
    *,
    spacing: float = 1.0,
    noise: float = 0.05,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Start configurations ``[n_chains, n*d]``: the first ``n`` points of a cubic grid of the
    given ``spacing`` (centred), each chain with its own random permutation and Gaussian jitter.

    ``spacing=4`` gives DW-4's square of side 4; ``spacing~1.1`` a dense, overlap-free LJ start.
    """
    if n_chains < 1:
        raise ConfigError(f"n_chains must be >= 1, got {n_chains}")
    side = 1
    while side**dim < n_particles:
        side += 1
    axes = torch.meshgrid(*[torch.arange(side, dtype=torch.float64)] * dim, indexing="ij")
    grid = torch.stack([a.reshape(-1) for a in axes], -1)
    order = (grid - (side - 1) / 2).pow(2).sum(-1).argsort(stable=True)  # most central first
    pts = grid[order[:n_particles]] * spacing
    pts = pts - pts.mean(0, keepdim=True)
    x = pts.unsqueeze(0).repeat(n_chains, 1, 1)
    x = x + noise * torch.randn(x.shape, generator=generator, dtype=torch.float64)
    x = x - x.mean(1, keepdim=True)
    return x.reshape(n_chains, n_particles * dim).to(device=get_device(device), dtype=dtype)


def exact_samples(
    energy: IsotropicGaussian | HarmonicCluster,
    n: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Exact centre-of-mass-free samples of a Gaussian target (``IsotropicGaussian``,
    ``HarmonicCluster``) from its closed-form covariance."""
    if not isinstance(energy, (IsotropicGaussian, HarmonicCluster)):
        raise ConfigError(f"{type(energy).__name__} has no closed-form distribution")
    n_p, d = energy.n_particles, energy.dim
    nd = n_p * d
    z = torch.randn(n, nd, generator=generator, dtype=torch.float64)
    std = float(energy.variance) ** 0.5
    zs = z.view(n, n_p, d)
    return ((zs - zs.mean(1, keepdim=True)) * std).reshape(n, nd).to(dtype)
