"""``lab privacy <method> ...``: one command group per method subpackage.

    lab privacy collision estimate --input FILE [--method salted-hash] --alpha 1 --beta 1e-3
    lab privacy collision test --input FILE --c0 0.1 --delta 0.05 [--private]
    lab privacy collision audit --k 1000 --alpha 1 --beta 1e-3 --groups 4
    lab privacy unlearning {data,train,dp-train,sanitize,forget,evaluate} ...   ([unlearning])

The pre-0.2 commands ``lab privacy audit``, ``lab privacy unlearn ...`` and
``lab privacy evaluate`` still work until labworks 0.3, with a deprecation line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lab.core import rewrite_moved_command

__all__ = ["main"]

_MOVED: dict[tuple[str, ...], tuple[str, ...]] = {
    ("audit",): ("collision", "audit"),
    ("unlearn",): ("unlearning",),
    ("evaluate",): ("unlearning", "evaluate"),
}


def _parser() -> argparse.ArgumentParser:
    from .collision.cli import register as register_collision
    from .unlearning.cli import register as register_unlearning

    parser = argparse.ArgumentParser(
        prog="lab privacy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="METHOD", required=True)
    register_collision(sub)
    register_unlearning(sub)  # needs the [unlearning] extra only when a step runs
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lab privacy``; returns the exit status."""
    args_in = rewrite_moved_command(
        sys.argv[1:] if argv is None else list(argv), _MOVED, prog="lab privacy"
    )
    args = _parser().parse_args(args_in)
    return int(args.func(args))
