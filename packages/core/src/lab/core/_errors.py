"""The labworks exception family.

Every domain raises these (or subclasses of them) at its boundary, with the offending value
named in the message, so that users can catch ``LabError`` once for everything labworks
rejects.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "DeviceError", "LabError", "MissingDependencyError"]


class LabError(Exception):
    """Base class of every error labworks raises on purpose."""


class ConfigError(LabError, ValueError):
    """A configuration key is unknown, missing or of the wrong type."""


class DeviceError(LabError, RuntimeError):
    """A requested device does not exist or cannot be served by this machine."""


class DataError(LabError, ValueError):
    """Input data is malformed, empty, or inconsistent."""


class MissingDependencyError(LabError, ImportError):
    """An optional dependency is not installed; the message names the exact ``pip install`` line.

    Also an ``ImportError``, so ``except ImportError`` around an optional import keeps working.
    ``module`` is the module that failed to import and ``requirement`` what to install
    (e.g. ``"labworks-signal[vc]"``).
    """

    def __init__(self, message: str, *, module: str = "", requirement: str = "") -> None:
        super().__init__(message, name=module or None)
        self.module = module
        self.requirement = requirement
