"""``lab signal rul``: train, evaluate and few-shot adapt RUL models.

The domain CLI hooks this in with :func:`register`::

    lab signal rul train    [--subset FD001|...|SIM] [--model mkdpinn|...] [--out runs] [flags]
    lab signal rul train    --resume runs/rul/<stamp>
    lab signal rul evaluate --run runs/rul/<stamp>
    lab signal rul adapt    --run runs/rul/<stamp> --target FD003 --k 5

Every field of :class:`~lab.signal.rul.experiment.RULExperimentConfig` is a flag (nested ones as
``--data.window 30``, ``--train.epochs 50``, ``--meta.algorithm fomaml``); ``--config FILE``
reads a JSON/YAML file first.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from lab.core import (
    DataError,
    RunDir,
    add_config_arguments,
    config_from_args,
    config_from_dict,
    get_device,
    set_seed,
)

from .cmapss import prepare_rul_data
from .experiment import (
    RULExperimentConfig,
    few_shot_data,
    fit_rul_model,
    load_model,
    load_subset,
    save_model,
)
from .meta import adapt
from .training import evaluate_rul, predict_rul

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``rul`` (with ``train``, ``evaluate`` and ``adapt``) to the domain CLI's subparsers."""
    rul = subparsers.add_parser("rul", help="remaining useful life (MKDPINN, C-MAPSS, baselines)")
    cmds = rul.add_subparsers(dest="rul_command", metavar="COMMAND", required=True)
    tr = cmds.add_parser("train", help="train a model; writes a run folder with checkpoints")
    add_config_arguments(tr, RULExperimentConfig)
    tr.add_argument("--out", type=Path, default=Path("runs"), help="runs root (default: runs)")
    tr.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN",
        help="continue an interrupted run folder (its config.json is used)",
    )
    tr.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    tr.set_defaults(func=_train)
    ev = cmds.add_parser("evaluate", help="RMSE and PHM08 score of a trained run on the test set")
    ev.add_argument("--run", type=Path, required=True, help="run folder written by train")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--plot", action="store_true", help="also write predicted-vs-true plots")
    ev.set_defaults(func=_evaluate)
    ad = cmds.add_parser("adapt", help="few-shot adaptation of a trained run to a target subset")
    ad.add_argument("--run", type=Path, required=True, help="run folder written by train")
    ad.add_argument("--target", required=True, help="FD001..FD004 or SIM")
    ad.add_argument("--k", type=int, default=5, help="target engines to adapt on (default 5)")
    ad.add_argument("--steps", type=int, default=None, help="adaptation steps (default: config)")
    ad.add_argument("--seed", type=int, default=0, help="seed of the engine choice")
    ad.add_argument("--device", default="auto")
    ad.set_defaults(func=_adapt)


def _load_run(path: Path) -> tuple[RunDir, RULExperimentConfig]:
    run = RunDir.open(path)
    return run, config_from_dict(RULExperimentConfig, run.load_config_dict())


def _train(args: argparse.Namespace) -> int:
    device = get_device(args.device)
    if args.resume is not None:
        run, cfg = _load_run(args.resume)
    else:
        cfg = config_from_args(RULExperimentConfig, args)
    set_seed(cfg.seed)
    subset = load_subset(cfg)
    data = prepare_rul_data(subset, cfg.data)
    resume = args.resume is not None
    if not resume:  # the run folder only once device, config and data are valid
        run = RunDir.create("rul", root=args.out, config=cfg)
    print(f"run folder: {run.path}")
    print(
        f"{data.name}: {len(data.train)} train / {len(data.val)} val windows, "
        f"{len(data.test)} test engines, {len(data.scaler.conditions)} condition(s)"
    )
    model, info = fit_rul_model(cfg, data, device=device, run_dir=run, resume=resume)
    save_model(run.path / "model.pt", model, cfg, data.n_features)
    test = evaluate_rul(model, data.test, device=device)
    summary = {
        **info,
        "test_rmse": test["rmse"],
        "test_score": test["score"],
        "test_engines": int(test["n"]),
        "cap_test_labels": cfg.data.cap_test_labels,
    }
    (run.path / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    print(json.dumps(summary, indent=2, default=float))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    run, cfg = _load_run(args.run)
    device = get_device(args.device)
    data = prepare_rul_data(load_subset(cfg), cfg.data)
    model = load_model(run.path / "model.pt", cfg, device=device)
    out: dict[str, object] = {"test": evaluate_rul(model, data.test, device=device)}
    if len(data.val):
        out["val"] = evaluate_rul(model, data.val, device=device)
    if args.plot:
        from .plots import plot_engine_rul, plot_test_rul

        pred = predict_rul(model, data.test, device=device)
        plot_test_rul(run.plot_path("test_rul"), data.test.y, {cfg.model: pred})
        units = data.test_all.units[:3].tolist()
        full = predict_rul(model, data.test_all, device=device)
        plot_engine_rul(run.plot_path("engine_rul"), data.test_all, {cfg.model: full}, units)
        out["plots"] = [str(run.plot_path("test_rul")), str(run.plot_path("engine_rul"))]
    print(json.dumps(out, indent=2))
    return 0


def _adapt(args: argparse.Namespace) -> int:
    run, cfg = _load_run(args.run)
    device = get_device(args.device)
    model = load_model(run.path / "model.pt", cfg, device=device)
    if not hasattr(model, "loss"):
        raise DataError(f"model kind {cfg.model!r} cannot be adapted (it has no training loss)")
    target = load_subset(cfg, args.target)
    data = few_shot_data(cfg, target, args.k, seed=args.seed)
    acfg = cfg.adapt if args.steps is None else replace(cfg.adapt, steps=args.steps)
    before = evaluate_rul(model, data.test, device=device)
    adapted = adapt(model, data.train, acfg, device=device)  # type: ignore[arg-type]
    after = evaluate_rul(adapted, data.test, device=device)
    out = {"target": args.target, "k": args.k, "zero_shot": before, "adapted": after}
    print(json.dumps(out, indent=2))
    return 0
