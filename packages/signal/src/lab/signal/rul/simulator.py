"""A turbofan-like run-to-failure simulator in the C-MAPSS file format.

After Saxena et al. (PHM 2008): each unit starts with a random initial wear; its health
parameters (module efficiency and flow losses) wear exponentially, ``d_j(t) = d0_j +
a_j (exp(b_j t) - 1)``, with unit-specific rates; the health index is the smallest remaining
margin, ``HI(t) = 1 - max_j d_j(t) / margin_j``, and the unit fails at the first cycle where
``HI <= 0``. Every cycle flies in one of the operating conditions (altitude, Mach, throttle
resolver angle); sensors respond to the condition and, through a fixed sensitivity matrix, to
the health parameters, plus Gaussian noise. Seven of the 21 sensors carry no health
information (as s1, s5, s6, s10, s16, s18, s19 in the real FD001).

The sensor physics (baselines, sensitivities) is drawn from ``sensor_seed``, the fleet from the
``seed`` argument, so simulator settings that differ only in wear rates, conditions or fault
modes share one sensor model: they make natural meta-learning tasks. Everything here is OURS
(a simplified stand-in for the NASA simulator), meant for tests and meta-learning tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.core import ConfigError

from .cmapss import N_COLUMNS, PAPER_SENSORS, CMAPSSSubset

__all__ = ["CONDITION_SETTINGS", "SimulatorConfig", "simulate_turbofan"]

#: The six operating conditions of C-MAPSS FD002/FD004 (altitude kft, Mach, TRA).
CONDITION_SETTINGS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 100.0),
    (10.0, 0.25, 100.0),
    (20.0, 0.70, 100.0),
    (25.0, 0.62, 60.0),
    (35.0, 0.84, 100.0),
    (42.0, 0.84, 100.0),
)
#: Health parameters degraded by each fault mode (0: HPC degradation; 1: HPC + fan, as FD003).
_FAULT_PARAMS = {0: (0, 1), 1: (0, 1, 2, 3)}
_N_HEALTH = 4  # HPC efficiency, HPC flow, fan efficiency, fan flow


@dataclass(frozen=True)
class SimulatorConfig:
    """Fleet and physics of :func:`simulate_turbofan`.

    Attributes:
        n_train_units: run-to-failure units in ``train``.
        n_test_units: units in ``test``, each cut at a random point of its life.
        n_conditions: how many of :data:`CONDITION_SETTINGS` the fleet flies (1 to 6).
        fault_modes: fault modes drawn per unit (0: HPC, 1: HPC + fan).
        wear_rate: range of the exponential rate ``b`` (per cycle).
        wear_scale: range of the amplitude ``a`` (fraction of the margin).
        initial_wear: range of the initial wear ``d0`` (fraction of the margin).
        noise_std: sensor noise, in units of each sensor's health sensitivity.
        test_cut: range of the fraction of life after which a test unit's record stops.
        max_cycles: a unit that has not failed by then is an error (wear too slow).
        sensor_seed: seed of the sensor model shared by every fleet.
    """

    n_train_units: int = 20
    n_test_units: int = 10
    n_conditions: int = 1
    fault_modes: tuple[int, ...] = (0,)
    wear_rate: tuple[float, float] = (0.010, 0.020)
    wear_scale: tuple[float, float] = (0.02, 0.06)
    initial_wear: tuple[float, float] = (0.0, 0.1)
    noise_std: float = 0.15
    test_cut: tuple[float, float] = (0.3, 0.9)
    max_cycles: int = 1000
    sensor_seed: int = 1234

    def __post_init__(self) -> None:
        if self.n_train_units < 1 or self.n_test_units < 1:
            raise ConfigError(
                f"n_train_units and n_test_units must be >= 1, got "
                f"{self.n_train_units}, {self.n_test_units}"
            )
        if not 1 <= self.n_conditions <= len(CONDITION_SETTINGS):
            raise ConfigError(f"n_conditions must be in 1..6, got {self.n_conditions}")
        if not self.fault_modes or any(m not in _FAULT_PARAMS for m in self.fault_modes):
            raise ConfigError(
                f"fault_modes must be drawn from {sorted(_FAULT_PARAMS)}, got {self.fault_modes!r}"
            )
        for name in ("wear_rate", "wear_scale", "initial_wear", "test_cut"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ConfigError(f"{name} must be a range 0 <= lo <= hi, got {(lo, hi)}")
        if self.wear_rate[0] <= 0 or self.wear_scale[0] <= 0:
            raise ConfigError("wear_rate and wear_scale must be positive")
        if self.initial_wear[1] >= 1:
            raise ConfigError(f"initial_wear must stay below 1, got {self.initial_wear}")
        if not (self.test_cut[0] > 0 and self.test_cut[1] < 1):
            raise ConfigError(f"test_cut must lie in (0, 1), got {self.test_cut}")
        if self.noise_std < 0:
            raise ConfigError(f"noise_std must be >= 0, got {self.noise_std}")


def _sensor_model(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_cond = len(CONDITION_SETTINGS)
    base = rng.uniform(10.0, 1000.0, size=(n_cond, 21))  # per-condition sensor baselines
    sens = np.zeros((_N_HEALTH, 21))
    informative = np.array(PAPER_SENSORS) - 1
    signs = rng.choice([-1.0, 1.0], size=(_N_HEALTH, len(informative)))
    sens[:, informative] = signs * rng.uniform(0.3, 1.0, size=(_N_HEALTH, len(informative)))
    gain = rng.uniform(0.8, 1.2, size=(n_cond, 21))  # condition-dependent health sensitivity
    return base, sens, gain


def simulate_turbofan(
    config: SimulatorConfig | None = None, *, seed: int = 0, name: str = "SIM"
) -> CMAPSSSubset:
    """Simulate a fleet; returns a :class:`~lab.signal.cmapss.CMAPSSSubset` (26-column tables).

    Units 1..n_train_units run to failure (their last row is the last cycle before failure);
    test units n_train_units+1.. stop early and their true RUL goes into ``test_rul``.
    """
    cfg = config or SimulatorConfig()
    base, sens, gain = _sensor_model(cfg.sensor_seed)
    rng = np.random.default_rng(seed)
    noise_scale = cfg.noise_std * np.maximum(np.abs(sens).max(axis=0), 0.0)
    tables: list[list[np.ndarray]] = [[], []]
    test_rul: list[float] = []
    n_total = cfg.n_train_units + cfg.n_test_units
    for u in range(n_total):
        mode = int(rng.choice(cfg.fault_modes))
        params = np.array(_FAULT_PARAMS[mode])
        d0 = np.zeros(_N_HEALTH)
        a = np.zeros(_N_HEALTH)
        b = np.zeros(_N_HEALTH)
        d0[params] = rng.uniform(*cfg.initial_wear, size=len(params))
        a[params] = rng.uniform(*cfg.wear_scale, size=len(params))
        b[params] = rng.uniform(*cfg.wear_rate, size=len(params))
        # first cycle with HI <= 0: solve d0 + a (exp(b t) - 1) >= 1 per parameter.
        with np.errstate(divide="ignore"):
            t_fail = np.where(
                a > 0,
                np.log1p((1.0 - d0) / np.where(a > 0, a, 1.0)) / np.where(b > 0, b, 1.0),
                np.inf,
            )
        life = int(np.ceil(t_fail.min()))
        if life > cfg.max_cycles:
            raise ConfigError(
                f"unit {u + 1} would fail after {life} cycles > max_cycles={cfg.max_cycles}; "
                "increase wear_rate/wear_scale or max_cycles"
            )
        life = max(life, 2)
        cycles = np.arange(1, life)  # last recorded cycle is the one before failure
        wear = d0[None, :] + a[None, :] * np.expm1(b[None, :] * cycles[:, None])
        cond = rng.integers(0, cfg.n_conditions, size=len(cycles))
        settings = np.asarray(CONDITION_SETTINGS)[cond]
        jitter = rng.normal(0.0, [0.001, 0.0002, 0.0], size=settings.shape)
        sensors = base[cond] + gain[cond] * (wear @ sens)
        sensors = sensors + rng.normal(size=sensors.shape) * noise_scale
        table = np.zeros((len(cycles), N_COLUMNS))
        table[:, 0] = u + 1
        table[:, 1] = cycles
        table[:, 2:5] = settings + jitter
        table[:, 5:] = sensors
        if u < cfg.n_train_units:
            tables[0].append(table)
        else:
            cut = max(1, round(rng.uniform(*cfg.test_cut) * len(cycles)))
            tables[1].append(table[:cut])
            test_rul.append(float(life - 1 - cut))
    return CMAPSSSubset(
        name, np.concatenate(tables[0]), np.concatenate(tables[1]), np.asarray(test_rul)
    )
