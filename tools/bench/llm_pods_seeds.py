"""Benchmark: PODS vs GRPO over many seeds, long enough for GRPO to improve on its start (#23).

Baseline in the same run: GRPO with n = m (every sampled rollout trained). PODS samples n = 4m
rollouts per prompt and trains on the max-variance m (the paper's ratio: n = 64 -> m = 16,
here n = 32 -> m = 8 by default; ``--ratios`` adds more n/m pairs). Per seed: one SFT warm start
of a tiny GPT-2 on single-digit arithmetic, then every method runs ``--steps`` updates from that
same start, evaluated (greedy accuracy and exact-answer probability on held-out problems) every
``--eval-every`` steps, with the cumulative rollout (generation + reward) seconds and update
seconds at each evaluation, so that

- equal-updates results are the last evaluation of every method;
- equal-wall-clock curves are accuracy against cumulative seconds, measured on this CPU, and,
  because rollout and update time are kept apart, can be re-projected for hardware where
  generation is relatively cheaper (``--project-gen-speedup``: divide rollout seconds by it);
- claims are paired differences over seeds (PODS - GRPO, GRPO - start): mean, standard error,
  two-sided paired t-test p and exact sign-flip permutation p. A claim is reported as held only
  when its paired difference is significant at ``--alpha`` (default 0.05, t-test).

Long and resumable: every (seed, method) is a run folder under ``--out`` with checkpoints every
``--eval-every`` steps and a ``result.json`` when done; a rerun of the same command continues
where it stopped (finished pairs are read back, unfinished ones resume from their checkpoint).
The summary is written after every finished pair, so an interrupted job still reports the seeds
it finished::

    OMP_NUM_THREADS=1 nohup nice -n 10 python tools/bench/llm_pods_seeds.py > log 2>&1 &
    python tools/bench/llm_pods_seeds.py --summarise-only       # tables from what finished

Writes runs/bench/llm_pods_seeds/summary.json (and per-run folders beside it).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import math
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from lab.core import RunDir, get_device, set_seed
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

METRICS = ("accuracy", "answer_prob")


# ----------------------------------------------------------------------------- statistics
def paired(diffs: list[float], alternative: str = "two-sided") -> dict[str, Any]:
    """Mean, SE, paired t-test p and exact sign-flip permutation p of per-seed differences.

    ``alternative``: ``"two-sided"``, ``"greater"`` (mean > 0) or ``"less"`` (mean < 0).
    The sign-flip p enumerates all 2^n sign patterns (n <= 16; else 100,000 sampled ones).
    """
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative={alternative!r}")
    n = len(diffs)
    out: dict[str, Any] = {"n": n, "values": diffs, "alternative": alternative}
    if n == 0:
        return out
    mean = statistics.fmean(diffs)
    out["mean"] = mean
    if n < 2:
        return out
    sd = statistics.stdev(diffs)
    se = sd / math.sqrt(n)
    out["se"] = se
    from scipy import stats

    t = mean / se if se > 0 else (math.copysign(math.inf, mean) if mean else 0.0)
    out["t"] = t
    if alternative == "two-sided":
        out["p_t"] = float(2 * stats.t.sf(abs(t), n - 1)) if se > 0 else float(mean == 0)
    else:
        tt = t if alternative == "greater" else -t
        out["p_t"] = float(stats.t.sf(tt, n - 1))

    def stat(x: float) -> float:
        return abs(x) if alternative == "two-sided" else (x if alternative == "greater" else -x)

    obs = stat(sum(diffs))
    if n <= 16:
        patterns: Any = itertools.product((1, -1), repeat=n)
        total = 2**n
    else:
        g = torch.Generator().manual_seed(0)
        total = 100_000
        patterns = ((torch.randint(0, 2, (n,), generator=g) * 2 - 1).tolist() for _ in range(total))
    hits = sum(
        stat(sum(sg * d for sg, d in zip(signs, diffs, strict=True))) >= obs - 1e-12
        for signs in patterns
    )
    out["p_signflip"] = hits / total
    return out


# ----------------------------------------------------------------------------- one seed
def methods(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Method name -> GRPOConfig fields. GRPO n = m; PODS and random down-sampling n = ratio*m."""
    out: dict[str, dict[str, Any]] = {"grpo": {"num_generations": args.m}}
    for n in args.ratios:
        out[f"pods_{n}to{args.m}"] = {
            "num_generations": n,
            "num_train_generations": args.m,
            "downsample": "max_variance",
        }
        if args.random:
            out[f"random_{n}to{args.m}"] = {
                "num_generations": n,
                "num_train_generations": args.m,
                "downsample": "random",
            }
    return out


