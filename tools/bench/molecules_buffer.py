"""Replay-buffer sampling: one shuffled pass per epoch (the public code's scheme) vs uniform draws.

Small DW-4 runs (EGNN 3 x 32, 100 Heun steps, 64 new samples per epoch, batch 64, buffer of 20
epochs) trained with the same energy evaluations and seeds in three arms:

- ``uniform`` (named baseline, the library default): 20 batches per epoch drawn with replacement;
- ``epoch``: one shuffled pass over the buffer per epoch (at most 20 batches once it is full);
- ``epoch x2``: the same with each new end point stored twice (``duplicates=2``), so the buffer
  holds 10 epochs of samples.

Scores (against ``$LABWORKS_DATA/particles/dw4_test.npy``): energy W2 and interatomic-distance
W1 of 2,000 samples at 200 evaluation steps; paired differences to the baseline over seeds with
their standard error and a two-sided paired t-test p-value.

    python tools/bench/molecules_buffer.py --seeds 0 1 2 --epochs 40

Writes ``runs/bench/molecules_buffer.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from lab.molecules import EGNNConfig
from lab.molecules.particles import (
    AdjointSampler,
    AdjointSamplingConfig,
    DoubleWell,
    energy_w2,
    interatomic_distance_w1,
    load_reference,
)

ARMS: dict[str, dict[str, Any]] = {
    "uniform": {"buffer_sampling": "uniform", "duplicates": 1},
    "epoch": {"buffer_sampling": "epoch", "duplicates": 1},
    "epoch x2": {"buffer_sampling": "epoch", "duplicates": 2},
}


def run(arm: str, seed: int, epochs: int, reference: torch.Tensor) -> dict[str, Any]:
    cfg = AdjointSamplingConfig(
        sigma_max=2.0,
        n_steps=100,
        egnn=EGNNConfig(hidden=32, n_layers=3),
        epochs=epochs,
        samples_per_epoch=64,
        grad_steps_per_epoch=20,
        batch_size=64,
        buffer_capacity=1280,
        lr=3e-3,
        ema_decay=0.99,
        seed=seed,
        **ARMS[arm],
    )
    energy = DoubleWell()
    start = time.perf_counter()
    sampler = AdjointSampler(energy, cfg, device="cpu")
    summary = sampler.fit(show_progress=False)
    x = sampler.sample(2000, n_steps=200, generator=torch.Generator().manual_seed(seed + 1))
    x = x.double()
    return {
        "arm": arm,
        "seed": seed,
        "energy_evals": summary["energy_evals"],
        "grad_steps": summary["grad_steps"],
        "energy_w2": energy_w2(energy(x), energy(reference)),
        "distance_w1": interatomic_distance_w1(x, reference, 4, 2),
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("runs/bench/molecules_buffer.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    reference = load_reference("dw4").double()
    rows = []
    for seed in args.seeds:
        for arm in ARMS:
            rows.append(run(arm, seed, args.epochs, reference))
            r = rows[-1]
            print(
                f"seed {seed} {arm:9s} E-W2 {r['energy_w2']:.3f} dist-W1 {r['distance_w1']:.4f} "
                f"steps {r['grad_steps']} evals {r['energy_evals']} {r['seconds']:.0f}s",
                flush=True,
            )
    paired: dict[str, Any] = {}
    for arm in list(ARMS)[1:]:
        for metric in ("energy_w2", "distance_w1"):
            d = np.array(
                [
                    next(r for r in rows if r["arm"] == arm and r["seed"] == s)[metric]
                    - next(r for r in rows if r["arm"] == "uniform" and r["seed"] == s)[metric]
                    for s in args.seeds
                ]
            )
            se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
            pval = float(stats.ttest_1samp(d, 0.0).pvalue) if len(d) > 1 else math.nan
            paired[f"{arm} - uniform: {metric}"] = {"mean": float(d.mean()), "se": se, "p": pval}
            print(f"{arm} - uniform {metric}: {d.mean():+.4f} +- {se:.4f} (p={pval:.3f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "paired": paired}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
