"""Demo results and the report that ``lab demo`` writes.

A domain's demo is a callable registered under the entry-point group ``lab.demos``::

    def demo(out_dir: Path, *, device: torch.device, seed: int) -> DemoResult: ...

It writes its PNG plots into ``out_dir`` and returns a :class:`DemoResult`. ``lab demo`` calls
every installed domain's demo and writes ``report.md``, ``metrics.json`` and the plots.

Entry points are named ``<domain>-<method>`` (or ``<domain>`` for a domain with one demo).
Everything a demo imports beyond its distribution's base dependencies is listed in the
distribution's ``demo`` extra: ``lab demo`` checks that extra's requirements from the installed
metadata before any demo runs and skips a demo that lacks one, naming the ``pip install``
line.

Demo size: a demo reads :func:`demo_size` (``"full"``, the default, or ``"tiny"``, set with
``lab demo --size tiny`` or the environment variable ``LABWORKS_DEMO_SIZE=tiny``) and at
``"tiny"`` shrinks its problem, steps and sample counts so the whole demo runs in seconds on a
CPU: a smoke test of the installed package (CI runs every domain's demo this way), not a
result.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import ConfigError
from ._optional import require

__all__ = [
    "DEMO_SIZES",
    "DEMO_SIZE_ENV",
    "DemoResult",
    "demo_size",
    "line_plot",
    "pyplot",
    "save_figure",
    "write_report",
]

#: The environment variable that sets the demo size (``lab demo --size`` sets it too).
DEMO_SIZE_ENV = "LABWORKS_DEMO_SIZE"
#: The demo sizes: ``full`` (the default) and ``tiny`` (a smoke run of seconds).
DEMO_SIZES = ("full", "tiny")


def demo_size() -> str:
    """``"full"`` or ``"tiny"``, from ``LABWORKS_DEMO_SIZE`` (unset or empty: ``"full"``).

    A demo calls this once and picks its sizes from it, e.g.
    ``steps = 20 if demo_size() == "tiny" else 2000``. Any other value is a ConfigError.
    """
    value = os.environ.get(DEMO_SIZE_ENV, "").strip().lower() or "full"
    if value not in DEMO_SIZES:
        raise ConfigError(
            f"{DEMO_SIZE_ENV}={os.environ.get(DEMO_SIZE_ENV)!r} is not one of {list(DEMO_SIZES)}"
        )
    return value


@dataclass(frozen=True)
class DemoResult:
    """What a domain demo returns: a title, measured metrics, plot files and a short summary."""

    title: str
    metrics: Mapping[str, Any]
    plots: Sequence[Path] = field(default_factory=tuple)
    summary: str = ""
    seconds: float = 0.0


def pyplot(extra: str = "labworks-core[plots]") -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend.

    Raises an ImportError naming ``pip install '<extra>'`` when matplotlib is missing; a domain
    passes its own extra, e.g. ``pyplot("labworks-signal[plots]")``.
    """
    mpl = require("matplotlib", extra)
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path) -> Path:
    """Lay out, save as PNG (creating the folder) and close a matplotlib figure; return the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def line_plot(
    path: str | Path,
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    logy: bool = False,
) -> Path:
    """Save a simple line plot (one line per named (x, y) series) as PNG; needs matplotlib."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for label, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if len(series) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return str(v)


def write_report(
    out_dir: str | Path,
    results: Mapping[str, DemoResult],
    failures: Mapping[str, str] | None = None,
    header: str = "",
    skipped: Mapping[str, str] | None = None,
) -> Path:
    """Write ``report.md`` and ``metrics.json`` for a set of demo results; return the report path.

    ``failures`` maps a demo to its error text, ``skipped`` to the reason it did not run (a
    missing requirement and the pip line that installs it).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    failures = dict(failures or {})
    skipped = dict(skipped or {})
    lines = ["# labworks demo report", ""]
    if header:
        lines += [header, ""]
    all_metrics: dict[str, Any] = {}
    for domain, res in results.items():
        all_metrics[domain] = {"title": res.title, "seconds": res.seconds, **dict(res.metrics)}
        lines += [f"## {domain}: {res.title}", ""]
        if res.summary:
            lines += [res.summary, ""]
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in res.metrics.items()]
        lines += [f"| seconds | {res.seconds:.1f} |", ""]
        for p in res.plots:
            rel = (
                Path(p).resolve().relative_to(out.resolve())
                if Path(p).resolve().is_relative_to(out.resolve())
                else Path(p)
            )
            lines += [f"![{Path(p).stem}]({rel.as_posix()})", ""]
    for domain, err in failures.items():
        all_metrics[domain] = {"error": err}
        lines += [f"## {domain}: FAILED", "", "```", err, "```", ""]
    for domain, reason in skipped.items():
        all_metrics[domain] = {"skipped": reason}
        lines += [f"## {domain}: SKIPPED", "", f"Not run: {reason}", ""]
    (out / "metrics.json").write_text(
        json.dumps(all_metrics, indent=2, default=str) + "\n", encoding="utf-8"
    )
    report = out / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report
