"""Few-shot adaptation to a new target domain, with the controls that a claim needs.

The paper's meta-learning claim is that a Reptile initialisation learned on source domains adapts
to a new domain from a few engines. Beating a random start is not enough to show that: the
un-adapted meta model and plain (non-meta) pretraining on the same source data may do as well.
:func:`few_shot_experiment` therefore runs, on the same draws of target engines and the same
seeds, five arms:

- ``scratch``: a random initialisation adapted on the k support engines;
- ``meta_zero``: the meta-trained model, not adapted (zero-shot);
- ``meta_adapt``: the meta-trained model adapted on the support engines;
- ``plain_zero``: a model pretrained by ordinary minibatch training on the pooled source tasks,
  not adapted;
- ``plain_adapt``: that pretrained model adapted like ``meta_adapt``.

The three starting points of one seed share the same random initialisation; meta-training and
plain pretraining take the same number of gradient steps of the same batch size and learning
rate (``plain_steps=None``: ``outer_steps * meta_batch_size * inner_steps``). The number of
adaptation steps of each adapted arm is chosen per draw from ``step_grid`` by the RMSE on
``n_val_engines`` held-out engines of the target's training set (never the test engines);
``0`` is in the grid, so "do not adapt" can win (ties go to fewer steps). Every draw also
records the test error at every grid point, so the selection can be audited.

The target scaler is fitted on the k support engines only, for every arm: the zero-shot arms
also use those engines' sensor statistics (not their labels). Test = the last window of each
target test engine, RMSE and PHM08 score. The paired differences of the main comparisons are
over (draw, seed) pairs; draws share their seed's pretrained models and seeds share their
draw's engines, so the pairs are not fully independent and the t test is a guide, not exact.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lab.core import ConfigError, DataError, atomic_save, get_device

from .cmapss import CMAPSSConfig, CMAPSSSubset, RULData, WindowSet, prepare_rul_data
from .meta import AdaptConfig, MetaConfig, adapt, meta_train
from .metrics import phm08_score, rmse
from .model import MKDPINN, MKDPINNConfig
from .stats import paired_difference
from .training import predict_rul

__all__ = [
    "FEWSHOT_ARMS",
    "FEWSHOT_COMPARISONS",
    "FewShotConfig",
    "FewShotResult",
    "few_shot_experiment",
    "few_shot_split",
]

log = logging.getLogger("lab.signal")

#: The arms of :func:`few_shot_experiment`, in report order.
FEWSHOT_ARMS = ("scratch", "meta_zero", "meta_adapt", "plain_zero", "plain_adapt")
#: Paired comparisons ``(a, b)`` reported as ``a - b`` (negative favours ``a``).
FEWSHOT_COMPARISONS = (
    ("meta_adapt", "meta_zero"),
    ("meta_adapt", "plain_adapt"),
    ("meta_adapt", "scratch"),
    ("meta_zero", "plain_zero"),
    ("plain_adapt", "plain_zero"),
)


def _cpu_model() -> MKDPINNConfig:
    return MKDPINNConfig(hidden_dim=32, d_model=32, n_heads=4, ff_dim=64, n_layers=1, pgr_width=32)


def _cpu_meta() -> MetaConfig:
    return MetaConfig(
        outer_steps=100, meta_batch_size=4, inner_steps=8, inner_lr=2e-3, outer_lr=0.3, eval_every=0
    )


@dataclass(frozen=True)
class FewShotConfig:
    """The few-shot experiment (defaults are CPU-sized, the benchmark's).

    Attributes:
        k: support engines of the target domain per draw.
        n_val_engines: further target training engines per draw, held out to choose the number
            of adaptation steps (never used for fitting or scaling).
        draws: seeds of the draws of the ``k + n_val_engines`` target engines.
        seeds: seeds of initialisation, meta-training, pretraining and adaptation batches.
        step_grid: candidate numbers of adaptation steps; must contain 0.
        adapt_lr, adapt_batch_size: Adam learning rate and windows per adaptation step.
        plain_steps: steps of plain pretraining (None: the meta-training's total inner steps).
        plain_lr, plain_batch_size: plain pretraining's Adam learning rate and batch (None: the
            meta inner loop's).
        data: preprocessing of the target (window, sensors, caps; the source tasks must have been
            prepared with the same window and sensors).
        model: MKDPINN sizes (``n_features``, ``window``, ``time_scale`` and ``rul_cap`` are taken
            from ``data``).
        meta: meta-training (its ``seed`` is replaced by each seed; validation is off).
    """

    k: int = 5
    n_val_engines: int = 1
    draws: tuple[int, ...] = (0, 1, 2)
    seeds: tuple[int, ...] = (0, 1, 2)
    step_grid: tuple[int, ...] = (0, 5, 10, 20, 40, 60)
    adapt_lr: float = 2e-3
    adapt_batch_size: int = 64
    plain_steps: int | None = None
    plain_lr: float | None = None
    plain_batch_size: int | None = None
    data: CMAPSSConfig = field(default_factory=lambda: CMAPSSConfig(window=30))
    model: MKDPINNConfig = field(default_factory=_cpu_model)
    meta: MetaConfig = field(default_factory=_cpu_meta)

    def __post_init__(self) -> None:
        if self.k < 1 or self.n_val_engines < 1:
            raise ConfigError(
                f"k and n_val_engines must be >= 1, got {self.k}, {self.n_val_engines}"
            )
        if not self.draws or not self.seeds:
            raise ConfigError("draws and seeds must be non-empty")
        if len(set(self.draws)) != len(self.draws) or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"draws and seeds must be distinct: {self.draws}, {self.seeds}")
        grid = self.step_grid
        if 0 not in grid or any(s < 0 for s in grid) or list(grid) != sorted(set(grid)):
            raise ConfigError(
                f"step_grid must be increasing, distinct, >= 0 and contain 0, got {grid}"
            )
        if self.adapt_lr <= 0 or self.adapt_batch_size < 1:
            raise ConfigError(f"adapt_lr > 0 and adapt_batch_size >= 1 needed: {self}")
        if self.plain_steps is not None and self.plain_steps < 0:
            raise ConfigError(f"plain_steps must be >= 0, got {self.plain_steps}")
        if self.plain_lr is not None and self.plain_lr <= 0:
            raise ConfigError(f"plain_lr must be > 0, got {self.plain_lr}")
        if self.plain_batch_size is not None and self.plain_batch_size < 1:
            raise ConfigError(f"plain_batch_size must be >= 1, got {self.plain_batch_size}")

    @property
    def model_config(self) -> MKDPINNConfig:
        """``model`` sized for ``data``."""
        return replace(
            self.model,
            n_features=len(self.data.sensors),
            window=self.data.window,
            time_scale=self.data.time_scale,
            rul_cap=self.data.rul_cap,
        )

    @property
    def pretrain_steps(self) -> int:
        """Plain pretraining steps (equal compute to meta-training when ``plain_steps=None``)."""
        if self.plain_steps is not None:
            return self.plain_steps
        m = self.meta
        return m.outer_steps * m.meta_batch_size * m.inner_steps


def few_shot_split(
    subset: CMAPSSSubset, data: CMAPSSConfig, k: int, n_val: int, *, seed: int
) -> RULData:
    """Draw ``k + n_val`` training engines of ``subset`` with ``seed``; ``n_val`` of them (at
    random) become ``val``, the other ``k`` ``train``; the scaler is fitted on the ``k`` only.
    ``test`` is the subset's test set (last window per engine)."""
    units = np.unique(subset.train[:, 0]).astype(np.int64)
    if k + n_val > len(units):
        raise ConfigError(
            f"{subset.name} has {len(units)} training engines; k + n_val = {k + n_val} asked"
        )
    pool = np.random.default_rng(seed).choice(units, size=k + n_val, replace=False)
    cfg = replace(data, val_fraction=n_val / (k + n_val), split_seed=seed)
    out = prepare_rul_data(subset, cfg, train_units=pool)
    if len(out.val.units) != n_val or len(out.train.units) != k:
        raise DataError(
            f"{subset.name}: split gave {len(out.train.units)} support / {len(out.val.units)} "
            f"held-out engines, expected {k} / {n_val} (are some engines shorter than the window?)"
        )
    return out


@dataclass
class FewShotResult:
    """Per (seed, draw) rows and their summary.

    Each row holds ``seed``, ``draw``, ``support_units``, ``val_units`` and, per arm, ``rmse``,
    ``score`` and (adapted arms) ``steps`` (the chosen number) and ``curve`` (per grid step:
    held-out ``val_rmse``, ``test_rmse``, ``test_score``).
    """

    config: FewShotConfig
    rows: list[dict[str, Any]] = field(default_factory=list)
    pretrain_seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Mean (and SE over rows) RMSE and score per arm, chosen-step counts, paired tests."""
        if not self.rows:
            raise DataError("no few-shot rows to summarise")
        arms: dict[str, Any] = {}
        n = len(self.rows)
        for arm in FEWSHOT_ARMS:
            entry: dict[str, Any] = {}
            for metric in ("rmse", "score"):
                v = np.array([r[arm][metric] for r in self.rows], dtype=np.float64)
                entry[metric] = float(v.mean())
                entry[f"{metric}_se"] = float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
            if "steps" in self.rows[0][arm]:
                steps = [int(r[arm]["steps"]) for r in self.rows]
                entry["chosen_steps"] = {str(s): steps.count(s) for s in sorted(set(steps))}
            arms[arm] = entry
        paired = {}
        for a, b in FEWSHOT_COMPARISONS:
            paired[f"{a}-{b}"] = {
                metric: paired_difference(
                    [r[a][metric] for r in self.rows], [r[b][metric] for r in self.rows]
                )
                for metric in ("rmse", "score")
            }
        return {"n_pairs": n, "arms": arms, "paired": paired}


def _evaluate(model: nn.Module, ws: WindowSet, dev: torch.device) -> tuple[float, float]:
    pred = predict_rul(model, ws, device=dev)
    return rmse(pred, ws.y), phm08_score(pred, ws.y)


def _adapt_curve(
    start: nn.Module,
    data: RULData,
    grid: Sequence[int],
    acfg: AdaptConfig,
    dev: torch.device,
) -> dict[str, Any]:
    """Adapt ``start`` for ``max(grid)`` steps; at each grid step score the held-out engines and
    the test set; choose the step with the lowest held-out RMSE (fewest steps on ties)."""
    curve: dict[str, dict[str, float]] = {}
    marks = set(grid)

    def record(step: int, model: nn.Module) -> None:
        if step in marks:
            v, _ = _evaluate(model, data.val, dev)
            tr, ts = _evaluate(model, data.test, dev)
            curve[str(step)] = {"val_rmse": v, "test_rmse": tr, "test_score": ts}

    adapt(
        start,
        data.train,
        replace(acfg, steps=max(grid)),
        device=dev,
        callback=record,
        show_progress=False,
    )
    best = min(grid, key=lambda s: (curve[str(s)]["val_rmse"], s))
    chosen = curve[str(best)]
    return {
        "steps": best,
        "rmse": chosen["test_rmse"],
        "score": chosen["test_score"],
        "curve": curve,
    }


def _pool(tasks: Sequence[WindowSet]) -> WindowSet:
    return WindowSet.concat(list(tasks))


def _pretrained(
    kind: str,
    init: nn.Module,
    sources: Sequence[WindowSet],
    cfg: FewShotConfig,
    seed: int,
    dev: torch.device,
    cache: Path | None,
    show_progress: bool | None,
) -> nn.Module:
    """The meta-trained (``kind="meta"``) or plainly pretrained (``"plain"``) copy of ``init``;
    loaded from ``cache/<kind>_seed<seed>.pt`` when present, else trained and saved there."""
    path = cache / f"{kind}_seed{seed}.pt" if cache is not None else None
    model = copy.deepcopy(init)
    if path is not None and path.is_file():
        model.load_state_dict(torch.load(path, map_location=dev, weights_only=True))
        return model
    torch.manual_seed(seed)
    if kind == "meta":
        meta_train(
            model,
            sources,
            replace(cfg.meta, seed=seed, eval_every=0),
            device=dev,
            show_progress=show_progress,
        )
    else:
        m = cfg.meta
        model = adapt(
            model,
            _pool(sources),
            AdaptConfig(
                steps=cfg.pretrain_steps,
                batch_size=cfg.plain_batch_size or m.inner_batch_size,
                lr=cfg.plain_lr or m.inner_lr,
                seed=seed,
            ),
            device=dev,
            show_progress=show_progress,
        )
    if path is not None:
        atomic_save(model.state_dict(), path)
    return model


def few_shot_experiment(
    sources: Sequence[WindowSet],
    target: CMAPSSSubset,
    config: FewShotConfig | None = None,
    *,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
    done_rows: Sequence[dict[str, Any]] = (),
    on_row: Callable[[dict[str, Any]], None] | None = None,
    show_progress: bool | None = None,
) -> FewShotResult:
    """Run the five arms (module docstring) for every seed and draw.

    Args:
        sources: source-domain tasks (e.g. one per operating condition of each source subset),
            prepared with ``config.data``'s window and sensors.
        target: the held-out domain (C-MAPSS format; e.g. FD003 or a simulated fleet).
        config: the experiment; default :class:`FewShotConfig`.
        device: where to train.
        cache_dir: keeps each seed's meta-trained and plainly pretrained weights; a rerun (after
            an interruption) reuses them.
        done_rows: rows of an interrupted run to keep (matched by seed and draw), not re-run.
        on_row: called with each new row (e.g. to write partial results).
    """
    cfg = config or FewShotConfig()
    dev = get_device(device)
    sources = list(sources)
    if not sources:
        raise DataError("few_shot_experiment needs at least one source task")
    w, nf = cfg.data.window, len(cfg.data.sensors)
    for i, task in enumerate(sources):
        if len(task) == 0 or task.x.shape[1:] != (w, nf):
            raise DataError(
                f"source task {i} has windows of shape {task.x.shape[1:]} (n={len(task)}), "
                f"expected ({w}, {nf}) from config.data"
            )
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    result = FewShotResult(cfg)
    done = {(int(r["seed"]), int(r["draw"])): r for r in done_rows}
    splits = {
        d: few_shot_split(target, cfg.data, cfg.k, cfg.n_val_engines, seed=d) for d in cfg.draws
    }
    grid = cfg.step_grid
    for seed in cfg.seeds:
        if all((seed, d) in done for d in cfg.draws):
            result.rows += [done[(seed, d)] for d in cfg.draws]
            continue
        torch.manual_seed(seed)
        init = MKDPINN(cfg.model_config).to(dev)
        starts: dict[str, nn.Module] = {"scratch": init}
        for kind in ("meta", "plain"):
            t0 = time.perf_counter()
            starts[kind] = _pretrained(kind, init, sources, cfg, seed, dev, cache, show_progress)
            result.pretrain_seconds[f"{kind}_seed{seed}"] = time.perf_counter() - t0
        for d in cfg.draws:
            if (seed, d) in done:
                result.rows.append(done[(seed, d)])
                continue
            data = splits[d]
            row: dict[str, Any] = {
                "seed": seed,
                "draw": d,
                "support_units": data.train.units.tolist(),
                "val_units": data.val.units.tolist(),
            }
            for kind in ("scratch", "meta", "plain"):
                torch.manual_seed(seed * 1000 + d)
                acfg = AdaptConfig(
                    steps=max(grid),
                    batch_size=cfg.adapt_batch_size,
                    lr=cfg.adapt_lr,
                    seed=seed * 1000 + d,
                )
                res = _adapt_curve(starts[kind], data, grid, acfg, dev)
                zero = res["curve"]["0"]
                if kind == "scratch":
                    row["scratch"] = res
                else:
                    row[f"{kind}_adapt"] = res
                    row[f"{kind}_zero"] = {"rmse": zero["test_rmse"], "score": zero["test_score"]}
            log.info(
                "few-shot seed %d draw %d: %s",
                seed,
                d,
                ", ".join(f"{a} {row[a]['rmse']:.2f}" for a in FEWSHOT_ARMS),
            )
            result.rows.append(row)
            if on_row is not None:
                on_row(row)
    return result
