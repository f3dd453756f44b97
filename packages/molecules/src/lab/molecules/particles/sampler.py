"""``AdjointSampler``: on-policy training of a diffusion sampler by adjoint matching.

Each epoch (1) simulates ``samples_per_epoch`` end points ``X1`` of the current controlled SDE
(no gradients), (2) evaluates the energy and its gradient once per end point and stores
``(X1, a(X1))`` in a FIFO :class:`~lab.molecules.ReplayBuffer`, then (3) takes
``grad_steps_per_epoch`` optimiser steps of the reciprocal adjoint matching loss on batches
drawn from the buffer: many gradient steps per energy evaluation.

Under ``torchrun`` each rank simulates its share of the epoch's samples into its own buffer,
the loss gradients are all-reduced (DistributedDataParallel) and rank 0 writes files.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from lab.core import (
    ConfigError,
    DataError,
    config_from_dict,
    get_device,
    rank,
    save_checkpoint,
    seeded,
    world_size,
)

from ..buffer import ReplayBuffer
from ..egnn import EGNN, EGNNConfig
from ..importance import ImportanceSamples, effective_sample_size, importance_resample
from ..loss import adjoint_matching_loss, lean_adjoint
from ..sde import GeometricNoiseSchedule, simulate, simulate_with_log_ratio
from ..training import AdjointTrainer, lr_factor
from .energies import ParticleEnergy, check_finite, energy_and_grad

__all__ = ["AdjointSampler", "AdjointSamplingConfig"]


@dataclass(frozen=True)
class AdjointSamplingConfig:
    """Configuration of :class:`AdjointSampler` (defaults are CPU-sized; see :meth:`paper`).

    Attributes:
        sigma_min: geometric schedule noise at t=1 (paper DW/LJ: 1e-3).
        sigma_max: geometric schedule noise at t=0 (paper: 1.5-2 for DW-4, 2 for LJ).
        n_steps: Euler-Maruyama steps (paper: 200 DW-4, 1000 LJ).
        time_grid: ``uniform`` (paper), ``quadratic`` or ``variance`` (OURS options). With
            few steps, ``uniform`` puts most of the geometric schedule's variance into the first
            steps (100 steps: ``kappa(0.01) = 0.56`` of ``kappa(1) = 4`` in step one); on stiff
            energies (LJ) that first coarse step makes collisions, and ``quadratic`` (as fine as
            the paper's 1,000 uniform steps at the start, still fine at the end) avoids them.
            ``variance`` (equal increments of ``kappa``) leaves the small noise scales of the
            last stretch to one step and is not suited to LJ (measured:
            docs/benchmarks/molecules.md).
        integrator: ``heun`` (OURS default: stochastic Heun, two control evaluations per step)
            or ``euler`` (Euler-Maruyama, the paper's). Measured against the closed-form
            optimal control of harmonic clusters (docs/benchmarks/molecules.md), Heun's energy
            bias at 100 steps is within +-0.6%, Euler's +1% to +9% (warm).
        increment: variance increment of a step, ``exact`` (``kappa(t_{k+1}) - kappa(t_k)``)
            or ``left`` (``g(t_k)^2 dt``, the public code's); see :func:`~lab.molecules.simulate`.
        t_sampling: loss times ``uniform`` (paper) or ``variance`` (uniform in kappa; OURS).
        egnn: the control network (paper: 5 layers, hidden 128).
        epochs: number of epochs (paper: 4,000-5,000).
        samples_per_epoch: new end points, i.e. energy evaluations, per epoch (paper: 512).
        grad_steps_per_epoch: optimiser steps per epoch (paper: 100).
        batch_size: loss batch size (paper: 512).
        buffer_capacity: replay buffer size (paper: 10,000 with 512 new samples per epoch, i.e.
            about 20 epochs of samples). Keep that ratio when ``samples_per_epoch`` is smaller:
            a buffer of many epochs keeps the end points of early, poor controls, and the
            regression keeps fitting them (measured on DW-4: docs/benchmarks/molecules.md).
        buffer_sampling: how the gradient steps of an epoch draw from the buffer: ``uniform``
            (``grad_steps_per_epoch`` batches drawn with replacement) or ``epoch`` (the public
            code's: one shuffled pass over the whole buffer, ``ceil(len(buffer) / batch_size)``
            steps, ``grad_steps_per_epoch`` ignored). Measured: docs/benchmarks/molecules.md.
        duplicates: copies of each new end point stored in the buffer (public code: each copy
            gets its own loss time and bridge point); 1 stores each once.
        lr: Adam learning rate (paper: 1e-4); the peak rate of a non-constant schedule.
        lr_schedule: ``constant`` (paper), or ``cosine`` / ``linear`` decay from ``lr`` to
            ``lr_min`` over the ``epochs * grad_steps_per_epoch`` optimiser steps of the
            configuration (OURS: a CPU-budget stand-in for the paper's long run at a small
            constant rate; see :func:`lr_factor`). Stepped once per optimiser step and stored in
            checkpoints, so a resumed run continues the same curve.
        lr_min: final learning rate of a decaying schedule (must be in ``[0, lr]``).
        lr_warmup_steps: linear warm-up optimiser steps before the schedule (OURS; 0: none).
        grad_clip_norm: clip of the parameters' gradient norm (OURS; ``None`` disables it).
        adjoint_clip: per-particle norm clip of ``grad E / tau`` (paper: 100).
        ema_decay: decay of the EMA weights used by :meth:`AdjointSampler.sample` (0 disables).
        com_free: centre-of-mass-free noise and targets (on for particle systems).
        on_nonfinite: ``raise`` on a non-finite energy/gradient, or ``skip`` such samples and
            count them in the metrics.
        checkpoint_every: write a checkpoint every N epochs into the run directory (0: only
            at the end).
        keep_checkpoints: keep only the newest N checkpoints of the run directory (0: all).
        seed: seed of the network initialisation and of the sampler's generator.
    """

    sigma_min: float = 1e-3
    sigma_max: float = 2.0
    n_steps: int = 100
    time_grid: Literal["uniform", "quadratic", "variance"] = "uniform"
    integrator: Literal["heun", "euler"] = "heun"
    increment: Literal["exact", "left"] = "exact"
    t_sampling: Literal["uniform", "variance"] = "uniform"
    egnn: EGNNConfig = field(default_factory=lambda: EGNNConfig(hidden=32, n_layers=3))
    epochs: int = 200
    samples_per_epoch: int = 128
    grad_steps_per_epoch: int = 50
    batch_size: int = 128
    buffer_capacity: int = 10_000
    buffer_sampling: Literal["uniform", "epoch"] = "uniform"
    duplicates: int = 1
    lr: float = 1e-3
    grad_clip_norm: float | None = 1.0
    adjoint_clip: float | None = 100.0
    ema_decay: float = 0.99
    com_free: bool = True
    on_nonfinite: Literal["raise", "skip"] = "raise"
    checkpoint_every: int = 0
    keep_checkpoints: int = 0
    seed: int = 0
    lr_schedule: Literal["constant", "cosine", "linear"] = "constant"
    lr_min: float = 0.0
    lr_warmup_steps: int = 0

    def __post_init__(self) -> None:
        for name in (
            "n_steps",
            "epochs",
            "samples_per_epoch",
            "grad_steps_per_epoch",
            "batch_size",
            "buffer_capacity",
            "duplicates",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr!r}")
        if self.lr_schedule not in ("constant", "cosine", "linear"):
            raise ConfigError(
                f"lr_schedule must be constant, cosine or linear, got {self.lr_schedule!r}"
            )
        if not 0.0 <= self.lr_min <= self.lr:
            raise ConfigError(f"lr_min must be in [0, lr={self.lr!r}], got {self.lr_min!r}")
        if self.lr_warmup_steps < 0:
            raise ConfigError(f"lr_warmup_steps must be >= 0, got {self.lr_warmup_steps}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if self.keep_checkpoints < 0:
            raise ConfigError(f"keep_checkpoints must be >= 0, got {self.keep_checkpoints}")
        if self.checkpoint_every < 0:
            raise ConfigError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        if self.on_nonfinite not in ("raise", "skip"):
            raise ConfigError(f"on_nonfinite must be 'raise' or 'skip', got {self.on_nonfinite!r}")
        if self.buffer_sampling not in ("uniform", "epoch"):
            raise ConfigError(
                f"buffer_sampling must be 'uniform' or 'epoch', got {self.buffer_sampling!r}"
            )
        if self.integrator not in ("heun", "euler"):
            raise ConfigError(f"integrator must be 'heun' or 'euler', got {self.integrator!r}")
        if self.increment not in ("exact", "left"):
            raise ConfigError(f"increment must be 'exact' or 'left', got {self.increment!r}")
        GeometricNoiseSchedule(self.sigma_min, self.sigma_max)  # validates the pair

    @classmethod
    def cpu(cls, system: str, **overrides: Any) -> AdjointSamplingConfig:
        """The benchmarked CPU configs for ``dw4``, ``lj13`` or ``lj55`` (OURS; each system
        trains in under 15 minutes on 2 cores; docs/benchmarks/molecules.md). Both follow
        from measurements: the replay buffer keeps about 20 epochs of samples, the paper's
        ratio (10,000 / 512), so the samples of the first, untrained epochs leave it; LJ uses
        the quadratic time grid ``t = s^2`` (100 uniform steps put ``kappa(0.01) = 0.56`` of
        the variance 4 into the first step and the stiff LJ control then throws particles onto
        each other). These are the defaults of ``lab molecules particles sample``."""
        key = system.lower()
        base: dict[str, Any]
        if key == "dw4":
            base = dict(
                sigma_max=2.0,
                n_steps=100,
                egnn=EGNNConfig(hidden=64, n_layers=4),
                epochs=150,
                samples_per_epoch=128,
                grad_steps_per_epoch=30,
                batch_size=128,
                buffer_capacity=2560,
                lr=3e-3,
                ema_decay=0.99,
            )
        elif key == "lj13":
            base = dict(
                sigma_max=2.0,
                n_steps=100,
                time_grid="quadratic",
                egnn=EGNNConfig(hidden=32, n_layers=3),
                epochs=120,
                samples_per_epoch=64,
                grad_steps_per_epoch=20,
                batch_size=64,
                buffer_capacity=1280,
                lr=3e-3,
                ema_decay=0.99,
            )
        elif key == "lj55":
            base = dict(
                sigma_max=2.0,
                n_steps=50,
                time_grid="quadratic",
                egnn=EGNNConfig(hidden=16, n_layers=2),
                epochs=20,
                samples_per_epoch=32,
                grad_steps_per_epoch=10,
                batch_size=32,
                buffer_capacity=640,
                lr=1e-3,
                ema_decay=0.9,
            )
        else:
            raise ConfigError(f"no CPU configuration for {system!r}; choose dw4, lj13 or lj55")
        base.update(overrides)
        return cls(**base)

    @classmethod
    def paper(cls, system: str, **overrides: Any) -> AdjointSamplingConfig:
        """The paper's sizes for ``dw4``, ``lj13`` or ``lj55`` (GPU-sized).

        The integrator stays this library's (Heun, exact increments); pass
        ``integrator="euler", increment="left"`` for the public code's Euler-Maruyama step."""
        base: dict[str, Any] = dict(
            egnn=EGNNConfig(hidden=128, n_layers=5),
            samples_per_epoch=512,
            grad_steps_per_epoch=100,
            batch_size=512,
            buffer_capacity=10_000,
            lr=1e-4,
            adjoint_clip=100.0,
            ema_decay=0.999,
        )
        key = system.lower()
        if key == "dw4":
            base.update(sigma_max=2.0, n_steps=200, epochs=4000)
        elif key in ("lj13", "lj55"):
            base.update(sigma_max=2.0, n_steps=1000, epochs=5000)
        else:
            raise ConfigError(f"no paper configuration for {system!r}; choose dw4, lj13 or lj55")
        base.update(overrides)
        return cls(**base)


class AdjointSampler(AdjointTrainer):
    """Adjoint Sampling for a particle energy.

    Args:
        energy: a :class:`~lab.molecules.ParticleEnergy` (wrap plain callables with
            :class:`~lab.molecules.CallableEnergy`); its ``tau`` is the temperature.
        config: an :class:`AdjointSamplingConfig`.
        device: where the network, buffer and simulations live (``None``: CUDA if present).

    Training is :meth:`fit` of the shared loop :class:`~lab.molecules.training.AdjointTrainer`
    (checkpoints, exact resume, ``time_limit``; also :meth:`save` / :meth:`load`).

    Attributes:
        energy_evals: energy (+ gradient) evaluations so far, summed over ranks.
        grad_steps: optimiser steps so far.
        epoch: epochs completed.
    """

    def __init__(
        self,
        energy: ParticleEnergy,
        config: AdjointSamplingConfig | None = None,
        *,
        device: torch.device | str | None = None,
    ):
        if not isinstance(energy, ParticleEnergy):
            raise ConfigError(
                f"energy must be a lab.molecules ParticleEnergy, got {type(energy).__name__}; "
                "wrap a plain callable with CallableEnergy(fn, n_particles, dim)"
            )
        self.config = cfg = config or AdjointSamplingConfig()
        if cfg.com_free and not energy.translation_invariant and energy.n_particles == 1:
            raise ConfigError(
                "centre-of-mass-free sampling of a single particle is degenerate; "
                "set com_free=False"
            )
        if cfg.com_free and not energy.translation_invariant:
            warnings.warn(
                f"{type(energy).__name__} is not translation invariant: com_free=True samples it "
                "restricted to zero centre of mass; set com_free=False for the full target",
                UserWarning,
                stacklevel=2,
            )
        self.device = get_device(device)
        self.energy = energy.to(self.device)
        self.n_particles, self.dim = energy.n_particles, energy.dim
        self.schedule = GeometricNoiseSchedule(cfg.sigma_min, cfg.sigma_max)
        with seeded(cfg.seed):
            self.model = EGNN(self.n_particles, self.dim, cfg.egnn).to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        total_steps = cfg.epochs * cfg.grad_steps_per_epoch
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda step: lr_factor(
                step,
                total_steps,
                schedule=cfg.lr_schedule,
                lr=cfg.lr,
                lr_min=cfg.lr_min,
                warmup_steps=cfg.lr_warmup_steps,
            ),
        )
        self.buffer = ReplayBuffer(
            cfg.buffer_capacity, self.n_particles * self.dim, device=self.device
        )
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed * 1000 + 17 + rank())
        self._init_counters()

    # ------------------------------------------------------------------ sampling

    def _control(self, use_ema: bool) -> torch.nn.Module:
        return self.ema if (use_ema and self.config.ema_decay > 0) else self.model

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        use_ema: bool = True,
        batch_size: int = 1024,
        n_steps: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``n`` configurations ``[n, n_particles*dim]`` from the learned SDE (no energy calls)."""
        if n < 1:
            raise ConfigError(f"number of samples must be >= 1, got {n}")
        control = self._control(use_ema)
        out = []
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            x = simulate(
                control,
                self.schedule,
                n_samples=m,
                n_particles=self.n_particles,
                dim=self.dim,
                n_steps=n_steps or self.config.n_steps,
                grid=self.config.time_grid,
                increment=self.config.increment,
                integrator=self.config.integrator,
                com_free=self.config.com_free,
                generator=generator or self.generator,
                device=self.device,
            )
            out.append(x)
        return torch.cat(out)

    @torch.no_grad()
    def sample_importance(
        self,
        n: int,
        *,
        n_proposals: int | None = None,
        use_ema: bool = True,
        batch_size: int = 1024,
        n_steps: int | None = None,
        min_effective: float = 100.0,
        generator: torch.Generator | None = None,
    ) -> ImportanceSamples:
        """``n`` configurations resampled from ``n_proposals`` (default ``4 n``) weighted
        proposals (OURS; the paper reports raw samples, :meth:`sample`).

        Each proposal is simulated with Euler-Maruyama and exact increments on the config's
        time grid (the integrator whose transition density is Gaussian, whatever
        ``config.integrator`` is), with its path log ratio
        (:func:`~lab.molecules.sde.simulate_with_log_ratio`); its log weight is
        ``-E(X_1)/tau + |X_1|^2 / (2 kappa(1)) + log_ratio``, and ``n`` proposals are drawn by
        systematic resampling (:func:`~lab.molecules.importance.importance_resample`). This
        corrects the mode weights a trained control gets wrong, at one energy evaluation (no
        gradient) per proposal. A proposal with infinite energy gets weight 0.

        Warns (``UserWarning``) when ``ess * n_proposals < min_effective``: the output is then
        made of few distinct proposals and its spread is unreliable.

        Raises:
            ConfigError: ``n`` or ``n_proposals`` below 1.
            DataError: a proposal's energy is NaN, or every proposal's energy is infinite.
        """
        n_prop = 4 * n if n_proposals is None else int(n_proposals)
        if n < 1 or n_prop < 1:
            raise ConfigError(f"need n >= 1 and n_proposals >= 1, got n={n}, n_proposals={n_prop}")
        control = self._control(use_ema)
        gen = generator or self.generator
        xs, lws = [], []
        for start in range(0, n_prop, batch_size):
            m = min(batch_size, n_prop - start)
            x, log_ratio = simulate_with_log_ratio(
                control,
                self.schedule,
                n_samples=m,
                n_particles=self.n_particles,
                dim=self.dim,
                n_steps=n_steps or self.config.n_steps,
                grid=self.config.time_grid,
                com_free=self.config.com_free,
                generator=gen,
                device=self.device,
            )
            e = self.energy(x).double()
            if bool(torch.isnan(e).any()):
                raise DataError("NaN energy on an importance-sampling proposal")
            base = x.double().pow(2).sum(-1) / (2 * self.schedule.kappa1)
            lw = torch.where(e == math.inf, -math.inf, -e / self.energy.tau + base + log_ratio)
            xs.append(x)
            lws.append(lw)
        proposals, log_w = torch.cat(xs), torch.cat(lws)
        ess = effective_sample_size(log_w)
        idx = importance_resample(log_w, n, generator=gen)
        if ess * n_prop < min_effective:
            warnings.warn(
                f"importance resampling: effective sample size {ess * n_prop:.1f} of "
                f"{n_prop} proposals is below min_effective={min_effective}; the {n} "
                f"resampled points repeat {int(idx.unique().numel())} distinct proposals",
                UserWarning,
                stacklevel=3,  # past torch.no_grad's wrapper, to the caller
            )
        return ImportanceSamples(
            samples=proposals[idx],
            proposals=proposals,
            log_weights=log_w,
            ess=ess,
            n_unique=int(idx.unique().numel()),
            energy_evals=n_prop,
        )

    # ------------------------------------------------------------------ training

    def export(self, path: str | Path, **provenance: Any) -> Path:
        """A small sampling-only checkpoint (weights, EMA, counters, config; no optimiser or
        buffer) that :meth:`from_checkpoint` loads; ``provenance`` (e.g. ``command=...``) is
        stored beside it in ``extra``."""
        return save_checkpoint(
            Path(path),
            model=self.model,
            step=self.epoch,
            extra={**self._extra(), "provenance": {k: str(v) for k, v in provenance.items()}},
        )

    def _scheduler_to_restore(self, path: str | Path) -> Any:
        """The scheduler to restore, or ``None`` for a checkpoint written before schedules
        existed (constant rate: only then is there nothing to restore)."""
        if self.config.lr_schedule == "constant" and not self.config.lr_warmup_steps:
            payload = torch.load(Path(path), map_location="cpu", weights_only=True)
            if isinstance(payload, dict) and payload.get("scheduler") is None:
                return None
        return self.lr_scheduler

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, energy: ParticleEnergy, *, device: torch.device | str | None = None
    ) -> AdjointSampler:
        """A sampler rebuilt from a checkpoint's stored configuration and weights."""
        payload = (
            torch.load(Path(path), map_location="cpu", weights_only=True)
            if Path(path).is_file()
            else None
        )
        if payload is None or "config" not in payload.get("extra", {}):
            raise DataError(f"{str(path)!r} is not an AdjointSampler checkpoint")
        config = config_from_dict(AdjointSamplingConfig, payload["extra"]["config"])
        sampler = cls(energy, config, device=device)
        sampler.load(path, restore_training_state=False)
        return sampler

    def _simulate_epoch(self) -> dict[str, float]:
        cfg = self.config
        n_local = math.ceil(cfg.samples_per_epoch / world_size())
        x1 = simulate(
            self.model,
            self.schedule,
            n_samples=n_local,
            n_particles=self.n_particles,
            dim=self.dim,
            n_steps=cfg.n_steps,
            grid=cfg.time_grid,
            increment=cfg.increment,
            integrator=cfg.integrator,
            com_free=cfg.com_free,
            generator=self.generator,
            device=self.device,
        )
        e, g = energy_and_grad(self.energy, x1)
        ok = check_finite(x1, e, g, skip=cfg.on_nonfinite == "skip")
        n_bad = int((~ok).sum())
        if n_bad:
            x1, e, g = x1[ok], e[ok], g[ok]
            self.nonfinite_skipped += n_bad * world_size()
        a, clipped = lean_adjoint(
            x1,
            g,
            tau=self.energy.tau,
            kappa1=self.schedule.kappa1,
            n_particles=self.n_particles,
            dim=self.dim,
            clip=cfg.adjoint_clip,
            com_free=cfg.com_free,
        )
        if x1.shape[0]:
            self.buffer.add(x1, a, e, duplicates=self.config.duplicates)
        self.energy_evals += n_local * world_size()
        return {
            "energy_mean": float(e.mean()) if e.numel() else math.nan,
            "clipped_fraction": float(clipped.float().mean()) if clipped.numel() else 0.0,
            "nonfinite": float(n_bad),
        }

    def _loss_batches(self, trainer: torch.nn.Module) -> Iterator[Tensor]:
        """One adjoint matching loss per batch (see ``AdjointSamplingConfig.buffer_sampling``)."""
        cfg = self.config
        batch_local = math.ceil(cfg.batch_size / world_size())
        if cfg.buffer_sampling == "epoch":
            batches: Iterable[tuple[Tensor, Tensor]] = self.buffer.epoch_batches(
                batch_local, generator=self.generator
            )
        else:
            batches = (
                self.buffer.sample(batch_local, generator=self.generator)
                for _ in range(cfg.grad_steps_per_epoch)
            )
        for x1, a in batches:
            yield adjoint_matching_loss(
                trainer,
                x1,
                a,
                self.schedule,
                n_particles=self.n_particles,
                dim=self.dim,
                com_free=cfg.com_free,
                generator=self.generator,
                t_sampling=cfg.t_sampling,
            )

    def _rank_state(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state_dict(), "generator": self.generator.get_state()}

    def _load_rank_state(self, state: dict[str, Any]) -> None:
        self.buffer.load_state_dict(state["buffer"])
        self.generator.set_state(state["generator"].cpu())
