"""``lab privacy collision ...``: estimation, sequential testing and privacy audits.

    lab privacy collision estimate --input FILE [--column NAME] [--method salted-hash] --alpha 1 --beta 1e-3
    lab privacy collision test --input FILE --c0 0.1 --delta 0.05 [--private] --alpha 1
    lab privacy collision audit --k 1000 --alpha 1 --beta 1e-3 --groups 4

Each command prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lab.core import ConfigError, add_config_arguments, config_from_args, get_device

__all__ = ["register"]

_METHODS = ("exact", "salted-hash", "pairwise-rr", "frequency-oracle")


def register(sub: Any) -> None:
    """Add ``collision {estimate,test,audit}`` to the ``lab privacy`` subparsers ``sub``."""
    coll = sub.add_parser(
        "collision", help="estimate or test the collision probability of a file's values"
    )
    csub = coll.add_subparsers(dest="action", metavar="ACTION", required=True)

    from .ldp_estimator import LDPEstimatorConfig
    from .salted_hash import SaltedHashConfig
    from .sequential import PrivateSequentialTestConfig

    est = csub.add_parser(
        "estimate", help="estimate C(p) (non-private, salted-hash LDP or a baseline)"
    )
    _io_args(est)
    est.add_argument(
        "--method", choices=_METHODS, default="salted-hash", help="estimator (default: salted-hash)"
    )
    add_config_arguments(est, SaltedHashConfig)
    est.add_argument(
        "--aggregate",
        choices=("mean", "median_of_means"),
        default=LDPEstimatorConfig.aggregate,
        help="salted-hash aggregation (default: mean, unbiased)",
    )
    est.add_argument(
        "--ci",
        choices=("normal", "chebyshev"),
        default=LDPEstimatorConfig.ci,
        help="salted-hash interval returned as ci_low/ci_high (default: normal; both are reported)",
    )
    est.add_argument(
        "--confidence",
        type=float,
        default=LDPEstimatorConfig.confidence,
        help="interval coverage (default: 0.95)",
    )

    test = csub.add_parser("test", help="sequential test of H0: C = c0 (or C <= c0)")
    _io_args(test)
    test.add_argument(
        "--private",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="randomize each value with the salted hash first (default: no)",
    )
    test.add_argument(
        "--first-check",
        type=int,
        default=64,
        help="non-private test: samples at the first check (default: 64)",
    )
    add_config_arguments(test, PrivateSequentialTestConfig)

    aud = csub.add_parser(
        "audit", help="exact privacy audit of salted-hash tables on a domain 0..k-1"
    )
    aud.add_argument("--k", type=int, required=True, help="domain size")
    aud.add_argument(
        "--groups", type=int, default=1, help="number of group tables to audit (default: 1)"
    )
    aud.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    add_config_arguments(aud, SaltedHashConfig)
    est.set_defaults(func=_print(_estimate))
    test.set_defaults(func=_print(_test))
    aud.set_defaults(func=_print(_audit))


def _print(fn: Callable[[argparse.Namespace], dict]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(json.dumps(fn(args), indent=2, default=float))
        return 0

    return run


def _io_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input", type=Path, required=True, help="text file: one value per line, or a CSV"
    )
    p.add_argument("--column", default=None, help="CSV column (header name or 0-based index)")
    p.add_argument(
        "--simulation-seed",
        type=int,
        default=None,
        help="SIMULATION ONLY: seed the users' local randomness (salts, flips) so that a run "
        "can be repeated. A known seed voids the privacy guarantee. Default: OS entropy",
    )
    p.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)  # deprecated
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")


def _simulation_seed(args: argparse.Namespace) -> int | None:
    """``--simulation-seed``, or the deprecated ``--seed`` with one line on stderr."""
    if args.seed is not None:
        print(
            "lab privacy collision: --seed is deprecated (removed in 0.3); use "
            "--simulation-seed (a known seed voids the privacy guarantee)",
            file=sys.stderr,
        )
        if args.simulation_seed is not None:
            raise ConfigError("pass either --simulation-seed or --seed, not both")
        return int(args.seed)
    return args.simulation_seed


def _estimate(args: argparse.Namespace) -> dict:
    from .baselines import (
        FrequencyOracleConfig,
        FrequencyOraclePlugin,
        PairwiseRandomizedResponse,
        PairwiseRRConfig,
    )
    from .io import read_values
    from .ldp_estimator import LDPEstimatorConfig
    from .salted_hash import SaltedHashConfig, SaltedHashLDP
    from .unbiased import estimate_collision

    cfg = config_from_args(SaltedHashConfig, args)
    sim = _simulation_seed(args)
    est_cfg = LDPEstimatorConfig(aggregate=args.aggregate, ci=args.ci, confidence=args.confidence)
    values = read_values(args.input, args.column)
    device = get_device(args.device)
    if args.method == "exact":
        res = estimate_collision(values, confidence=args.confidence)
    elif args.method == "salted-hash":
        res = SaltedHashLDP(cfg).run(values, simulation_seed=sim, config=est_cfg, device=device)
    elif args.method == "pairwise-rr":
        rr = PairwiseRandomizedResponse(
            PairwiseRRConfig(alpha=cfg.alpha, confidence=args.confidence, hash_seed=cfg.table_seed)
        )
        res = rr.run(values, simulation_seed=sim, device=device)
    else:
        domain = sorted(set(values))
        fo = FrequencyOraclePlugin(
            FrequencyOracleConfig(alpha=cfg.alpha, confidence=args.confidence), domain
        )
        res = fo.run(values, simulation_seed=sim)
    return {
        "command": "collision estimate",
        "input": str(args.input),
        "estimator": args.method,
        "simulation_seed": sim,
        **res.as_dict(),
    }


def _test(args: argparse.Namespace) -> dict:
    from .io import read_values
    from .sequential import (
        PrivateSequentialCollisionTest,
        PrivateSequentialTestConfig,
        SequentialCollisionTest,
        SequentialTestConfig,
    )

    pcfg = config_from_args(PrivateSequentialTestConfig, args)
    sim = _simulation_seed(args)
    values = read_values(args.input, args.column)
    if args.private:
        test = PrivateSequentialCollisionTest(pcfg)
        res = test.run(values, simulation_seed=sim, device=get_device(args.device))
        extra = {"m": test.m, "group_size": test.group_size, "simulation_seed": sim}
    else:
        cfg = SequentialTestConfig(
            c0=pcfg.c0,
            delta=pcfg.delta,
            alternative=pcfg.alternative,
            first_check=args.first_check,
            growth=pcfg.growth,
            max_samples=max(2, len(values)),
        )
        res = SequentialCollisionTest(cfg).run(values)
        extra = {}
    return {
        "command": "collision test",
        "input": str(args.input),
        "private": args.private,
        "decision": res.decision,
        "outcome": res.outcome,
        "reject": res.reject,
        "n_required": res.n_required,
        "stopping_time": res.stopping_time,
        "n_used": res.n_used,
        "n_available": len(values),
        "c0": res.c0,
        "delta": res.delta,
        "alternative": res.alternative,
        **extra,
        "path": [{"t": int(t), "statistic": s, "radius": r} for t, s, r in res.path],
    }


def _audit(args: argparse.Namespace) -> dict:
    from .audit import audit_salted_hash
    from .salted_hash import SaltedHashConfig, SaltedHashLDP

    cfg = config_from_args(SaltedHashConfig, args)
    if args.groups < 1:
        raise ConfigError(f"--groups must be >= 1, got {args.groups}")
    ldp = SaltedHashLDP(cfg)
    a = audit_salted_hash(ldp, args.k, groups=range(args.groups), device=get_device(args.device))
    out = asdict(a)
    out.pop("column_means")
    return {
        "command": "collision audit",
        "m": ldp.m,
        "beta": cfg.beta,
        **out,
        "within_beta": a.violation_fraction <= cfg.beta,
    }
