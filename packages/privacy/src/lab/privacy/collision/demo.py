"""``lab demo`` for lab.privacy: private collision-probability estimation and sequential testing.

Measures, on a Zipf distribution over 20 categories at alpha = 0.5: the RMSE of the salted-hash
estimator against the pairwise randomized-response and (when ``pure-ldp`` is installed) the
frequency-oracle baselines as the number of users grows; the median stopping time of the
sequential test against the gap; and an exact privacy audit of one hash-table draw.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab.core.report import DemoResult, demo_size, pyplot, save_figure

__all__ = ["demo"]


def _loglog(
    path: Path,
    series: dict[str, tuple[list[float], list[float]]],
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path:
    plt = pyplot("labworks-privacy[plots]")

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for label, (xs, ys) in series.items():
        ax.loglog(xs, ys, marker="o", label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save_figure(fig, path)


def demo(out_dir: Path, *, device: torch.device, seed: int) -> DemoResult:
    """Run the privacy demo (about 20 s on 2 CPU cores) and write two plots into ``out_dir``."""
    from . import (
        FrequencyOracleConfig,
        FrequencyOraclePlugin,
        PairwiseRandomizedResponse,
        PairwiseRRConfig,
        SaltedHashConfig,
        SaltedHashLDP,
        SequentialCollisionTest,
        SequentialTestConfig,
        audit_salted_hash,
        exact_collision_probability,
        fixed_sample_size,
        sample_categorical,
        zipf_distribution,
    )

    out_dir = Path(out_dir)
    k, alpha, beta = 20, 0.5, 1e-3
    p = zipf_distribution(k, 1.0)
    c = exact_collision_probability(p)
    tiny = demo_size() == "tiny"  # `lab demo --size tiny`: a seconds-long smoke run
    ns = [10_000, 20_000] if tiny else [10_000, 30_000, 100_000]
    trials = 2 if tiny else 6
    have_fo = importlib.util.find_spec("pure_ldp") is not None
    errors: dict[str, list[float]] = {"salted hash (ours)": [], "pairwise RR": []}
    if have_fo:
        errors["frequency oracle (pure-ldp)"] = []
    fo = FrequencyOraclePlugin(FrequencyOracleConfig(alpha=alpha), domain=k) if have_fo else None
    for n in ns:
        sq: dict[str, list[float]] = {name: [] for name in errors}
        for t in range(trials):
            s = seed * 1000 + t
            vals = sample_categorical(p, n, seed=s, device=device)
            ldp = SaltedHashLDP(SaltedHashConfig(alpha=alpha, beta=beta, c_guess=c, table_seed=s))
            from .ldp_estimator import LDPEstimatorConfig

            est = ldp.run(
                vals,
                simulation_seed=s,  # a simulation: reproducible coins
                config=LDPEstimatorConfig(aggregate="mean", ci="normal"),
                device=device,
            )
            sq["salted hash (ours)"].append((est.estimate - c) ** 2)
            rr = PairwiseRandomizedResponse(PairwiseRRConfig(alpha=alpha, hash_seed=s))
            sq["pairwise RR"].append(
                (rr.run(vals, simulation_seed=s, device=device).estimate - c) ** 2
            )
            if fo is not None:
                sq["frequency oracle (pure-ldp)"].append(
                    (fo.run(vals.cpu().numpy(), simulation_seed=s).estimate - c) ** 2
                )
        for name in errors:
            errors[name].append(math.sqrt(float(np.mean(sq[name]))))
    p1 = _loglog(
        out_dir / "estimator_rmse_vs_n.png",
        {name: ([float(n) for n in ns], v) for name, v in errors.items()},
        f"RMSE of C estimate, Zipf k={k}, alpha={alpha}",
        "users n",
        "RMSE",
    )

    eps_grid = [0.02, 0.04, 0.08, 0.16]
    base = 0.25  # uniform over 4 values
    medians, fixed = [], []
    type1 = 0
    for eps in eps_grid:
        test = SequentialCollisionTest(
            SequentialTestConfig(c0=base - eps, delta=0.05, first_check=16, max_samples=2**18)
        )
        stops = [
            test.run_sampler(
                lambda n, rng: rng.integers(0, 4, size=n), seed=seed * 100 + s
            ).stopping_time
            for s in range(15)
        ]
        medians.append(float(np.median([st if st is not None else 2**18 for st in stops])))
        fixed.append(float(fixed_sample_size(eps, 0.05)))
    null = SequentialTestConfig(c0=base, delta=0.05, first_check=16, max_samples=2**14)
    for s in range(50):
        type1 += (
            SequentialCollisionTest(null)
            .run_sampler(lambda n, rng: rng.integers(0, 4, size=n), seed=seed * 7 + s)
            .reject
        )
    p2 = _loglog(
        out_dir / "sequential_stopping_time_vs_gap.png",
        {
            "sequential (eps unknown), median": (eps_grid, medians),
            "fixed-n test (eps known)": (eps_grid, fixed),
        },
        "Samples to reject H0: C = 0.25 - eps",
        "gap eps",
        "samples",
    )
    slope = float(np.polyfit(np.log(eps_grid), np.log(medians), 1)[0])

    audit = audit_salted_hash(
        SaltedHashLDP(SaltedHashConfig(alpha=alpha, beta=beta, table_seed=seed)),
        500,
        groups=range(2),
        device=device,
    )
    metrics: dict[str, Any] = {
        "C_true": c,
        **{
            f"rmse_n{ns[-1]}_{name.split(' (')[0].replace(' ', '_')}": v[-1]
            for name, v in errors.items()
        },
        "rmse_ratio_rr_over_ours": errors["pairwise RR"][-1] / errors["salted hash (ours)"][-1],
        "sequential_slope_vs_eps": slope,
        "sequential_type1_rejections_of_50": int(type1),
        "audit_violation_fraction": audit.violation_fraction,
        "audit_max_loss": audit.max_loss,
        "pure_ldp_available": have_fo,
    }
    summary = (
        f"Salted-hash LDP (alpha={alpha}, beta={beta}) vs baselines on Zipf(k={k}); RMSE at n={ns[-1]}: "
        + ", ".join(f"{name} {v[-1]:.4f}" for name, v in errors.items())
        + f". Sequential test median stopping time ~ eps^{slope:.2f}; {type1}/50 false rejections at delta=0.05."
        + (
            ""
            if have_fo
            else " (frequency-oracle baseline skipped: pip install 'labworks-privacy[baselines]')"
        )
    )
    return DemoResult(
        title="Private collision-probability estimation and sequential testing",
        metrics=metrics,
        plots=(p1, p2),
        summary=summary,
    )
