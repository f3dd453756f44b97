"""The ``lab`` command-line tool.

Built-in commands: ``lab version`` and ``lab demo``. Each installed domain adds
``lab <domain> ...`` through the entry-point group ``lab.cli`` (a callable
``main(argv: list[str]) -> int``) and a demo through ``lab.demos`` (see
:mod:`lab.core.report`). Entry points are loaded only when their command runs, so
``lab --help`` never imports a domain's heavy dependencies.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from importlib.metadata import distributions
from pathlib import Path

from ._errors import LabError
from ._plugins import CLI_GROUP, DEMO_GROUP, KNOWN_DOMAINS, find_plugins, install_hint
from ._progress import setup_logging

__all__ = ["main"]

_BUILTINS = ("version", "demo")


def _epilog() -> str:
    cli = find_plugins(CLI_GROUP)
    lines = ["installed domains:"]
    if cli:
        width = max(len(n) for n in cli)
        lines += [f"  {n:<{width}}  {p.distribution} {p.version}" for n, p in cli.items()]
    else:
        lines.append("  (none) - install one, e.g. pip install ./packages/explain")
    missing = [d for d in KNOWN_DOMAINS if d not in cli]
    if missing:
        lines.append("not installed: " + ", ".join(missing))
    lines.append("run `lab <domain> --help` for a domain's commands")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lab",
        description="labworks: research methods as installable libraries.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("version", help="installed labworks distributions, torch and CUDA")
    demo = sub.add_parser("demo", help="run each installed domain's demo and write a report")
    demo.add_argument(
        "--domains",
        nargs="+",
        default=None,
        metavar="DOMAIN",
        help="only these domains (default: every installed one)",
    )
    demo.add_argument(
        "--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)"
    )
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    sub.add_parser("<domain>", help="a domain's own commands (see below)")
    return parser


def _cmd_version() -> int:
    import torch

    rows = sorted(
        (d.metadata["Name"], d.version)
        for d in distributions()
        if (d.metadata["Name"] or "").lower().startswith("labworks-")
    )
    for name, version in rows:
        print(f"{name} {version}")
    print(f"python {platform.python_version()}")
    print(f"torch {torch.__version__}")
    cuda = torch.cuda.is_available()
    print(
        f"cuda available: {cuda}"
        + (f" ({torch.cuda.device_count()} device(s), CUDA {torch.version.cuda})" if cuda else "")
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._device import get_device
    from ._seed import set_seed
    from .report import write_report

    demos = find_plugins(DEMO_GROUP)
    if not demos:
        print(
            "no labworks domain is installed, so there is no demo to run; install one, e.g. "
            "pip install ./packages/explain"
        )
        return 0
    wanted = list(demos) if args.domains is None else args.domains
    unknown = [d for d in wanted if d not in demos]
    if unknown:
        for d in unknown:
            hint = install_hint(d)
            print(
                f"lab demo: domain {d!r} is not installed" + (f"; {hint}" if hint else ""),
                file=sys.stderr,
            )
        print(f"installed domains with demos: {', '.join(demos)}", file=sys.stderr)
        return 2
    device = get_device(args.device)
    out: Path = args.out
    results = {}
    failures = {}
    for name in wanted:
        print(f"[lab demo] {name} on {device} ...", flush=True)
        start = time.perf_counter()
        try:
            set_seed(args.seed)
            fn = demos[name].load()
            res = fn(out / name, device=device, seed=args.seed)
            from dataclasses import replace

            res = replace(res, seconds=time.perf_counter() - start)
            results[name] = res
            print(f"[lab demo] {name} done in {res.seconds:.1f}s", flush=True)
        except Exception:
            failures[name] = traceback.format_exc()
            print(f"[lab demo] {name} FAILED:\n{failures[name]}", file=sys.stderr, flush=True)
    header = f"device: `{device}`, seed: {args.seed}"
    report = write_report(out, results, failures, header=header)
    print(f"[lab demo] report: {report}")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in _BUILTINS:
        plugins = find_plugins(CLI_GROUP)
        idx = argv.index(first)
        if first in plugins:
            setup_logging(sum(1 for a in argv[:idx] if a in ("-v", "--verbose")))
            try:
                return int(plugins[first].load()(argv[idx + 1 :]) or 0)
            except LabError as exc:
                print(f"lab {first}: error: {exc}", file=sys.stderr)
                return 2
        hint = install_hint(first)
        msg = f"lab: unknown command {first!r}."
        if hint:
            msg += f" The domain {first!r} is not installed; install it with: {hint}"
        print(msg, file=sys.stderr)
        print("installed domains: " + (", ".join(plugins) or "(none)"), file=sys.stderr)
        return 2
    parser = _parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        if args.command == "version":
            return _cmd_version()
        if args.command == "demo":
            return _cmd_demo(args)
    except LabError as exc:
        print(f"lab: error: {exc}", file=sys.stderr)
        return 2
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
