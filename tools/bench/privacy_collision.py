"""Benchmark: private collision-probability estimation and sequential testing (lab.privacy).

Part 1 (estimation). For the salted-hash estimator (ours, mean over groups, oracle group size
m / C) and the two named baselines, pairwise randomized response and the pure-ldp
frequency-oracle plug-in, the number of users needed so that |C_hat - C| <= eps holds in at
least 90% of T trials, as alpha, eps and the domain size k vary, on uniform and Zipf(1)
distributions. Search: a pilot run at n0 gives the empirical 90% quantile q of |error| and the
guess n0 (q / eps)^2; from 0.6x that guess n grows by 1.25x until the empirical coverage over T
fresh trials reaches 0.9 (or n passes the cap: reported as null). Log-log slopes are fitted.

Part 0 (default; issue 19). The default configuration as a user gets it (SaltedHashConfig(),
LDPEstimatorConfig(): alpha 1, beta 1e-3, groups sized for C = 0.05, mean over groups, normal
interval) on Dirichlet and Zipf sources: relative bias (mean of (C_hat - C) / C over R runs
with fresh data, tables and salts, with its standard error and 95% interval) and the coverage
of the normal and Chebyshev intervals (with binomial standard errors), against the named
baseline of the previous default, the median of 9 block means with the Chebyshev interval,
computed on the same reports. Plus the issue's setting (Zipf(1.3), k = 5000, alpha = 0.25).
Section ``tables``: the table-level bias check of the keyed-hash tables (``table_bias``).

Part 2 (testing). The non-private sequential test (eps unknown) against the fixed-n Hoeffding
test that knows eps: median stopping time vs eps, fitted slope, type-I error at C = c0, and
the ratio median-stopping-time / fixed n. The private sequential test at alpha = 2: median
stopping time for two gaps and its type-I error.

    python tools/bench/privacy_collision.py --sections default --threads 1
                                                       # only part 0 (about 10 minutes)
    python tools/bench/privacy_collision.py --sections tables --threads 1   # about 2 minutes
    python tools/bench/privacy_collision.py            # CPU defaults (a few minutes)
    python tools/bench/privacy_collision.py --paper    # more trials, smaller alpha/eps, larger k
    python tools/bench/privacy_collision.py --sections alpha --trials 80 \
        --alphas 0.15,0.2,0.25,0.3,0.35,0.5,0.7,1.0 --threads 1 --out runs/bench/privacy_collision_alpha
                                                       # only the alpha sweep, more trials

Writes runs/bench/privacy_collision.json and three PNG plots next to it.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from lab.privacy.collision import (
    FrequencyOracleConfig,
    FrequencyOraclePlugin,
    LDPEstimatorConfig,
    PairwiseRandomizedResponse,
    PairwiseRRConfig,
    PrivateSequentialCollisionTest,
    PrivateSequentialTestConfig,
    SaltedHashConfig,
    SaltedHashLDP,
    SequentialCollisionTest,
    SequentialTestConfig,
    dirichlet_distribution,
    estimate_collision_ldp,
    exact_collision_probability,
    fixed_sample_size,
    sample_categorical,
    uniform_distribution,
    zipf_distribution,
)

BETA = 1e-3
SECTIONS = ("default", "tables", "alpha", "k", "eps", "testing")
# the pre-0.2 default aggregation (median of 9 block means, Chebyshev interval); its
# min_groups_per_block guard is lifted so that it runs where the old default ran
OLD_DEFAULT = LDPEstimatorConfig(
    aggregate="median_of_means", ci="chebyshev", min_groups_per_block=1
)
MEAN = LDPEstimatorConfig(aggregate="mean", ci="chebyshev")  # ci unused; valid for 1 group


def _estimators(alpha: float, k: int, c: float):
    fo = FrequencyOraclePlugin(FrequencyOracleConfig(alpha=alpha), domain=k)

    def ours(vals, s):
        ldp = SaltedHashLDP(SaltedHashConfig(alpha=alpha, beta=BETA, c_guess=c, table_seed=s))
        return ldp.run(vals, simulation_seed=s, config=MEAN, device="cpu").estimate

    def rr(vals, s):
        return (
            PairwiseRandomizedResponse(PairwiseRRConfig(alpha=alpha, hash_seed=s))
            .run(vals, simulation_seed=s, device="cpu")
            .estimate
        )

    def fo_run(vals, s):
        return fo.run(vals.numpy(), simulation_seed=s).estimate

    return {"salted_hash": ours, "pairwise_rr": rr, "frequency_oracle": fo_run}


def _coverage(fn, p, c, n, eps, trials, seed0):
    errs = np.array(
        [abs(fn(sample_categorical(p, n, seed=seed0 + t), seed0 + t) - c) for t in range(trials)]
    )
    return float(np.mean(errs <= eps)), float(np.quantile(errs, 0.9))


def samples_needed(fn, p, c, eps, trials, n_min, cap, seed):
    """Smallest n on a 1.25x grid with empirical P(|err| <= eps) >= 0.9 (None past cap).

    The grid starts at 0.6x the pilot's guess and moves up until a probe passes, or down while
    probes pass.

    ``n_min`` is the smallest n the method can run with (one group for the salted hash), so a
    result equal to it means "at most n_min"."""
    n0 = max(n_min, 20_000)
    _, q = _coverage(fn, p, c, n0, eps, trials, seed)
    n = max(n_min, int(0.6 * n0 * (q / eps) ** 2))
    evals = 1

    def passes(m: int) -> bool:
        nonlocal evals
        cov, _ = _coverage(fn, p, c, m, eps, trials, seed + 7919 * evals)
        evals += 1
        return cov >= 0.9

    if n <= cap and passes(n):
        # the first probe passed: step down until a probe fails (or n_min is reached)
        while n > n_min:
            lower = max(n_min, int(n / 1.25))
            if not passes(lower):
                return n
            n = lower
        return n
    n = int(n * 1.25)
    while n <= cap:
        if passes(n):
            return n
        n = int(n * 1.25)
    return None


def _n_min(meth, alpha, c):
    if meth == "salted_hash":
        return SaltedHashLDP(SaltedHashConfig(alpha=alpha, beta=BETA, c_guess=c)).group_size
    return 200


def spike_distribution(k: int) -> np.ndarray:
    """Half the mass on one value, the rest uniform: C = 1/4 + 1/(4(k-1)), nearly flat in k."""
    p = np.full(k, 0.5 / (k - 1))
    p[0] = 0.5
    return p


def _slope(xs, ys):
    pts = [(x, y) for x, y in zip(xs, ys, strict=False) if y is not None]
    if len(pts) < 2:
        return None
    lx, ly = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(lx, ly, 1)[0])


def _small(args, ns):
    """(alphas, ns) restricted to alpha <= args.small_alpha_max."""
    pts = [(a, n) for a, n in zip(args.alphas, ns, strict=False) if a <= args.small_alpha_max]
    return [a for a, _ in pts], [n for _, n in pts]


def _k_sweep(args, make, eps) -> dict:
    """Samples needed vs the domain size k at alpha = 1: ours vs the frequency oracle."""
    res: dict = {}
    cs = []
    for k in args.ks:
        p = make(k)
        c = exact_collision_probability(p)
        cs.append(c)
        ests = _estimators(1.0, k, c)
        for meth in ("salted_hash", "frequency_oracle"):
            cap = args.fo_cap if meth == "frequency_oracle" else args.cap
            res.setdefault(meth, []).append(
                samples_needed(
                    ests[meth], p, c, eps, args.trials, _n_min(meth, 1.0, c), cap, seed=k
                )
            )
        print(
            f"k={k} (C={c:.4f}, eps={eps}): ours {res['salted_hash'][-1]}, "
            f"fo {res['frequency_oracle'][-1]}",
            flush=True,
        )
    return {
        "k": args.ks,
        "C": cs,
        "eps": eps,
        "alpha": 1.0,
        "n": res,
        "n_min_salted_hash": [_n_min("salted_hash", 1.0, c) for c in cs],
        "slope": {m: _slope(args.ks, v) for m, v in res.items()},
    }


def estimation(args) -> dict:
    out: dict = {"vs_alpha": {}, "vs_k": {}, "vs_eps": {}}
    dists = {
        "uniform": uniform_distribution,
        "zipf": lambda k: zipf_distribution(k, 1.0),
        "spike": spike_distribution,
    }
    for dname, make in dists.items():
        if dname == "spike":
            if "k" in args.sections:
                out["vs_k"][dname] = _k_sweep(args, make, args.eps)
            continue
        if "alpha" not in args.sections:
            if "k" in args.sections:
                out["vs_k"][dname] = _k_sweep(args, make, args.eps_k)
            continue
        # alpha sweep at k = 10, eps = args.eps
        p = make(10)
        c = exact_collision_probability(p)
        res = {}
        for alpha in args.alphas:
            ests = _estimators(alpha, 10, c)
            for meth in ("salted_hash", "pairwise_rr"):
                res.setdefault(meth, []).append(
                    samples_needed(
                        ests[meth],
                        p,
                        c,
                        args.eps,
                        args.trials,
                        _n_min(meth, alpha, c),
                        args.cap,
                        seed=int(1e6 * alpha),
                    )
                )
            print(
                f"[{dname}] alpha={alpha}: ours {res['salted_hash'][-1]}, rr {res['pairwise_rr'][-1]}",
                flush=True,
            )
        out["vs_alpha"][dname] = {
            "alpha": args.alphas,
            "C": c,
            "eps": args.eps,
            "n": res,
            "slope": {m: _slope(args.alphas, v) for m, v in res.items()},
            "small_alpha_max": args.small_alpha_max,
            "slope_small_alpha": {m: _slope(*_small(args, v)) for m, v in res.items()},
        }
        if "k" in args.sections:
            out["vs_k"][dname] = _k_sweep(args, make, args.eps_k)
    if "eps" not in args.sections:
        return out
    # eps sweep, uniform k = 10, alpha = 1, all three methods
    p = uniform_distribution(10)
    c = 0.1
    ests = _estimators(1.0, 10, c)
    res = {}
    for eps in args.eps_grid:
        for meth, fn in ests.items():
            cap = args.fo_cap if meth == "frequency_oracle" else args.cap
            res.setdefault(meth, []).append(
                samples_needed(
                    fn, p, c, eps, args.trials, _n_min(meth, 1.0, c), cap, seed=int(1e5 * eps)
                )
            )
        print(
            f"[uniform] eps={eps}: " + ", ".join(f"{m} {v[-1]}" for m, v in res.items()), flush=True
        )
    out["vs_eps"] = {
        "eps": args.eps_grid,
        "alpha": 1.0,
        "k": 10,
        "n": res,
        "slope": {m: _slope(args.eps_grid, v) for m, v in res.items()},
    }
    return out


def _rel_stats(x: np.ndarray) -> dict:
    m, se = float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))
    return {"mean": m, "se": se, "ci95": [m - 1.96 * se, m + 1.96 * se]}


def _coverage_stats(hits: np.ndarray) -> dict:
    cov = float(hits.mean())
    return {"coverage": cov, "se": math.sqrt(cov * (1 - cov) / hits.size), "runs": int(hits.size)}


def default_config(args) -> dict:
    """Part 0: bias and interval coverage of the default configuration (module docstring)."""
    sources = {
        "dirichlet(k=50, a=1)": (dirichlet_distribution(50, 1.0, seed=0), SaltedHashConfig()),
        "dirichlet(k=20, a=0.5)": (dirichlet_distribution(20, 0.5, seed=1), SaltedHashConfig()),
        "zipf(k=100, s=1)": (zipf_distribution(100, 1.0), SaltedHashConfig()),
        "zipf(k=5000, s=1.3)": (zipf_distribution(5000, 1.3), SaltedHashConfig()),
        "issue19: zipf(k=5000, s=1.3), alpha=0.25": (
            zipf_distribution(5000, 1.3),
            SaltedHashConfig(alpha=0.25),
        ),
    }
    out: dict = {}
    for name, (p, cfg) in sources.items():
        c = exact_collision_probability(p)
        issue = name.startswith("issue19")
        n, runs = (
            (args.default_n_issue, args.default_runs_issue)
            if issue
            else (
                args.default_n,
                args.default_runs,
            )
        )
        rel, rel_old = np.empty(runs), np.empty(runs)
        cov_n, cov_c, cov_old = (np.zeros(runs, bool) for _ in range(3))
        w_n, w_c = np.empty(runs), np.empty(runs)
        t0 = time.perf_counter()
        for r in range(runs):
            ldp = SaltedHashLDP(replace(cfg, table_seed=r))
            vals = sample_categorical(p, n, seed=1_000_000 + r)
            rep = ldp.privatize(vals, simulation_seed=r, device="cpu")
            e = estimate_collision_ldp(rep)  # the defaults
            d = e.details
            rel[r] = (e.estimate - c) / c
            cov_n[r] = e.ci_low <= c <= e.ci_high
            cov_c[r] = d["chebyshev_low"] <= c <= d["chebyshev_high"]
            w_n[r], w_c[r] = e.ci_high - e.ci_low, d["chebyshev_high"] - d["chebyshev_low"]
            old = estimate_collision_ldp(rep, OLD_DEFAULT)
            rel_old[r] = (old.estimate - c) / c
            cov_old[r] = old.ci_low <= c <= old.ci_high
        bias = _rel_stats(rel)
        out[name] = {
            "C": c,
            "n": n,
            "runs": runs,
            "alpha": cfg.alpha,
            "m": ldp.m,
            "group_size": ldp.group_size,
            "n_groups": d["n_groups"],
            "default": {
                "relative_bias": bias,
                "bias_below_2pct_of_C": bool(abs(bias["mean"]) < 0.02),
                "bias_ci95_within_2pct_of_C": bool(max(abs(b) for b in bias["ci95"]) < 0.02),
                "relative_rmse": float(np.sqrt(np.mean(rel**2))),
                "normal": {**_coverage_stats(cov_n), "mean_width": float(w_n.mean())},
                "chebyshev": {**_coverage_stats(cov_c), "mean_width": float(w_c.mean())},
            },
            "baseline_old_default_median_of_9_means": {
                "groups_per_block": d["n_groups"] / 9,
                "relative_bias": _rel_stats(rel_old),
                "relative_rmse": float(np.sqrt(np.mean(rel_old**2))),
                "chebyshev": _coverage_stats(cov_old),
            },
            "mse_ratio_old_over_default": float(np.mean(rel_old**2) / np.mean(rel**2)),
            "seconds": time.perf_counter() - t0,
        }
        print(
            f"[default] {name}: C={c:.4f} G={d['n_groups']} bias {bias['mean']:+.2%} "
            f"(se {bias['se']:.2%}); normal cov {cov_n.mean():.3f}, chebyshev {cov_c.mean():.3f}"
            f"; old MoM bias {rel_old.mean():+.2%} ({time.perf_counter() - t0:.0f}s)",
            flush=True,
        )
    return out


def table_bias(args) -> dict:
    """Section ``tables``: are the keyed-hash tables unbiased for C at the table level?

    For one table draw, ``Q = m (sum_x p_x mu_x)^2`` with ``mu_x = 2 h_x - 1`` is the
    expectation of a group's estimate over infinitely many users; ``E[Q] = C`` exactly when
    the table bits are independent fair coins. Mean of ``Q / C - 1`` over ``--tables`` draws
    (Zipf(1), k = 100, default m = 78)."""
    from lab.privacy.collision._hashing import hash_bits

    k, m = 100, SaltedHashLDP().m
    p = torch.tensor(zipf_distribution(k, 1.0))
    c = float((p * p).sum())
    ids, salts = torch.arange(k)[None, None, :], torch.arange(m)[None, :, None]
    qs, chunk, t0 = [], 500, time.perf_counter()
    for start in range(0, args.tables, chunk):
        g = torch.arange(start, min(args.tables, start + chunk))[:, None, None]
        mu = 2 * hash_bits(12345, g, salts, ids).double().mean(1) - 1
        qs.append(m * (mu @ p) ** 2)
    q = torch.cat(qs).numpy() / c - 1
    out = {"C": c, "m": m, "k": k, "tables": args.tables, "relative_bias": _rel_stats(q)}
    out["seconds"] = time.perf_counter() - t0
    print(f"[tables] E[Q]/C - 1 = {q.mean():+.3%} (se {out['relative_bias']['se']:.3%})")
    return out


def testing(args) -> dict:
    out: dict = {}
    # non-private: H0: C = 0.25 - eps, truth uniform over 4 values (C = 0.25)
    med, fixed = [], []
    for eps in args.test_eps:
        test = SequentialCollisionTest(
            SequentialTestConfig(c0=0.25 - eps, delta=0.05, first_check=16, max_samples=2**22)
        )
        stops = [
            test.run_sampler(lambda n, rng: rng.integers(0, 4, size=n), seed=s).stopping_time
            for s in range(args.test_trials)
        ]
        med.append(float(np.median([s if s is not None else math.inf for s in stops])))
        fixed.append(fixed_sample_size(eps, 0.05))
        print(f"[sequential] eps={eps}: median stop {med[-1]}, fixed n {fixed[-1]}", flush=True)
    null = SequentialCollisionTest(
        SequentialTestConfig(c0=0.1, delta=0.05, first_check=16, max_samples=2**16)
    )
    rej = sum(
        null.run_sampler(lambda n, rng: rng.integers(0, 10, size=n), seed=s).reject
        for s in range(args.null_trials)
    )
    out["non_private"] = {
        "eps": args.test_eps,
        "median_stopping_time": med,
        "fixed_n": fixed,
        "ratio_sequential_over_fixed": [m / f for m, f in zip(med, fixed, strict=False)],
        "slope_vs_eps": _slope(args.test_eps, med),
        "delta": 0.05,
        "type1_rejections": int(rej),
        "type1_trials": args.null_trials,
        "type1_rate": rej / args.null_trials,
        "null_budget": 2**16,
    }
    # private: alpha = 2, H0: C = 0.1
    cfg = dict(
        c0=0.1,
        delta=0.05,
        alpha=2.0,
        beta=BETA,
        first_check_groups=16,
        max_samples=args.private_cap,
    )
    test = PrivateSequentialCollisionTest(PrivateSequentialTestConfig(**cfg))
    priv = {}
    for k in (4, 3):
        stops = [
            test.run_sampler(
                lambda n, rng, k=k: rng.integers(0, k, size=n),
                seed=s,
                simulation_seed=s,
                device="cpu",
            ).stopping_time
            for s in range(args.private_trials)
        ]
        priv[f"C={1 / k:.3f}"] = float(np.median([s if s is not None else math.inf for s in stops]))
        print(
            f"[private sequential] C={1 / k:.3f}: median stop {priv[f'C={1 / k:.3f}']}", flush=True
        )
    null_rej = sum(
        test.run_sampler(
            lambda n, rng: rng.integers(0, 10, size=n), seed=s, simulation_seed=s, device="cpu"
        ).reject
        for s in range(args.private_trials)
    )
    out["private"] = {
        "alpha": 2.0,
        "beta": BETA,
        "c0": 0.1,
        "m": test.m,
        "group_size": test.group_size,
        "median_stopping_time": priv,
        "type1_rejections": int(null_rej),
        "type1_trials": args.private_trials,
        "budget": args.private_cap,
    }
    return out


def plots(res: dict, out_dir: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    files: list[str] = []
    if "estimation" not in res:
        return files
    est = res["estimation"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for dname, d in est["vs_alpha"].items():
        for meth, ns in d["n"].items():
            pts = [(a, n) for a, n in zip(d["alpha"], ns, strict=False) if n]
            if pts:
                axes[0].loglog(
                    *zip(*pts, strict=False),
                    marker="o",
                    label=f"{meth} {dname} (slope {d['slope'][meth]:.2f})"
                    if d["slope"][meth] is not None
                    else f"{meth} {dname}",
                )
    axes[0].set(xlabel="alpha", ylabel="users for |err|<=eps w.p. 0.9", title="vs alpha (k=10)")
    for dname, d in est["vs_k"].items():
        for meth, ns in d["n"].items():
            pts = [(k, n) for k, n in zip(d["k"], ns, strict=False) if n]
            if pts:
                axes[1].loglog(*zip(*pts, strict=False), marker="o", label=f"{meth} {dname}")
    axes[1].set(xlabel="domain size k", title="vs k (alpha=1)")
    d = est.get("vs_eps") or {"n": {}}
    for meth, ns in d["n"].items():
        pts = [(e, n) for e, n in zip(d["eps"], ns, strict=False) if n]
        if pts:
            axes[2].loglog(*zip(*pts, strict=False), marker="o", label=f"{meth}")
    axes[2].set(xlabel="eps", title="vs eps (uniform k=10, alpha=1)")
    keep = [ax for ax in axes if ax.lines]
    for ax in axes:
        if not ax.lines:  # a section that was not run (--sections)
            fig.delaxes(ax)
            continue
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    if keep and len(keep) < len(axes):
        fig.set_size_inches(5 * len(keep) + 1, 4)
        gs = fig.add_gridspec(1, len(keep))
        for i, ax in enumerate(keep):
            ax.set_subplotspec(gs[0, i])
    fig.tight_layout()
    f = out_dir / "privacy_collision_estimation.png"
    fig.savefig(f)
    plt.close(fig)
    files.append(str(f))
    if "testing" not in res:
        return files
    t = res["testing"]["non_private"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(
        t["eps"],
        t["median_stopping_time"],
        marker="o",
        label=f"sequential (slope {t['slope_vs_eps']:.2f})",
    )
    ax.loglog(t["eps"], t["fixed_n"], marker="s", label="fixed-n, eps known")
    ax.set(xlabel="gap eps", ylabel="samples", title="Sequential test vs fixed-n test")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    f = out_dir / "privacy_collision_sequential.png"
    fig.savefig(f)
    plt.close(fig)
    files.append(str(f))
    return files


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--paper", action="store_true", help="larger sweep (GPU-sized; hours on a CPU)")
    ap.add_argument("--out", type=Path, default=Path("runs/bench"))
    ap.add_argument(
        "--trials", type=int, default=None, help="trials per probe (default: 20, --paper 100)"
    )
    ap.add_argument(
        "--alphas",
        type=lambda s: [float(a) for a in s.split(",")],
        default=None,
        help="comma-separated alpha grid of the alpha sweep (default: 0.35,0.5,0.7,1.0)",
    )
    ap.add_argument(
        "--small-alpha-max",
        type=float,
        default=0.5,
        help="also fit the alpha slope on alpha <= this value (default 0.5)",
    )
    ap.add_argument(
        "--sections",
        type=lambda s: s.split(","),
        default=list(SECTIONS),
        help="comma-separated subset of " + ",".join(SECTIONS) + " (default: all)",
    )
    ap.add_argument(
        "--cap",
        type=int,
        default=None,
        help="largest n probed for ours and pairwise RR (default: 4e6, --paper 1e9)",
    )
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument(
        "--default-runs", type=int, default=2000, help="part 0: runs per source (default 2000)"
    )
    ap.add_argument(
        "--default-n", type=int, default=200_000, help="part 0: users per run (default 2e5)"
    )
    ap.add_argument(
        "--tables", type=int, default=200_000, help="section tables: table draws (default 2e5)"
    )
    ap.add_argument(
        "--default-runs-issue",
        type=int,
        default=300,
        help="part 0, issue-19 setting: runs (default 300)",
    )
    ap.add_argument(
        "--default-n-issue",
        type=int,
        default=1_000_000,
        help="part 0, issue-19 setting: users per run (default 1e6)",
    )
    args = ap.parse_args()
    bad = [s for s in args.sections if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {bad}; choose from {list(SECTIONS)}")
    torch.set_num_threads(args.threads)
    trials, alphas, cap = args.trials, args.alphas, args.cap
    if args.paper:
        args.alphas, args.ks, args.eps_grid = (
            [0.125, 0.25, 0.5, 1.0],
            [10, 100, 1000, 10000],
            [0.0125, 0.025, 0.05, 0.1],
        )
        args.eps, args.eps_k, args.trials, args.cap, args.fo_cap = 0.05, 0.02, 100, 10**9, 10**8
        args.test_eps, args.test_trials, args.null_trials = (
            [0.01, 0.02, 0.04, 0.08, 0.16],
            100,
            1000,
        )
        args.private_trials, args.private_cap = 50, 10**8
    else:
        args.alphas, args.ks, args.eps_grid = (
            [0.35, 0.5, 0.7, 1.0],
            [10, 100, 1000],
            [0.025, 0.05, 0.1],
        )
        args.eps, args.eps_k, args.trials, args.cap, args.fo_cap = (
            0.05,
            0.02,
            20,
            4 * 10**6,
            2 * 10**6,
        )
        args.test_eps, args.test_trials, args.null_trials = [0.02, 0.04, 0.08, 0.16], 30, 200
        args.private_trials, args.private_cap = 10, 2 * 10**6
    if trials is not None:
        args.trials = trials
    if alphas is not None:
        args.alphas = alphas
    if cap is not None:
        args.cap = cap
    t0 = time.perf_counter()
    res: dict = {}
    if "default" in args.sections:
        res["default"] = default_config(args)
    if "tables" in args.sections:
        res["tables"] = table_bias(args)
    if any(sec in args.sections for sec in ("alpha", "k", "eps")):
        res["estimation"] = estimation(args)
    if "testing" in args.sections:
        res["testing"] = testing(args)
    res["seconds"] = time.perf_counter() - t0
    res["config"] = {k: v for k, v in vars(args).items() if k != "out"} | {
        "out": str(args.out),
        "beta": BETA,
    }
    res["summary"] = {}
    if "default" in res:
        res["summary"]["default"] = {
            name: {
                "C": d["C"],
                "relative_bias": d["default"]["relative_bias"]["mean"],
                "relative_bias_se": d["default"]["relative_bias"]["se"],
                "bias_below_2pct_of_C": d["default"]["bias_below_2pct_of_C"],
                "bias_ci95_within_2pct_of_C": d["default"]["bias_ci95_within_2pct_of_C"],
                "normal_coverage": d["default"]["normal"]["coverage"],
                "chebyshev_coverage": d["default"]["chebyshev"]["coverage"],
                "old_default_relative_bias": d["baseline_old_default_median_of_9_means"][
                    "relative_bias"
                ]["mean"],
            }
            for name, d in res["default"].items()
        }
    a = res.get("estimation", {}).get("vs_alpha", {})
    if a:
        res["summary"] |= {
            "slope_alpha_salted_hash": {d: a[d]["slope"]["salted_hash"] for d in a},
            "slope_alpha_pairwise_rr": {d: a[d]["slope"]["pairwise_rr"] for d in a},
            "slope_small_alpha_salted_hash": {
                d: a[d]["slope_small_alpha"]["salted_hash"] for d in a
            },
            "slope_small_alpha_pairwise_rr": {
                d: a[d]["slope_small_alpha"]["pairwise_rr"] for d in a
            },
            "ratio_rr_over_ours_at_smallest_alpha": {
                d: (a[d]["n"]["pairwise_rr"][0] / a[d]["n"]["salted_hash"][0])
                if a[d]["n"]["pairwise_rr"][0] and a[d]["n"]["salted_hash"][0]
                else None
                for d in a
            },
        }
    if "testing" in res:
        t = res["testing"]["non_private"]
        res["summary"]["sequential_slope_vs_eps"] = t["slope_vs_eps"]
        res["summary"]["sequential_over_fixed_ratio"] = t["ratio_sequential_over_fixed"]
    args.out.mkdir(parents=True, exist_ok=True)
    res["plots"] = plots(res, args.out)
    name = (
        "privacy_collision.json"
        if not set(args.sections) <= {"default", "tables"}
        else f"privacy_collision_{'_'.join(args.sections)}.json"
    )
    path = args.out / name
    path.write_text(json.dumps(res, indent=2, default=float) + "\n")
    print(json.dumps(res["summary"], indent=2))
    print(f"wrote {path} in {res['seconds']:.0f}s")


if __name__ == "__main__":
    main()