def _task(args: argparse.Namespace, seed: int) -> tuple[list[Any], list[Any]]:
    train = arithmetic_task(2000, difficulty=args.difficulty, style=args.style, seed=seed)
    held = arithmetic_task(
        args.eval_size, difficulty=args.difficulty, style=args.style, seed=10_000 + seed
    )
    return train, held


def warm_start(args: argparse.Namespace, seed: int, dev: torch.device) -> tuple[Any, Any, dict]:
    """The seed's SFT start (cached in ``<out>/seed_<s>/start.pt``) and its evaluation."""
    d = args.out / f"seed_{seed}"
    d.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    model = tiny_causal_lm(
        tok, n_layer=args.n_layer, n_embd=args.n_embd, n_head=args.n_head, seed=seed, device=dev
    )
    path, ev_path = d / "start.pt", d / "start.json"
    if path.is_file() and ev_path.is_file():
        model.load_state_dict(torch.load(path, map_location=dev, weights_only=True))
        return model, tok, json.loads(ev_path.read_text())
    train, held = _task(args, seed)
    set_seed(seed)
    sft_warm_start(
        model,
        tok,
        train,
        SFTConfig(steps=args.sft_steps, batch_size=32, learning_rate=3e-3, seed=seed),
        show_progress=False,
    )
    ev = evaluate(model, tok, held, arithmetic_reward, max_completion_length=args.max_len)
    torch.save(model.state_dict(), path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    ev_path.write_text(json.dumps(ev) + "\n")
    return model, tok, ev


def run_method(
    args: argparse.Namespace,
    seed: int,
    name: str,
    fields: dict[str, Any],
    base: Any,
    tok: Any,
    start: dict[str, Any],
    dev: torch.device,
) -> dict[str, Any]:
    """Train one method from the seed's start (resuming its checkpoint); evaluation curve."""
    folder = args.out / f"seed_{seed}" / name
    done = folder / "result.json"
    if done.is_file():
        result: dict[str, Any] = json.loads(done.read_text())
        return result
    resume = (folder / "config.json").is_file()
    cfg = GRPOConfig(
        max_steps=args.steps,
        prompts_per_step=args.prompts,
        max_completion_length=args.max_len,
        temperature=1.0,
        learning_rate=args.lr,
        per_device_train_batch_size=args.prompts * args.m,
        save_steps=args.eval_every,
        seed=seed,
        **fields,
    )
    if resume:
        run = RunDir.open(folder)
    else:
        folder.mkdir(parents=True)
        run = RunDir(folder)
        run.plots.mkdir()
        run.checkpoints.mkdir()
        run.metrics_file.touch()
        run.save_config(cfg)
    train, held = _task(args, seed)
    set_seed(seed)

    def on_step(met: dict[str, Any]) -> None:
        if met["step"] % args.eval_every == 0 or met["step"] == args.steps:
            ev = evaluate(
                tr.model, tok, held, arithmetic_reward, max_completion_length=args.max_len
            )
            run.log({"step": met["step"], "eval": ev})

    tr = GRPOTrainer(
        copy.deepcopy(base),
        arithmetic_reward,
        args=cfg,
        train_dataset=train,
        processing_class=tok,
        device=dev,
        run_dir=run,
        callbacks=[on_step],
    )
    tr.train(resume_from="latest" if resume and run.latest_checkpoint() else None)
    rows = list(run.metrics())
    steps = [r for r in rows if "reward" in r]
    evals = {r["step"]: r["eval"] for r in rows if "eval" in r}
    gen = upd = 0.0
    curve = [{"step": 0, "gen_seconds": 0.0, "update_seconds": 0.0, **start}]
    for r in steps:  # cumulative seconds at each evaluated step
        gen += r["gen_seconds"]
        upd += r["update_seconds"]
        if r["step"] in evals:
            curve.append(
                {"step": r["step"], "gen_seconds": gen, "update_seconds": upd, **evals[r["step"]]}
            )
    result = {
        "seed": seed,
        "method": name,
        "config": fields,
        "curve": curve,
        "final": curve[-1],
        "frac_zero_std_kept": statistics.fmean(r["frac_reward_zero_std_kept"] for r in steps),
        "gen_seconds_per_step": gen / len(steps),
        "update_seconds_per_step": upd / len(steps),
    }
    done.write_text(json.dumps(result, indent=2) + "\n")
    for ck in run.checkpoints.glob("step_*.pt"):  # finished: the curve is all we keep
        ck.unlink()
    return result


# ----------------------------------------------------------------------------- summary
def _at_time(curve: list[dict[str, Any]], budget: float, speedup: float, key: str) -> float:
    """The metric of the last evaluation reached within ``budget`` seconds (rollout seconds
    divided by ``speedup``): what an equal-wall-clock run would have had at that point."""
    best = curve[0][key]
    for pt in curve:
        if pt["gen_seconds"] / speedup + pt["update_seconds"] <= budget + 1e-9:
            best = pt[key]
    return float(best)


def summarise(args: argparse.Namespace, results: dict[int, dict[str, dict]]) -> dict[str, Any]:
    names = list(methods(args))
    complete = sorted(s for s, r in results.items() if all(n in r for n in names))
    out: dict[str, Any] = {"seeds_complete": complete, "alpha": args.alpha, "methods": {}}
    for n in names:
        finals = [results[s][n]["final"] for s in complete]
        out["methods"][n] = {
            k: {
                "mean": statistics.fmean(f[k] for f in finals) if finals else None,
                "values": [f[k] for f in finals],
            }
            for k in METRICS
        } | {
            "gen_seconds_per_step": statistics.fmean(
                results[s][n]["gen_seconds_per_step"] for s in complete
            )
            if complete
            else None,
            "update_seconds_per_step": statistics.fmean(
                results[s][n]["update_seconds_per_step"] for s in complete
            )
            if complete
            else None,
            "frac_zero_std_kept": statistics.fmean(
                results[s][n]["frac_zero_std_kept"] for s in complete
            )
            if complete
            else None,
        }
    start = {k: [results[s]["grpo"]["curve"][0][k] for s in complete] for k in METRICS}
    out["start"] = {k: statistics.fmean(v) if v else None for k, v in start.items()}
    claims: dict[str, Any] = {}
    for k in METRICS:
        g = [results[s]["grpo"]["final"][k] for s in complete]
        claims[f"grpo_improves_on_start/{k}"] = paired(
            [a - b for a, b in zip(g, start[k], strict=True)]
        )
        for n in names:
            if n == "grpo":
                continue
            p = [results[s][n]["final"][k] for s in complete]
            claims[f"{n}_minus_grpo/equal_updates/{k}"] = paired(
                [a - b for a, b in zip(p, g, strict=True)]
            )
            for speed in (1.0, *args.project_gen_speedup):
                # equal wall-clock: both at GRPO's total (projected) time of the same seed
                diffs = []
                for s in complete:
                    cg, cp = results[s]["grpo"]["curve"], results[s][n]["curve"]
                    budget = cg[-1]["gen_seconds"] / speed + cg[-1]["update_seconds"]
                    diffs.append(_at_time(cp, budget, speed, k) - _at_time(cg, budget, speed, k))
                tag = "measured" if speed == 1.0 else f"gen_{speed:g}x_faster"
                claims[f"{n}_minus_grpo/equal_time_{tag}/{k}"] = paired(diffs)
    for c in claims.values():
        c["held"] = bool(c.get("p_t", 1.0) < args.alpha and c.get("mean", 0.0) > 0)
    out["claims"] = claims
    return out


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"seeds complete: {len(summary['seeds_complete'])} {summary['seeds_complete']}",
        "",
        "| method | accuracy | exact-answer prob. | rollout s/step | update s/step | "
        "zero-variance groups kept |",
        "|---|---|---|---|---|---|",
        f"| SFT start | {summary['start']['accuracy'] or float('nan'):.3f} | "
        f"{summary['start']['answer_prob'] or float('nan'):.3f} | – | – | – |",
    ]
    for n, m in summary["methods"].items():
        if m["accuracy"]["mean"] is None:
            continue
        lines.append(
            f"| {n} | {m['accuracy']['mean']:.3f} | {m['answer_prob']['mean']:.3f} | "
            f"{m['gen_seconds_per_step']:.3f} | {m['update_seconds_per_step']:.3f} | "
            f"{m['frac_zero_std_kept']:.2f} |"
        )
    lines += [
        "",
        "| paired difference | n | mean | SE | p (t) | p (sign-flip) | held |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, c in summary["claims"].items():
        if c["n"] < 2:
            continue
        lines.append(
            f"| {k} | {c['n']} | {c['mean']:+.4f} | {c['se']:.4f} | {c['p_t']:.3f} | "
            f"{c['p_signflip']:.3f} | {'yes' if c['held'] else 'no'} |"
        )
    return "\n".join(lines)


def load_results(args: argparse.Namespace) -> dict[int, dict[str, dict]]:
    results: dict[int, dict[str, dict]] = {}
    for seed in args.seeds:
        for n in methods(args):
            p = args.out / f"seed_{seed}" / n / "result.json"
            if p.is_file():
                results.setdefault(seed, {})[n] = json.loads(p.read_text())
    return results


def write_summary(args: argparse.Namespace, results: dict[int, dict[str, dict]]) -> dict:
    summary = summarise(args, results)
    summary |= {
        "benchmark": "llm_pods_seeds",
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    path = args.out / "summary.json"
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--steps", type=int, default=500, help="updates per method")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--m", type=int, default=8, help="rollouts trained per prompt")
    ap.add_argument(
        "--ratios",
        type=int,
        nargs="+",
        default=[32],
        help="PODS n values (n/m = 4 is the paper's 64 -> 16)",
    )
    ap.add_argument("--random", action="store_true", help="also random down-sampling")
    ap.add_argument("--prompts", type=int, default=8, help="prompts per step")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--difficulty", type=int, default=1)
    ap.add_argument("--style", default="equation", choices=["equation", "word"])
    ap.add_argument("--max-len", type=int, default=4, help="max completion tokens")
    ap.add_argument("--eval-size", type=int, default=200)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-embd", type=int, default=64)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--sft-steps", type=int, default=150)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument(
        "--project-gen-speedup",
        type=float,
        nargs="*",
        default=[4.0],
        help="also report equal-wall-clock with rollout seconds divided by these factors",
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=Path("runs/bench/llm_pods_seeds"))
    ap.add_argument("--summarise-only", action="store_true")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.summarise_only:
        print(markdown(write_summary(args, load_results(args))))
        return 0
    dev = get_device(args.device)
    if dev.type == "cpu":
        torch.set_num_threads(1)
    results = load_results(args)
    for seed in args.seeds:
        base = tok = start = None
        ran = False
        for name, fields in methods(args).items():
            if name in results.get(seed, {}):
                continue
            if base is None:
                base, tok, start = warm_start(args, seed, dev)
            t0 = time.perf_counter()
            res = run_method(args, seed, name, fields, base, tok, start, dev)
            results.setdefault(seed, {})[name] = res
            f = res["final"]
            print(
                f"[seed {seed}] {name:14s} {time.perf_counter() - t0:7.1f}s "
                f"acc {f['accuracy']:.3f} p(answer) {f['answer_prob']:.3f} "
                f"(start {res['curve'][0]['accuracy']:.3f} / {res['curve'][0]['answer_prob']:.3f})",
                flush=True,
            )
            write_summary(args, results)
            ran = True
        if ran:
            print(markdown(write_summary(args, results)), flush=True)
    print(markdown(write_summary(args, results)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
