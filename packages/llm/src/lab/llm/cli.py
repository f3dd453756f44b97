"""``lab llm <method> ...``: one command group per method subpackage.

    lab llm pods grpo --task arithmetic --downsample max_variance --n 32 --m 8 --max-steps 50
    lab llm pods downsample --m 2 0 1 1 0.5 0.2
    lab llm tnd run --modes tnd clm --seeds 0 1 2
    lab llm continual --stream synthetic --methods sequential per_task olora

The pre-0.2 commands ``lab llm grpo ...`` and ``lab llm downsample ...`` still work until
labworks 0.3, with a deprecation line on stderr naming ``lab llm pods ...``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lab.core import LabError, rewrite_moved_command, setup_logging

__all__ = ["main"]

_MOVED: dict[tuple[str, ...], tuple[str, ...]] = {
    ("grpo",): ("pods", "grpo"),
    ("downsample",): ("pods", "downsample"),
}


def _parser() -> argparse.ArgumentParser:
    from .continual.cli import register as register_continual
    from .pods.cli import register as register_pods
    from .tnd.cli import register as register_tnd

    parser = argparse.ArgumentParser(
        prog="lab llm",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", required=True, metavar="METHOD")
    register_pods(sub)  # `lab llm pods ...` (GRPO with PODS down-sampling)
    register_tnd(sub)  # `lab llm tnd ...` (Trial-and-Demonstration word learning)
    register_continual(sub)  # `lab llm continual ...` (parameter-efficient continual fine-tuning)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lab llm`` (registered under ``lab.cli``); returns the exit status."""
    args_in = rewrite_moved_command(
        sys.argv[1:] if argv is None else list(argv), _MOVED, prog="lab llm"
    )
    args = _parser().parse_args(args_in)
    setup_logging(args.verbose)
    try:
        return int(args.func(args))
    except LabError as exc:
        print(f"lab llm: error: {exc}", file=sys.stderr)
        return 2
