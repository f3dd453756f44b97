"""``lab signal <method> ...``: command-line entry point of labworks-signal.

One command group per method subpackage:

    lab signal rul train    [--subset FD001|...|SIM] [--model mkdpinn|...] [--out runs] [flags]
    lab signal rul evaluate --run runs/rul/<stamp>
    lab signal rul adapt    --run runs/rul/<stamp> --target FD004 --k 5
    lab signal vc train     --source DIR --target DIR [flags]              ([vc] extra)
    lab signal vc convert   IN.wav -o OUT.wav --model CKPT                 ([vc] extra)

See :mod:`lab.signal.rul.cli` and :mod:`lab.signal.vc.cli` for the flags.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def _register_vc(sub: Any) -> None:
    """``vc``, or a stand-in that names the pip line when the [vc] extra is missing."""
    try:
        from .vc.cli import register
    except ImportError as exc:  # lab.core.require's error: "... pip install '...[vc]'"
        missing = str(exc)

        def _missing(args: argparse.Namespace) -> int:
            print(f"lab signal vc: error: {missing}", file=sys.stderr)
            return 2

        vc = sub.add_parser(
            "vc", help="CLOT-GAN voice conversion (needs labworks-signal[vc])", add_help=False
        )
        vc.add_argument("words", nargs=argparse.REMAINDER)
        vc.set_defaults(func=_missing)
        return
    register(sub)


def _parser() -> argparse.ArgumentParser:
    from .rul.cli import register as register_rul

    parser = argparse.ArgumentParser(
        prog="lab signal",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="method", metavar="METHOD", required=True)
    register_rul(sub)
    _register_vc(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lab signal`` (registered under ``lab.cli``); returns the exit status."""
    args = _parser().parse_args(list(argv) if argv is not None else None)
    return int(args.func(args))
