"""Importance resampling of a trained Adjoint Sampler (OURS) vs its raw samples vs MALA.

For a checkpoint (default: the shipped DW-4 model, ``--pretrained dw4``) and each seed:

- ``AS raw``: ``--n-samples`` samples as the library draws them (the config's integrator,
  ``--eval-steps`` SDE steps): what the paper reports;
- ``AS raw, Euler``: the first ``--n-samples`` importance proposals themselves (Euler-Maruyama
  with exact increments), to separate the integrator from the reweighting;
- ``AS + importance resampling``: ``--n-samples`` drawn by systematic resampling from
  ``--proposals`` weighted proposals (:meth:`AdjointSampler.sample_importance`);
- ``MALA``: the named baseline with as many energy + gradient evaluations as the importance
  arm spent in total (training + proposals), from the lattice start.

Scores against the reference file: energy W2, interatomic-distance W1, the virial and, for
DW-4, the share of particle pairs closer than 4 (the short-distance mode). Paired differences
over the seeds (mean +- SE, paired t test) for every metric, importance arm minus raw.

    python tools/bench/molecules_importance.py --system dw4 --seeds 5 --out runs/bench/molecules_importance_dw4.json
    python tools/bench/molecules_importance.py --system lj13 --checkpoint tools/bench/checkpoints/molecules/lj13/checkpoints/step_490.pt
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab.core import get_device, set_seed
from lab.molecules.particles import (
    AdjointSampler,
    load_reference,
    make_energy,
    pair_fraction_below,
)
from lab.molecules.particles.cli import EVAL_STEPS
from lab.molecules.particles.plots import distance_histogram, energy_histogram
from lab.molecules.particles.pretrained import PRETRAINED, pretrained_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stats import paired_difference
from molecules_particles import mala_equal_evals, score

ROOT = Path(__file__).resolve().parents[2]
ARMS = ("AS raw", "AS raw, Euler", "AS + importance resampling", "MALA")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--system", default="dw4", choices=["dw4", "lj13"])
    p.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped model")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--n-samples", type=int, default=2000)
    p.add_argument("--proposals", type=int, default=8000)
    p.add_argument("--eval-steps", type=int, default=None, help="default: the CLI's")
    p.add_argument("--w2-samples", type=int, default=200, help="configuration-W2 subset")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    device = get_device(args.device)
    name = args.system
    if args.checkpoint is None:
        if name not in PRETRAINED:
            p.error(f"no shipped model for {name}: pass --checkpoint")
        args.checkpoint = pretrained_checkpoint(name)
    out = args.out or ROOT / "runs" / "bench" / f"molecules_importance_{name}.json"
    energy = make_energy(name)
    n, d = energy.n_particles, energy.dim
    ref = load_reference(name, args.data_dir, dtype=torch.float64)
    sampler = AdjointSampler.from_checkpoint(args.checkpoint, energy, device=device)
    steps = args.eval_steps or EVAL_STEPS.get(name, sampler.config.n_steps)
    start = time.perf_counter()
    plots_dir = out.with_suffix("")
    plots: list[str] = []
    rows: list[dict[str, Any]] = []
    for seed in range(args.seeds):
        set_seed(seed)
        row: dict[str, Any] = {"seed": seed}
        gen = torch.Generator(device=device).manual_seed(1000 + seed)
        t = time.perf_counter()
        raw = sampler.sample(args.n_samples, n_steps=steps, generator=gen)
        row["AS raw"] = {
            **score(name, raw, ref, args.w2_samples, seed),
            "wall_s": time.perf_counter() - t,
        }
        t = time.perf_counter()
        imp = sampler.sample_importance(
            args.n_samples, n_proposals=args.proposals, n_steps=steps, generator=gen
        )
        wall = time.perf_counter() - t
        row["AS raw, Euler"] = score(
            name, imp.proposals[: args.n_samples], ref, args.w2_samples, seed
        )
        row["AS + importance resampling"] = {
            **score(name, imp.samples, ref, args.w2_samples, seed),
            "ess": imp.ess,
            "n_unique": imp.n_unique,
            "proposal_energy_evals": imp.energy_evals,
            "wall_s": wall,
        }
        budget = sampler.energy_evals + imp.energy_evals
        x_mala, info = mala_equal_evals(name, energy, budget, args.n_samples, seed, device)
        row["MALA"] = {**score(name, x_mala, ref, args.w2_samples, seed), **info}
        if name == "dw4":
            for arm, x in (
                ("AS raw", raw),
                ("AS raw, Euler", imp.proposals[: args.n_samples]),
                ("AS + importance resampling", imp.samples),
                ("MALA", x_mala),
            ):
                row[arm]["short_pairs"] = float(pair_fraction_below(x, n, d, 4.0).mean())
        if seed == 0:  # seed 0's samples (re-scorable) and histograms
            sets = {
                "AS raw": raw,
                "AS + importance resampling": imp.samples,
                f"MALA ({budget:,} evals)": x_mala,
                "reference": ref,
            }
            plots_dir.mkdir(parents=True, exist_ok=True)
            for label, x in sets.items():
                if label != "reference":
                    key = label.split(" (")[0].replace(" ", "_").replace("+", "plus")
                    np.save(plots_dir / f"{name}_{key}.npy", x.detach().cpu().numpy())
            sets = {k: v.detach().cpu().double() for k, v in sets.items()}
            plots = [
                str(
                    distance_histogram(
                        plots_dir / f"{name}_importance_distances.png",
                        sets,
                        n,
                        d,
                        title=f"{name}: interatomic distances (seed 0)",
                    )
                ),
                str(
                    energy_histogram(
                        plots_dir / f"{name}_importance_energy.png",
                        {k: energy(v) for k, v in sets.items()},
                        title=f"{name}: energies (seed 0)",
                    )
                ),
            ]
        rows.append(row)
        print(
            f"seed {seed}: "
            + "  ".join(
                f"{a}: E-W2 {row[a]['energy_w2']:.3f} dW1 {row[a]['distance_w1']:.3f}" for a in ARMS
            )
            + f"  ESS {imp.ess:.3f}",
            flush=True,
        )
    metrics = [
        k
        for k in ("energy_w2", "distance_w1", "configuration_w2", "virial", "short_pairs")
        if k in rows[0]["AS raw"]
    ]
    summary = {
        arm: {
            k: {
                "mean": float(np.mean([r[arm][k] for r in rows])),
                "se": float(np.std([r[arm][k] for r in rows], ddof=1) / np.sqrt(len(rows))),
            }
            for k in metrics
        }
        for arm in ARMS
    }
    summary["AS + importance resampling"]["ess"] = {
        "mean": float(np.mean([r["AS + importance resampling"]["ess"] for r in rows]))
    }

    def paired(a: str, b: str, k: str) -> dict[str, float]:
        return paired_difference([r[a][k] for r in rows], [r[b][k] for r in rows])

    result = {
        "benchmark": "molecules_importance",
        "command": "python "
        + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        "system": name,
        "checkpoint": str(args.checkpoint),
        "checkpoint_energy_evals": sampler.energy_evals,
        "eval_steps": steps,
        "n_samples": args.n_samples,
        "proposals": args.proposals,
        "summary": summary,
        "paired": {
            f"{a} - {b}: {k}": paired(a, b, k)
            for a, b in (
                ("AS + importance resampling", "AS raw"),
                ("AS + importance resampling", "MALA"),
                ("AS raw, Euler", "AS raw"),
            )
            for k in metrics
        },
        "seeds": rows,
        "plots": plots,
        "targets": {
            "energy_w2_at_most_1": summary["AS + importance resampling"]["energy_w2"]["mean"]
            <= 1.0,
            "distance_w1_at_most_0.1": summary["AS + importance resampling"]["distance_w1"]["mean"]
            <= 0.1,
        }
        if name == "dw4"
        else {
            "energy_w2_at_most_5": summary["AS + importance resampling"]["energy_w2"]["mean"] <= 5.0
        },
        "load": os.getloadavg(),
        "machine": platform.platform(),
        "seconds_total": time.perf_counter() - start,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("summary", "paired", "targets")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
