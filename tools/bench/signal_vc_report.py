"""Seed-level and sentence-paired statistics of ``signal_vc.py`` runs (one folder per seed).

    python tools/bench/signal_vc_report.py runs/bench/vc_mcep_s0 runs/bench/vc_mcep_s1

For every pair (each with the folders that hold it): a markdown table of the systems (mean over seeds; the
deterministic systems are identical across seeds), then CLOT-GAN minus the baseline and minus
no conversion (a) per seed, (b) over seeds (mean, SE, two-sided one-sample t test over the
seed-level differences) and (c) paired over the 10 test sentences (each sentence's CLOT-GAN MCD
averaged over seeds; mean, SE, t test, sentences lower). Writes the numbers as JSON with
``--json``. ``--plot PNG``: the seed-level figure (each seed's CLOT-GAN MCD against the
baseline and no conversion, per pair); ``--curves JSON...`` adds the validation learning
curves of ``signal_vc_diag.py`` as a second panel.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import stats

ROWS = [
    ("no_conversion", "no conversion"),
    ("mean_variance", "mean/variance mel-cepstrum (baseline)"),
    ("oracle", "oracle of the path (aligned real target c1..c24)"),
    ("clotgan", "**CLOT-GAN**"),
]


def paired(d: np.ndarray) -> dict:
    d = np.asarray(d, dtype=float)
    n = len(d)
    se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    p = float(stats.ttest_1samp(d, 0.0).pvalue) if n > 1 else float("nan")
    return {"mean": float(d.mean()), "se": se, "p": p, "n": n, "lower": int((d < 0).sum())}


def fmt(s: dict, unit: str) -> str:
    return (
        f"{s['mean']:+.3f} dB, SE {s['se']:.3f}, p = {s['p']:.2g} (t test, n = {s['n']} "
        f"{unit}), lower on {s['lower']}/{s['n']}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dirs", nargs="+", type=Path, help="one signal_vc.py --out folder per seed")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--plot", type=Path, default=None, help="write the seed-level figure here")
    p.add_argument("--curves", nargs="*", type=Path, default=[], help="signal_vc_diag.py JSONs")
    args = p.parse_args()
    pairs = sorted({f.name for d in args.dirs for f in d.glob("signal_vc_*.json")})
    report: dict = {}
    for name in pairs:
        runs = [json.loads((d / name).read_text()) for d in args.dirs if (d / name).is_file()]
        seeds = [r["config"]["seed"] for r in runs]
        pair = runs[0]["pair"]
        sysm = {
            k: np.array([r["systems"][k]["mcd_per_sentence"] for r in runs])
            for k, _ in ROWS
            if k in runs[0]["systems"]
        }
        nc = sysm["no_conversion"].mean(1)
        orc = sysm["oracle"].mean(1) if "oracle" in sysm else None
        print(f"\n**{pair}**, seeds {seeds}, {runs[0]['config']['steps']} steps\n")
        print(
            "| system | WORLD MCD (dB) | minus no conversion | minus baseline | oracle gap closed "
            "| feature MCD (dB, no vocoder) | F0 RMSE (Hz) | classifier says target |"
        )
        print("|---|---|---|---|---|---|---|---|")
        out: dict = {"seeds": seeds, "systems": {}}
        for key, label in ROWS:
            if key not in sysm:
                continue
            per_seed = sysm[key].mean(1)
            rs = [r["systems"][key] for r in runs]
            m = float(per_seed.mean())
            gap = (nc - per_seed) / (nc - orc) if orc is not None else None
            row = {
                "mcd_per_seed": per_seed.tolist(),
                "mcd": m,
                "minus_no_conversion": m - float(nc.mean()),
                "minus_baseline": m - float(sysm["mean_variance"].mean()),
                "oracle_gap_closed": None if gap is None else float(gap.mean()),
                "feature_mcd": float(np.mean([r.get("feature_mcd", np.nan) for r in rs])),
                "f0_rmse": float(np.mean([r["f0_rmse"] for r in rs])),
                "classifier": float(np.mean([r["speaker_acc"] for r in rs])),
            }
            out["systems"][key] = row
            spread = (
                f" (seeds {', '.join(f'{v:.2f}' for v in per_seed)})" if key == "clotgan" else ""
            )
            gap_s = "-" if gap is None else f"{100 * gap.mean():.1f}%"
            print(
                f"| {label} | {m:.2f}{spread} | {row['minus_no_conversion']:+.2f} "
                f"| {row['minus_baseline']:+.2f} | {gap_s} | {row['feature_mcd']:.2f} "
                f"| {row['f0_rmse']:.1f} | {100 * row['classifier']:.0f}% |"
            )
        c = sysm["clotgan"]
        for ref in ("mean_variance", "no_conversion"):
            r = sysm[ref]
            seed_d = c.mean(1) - r.mean(1)
            sent_d = c.mean(0) - r.mean(0)
            out[f"minus_{ref}"] = {
                "per_seed": seed_d.tolist(),
                "over_seeds": paired(seed_d),
                "over_sentences": paired(sent_d),
            }
            print(f"\nCLOT-GAN minus {ref}: per seed {', '.join(f'{v:+.3f}' for v in seed_d)}")
            print(f"- over seeds: {fmt(paired(seed_d), 'seeds')}")
            print(f"- paired over sentences (seed mean): {fmt(paired(sent_d), 'sentences')}")
        report[pair] = out
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if args.plot is not None:
        plot(report, [json.loads(c.read_text()) for c in args.curves], args.plot)


def plot(report: dict, curves: list[dict], path: Path) -> None:
    from lab.core.report import pyplot, save_figure

    plt = pyplot("labworks-signal[plots]")
    ncol = 2 if curves else 1
    fig, axes = plt.subplots(1, ncol, figsize=(5.5 * ncol, 3.6), dpi=100, squeeze=False)
    ax = axes[0, 0]
    for i, rep in enumerate(report.values()):
        sysd = rep["systems"]
        for key, style in (("no_conversion", "k--"), ("mean_variance", "b:")):
            ax.plot(
                [i - 0.3, i + 0.3], [sysd[key]["mcd"]] * 2, style, label=key if i == 0 else None
            )
        vals = sysd["clotgan"]["mcd_per_seed"]
        ax.scatter(
            [i] * len(vals), vals, color="r", zorder=3, label="CLOT-GAN seeds" if i == 0 else None
        )
    ax.set_xticks(range(len(report)), list(report), fontsize=8)
    ax.set_ylabel("WORLD MCD (dB), test sentences")
    ax.legend(fontsize=7)
    if curves:
        ax = axes[0, 1]
        for c in curves:
            ax.plot([r["step"] for r in c["curve"]], [r["feature_mcd"] for r in c["curve"]],
                    marker="o", ms=3, label=c["tag"])  # fmt: skip
        c0 = curves[0]
        ax.axhline(c0["no_conversion"], color="k", ls="--", label="no conversion")
        ax.axhline(c0["mean_variance"], color="b", ls=":", label="mean/variance")
        ax.set_xlabel("training step")
        ax.set_ylabel("feature MCD (dB), validation")
        ax.set_title(c0["pair"], fontsize=9)
        ax.legend(fontsize=6, ncol=2)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
