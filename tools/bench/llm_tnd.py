"""Benchmark: Trial-and-Demonstration (TnD) word learning against its ablations, several seeds.

Per seed one corpus (the generated child-directed corpus), one teacher (log-spaced checkpoints)
and one age predictor are shared by the student arms, which all draw the same corpus batches
(equal corpus tokens and corpus steps):

- ``tnd``: trials + demonstrations (PPO + CLM every ``clm_steps_per_interaction`` corpus steps);
- ``clm``: causal LM on the corpus only (the NAMED baseline of every ratio);
- ``trials``: trials only; ``demonstrations``: demonstrations only;
- ``tnd_masked``: TnD with a teacher that never produces ``masked_words`` content words;
- ``tnd_small``: TnD with a narrower student (``small_n_embd``), compared with the ``clm``
  student of the default (larger) size.

Reported per arm (mean +- std over seeds): fraction of the tracked words learned by fixed
steps, mean log10 age of acquisition over the words learned by both arms of a comparison
(paired per seed), the ratio of fractions learned against ``clm``, seconds. Claims of the
paper, each marked held / not held by a stated test (one-sided paired t-test over >= 5 seeds
at alpha = 0.05 in the paper's direction, exact sign-flip p beside it; fewer seeds: "not
tested"): TnD accelerates word acquisition (equal
and smaller student); both trials and demonstrations matter; the teacher's word choice shapes
learning (masked words, difference-in-differences of log10 AoA); practice makes perfect
(Spearman correlation of a word's frequency in the student's trials with its AoA).

CPU defaults (about 5 minutes per seed on a contended 2-core machine)::

    python tools/bench/llm_tnd.py --seeds 0 1 2 3 4

Each seed's results are cached in ``runs/bench/llm_tnd/seed_<s>.json`` (rerunning skips them),
so seeds can be run in separate commands and the report rebuilt with ``--report-only``.
GPU sizes (GPT-2 small teacher/student, 128 trials + 128 demonstrations, PPO lr 2e-5)::

    python tools/bench/llm_tnd.py --paper --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from llm_pods_seeds import paired  # the paired t-test / sign-flip helper (same folder)

from lab.core import set_seed
from lab.llm.tnd import (
    AgePredictorConfig,
    TeacherConfig,
    TnDConfig,
    TnDExperimentConfig,
    choose_masked_words,
    frequency_aoa_correlation,
    masked_teacher,
    prepare,
    run_arm,
)

ARMS = ("tnd", "clm", "trials", "demonstrations", "tnd_masked", "tnd_small")
#: claim labels: one-sided paired t-test over at least MIN_SEEDS seeds at level ALPHA (#23)
ALPHA = 0.05
MIN_SEEDS = 5


def config(paper: bool) -> tuple[TnDExperimentConfig, int]:
    """The experiment config and the width of the small TnD student."""
    if not paper:
        return (
            TnDExperimentConfig(
                num_train=4000,
                num_heldout=600,
                masked_words=40,
                teacher=TeacherConfig(n_layer=2, n_embd=64, steps=600, num_checkpoints=8),
                predictor=AgePredictorConfig(samples_per_checkpoint=48, epochs=20),
                student=TnDConfig(
                    corpus_steps=300,
                    batch_size=16,
                    interaction_batch_size=16,
                    n_layer=2,
                    n_embd=64,
                    eval_points=14,
                ),
            ),
            32,
        )
    return (
        TnDExperimentConfig(
            num_train=200_000,
            num_heldout=5_000,
            seq_words=128,
            masked_words=40,
            teacher=TeacherConfig(
                n_layer=12,
                n_embd=768,
                n_head=12,
                steps=20_000,
                batch_size=64,
                learning_rate=3e-4,
                num_checkpoints=12,
            ),
            predictor=AgePredictorConfig(
                n_layer=4,
                n_embd=256,
                samples_per_checkpoint=1000,
                epochs=10,
                max_new_tokens=64,
                batch_size=64,
                learning_rate=3e-4,
            ),
            student=TnDConfig(
                corpus_steps=20_000,
                batch_size=64,
                interaction_batch_size=128,
                max_new_tokens=64,
                n_layer=12,
                n_embd=768,
                n_head=12,
                learning_rate=3e-4,
                ppo_learning_rate=2e-5,
                eval_points=20,
                save_steps=1000,
            ),
        ),
        256,
    )


def run_seed(cfg: TnDExperimentConfig, small: int, seed: int, device: str) -> dict[str, Any]:
    set_seed(seed)
    t0 = time.perf_counter()
    setup = prepare(cfg, seed, device=device, show_progress=False)
    t_prep = time.perf_counter() - t0
    masked, control = choose_masked_words(setup.corpus, setup.word_ids, cfg.masked_words)
    arms: dict[str, Any] = {}
    for arm in ARMS:
        student = dataclasses.replace(cfg.student, seed=seed, mode="clm" if arm == "clm" else "tnd")
        teacher = None
        if arm in ("trials", "demonstrations"):
            student = dataclasses.replace(student, mode=arm)
        if arm == "tnd_masked":
            teacher = masked_teacher(setup.teacher.model, setup.tokenizer, masked)
        if arm == "tnd_small":
            heads = cfg.student.n_head
            student = dataclasses.replace(student, n_embd=small, n_head=heads)
        torch.manual_seed(seed)
        arms[arm] = run_arm(setup, student, name=arm, teacher_model=teacher, show_progress=False)
        print(
            f"  seed {seed} {arm:<15} learned {arms[arm]['fraction_learned']:.3f} "
            f"log10AoA {arms[arm]['mean_log10_aoa']:.3f} {arms[arm]['seconds']:.0f}s",
            flush=True,
        )
    return {
        "seed": seed,
        "prepare_seconds": t_prep,
        "predictor": setup.predictor_stats,
        "teacher_final_loss": float(np.mean(setup.teacher.losses[-20:])),
        "teacher_step": setup.teacher.step,
        "vocab_size": len(setup.tokenizer),
        "num_tracked_words": len(setup.word_ids),
        "not_single_token": list(setup.not_single_token),
        "masked_words": masked,
        "control_words": control,
        "corpus_frequencies": {w: setup.corpus.frequencies[w] for w in setup.word_ids},
        "arms": arms,
    }


# --------------------------------------------------------------------------- analysis


def _log10_aoa(arm: dict[str, Any], words: list[str]) -> float:
    vals = [math.log10(arm["aoa"][w]) for w in words if arm["aoa"].get(w)]
    return float(np.mean(vals)) if vals else float("nan")


def _both_learned(
    a: dict[str, Any], b: dict[str, Any], words: list[str] | None = None
) -> list[str]:
    ws = words if words is not None else list(a["aoa"])
    return [w for w in ws if a["aoa"].get(w) and b["aoa"].get(w)]


def _ms(xs: list[float]) -> str:
    xs = [x for x in xs if x == x]
    if not xs:
        return "nan"
    if len(xs) == 1:
        return f"{xs[0]:.3f}"
    return f"{statistics.mean(xs):.3f} +- {statistics.stdev(xs):.3f}"


def _mean(xs: list[float]) -> float:
    xs = [x for x in xs if x == x]
    return float(np.mean(xs)) if xs else float("nan")


def compare(seeds: list[dict[str, Any]], arm: str, base: str) -> dict[str, Any]:
    """Paired per seed: mean log10 AoA over words learned by both, fractions learned."""
    d_aoa, frac_ratio, frac_a, frac_b, n_common, wins = [], [], [], [], [], 0
    for s in seeds:
        a, b = s["arms"][arm], s["arms"][base]
        common = _both_learned(a, b)
        da = _log10_aoa(a, common) - _log10_aoa(b, common)
        d_aoa.append(da)
        wins += int(da < 0)
        n_common.append(len(common))
        frac_a.append(a["fraction_learned"])
        frac_b.append(b["fraction_learned"])
        frac_ratio.append(a["fraction_learned"] / max(b["fraction_learned"], 1e-9))
    return {
        "delta_log10_aoa": d_aoa,
        "aoa_ratio": [10**d for d in d_aoa],
        "fraction_learned": frac_a,
        "fraction_learned_base": frac_b,
        "fraction_ratio": frac_ratio,
        "common_words": n_common,
        "seeds_earlier": wins,
    }


def masked_effect(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """Difference-in-differences of log10 AoA: (masked teacher - teacher) on the masked words
    minus the same on their frequency-matched control words; positive = masked words delayed."""
    did, d_masked, d_other, lost = [], [], [], []
    for s in seeds:
        a, b = s["arms"]["tnd_masked"], s["arms"]["tnd"]
        masked = [w for w in s["masked_words"] if w in a["aoa"]]
        other = [w for w in s["control_words"] if w in a["aoa"]]
        cm, co = _both_learned(a, b, masked), _both_learned(a, b, other)
        dm = _log10_aoa(a, cm) - _log10_aoa(b, cm)
        do = _log10_aoa(a, co) - _log10_aoa(b, co)
        d_masked.append(dm)
        d_other.append(do)
        did.append(dm - do)
        fm_a = sum(1 for w in masked if a["aoa"].get(w)) / max(len(masked), 1)
        fm_b = sum(1 for w in masked if b["aoa"].get(w)) / max(len(masked), 1)
        lost.append(fm_b - fm_a)
    return {
        "did_log10_aoa": did,
        "delta_masked": d_masked,
        "delta_control": d_other,
        "masked_fraction_lost": lost,
    }


def _rank(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x, kind="mergesort"), kind="mergesort").astype(float)


def _partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Spearman correlation of x and y with z's ranks regressed out of both."""
    rx, ry, rz = _rank(x), _rank(y), _rank(z)
    A = np.stack([np.ones_like(rz), rz], 1)
    ex = rx - A @ np.linalg.lstsq(A, rx, rcond=None)[0]
    ey = ry - A @ np.linalg.lstsq(A, ry, rcond=None)[0]
    return float(np.corrcoef(ex, ey)[0, 1])


