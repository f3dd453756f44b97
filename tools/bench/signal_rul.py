"""Benchmark: MKDPINN against its baselines and ablations on C-MAPSS, plus a few-shot experiment.

In one run, per subset: MKDPINN (Reptile warm start + physics), the ablations without physics and
without meta-learning, ridge regression on windows, a 1-D CNN and an LSTM. All share the same
preprocessing, the same unit-level validation split (model selection) and the same test protocol
(last window per engine, RMSE and PHM08 score; test labels capped at 125 as the official code).
The named baseline for the headline ratio is ridge regression (``rmse_ratio_vs_ridge``).

Few-shot (``--fewshot``): meta-train MKDPINN on the source subsets (tasks: one per operating
condition of each source subset), adapt it with k engines of the held-out target subset, and
compare with the same model adapted from a random start on the same engines (same steps).

    python tools/bench/signal_rul.py                         # CPU sizes, FD001..FD004
    python tools/bench/signal_rul.py --subsets FD001 --fewshot
    python tools/bench/signal_rul.py --paper --device cuda   # paper-sized models, long training

Needs the C-MAPSS files in ``$LABWORKS_DATA/cmapss`` (or ``--data-root``). Writes
``runs/bench/signal_rul.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from lab.core import get_device, set_seed
from lab.signal.rul import (
    MKDPINN,
    AdaptConfig,
    CMAPSSConfig,
    MetaConfig,
    MKDPINNConfig,
    TrainConfig,
    adapt,
    evaluate_rul,
    load_cmapss,
    meta_train,
    prepare_rul_data,
    tasks_by_condition,
)
from lab.signal.rul.baselines import CNNConfig, LSTMConfig
from lab.signal.rul.experiment import RULExperimentConfig, few_shot_data, fit_rul_model

#: Official checkpoints' test RMSE / score (paper's MKDPINN) and ridge references (notes).
PAPER = {
    "FD001": (12.36, 273.19),
    "FD002": (13.86, 1037.75),
    "FD003": (11.01, 221.24),
    "FD004": (13.60, 956.42),
}
MODELS = ("mkdpinn", "mkdpinn_nophysics", "mkdpinn_nometa", "ridge", "cnn", "lstm")


def cpu_config(seed: int) -> RULExperimentConfig:
    """CPU-sized: a narrower encoder, capped epochs; otherwise the paper's recipe."""
    return RULExperimentConfig(
        seed=seed,
        data=CMAPSSConfig(window=30),
        mkdpinn=MKDPINNConfig(
            hidden_dim=32, d_model=32, n_heads=4, ff_dim=64, n_layers=1, pgr_width=32
        ),
        cnn=CNNConfig(),
        lstm=LSTMConfig(hidden=32, n_layers=1),
        train=TrainConfig(
            epochs=15,
            batch_size=256,
            lr=2e-3,
            lr_schedule="cosine",
            patience=0,
            seed=seed,
            max_steps_per_epoch=40,
        ),
        meta=MetaConfig(
            outer_steps=40,
            meta_batch_size=4,
            inner_steps=8,
            inner_lr=2e-3,
            outer_lr=0.3,
            eval_every=0,
            seed=seed,
        ),
        n_meta_tasks=8,
        ridge_alpha=10.0,
    )


def paper_config(seed: int) -> RULExperimentConfig:
    """Paper-sized (GPU): window 15, hidden 64, long training with patience."""
    return RULExperimentConfig(
        seed=seed,
        data=CMAPSSConfig(window=15),
        mkdpinn=MKDPINNConfig(),
        train=TrainConfig(epochs=200, batch_size=256, lr=1e-3, patience=30, seed=seed),
        meta=MetaConfig(outer_steps=500, eval_every=50, seed=seed),
        ridge_alpha=10.0,
    )


def run_subset(
    name: str, base: RULExperimentConfig, root: Path, device: torch.device, models: list[str]
) -> dict[str, dict[str, float]]:
    cfg = replace(base, subset=name, data_root=root)
    data = prepare_rul_data(load_cmapss(name, root), cfg.data)
    print(
        f"[{name}] {len(data.train)} train / {len(data.val)} val windows, "
        f"{len(data.test)} test engines, {len(data.scaler.conditions)} condition(s)",
        flush=True,
    )
    out: dict[str, dict[str, float]] = {}
    for kind in models:
        set_seed(cfg.seed)
        start = time.perf_counter()
        model, info = fit_rul_model(
            replace(cfg, model=kind), data, device=device, show_progress=False
        )
        res = evaluate_rul(model, data.test, device=device)
        out[kind] = {
            "rmse": res["rmse"],
            "score": res["score"],
            "val_rmse": float(info.get("best_val_rmse", float("nan"))),
            "seconds": time.perf_counter() - start,
        }
        print(
            f"[{name}] {kind:18s} test RMSE {res['rmse']:6.2f}  score {res['score']:9.1f}  "
            f"({out[kind]['seconds']:.0f}s)",
            flush=True,
        )
    if "mkdpinn" in out and "ridge" in out:
        out["ratios"] = {
            "rmse_ratio_vs_ridge": out["mkdpinn"]["rmse"] / out["ridge"]["rmse"],
            "score_ratio_vs_ridge": out["mkdpinn"]["score"] / out["ridge"]["score"],
            "rmse_ratio_vs_paper": out["mkdpinn"]["rmse"] / PAPER[name][0],
        }
    return out


