"""Training shared by the particle and conformer samplers: the epoch loop of Adjoint Sampling
(:class:`AdjointTrainer`: simulate, store, regress, EMA, checkpoint, resume), the parameter EMA
and the learning-rate schedule."""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lab.core import (
    ConfigError,
    DataError,
    RunDir,
    atomic_save,
    config_to_dict,
    is_main,
    load_checkpoint,
    progress,
    rank,
    save_checkpoint,
    world_size,
    wrap_ddp,
)

__all__ = ["AdjointTrainer", "ema_update", "lr_factor", "open_run_dir"]


def lr_factor(
    step: int,
    total_steps: int,
    *,
    schedule: str = "constant",
    lr: float = 1.0,
    lr_min: float = 0.0,
    warmup_steps: int = 0,
) -> float:
    """Multiplier of the base ``lr`` for optimiser step ``step`` (0-based) of ``total_steps``.

    ``constant``: 1 after warm-up. ``cosine``: ``lr_min + (lr - lr_min) (1 + cos(pi p)) / 2``
    and ``linear``: ``lr - (lr - lr_min) p``, with ``p`` the fraction of the post-warm-up steps
    done (0 at the first step after warm-up, 1 at step ``total_steps``; held at ``lr_min``
    beyond). Warm-up ramps linearly from ``lr / warmup_steps`` to ``lr``. The returned value is
    the learning rate divided by ``lr`` (what ``torch.optim.lr_scheduler.LambdaLR`` expects).
    """
    if schedule not in ("constant", "cosine", "linear"):
        raise ConfigError(f"lr_schedule must be constant, cosine or linear, got {schedule!r}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    p = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "cosine":
        value = lr_min + (lr - lr_min) * 0.5 * (1.0 + math.cos(math.pi * p))
    else:
        value = lr - (lr - lr_min) * p
    return value / lr


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * model``, parameter by parameter, in place."""
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters(), strict=True):
            pe.lerp_(p, 1.0 - decay)


def open_run_dir(run_dir: RunDir | str | Path | None) -> RunDir | None:
    """``run_dir`` as a :class:`~lab.core.RunDir` (a folder is created and opened)."""
    if run_dir is None or isinstance(run_dir, RunDir):
        return run_dir
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    return RunDir.open(path)


class AdjointTrainer(ABC):
    """The epoch loop of Adjoint Sampling, shared by every sampler of this package.

    One epoch: simulate the current controlled SDE and store its end points with their lean
    adjoints (:meth:`_simulate_epoch`, the only energy calls), then one optimiser step per loss
    batch of :meth:`_loss_batches` (gradient-norm clip ``config.grad_clip_norm``, the learning-rate
    scheduler if any, the EMA of the weights with ``config.ema_decay``). Every
    ``config.checkpoint_every`` epochs and at the end a checkpoint holds the weights, optimiser,
    scheduler, EMA, counters and configuration (rank 0) plus each rank's replay buffers and
    generator (:meth:`_rank_state`), so that :meth:`fit` with ``resume=True`` continues exactly
    (bit-exact on one process). ``config.keep_checkpoints`` (when the config has it and it is
    positive) keeps only the newest ones. A non-finite mean loss raises :class:`DataError`.

    Subclasses set ``config``, ``device``, ``model``, ``ema``, ``optimizer``, ``generator``
    (and ``lr_scheduler`` when they have one), call :meth:`_init_counters`, and implement
    :meth:`_simulate_epoch`, :meth:`_loss_batches`, :meth:`_rank_state` and
    :meth:`_load_rank_state` (abstract: a subclass without them cannot be instantiated).
    """

    config: Any
    device: torch.device
    model: torch.nn.Module
    ema: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    lr_scheduler: Any = None
    #: Label of the progress bar.
    progress_desc: str = "adjoint sampling"

    def _init_counters(self) -> None:
        self.energy_evals = 0
        self.grad_steps = 0
        self.epoch = 0
        self.nonfinite_skipped = 0
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ hooks

    @abstractmethod
    def _simulate_epoch(self) -> dict[str, float]:
        """Simulate, evaluate energies and store end points; count ``energy_evals`` (summed
        over ranks) and ``nonfinite_skipped``. Returns the epoch's statistics for the log."""

    @abstractmethod
    def _loss_batches(self, trainer: torch.nn.Module) -> Iterator[Tensor]:
        """The epoch's losses, one per optimiser step (``trainer`` is the DDP-wrapped model)."""

    @abstractmethod
    def _rank_state(self) -> dict[str, Any]:
        """This rank's buffers and generator state (saved beside each checkpoint)."""

    @abstractmethod
    def _load_rank_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_rank_state` returned."""

    def _before_fit(self) -> None:
        """Called by :meth:`fit` when it does not resume (e.g. a buffer warm start); by default
        nothing."""
        return None

    def _extra(self) -> dict[str, Any]:
        """What a checkpoint stores besides weights and optimiser: EMA, counters, config."""
        return {
            "ema": dict(self.ema.state_dict()),
            "energy_evals": self.energy_evals,
            "grad_steps": self.grad_steps,
            "nonfinite_skipped": self.nonfinite_skipped,
            "config": config_to_dict(self.config),
        }

    def _load_extra(self, extra: dict[str, Any]) -> None:
        self.ema.load_state_dict(extra["ema"])
        self.energy_evals = int(extra["energy_evals"])
        self.grad_steps = int(extra["grad_steps"])
        self.nonfinite_skipped = int(extra.get("nonfinite_skipped", 0))

    def _scheduler_to_restore(self, path: str | Path) -> Any:
        return self.lr_scheduler

    # ------------------------------------------------------------------ checkpoints

    def _rank_state_path(self, run: RunDir, epoch: int) -> Path:
        return run.checkpoints / "ranks" / f"rank{rank()}_step_{epoch:09d}.pt"

    def save(self, run: RunDir) -> Path:
        """Checkpoint the model, optimiser, scheduler, EMA, counters (rank 0) and each rank's
        buffers and generator, for exact resume."""
        atomic_save(self._rank_state(), self._rank_state_path(run, self.epoch))
        path = run.checkpoint_path(self.epoch)
        if is_main():
            save_checkpoint(
                path,
                model=self.model,
                optimizer=self.optimizer,
                scheduler=self.lr_scheduler,
                step=self.epoch,
                extra=self._extra(),
            )
        if getattr(self.config, "keep_checkpoints", 0):
            self._prune(run)
        return path

    def _prune(self, run: RunDir) -> None:
        """Delete all but the newest ``config.keep_checkpoints`` checkpoints (and this rank's
        state files of the deleted epochs)."""
        keep = int(self.config.keep_checkpoints)
        if is_main():
            for old in sorted(run.checkpoints.glob("step_*.pt"))[:-keep]:
                old.unlink(missing_ok=True)
        mine = sorted((run.checkpoints / "ranks").glob(f"rank{rank()}_step_*.pt"))
        for old in mine[:-keep]:
            old.unlink(missing_ok=True)

    def load(self, path: str | Path, *, restore_training_state: bool = True) -> None:
        """Load a checkpoint written by :meth:`save` (weights, EMA, counters; with
        ``restore_training_state`` also the optimiser, scheduler and this rank's buffers and
        generator)."""
        state = load_checkpoint(
            path,
            model=self.model,
            optimizer=self.optimizer if restore_training_state else None,
            scheduler=self._scheduler_to_restore(path) if restore_training_state else None,
            map_location=self.device,
            restore_rng=restore_training_state,
        )
        self.epoch = state.step
        self._load_extra(state.extra)
        if restore_training_state:
            rank_file = Path(path).parent / "ranks" / f"rank{rank()}_step_{state.step:09d}.pt"
            if not rank_file.is_file():
                raise DataError(
                    f"checkpoint {str(path)!r} has no buffer state for rank {rank()} "
                    f"({str(rank_file)!r})"
                )
            self._load_rank_state(
                torch.load(rank_file, map_location=self.device, weights_only=True)
            )

    # ------------------------------------------------------------------ the loop

    def _ema_update(self) -> None:
        ema_update(self.ema, self.model, self.config.ema_decay)

    def fit(
        self,
        *,
        epochs: int | None = None,
        run_dir: RunDir | str | Path | None = None,
        resume: bool = False,
        show_progress: bool | None = None,
        time_limit: float | None = None,
    ) -> dict[str, Any]:
        """Train until ``epochs`` (default: ``config.epochs``) epochs are completed.

        Args:
            epochs: total epochs to reach (a resumed run continues from its checkpoint).
            run_dir: a :class:`~lab.core.RunDir` or folder for ``metrics.jsonl``, ``config.json``
                and checkpoints (every ``config.checkpoint_every`` epochs and at the end).
            resume: continue from the latest checkpoint in ``run_dir``.
            show_progress: force the progress bar on/off (default: on for a terminal, rank 0).
            time_limit: stop after the epoch that passes this many seconds (OURS: bounds a
                benchmark's CPU time); the summary's ``stopped_early`` says whether it did.

        Returns:
            The summary: epochs, energy evaluations, gradient steps, final loss, wall time.
        """
        cfg = self.config
        total = cfg.epochs if epochs is None else int(epochs)
        run = open_run_dir(run_dir)
        if resume:
            if run is None:
                raise ConfigError("resume=True needs run_dir")
            latest = run.latest_checkpoint()
            if latest is None:
                raise DataError(f"no checkpoint to resume from in {str(run.path)!r}")
            self.load(latest)
        else:
            self._before_fit()
        if run is not None and is_main() and not run.config_file.exists():
            run.save_config(cfg)
        trainer = wrap_ddp(self.model, self.device)
        start = time.perf_counter()
        last_loss = math.nan
        stopped_early = False
        bar = progress(
            range(self.epoch, total),
            total=total,
            initial=self.epoch,
            desc=self.progress_desc,
            disable=None if show_progress is None else not show_progress,
        )
        for _ in bar:
            self.model.eval()
            stats = self._simulate_epoch()
            self.model.train()
            losses = []
            for loss in self._loss_batches(trainer):
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip_norm)
                self.optimizer.step()
                if self.lr_scheduler is not None:
                    self.lr_scheduler.step()
                if cfg.ema_decay > 0:
                    self._ema_update()
                self.grad_steps += 1
                losses.append(loss.detach())
            if not losses:
                raise DataError(f"epoch {self.epoch} had no loss batch (empty replay buffers)")
            last_loss = float(torch.stack(losses).mean())
            if not math.isfinite(last_loss):
                raise DataError(f"adjoint matching loss became {last_loss} at epoch {self.epoch}")
            self.epoch += 1
            row = {
                "epoch": self.epoch,
                "loss": last_loss,
                "energy_evals": self.energy_evals,
                "grad_steps": self.grad_steps,
                "nonfinite_skipped": self.nonfinite_skipped,
                "lr": self.optimizer.param_groups[0]["lr"],
                **stats,
                "seconds": time.perf_counter() - start,
            }
            self.history.append(row)
            bar.set_postfix(
                loss=f"{last_loss:.3g}", energy=f"{stats.get('energy_mean', math.nan):.3g}"
            )
            if run is not None and is_main():
                run.log(row)
            if run is not None and cfg.checkpoint_every and self.epoch % cfg.checkpoint_every == 0:
                self.save(run)
            if time_limit is not None and time.perf_counter() - start > time_limit:
                stopped_early = self.epoch < total
                break
        bar.close()
        if run is not None and (not cfg.checkpoint_every or self.epoch % cfg.checkpoint_every):
            self.save(run)
        return {
            "epochs": self.epoch,
            "energy_evals": self.energy_evals,
            "grad_steps": self.grad_steps,
            "loss": last_loss,
            "nonfinite_skipped": self.nonfinite_skipped,
            "grad_steps_per_energy_eval": self.grad_steps / max(self.energy_evals, 1),
            "stopped_early": stopped_early,
            "seconds": time.perf_counter() - start,
            "world_size": world_size(),
        }
