"""``lab llm pods``: GRPO / PODS training and down-sampling from the command line.

The parent CLI hooks this in with :func:`register`::

    lab llm pods grpo --task arithmetic --downsample max_variance --n 32 --m 8 --max-steps 50
    lab llm pods grpo --task gsm8k --data-path /data/gsm8k --model smollm2 --use-peft --n 16 --m 4
    lab llm pods grpo --resume runs/llm-grpo/20261204-130000   # continue an interrupted run
    lab llm pods downsample --m 2 0 1 1 0.5 0.2

Every :class:`lab.llm.pods.GRPOConfig` and :class:`lab.llm.pods.ExperimentConfig` field is a
flag (``--num-generations``, ``--num-train-generations``, ``--beta``, ...); ``--n``/``--m`` are
short for the first two. ``--config FILE`` reads GRPOConfig keys from JSON/YAML.
Under ``torchrun --nproc_per_node K -m lab.core.cli llm pods grpo ...`` every rank trains on its
own prompts with averaged gradients.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from lab.core import (
    ConfigError,
    add_config_arguments,
    cleanup_distributed,
    config_from_args,
    is_main,
)

__all__ = ["register"]


def _grpo(args: argparse.Namespace) -> int:
    from .experiment import ExperimentConfig, resume_configs, run_experiment
    from .grpo import GRPOConfig

    try:
        resume = getattr(args, "cfg__resume", None)
        if resume is not None:
            exp, grpo = _resume_configs(args, resume, resume_configs)
        else:
            grpo = config_from_args(GRPOConfig, args)
            exp_args = argparse.Namespace(
                **{k: v for k, v in vars(args).items() if k != "config_file"}
            )
            exp = config_from_args(ExperimentConfig, exp_args)
        res = run_experiment(exp, grpo)
        if is_main():
            summary = {
                "run_dir": res["run_dir"],
                "before": res["before"],
                "after": res["after"],
                "final_reward": res["history"][-1]["reward"] if res["history"] else None,
                "sft_seconds": round(res["sft_seconds"], 2),
                "grpo_seconds": round(res["grpo_seconds"], 2),
            }
            print(json.dumps(summary, indent=2))
    finally:
        cleanup_distributed()
    return 0


def _resume_configs(args: argparse.Namespace, run: str, load: Any) -> tuple[Any, Any]:
    """The run's own config.json; only ``--max-steps`` may change it (to extend the run)."""
    given = sorted(
        "--" + k.removeprefix("cfg__").replace("__", ".").replace("_", "-")
        for k in vars(args)
        if k.startswith("cfg__") and k not in ("cfg__resume", "cfg__max_steps")
    )
    if getattr(args, "config_file", None):
        given.append("--config")
    if given:
        raise ConfigError(
            f"--resume {run} continues the run with its own config.json; drop {', '.join(given)} "
            "(only --max-steps may be given, to extend the run) or start a new run"
        )
    return load(run, max_steps=getattr(args, "cfg__max_steps", None))


def _downsample(args: argparse.Namespace) -> int:
    import torch

    from .downsample import downsample

    idx = downsample(
        args.rewards, args.m, args.rule, generator=torch.Generator().manual_seed(args.seed)
    )
    print(
        json.dumps(
            {"indices": [int(i) for i in idx], "rewards": [args.rewards[int(i)] for i in idx]}
        )
    )
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``pods`` subcommand (with ``grpo`` and ``downsample``) to a subparsers object."""
    from .experiment import ExperimentConfig
    from .grpo import GRPOConfig

    parser = subparsers.add_parser(
        "pods",
        help="GRPO with PODS rollout down-sampling on a verifiable-reward task",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="pods_command", required=True, metavar="PODS_COMMAND")
    g = sub.add_parser(
        "grpo",
        help="SFT warm start, then GRPO/PODS on a verifiable-reward task",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_config_arguments(g, GRPOConfig)
    add_config_arguments(g, ExperimentConfig)
    g.add_argument(
        "--n",
        dest="cfg__num_generations",
        type=int,
        default=argparse.SUPPRESS,
        help="short for --num-generations (rollouts sampled per prompt)",
    )
    g.add_argument(
        "--m",
        dest="cfg__num_train_generations",
        type=int,
        default=argparse.SUPPRESS,
        help="short for --num-train-generations (rollouts kept per prompt)",
    )
    g.set_defaults(func=_grpo)
    d = sub.add_parser(
        "downsample", help="indices chosen by a down-sampling rule for one reward vector"
    )
    d.add_argument("--m", type=int, required=True)
    d.add_argument(
        "--rule", default="max_variance", choices=["max_variance", "max_reward", "random"]
    )
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("rewards", type=float, nargs="+")
    d.set_defaults(func=_downsample)
    return parser
