"""Training and evaluation of RUL models (MKDPINN and the neural baselines).

Model selection uses the validation units only, scored as one RMSE over all their windows (not a
mean of per-batch RMSEs). The test set is touched only by :func:`evaluate_rul`. Training writes
checkpoints into a :class:`lab.core.RunDir` each ``checkpoint_every`` epochs and resumes
bit-exactly from the latest one (minibatch order comes from a generator seeded per epoch; the
global RNG state, used by dropout, is restored by :func:`lab.core.load_checkpoint`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import nn

from lab.core import (
    ConfigError,
    DataError,
    RunDir,
    get_device,
    load_checkpoint,
    progress,
    save_checkpoint,
)

from .baselines import RidgeRUL
from .cmapss import RULData, WindowSet
from .metrics import phm08_score, rmse

__all__ = ["RULModel", "TrainConfig", "TrainResult", "evaluate_rul", "predict_rul", "train_rul"]

log = logging.getLogger("lab.signal")


class RULModel(Protocol):
    """What the trainer needs: ``model(x, t) -> (batch,)`` and ``model.loss(x, t, y)``."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor: ...

    def loss(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]: ...


@dataclass(frozen=True)
class TrainConfig:
    """Supervised training of a RUL model.

    Attributes:
        epochs: maximum number of passes over the training windows.
        batch_size: windows per step (code: 256).
        lr: Adam learning rate (code: 1e-3).
        weight_decay: Adam weight decay.
        lr_schedule: ``"constant"`` (the code) or ``"cosine"`` (OURS: cosine decay to 0 over
            ``epochs``, stepped per epoch; it settles the noisy raw-RUL-scale updates).
        patience: stop after this many epochs without a better validation RMSE (0: never).
        max_steps_per_epoch: OURS, for CPU budgets: cap the steps of an epoch (0: full epoch).
        grad_clip: clip the gradient norm (0: off). OURS.
        checkpoint_every: epochs between checkpoints when a run directory is given.
        seed: seed of the minibatch order.
        eval_batch_size: windows per forward pass when predicting.
    """

    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: Literal["constant", "cosine"] = "constant"
    patience: int = 10
    max_steps_per_epoch: int = 0
    grad_clip: float = 0.0
    checkpoint_every: int = 1
    seed: int = 0
    eval_batch_size: int = 4096

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError(f"epochs >= 0 and batch sizes >= 1 required: {self}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.patience < 0 or self.max_steps_per_epoch < 0 or self.checkpoint_every < 1:
            raise ConfigError(f"patience/max_steps_per_epoch >= 0, checkpoint_every >= 1: {self}")


@dataclass
class TrainResult:
    """History (one dict per epoch), the best validation RMSE and its epoch."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_val_rmse: float = math.inf
    best_epoch: int = -1
    stopped_early: bool = False


def _tensors(ws: WindowSet, device: torch.device) -> tuple[torch.Tensor, ...]:
    return (
        torch.from_numpy(ws.x).to(device),
        torch.from_numpy(ws.t).to(device),
        torch.from_numpy(ws.y).to(device),
    )


def predict_rul(
    model: nn.Module | RidgeRUL,
    windows: WindowSet,
    *,
    device: str | torch.device | None = None,
    batch_size: int = 4096,
) -> np.ndarray:
    """Predictions for every window (eval mode, no gradients), as a float64 array."""
    if isinstance(model, RidgeRUL):
        return np.asarray(model.predict(windows.x, windows.t), dtype=np.float64)
    dev = get_device(device)
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(windows), batch_size):
            x = torch.from_numpy(windows.x[s : s + batch_size]).to(dev)
            t = torch.from_numpy(windows.t[s : s + batch_size]).to(dev)
            out.append(model(x, t).double().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0)


def evaluate_rul(
    model: Any, windows: WindowSet, *, device: str | torch.device | None = None
) -> dict[str, float]:
    """RMSE and PHM08 score of ``model`` on ``windows`` (for test: the last window per engine)."""
    if len(windows) == 0:
        raise DataError("cannot evaluate on an empty window set")
    pred = predict_rul(model, windows, device=device)
    return {
        "rmse": rmse(pred, windows.y),
        "score": phm08_score(pred, windows.y),
        "n": float(len(windows)),
    }


def train_rul(
    model: nn.Module,
    data: RULData,
    config: TrainConfig | None = None,
    *,
    device: str | torch.device | None = None,
    run_dir: RunDir | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> TrainResult:
    """Train ``model`` on ``data.train``, select the epoch with the best ``data.val`` RMSE.

    On return ``model`` holds the best weights (the last ones when there are no validation
    units). With ``run_dir``, checkpoints go to ``run_dir.checkpoints`` and metrics to
    ``run_dir.metrics_file``; ``resume=True`` continues from the latest checkpoint there.
    """
    cfg = config or TrainConfig()
    dev = get_device(device)
    model.to(dev)
    if len(data.train) == 0:
        raise DataError(f"{data.name}: no training windows")
    x, t, y = _tensors(data.train, dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
        if cfg.lr_schedule == "cosine"
        else None
    )
    result = TrainResult()
    best_state: dict[str, torch.Tensor] | None = None
    bad = 0
    start_epoch = 0
    if resume:
        if run_dir is None:
            raise ConfigError("resume=True needs a run_dir")
        ckpt = run_dir.latest_checkpoint()
        if ckpt is None:
            raise DataError(f"no checkpoint to resume from in {run_dir.checkpoints}")
        st = load_checkpoint(ckpt, model=model, optimizer=opt, scheduler=sched, map_location=dev)
        start_epoch = st.step
        result.history = list(st.extra["history"])
        result.best_val_rmse = float(st.extra["best_val_rmse"])
        result.best_epoch = int(st.extra["best_epoch"])
        bad = int(st.extra["bad_epochs"])
        best_state = st.extra.get("best_state")
        log.info("resumed %s at epoch %d", ckpt, start_epoch)
    n = len(data.train)
    steps = math.ceil(n / cfg.batch_size)
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)
    bar = progress(
        total=cfg.epochs,
        initial=start_epoch,
        desc=f"train {data.name}",
        disable=None if show_progress is None else not show_progress,
    )
    for epoch in range(start_epoch, cfg.epochs):
        if bad >= cfg.patience > 0:
            result.stopped_early = True
            break
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        perm = torch.randperm(n, generator=gen).to(dev)
        sums: dict[str, float] = {"data": 0.0, "physics": 0.0}
        for s in range(steps):
            idx = perm[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            loss, parts = model.loss(x[idx], t[idx], y[idx])  # type: ignore[operator]
            if not torch.isfinite(loss):
                raise DataError(f"{data.name}: non-finite training loss at epoch {epoch} step {s}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            for k in sums:
                sums[k] += parts.get(k, 0.0)
        if sched is not None:
            sched.step()
        row = {
            "epoch": float(epoch + 1),
            "train_mse": sums["data"] / steps,
            "physics_mse": sums["physics"] / steps,
        }
        if len(data.val):
            val = rmse(
                predict_rul(model, data.val, device=dev, batch_size=cfg.eval_batch_size), data.val.y
            )
            row["val_rmse"] = val
            if val < result.best_val_rmse:
                result.best_val_rmse, result.best_epoch, bad = val, epoch + 1, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
        result.history.append(row)
        if run_dir is not None:
            run_dir.log(row)
        bar.update(1)
        bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k != "epoch"})
        if run_dir is not None and (
            (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs
        ):
            save_checkpoint(
                run_dir.checkpoint_path(epoch + 1),
                model=model,
                optimizer=opt,
                scheduler=sched,
                step=epoch + 1,
                extra={
                    "history": result.history,
                    "best_val_rmse": result.best_val_rmse,
                    "best_epoch": result.best_epoch,
                    "bad_epochs": bad,
                    "best_state": best_state,
                },
            )
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return result
