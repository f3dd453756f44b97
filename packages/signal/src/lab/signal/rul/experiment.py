"""End-to-end RUL runs shared by the CLI, the demo and the benchmark.

:class:`RULExperimentConfig` nests every component's config (the CLI maps it onto flags such as
``--data.window 30`` or ``--train.epochs 50``). :func:`fit_rul_model` builds the chosen model and
trains it: for ``"mkdpinn"`` an optional meta-learning warm start over tasks cut from the
training engines (``meta_tasks``), then supervised training with validation-based selection.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from lab.core import (
    ConfigError,
    DataError,
    RunDir,
    atomic_save,
    get_device,
    load_checkpoint,
    save_checkpoint,
)

from .baselines import CNNRUL, LSTMRUL, CNNConfig, LSTMConfig, RidgeRUL
from .cmapss import CMAPSSConfig, CMAPSSSubset, RULData, load_cmapss, prepare_rul_data
from .meta import AdaptConfig, MetaConfig, meta_train, tasks_by_condition, tasks_by_units
from .model import MKDPINN, MKDPINNConfig
from .simulator import SimulatorConfig, simulate_turbofan
from .training import TrainConfig, train_rul

__all__ = [
    "MODEL_KINDS",
    "RULExperimentConfig",
    "build_model",
    "fit_rul_model",
    "load_model",
    "load_subset",
    "save_model",
]

MODEL_KINDS = ("mkdpinn", "mkdpinn_nophysics", "mkdpinn_nometa", "cnn", "lstm", "ridge")


@dataclass(frozen=True)
class RULExperimentConfig:
    """One RUL run.

    Attributes:
        subset: ``FD001``..``FD004``, or ``SIM`` for a simulated fleet (``simulator``).
        data_root: folder of the C-MAPSS files (default ``$LABWORKS_DATA/cmapss``).
        model: ``mkdpinn`` (meta warm start + physics), the ablations ``mkdpinn_nophysics``
            (physics_weight 0) and ``mkdpinn_nometa`` (no meta warm start), or a baseline
            ``cnn``, ``lstm``, ``ridge``.
        meta_tasks: how the training engines are cut into meta-learning tasks for the warm
            start: ``units`` (``n_meta_tasks`` disjoint engine groups), ``conditions`` (one task
            per operating condition) or ``none``. OURS: the code's tasks are minibatches.
        n_meta_tasks: engine groups for ``meta_tasks="units"``.
        ridge_alpha: L2 penalty of the ridge baseline.
        seed: seeds model initialisation.
        data, mkdpinn, cnn, lstm, train, meta, adapt, simulator: the components' configs
            (the models' ``n_features`` and ``window`` are always taken from the data).
    """

    subset: str = "FD001"
    data_root: Path | None = None
    model: Literal["mkdpinn", "mkdpinn_nophysics", "mkdpinn_nometa", "cnn", "lstm", "ridge"] = (
        "mkdpinn"
    )
    meta_tasks: Literal["units", "conditions", "none"] = "units"
    n_meta_tasks: int = 8
    ridge_alpha: float = 1.0
    seed: int = 0
    data: CMAPSSConfig = field(default_factory=CMAPSSConfig)
    mkdpinn: MKDPINNConfig = field(default_factory=MKDPINNConfig)
    cnn: CNNConfig = field(default_factory=CNNConfig)
    lstm: LSTMConfig = field(default_factory=LSTMConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    meta: MetaConfig = field(default_factory=lambda: MetaConfig(outer_steps=100))
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)

    def __post_init__(self) -> None:
        if self.subset not in ("FD001", "FD002", "FD003", "FD004", "SIM"):
            raise ConfigError(f"subset must be FD001..FD004 or SIM, got {self.subset!r}")
        if self.n_meta_tasks < 1:
            raise ConfigError(f"n_meta_tasks must be >= 1, got {self.n_meta_tasks}")


def load_subset(cfg: RULExperimentConfig, subset: str | None = None) -> CMAPSSSubset:
    """The subset named by ``cfg`` (or ``subset``): C-MAPSS files or a simulated fleet."""
    name = subset or cfg.subset
    if name == "SIM":
        return simulate_turbofan(cfg.simulator, seed=cfg.seed)
    return load_cmapss(name, cfg.data_root)


def build_model(cfg: RULExperimentConfig, n_features: int) -> nn.Module | RidgeRUL:
    """A fresh model of kind ``cfg.model`` sized for ``n_features`` sensors and the window."""
    w = cfg.data.window
    if cfg.model == "ridge":
        return RidgeRUL(cfg.ridge_alpha)
    torch.manual_seed(cfg.seed)
    if cfg.model.startswith("mkdpinn"):
        mc = replace(
            cfg.mkdpinn,
            n_features=n_features,
            window=w,
            time_scale=cfg.data.time_scale,
            rul_cap=cfg.data.rul_cap,
        )
        if cfg.model == "mkdpinn_nophysics":
            mc = replace(mc, physics_weight=0.0)
        return MKDPINN(mc)
    if cfg.model == "cnn":
        return CNNRUL(replace(cfg.cnn, n_features=n_features, window=w))
    if cfg.model == "lstm":
        return LSTMRUL(replace(cfg.lstm, n_features=n_features))
    raise ConfigError(f"unknown model kind {cfg.model!r} (known: {list(MODEL_KINDS)})")


def _uses_meta(cfg: RULExperimentConfig) -> bool:
    return (
        cfg.model in ("mkdpinn", "mkdpinn_nophysics")
        and cfg.meta_tasks != "none"
        and cfg.meta.outer_steps > 0
    )


def fit_rul_model(
    cfg: RULExperimentConfig,
    data: RULData,
    *,
    device: str | torch.device | None = None,
    run_dir: RunDir | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> tuple[nn.Module | RidgeRUL, dict[str, Any]]:
    """Build and train the configured model on ``data``; returns (model, info).

    With a run directory the meta phase checkpoints into ``<run>/meta`` and the supervised phase
    into ``<run>/checkpoints``; ``resume=True`` continues whichever phase was interrupted.
    """
    dev = get_device(device)
    model = build_model(cfg, data.n_features)
    info: dict[str, Any] = {"model": cfg.model}
    if isinstance(model, RidgeRUL):
        model.fit(data.train)
        return model, info
    model.to(dev)
    if _uses_meta(cfg):
        if cfg.meta_tasks == "units":
            n = min(cfg.n_meta_tasks, len(data.train.units))
            tasks = tasks_by_units(data.train, n, seed=cfg.seed)
        else:
            tasks = tasks_by_condition(data.train)
        meta_dir = None
        if run_dir is not None:
            (Path(run_dir.path) / "meta").mkdir(exist_ok=True)
            meta_dir = RunDir.open(Path(run_dir.path) / "meta")
        done = meta_dir.path / "meta_final.pt" if meta_dir is not None else None
        if resume and done is not None and done.is_file():
            load_checkpoint(done, model=model, map_location=dev, restore_rng=False)
        else:
            meta_resume = (
                resume and meta_dir is not None and meta_dir.latest_checkpoint() is not None
            )
            res = meta_train(
                model,
                tasks,
                cfg.meta,
                val=data.val,
                device=dev,
                run_dir=meta_dir,
                resume=meta_resume,
                show_progress=show_progress,
            )
            info["meta_best_val_rmse"] = res.best_val_rmse
            if done is not None:
                save_checkpoint(done, model=model, step=cfg.meta.outer_steps)
        resume = resume and run_dir is not None and run_dir.latest_checkpoint() is not None
    res_t = train_rul(
        model,
        data,
        cfg.train,
        device=dev,
        run_dir=run_dir,
        resume=resume,
        show_progress=show_progress,
    )
    info.update(
        best_val_rmse=res_t.best_val_rmse,
        best_epoch=res_t.best_epoch,
        epochs_run=len(res_t.history),
    )
    return model, info


def save_model(
    path: str | Path, model: nn.Module | RidgeRUL, cfg: RULExperimentConfig, n_features: int
) -> Path:
    """Write the trained model (weights or ridge coefficients) with what rebuilds it."""
    if isinstance(model, RidgeRUL):
        if model.coef_ is None:
            raise DataError("cannot save an unfitted ridge model")
        payload: dict[str, Any] = {
            "kind": "ridge",
            "coef": torch.from_numpy(model.coef_),
            "intercept": model.intercept_,
            "n_features": n_features,
        }
    else:
        payload = {"kind": cfg.model, "state": model.state_dict(), "n_features": n_features}
    return atomic_save(payload, path)


def load_model(
    path: str | Path, cfg: RULExperimentConfig, *, device: str | torch.device | None = None
) -> nn.Module | RidgeRUL:
    """Rebuild the model that :func:`save_model` wrote for ``cfg``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"model file {str(path)!r} does not exist")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(cfg, int(payload["n_features"]))
    if isinstance(model, RidgeRUL):
        model.coef_ = payload["coef"].numpy()
        model.intercept_ = float(payload["intercept"])
        return model
    model.load_state_dict(payload["state"])
    return model.to(get_device(device))


def few_shot_data(
    cfg: RULExperimentConfig, subset: CMAPSSSubset, k: int, *, seed: int = 0
) -> RULData:
    """Target-domain data from ``k`` random training engines of ``subset`` (scaler fitted on
    them only, no validation split); the test windows are the subset's test engines."""
    units = np.unique(subset.train[:, 0]).astype(np.int64)
    if not 1 <= k <= len(units):
        raise ConfigError(f"k must be in 1..{len(units)} engines, got {k}")
    chosen = np.random.default_rng(seed).choice(units, size=k, replace=False)
    return prepare_rul_data(subset, replace(cfg.data, val_fraction=0.0), train_units=chosen)
