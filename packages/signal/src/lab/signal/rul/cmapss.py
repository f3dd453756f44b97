"""NASA C-MAPSS turbofan data: loader and an honest preprocessing pipeline.

The standard files (Saxena et al., PHM 2008) are whitespace-separated text, plain or gzip'd,
with 26 columns per row: unit, cycle, three operating settings and 21 sensors. ``RUL_FD00x``
holds one true remaining useful life per test unit.

The pipeline (:func:`prepare_rul_data`) follows the MKDPINN code's recipe and avoids the
classic leaks: the validation split is by unit and happens *before* anything is fitted; the
per-condition scaler sees training units only; windows are cut inside each unit, never across
two; the test set is only ever scored on the last window per engine.
"""

from __future__ import annotations

import gzip
import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TextIO

import numpy as np
from scipy.signal import lfilter

from lab.core import ConfigError, DataError

__all__ = [
    "PAPER_SENSORS",
    "CMAPSSConfig",
    "CMAPSSSubset",
    "ConditionScaler",
    "RULData",
    "WindowSet",
    "exponential_smoothing",
    "identify_conditions",
    "load_cmapss",
    "piecewise_rul",
    "prepare_rul_data",
    "read_cmapss_table",
    "read_rul_file",
    "split_units",
]

N_COLUMNS = 26
SUBSETS = ("FD001", "FD002", "FD003", "FD004")
#: The 14 informative sensors used by MKDPINN (1-based sensor numbers, C-MAPSS s1..s21).
PAPER_SENSORS: tuple[int, ...] = (2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21)


# --------------------------------------------------------------------------- reading files


def _open_text(path: Path) -> TextIO:
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="ascii", errors="strict")
    return path.open("r", encoding="ascii", errors="strict")


def _read_rows(path: str | Path, n_columns: int) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"C-MAPSS file {str(path)!r} does not exist")
    rows: list[list[float]] = []
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != n_columns:
                    raise DataError(
                        f"{path}:{lineno}: expected {n_columns} columns, found {len(parts)}"
                    )
                try:
                    vals = [float(p) for p in parts]
                except ValueError:
                    bad = next(p for p in parts if not _is_float(p))
                    raise DataError(f"{path}:{lineno}: non-numeric value {bad!r}") from None
                if not all(math.isfinite(v) for v in vals):
                    bad = next(p for p in parts if not math.isfinite(float(p)))
                    raise DataError(f"{path}:{lineno}: non-finite value {bad!r}")
                rows.append(vals)
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"C-MAPSS file {str(path)!r} cannot be read as text: {exc}") from exc
    if not rows:
        raise DataError(f"C-MAPSS file {str(path)!r} holds no rows")
    return np.asarray(rows, dtype=np.float64)


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _check_units(table: np.ndarray, path: Path | str) -> None:
    """Units and cycles must be positive integers; each unit's cycles run 1, 2, 3, ... in order."""
    unit, cycle = table[:, 0], table[:, 1]
    for col, name in ((unit, "unit"), (cycle, "cycle")):
        bad = np.flatnonzero((col != np.round(col)) | (col < 1))
        if bad.size:
            i = int(bad[0])
            raise DataError(f"{path}:{i + 1}: {name} {col[i]!r} is not a positive integer")
    for i in range(len(table)):
        expected = 1.0 if i == 0 or unit[i] != unit[i - 1] else cycle[i - 1] + 1
        if cycle[i] != expected:
            raise DataError(
                f"{path}:{i + 1}: unit {int(unit[i])} cycle {int(cycle[i])} does not follow the "
                f"previous row (expected cycle {int(expected)})"
            )
    starts = unit[np.r_[True, unit[1:] != unit[:-1]]]
    if len(np.unique(starts)) != len(starts):
        dup = next(u for u in starts if (starts == u).sum() > 1)
        raise DataError(f"{path}: unit {int(dup)} appears in two separate blocks of rows")


