"""The ``lab`` command-line tool.

Built-in commands: ``lab version`` and ``lab demo``. Each installed domain adds
``lab <domain> ...`` through the entry-point group ``lab.cli`` (a callable
``main(argv: list[str]) -> int``) and demos through ``lab.demos`` (named ``<domain>`` or
``<domain>-<method>``; see :mod:`lab.core.report`). Entry points are loaded only when their
command runs, so ``lab --help`` never imports a domain's heavy dependencies.

Exit codes: 0 success; 2 for every failure the user can act on (a :class:`~lab.core.LabError`
from a domain command, printed as one line, a missing requirement, an unknown domain, a demo
that failed); 130 after Ctrl-C (128 + SIGINT, the shell convention), with one line saying how
to continue (see :meth:`lab.core.RunDir.guard`). A domain command's own exit code passes
through unchanged.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from importlib.metadata import distributions
from pathlib import Path

from ._errors import LabError
from ._plugins import (
    CLI_GROUP,
    DEMO_GROUP,
    KNOWN_DOMAINS,
    Plugin,
    find_plugins,
    install_hint,
    missing_requirements,
    provides_extra,
)
from ._progress import setup_logging
from ._rundir import interrupted_message
from .report import DEMO_SIZE_ENV, DEMO_SIZES

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
        help="only these domains' demos: DOMAIN selects the demos named DOMAIN or DOMAIN-* "
        "(e.g. molecules, or molecules-particles alone); default: every installed demo",
    )
    demo.add_argument(
        "--size",
        choices=DEMO_SIZES,
        default=None,
        help=f"demo size: full (default) or tiny (a seconds-long smoke run); sets {DEMO_SIZE_ENV}",
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


def _select_demos(demos: dict[str, Plugin], wanted: list[str] | None) -> dict[str, Plugin]:
    """Demos named ``d`` or ``d-*`` for each requested ``d``; LabError for one that matches none."""
    if wanted is None:
        return dict(demos)
    chosen: dict[str, Plugin] = {}
    unknown = []
    for d in wanted:
        hits = {n: p for n, p in demos.items() if n == d or n.startswith(d + "-")}
        if not hits:
            unknown.append(d)
        chosen.update(hits)
    if unknown:
        d = unknown[0]
        hint = install_hint(d.split("-")[0])
        raise LabError(
            f"no installed demo is named {d!r} or {d + '-*'!r}"
            + (f"; {hint}" if hint else "")
            + f" (installed demos: {', '.join(demos)})"
        )
    return chosen


def _demo_install_line(plugin: Plugin) -> str:
    dist = plugin.distribution
    spec = f"{dist}[demo]" if provides_extra(dist, "demo") else dist
    return f"pip install '{spec}'"


def _missing_for_demo(plugin: Plugin) -> list[str]:
    dist = plugin.distribution
    if dist == "?":  # an entry point without distribution metadata: nothing to check
        return []
    return missing_requirements(dist, ("demo",) if provides_extra(dist, "demo") else ())


def _cmd_demo(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ._device import get_device
    from ._seed import set_seed
    from .report import demo_size, write_report

    demos = find_plugins(DEMO_GROUP)
    if not demos:
        print(
            "no labworks domain is installed, so there is no demo to run; install one, e.g. "
            "pip install './packages/explain[demo]'"
        )
        return 0
    selected = _select_demos(demos, args.domains)
    if args.size is not None:
        os.environ[DEMO_SIZE_ENV] = args.size
    size = demo_size()  # validates LABWORKS_DEMO_SIZE before any work
    device = get_device(args.device)
    # every selected demo's requirements are checked before any work starts
    skipped: dict[str, str] = {}
    for name, plugin in selected.items():
        missing = _missing_for_demo(plugin)
        if missing:
            skipped[name] = (
                f"needs {', '.join(missing)} (not installed); install with: "
                + _demo_install_line(plugin)
            )
    # demos the user asked for by name, or nothing left to run: fail before any work
    abort = bool(skipped) and (args.domains is not None or len(skipped) == len(selected))
    for name, reason in skipped.items():
        verb = "cannot run" if abort else "skipping"
        print(f"lab demo: {verb} {name}: {reason}", file=sys.stderr, flush=True)
    if abort:
        return 2
    out: Path = args.out
    results = {}
    failures = {}
    interrupted = None
    for name in (n for n in selected if n not in skipped):
        print(f"[lab demo] {name} on {device} ...", flush=True)
        start = time.perf_counter()
        try:
            set_seed(args.seed)
            fn = selected[name].load()
            res = fn(out / name, device=device, seed=args.seed)
            res = replace(res, seconds=time.perf_counter() - start)
            results[name] = res
            print(f"[lab demo] {name} done in {res.seconds:.1f}s", flush=True)
        except KeyboardInterrupt as exc:
            interrupted = exc
            break
        except LabError as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
            print(f"lab demo: {name} failed: {failures[name]}", file=sys.stderr, flush=True)
        except Exception as exc:
            failures[name] = traceback.format_exc()
            print(
                f"lab demo: {name} failed: {type(exc).__name__}: {exc} (traceback in the report)",
                file=sys.stderr,
                flush=True,
            )
    header = f"device: `{device}`, seed: {args.seed}, size: {size}"
    report = write_report(out, results, failures, header=header, skipped=skipped)
    print(f"[lab demo] report: {report}")
    if interrupted is not None:
        print(f"lab demo: {interrupted_message(interrupted)}", file=sys.stderr)
        return 130
    return 2 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in _BUILTINS:
        plugins = find_plugins(CLI_GROUP)
        idx = argv.index(first)
        if first in plugins:
            setup_logging(sum(1 for a in argv[:idx] if a in ("-v", "--verbose")))
            try:
                command = plugins[first].load()
            except ImportError as exc:
                if isinstance(exc, LabError):
                    print(f"lab {first}: error: {exc}", file=sys.stderr)
                else:
                    dist = plugins[first].distribution
                    print(
                        f"lab {first}: error: cannot load the {dist} command ({exc}); "
                        f"is the installation complete? pip install '{dist}'",
                        file=sys.stderr,
                    )
                return 2
            try:
                return int(command(argv[idx + 1 :]) or 0)
            except LabError as exc:
                print(f"lab {first}: error: {exc}", file=sys.stderr)
                return 2
            except KeyboardInterrupt as exc:
                print(f"lab {first}: {interrupted_message(exc)}", file=sys.stderr)
                return 130
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
        print(f"lab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"lab {args.command}: {interrupted_message(exc)}", file=sys.stderr)
        return 130
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
