"""``lab demo`` entry for labworks-signal: a short MKDPINN run against ridge regression.

On real C-MAPSS FD001 when ``$LABWORKS_DATA/cmapss`` exists, else on a simulated fleet. The
model is CPU-sized (small encoder, a few hundred steps), so the numbers are a smoke-level
measurement, not the paper's; the benchmark (tools/bench/signal_rul.py) runs the real sizes.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch

from lab.core import set_seed
from lab.core.report import DemoResult, demo_size

from .cmapss import CMAPSSConfig, load_cmapss, prepare_rul_data
from .experiment import RULExperimentConfig, fit_rul_model
from .meta import MetaConfig
from .model import MKDPINNConfig
from .plots import plot_engine_rul, plot_test_rul
from .simulator import SimulatorConfig, simulate_turbofan
from .training import TrainConfig, evaluate_rul, predict_rul

__all__ = ["demo", "demo_config"]


def demo_config(seed: int = 0) -> RULExperimentConfig:
    """The demo's CPU-sized MKDPINN configuration (the benchmark's CPU sizes, fewer steps)."""
    return RULExperimentConfig(
        seed=seed,
        data=CMAPSSConfig(window=30),
        mkdpinn=MKDPINNConfig(
            hidden_dim=32, d_model=32, n_heads=4, ff_dim=64, n_layers=1, pgr_width=32
        ),
        train=TrainConfig(
            epochs=12,
            batch_size=256,
            lr=2e-3,
            lr_schedule="cosine",
            patience=0,
            max_steps_per_epoch=30,
            seed=seed,
        ),
        meta=MetaConfig(
            outer_steps=10,
            meta_batch_size=3,
            inner_steps=4,
            inner_lr=2e-3,
            outer_lr=0.3,
            eval_every=0,
            seed=seed,
        ),
        n_meta_tasks=4,
        ridge_alpha=10.0,
    )


def demo(out_dir: Path, *, device: torch.device, seed: int) -> DemoResult:
    """Train a small MKDPINN and ridge; plot predicted vs true RUL; return RMSE / PHM08 score."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    set_seed(seed)
    root = Path(os.environ.get("LABWORKS_DATA", "")) / "cmapss"
    if os.environ.get("LABWORKS_DATA") and root.is_dir():
        subset = load_cmapss("FD001", root)
    else:
        subset = simulate_turbofan(SimulatorConfig(n_train_units=40, n_test_units=20), seed=seed)
    cfg = demo_config(seed)
    if demo_size() == "tiny":  # `lab demo --size tiny`: a seconds-long smoke run
        cfg = replace(
            cfg,
            train=replace(cfg.train, epochs=1, max_steps_per_epoch=5),
            meta=replace(cfg.meta, outer_steps=1, inner_steps=1),
        )
    data = prepare_rul_data(subset, cfg.data)
    mk, info = fit_rul_model(cfg, data, device=device, show_progress=False)
    ridge, _ = fit_rul_model(replace(cfg, model="ridge"), data, device=device)
    res_mk = evaluate_rul(mk, data.test, device=device)
    res_rd = evaluate_rul(ridge, data.test, device=device)
    preds = {
        "MKDPINN": predict_rul(mk, data.test, device=device),
        "ridge": predict_rul(ridge, data.test, device=device),
    }
    p1 = plot_test_rul(
        out_dir / "test_rul.png",
        data.test.y,
        preds,
        title=f"{data.name}: last-window test predictions",
    )
    units = data.test_all.units
    longest = sorted(units.tolist(), key=lambda u: -int((data.test_all.unit == u).sum()))[:3]
    full = {
        "MKDPINN": predict_rul(mk, data.test_all, device=device),
        "ridge": predict_rul(ridge, data.test_all, device=device),
    }
    p2 = plot_engine_rul(
        out_dir / "engine_rul.png",
        data.test_all,
        full,
        sorted(longest),
        title=f"{data.name}: RUL over the recorded life of test engines",
    )
    metrics = {
        "data": data.name,
        "test_engines": len(data.test),
        "mkdpinn_rmse": res_mk["rmse"],
        "mkdpinn_score": res_mk["score"],
        "ridge_rmse": res_rd["rmse"],
        "ridge_score": res_rd["score"],
        "rmse_ratio_mkdpinn_over_ridge": res_mk["rmse"] / res_rd["rmse"],
        "val_rmse_mkdpinn": info["best_val_rmse"],
    }
    summary = (
        f"MKDPINN (CPU demo size: hidden 16, {cfg.train.epochs} short epochs after "
        f"{cfg.meta.outer_steps} Reptile steps) vs ridge regression on windows of "
        f"{cfg.data.window} cycles, {data.name}; test labels capped at {cfg.data.rul_cap:g}, "
        "scored on the last window per engine. The paper's FD001 RMSE is 12.36 (full training)."
    )
    return DemoResult("MKDPINN remaining useful life", metrics, (p1, p2), summary)
