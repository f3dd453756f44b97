"""Plots of predicted vs true RUL (needs matplotlib: ``pip install 'labworks-signal[plots]'``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lab.core import DataError
from lab.core.report import pyplot, save_figure

from .cmapss import WindowSet

__all__ = ["plot_engine_rul", "plot_test_rul"]


def _plt() -> Any:
    return pyplot("labworks-signal[plots]")


def plot_engine_rul(
    path: str | Path,
    windows: WindowSet,
    predictions: Mapping[str, np.ndarray],
    units: Sequence[int],
    *,
    title: str = "",
) -> Path:
    """Predicted and true RUL over the life of each engine in ``units`` (one panel each).

    ``predictions`` maps a model name to one prediction per window of ``windows``.
    """
    plt = _plt()
    for name, p in predictions.items():
        if len(p) != len(windows):
            raise DataError(f"{name}: {len(p)} predictions for {len(windows)} windows")
    fig, axes = plt.subplots(1, len(units), figsize=(4 * len(units), 3.2), dpi=100, squeeze=False)
    for ax, u in zip(axes[0], units, strict=True):
        m = windows.unit == u
        if not m.any():
            raise DataError(f"unit {u} has no windows")
        ax.plot(windows.cycle[m], windows.y[m], "k-", label="true RUL")
        for name, p in predictions.items():
            ax.plot(windows.cycle[m], np.asarray(p)[m], label=name, alpha=0.8)
        ax.set_title(f"engine {u}")
        ax.set_xlabel("cycle")
        ax.set_ylabel("RUL")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_test_rul(
    path: str | Path, true: np.ndarray, predictions: Mapping[str, np.ndarray], *, title: str = ""
) -> Path:
    """Last-window test predictions of every engine, engines sorted by true RUL."""
    plt = _plt()
    order = np.argsort(np.asarray(true), kind="stable")
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    ax.plot(np.asarray(true)[order], "k-", label="true RUL")
    for name, p in predictions.items():
        if len(p) != len(true):
            raise DataError(f"{name}: {len(p)} predictions for {len(true)} engines")
        ax.plot(np.asarray(p)[order], ".", label=name, alpha=0.8)
    ax.set_xlabel("test engine (sorted by true RUL)")
    ax.set_ylabel("RUL")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return save_figure(fig, path)
