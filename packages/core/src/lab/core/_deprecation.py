"""Moved modules and names: old import paths keep working for one release, with a warning.

Two tools, both used by the domains when a module moves into a method subpackage:

- :func:`alias_module` in a shim file at the old path makes ``import lab.x.old`` return the
  new module object itself (so ``lab.x.old.Thing is lab.x.new.Thing``) and warns once.
- :func:`moved_attributes` builds a module-level ``__getattr__`` (PEP 562) for a package
  ``__init__`` whose re-exports moved to a subpackage: ``from lab.x import Thing`` still works,
  imports the new home lazily and warns.

Both warn with :class:`DeprecationWarning` naming the new path and the release that removes
the old one.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["REMOVAL_RELEASE", "alias_module", "moved_attributes", "rewrite_moved_command"]

#: The release in which the deprecated paths disappear.
REMOVAL_RELEASE = "0.3"


def alias_module(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Make the module being imported as ``old`` an alias of module ``new``, with a warning.

    Call it as the only statement of the shim file at the old path
    (``alias_module(__name__, "lab.molecules.particles.sampler")``). After the call,
    ``sys.modules[old]`` is the new module, which the import system then returns and binds on
    the parent package.
    """
    if old == new:
        raise ValueError(f"alias_module: old and new paths are the same ({old!r})")
    warnings.warn(
        f"{old} moved to {new}; the old path will be removed in labworks {REMOVAL_RELEASE}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    sys.modules[old] = importlib.import_module(new)


def moved_attributes(package: str, moved: Mapping[str, str]) -> Callable[[str], Any]:
    """A PEP 562 ``__getattr__`` for ``package`` that resolves names listed in ``moved``.

    ``moved`` maps an attribute name to the module that now defines it, e.g.
    ``{"AdjointSampler": "lab.molecules.particles"}``. Unknown names raise
    :class:`AttributeError` as usual, so ``hasattr`` and ``from x import *`` behave.
    """
    table = dict(moved)

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        warnings.warn(
            f"{package}.{name} moved to {target}.{name}; the old path will be removed in "
            f"labworks {REMOVAL_RELEASE}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(target), name)

    return __getattr__


def rewrite_moved_command(
    argv: Sequence[str], moved: Mapping[tuple[str, ...], tuple[str, ...]], *, prog: str
) -> list[str]:
    """Map a deprecated command line of a domain CLI onto its new command, with one stderr line.

    ``moved`` maps old leading command words to new ones, e.g.
    ``{("audit",): ("collision", "audit"), ("unlearn",): ("unlearning",)}``. Options before the
    command (``-v``) are kept in place; the longest matching prefix wins. An ``argv`` that
    matches nothing is returned unchanged.
    """
    args = list(argv)
    start = next((i for i, a in enumerate(args) if not a.startswith("-")), len(args))
    for old in sorted(moved, key=len, reverse=True):
        if tuple(args[start : start + len(old)]) == old:
            new = moved[old]
            args[start : start + len(old)] = list(new)
            print(
                f"{prog}: '{prog} {' '.join(old)}' is deprecated and will be removed in "
                f"labworks {REMOVAL_RELEASE}; use '{prog} {' '.join(new)}'",
                file=sys.stderr,
            )
            return args
    return args
