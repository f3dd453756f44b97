"""Discovery of domain plugins through entry points, without importing them."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import Distribution, EntryPoint, PackageNotFoundError, entry_points
from importlib.metadata import distribution as _distribution
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = [
    "KNOWN_DOMAINS",
    "Plugin",
    "find_plugins",
    "install_hint",
    "missing_requirements",
    "provides_extra",
]

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


def provides_extra(dist_name: str, extra: str) -> bool:
    """Whether the installed distribution ``dist_name`` declares the extra ``extra``."""
    try:
        dist = _distribution(dist_name)
    except PackageNotFoundError:
        return False
    wanted = canonicalize_name(extra)
    return any(
        canonicalize_name(e) == wanted for e in dist.metadata.get_all("Provides-Extra") or []
    )


def _requirements(dist: Distribution, extras: frozenset[str]) -> list[Requirement]:
    """``dist``'s requirements that apply with ``extras`` ("" stands for the base install)."""
    out = []
    for text in dist.requires or []:
        try:
            req = Requirement(text)
        except InvalidRequirement:  # pragma: no cover - pip would not have installed it
            continue
        if req.marker is None:
            if "" in extras:
                out.append(req)
        elif any(req.marker.evaluate({"extra": e}) for e in extras) and (
            # a base requirement with an environment marker is kept only for the base install
            "" in extras or not req.marker.evaluate({"extra": ""})
        ):
            out.append(req)
    return out


def _text(req: Requirement) -> str:
    """A requirement without its marker: ``name[extras]specifier``."""
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}{req.specifier}"


def missing_requirements(dist_name: str, extras: tuple[str, ...] = ()) -> list[str]:
    """What an installation of ``dist_name[extras]`` lacks, as requirement strings; [] if none.

    Reads installed metadata only (nothing is imported). Follows extras of requirements
    (``labworks-core[plots]`` checks matplotlib) and self-references
    (``labworks-privacy[unlearning]`` inside ``labworks-privacy[demo]``); a requirement that is
    installed at a version outside its range counts as missing.
    """
    missing: list[str] = []
    seen: set[tuple[str, str]] = set()

    def visit(name: str, wanted: frozenset[str]) -> None:
        key = canonicalize_name(name)
        todo = frozenset(e for e in wanted if (key, e) not in seen)
        if not todo:
            return
        seen.update((key, e) for e in todo)
        try:
            dist = _distribution(name)
        except PackageNotFoundError:  # pragma: no cover - checked by the caller
            return
        for req in _requirements(dist, todo):
            try:
                installed = _distribution(req.name)
            except PackageNotFoundError:
                missing.append(_text(req))
                continue
            if req.specifier and not req.specifier.contains(installed.version, prereleases=True):
                missing.append(f"{_text(req)} (installed: {installed.version})")
                continue
            if req.extras:
                visit(req.name, frozenset(req.extras))

    try:
        _distribution(dist_name)
    except PackageNotFoundError:
        return [dist_name]
    visit(dist_name, frozenset({"", *extras}))
    return sorted(set(missing), key=missing.index)
