"""Meta-learning over RUL tasks (Reptile and first-order MAML) and few-shot adaptation.

A *task* is a :class:`~lab.signal.cmapss.WindowSet`: an operating condition
(:func:`tasks_by_condition`), a group of engines (:func:`tasks_by_units`), a whole sub-dataset
(FD001, FD002, ... each prepared with its own training-unit scaler) or a simulator setting
(:func:`simulator_tasks`). The official code's tasks are minibatches of one subset and its README
admits only zero-shot use; here meta-training learns an initialisation from source tasks and
:func:`adapt` fine-tunes it on k engines of a new target domain, as the paper claims.

Reptile (Nichol et al. 2018): for each sampled task run ``inner_steps`` optimiser steps from the
current weights, then move the weights ``outer_lr`` of the way to the mean adapted weights
(code: 8 inner steps, inner batch 64, inner lr 1e-3, outer step 0.1, 5 tasks per meta-batch).
First-order MAML: the inner loop runs on a support batch; the gradient of the loss on a disjoint
query batch at the adapted weights, averaged over tasks, is applied to the initial weights by an
Adam meta-optimiser with ``meta_lr``.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

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

from .cmapss import CMAPSSConfig, WindowSet, prepare_rul_data
from .metrics import rmse
from .simulator import SimulatorConfig, simulate_turbofan
from .training import predict_rul

__all__ = [
    "AdaptConfig",
    "MetaConfig",
    "MetaResult",
    "adapt",
    "meta_train",
    "simulator_tasks",
    "tasks_by_condition",
    "tasks_by_units",
]

log = logging.getLogger("lab.signal")


@dataclass(frozen=True)
class MetaConfig:
    """Meta-training.

    Attributes:
        algorithm: ``"reptile"`` or ``"fomaml"`` (first-order MAML).
        outer_steps: meta-updates.
        meta_batch_size: tasks per meta-update (code: 5).
        inner_steps: optimiser steps per task (code: 8).
        inner_batch_size: windows per inner step (code: 64).
        inner_lr: inner Adam learning rate (code: 1e-3).
        inner_optimizer: ``"adam"`` (fresh per task) or ``"sgd"``.
        outer_lr: Reptile step towards the adapted weights (code: 0.1).
        meta_lr: FOMAML's outer Adam learning rate (OURS).
        query_batch_size: FOMAML query windows per task (disjoint from the support batches).
        eval_every: meta-updates between validation evaluations (0: never).
        checkpoint_every: meta-updates between checkpoints when a run directory is given.
        seed: seed of task and batch sampling.
    """

    algorithm: Literal["reptile", "fomaml"] = "reptile"
    outer_steps: int = 200
    meta_batch_size: int = 5
    inner_steps: int = 8
    inner_batch_size: int = 64
    inner_lr: float = 1e-3
    inner_optimizer: Literal["adam", "sgd"] = "adam"
    outer_lr: float = 0.1
    meta_lr: float = 1e-3
    query_batch_size: int = 64
    eval_every: int = 20
    checkpoint_every: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if self.algorithm not in ("reptile", "fomaml"):
            raise ConfigError(f"algorithm must be 'reptile' or 'fomaml', got {self.algorithm!r}")
        for name in (
            "meta_batch_size",
            "inner_steps",
            "inner_batch_size",
            "query_batch_size",
            "checkpoint_every",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.outer_steps < 0 or self.eval_every < 0:
            raise ConfigError("outer_steps and eval_every must be >= 0")
        if self.inner_lr <= 0 or self.meta_lr <= 0 or not 0 < self.outer_lr <= 1:
            raise ConfigError(
                f"inner_lr, meta_lr must be > 0 and outer_lr in (0, 1]: "
                f"{self.inner_lr}, {self.meta_lr}, {self.outer_lr}"
            )


@dataclass
class MetaResult:
    """Validation history ``(step, rmse)`` and the best step (the weights kept)."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_val_rmse: float = math.inf
    best_step: int = -1


def _inner_opt(params: Sequence[nn.Parameter], algo: str, lr: float) -> torch.optim.Optimizer:
    if algo == "adam":
        return torch.optim.Adam(params, lr=lr)
    if algo == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ConfigError(f"inner_optimizer must be 'adam' or 'sgd', got {algo!r}")


def _batch(task: WindowSet, idx: np.ndarray, dev: torch.device) -> tuple[torch.Tensor, ...]:
    return (
        torch.from_numpy(task.x[idx]).to(dev),
        torch.from_numpy(task.t[idx]).to(dev),
        torch.from_numpy(task.y[idx]).to(dev),
    )


