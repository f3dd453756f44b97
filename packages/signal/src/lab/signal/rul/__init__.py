"""lab.signal.rul: remaining-useful-life prediction with MKDPINN (Wang, Liu, Lv, Liu 2025).

The C-MAPSS pipeline (:func:`load_cmapss`, :func:`prepare_rul_data`; module
:mod:`~lab.signal.rul.cmapss`), a degradation simulator (:func:`simulate_turbofan`;
:mod:`~lab.signal.rul.simulator`), the model (:class:`MKDPINN`: Hidden State Mapper, RUL
predictor u(h, t), Physics-Guided Regulator with the PDE residual by autograd;
:mod:`~lab.signal.rul.model`), meta-learning (:func:`meta_train`, Reptile / first-order MAML)
and few-shot :func:`adapt` (:mod:`~lab.signal.rul.meta`), the few-shot experiment with its
controls (:func:`few_shot_experiment`: scratch, zero-shot and adapted meta and plain
pretraining; :mod:`~lab.signal.rul.fewshot`), paired tests (:func:`paired_difference`), baselines (:class:`RidgeRUL`,
:class:`CNNRUL`, :class:`LSTMRUL`), metrics (:func:`rmse`, :func:`phm08_score`) and training
with checkpoints (:func:`train_rul`). ``lab signal rul ...`` is its command line.
"""

from __future__ import annotations

from .baselines import CNNRUL, LSTMRUL, CNNConfig, LSTMConfig, RidgeRUL
from .cmapss import (
    PAPER_SENSORS,
    CMAPSSConfig,
    CMAPSSSubset,
    ConditionScaler,
    RULData,
    WindowSet,
    exponential_smoothing,
    identify_conditions,
    load_cmapss,
    piecewise_rul,
    prepare_rul_data,
    read_cmapss_table,
    read_rul_file,
    split_units,
)
from .fewshot import (
    FEWSHOT_ARMS,
    FewShotConfig,
    FewShotResult,
    few_shot_experiment,
    few_shot_split,
)
from .meta import (
    AdaptConfig,
    MetaConfig,
    MetaResult,
    adapt,
    meta_train,
    simulator_tasks,
    tasks_by_condition,
    tasks_by_units,
)
from .metrics import phm08_score, rmse
from .model import (
    MKDPINN,
    HiddenStateMapper,
    MKDPINNConfig,
    PhysicsGuidedRegulator,
    RULPredictor,
    known_rul_residual,
    pde_residual,
)
from .simulator import CONDITION_SETTINGS, SimulatorConfig, simulate_turbofan
from .stats import paired_difference
from .training import TrainConfig, TrainResult, evaluate_rul, predict_rul, train_rul

__all__ = [
    "CNNRUL",
    "CONDITION_SETTINGS",
    "FEWSHOT_ARMS",
    "LSTMRUL",
    "MKDPINN",
    "PAPER_SENSORS",
    "AdaptConfig",
    "CMAPSSConfig",
    "CMAPSSSubset",
    "CNNConfig",
    "ConditionScaler",
    "FewShotConfig",
    "FewShotResult",
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
    "few_shot_experiment",
    "few_shot_split",
    "identify_conditions",
    "known_rul_residual",
    "load_cmapss",
    "meta_train",
    "paired_difference",
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
]
