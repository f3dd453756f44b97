"""The ``lab demo`` entry for lab.llm: GRPO vs PODS on arithmetic word problems, tiny GPT-2."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch

from lab.core import set_seed
from lab.core.report import DemoResult, demo_size, line_plot

from ..models import tiny_causal_lm
from .evaluation import evaluate
from .grpo import GRPOConfig, GRPOTrainer
from .models import SFTConfig, build_tokenizer, sft_warm_start
from .tasks import arithmetic_reward, arithmetic_task

__all__ = ["demo"]


def demo(
    out_dir: Path, *, device: torch.device, seed: int = 0, steps: int = 12, sft_steps: int = 200
) -> DemoResult:
    """Warm-start a 2-layer GPT-2 on single-digit word problems, then run GRPO (n = m = 4) and
    PODS (n = 16, m = 4, max-variance) from the same start for ``steps`` updates each; plot the
    mean sampled reward per step and report held-out accuracy / exact-answer probability."""
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)  # OURS: tiny models run fastest single-threaded on shared CPUs
    if demo_size() == "tiny":  # `lab demo --size tiny`: a seconds-long smoke run
        steps, sft_steps = min(steps, 2), min(sft_steps, 20)
    try:
        return _demo(Path(out_dir), device=device, seed=seed, steps=steps, sft_steps=sft_steps)
    finally:
        torch.set_num_threads(threads)


def _demo(
    out_dir: Path, *, device: torch.device, seed: int, steps: int, sft_steps: int
) -> DemoResult:
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    set_seed(seed)
    train = arithmetic_task(400, difficulty=1, style="word", seed=seed)
    held = arithmetic_task(64, difficulty=1, style="word", seed=seed + 10_000)
    tok = build_tokenizer()
    base = tiny_causal_lm(tok, n_layer=2, n_embd=64, n_head=4, seed=seed, device=device)
    sft_warm_start(
        base,
        tok,
        train,
        SFTConfig(steps=sft_steps, batch_size=32, learning_rate=3e-3, seed=seed),
        show_progress=False,
    )
    start = evaluate(base, tok, held, arithmetic_reward, max_completion_length=4)
    common: dict[str, Any] = dict(
        max_steps=steps,
        prompts_per_step=8,
        max_completion_length=4,
        temperature=1.0,
        learning_rate=3e-4,
        seed=seed,
    )
    runs = {
        "GRPO n=m=4": GRPOConfig(num_generations=4, **common),
        "PODS n=16, m=4": GRPOConfig(num_generations=16, num_train_generations=4, **common),
    }
    curves: dict[str, tuple[list[float], list[float]]] = {}
    zero_std: dict[str, tuple[list[float], list[float]]] = {}
    metrics: dict[str, Any] = {
        "start_accuracy": start["accuracy"],
        "start_answer_prob": start["answer_prob"],
    }
    for label, cfg in runs.items():
        set_seed(seed)
        tr = GRPOTrainer(
            copy.deepcopy(base),
            arithmetic_reward,
            args=cfg,
            train_dataset=train,
            processing_class=tok,
            device=device,
        )
        hist = tr.train()
        ev = evaluate(tr.model, tok, held, arithmetic_reward, max_completion_length=4)
        key = "grpo" if label.startswith("GRPO") else "pods"
        curves[label] = ([h["step"] for h in hist], [h["reward"] for h in hist])
        zero_std[label] = (
            [h["step"] for h in hist],
            [h["frac_reward_zero_std_kept"] for h in hist],
        )
        metrics[f"{key}_accuracy"] = ev["accuracy"]
        metrics[f"{key}_answer_prob"] = ev["answer_prob"]
        metrics[f"{key}_zero_std_groups"] = sum(h["frac_reward_zero_std_kept"] for h in hist) / len(
            hist
        )
        metrics[f"{key}_seconds"] = sum(h["gen_seconds"] + h["update_seconds"] for h in hist)
    plot = line_plot(
        out_dir / "llm_reward.png",
        curves,
        title="GRPO vs PODS: mean sampled reward",
        xlabel="update step",
        ylabel="reward (fraction correct)",
    )
    plot_zero = line_plot(
        out_dir / "llm_zero_variance.png",
        zero_std,
        title="Share of trained groups with zero reward variance (no gradient)",
        xlabel="update step",
        ylabel="fraction of groups",
    )
    summary = (
        f"SFT warm start ({sft_steps} steps), then {steps} equal-cost updates (4 rollouts per prompt "
        f"trained) each. Held-out exact-answer probability: start {start['answer_prob']:.3f}, "
        f"GRPO {metrics['grpo_answer_prob']:.3f}, PODS {metrics['pods_answer_prob']:.3f}; "
        f"fraction of zero-variance training groups: GRPO {metrics['grpo_zero_std_groups']:.2f}, "
        f"PODS {metrics['pods_zero_std_groups']:.2f}."
    )
    return DemoResult(
        title="GRPO vs PODS rollout down-sampling (tiny GPT-2, arithmetic)",
        metrics=metrics,
        plots=[plot, plot_zero],
        summary=summary,
        seconds=time.perf_counter() - t0,
    )