def practice(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """Trial frequency vs AoA (the paper's analysis), corpus frequency vs AoA, and the partial
    correlation of trial frequency with AoA given corpus frequency (ours: trial frequency is
    largely inherited from the corpus)."""
    rt, rc, rp = [], [], []
    for s in seeds:
        a = s["arms"]["tnd"]
        aoa = {w: (v if v else float("nan")) for w, v in a["aoa"].items()}
        rt.append(frequency_aoa_correlation(a["trial_counts"], aoa)["spearman"])
        rc.append(frequency_aoa_correlation(s["corpus_frequencies"], aoa)["spearman"])
        ws = [w for w, v in a["aoa"].items() if v]
        rp.append(
            _partial_spearman(
                np.array([a["trial_counts"].get(w, 0) for w in ws], dtype=float),
                np.array([a["aoa"][w] for w in ws], dtype=float),
                np.array([s["corpus_frequencies"][w] for w in ws], dtype=float),
            )
        )
    return {"spearman_trials": rt, "spearman_corpus": rc, "partial_spearman_trials": rp}


def plots(seeds: list[dict[str, Any]], out: Path) -> list[Path]:
    from lab.core.report import pyplot, save_figure

    plt = pyplot()
    paths = []
    steps = seeds[0]["arms"]["clm"]["steps"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    for arm in ARMS:
        ms = np.mean([s["arms"][arm]["mean_surprisal"] for s in seeds], axis=0)
        axes[0].plot(steps, ms, label=arm, marker=".")
        fr = [
            np.mean(
                [
                    sum(1 for v in s["arms"][arm]["aoa"].values() if v and v <= st)
                    / max(len(s["arms"][arm]["aoa"]), 1)
                    for s in seeds
                ]
            )
            for st in steps
        ]
        axes[1].plot(steps, fr, label=arm, marker=".")
    axes[0].set_xscale("log")
    axes[0].set_title("mean word surprisal (held-out), mean over seeds")
    axes[0].set_xlabel("corpus step")
    axes[0].set_ylabel("bits")
    axes[1].set_xscale("log")
    axes[1].set_title("fraction of tracked words learned (AoA <= step)")
    axes[1].set_xlabel("corpus step")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    paths.append(save_figure(fig, out / "learning_curves.png"))
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    s = seeds[0]
    a = s["arms"]["tnd"]
    ws = [w for w, v in a["aoa"].items() if v]
    ax.scatter(
        [math.log10(1 + a["trial_counts"].get(w, 0)) for w in ws],
        [math.log10(a["aoa"][w]) for w in ws],
        s=8,
    )
    ax.set_xlabel("log10(1 + frequency in the student's trials)")
    ax.set_ylabel("log10 AoA (corpus steps)")
    ax.set_title(f"practice vs AoA (tnd, seed {s['seed']})")
    ax.grid(alpha=0.3)
    paths.append(save_figure(fig, out / "practice_vs_aoa.png"))
    return paths


def report(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    comps = {
        "tnd_vs_clm": compare(seeds, "tnd", "clm"),
        "tnd_small_vs_clm": compare(seeds, "tnd_small", "clm"),
        "tnd_vs_trials": compare(seeds, "tnd", "trials"),
        "tnd_vs_demonstrations": compare(seeds, "tnd", "demonstrations"),
        "trials_vs_clm": compare(seeds, "trials", "clm"),
        "demonstrations_vs_clm": compare(seeds, "demonstrations", "clm"),
    }
    mask = masked_effect(seeds)
    prac = practice(seeds)

    def test(values: list[float], alternative: str) -> dict[str, Any]:
        t = paired([v for v in values if v == v], alternative)
        t["held"] = (
            t["n"] >= MIN_SEEDS and t.get("p_t", 1.0) < ALPHA
            if t["n"] >= MIN_SEEDS
            else None  # not tested: too few seeds
        )
        return t

    def both(*tests: dict[str, Any]) -> dict[str, Any]:
        held = [t["held"] for t in tests]
        return {"parts": list(tests), "held": None if None in held else all(held)}

    claims = {
        "TnD accelerates word acquisition (equal size)": test(
            comps["tnd_vs_clm"]["delta_log10_aoa"], "less"
        ),
        "TnD accelerates word acquisition (smaller TnD student vs larger CLM student)": test(
            comps["tnd_small_vs_clm"]["delta_log10_aoa"], "less"
        ),
        "both trials and demonstrations matter (TnD earlier than each alone)": both(
            test(comps["tnd_vs_trials"]["delta_log10_aoa"], "less"),
            test(comps["tnd_vs_demonstrations"]["delta_log10_aoa"], "less"),
        ),
        "teacher's word choice shapes learning (masked words learned later)": test(
            mask["did_log10_aoa"], "greater"
        ),
        "practice makes perfect (trial frequency vs AoA negatively correlated)": test(
            prac["spearman_trials"], "less"
        ),
    }
    return {"comparisons": comps, "masked": mask, "practice": prac, "claims": claims}


def markdown(seeds: list[dict[str, Any]], rep: dict[str, Any]) -> str:
    lines = [
        "| arm | params | words learned (all steps) | by step 75 | by step 150 | sec |",
        "|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        rs = [s["arms"][arm] for s in seeds]
        fl = list(rs[0]["fraction_learned_by"])
        lines.append(
            f"| {arm} | {rs[0]['params']} | {_ms([r['fraction_learned'] for r in rs])} | "
            f"{_ms([r['fraction_learned_by'][fl[0]] for r in rs])} | "
            f"{_ms([r['fraction_learned_by'][fl[1]] for r in rs])} | "
            f"{_ms([r['seconds'] for r in rs])} |"
        )
    lines += [
        "",
        "| comparison | delta log10 AoA (common words) | AoA ratio | seeds earlier | "
        "fraction-learned ratio | common words |",
        "|---|---|---|---|---|---|",
    ]
    for k, c in rep["comparisons"].items():
        lines.append(
            f"| {k} | {_ms(c['delta_log10_aoa'])} | {_ms(c['aoa_ratio'])} | "
            f"{c['seeds_earlier']}/{len(seeds)} | {_ms(c['fraction_ratio'])} | "
            f"{_ms([float(x) for x in c['common_words']])} |"
        )
    m, p = rep["masked"], rep["practice"]
    lines += [
        "",
        f"Masked teacher ({len(seeds[0]['masked_words'])} words): delta log10 AoA of masked words "
        f"{_ms(m['delta_masked'])}, of their frequency-matched controls {_ms(m['delta_control'])}, "
        f"difference-in-differences {_ms(m['did_log10_aoa'])}; share of masked words no longer "
        f"learned {_ms(m['masked_fraction_lost'])}.",
        "",
        f"Practice: Spearman(trial frequency, AoA) {_ms(p['spearman_trials'])}; "
        f"Spearman(corpus frequency, AoA) {_ms(p['spearman_corpus'])}; partial Spearman(trial "
        f"frequency, AoA | corpus frequency) {_ms(p['partial_spearman_trials'])}.",
        "",
        f"Label rule: a claim is held when its per-seed values (paired differences, or per-seed "
        f"correlations) pass a one-sided paired t-test at alpha = {ALPHA} in the paper's "
        f"direction over >= {MIN_SEEDS} seeds; the exact sign-flip permutation p is reported "
        "beside it.",
        "",
        "| claim | here | test |",
        "|---|---|---|",
    ]
    for k, v in rep["claims"].items():
        parts = v.get("parts", [v])
        stats_txt = "; ".join(
            f"mean {t['mean']:+.3f}, SE {t['se']:.3f}, n {t['n']}, one-sided p (t) "
            f"{t['p_t']:.3f}, p (sign-flip) {t['p_signflip']:.3f}"
            if t["n"] >= 2
            else f"n {t['n']}"
            for t in parts
        )
        verdict = {True: "held", False: "not held", None: f"not tested (< {MIN_SEEDS} seeds)"}
        lines.append(f"| {k} | {verdict[v['held']]} | {stats_txt} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--paper", action="store_true", help="GPU sizes (GPT-2 small)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("runs/bench/llm_tnd"))
    ap.add_argument("--report-only", action="store_true", help="only rebuild the report")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg, small = config(args.paper)
    out = args.out / ("paper" if args.paper else "cpu")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for seed in args.seeds:
        f = out / f"seed_{seed}.json"
        if f.is_file() or args.report_only:
            continue
        res = run_seed(cfg, small, seed, args.device)
        f.write_text(json.dumps(res))
    seeds = [
        json.loads((out / f"seed_{s}.json").read_text())
        for s in args.seeds
        if (out / f"seed_{s}.json").is_file()
    ]
    if not seeds:
        raise SystemExit("no seed results")
    rep = report(seeds)
    md = markdown(seeds, rep)
    figs = plots(seeds, out)
    summary = {
        "seeds": [s["seed"] for s in seeds],
        "paper": args.paper,
        "seconds_this_call": time.perf_counter() - t0,
        "load": os.getloadavg(),
        "predictor": [s["predictor"] for s in seeds],
        **rep,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    (out / "report.md").write_text(md + "\n")
    print(md)
    print(f"results: {out / 'results.json'}; plots: {[str(p) for p in figs]}")


if __name__ == "__main__":
    main()
