"""Demo: TnD against a CLM-only student on the generated child-directed corpus (CPU, ~1 minute)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from lab.core import seeded
from lab.core.report import DemoResult, demo_size, line_plot

from .experiment import TnDExperimentConfig, run_experiment
from .models import TeacherConfig
from .reward import AgePredictorConfig
from .trainer import TnDConfig

__all__ = ["demo"]


def demo(out_dir: Path, *, device: torch.device, seed: int) -> DemoResult:
    """A tiny teacher, an age predictor, then a TnD and a CLM-only student (one seed).

    Writes the mean word-surprisal learning curves to ``out_dir`` and reports the fraction of
    the tracked words each student has learned and their mean log10 age of acquisition.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tiny = demo_size() == "tiny"  # `lab demo --size tiny`: a seconds-long smoke run
    cfg = TnDExperimentConfig(
        num_train=300 if tiny else 1500,
        num_heldout=60 if tiny else 300,
        modes=("tnd", "clm"),
        seeds=(seed,),
        teacher=TeacherConfig(steps=20 if tiny else 200, num_checkpoints=3 if tiny else 6),
        predictor=AgePredictorConfig(
            samples_per_checkpoint=8 if tiny else 24, epochs=2 if tiny else 8
        ),
        student=TnDConfig(
            corpus_steps=6 if tiny else 90,
            interaction_batch_size=4 if tiny else 8,
            eval_points=4 if tiny else 8,
        ),
    )
    with seeded(seed):
        report = run_experiment(cfg, device=device, show_progress=False)
    metrics: dict[str, float] = {}
    series = {}
    lines = ["| student | words learned | mean log10 AoA | final CLM loss |", "|---|---|---|---|"]
    for name, runs in report["runs"].items():
        r = runs[0]
        metrics[f"{name}_fraction_learned"] = r["fraction_learned"]
        metrics[f"{name}_mean_log10_aoa"] = r["mean_log10_aoa"]
        series[name] = (r["steps"], r["mean_surprisal"])
        lines.append(
            f"| {name} | {r['fraction_learned']:.3f} | {r['mean_log10_aoa']:.3f} | "
            f"{r['final_clm_loss']:.3f} |"
        )
    plot = line_plot(
        out / "tnd_learning_curves.png",
        series,
        title="mean word surprisal (held-out)",
        xlabel="corpus step",
        ylabel="bits",
    )
    metrics["age_predictor_heldout_pearson"] = report["seeds"][str(seed)]["predictor"][
        "heldout_pearson"
    ]
    summary = (
        "Trial-and-Demonstration (Ma, Wang, Chai 2025) at demo size: a 2-layer GPT-2 student "
        "learns a 390-word child-directed grammar corpus by causal LM alone (clm) or with "
        "trials scored by a neural age predictor plus teacher demonstrations (tnd, PPO + CLM "
        "every 3 corpus steps). Equal corpus steps and tokens; one seed, so differences are "
        "noise-sized (see docs/benchmarks/llm-tnd.md for the multi-seed comparison).\n\n"
        + "\n".join(lines)
    )
    return DemoResult(
        title="TnD: trial-and-demonstration word learning",
        metrics=metrics,
        plots=(plot,),
        summary=summary,
        seconds=time.perf_counter() - start,
    )