def run_fewshot(
    target: str,
    base: RULExperimentConfig,
    root: Path,
    device: torch.device,
    k: int,
    draws: int,
    meta_steps: int,
    adapt_steps: int,
) -> dict[str, object]:
    sources = [s for s in PAPER if s != target]
    tasks = []
    for s in sources:
        d = prepare_rul_data(load_cmapss(s, root), replace(base.data, val_fraction=0.0))
        tasks += tasks_by_condition(d.train)
    set_seed(base.seed)
    torch.manual_seed(base.seed)
    mcfg = replace(base.mkdpinn, n_features=len(base.data.sensors), window=base.data.window)
    meta_model = MKDPINN(mcfg)
    start = time.perf_counter()
    meta_train(
        meta_model,
        tasks,
        replace(base.meta, outer_steps=meta_steps, eval_every=0),
        device=device,
        show_progress=False,
    )
    meta_seconds = time.perf_counter() - start
    subset = load_cmapss(target, root)
    acfg = AdaptConfig(steps=adapt_steps, lr=base.train.lr, seed=base.seed)
    rows = []
    for draw in range(draws):
        data = few_shot_data(replace(base, data=base.data), subset, k, seed=draw)
        torch.manual_seed(base.seed)
        scratch = MKDPINN(mcfg)
        a = evaluate_rul(
            adapt(meta_model, data.train, acfg, device=device), data.test, device=device
        )
        b = evaluate_rul(adapt(scratch, data.train, acfg, device=device), data.test, device=device)
        rows.append(
            {
                "draw": draw,
                "meta_rmse": a["rmse"],
                "meta_score": a["score"],
                "scratch_rmse": b["rmse"],
                "scratch_score": b["score"],
            }
        )
        print(
            f"[few-shot {target} k={k} draw {draw}] meta-init RMSE {a['rmse']:.2f} vs "
            f"scratch {b['rmse']:.2f}",
            flush=True,
        )
    meta_mean = float(np.mean([r["meta_rmse"] for r in rows]))
    scratch_mean = float(np.mean([r["scratch_rmse"] for r in rows]))
    return {
        "target": target,
        "sources": sources,
        "k": k,
        "tasks": len(tasks),
        "meta_steps": meta_steps,
        "adapt_steps": adapt_steps,
        "draws": rows,
        "meta_rmse_mean": meta_mean,
        "scratch_rmse_mean": scratch_mean,
        "rmse_ratio_meta_vs_scratch": meta_mean / scratch_mean,
        "meta_seconds": meta_seconds,
    }


def _write(path: Path, result: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subsets", nargs="+", default=list(PAPER), choices=list(PAPER))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--paper", action="store_true", help="paper-sized models (GPU)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--fewshot", action="store_true", help="also run the few-shot experiment")
    p.add_argument("--fewshot-only", action="store_true", help="only the few-shot experiment")
    p.add_argument("--target", default="FD004", choices=list(PAPER))
    p.add_argument("--k", type=int, default=5, help="target engines for few-shot")
    p.add_argument("--draws", type=int, default=3, help="random draws of the k engines")
    p.add_argument("--meta-steps", type=int, default=None)
    p.add_argument("--adapt-steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("runs/bench/signal_rul.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = args.data_root or (Path(os.environ.get("LABWORKS_DATA", "")) / "cmapss")
    if (not os.environ.get("LABWORKS_DATA") and args.data_root is None) or not root.is_dir():
        print(
            f"C-MAPSS folder {root} not found: set LABWORKS_DATA or pass --data-root",
            file=sys.stderr,
        )
        return 2
    device = get_device(args.device)
    base = paper_config(args.seed) if args.paper else cpu_config(args.seed)
    result: dict[str, object] = {
        "config": "paper" if args.paper else "cpu",
        "device": str(device),
        "seed": args.seed,
        "test_protocol": f"last window per engine, labels capped at {base.data.rul_cap:g}",
        "paper": PAPER,
        "subsets": {},
    }
    start = time.perf_counter()
    if not args.fewshot_only:
        for name in args.subsets:
            t0 = time.perf_counter()
            res = run_subset(name, base, root, device, args.models)
            res["seconds"] = {"total": time.perf_counter() - t0}  # type: ignore[assignment]
            result["subsets"][name] = res  # type: ignore[index]
            _write(args.out, result)  # partial results survive an interrupted run
    if args.fewshot or args.fewshot_only:
        meta_steps = args.meta_steps or (2000 if args.paper else 150)
        adapt_steps = args.adapt_steps or (300 if args.paper else 60)
        result["fewshot"] = run_fewshot(
            args.target, base, root, device, args.k, args.draws, meta_steps, adapt_steps
        )
    result["seconds"] = time.perf_counter() - start
    _write(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
