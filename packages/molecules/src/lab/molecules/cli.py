"""``lab molecules <method> ...``: one command group per method subpackage.

    lab molecules particles sample --energy dw4 --out runs/dw4 [--epochs 200 ...]
    lab molecules particles mala --energy lj13 --out lj13_mala.npy
    lab molecules conformers train --out runs/conformers [--export m.pt]
    lab molecules conformers generate "CCOc1ccccc1C(=O)NCCN(C)C" -n 50 -o out.sdf

The pre-0.2 commands ``lab molecules sample``, ``lab molecules mala``,
``lab molecules train-conformers`` and ``lab molecules conformers SMILES ...`` still work until
labworks 0.3, with a deprecation line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lab.core import rewrite_moved_command

__all__ = ["main"]

_MOVED: dict[tuple[str, ...], tuple[str, ...]] = {
    ("sample",): ("particles", "sample"),
    ("mala",): ("particles", "mala"),
    ("train-conformers",): ("conformers", "train"),
}
#: Subcommands of ``lab molecules conformers`` (anything else after it is a legacy SMILES).
_CONFORMER_COMMANDS = ("train", "generate", "-h", "--help")


def _parser() -> argparse.ArgumentParser:
    from .conformers.cli import register as register_conformers
    from .particles.cli import register as register_particles

    parser = argparse.ArgumentParser(
        prog="lab molecules",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="method", metavar="METHOD", required=True)
    particles = sub.add_parser("particles", help="Adjoint Sampling for particle systems")
    register_particles(particles.add_subparsers(dest="command", metavar="COMMAND", required=True))
    conformers = sub.add_parser("conformers", help="conformer generation (torsional model)")
    register_conformers(conformers.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return parser


def _legacy(argv: list[str]) -> list[str]:
    """Rewrite a pre-0.2 command line onto the new tree (one stderr line when it does)."""
    start = next((i for i, a in enumerate(argv) if not a.startswith("-")), len(argv))
    moved = dict(_MOVED)
    rest = argv[start + 1 : start + 2]
    if argv[start : start + 1] == ["conformers"] and rest and rest[0] not in _CONFORMER_COMMANDS:
        moved[("conformers",)] = ("conformers", "generate")
    return rewrite_moved_command(argv, moved, prog="lab molecules")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lab molecules``; returns the exit status."""
    args = _parser().parse_args(_legacy(list(sys.argv[1:] if argv is None else argv)))
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
