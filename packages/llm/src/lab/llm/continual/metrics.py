"""Continual-learning metrics on an accuracy matrix.

``R[i, j]`` is the accuracy on task ``j`` after training task ``i`` (0-based here; the survey
writes them 1-based), ``T`` tasks. With ``b_j`` the accuracy of the randomly initialised model
on task ``j``:

- ACC (final average accuracy) = mean_j R[T-1, j]
- average incremental accuracy = mean_i mean_{j<=i} R[i, j]
- BWT = mean_{j<T-1} (R[T-1, j] - R[j, j])
- FWT = mean_{j>=1} (R[j-1, j] - b_j)
- forgetting = mean_{j<T-1} (max_{j<=l<T-1} R[l, j] - R[T-1, j])

Forgetting takes the maximum over the rows from the one where task ``j`` was trained up to the
one before the last (Chaudhry et al. 2018): rows before task ``j`` was trained (above the
diagonal, possibly NaN) never count, and a task whose best accuracy came after it was trained
makes forgetting differ from -BWT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab.core import ConfigError, DataError
from lab.core.report import pyplot, save_figure

__all__ = ["AccuracyMatrix"]


@dataclass(frozen=True)
class AccuracyMatrix:
    """A ``T x T`` accuracy matrix, optionally with the random-initialisation baseline.

    Attributes:
        values: ``values[i][j]`` is the accuracy on task ``j`` after training task ``i``, in
            [0, 1]. Entries above the diagonal (tasks not yet trained) are needed only by FWT.
        baseline: ``b_j``, the accuracy of the randomly initialised model on task ``j``
            (needed only by :attr:`fwt`).
        task_names: optional names for plot labels.

    Raises:
        DataError: a non-square or empty matrix, a value outside [0, 1] or not finite (NaN is
            allowed above the diagonal only), or a baseline of the wrong length.
    """

    values: np.ndarray
    baseline: np.ndarray | None = None
    task_names: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        r = np.asarray(self.values, dtype=np.float64)
        if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] == 0:
            raise DataError(f"an accuracy matrix must be square and non-empty, got {r.shape}")
        lower = np.tril(r)
        if not np.all(np.isfinite(lower)):
            raise DataError("accuracy matrix has a non-finite entry on or below the diagonal")
        finite = r[np.isfinite(r)]
        if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
            raise DataError(
                f"accuracies must lie in [0, 1], got range [{finite.min()}, {finite.max()}]"
            )
        object.__setattr__(self, "values", r)
        if self.baseline is not None:
            b = np.asarray(self.baseline, dtype=np.float64)
            if b.shape != (r.shape[0],):
                raise DataError(f"baseline must have {r.shape[0]} entries, got shape {b.shape}")
            object.__setattr__(self, "baseline", b)
        names = tuple(self.task_names)
        if names and len(names) != r.shape[0]:
            raise DataError(f"{len(names)} task names for {r.shape[0]} tasks")
        object.__setattr__(self, "task_names", names)

    @classmethod
    def from_rows(
        cls,
        rows: Sequence[Sequence[float]],
        baseline: Sequence[float] | None = None,
        task_names: Sequence[str] = (),
    ) -> AccuracyMatrix:
        """Build from a list of rows (row ``i`` = accuracies after training task ``i``)."""
        return cls(
            np.asarray(rows, dtype=np.float64),
            None if baseline is None else np.asarray(baseline, dtype=np.float64),
            tuple(task_names),
        )

    @property
    def num_tasks(self) -> int:
        """T, the number of tasks."""
        return int(self.values.shape[0])

    def _need(self, k: int, what: str) -> None:
        if self.num_tasks < k:
            raise DataError(f"{what} needs at least {k} tasks, the matrix has {self.num_tasks}")

    @property
    def acc(self) -> float:
        """Final average accuracy: mean_j R[T-1, j]."""
        return float(self.values[-1].mean())

    @property
    def average_incremental_accuracy(self) -> float:
        """mean_i mean_{j<=i} R[i, j]."""
        r = self.values
        return float(np.mean([r[i, : i + 1].mean() for i in range(self.num_tasks)]))

    @property
    def bwt(self) -> float:
        """Backward transfer: mean_{j<T-1} (R[T-1, j] - R[j, j])."""
        self._need(2, "BWT")
        r, t = self.values, self.num_tasks
        return float(np.mean([r[t - 1, j] - r[j, j] for j in range(t - 1)]))

    @property
    def forgetting(self) -> float:
        """Average forgetting: mean_{j<T-1} (max_{j<=l<T-1} R[l, j] - R[T-1, j]).

        Only rows ``l >= j`` (after task ``j`` was trained) enter the maximum, with ``nanmax``;
        entries above the diagonal, NaN or not, are ignored.
        """
        self._need(2, "forgetting")
        r, t = self.values, self.num_tasks
        return float(np.mean([np.nanmax(r[j : t - 1, j]) - r[t - 1, j] for j in range(t - 1)]))

    @property
    def fwt(self) -> float:
        """Forward transfer: mean_{j>=1} (R[j-1, j] - b_j); needs ``baseline``."""
        self._need(2, "FWT")
        if self.baseline is None:
            raise ConfigError("FWT needs the random-initialisation baseline (baseline=None)")
        r, b = self.values, self.baseline
        above = [r[j - 1, j] for j in range(1, self.num_tasks)]
        if not np.all(np.isfinite(above)):
            raise DataError("FWT needs R[j-1, j] for every j >= 1, some are not finite")
        return float(np.mean([r[j - 1, j] - b[j] for j in range(1, self.num_tasks)]))

    def summary(self) -> dict[str, float]:
        """ACC, average incremental accuracy, BWT, forgetting and FWT (when computable)."""
        out = {"acc": self.acc, "avg_incremental_acc": self.average_incremental_accuracy}
        if self.num_tasks >= 2:
            out["bwt"] = self.bwt
            out["forgetting"] = self.forgetting
            above = [self.values[j - 1, j] for j in range(1, self.num_tasks)]
            if self.baseline is not None and np.all(np.isfinite(above)):
                out["fwt"] = self.fwt
        return out

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly: the matrix (NaN as None), baseline, names and the summary."""
        vals = [[None if not np.isfinite(v) else float(v) for v in row] for row in self.values]
        return {
            "values": vals,
            "baseline": None if self.baseline is None else [float(v) for v in self.baseline],
            "task_names": list(self.task_names),
            **self.summary(),
        }

    def heatmap(self, path: str | Path, *, title: str = "") -> Path:
        """Save the matrix as an annotated PNG heatmap (rows: after task i; cols: task j)."""
        plt = pyplot()
        t = self.num_tasks
        fig, ax = plt.subplots(figsize=(1.0 + 0.8 * t, 0.8 + 0.7 * t), dpi=100)
        masked = np.ma.masked_invalid(self.values)
        im = ax.imshow(masked, vmin=0.0, vmax=1.0, cmap="viridis")
        for i in range(t):
            for j in range(t):
                v = self.values[i, j]
                if np.isfinite(v):
                    ax.text(
                        j,
                        i,
                        f"{v:.2f}",
                        ha="center",
                        va="center",
                        color="white" if v < 0.6 else "black",
                        fontsize=8,
                    )
        labels = list(self.task_names) or [str(j) for j in range(t)]
        ax.set_xticks(range(t), labels, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(t), [f"after {x}" for x in labels], fontsize=7)
        ax.set_xlabel("evaluated task")
        ax.set_title(title or f"ACC {self.acc:.3f}", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        return save_figure(fig, path)
