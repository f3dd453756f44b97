"""lab.signal: signal-processing research methods, one subpackage per method.

- :mod:`lab.signal.rul`: remaining-useful-life prediction with MKDPINN (Wang et al. 2025): the
  C-MAPSS pipeline, a degradation simulator, meta-learning and few-shot adaptation, baselines.
- :mod:`lab.signal.vc`: CLOT-GAN non-parallel voice conversion (Dhar et al. 2025); needs the
  ``labworks-signal[vc]`` extra.

The two methods share no code beyond :mod:`lab.core`, so this package re-exports nothing.
The names it exported before 0.2 (the RUL API) still resolve, with a ``DeprecationWarning``,
from :mod:`lab.signal.rul`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from lab.core import moved_attributes

try:
    __version__ = version("labworks-signal")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]

#: names that moved to lab.signal.rul in 0.2 (removed in 0.3)
_MOVED = {
    name: "lab.signal.rul"
    for name in (
        "CNNRUL",
        "CONDITION_SETTINGS",
        "LSTMRUL",
        "MKDPINN",
        "PAPER_SENSORS",
        "AdaptConfig",
        "CMAPSSConfig",
        "CMAPSSSubset",
        "CNNConfig",
        "ConditionScaler",
        "HiddenStateMapper",
        "LSTMConfig",
        "MKDPINNConfig",
        "MetaConfig",
        "MetaResult",
        "PhysicsGuidedRegulator",
        "RULData",
        "RULPredictor",
        "RidgeRUL",
        "SimulatorConfig",
        "TrainConfig",
        "TrainResult",
        "WindowSet",
        "adapt",
        "evaluate_rul",
        "exponential_smoothing",
        "identify_conditions",
        "load_cmapss",
        "meta_train",
        "pde_residual",
        "phm08_score",
        "piecewise_rul",
        "predict_rul",
        "prepare_rul_data",
        "read_cmapss_table",
        "read_rul_file",
        "rmse",
        "simulate_turbofan",
        "simulator_tasks",
        "split_units",
        "tasks_by_condition",
        "tasks_by_units",
        "train_rul",
    )
}

__getattr__ = moved_attributes(__name__, _MOVED)