def _inner_loop(
    fast: nn.Module,
    task: WindowSet,
    cfg: MetaConfig,
    rng: np.random.Generator,
    dev: torch.device,
    steps: int,
    batch_size: int,
    lr: float,
    exclude: np.ndarray | None = None,
) -> None:
    opt = _inner_opt(list(fast.parameters()), cfg.inner_optimizer, lr)
    pool = np.arange(len(task)) if exclude is None else np.setdiff1d(np.arange(len(task)), exclude)
    fast.train()
    for _ in range(steps):
        idx = rng.choice(pool, size=min(batch_size, len(pool)), replace=False)
        loss, _ = fast.loss(*_batch(task, idx, dev))  # type: ignore[operator]
        if not torch.isfinite(loss):
            raise DataError("non-finite loss in the meta-learning inner loop")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def meta_train(
    model: nn.Module,
    tasks: Sequence[WindowSet],
    config: MetaConfig | None = None,
    *,
    val: WindowSet | None = None,
    device: str | torch.device | None = None,
    run_dir: RunDir | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> MetaResult:
    """Meta-train ``model`` (in place) over ``tasks`` with Reptile or first-order MAML.

    With ``val`` (windows of validation units, never test data) the weights with the lowest
    zero-shot validation RMSE are kept; otherwise the final ones. Checkpoints and resume work as
    in :func:`~lab.signal.training.train_rul`.
    """
    cfg = config or MetaConfig()
    dev = get_device(device)
    model.to(dev)
    tasks = [t for t in tasks]
    if not tasks:
        raise DataError("meta_train needs at least one task")
    for i, task in enumerate(tasks):
        need = 2 if cfg.algorithm == "fomaml" else 1
        if len(task) < need:
            raise DataError(f"task {i} holds {len(task)} windows; {cfg.algorithm} needs >= {need}")
    meta_opt = (
        torch.optim.Adam(model.parameters(), lr=cfg.meta_lr) if cfg.algorithm == "fomaml" else None
    )
    result = MetaResult()
    best_state: dict[str, torch.Tensor] | None = None
    start = 0
    if resume:
        if run_dir is None:
            raise ConfigError("resume=True needs a run_dir")
        ckpt = run_dir.latest_checkpoint()
        if ckpt is None:
            raise DataError(f"no checkpoint to resume from in {run_dir.checkpoints}")
        st = load_checkpoint(ckpt, model=model, optimizer=meta_opt, map_location=dev)
        start = st.step
        result.history = list(st.extra["history"])
        result.best_val_rmse = float(st.extra["best_val_rmse"])
        result.best_step = int(st.extra["best_step"])
        best_state = st.extra.get("best_state")
    params = list(model.parameters())
    bar = progress(
        total=cfg.outer_steps,
        initial=start,
        desc=f"meta {cfg.algorithm}",
        disable=None if show_progress is None else not show_progress,
    )
    for step in range(start, cfg.outer_steps):
        rng = np.random.default_rng([cfg.seed, step])
        chosen = rng.choice(len(tasks), size=min(cfg.meta_batch_size, len(tasks)), replace=False)
        accum = [torch.zeros_like(p) for p in params]
        for ti in chosen:
            task = tasks[int(ti)]
            fast = copy.deepcopy(model)
            if cfg.algorithm == "reptile":
                _inner_loop(
                    fast, task, cfg, rng, dev, cfg.inner_steps, cfg.inner_batch_size, cfg.inner_lr
                )
                for a, p, q in zip(accum, params, fast.parameters(), strict=True):
                    a += q.detach() - p.detach()
            else:
                q_idx = rng.choice(
                    len(task), size=min(cfg.query_batch_size, len(task) // 2), replace=False
                )
                _inner_loop(
                    fast,
                    task,
                    cfg,
                    rng,
                    dev,
                    cfg.inner_steps,
                    cfg.inner_batch_size,
                    cfg.inner_lr,
                    exclude=q_idx,
                )
                fast.zero_grad(set_to_none=True)
                loss, _ = fast.loss(*_batch(task, q_idx, dev))  # type: ignore[operator]
                loss.backward()
                for a, q in zip(accum, fast.parameters(), strict=True):
                    if q.grad is not None:
                        a += q.grad.detach()
        with torch.no_grad():
            if cfg.algorithm == "reptile":
                for p, a in zip(params, accum, strict=True):
                    p.add_(a, alpha=cfg.outer_lr / len(chosen))
            else:
                assert meta_opt is not None
                for p, a in zip(params, accum, strict=True):
                    p.grad = a / len(chosen)
        if meta_opt is not None:
            meta_opt.step()
            meta_opt.zero_grad(set_to_none=True)
        bar.update(1)
        done = step + 1
        if (
            val is not None
            and len(val)
            and cfg.eval_every
            and (done % cfg.eval_every == 0 or done == cfg.outer_steps)
        ):
            v = rmse(predict_rul(model, val, device=dev), val.y)
            row = {"step": float(done), "val_rmse": v}
            result.history.append(row)
            if run_dir is not None:
                run_dir.log(row)
            bar.set_postfix(val_rmse=f"{v:.3g}")
            if v < result.best_val_rmse:
                result.best_val_rmse, result.best_step = v, done
                best_state = {k: x.detach().clone() for k, x in model.state_dict().items()}
        if run_dir is not None and (done % cfg.checkpoint_every == 0 or done == cfg.outer_steps):
            save_checkpoint(
                run_dir.checkpoint_path(done),
                model=model,
                optimizer=meta_opt,
                step=done,
                extra={
                    "history": result.history,
                    "best_val_rmse": result.best_val_rmse,
                    "best_step": result.best_step,
                    "best_state": best_state,
                },
            )
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return result


@dataclass(frozen=True)
class AdaptConfig:
    """Few-shot adaptation: ``steps`` Adam steps of ``batch_size`` windows at ``lr``; ``seed``
    seeds the minibatch draws."""

    steps: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"AdaptConfig needs steps >= 0, batch_size >= 1, lr > 0: {self}")


def adapt(
    model: nn.Module,
    support: WindowSet,
    config: AdaptConfig | None = None,
    *,
    device: str | torch.device | None = None,
    callback: Callable[[int, nn.Module], None] | None = None,
    show_progress: bool | None = None,
) -> nn.Module:
    """Fine-tune a copy of ``model`` on the ``support`` windows (e.g. k target engines).

    The input model is left unchanged; the adapted copy is returned. ``callback(step, model)``,
    if given, is called before the first step (``step=0``) and after every step, e.g. to
    evaluate the model along the way (it must not change the weights).
    """
    cfg = config or AdaptConfig()
    dev = get_device(device)
    if len(support) == 0:
        raise DataError("adapt needs at least one support window")
    fast = copy.deepcopy(model).to(dev)
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.Adam(fast.parameters(), lr=cfg.lr)
    fast.train()
    if callback is not None:
        callback(0, fast)
    disable = None if show_progress is None else not show_progress
    for step in progress(range(cfg.steps), desc="adapt", disable=disable):
        idx = rng.choice(len(support), size=min(cfg.batch_size, len(support)), replace=False)
        loss, _ = fast.loss(*_batch(support, idx, dev))  # type: ignore[operator]
        if not torch.isfinite(loss):
            raise DataError("non-finite loss during adaptation")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if callback is not None:
            callback(step + 1, fast)
    fast.eval()
    return fast


def tasks_by_condition(windows: WindowSet) -> list[WindowSet]:
    """One task per operating condition (of each window's last cycle), in condition order."""
    return [windows.subset(windows.condition == c) for c in np.unique(windows.condition)]


def tasks_by_units(windows: WindowSet, n_tasks: int, *, seed: int = 0) -> list[WindowSet]:
    """Split the engines into ``n_tasks`` disjoint random groups; one task per group."""
    units = windows.units
    if not 1 <= n_tasks <= len(units):
        raise ConfigError(f"n_tasks must be in 1..{len(units)} (engines), got {n_tasks}")
    perm = np.random.default_rng(seed).permutation(units)
    return [windows.select_units(g) for g in np.array_split(perm, n_tasks)]


def simulator_tasks(
    settings: Sequence[SimulatorConfig], cmapss: CMAPSSConfig | None = None, *, seed: int = 0
) -> list[WindowSet]:
    """One task per simulator setting: simulate a fleet, prepare it, keep its training windows."""
    cfg = cmapss or CMAPSSConfig()
    from dataclasses import replace

    out = []
    for i, s in enumerate(settings):
        data = prepare_rul_data(
            simulate_turbofan(s, seed=seed + i, name=f"SIM{i}"), replace(cfg, val_fraction=0.0)
        )
        out.append(data.train)
    return out
