"""Benchmark: DP2Unlearning vs retrain-from-scratch vs approximate unlearning (TOFU-like data).

Stages, all in one run on the generated TOFU-like data (forget10-sized split):
pretrain (world facts + real authors) -> full fine-tune -> RFS with two seeds (the second is the
noise floor of forget quality) -> DP bases (DP-SGD at two epsilons, DP-MLM at one) -> DP2U at
1..E retain epochs from each base -> the control "pretrained + the same retain epochs" (the RFS
run evaluated after each of its first E epochs) -> GA, GD, KL, NPO from the full model.

It prints and writes (runs/bench/privacy_unlearning.json) one table: model utility, forget
quality (KS p-value against RFS seed 0), cost (optimizer steps, tokens, seconds) and its ratio
to RFS's, example- and author-level epsilon; plus the DP-SGD / non-private time per token.

    python tools/bench/privacy_unlearning.py            # CPU sizes
    python tools/bench/privacy_unlearning.py --paper    # GPU sizes (wider model, more epochs)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from lab.core import get_device, set_seed
from lab.privacy.unlearning import (
    CausalLMConfig,
    DPConfig,
    DPMLMConfig,
    DPMLMRewriter,
    MLMTrainConfig,
    TrainConfig,
    UnlearnConfig,
    build_word_tokenizer,
    causal_lm_from_config,
    evaluate_model,
    finetune,
    make_tofu_like,
    sanitize_tofu,
    train_dp,
    train_small_mlm,
    unlearn,
)


def sizes(paper: bool, quick: bool = False) -> dict[str, Any]:
    if quick:  # a smoke test of the pipeline, not a benchmark
        return dict(
            n_embd=32,
            n_layer=1,
            n_head=2,
            pre_epochs=2,
            full_epochs=2,
            rfs_epochs=2,
            dp2u_epochs=1,
            dp_epochs=1,
            approx_epochs=1,
            mlm_steps=5,
            batch=32,
            dp_batch=32,
            lr=2e-3,
        )
    if paper:
        return dict(
            n_embd=256,
            n_layer=4,
            n_head=8,
            pre_epochs=60,
            full_epochs=20,
            rfs_epochs=20,
            dp2u_epochs=10,
            dp_epochs=10,
            approx_epochs=5,
            mlm_steps=2000,
            batch=32,
            dp_batch=128,
            lr=1e-3,
        )
    return dict(
        n_embd=128,
        n_layer=2,
        n_head=4,
        pre_epochs=30,
        full_epochs=10,
        rfs_epochs=10,
        dp2u_epochs=5,
        dp_epochs=4,
        approx_epochs=3,
        mlm_steps=300,
        batch=32,
        dp_batch=64,
        lr=2e-3,
    )


def step_time_ratio(
    tok: Any,
    data: Any,
    mcfg: CausalLMConfig,
    dev: Any,
    *,
    batch: int,
    n: int = 320,
    rounds: int = 3,
) -> dict[str, float]:
    """DP-SGD vs non-private time per token, interleaved rounds on the same records.

    Alternating short DP-SGD and non-private epochs (same model size, same logical batch,
    physical = logical) cancels most of the drift of a shared machine's load; the medians of
    seconds per token are compared. Setup (noise calibration) is not timed.
    """
    import statistics

    items = data.full[:n]
    dp_t, np_t = [], []
    for r in range(rounds):
        m = causal_lm_from_config(tok, mcfg, device=dev)
        res = train_dp(
            m,
            tok,
            items,
            DPConfig(
                target_epsilon=8.0,
                delta=1e-4,
                epochs=1,
                batch_size=batch,
                max_physical_batch_size=4 * batch,
                simulation_seed=r,
            ),
            device=dev,
        )
        dp_t.append(res.cost.seconds / res.cost.tokens)
        m = causal_lm_from_config(tok, mcfg, device=dev)
        _, c = finetune(m, tok, items, TrainConfig(epochs=1, batch_size=batch, seed=r), device=dev)
        np_t.append(c.seconds / c.tokens)
    return {
        "dp_seconds_per_token": statistics.median(dp_t),
        "nonprivate_seconds_per_token": statistics.median(np_t),
        "dp_over_nonprivate": statistics.median(dp_t) / statistics.median(np_t),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--paper", action="store_true", help="GPU sizes")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (not a benchmark)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-authors", type=int, default=100)
    ap.add_argument("--dp-epsilons", type=float, nargs=2, default=(1.0, 8.0))
    ap.add_argument("--mlm-epsilon", type=float, default=10.0, help="DP-MLM epsilon per token")
    ap.add_argument("--out", default="runs/bench/privacy_unlearning.json")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--timing-only",
        action="store_true",
        help="only the interleaved DP-SGD / non-private time-per-token comparison",
    )
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    S = sizes(args.paper, args.quick)
    dev = get_device(args.device)
    set_seed(args.seed)
    t_all = time.perf_counter()
    data = make_tofu_like(n_authors=args.n_authors, seed=args.seed)
    tok = build_word_tokenizer(data.texts())
    n_full = len(data.full)
    delta = 1.0 / (10 * n_full) if not args.paper else 1e-6
    mcfg = CausalLMConfig(
        n_layer=S["n_layer"], n_embd=S["n_embd"], n_head=S["n_head"], seed=args.seed
    )

    def tc(epochs: int, seed: int = 0) -> TrainConfig:
        return TrainConfig(epochs=epochs, batch_size=S["batch"], lr=S["lr"], seed=seed)

    timing = step_time_ratio(tok, data, mcfg, dev, batch=S["batch"])
    print("DP-SGD / non-private time per token (interleaved):", timing, flush=True)
    if args.timing_only:
        out = Path(args.out).with_name("privacy_unlearning_timing.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps({"timing": timing, "sizes": S, "threads": args.threads}, indent=2) + "\n"
        )
        print(f"wrote {out}")
        return 0
    rows: list[dict[str, Any]] = []
    log = lambda *a: print(f"[{time.perf_counter() - t_all:7.1f}s]", *a, flush=True)  # noqa: E731

    def evaluate(model: Any, ref: Any = None) -> dict[str, Any]:
        return evaluate_model(model, tok, data, reference_ratios=ref, device=dev)

    # 1. pretrain
    pre = causal_lm_from_config(tok, mcfg, device=dev)
    _, c_pre = finetune(pre, tok, data.pretrain, tc(S["pre_epochs"]), device=dev)
    log("pretrained", c_pre)
    # 2. full fine-tune
    full, c_full = finetune(copy.deepcopy(pre), tok, data.full, tc(S["full_epochs"]), device=dev)
    log("full", c_full)
    # 3. RFS, two seeds; the first evaluated after each epoch (the control rows)
    control: dict[int, dict[str, Any]] = {}

    def rfs_epoch(e: int, model: Any, cost: Any) -> None:
        if e <= S["dp2u_epochs"]:
            control[e] = {"eval": evaluate(model), "cost": cost}

    r0 = unlearn(
        copy.deepcopy(pre),
        tok,
        data,
        UnlearnConfig("rfs", S["rfs_epochs"], S["batch"], S["lr"], seed=0),
        device=dev,
        on_epoch_end=rfs_epoch,
    )
    e_rfs0 = evaluate(r0.model)
    ref = e_rfs0["forget_truth_ratios"]
    r1 = unlearn(
        copy.deepcopy(pre),
        tok,
        data,
        UnlearnConfig("rfs", S["rfs_epochs"], S["batch"], S["lr"], seed=1),
        device=dev,
    )
    rfs_cost = r0.cost
    log("rfs", rfs_cost)

    def row(
        name: str, ev: dict[str, Any], cost: Any = None, epochs: int | None = None, **kw: Any
    ) -> None:
        r = {
            "method": name,
            "epochs": epochs,
            "model_utility": ev["model_utility"],
            "forget_quality": ev.get("forget_quality"),
            "forget_rouge_l": ev["forget_rouge_l"],
            "forget_probability": ev["forget_probability"],
        }
        if cost is not None:
            ratio = cost.ratio(rfs_cost)
            r.update(
                cost_steps=cost.steps,
                cost_tokens=cost.tokens,
                cost_seconds=round(cost.seconds, 2),
                cost_ratio_steps=ratio["steps"],
                cost_ratio_seconds=ratio["seconds"],
            )
        r.update(kw)
        rows.append(r)
        log(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}))

    row("pretrained", evaluate(pre, ref))
    row("full", evaluate(full, ref))
    row("RFS (seed 0)", evaluate(r0.model, ref), rfs_cost, S["rfs_epochs"])
    row("RFS (seed 1, noise floor)", evaluate(r1.model, ref), r1.cost, S["rfs_epochs"])
    from scipy.stats import ks_2samp

    for e, v in sorted(control.items()):
        ev = dict(v["eval"])
        ev["forget_quality"] = float(ks_2samp(ev["forget_truth_ratios"], ref).pvalue)
        row("control: pretrained + retain", ev, v["cost"], e)
    # 4. DP bases
    bases: dict[str, tuple[Any, dict[str, Any]]] = {}
    dp_time_per_token = []
    for eps in args.dp_epsilons:
        res = train_dp(
            copy.deepcopy(pre),
            tok,
            data.full,
            DPConfig(
                target_epsilon=eps,
                delta=delta,
                epochs=S["dp_epochs"],
                batch_size=S["dp_batch"],
                max_physical_batch_size=S["dp_batch"],
                lr=S["lr"],
                simulation_seed=args.seed,  # a benchmark: reproducible noise
            ),
            device=dev,
        )
        dp_time_per_token.append(res.cost.seconds / max(res.cost.tokens, 1))
        priv = {
            "epsilon": res.epsilon,
            "delta": res.delta,
            "author_epsilon": res.author_epsilon,
            "author_delta": res.author_delta,
            "noise_multiplier": res.noise_multiplier,
        }
        bases[f"DP-SGD eps={eps:g}"] = (res.model, priv)
        row(f"DP-SGD base eps={eps:g}", evaluate(res.model, ref), res.cost, S["dp_epochs"], **priv)
    mlm = train_small_mlm(
        [t for q in data.pretrain for t in (q.question, q.answer)],
        tok,
        MLMTrainConfig(steps=S["mlm_steps"], seed=args.seed),
        device=dev,
    )
    rw = DPMLMRewriter(
        mlm,
        tok,
        DPMLMConfig(epsilon_per_token=args.mlm_epsilon, simulation_seed=args.seed),
        device=dev,
    )
    t0 = time.perf_counter()
    sanitized, mlm_rep = sanitize_tofu(data, rw)
    log(
        "dp-mlm rewrite",
        round(time.perf_counter() - t0, 1),
        "s",
        mlm_rep,
        "example:",
        data.forget[0].answer,
        "->",
        sanitized.forget[0].answer,
    )
    mlm_base, c_mlm = finetune(
        copy.deepcopy(pre), tok, sanitized.full, tc(S["full_epochs"]), device=dev
    )
    priv = {
        "epsilon": mlm_rep["record_epsilon_max"],
        "delta": 0.0,
        "author_epsilon": mlm_rep["author_epsilon"],
        "author_delta": 0.0,
    }
    bases[f"DP-MLM eps/token={args.mlm_epsilon:g}"] = (mlm_base, priv)
    row(
        f"DP-MLM base eps/token={args.mlm_epsilon:g}",
        evaluate(mlm_base, ref),
        c_mlm,
        S["full_epochs"],
        **priv,
    )
    # 5. DP2U from each base
    for name, (base, priv) in bases.items():

        def ep(e: int, model: Any, cost: Any, name: str = name, priv: dict = priv) -> None:
            row(f"DP2U ({name})", evaluate(model, ref), cost, e, **priv)

        unlearn(
            copy.deepcopy(base),
            tok,
            data,
            UnlearnConfig("dp2u", S["dp2u_epochs"], S["batch"], S["lr"]),
            device=dev,
            on_epoch_end=ep,
        )
    # 6. approximate baselines
    for meth in ("ga", "gd", "kl", "npo"):
        res = unlearn(
            copy.deepcopy(full),
            tok,
            data,
            UnlearnConfig(meth, S["approx_epochs"], S["batch"], S["lr"] / 2),
            device=dev,
        )
        row(meth.upper(), evaluate(res.model, ref), res.cost, S["approx_epochs"])
    np_time_per_token = c_full.seconds / c_full.tokens
    summary = {
        "dp_sgd_over_nonprivate_time_per_token_interleaved": timing["dp_over_nonprivate"],
        "dp_sgd_over_nonprivate_time_per_token_main_runs": [
            t / np_time_per_token for t in dp_time_per_token
        ],
        "n_full": n_full,
        "n_forget": len(data.forget),
        "n_retain": len(data.retain),
        "group_size": data.max_examples_per_author(),
        "delta": delta,
        "seconds_total": time.perf_counter() - t_all,
        "sizes": S,
        "device": str(dev),
        "threads": args.threads,
        "command": "python tools/bench/privacy_unlearning.py" + (" --paper" if args.paper else ""),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2, default=str) + "\n")
    print()
    print(
        "| method | epochs | MU | FQ | forget ROUGE-L | steps | seconds | cost/RFS (steps) | eps (example) | eps (author) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        fq = r["forget_quality"]
        print(
            f"| {r['method']} | {r['epochs'] or ''} | {r['model_utility']:.3f} | "
            f"{'' if fq is None else f'{fq:.2e}'} | {r['forget_rouge_l']:.3f} | {r.get('cost_steps', '')} | "
            f"{r.get('cost_seconds', '')} | "
            f"{'' if 'cost_ratio_steps' not in r else format(r['cost_ratio_steps'], '.2f')} | "
            f"{r.get('epsilon', '') if not isinstance(r.get('epsilon'), float) else round(r['epsilon'], 3)} | "
            f"{r.get('author_epsilon', '') if not isinstance(r.get('author_epsilon'), float) else round(r['author_epsilon'], 2)} |"
        )
    print()
    print(json.dumps(summary, indent=2, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
