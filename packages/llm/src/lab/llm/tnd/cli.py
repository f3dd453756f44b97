"""``lab llm tnd``: Trial-and-Demonstration word learning from the command line.

The parent CLI hooks this in with :func:`register`::

    lab llm tnd run --modes tnd clm --seeds 0 1 2 --student.corpus-steps 300 --out runs
    lab llm tnd run --corpus babylm --data-path /data/babylm/train --word-list cdi.csv
    lab llm tnd run --resume runs/tnd/20261129-150000
    lab llm tnd corpus --out corpus.txt --num-train 4000     # write the generated corpus
    torchrun --nproc_per_node 2 -m lab.core.cli llm tnd run --modes tnd clm   # data parallel

Every :class:`lab.llm.tnd.TnDExperimentConfig` field is a flag (nested ones as
``--teacher.steps``, ``--predictor.epochs``, ``--student.score-variant``, ...).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lab.core import (
    ConfigError,
    LabError,
    RunDir,
    add_config_arguments,
    cleanup_distributed,
    config_from_args,
    init_distributed,
    is_main,
)

from .experiment import TnDExperimentConfig, load_corpus, run_experiment

__all__ = ["format_table", "main", "register"]


def format_table(report: dict[str, Any]) -> str:
    """Per arm, mean over seeds: fraction of words learned, mean log10 AoA, final CLM loss, time."""
    lines = [f"{'arm':<15} {'learned':>8} {'log10 AoA':>10} {'CLM loss':>9} {'sec':>7}"]
    for name, runs in report["runs"].items():
        n = len(runs)
        frac = sum(r["fraction_learned"] for r in runs) / n
        aoa = [r["mean_log10_aoa"] for r in runs if r["mean_log10_aoa"] == r["mean_log10_aoa"]]
        aoa_s = f"{sum(aoa) / len(aoa):10.3f}" if aoa else f"{'nan':>10}"
        loss = sum(r["final_clm_loss"] for r in runs) / n
        sec = sum(r["seconds"] for r in runs) / n
        lines.append(f"{name:<15} {frac:8.3f} {aoa_s} {loss:9.3f} {sec:7.1f}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    try:
        return _run_experiment(args)
    finally:
        cleanup_distributed()  # every rank, also after an error, before the process exits


def _run_experiment(args: argparse.Namespace) -> int:
    try:
        info = init_distributed(device=args.device)  # under torchrun: one process per device
        if args.resume is not None:
            run = RunDir.open(args.resume)
            from lab.core import config_from_dict

            cfg = config_from_dict(TnDExperimentConfig, run.load_config_dict())
            corpus = load_corpus(cfg)
            resume = True
        else:
            cfg = config_from_args(TnDExperimentConfig, args)
            corpus = load_corpus(cfg)  # data checked before the run folder exists
            path: list[Path | None] = [
                RunDir.create("tnd", root=args.out, config=cfg).path if is_main() else None
            ]
            if info.world_size > 1:  # every rank uses rank 0's run folder
                import torch.distributed as dist

                dist.broadcast_object_list(path, src=0)
            if path[0] is None:
                raise ConfigError("rank 0 did not share its run folder")
            run = RunDir(path[0])
            resume = False
        report = run_experiment(
            cfg, device=args.device, out_dir=run.path, resume=resume, corpus=corpus
        )
    except LabError as exc:
        print(f"lab llm tnd: error: {exc}")
        return 2
    if not is_main():
        return 0
    print(format_table(report))
    print(f"results: {Path(run.path) / 'results.json'}")
    if args.json:
        print(
            json.dumps({k: [r["fraction_learned"] for r in v] for k, v in report["runs"].items()})
        )
    return 0


def _corpus(args: argparse.Namespace) -> int:
    from .corpus import child_directed_corpus

    try:
        c = child_directed_corpus(
            args.num_train, args.num_heldout, zipf_exponent=args.zipf_exponent, seed=args.seed
        )
        if args.out is None:
            raise ConfigError("--out is required")
    except LabError as exc:
        print(f"lab llm tnd: error: {exc}")
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(c.train) + "\n", encoding="utf-8")
    held = out.with_name(out.stem + ".heldout" + out.suffix)
    held.write_text("\n".join(c.heldout) + "\n", encoding="utf-8")
    words = out.with_name(out.stem + ".words.csv")
    words.write_text(
        "word,category,frequency\n"
        + "".join(f"{w},{c.categories[w]},{c.frequencies[w]}\n" for w in c.words),
        encoding="utf-8",
    )
    print(json.dumps({"train": str(out), "heldout": str(held), "words": str(words)}))
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``tnd`` subcommand (with ``run`` and ``corpus``) to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "tnd",
        help="Trial-and-Demonstration language learning from scratch (word acquisition)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="tnd_command", required=True, metavar="TND_COMMAND")
    r = sub.add_parser("run", help="teacher, age predictor and student arms over seeds")
    add_config_arguments(r, TnDExperimentConfig)
    r.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    r.add_argument("--out", type=Path, default=Path("runs"), help="root of the run folder")
    r.add_argument(
        "--resume", type=Path, default=None, metavar="RUN_DIR", help="continue an interrupted run"
    )
    r.add_argument("--json", action="store_true", help="also print fractions learned as JSON")
    r.set_defaults(func=_run)
    c = sub.add_parser("corpus", help="write a generated child-directed corpus and word list")
    c.add_argument("--out", type=Path, default=None, help="training text file to write")
    c.add_argument("--num-train", type=int, default=4000)
    c.add_argument("--num-heldout", type=int, default=600)
    c.add_argument("--zipf-exponent", type=float, default=1.0)
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(func=_corpus)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: ``python -m lab.llm.tnd.cli tnd run ...``."""
    parser = argparse.ArgumentParser(prog="lab llm")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
