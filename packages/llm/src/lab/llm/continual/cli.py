"""``lab llm continual``: run continual strategies on a task stream and print the metrics.

The parent CLI hooks this in with :func:`register`::

    sub = parser.add_subparsers(dest="command")
    continual_cli.register(sub)          # adds `continual`, sets args.func
    ...
    return args.func(args)

Examples::

    lab llm continual --stream synthetic --methods sequential per_task olora inflora
    lab llm continual --stream bbc --methods all --seeds 0 1 2 --out runs/continual
    lab llm continual --stream bbc --methods l2p --query-encoder minilm
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.core import (
    ConfigError,
    LabError,
    RunDir,
    add_config_arguments,
    config_from_args,
    config_from_dict,
    get_device,
)

from .experiment import ContinualExperimentConfig, build_stream, run_experiment

__all__ = ["format_table", "main", "register"]


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table: mean over seeds of task-aware ACC, BWT, forgetting, class-aware ACC."""
    lines = [
        f"{'method':<16} {'ACC':>6} {'BWT':>7} {'forget':>7} {'CIL ACC':>8} {'params':>8} {'sec':>6}"
    ]
    for method, runs in report["runs"].items():
        n = len(runs)

        def mean(
            get: Callable[[dict[str, Any]], float], runs: list[dict[str, Any]] = runs, n: int = n
        ) -> float:
            return sum(get(r) for r in runs) / n

        lines.append(
            f"{method:<16} {mean(lambda r: r['til']['acc']):6.3f} "
            f"{mean(lambda r: r['til'].get('bwt', 0.0)):7.3f} "
            f"{mean(lambda r: r['til'].get('forgetting', 0.0)):7.3f} "
            f"{mean(lambda r: r['cil']['acc']):8.3f} "
            f"{runs[0]['trainable_params']:8d} {mean(lambda r: r['seconds']):6.1f}"
        )
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    try:
        if args.resume is not None:
            given = sorted(k for k in vars(args) if k.startswith("cfg__"))
            if given or getattr(args, "config_file", None):
                raise ConfigError(
                    f"--resume {args.resume} continues the run with its own config.json; "
                    "drop the other config flags or start a new run"
                )
            run = RunDir.open(args.resume)
            cfg = config_from_dict(ContinualExperimentConfig, run.load_config_dict())
            resume = True
        else:
            cfg = config_from_args(ContinualExperimentConfig, args)
            get_device(args.device)  # device and data checked before the run folder exists
            build_stream(cfg, seed=cfg.seeds[0])
            run = RunDir.create("continual", root=args.out, config=cfg)
            resume = False
        report = run_experiment(cfg, device=args.device, out_dir=run.path, resume=resume)
    except LabError as exc:
        print(f"error: {exc}")
        return 2
    print(report["stream"])
    print(format_table(report))
    print(f"results: {Path(run.path) / 'results.json'}")
    if args.json:
        print(json.dumps({m: [r["til"] for r in rs] for m, rs in report["runs"].items()}))
    return 0


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, ContinualExperimentConfig)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    parser.add_argument(
        "--out", type=Path, default=Path("runs"), help="root of the run folder (default: runs)"
    )
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="continue an interrupted run from its checkpoints",
    )
    parser.add_argument("--json", action="store_true", help="also print the TIL matrices as JSON")
    parser.set_defaults(func=_run)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``continual`` subcommand to an argparse subparsers object; sets ``func``."""
    parser = subparsers.add_parser(
        "continual",
        help="parameter-efficient continual fine-tuning on a task stream",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m lab.llm.continual.cli continual ...``."""
    parser = argparse.ArgumentParser(prog="lab llm")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
