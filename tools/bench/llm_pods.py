"""Benchmark: PODS (n > m) vs GRPO (n = m), and our GRPO step time vs TRL's GRPOTrainer.

Three parts, all in one run, all against named baselines:

1. ``trl``: seconds per GRPO step of ``lab.llm.pods.GRPOTrainer`` vs ``trl.GRPOTrainer`` on the
   same tiny GPT-2 (built from config), tokenizer, prompts, n, lengths and learning rate, with
   gradient checkpointing off in both and then on in both (TRL defaults it on, we off); the
   target is ours/TRL <= 1.0 in both settings. Skipped with a note when ``trl`` is not installed
   (``pip install 'labworks-llm[bench]'``).
2. ``equal_updates`` (CPU default): after one SFT warm start per seed, GRPO (n = m), PODS
   max-variance (n > m), random and max-reward down-sampling (n > m) run the SAME number of
   updates on the same m rollouts per prompt; mean and standard error over seeds of held-out greedy
   accuracy and exact-answer probability; ratio = PODS / GRPO.
3. ``equal_time`` (``--paper``; meant for a GPU): the same methods with a wall-clock budget per
   method instead of a step count (the paper's comparison), on a larger model and harder task.

    python tools/bench/llm_pods.py                       # CPU: parts 1 and 2
    python tools/bench/llm_pods.py --paper --device cuda # GPU: parts 1-3 at larger sizes

Writes runs/bench/llm_pods.json.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import math
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from lab.core import get_device, set_seed
from lab.llm import tiny_causal_lm
from lab.llm.pods import (
    GRPOConfig,
    GRPOTrainer,
    SFTConfig,
    arithmetic_reward,
    arithmetic_task,
    build_tokenizer,
    evaluate,
    sft_warm_start,
)


def _mean_se(xs: list[float]) -> dict[str, float]:
    m = statistics.fmean(xs)
    se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
    return {"mean": m, "se": se, "values": xs}


# ----------------------------------------------------------------------------- part 1: TRL
def bench_trl(args: argparse.Namespace, dev: torch.device) -> dict[str, Any]:
    """Seconds per step, ours vs TRL, like for like: gradient checkpointing off in both, then on
    in both (TRL's default is on, ours off; comparing the defaults would time different work)."""
    try:
        import datasets  # noqa: F401
        import trl
    except ImportError as exc:
        return {"skipped": f"trl not installed ({exc}); pip install 'labworks-llm[bench]'"}
    out: dict[str, Any] = {"trl_version": trl.__version__, "settings": {}}
    for gc in (False, True):
        res = _trl_pair(args, dev, gradient_checkpointing=gc)
        out["settings"][f"gradient_checkpointing={gc}"] = res
        print(
            f"[trl] gradient_checkpointing={gc} s/step: ours {res['ours_s_per_step']:.3f}, "
            f"TRL {trl.__version__} {res['trl_s_per_step']:.3f}, ours/TRL "
            f"{res['ratio_ours_over_trl']:.2f}"
        )
    out["ours_at_most_trl_time_per_step"] = all(
        r["ratio_ours_over_trl"] <= 1.0 for r in out["settings"].values()
    )
    return out


def _trl_pair(
    args: argparse.Namespace, dev: torch.device, *, gradient_checkpointing: bool
) -> dict[str, Any]:
    import datasets
    import transformers
    import trl

    tok = build_tokenizer()
    data = arithmetic_task(64, difficulty=1, style="word", seed=0)
    n, P, L, steps = args.trl_n, args.trl_prompts, args.trl_len, args.trl_steps
    common = dict(
        learning_rate=1e-4,
        temperature=1.0,
        beta=0.0,
        num_generations=n,
        max_completion_length=L,
        epsilon=0.2,
        loss_type="grpo",
        scale_rewards="group",
        num_iterations=1,
        gradient_checkpointing=gradient_checkpointing,
    )

    set_seed(0)
    ours = GRPOTrainer(
        tiny_causal_lm(tok, n_layer=2, n_embd=64, seed=0, device=dev),
        arithmetic_reward,
        args=GRPOConfig(
            max_steps=steps, prompts_per_step=P, per_device_train_batch_size=P * n, **common
        ),
        train_dataset=data,
        processing_class=tok,
        device=dev,
    )
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        ours.step()
        times.append(time.perf_counter() - t0)
    ours_s = statistics.fmean(times[1:])

    stamps: list[float] = []

    class Clock(transformers.TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            stamps.append(time.perf_counter())

    set_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = trl.GRPOConfig(
            output_dir=tmp,
            per_device_train_batch_size=P * n,
            gradient_accumulation_steps=1,
            max_steps=steps,
            logging_steps=1000,
            save_strategy="no",
            report_to="none",
            use_cpu=dev.type == "cpu",
            bf16=False,
            seed=0,
            **common,
        )
        ds = datasets.Dataset.from_list(
            [{"prompt": e["prompt"], "answer": e["answer"]} for e in data]
        )
        trainer = trl.GRPOTrainer(
            model=tiny_causal_lm(tok, n_layer=2, n_embd=64, seed=0, device=dev),
            reward_funcs=arithmetic_reward,
            args=cfg,
            train_dataset=ds,
            processing_class=tok,
            callbacks=[Clock()],
        )
        trainer.train()
        trl_gc = bool(getattr(trainer.model, "is_gradient_checkpointing", False))  # set in train()
    trl_s = statistics.fmean([b - a for a, b in itertools.pairwise(stamps)])
    return {
        "gradient_checkpointing": gradient_checkpointing,
        "trl_model_checkpointed": trl_gc,
        "ours_model_checkpointed": bool(getattr(ours.model, "is_gradient_checkpointing", False)),
        "n": n,
        "prompts_per_step": P,
        "max_completion_length": L,
        "steps_timed": steps - 1,
        "ours_s_per_step": ours_s,
        "trl_s_per_step": trl_s,
        "ratio_trl_over_ours": trl_s / ours_s,
        "ratio_ours_over_trl": ours_s / trl_s,
    }


# ----------------------------------------------------------------------------- parts 2 and 3
METHODS = {
    "grpo": lambda n, m: {"num_generations": m},
    "pods_max_variance": lambda n, m: {
        "num_generations": n,
        "num_train_generations": m,
        "downsample": "max_variance",
    },
    "random": lambda n, m: {
        "num_generations": n,
        "num_train_generations": m,
        "downsample": "random",
    },
    "max_reward": lambda n, m: {
        "num_generations": n,
        "num_train_generations": m,
        "downsample": "max_reward",
    },
}


def run_methods(
    args: argparse.Namespace, dev: torch.device, *, budget_s: float | None
) -> dict[str, Any]:
    per_method: dict[str, dict[str, list[float]]] = {
        k: {"accuracy": [], "answer_prob": [], "steps": [], "seconds": [], "zero_std": []}
        for k in METHODS
    }
    start: dict[str, list[float]] = {"accuracy": [], "answer_prob": []}
    for seed in range(args.seeds):
        set_seed(seed)
        train = arithmetic_task(2000, difficulty=args.difficulty, style=args.style, seed=seed)
        held = arithmetic_task(
            args.eval_size, difficulty=args.difficulty, style=args.style, seed=10_000 + seed
        )
        tok = build_tokenizer()
        base = tiny_causal_lm(
            tok, n_layer=args.n_layer, n_embd=args.n_embd, n_head=args.n_head, seed=seed, device=dev
        )
        sft_warm_start(
            base,
            tok,
            train,
            SFTConfig(steps=args.sft_steps, batch_size=32, learning_rate=3e-3, seed=seed),
            show_progress=False,
        )
        ev0 = evaluate(
            base, tok, held, arithmetic_reward, max_completion_length=args.max_completion_length
        )
        start["accuracy"].append(ev0["accuracy"])
        start["answer_prob"].append(ev0["answer_prob"])
        for name, fields in METHODS.items():
            cfg = GRPOConfig(
                max_steps=args.steps if budget_s is None else 10**9,
                prompts_per_step=args.prompts,
                max_completion_length=args.max_completion_length,
                temperature=1.0,
                learning_rate=args.lr,
                seed=seed,
                **fields(args.n, args.m),
            )
            set_seed(seed)
            tr = GRPOTrainer(
                copy.deepcopy(base),
                arithmetic_reward,
                args=cfg,
                train_dataset=train,
                processing_class=tok,
                device=dev,
            )
            t0 = time.perf_counter()
            hist = []
            while (budget_s is None and tr.step_count < args.steps) or (
                budget_s is not None and time.perf_counter() - t0 < budget_s
            ):
                hist.append(tr.step())
            sec = time.perf_counter() - t0
            ev = evaluate(
                tr.model,
                tok,
                held,
                arithmetic_reward,
                max_completion_length=args.max_completion_length,
            )
            d = per_method[name]
            d["accuracy"].append(ev["accuracy"])
            d["answer_prob"].append(ev["answer_prob"])
            d["steps"].append(len(hist))
            d["seconds"].append(sec)
            d["zero_std"].append(statistics.fmean(h["frac_reward_zero_std_kept"] for h in hist))
            print(
                f"[seed {seed}] {name:18s} steps {len(hist):4d} {sec:7.1f}s acc {ev['accuracy']:.3f} "
                f"p(answer) {ev['answer_prob']:.3f} (start {ev0['answer_prob']:.3f})"
            )
    out: dict[str, Any] = {"start": {k: _mean_se(v) for k, v in start.items()}}
    for name, d in per_method.items():
        out[name] = {k: _mean_se(v) for k, v in d.items()}
    g, p = out["grpo"], out["pods_max_variance"]
    out["ratio_pods_over_grpo"] = {
        k: p[k]["mean"] / g[k]["mean"] if g[k]["mean"] else float("nan")
        for k in ("accuracy", "answer_prob")
    }
    wins = sum(
        a > b
        for a, b in zip(
            p["answer_prob"]["values"], out["random"]["answer_prob"]["values"], strict=False
        )
    )
    out["pods_beats_random_seeds"] = f"{wins}/{args.seeds}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--paper", action="store_true", help="GPU sizes and the equal-wall-clock comparison"
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=40, help="updates per method (equal-updates part)")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--m", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=8, help="prompts per step")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--difficulty", type=int, default=1)
    ap.add_argument("--style", default="equation", choices=["equation", "word"])
    ap.add_argument("--max-completion-length", type=int, default=4)
    ap.add_argument("--eval-size", type=int, default=200)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-embd", type=int, default=64)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--sft-steps", type=int, default=150)
    ap.add_argument(
        "--budget-seconds", type=float, default=60.0, help="wall-clock per method (--paper)"
    )
    ap.add_argument("--trl-n", type=int, default=8)
    ap.add_argument("--trl-prompts", type=int, default=4)
    ap.add_argument("--trl-len", type=int, default=16)
    ap.add_argument("--trl-steps", type=int, default=6)
    ap.add_argument("--skip-trl", action="store_true")
    ap.add_argument("--trl-only", action="store_true", help="part 1 only")
    ap.add_argument("--out", type=Path, default=Path("runs/bench/llm_pods.json"))
    args = ap.parse_args()
    if args.paper:  # GPU sizes: a wider model, harder word problems, the paper's n=64 -> m=16
        args.n, args.m, args.prompts = 64, 16, 16
        args.n_layer, args.n_embd, args.n_head = 4, 256, 8
        args.difficulty, args.style, args.max_completion_length = 2, "word", 6
        args.sft_steps, args.steps, args.lr = 400, 100, 1e-4
    dev = get_device(args.device)
    if dev.type == "cpu":
        torch.set_num_threads(1)
    t0 = time.perf_counter()
    res: dict[str, Any] = {
        "benchmark": "llm_pods",
        "device": str(dev),
        "args": vars(args) | {"out": str(args.out)},
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    res["trl"] = {"skipped": "--skip-trl"} if args.skip_trl else bench_trl(args, dev)
    if args.trl_only:
        res["seconds"] = time.perf_counter() - t0
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2, default=str) + "\n")
        print(f"wrote {args.out} ({res['seconds']:.0f}s)")
        return
    res["equal_updates"] = run_methods(args, dev, budget_s=None)
    eu = res["equal_updates"]
    print(
        "[equal updates] "
        + ", ".join(
            f"{k}: p(answer) {eu[k]['answer_prob']['mean']:.3f}±{eu[k]['answer_prob']['se']:.3f} "
            f"acc {eu[k]['accuracy']['mean']:.3f}±{eu[k]['accuracy']['se']:.3f}"
            for k in METHODS
        )
    )
    print(
        f"[equal updates] ratio PODS/GRPO {eu['ratio_pods_over_grpo']}; PODS > random in {eu['pods_beats_random_seeds']} seeds"
    )
    if args.paper:
        res["equal_time"] = run_methods(args, dev, budget_s=args.budget_seconds)
        et = res["equal_time"]
        print(
            "[equal time] "
            + ", ".join(
                f"{k}: acc {et[k]['accuracy']['mean']:.3f}±{et[k]['accuracy']['se']:.3f} in {et[k]['steps']['mean']:.0f} steps"
                for k in METHODS
            )
        )
    res["seconds"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(f"wrote {args.out} ({res['seconds']:.0f}s)")


if __name__ == "__main__":
    main()
