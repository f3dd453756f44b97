"""``lab explain ...``: command-line entry point of labworks-explain.

``lab explain stability [flags]`` trains (or loads) a small CNN on scikit-learn's digits (or an
``.npz`` image set), explains test images with the requested methods and estimates their
stability rates with SCA at each radius; see :class:`lab.explain.experiment.StabilityRunConfig`
for every flag. ``--resume RUN_DIR`` continues a stopped run.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab.core import RunDir, add_config_arguments, config_from_args, get_device, set_seed

__all__ = ["main", "plot_summary"]


def _parser() -> argparse.ArgumentParser:
    from .experiment import StabilityRunConfig

    parser = argparse.ArgumentParser(
        prog="lab explain", description="soft stability certification of feature attributions"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    st = sub.add_parser(
        "stability",
        help="stability rate vs radius of explanations on an image set",
        description="Estimate stability rates with SCA for top-k patch explanations.",
    )
    add_config_arguments(st, StabilityRunConfig)
    st.add_argument(
        "--out", type=Path, default=Path("runs"), help="root of run folders (default: runs)"
    )
    st.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="continue the run in this folder (its config.json is used)",
    )
    st.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    return parser


def plot_summary(summary: dict[str, Any], path: Path, title: str = "") -> Path | None:
    """Stability rate vs radius per method (and MuS certified fraction), as PNG; None without matplotlib."""
    if importlib.util.find_spec("matplotlib") is None:
        return None
    from lab.core.report import line_plot

    radii = summary["radii"]
    series = {}
    for method, entry in summary["methods"].items():
        series[f"{method} (SCA)"] = (radii, [entry["mean_rate"][str(r)] for r in radii])
        if "mus_certified_fraction" in entry:
            series[f"{method} (MuS certified)"] = (
                radii,
                [entry["mus_certified_fraction"][str(r)] for r in radii],
            )
    return line_plot(
        path,
        series,
        title=title or "stability rate vs radius",
        xlabel="radius r",
        ylabel="mean stability rate",
    )


def _stability(args: argparse.Namespace) -> int:
    from lab.core import config_from_dict

    from .experiment import StabilityRunConfig, check_inputs, run_stability

    # device, config and input data are validated before a run folder exists
    device = get_device(args.device)
    if args.resume is not None:
        run = RunDir.open(args.resume)
        cfg = config_from_dict(StabilityRunConfig, run.load_config_dict())
        check_inputs(cfg)
    else:
        cfg = config_from_args(StabilityRunConfig, args)
        check_inputs(cfg)
        run = RunDir.create("explain-stability", root=args.out, config=cfg)
    set_seed(cfg.seed)
    summary = run_stability(cfg, run, device=device)
    print(f"run: {run.path}")
    print(
        f"test accuracy: {summary['test_accuracy']:.3f}  (lambda = {cfg.lam}, eps = {cfg.eps}, delta = {cfg.delta})"
    )
    header = "method".ljust(24) + "".join(f"r={r}".rjust(8) for r in cfg.radii)
    print(header)
    for method, entry in summary["methods"].items():
        print(method.ljust(24) + "".join(f"{entry['mean_rate'][str(r)]:8.3f}" for r in cfg.radii))
        if "mus_certified_fraction" in entry:
            print(
                ("  MuS certified").ljust(24)
                + "".join(f"{entry['mus_certified_fraction'][str(r)]:8.3f}" for r in cfg.radii)
            )
    plot = plot_summary(summary, run.plot_path("stability_vs_radius"))
    if plot is None:
        print("no plot: install matplotlib with pip install 'labworks-explain[plots]'")
    else:
        print(f"plot: {plot}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lab explain``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.command == "stability":
        return _stability(args)
    parser.print_help()
    return 0
