"""Running a strategy over a stream: the accuracy matrices, timing, checkpoints and resume."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lab.core import ConfigError, load_checkpoint, progress, save_checkpoint

from .adapters import LoRAConfig
from .backbone import Backbone
from .baselines import (
    EWC,
    EWCConfig,
    JointConfig,
    JointTraining,
    PerTaskLoRA,
    Replay,
    ReplayConfig,
    SequentialLoRA,
    TaskAwareJointConfig,
    TaskAwareJointTraining,
)
from .inflora import InfLoRA, InfLoRAConfig
from .l2p import L2P, L2PConfig
from .metrics import AccuracyMatrix
from .olora import OLoRA, OLoRAConfig
from .strategy import ContinualStrategy, TrainConfig
from .stream import TaskStream

__all__ = ["METHODS", "ContinualResult", "make_strategy", "run_stream"]

#: Every strategy by its CLI name.
METHODS: dict[str, type[ContinualStrategy]] = {
    "sequential": SequentialLoRA,
    "per_task": PerTaskLoRA,
    "olora": OLoRA,
    "inflora": InfLoRA,
    "l2p": L2P,
    "replay": Replay,
    "ewc": EWC,
    "joint": JointTraining,
    "joint_task_aware": TaskAwareJointTraining,
}

_METHOD_CONFIGS: dict[str, type] = {
    "olora": OLoRAConfig,
    "inflora": InfLoRAConfig,
    "l2p": L2PConfig,
    "replay": ReplayConfig,
    "ewc": EWCConfig,
    "joint": JointConfig,
    "joint_task_aware": TaskAwareJointConfig,
}


def make_strategy(
    method: str,
    backbone: Backbone,
    stream: TaskStream,
    *,
    train: TrainConfig | None = None,
    lora: LoRAConfig | None = None,
    config: Any | None = None,
    query_encoder: Backbone | None = None,
    device: torch.device | str | None = None,
) -> ContinualStrategy:
    """Build strategy ``method`` (a key of :data:`METHODS`) sized for ``stream``.

    Raises:
        ConfigError: an unknown method, or ``query_encoder`` for a method other than L2P.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r} (choose from {sorted(METHODS)})")
    kwargs: dict[str, Any] = {
        "num_classes": stream.num_classes,
        "num_tasks": len(stream),
        "train": train,
        "lora": lora,
        "config": config,
        "device": device,
    }
    if method == "l2p":
        kwargs["query_encoder"] = query_encoder
    elif query_encoder is not None:
        raise ConfigError(f"query_encoder is used by l2p only, not by {method!r}")
    return METHODS[method](backbone, **kwargs)


@dataclass(frozen=True)
class ContinualResult:
    """What :func:`run_stream` measured.

    Attributes:
        til: task-incremental accuracy matrix (prediction with the task id).
        cil: class-incremental accuracy matrix (prediction without it).
        seconds: wall-clock training + evaluation time of this call's tasks.
        trainable_params: the most parameters trained at once on any task.
        method: the strategy's name.
        train_seconds: training time per task.
        steps: optimisation steps per task (for joint training: the steps of the model
            retrained after that task, so the last entry is the final model's budget).
    """

    til: AccuracyMatrix
    cil: AccuracyMatrix
    seconds: float
    trainable_params: int
    method: str
    train_seconds: tuple[float, ...] = field(default_factory=tuple)
    steps: tuple[int, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "method": self.method,
            "seconds": self.seconds,
            "trainable_params": self.trainable_params,
            "train_seconds": list(self.train_seconds),
            "steps": list(self.steps),
            "til": self.til.to_dict(),
            "cil": self.cil.to_dict(),
        }


def _rows_matrix(
    rows: list[list[float]], baseline: list[float], names: tuple[str, ...]
) -> AccuracyMatrix:
    return AccuracyMatrix.from_rows(rows, baseline=baseline, task_names=names)


def run_stream(
    strategy: ContinualStrategy,
    stream: TaskStream,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
    on_task: Callable[[int, list[float], list[float]], None] | None = None,
) -> ContinualResult:
    """Train ``strategy`` on every task of ``stream`` in order and fill the accuracy matrices.

    Before the first task the untrained model is evaluated on every task (the baseline ``b_j``
    of FWT); after task ``i`` every task ``j`` is evaluated with and without its task id
    (row ``i`` of ``til`` and ``cil``).

    Args:
        checkpoint_dir: write ``task_<i>.pt`` there after each task (module weights, the
            strategy's state and the rows so far, via :func:`lab.core.save_checkpoint`).
        resume: continue from the latest checkpoint in ``checkpoint_dir``; ``strategy`` must be
            freshly built with the same settings.
        show_progress: progress bar over tasks (``None``: automatic).
        on_task: called as ``on_task(i, til_row, cil_row)`` after each task.
    """
    if not isinstance(stream, TaskStream):
        raise ConfigError(f"run_stream expects a TaskStream, got {stream!r}")
    if resume and checkpoint_dir is None:
        raise ConfigError("resume=True needs checkpoint_dir")
    names = tuple(t.name for t in stream)
    ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    start = 0
    til_rows: list[list[float]] = []
    cil_rows: list[list[float]] = []
    base_til: list[float] = []
    base_cil: list[float] = []
    if resume and ckdir is not None:
        found = sorted(ckdir.glob("task_*.pt"))
        if found:
            latest = max(found, key=lambda p: int(p.stem.split("_")[1]))
            payload = torch.load(latest, map_location="cpu", weights_only=True)
            strategy.rebuild(payload["extra"]["strategy"], stream)
            st = load_checkpoint(latest, model=strategy.module, map_location=strategy.device)
            extra = st.extra
            til_rows = [list(r) for r in extra["til_rows"]]
            cil_rows = [list(r) for r in extra["cil_rows"]]
            base_til, base_cil = list(extra["base_til"]), list(extra["base_cil"])
            start = st.step
    t0 = time.perf_counter()
    if start == 0:
        base_til = [strategy.evaluate(t, use_task_id=True) for t in stream]
        base_cil = [strategy.evaluate(t, use_task_id=False) for t in stream]
    bar = progress(
        range(start, len(stream)),
        desc=f"{strategy.name}",
        disable=(None if show_progress is None else not show_progress),
    )
    for i in bar:
        strategy.train_task(stream[i])
        til = [strategy.evaluate(t, use_task_id=True) for t in stream]
        cil = [strategy.evaluate(t, use_task_id=False) for t in stream]
        til_rows.append(til)
        cil_rows.append(cil)
        if on_task is not None:
            on_task(i, til, cil)
        if ckdir is not None:
            save_checkpoint(
                ckdir / f"task_{i + 1:03d}.pt",
                model=strategy.module,
                step=i + 1,
                extra={
                    "strategy": strategy.state(),
                    "til_rows": til_rows,
                    "cil_rows": cil_rows,
                    "base_til": base_til,
                    "base_cil": base_cil,
                },
            )
    seconds = time.perf_counter() - t0
    return ContinualResult(
        til=_rows_matrix(til_rows, base_til, names),
        cil=_rows_matrix(cil_rows, base_cil, names),
        seconds=seconds,
        trainable_params=max((g.trainable_params for g in strategy.logs), default=0),
        method=strategy.name,
        train_seconds=tuple(g.seconds for g in strategy.logs),
        steps=tuple(g.steps for g in strategy.logs),
    )
