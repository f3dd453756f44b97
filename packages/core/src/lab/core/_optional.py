"""Optional-import guards: one place that turns a missing extra into an actionable error."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ImportError naming the exact pip command that provides it.

    ``extra`` is the requirement to install, e.g. ``require("matplotlib", "labworks-core[plots]")``
    raises ``ImportError: ... pip install 'labworks-core[plots]'`` when matplotlib is missing.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"this feature needs the optional module {module!r}, which is not installed "
            f"({exc}); install it with: pip install '{extra}'"
        ) from exc
