"""Benchmark: MKDPINN against its baselines and ablations on C-MAPSS, plus a few-shot experiment.

In one run, per subset: MKDPINN (Reptile warm start + physics), the ablations without physics and
without meta-learning, ridge regression on windows, a 1-D CNN and an LSTM. All share the same
preprocessing, the same unit-level validation split (model selection) and the same test protocol
(last window per engine, RMSE and PHM08 score; test labels capped at 125 as the official code).
The named baseline for the headline ratio is ridge regression (``rmse_ratio_vs_ridge``).

Few-shot (``--fewshot`` / ``--fewshot-only``; lab.signal.rul.few_shot_experiment): on the
same draws of k engines of the held-out target subset (default FD003) and the same seeds, five
arms: scratch, zero-shot meta model, meta + adaptation, plain (non-meta) pretraining on the same
source tasks + the same adaptation, zero-shot plain model. Sources: the other three subsets, one
task per operating condition. The adaptation steps come from a grid that contains 0, chosen on a
held-out target training engine. Paired differences (per draw x seed) with SE and t-test p.

Variants (``--variants``): MKDPINN with window 30 / 15 and learned ("hidden", the paper) or
known-dynamics physics residual, against ridge at the same window, over ``--seeds``.

    python tools/bench/signal_rul.py                         # CPU sizes, FD001..FD004
    python tools/bench/signal_rul.py --fewshot-only --target FD003 --seeds 0 1 2 --draws 3
    python tools/bench/signal_rul.py --variants --subsets FD001 --seeds 0 1 2
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
from typing import Any

import torch

from lab.core import get_device, set_seed
from lab.signal.rul import (
    CMAPSSConfig,
    MetaConfig,
    MKDPINNConfig,
    TrainConfig,
    evaluate_rul,
    load_cmapss,
    prepare_rul_data,
    tasks_by_condition,
)
from lab.signal.rul.baselines import CNNConfig, LSTMConfig
from lab.signal.rul.experiment import RULExperimentConfig, fit_rul_model
from lab.signal.rul.fewshot import FEWSHOT_ARMS, FewShotConfig, few_shot_experiment
from lab.signal.rul.stats import paired_difference

#: Official checkpoints' test RMSE / score (paper's MKDPINN) and ridge references (notes).
PAPER = {
    "FD001": (12.36, 273.19),
    "FD002": (13.86, 1037.75),
    "FD003": (11.01, 221.24),
    "FD004": (13.60, 956.42),
}
#: Candidate numbers of adaptation steps (CPU sizes); chosen on a held-out target engine.
STEP_GRID = (0, 5, 10, 20, 40, 60)
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
            replace(cfg, model=kind),  # type: ignore[arg-type]
            data,
            device=device,
            show_progress=False,
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


def run_variants(
    name: str,
    seeds: list[int],
    windows: list[int],
    physics: list[str],
    root: Path,
    device: torch.device,
    out: Path,
    previous: dict[str, Any] | None,
    result: dict[str, object],
    known_weight: float = 100.0,
) -> dict[str, object]:
    """MKDPINN window / physics variants against ridge, per seed, in one run.

    For each seed the validation split (``split_seed``), the initialisation, the meta warm start
    and the minibatch order all change; ridge depends on the seed through the split only. Rows
    already in ``previous`` (an interrupted run's JSON) are reused, not re-run. The known-physics
    variant uses ``physics_weight=known_weight`` (OURS: its residual is in RUL per cycle, O(1),
    against a data MSE of O(100)); the hidden-physics one keeps the paper's weight 1.
    """
    done = {(r["seed"], r["window"], r["model"]): r for r in (previous or {}).get("rows", [])}
    rows: list[dict[str, Any]] = []
    study: dict[str, object] = {"subset": name, "known_physics_weight": known_weight, "rows": rows}
    result.setdefault("variants", {})[name] = study  # type: ignore[index]
    subset = load_cmapss(name, root)
    for seed in seeds:
        base = cpu_config(seed)
        for w in windows:
            cfg = replace(
                base,
                subset=name,
                data_root=root,
                data=replace(base.data, window=w, split_seed=seed),
            )
            data = prepare_rul_data(subset, cfg.data)
            kinds = [("ridge", "ridge", "hidden")] + [
                (f"mkdpinn_{ph}", "mkdpinn", ph) for ph in physics
            ]
            for label, kind, ph in kinds:
                key = (seed, w, label)
                if key in done:
                    rows.append(done[key])
                    continue
                set_seed(seed)
                t0 = time.perf_counter()
                weight = known_weight if ph == "known" else cfg.mkdpinn.physics_weight
                mk = replace(cfg.mkdpinn, physics=ph, physics_weight=weight)  # type: ignore[arg-type]
                run_cfg = replace(cfg, model=kind, mkdpinn=mk)  # type: ignore[arg-type]
                model, _ = fit_rul_model(run_cfg, data, device=device, show_progress=False)
                res = evaluate_rul(model, data.test, device=device)
                row = {
                    "seed": seed,
                    "window": w,
                    "model": label,
                    "rmse": res["rmse"],
                    "score": res["score"],
                    "seconds": time.perf_counter() - t0,
                }
                rows.append(row)
                print(
                    f"[{name} seed {seed} window {w}] {label:16s} RMSE {res['rmse']:6.2f} "
                    f"score {res['score']:8.1f} ({row['seconds']:.0f}s)",
                    flush=True,
                )
                _write(out, result)
    study["paired"] = variant_stats(rows)
    return study


def variant_stats(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Paired differences (per seed) of each variant against ridge at the same window, against
    ridge at window 30 (the main table's) and against the default MKDPINN (window 30, hidden)."""
    table = {(r["seed"], r["window"], r["model"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    variants = sorted({(r["window"], r["model"]) for r in rows if r["model"] != "ridge"})
    out: dict[str, dict[str, dict[str, float]]] = {}
    for w, m in variants:
        comps = {
            "vs_ridge_same_window": (w, "ridge"),
            "vs_ridge_window30": (30, "ridge"),
            "vs_mkdpinn_w30_hidden": (30, "mkdpinn_hidden"),
        }
        res: dict[str, dict[str, float]] = {}
        for cname, ref in comps.items():
            if ref == (w, m):
                continue
            ok = [s for s in seeds if (s, w, m) in table and (s, *ref) in table]
            if not ok:
                continue
            for metric in ("rmse", "score"):
                res[f"{cname}_{metric}"] = paired_difference(
                    [float(table[(s, w, m)][metric]) for s in ok],
                    [float(table[(s, *ref)][metric]) for s in ok],
                )
        out[f"w{w}_{m}"] = res
    return out


def run_fewshot(
    target: str,
    base: RULExperimentConfig,
    root: Path,
    device: torch.device,
    args: argparse.Namespace,
    result: dict[str, object],
) -> dict[str, object]:
    """The few-shot experiment with its controls (lab.signal.rul.few_shot_experiment): sources =
    the other three subsets, one task per operating condition; target = ``target``'s engines."""
    sources = [s for s in PAPER if s != target]
    src_cfg = replace(base.data, val_fraction=0.0)
    tasks = []
    for s in sources:
        tasks += tasks_by_condition(prepare_rul_data(load_cmapss(s, root), src_cfg).train)
    meta_steps = args.meta_steps or (2000 if args.paper else 150)
    grid = tuple(args.step_grid or ((0, 25, 50, 100, 200, 300) if args.paper else STEP_GRID))
    cfg = FewShotConfig(
        k=args.k,
        n_val_engines=args.val_engines,
        draws=tuple(range(args.draws)),
        seeds=tuple(args.seeds),
        step_grid=grid,
        adapt_lr=base.train.lr,
        data=base.data,
        model=base.mkdpinn,
        meta=replace(base.meta, outer_steps=meta_steps, eval_every=0),
    )
    previous: list[dict[str, object]] = []
    if args.resume and args.out.is_file():
        old = json.loads(args.out.read_text()).get("fewshot") or {}
        if old.get("target") == target:
            previous = list(old.get("rows", []))
    out: dict[str, object] = {
        "target": target,
        "sources": sources,
        "tasks": len(tasks),
        "k": cfg.k,
        "n_val_engines": cfg.n_val_engines,
        "draws": list(cfg.draws),
        "seeds": list(cfg.seeds),
        "step_grid": list(grid),
        "meta_steps": meta_steps,
        "plain_steps": cfg.pretrain_steps,
        "adapt_lr": cfg.adapt_lr,
        "rows": list(previous),
    }
    result["fewshot"] = out

    def on_row(row: dict[str, object]) -> None:
        out["rows"].append(row)  # type: ignore[attr-defined]
        print(
            f"[few-shot {target} k={cfg.k} seed {row['seed']} draw {row['draw']}] "
            + ", ".join(
                f"{a} {row[a]['rmse']:.2f}"  # type: ignore[index]
                + (f" ({row[a]['steps']} steps)" if "steps" in row[a] else "")  # type: ignore[index,operator]
                for a in FEWSHOT_ARMS
            ),
            flush=True,
        )
        _write(args.out, result)

    res = few_shot_experiment(
        tasks,
        load_cmapss(target, root),
        cfg,
        device=device,
        cache_dir=args.out.parent / f"{args.out.stem}_cache",
        done_rows=previous,
        on_row=on_row,
        show_progress=False,
    )
    out["rows"] = res.rows
    out["pretrain_seconds"] = res.pretrain_seconds
    out["summary"] = res.summary()
    return out


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
    p.add_argument("--target", default="FD003", choices=list(PAPER), help="few-shot target")
    p.add_argument("--k", type=int, default=5, help="target support engines for few-shot")
    p.add_argument("--val-engines", type=int, default=1, help="held-out target engines")
    p.add_argument("--draws", type=int, default=3, help="random draws of the target engines")
    p.add_argument("--meta-steps", type=int, default=None, help="meta-updates (150 on CPU)")
    p.add_argument(
        "--step-grid",
        type=int,
        nargs="+",
        default=None,
        help=f"candidate adaptation steps, must include 0 (CPU: {' '.join(map(str, STEP_GRID))})",
    )
    p.add_argument(
        "--variants",
        action="store_true",
        help="only the MKDPINN window/physics variants against ridge, over --seeds (--subsets)",
    )
    p.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of --variants / few-shot"
    )
    p.add_argument("--windows", type=int, nargs="+", default=[30, 15])
    p.add_argument("--physics", nargs="+", default=["hidden", "known"], choices=["hidden", "known"])
    p.add_argument("--known-weight", type=float, default=100.0, help="physics_weight (known)")
    p.add_argument("--resume", action="store_true", help="reuse rows of an interrupted --out")
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
    if args.variants:
        previous = None
        if args.resume and args.out.is_file():
            previous = json.loads(args.out.read_text()).get("variants")
        for name in args.subsets:
            run_variants(
                name,
                args.seeds,
                args.windows,
                args.physics,
                root,
                device,
                args.out,
                (previous or {}).get(name),
                result,
                args.known_weight,
            )
        result["seconds"] = time.perf_counter() - start
        _write(args.out, result)
        print(f"wrote {args.out}")
        return 0
    if not args.fewshot_only:
        for name in args.subsets:
            t0 = time.perf_counter()
            res = run_subset(name, base, root, device, args.models)
            res["seconds"] = {"total": time.perf_counter() - t0}
            result["subsets"][name] = res  # type: ignore[index]
            _write(args.out, result)  # partial results survive an interrupted run
    if args.fewshot or args.fewshot_only:
        run_fewshot(args.target, base, root, device, args, result)
    result["seconds"] = time.perf_counter() - start
    _write(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
