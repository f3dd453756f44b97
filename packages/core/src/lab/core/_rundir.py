"""Run directories: ``runs/<name>/<timestamp>/`` with config, metrics, plots and checkpoints."""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from ._config import config_to_dict
from ._errors import ConfigError, DataError

__all__ = ["RunDir", "interrupted_message"]

_CKPT = re.compile(r"^step_(\d+)\.pt$")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep them visible rather than dropping them
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


class RunDir:
    """One run's folder.

    Layout::

        <root>/<name>/<timestamp>/
            config.json       the run's configuration (dataclass or mapping)
            metrics.jsonl     append-only, one JSON object per line, flushed per line
            plots/            PNG figures
            checkpoints/      step_<N>.pt files written atomically

    Create a new one with :meth:`create`; reopen an existing one (to resume) with :meth:`open`.

    A command creates its run folder only after the device, the config and the input data are
    validated, and does its work inside ``with run:`` (or ``with run.guard(resume=...):``)::

        device = get_device(args.device)                 # DeviceError -> exit 2, no folder
        cfg = config_from_args(TrainConfig, args)         # ConfigError -> exit 2, no folder
        data = load_data(args.data)                       # DataError   -> exit 2, no folder
        run = RunDir.open(args.resume) if args.resume else RunDir.create("x", config=cfg)
        with run:
            train(cfg, data, run, device=device)

    On any exception inside the block, a folder that :meth:`create` made and that still holds
    nothing (no metrics row, plot or checkpoint, only ``config.json``) is removed again, with
    the parent folders ``create`` made for it, so a failed command leaves no empty folder. A
    Ctrl-C (``KeyboardInterrupt``) is re-raised carrying the run folder and the flag that
    resumes it; the ``lab`` CLI prints ``interrupted; continue with --resume DIR`` and exits 130.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.plots = self.path / "plots"
        self.checkpoints = self.path / "checkpoints"
        self.metrics_file = self.path / "metrics.jsonl"
        self.config_file = self.path / "config.json"
        # folders create() made (the run folder first, then the parents it had to make)
        self._made: list[Path] = []
        self._resume: str | None = "--resume {path}"

    @classmethod
    def create(cls, name: str, *, root: str | Path = "runs", config: Any = None) -> RunDir:
        """Make ``<root>/<name>/<timestamp>/`` (a suffix keeps two runs in one second apart)."""
        if not name or "/" in name or name in (".", ".."):
            raise ConfigError(f"run name {name!r} must be a non-empty single path component")
        base = Path(root) / name
        missing_parents = [p for p in (base, *base.parents) if not p.exists()]
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = base / stamp
        i = 1
        while True:
            try:
                path.mkdir(parents=True, exist_ok=False)
                break
            except FileExistsError:
                path = base / f"{stamp}-{i}"
                i += 1
        run = cls(path)
        run._made = [path, *missing_parents]
        run.plots.mkdir()
        run.checkpoints.mkdir()
        run.metrics_file.touch()
        if config is not None:
            run.save_config(config)
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Reopen an existing run folder (e.g. to resume from its latest checkpoint)."""
        run = cls(path)
        if not run.path.is_dir():
            raise DataError(f"run directory {str(run.path)!r} does not exist")
        run.plots.mkdir(exist_ok=True)
        run.checkpoints.mkdir(exist_ok=True)
        run.metrics_file.touch()
        return run

    # ------------------------------------------------------------------ failure handling

    def guard(self, *, resume: str | None = "--resume {path}") -> RunDir:
        """Use as ``with run.guard(resume=...):``; ``with run:`` is ``guard()`` with the default.

        ``resume`` is how the command continues this run, with ``{path}`` standing for the
        folder: ``"--resume {path}"`` (the default), ``"--out {path} --resume"`` for commands
        that resume a folder given by ``--out``, or ``None`` for a command that cannot resume
        (Ctrl-C then prints where the partial results are).
        """
        self._resume = resume
        return self

    def __enter__(self) -> RunDir:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        removed = self._remove_if_unused()
        if isinstance(exc, KeyboardInterrupt):
            exc.lab_run_dir = None if removed else self.path  # type: ignore[attr-defined]
            exc.lab_resume = (  # type: ignore[attr-defined]
                None
                if removed or self._resume is None
                else self._resume.replace("{path}", str(self.path))
            )

    def _remove_if_unused(self) -> bool:
        """Remove a folder that create() made and that holds only what create() put there."""
        if not self._made or not self.path.is_dir():
            return False
        expected = {"config.json", "metrics.jsonl", "plots", "checkpoints"}
        entries = list(self.path.iterdir())
        if any(e.name not in expected for e in entries):
            return False
        if self.metrics_file.is_file() and self.metrics_file.stat().st_size > 0:
            return False
        for sub in (self.plots, self.checkpoints):
            if sub.exists() and (not sub.is_dir() or any(sub.iterdir())):
                return False
        shutil.rmtree(self.path)
        for parent in self._made[1:]:
            try:
                parent.rmdir()  # only while empty: another run may live beside this one
            except OSError:
                break
        self._made = []
        return True

    def save_config(self, config: Any) -> Path:
        data = config if isinstance(config, Mapping) else config_to_dict(config)
        self.config_file.write_text(json.dumps(_jsonable(data), indent=2) + "\n", encoding="utf-8")
        return self.config_file

    def load_config_dict(self) -> dict[str, Any]:
        if not self.config_file.is_file():
            raise DataError(f"run {str(self.path)!r} has no config.json")
        data = json.loads(self.config_file.read_text(encoding="utf-8"))
        assert isinstance(data, dict)
        return data

    def log(self, record: Mapping[str, Any] | None = None, /, **metrics: Any) -> dict[str, Any]:
        """Append one JSON line (``record`` merged with keyword metrics) and flush it to disk."""
        row = {**(dict(record) if record else {}), **metrics}
        row = _jsonable(row)
        with self.metrics_file.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
        return row

    def metrics(self) -> Iterator[dict[str, Any]]:
        """Iterate over the logged records, oldest first."""
        with self.metrics_file.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DataError(
                            f"{self.metrics_file}:{lineno}: not a JSON line: {exc}"
                        ) from exc

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"step_{int(step):09d}.pt"

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint with the highest step, or None when there is none."""
        best: tuple[int, Path] | None = None
        for p in self.checkpoints.glob("step_*.pt"):
            m = _CKPT.match(p.name)
            if m and (best is None or int(m.group(1)) > best[0]):
                best = (int(m.group(1)), p)
        return best[1] if best else None

    def plot_path(self, name: str) -> Path:
        return self.plots / (name if name.endswith(".png") else f"{name}.png")

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)


def interrupted_message(exc: BaseException) -> str:
    """The one line the ``lab`` CLI prints for a Ctrl-C (see :meth:`RunDir.guard`)."""
    resume = getattr(exc, "lab_resume", None)
    run_dir = getattr(exc, "lab_run_dir", None)
    if resume:
        return f"interrupted; continue with {resume}"
    if run_dir is not None:
        return f"interrupted; partial results in {run_dir}"
    if hasattr(exc, "lab_run_dir"):
        return "interrupted before anything was saved; its run folder was removed"
    return "interrupted"
