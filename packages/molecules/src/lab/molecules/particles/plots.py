"""Histograms of energies and interatomic distances against a reference (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from torch import Tensor

from lab.core.report import pyplot, save_figure

from .._geometry import pairwise_distances

__all__ = ["distance_histogram", "energy_histogram"]


def _hist(
    path: str | Path,
    series: Mapping[str, np.ndarray],
    *,
    title: str,
    xlabel: str,
    clip_quantiles: tuple[float, float] = (0.0, 0.995),
) -> Path:
    plt = pyplot("labworks-molecules[plots]")

    allv = np.concatenate([v[np.isfinite(v)] for v in series.values()])
    lo, hi = np.quantile(allv, clip_quantiles)
    bins = np.linspace(lo, hi, 80)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for label, v in series.items():
        ax.hist(v, bins=bins.tolist(), density=True, histtype="step", linewidth=1.5, label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def energy_histogram(
    path: str | Path, energies: Mapping[str, Tensor], *, title: str = "energy"
) -> Path:
    """Save a histogram of each named energy set (shown range: up to the 99.5% quantile)."""
    return _hist(
        path,
        {k: v.detach().double().cpu().numpy().ravel() for k, v in energies.items()},
        title=title,
        xlabel="energy",
    )


def distance_histogram(
    path: str | Path,
    samples: Mapping[str, Tensor],
    n_particles: int,
    dim: int,
    *,
    title: str = "interatomic distances",
) -> Path:
    """Save a histogram of the pooled interatomic distances of each named sample set."""
    return _hist(
        path,
        {
            k: pairwise_distances(v.detach().double().cpu(), n_particles, dim).numpy().ravel()
            for k, v in samples.items()
        },
        title=title,
        xlabel="distance",
        clip_quantiles=(0.0, 1.0),
    )