def read_cmapss_table(path: str | Path) -> np.ndarray:
    """Read a ``train_FD00x`` / ``test_FD00x`` file (plain or gzip) as an ``(n, 26)`` float array.

    Raises:
        DataError: naming the file and line of a row with a wrong column count, a non-numeric or
            non-finite value, a non-integer unit/cycle, or cycles that do not count up per unit.
    """
    table = _read_rows(path, N_COLUMNS)
    _check_units(table, path)
    return table


def read_rul_file(path: str | Path) -> np.ndarray:
    """Read a ``RUL_FD00x`` file (one non-negative RUL per test unit) as a float array."""
    rul = _read_rows(path, 1)[:, 0]
    bad = np.flatnonzero(rul < 0)
    if bad.size:
        raise DataError(f"{path}:{int(bad[0]) + 1}: negative RUL {rul[bad[0]]!r}")
    return rul


@dataclass(frozen=True)
class CMAPSSSubset:
    """One C-MAPSS subset (or a simulated one in the same format).

    ``train`` and ``test`` are ``(n, 26)`` arrays (unit, cycle, 3 settings, 21 sensors);
    ``test_rul[i]`` is the true RUL after the last cycle of the i-th test unit (units in order
    of appearance).
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    test_rul: np.ndarray

    def __post_init__(self) -> None:
        for label, arr in (("train", self.train), ("test", self.test)):
            if arr.ndim != 2 or arr.shape[1] != N_COLUMNS:
                raise DataError(f"{self.name} {label}: expected shape (n, 26), got {arr.shape}")
        n_test = len(_unit_ids(self.test))
        if len(self.test_rul) != n_test:
            raise DataError(f"{self.name}: {len(self.test_rul)} RUL values for {n_test} test units")

    @property
    def n_train_units(self) -> int:
        return len(_unit_ids(self.train))

    @property
    def n_test_units(self) -> int:
        return len(_unit_ids(self.test))


def _unit_ids(table: np.ndarray) -> np.ndarray:
    unit = table[:, 0]
    return unit[np.r_[True, unit[1:] != unit[:-1]]].astype(np.int64)


def _find(root: Path, stem: str) -> Path:
    for cand in (root / f"{stem}.txt", root / f"{stem}.txt.gz", root / stem):
        if cand.is_file():
            return cand
    raise DataError(f"C-MAPSS file {stem}.txt(.gz) not found in {str(root)!r}")


def default_data_root() -> Path:
    """``$LABWORKS_DATA/cmapss``; a DataError when ``LABWORKS_DATA`` is unset."""
    env = os.environ.get("LABWORKS_DATA", "")
    if not env:
        raise DataError(
            "no C-MAPSS folder given and $LABWORKS_DATA is not set; pass root= or set "
            "LABWORKS_DATA to a folder holding cmapss/train_FD001.txt(.gz) etc."
        )
    return Path(env) / "cmapss"


def load_cmapss(subset: str = "FD001", root: str | Path | None = None) -> CMAPSSSubset:
    """Load ``train_<subset>``, ``test_<subset>`` and ``RUL_<subset>`` (``.txt`` or ``.txt.gz``).

    Args:
        subset: ``"FD001"`` ... ``"FD004"``.
        root: folder with the files; default ``$LABWORKS_DATA/cmapss``.
    """
    if subset not in SUBSETS:
        raise ConfigError(f"unknown C-MAPSS subset {subset!r} (known: {list(SUBSETS)})")
    root_path = Path(root) if root is not None else default_data_root()
    if not root_path.is_dir():
        raise DataError(f"C-MAPSS folder {str(root_path)!r} does not exist")
    train = read_cmapss_table(_find(root_path, f"train_{subset}"))
    test = read_cmapss_table(_find(root_path, f"test_{subset}"))
    rul = read_rul_file(_find(root_path, f"RUL_{subset}"))
    return CMAPSSSubset(subset, train, test, rul)


# --------------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class CMAPSSConfig:
    """Preprocessing of C-MAPSS-format data into windows.

    Defaults are the MKDPINN code's: 14 sensors, exponential smoothing alpha 0.1, windows of 15
    cycles, RUL capped at 125 for training and for the test labels, 10% of training units held
    out for validation.

    Attributes:
        sensors: 1-based sensor numbers to keep (C-MAPSS s1..s21).
        window: window length in cycles.
        alpha: exponential smoothing factor in (0, 1]; 1 disables smoothing.
        rul_cap: cap of the piecewise-linear RUL target (None: plain linear RUL).
        cap_test_labels: cap the true test RUL too (the official code does; it changes
            FD002/FD004 RMSE a lot, so it is explicit).
        val_fraction: fraction of training units held out (by unit) for model selection.
        split_seed: seed of the unit split.
        condition_decimals: decimals to which |setting1|, |setting2|, setting3 are rounded to
            identify the operating condition (the official code rounds to 0, 2, and keeps 3).
        fit_scaler_on_validation_units: OURS, default False: the scaler is fitted on the training
            units only (the official code also fits on its validation units).
        short_test_units: OURS: what to do with a test unit shorter than ``window``:
            ``"pad_edge"`` repeats its first row (the official code pads with -99),
            ``"error"`` raises DataError.
        time_scale: OURS: the cycle index t given to models is ``cycle * time_scale`` (the
            official code feeds raw cycles to a tanh network; scaling keeps it unsaturated).
    """

    sensors: tuple[int, ...] = PAPER_SENSORS
    window: int = 15
    alpha: float = 0.1
    rul_cap: float | None = 125.0
    cap_test_labels: bool = True
    val_fraction: float = 0.1
    split_seed: int = 0
    condition_decimals: tuple[int, int, int] = (0, 2, 0)
    fit_scaler_on_validation_units: bool = False
    short_test_units: Literal["pad_edge", "error"] = "pad_edge"
    time_scale: float = 0.01

    def __post_init__(self) -> None:
        if not self.sensors or any(s < 1 or s > 21 for s in self.sensors):
            raise ConfigError(f"sensors must be numbers in 1..21, got {self.sensors!r}")
        if len(set(self.sensors)) != len(self.sensors):
            raise ConfigError(f"sensors must be distinct, got {self.sensors!r}")
        if self.window < 1:
            raise ConfigError(f"window must be >= 1, got {self.window}")
        if not 0.0 < self.alpha <= 1.0:
            raise ConfigError(f"alpha must be in (0, 1], got {self.alpha}")
        if self.rul_cap is not None and self.rul_cap <= 0:
            raise ConfigError(f"rul_cap must be positive or None, got {self.rul_cap}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.time_scale <= 0:
            raise ConfigError(f"time_scale must be positive, got {self.time_scale}")


@dataclass(frozen=True)
class WindowSet:
    """Windows cut inside units.

    Attributes:
        x: ``(n, window, n_sensors)`` float32 sensor windows.
        t: ``(n,)`` float32 scaled cycle index of each window's last row.
        y: ``(n,)`` float32 RUL target at the last row (capped as configured).
        unit: ``(n,)`` int64 unit id of each window.
        cycle: ``(n,)`` int64 raw cycle of the last row.
        condition: ``(n,)`` int64 operating-condition id of the last row.
    """

    x: np.ndarray
    t: np.ndarray
    y: np.ndarray
    unit: np.ndarray
    cycle: np.ndarray
    condition: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def units(self) -> np.ndarray:
        """Distinct unit ids in order of appearance."""
        _, idx = np.unique(self.unit, return_index=True)
        return self.unit[np.sort(idx)]

    def subset(self, mask: np.ndarray) -> WindowSet:
        """The windows where ``mask`` (bool or index array) selects."""
        return WindowSet(
            self.x[mask],
            self.t[mask],
            self.y[mask],
            self.unit[mask],
            self.cycle[mask],
            self.condition[mask],
        )

    def select_units(self, units: Sequence[int] | np.ndarray) -> WindowSet:
        """The windows of the given unit ids."""
        units = np.asarray(units, dtype=np.int64)
        missing = np.setdiff1d(units, self.unit)
        if missing.size:
            raise DataError(f"unit(s) {missing.tolist()} not in this window set")
        return self.subset(np.isin(self.unit, units))

    def last_per_unit(self) -> WindowSet:
        """The last window of each unit."""
        last = np.r_[self.unit[1:] != self.unit[:-1], True]
        return self.subset(last)

    @staticmethod
    def concat(sets: Sequence[WindowSet]) -> WindowSet:
        """Concatenate window sets (unit ids must already be distinct across them)."""
        if not sets:
            raise DataError("cannot concatenate an empty list of window sets")
        return WindowSet(
            *(
                np.concatenate([getattr(s, f) for s in sets])
                for f in ("x", "t", "y", "unit", "cycle", "condition")
            )
        )


@dataclass(frozen=True)
class ConditionScaler:
    """Per-operating-condition standard scaling of sensors (mean/std per condition)."""

    conditions: tuple[tuple[float, ...], ...]
    mean: np.ndarray
    std: np.ndarray

    def transform(self, sensors: np.ndarray, cond_ids: np.ndarray) -> np.ndarray:
        return (sensors - self.mean[cond_ids]) / self.std[cond_ids]


@dataclass(frozen=True)
class RULData:
    """The output of :func:`prepare_rul_data`.

    Attributes:
        train, val: windows of the training / validation units (disjoint units).
        test: the last window of each test engine, labelled with the RUL file.
        test_all: every window of the test engines (true RUL from the RUL file plus the cycles
            left), for plots of predicted vs true RUL over an engine's life. Not for selection.
        scaler: the per-condition scaler fitted on the training units.
        config: the preprocessing config.
        name: the subset name.
    """

    train: WindowSet
    val: WindowSet
    test: WindowSet
    test_all: WindowSet
    scaler: ConditionScaler
    config: CMAPSSConfig
    name: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.train.x.shape[2])


def identify_conditions(
    settings: np.ndarray, decimals: tuple[int, int, int] = (0, 2, 0)
) -> np.ndarray:
    """Operating-condition keys by rounding |setting1|, |setting2|, setting3 (the code's rule).

    Returns an ``(n, 3)`` array of rounded settings; equal rows are one condition.
    """
    settings = np.asarray(settings, dtype=np.float64)
    if settings.ndim != 2 or settings.shape[1] != 3:
        raise DataError(f"settings must have shape (n, 3), got {settings.shape}")
    keys = np.empty_like(settings)
    keys[:, 0] = np.round(np.abs(settings[:, 0]), decimals[0])
    keys[:, 1] = np.round(np.abs(settings[:, 1]), decimals[1])
    keys[:, 2] = np.round(settings[:, 2], decimals[2])
    return keys + 0.0  # turn -0.0 into 0.0


def _cond_ids(keys: np.ndarray, known: tuple[tuple[float, ...], ...], where: str) -> np.ndarray:
    lookup = {k: i for i, k in enumerate(known)}
    ids = np.empty(len(keys), dtype=np.int64)
    for i, row in enumerate(map(tuple, keys.tolist())):
        j = lookup.get(row)
        if j is None:
            raise DataError(
                f"{where}: row {i + 1} has operating condition {row} that the training units "
                f"never visit (known: {list(known)})"
            )
        ids[i] = j
    return ids


def fit_condition_scaler(sensors: np.ndarray, keys: np.ndarray) -> ConditionScaler:
    """Fit per-condition mean/std (population std; a constant sensor gets std 1, as sklearn)."""
    conditions = tuple(sorted({tuple(r) for r in keys.tolist()}))
    ids = _cond_ids(keys, conditions, "scaler")
    mean = np.zeros((len(conditions), sensors.shape[1]))
    std = np.ones((len(conditions), sensors.shape[1]))
    for c in range(len(conditions)):
        block = sensors[ids == c]
        mean[c] = block.mean(axis=0)
        s = block.std(axis=0)
        std[c] = np.where(s > 1e-12 * np.maximum(np.abs(mean[c]), 1.0), s, 1.0)
    return ConditionScaler(conditions, mean, std)


def exponential_smoothing(values: np.ndarray, units: np.ndarray, alpha: float) -> np.ndarray:
    """Per-unit exponentially weighted mean (pandas ``ewm(alpha).mean()``, ``adjust=True``).

    ``y_t = sum_i (1-a)^i x_{t-i} / sum_i (1-a)^i`` over the unit's own past only, so it never
    mixes two units and never looks ahead.
    """
    if not 0.0 < alpha <= 1.0:
        raise ConfigError(f"alpha must be in (0, 1], got {alpha}")
    values = np.asarray(values, dtype=np.float64)
    out = np.empty_like(values)
    for start, stop in _unit_blocks(units):
        block = values[start:stop]
        num = lfilter([1.0], [1.0, -(1.0 - alpha)], block, axis=0)
        den = lfilter([1.0], [1.0, -(1.0 - alpha)], np.ones(stop - start))
        out[start:stop] = num / den[:, None]
    return out


def piecewise_rul(cycles_left: np.ndarray, cap: float | None) -> np.ndarray:
    """Piecewise-linear RUL: ``min(cycles_left, cap)`` (the target, not a silent clamp)."""
    cycles_left = np.asarray(cycles_left, dtype=np.float64)
    return cycles_left if cap is None else np.minimum(cycles_left, cap)


def _unit_blocks(units: np.ndarray) -> list[tuple[int, int]]:
    units = np.asarray(units)
    edges = np.flatnonzero(units[1:] != units[:-1]) + 1
    bounds = np.r_[0, edges, len(units)]
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def split_units(units: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle distinct unit ids with ``seed`` and hold out ``round(val_fraction * n)`` (>= 1 if
    ``val_fraction > 0``) for validation. Returns (train_units, val_units), each sorted."""
    units = np.unique(units)
    if val_fraction <= 0:
        return units, units[:0]
    n_val = max(1, round(val_fraction * len(units)))
    if n_val >= len(units):
        raise DataError(f"cannot hold out {n_val} of {len(units)} units for validation")
    perm = np.random.default_rng(seed).permutation(len(units))
    return np.sort(units[perm[n_val:]]), np.sort(units[perm[:n_val]])


def _windows(
    table: np.ndarray,
    feats: np.ndarray,
    cond: np.ndarray,
    rul: np.ndarray,
    cfg: CMAPSSConfig,
    *,
    last_only: bool,
    pad: bool,
    where: str,
) -> WindowSet:
    w = cfg.window
    xs, ts, ys, us, cs, ks = [], [], [], [], [], []
    for start, stop in _unit_blocks(table[:, 0]):
        n = stop - start
        unit = int(table[start, 0])
        f = feats[start:stop]
        if n < w:
            if not pad:
                raise DataError(f"{where}: unit {unit} has {n} cycles, fewer than window {w}")
            f = np.concatenate([np.repeat(f[:1], w - n, axis=0), f])
            offs = w - n
        else:
            offs = 0
        m = f.shape[0]
        ends = np.array([m]) if last_only else np.arange(w, m + 1)
        idx = ends[:, None] - w + np.arange(w)[None, :]
        xs.append(f[idx])
        rows = start + ends - 1 - offs
        ts.append(table[rows, 1] * cfg.time_scale)
        ys.append(rul[rows])
        us.append(np.full(len(ends), unit))
        cs.append(table[rows, 1])
        ks.append(cond[rows])
    return WindowSet(
        np.concatenate(xs).astype(np.float32),
        np.concatenate(ts).astype(np.float32),
        np.concatenate(ys).astype(np.float32),
        np.concatenate(us).astype(np.int64),
        np.concatenate(cs).astype(np.int64),
        np.concatenate(ks).astype(np.int64),
    )


def prepare_rul_data(
    subset: CMAPSSSubset,
    config: CMAPSSConfig | None = None,
    *,
    train_units: Sequence[int] | np.ndarray | None = None,
) -> RULData:
    """Turn a C-MAPSS-format subset into train / validation / test windows.

    Steps, in this order: split the training units into train and validation (by unit, with
    ``split_seed``; or use ``train_units`` to restrict training to those engines, e.g. k engines
    for few-shot adaptation); identify operating conditions; fit the per-condition scaler on the
    training units only; scale every row; smooth each unit on its own; cut windows inside each
    unit. Training labels are the capped RUL; the test label of the last window is the RUL file
    value (capped when ``cap_test_labels``).
    """
    cfg = config or CMAPSSConfig()
    cols = np.array([4 + s for s in cfg.sensors])
    train_tab, test_tab = subset.train, subset.test
    all_units = np.unique(train_tab[:, 0]).astype(np.int64)
    if train_units is not None:
        pool = np.asarray(train_units, dtype=np.int64)
        missing = np.setdiff1d(pool, all_units)
        if missing.size:
            raise DataError(f"{subset.name}: training unit(s) {missing.tolist()} do not exist")
    else:
        pool = all_units
    tr_units, va_units = split_units(pool, cfg.val_fraction, cfg.split_seed)
    if cfg.val_fraction > 0 and len(pool) < 2:
        raise DataError(f"{subset.name}: need at least 2 training units for a validation split")
    keep = np.isin(train_tab[:, 0], pool)
    train_tab = train_tab[keep]
    keys_tr = identify_conditions(train_tab[:, 2:5], cfg.condition_decimals)
    keys_te = identify_conditions(test_tab[:, 2:5], cfg.condition_decimals)
    fit_units = pool if cfg.fit_scaler_on_validation_units else tr_units
    fit_mask = np.isin(train_tab[:, 0], fit_units)
    scaler = fit_condition_scaler(train_tab[fit_mask][:, cols], keys_tr[fit_mask])
    cond_tr = _cond_ids(keys_tr, scaler.conditions, f"{subset.name} train")
    cond_te = _cond_ids(keys_te, scaler.conditions, f"{subset.name} test")
    feats_tr = scaler.transform(train_tab[:, cols], cond_tr)
    feats_te = scaler.transform(test_tab[:, cols], cond_te)
    feats_tr = exponential_smoothing(feats_tr, train_tab[:, 0], cfg.alpha)
    feats_te = exponential_smoothing(feats_te, test_tab[:, 0], cfg.alpha)

    # training RUL: cycles to the unit's last cycle, capped.
    left = np.empty(len(train_tab))
    for start, stop in _unit_blocks(train_tab[:, 0]):
        left[start:stop] = train_tab[stop - 1, 1] - train_tab[start:stop, 1]
    rul_tr = piecewise_rul(left, cfg.rul_cap)
    # test RUL of every row from the RUL file (rows before the last have that many more cycles).
    left_te = np.empty(len(test_tab))
    for i, (start, stop) in enumerate(_unit_blocks(test_tab[:, 0])):
        left_te[start:stop] = subset.test_rul[i] + test_tab[stop - 1, 1] - test_tab[start:stop, 1]
    rul_te = piecewise_rul(left_te, cfg.rul_cap) if cfg.cap_test_labels else left_te

    def sel(units: np.ndarray) -> np.ndarray:
        return np.isin(train_tab[:, 0], units)

    m_tr, m_va = sel(tr_units), sel(va_units)
    train = _windows(
        train_tab[m_tr],
        feats_tr[m_tr],
        cond_tr[m_tr],
        rul_tr[m_tr],
        cfg,
        last_only=False,
        pad=False,
        where=f"{subset.name} train",
    )
    if len(va_units):
        val = _windows(
            train_tab[m_va],
            feats_tr[m_va],
            cond_tr[m_va],
            rul_tr[m_va],
            cfg,
            last_only=False,
            pad=False,
            where=f"{subset.name} validation",
        )
    else:
        val = train.subset(np.zeros(len(train), dtype=bool))
    pad = cfg.short_test_units == "pad_edge"
    test = _windows(
        test_tab,
        feats_te,
        cond_te,
        rul_te,
        cfg,
        last_only=True,
        pad=pad,
        where=f"{subset.name} test",
    )
    test_all = _windows(
        test_tab,
        feats_te,
        cond_te,
        rul_te,
        cfg,
        last_only=False,
        pad=pad,
        where=f"{subset.name} test",
    )
    return RULData(train, val, test, test_all, scaler, cfg, subset.name)


def with_window(config: CMAPSSConfig, window: int) -> CMAPSSConfig:
    """A copy of ``config`` with another window length."""
    return replace(config, window=window)
