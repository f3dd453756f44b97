"""Benchmark: behaviour cloning from robot, pipeline-labelled human, and both kinds of demos.

Robot demos carry the scripted expert's exact actions (the named baseline); human demos come
from a slower, trembling "human" expert whose hand-held gripper is rendered in RGB-D and
labelled by lab.robotics (segmentation, pose estimation, width) -- actions and end-effector
observations come from the labels only. The ablation ``human_true`` trains on the same human
trajectories without the labelling step (embodiment gap only). Every policy is scored by its
success rate over 100 seeded rollouts; the ratio human/robot is compared with the paper's
88.1%. Writes runs/bench/robotics_bc.json.

    python tools/bench/robotics_bc.py            # CPU: 20 demos per kind, 2 training seeds
    python tools/bench/robotics_bc.py --paper    # 100 demos per kind, 5 training seeds
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from lab.core import get_device
from lab.robotics import (
    BCConfig,
    collect_human_demos,
    collect_robot_demos,
    evaluate_policy,
    train_bc,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--paper", action="store_true", help="more demos and training seeds")
    p.add_argument("--demos", type=int, default=None, help="demos per kind")
    p.add_argument("--seeds", type=int, default=None, help="training seeds per kind")
    p.add_argument("--rollouts", type=int, default=100)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=Path("runs/bench"))
    args = p.parse_args(argv)
    n_demos = args.demos or (100 if args.paper else 20)
    n_seeds = args.seeds or (5 if args.paper else 2)
    device = get_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    t0 = time.perf_counter()
    robot = collect_robot_demos(n_demos, seed=0)
    t_robot = time.perf_counter() - t0
    t0 = time.perf_counter()
    human, label_stats = collect_human_demos(n_demos, seed=0, show_progress=True)
    t_human = time.perf_counter() - t0
    human_true, _ = collect_human_demos(n_demos, seed=0, label=False)
    sets = {"robot": robot, "human": human, "human_true": human_true, "both": robot + human}
    results: dict[str, dict[str, float | list[float]]] = {}
    for name, demos in sets.items():
        rates = []
        for s in range(n_seeds):
            policy = train_bc(demos, BCConfig(epochs=args.epochs, seed=s), device=device)
            rates.append(evaluate_policy(policy, n_rollouts=args.rollouts, seed=10_000 + 1000 * s))
        results[name] = {"success_mean": float(np.mean(rates)), "success_per_seed": rates}
        print(f"{name:>10}: success {np.mean(rates):.3f} {rates}")
    robot_rate = float(results["robot"]["success_mean"])  # type: ignore[arg-type]
    out = {
        "command": "python tools/bench/robotics_bc.py" + (" --paper" if args.paper else ""),
        "demos_per_kind": n_demos,
        "training_seeds": n_seeds,
        "rollouts": args.rollouts,
        "epochs": args.epochs,
        "device": str(device),
        "success": results,
        "human_over_robot": float(results["human"]["success_mean"]) / robot_rate
        if robot_rate
        else None,  # type: ignore[arg-type]
        "paper_human_over_robot": 0.881,
        "label_stats": label_stats,
        "seconds_collect_robot": t_robot,
        "seconds_collect_and_label_human": t_human,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = "robotics_bc" + ("_paper" if args.paper else "")
    (args.out / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
