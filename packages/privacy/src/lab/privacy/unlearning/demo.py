"""A short DP2Unlearning demo on generated TOFU-like data (well under a minute on 2 CPU cores).

Pretrain a tiny GPT-2 on the public facts, fine-tune it on all fictitious authors, then forget
10 % of them four ways: retrain from scratch on the retain split (RFS), DP2U from a DP-SGD
base, the control "pretrained + the same retain epochs", and gradient ascent. Reports model
utility, forget quality and the unlearning cost relative to RFS; plots the per-epoch curves.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch

from lab.core import set_seed
from lab.core.report import DemoResult, demo_size, line_plot

__all__ = ["demo"]


def demo(out_dir: Path, *, device: torch.device, seed: int) -> DemoResult:
    """Run the demo; write ``unlearning_curves.png`` into ``out_dir``."""
    from scipy.stats import ks_2samp

    from .data import make_tofu_like
    from .dp_sgd import DPConfig, train_dp
    from .metrics import evaluate_model
    from .models import CausalLMConfig, build_word_tokenizer, causal_lm_from_config
    from .training import TrainConfig, finetune
    from .unlearn import UnlearnConfig, unlearn

    t0 = time.perf_counter()
    set_seed(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tiny = demo_size() == "tiny"  # `lab demo --size tiny`: a seconds-long smoke run
    data = make_tofu_like(
        n_authors=8 if tiny else 20,
        min_qa=8,
        max_qa=8,
        forget_fraction=0.1,
        retain_eval_authors=4,
        seed=seed,
    )
    tok = build_word_tokenizer(data.texts())
    pre = causal_lm_from_config(tok, CausalLMConfig(n_embd=64, n_head=4, seed=seed), device=device)
    finetune(
        pre,
        tok,
        data.pretrain,
        TrainConfig(epochs=2 if tiny else 10, batch_size=32, lr=3e-3),
        device=device,
    )
    full, _ = finetune(
        copy.deepcopy(pre),
        tok,
        data.full,
        TrainConfig(epochs=2 if tiny else 12, batch_size=16, lr=3e-3),
        device=device,
    )
    E = 2 if tiny else 4
    curves: dict[str, dict[int, tuple[float, float]]] = {"RFS / control": {}, "DP2U": {}}
    evals: dict[str, dict[str, Any]] = {}

    def record(name: str) -> Any:
        def cb(e: int, model: Any, cost: Any) -> None:
            ev = evaluate_model(model, tok, data, device=device)
            curves[name][e] = (ev["model_utility"], cost.steps)
            evals[f"{name}@{e}"] = ev

        return cb

    rfs = unlearn(
        copy.deepcopy(pre),
        tok,
        data,
        UnlearnConfig("rfs", epochs=E, batch_size=16, lr=3e-3),
        device=device,
        on_epoch_end=record("RFS / control"),
    )
    ref = evals[f"RFS / control@{E}"]["forget_truth_ratios"]
    dp = train_dp(
        copy.deepcopy(pre),
        tok,
        data.full,
        DPConfig(
            target_epsilon=8.0,
            delta=1e-4,
            epochs=2,
            batch_size=32,
            max_physical_batch_size=32,
            lr=3e-3,
            accountant="rdp",
            simulation_seed=seed,  # a demo: reproducible noise (no privacy claim)
        ),
        device=device,
    )
    d2 = unlearn(
        copy.deepcopy(dp.model),
        tok,
        data,
        UnlearnConfig("dp2u", epochs=E // 2, batch_size=16, lr=3e-3),
        device=device,
        on_epoch_end=record("DP2U"),
    )
    ga = unlearn(
        copy.deepcopy(full),
        tok,
        data,
        UnlearnConfig("ga", epochs=2, batch_size=8, lr=1e-3),
        device=device,
    )
    e_full = evaluate_model(full, tok, data, reference_ratios=ref, device=device)
    e_ga = evaluate_model(ga.model, tok, data, reference_ratios=ref, device=device)

    def fq(ev: dict[str, Any]) -> float:
        return float(ks_2samp(ev["forget_truth_ratios"], ref).pvalue)

    half = evals[f"RFS / control@{E // 2}"]
    d2e = evals[f"DP2U@{E // 2}"]
    metrics = {
        "dp_epsilon": dp.epsilon,
        "dp_author_epsilon": dp.author_epsilon,
        "mu_full": e_full["model_utility"],
        "mu_rfs": evals[f"RFS / control@{E}"]["model_utility"],
        "mu_dp2u": d2e["model_utility"],
        "mu_control": half["model_utility"],
        "mu_ga": e_ga["model_utility"],
        "fq_full": e_full["forget_quality"],
        "fq_dp2u": fq(d2e),
        "fq_control": fq(half),
        "fq_ga": e_ga["forget_quality"],
        "cost_ratio_dp2u_over_rfs": d2.cost.steps / rfs.cost.steps,
    }
    plot = line_plot(
        out_dir / "unlearning_curves.png",
        {
            name: ([float(e) for e in sorted(c)], [c[e][0] for e in sorted(c)])
            for name, c in curves.items()
        },
        title="Model utility vs retain epochs (TOFU-like, tiny GPT-2)",
        xlabel="retain epochs",
        ylabel="model utility",
    )
    summary = (
        f"DP-SGD base ({dp.epsilon:.2f}-DP per example, {dp.author_epsilon:.1f} per author) "
        f"then {E // 2} retain epochs (DP2U) vs RFS with {E}: MU {metrics['mu_dp2u']:.3f} vs "
        f"{metrics['mu_rfs']:.3f}, forget quality {metrics['fq_dp2u']:.2g} (control "
        f"{metrics['fq_control']:.2g}, GA {metrics['fq_ga']:.2g}, full {metrics['fq_full']:.2g}) "
        f"at {metrics['cost_ratio_dp2u_over_rfs']:.2f} of RFS's steps."
    )
    return DemoResult(
        title="DP2Unlearning on TOFU-like data",
        metrics=metrics,
        plots=(plot,),
        summary=summary,
        seconds=time.perf_counter() - t0,
    )
