"""Progress bars and logging for long work and CLIs."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["progress", "setup_logging"]

T = TypeVar("T")


def _quiet_by_default() -> bool:
    if os.environ.get("LABWORKS_PROGRESS", "") == "1":
        return False
    if os.environ.get("LABWORKS_PROGRESS", "") == "0":
        return True
    if int(os.environ.get("RANK", "0")) != 0:
        return True
    return not sys.stderr.isatty()


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    disable: bool | None = None,
    **kwargs: Any,
) -> tqdm:  # type: ignore[type-arg,unused-ignore]
    """A tqdm bar that stays quiet when stderr is not a terminal and on non-zero ranks.

    ``disable=None`` decides automatically; ``LABWORKS_PROGRESS=1``/``0`` forces it on/off.
    """
    if disable is None:
        disable = _quiet_by_default()
    return tqdm(iterable, total=total, desc=desc, disable=disable, dynamic_ncols=True, **kwargs)


def setup_logging(verbosity: int = 0, *, name: str = "lab") -> logging.Logger:
    """Configure the ``lab`` logger for a CLI: 0 -> WARNING, 1 -> INFO, 2+ -> DEBUG."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logger = logging.getLogger(name)
    if not any(getattr(h, "_labworks", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
        handler._labworks = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)
    return logger
