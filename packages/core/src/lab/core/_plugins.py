"""Discovery of domain plugins through entry points, without importing them."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

__all__ = ["KNOWN_DOMAINS", "Plugin", "find_plugins", "install_hint"]

CLI_GROUP = "lab.cli"
DEMO_GROUP = "lab.demos"

#: The labworks domains and their distributions (to tell users what to install).
KNOWN_DOMAINS: dict[str, str] = {
    "molecules": "labworks-molecules",
    "privacy": "labworks-privacy",
    "robotics": "labworks-robotics",
    "llm": "labworks-llm",
    "signal": "labworks-signal",
    "explain": "labworks-explain",
}


@dataclass(frozen=True)
class Plugin:
    name: str
    entry_point: EntryPoint
    distribution: str
    version: str
    summary: str

    def load(self) -> Any:
        return self.entry_point.load()


def find_plugins(group: str) -> dict[str, Plugin]:
    """Installed entry points of ``group`` by name; reads metadata only, imports nothing."""
    found: dict[str, Plugin] = {}
    for ep in entry_points(group=group):
        dist = getattr(ep, "dist", None)
        name = dist.metadata["Name"] if dist is not None else "?"
        version = dist.version if dist is not None else "?"
        summary = (dist.metadata.get("Summary") or "") if dist is not None else ""
        found.setdefault(ep.name, Plugin(ep.name, ep, name, version, summary))
    return dict(sorted(found.items()))


def install_hint(domain: str) -> str:
    dist = KNOWN_DOMAINS.get(domain)
    if dist is None:
        return ""
    return f"pip install {dist}  (from a checkout: pip install ./packages/{domain})"
