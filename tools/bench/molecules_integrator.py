"""Discretisation bias of the SDE integrators against the closed-form optimal control.

For a harmonic cluster (``HarmonicCluster(n, d, w)``: Gaussian in the centre-of-mass-free
subspace) the optimal control of the memoryless SDE is known in closed form,
``u*(t, x) = -x / (kappa(1) - kappa(t) + 1/lambda)``, ``lambda = 1/var - 1/kappa(1)``; simulating
it exactly would give the target, whose mean energy is ``tau * d_eff / 2``. Any deviation is the
integrator's discretisation bias (no training involved). Every integrator x increment x grid x
step count is scored by its relative energy bias (with its standard error) and its relative
configuration-variance bias, on four settings (the issue's n=6, d=3, w=1, sigma_max=2, and three
others that move the target width and the noise scale). Named baseline: the public code's
Euler-Maruyama step (``integrator="euler", increment="left"``, uniform grid) in the same run.

    python tools/bench/molecules_integrator.py                      # all settings, 50,000 samples
    python tools/bench/molecules_integrator.py --n-samples 200000 --settings main

Writes ``runs/bench/molecules_integrator.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import torch

from lab.molecules import GeometricNoiseSchedule, simulate
from lab.molecules.particles import HarmonicCluster

#: name -> (n_particles, dim, spring constant w, sigma_max)
SETTINGS: dict[str, tuple[int, int, float, float]] = {
    "main": (6, 3, 1.0, 2.0),
    "sigma_max=1": (6, 3, 1.0, 1.0),
    "broad (w=0.1)": (6, 3, 0.1, 2.0),
    "narrow (w=10)": (6, 3, 10.0, 2.0),
}
SCHEMES = [
    ("euler", "left", "uniform"),  # the public code's step: the named baseline
    ("euler", "exact", "uniform"),
    ("euler", "left", "quadratic"),
    ("euler", "exact", "quadratic"),
    ("euler", "left", "variance"),
    ("euler", "exact", "variance"),
    ("heun", "exact", "uniform"),
    ("heun", "exact", "quadratic"),
    ("heun", "left", "uniform"),
    ("heun", "left", "quadratic"),
]


def optimal_control(h: HarmonicCluster, s: GeometricNoiseSchedule) -> Any:
    lam = 1 / h.variance - 1 / s.kappa1

    def u(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return -x / (s.kappa1 - s.kappa(t) + 1 / lam).unsqueeze(-1)

    return u


def measure(
    setting: tuple[int, int, float, float],
    integrator: str,
    increment: str,
    grid: str,
    n_steps: int,
    n_samples: int,
    seed: int,
) -> dict[str, Any]:
    n, d, w, smax = setting
    h = HarmonicCluster(n, d, w=w)
    s = GeometricNoiseSchedule(1e-3, smax)
    start = time.perf_counter()
    x = simulate(
        optimal_control(h, s),
        s,
        n_samples=n_samples,
        n_particles=n,
        dim=d,
        n_steps=n_steps,
        grid=grid,  # type: ignore[arg-type]
        increment=increment,  # type: ignore[arg-type]
        integrator=integrator,  # type: ignore[arg-type]
        generator=torch.Generator().manual_seed(seed),
        device="cpu",
        dtype=torch.float64,
    )
    e = h(x)
    exact = h.tau * h.d_eff(True) / 2
    var = (x**2).sum(-1).mean().item() / h.d_eff(True)
    return {
        "integrator": integrator,
        "increment": increment,
        "grid": grid,
        "n_steps": n_steps,
        "control_evals_per_sample": n_steps * (2 if integrator == "heun" else 1),
        "energy_mean": e.mean().item(),
        "energy_exact": exact,
        "energy_bias": e.mean().item() / exact - 1,
        "energy_bias_se": e.std().item() / exact / e.numel() ** 0.5,
        "variance_bias": var / h.variance - 1,
        "seconds": time.perf_counter() - start,
    }


def _write(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "settings": {
            k: dict(zip(("n", "d", "w", "sigma_max"), v, strict=True)) for k, v in SETTINGS.items()
        },
        "n_samples": args.n_samples,
        "seed": args.seed,
        "baseline": "euler/left/uniform (the public code's step)",
        "rows": rows,
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    p.add_argument("--n-steps", nargs="+", type=int, default=[50, 100, 200])
    p.add_argument("--n-samples", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("runs/bench/molecules_integrator.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.settings:
        for (integ, inc, grid), steps in itertools.product(SCHEMES, args.n_steps):
            row = {
                "setting": name,
                **measure(SETTINGS[name], integ, inc, grid, steps, args.n_samples, args.seed),
            }
            rows.append(row)
            _write(args, rows)  # after every row: an interrupted run keeps what it measured
            print(
                f"{name:14s} {integ:5s} {inc:5s} {grid:9s} {steps:4d}  "
                f"bias {100 * row['energy_bias']:+7.2f}% +- {100 * row['energy_bias_se']:.2f}",
                flush=True,
            )
    for name in args.settings:
        for steps in args.n_steps:
            base = next(
                r
                for r in rows
                if r["setting"] == name
                and r["n_steps"] == steps
                and (r["integrator"], r["increment"], r["grid"]) == SCHEMES[0]
            )
            for r in rows:
                if r["setting"] == name and r["n_steps"] == steps:
                    r["abs_bias_vs_baseline"] = abs(r["energy_bias"]) / abs(base["energy_bias"])
    _write(args, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
