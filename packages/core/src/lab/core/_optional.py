"""Optional-import guards: one place that turns a missing extra into an actionable error."""

from __future__ import annotations

import importlib
from types import ModuleType

from ._errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`~lab.core.MissingDependencyError` naming the pip command.

    ``extra`` is the requirement to install, e.g. ``require("matplotlib", "labworks-core[plots]")``
    raises ``MissingDependencyError: ... pip install 'labworks-core[plots]'`` when matplotlib is
    missing. The error is both a :class:`~lab.core.LabError` (the ``lab`` CLI prints it as one
    line and exits 2) and an ``ImportError`` (existing ``except ImportError`` keeps working).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"this feature needs the optional module {module!r}, which is not installed "
            f"({exc}); install it with: pip install '{extra}'",
            module=module,
            requirement=extra,
        ) from exc
