"""lab.llm.pods: GRPO with PODS rollout down-sampling (Xu et al. 2025) on Hugging Face models.

- Down-sampling rules: :func:`max_variance_downsample` (PODS), :func:`max_reward_downsample`,
  :func:`random_downsample`, :func:`downsample` (by name).
- Trainer: :class:`GRPOConfig`, :class:`GRPOTrainer` (TRL-style fields and reward functions,
  LoRA via PEFT, checkpoints/resume, torchrun data parallelism).
- Tasks and rewards: :func:`arithmetic_task`, :func:`load_gsm8k` and their reward functions;
  :func:`compute_rewards`.
- Models: :func:`build_tokenizer`, :func:`sft_warm_start`, :func:`load_smollm2` (the model
  itself comes from :func:`lab.llm.tiny_causal_lm`, shared with TnD).
- Evaluation and runs: :func:`evaluate`, :func:`answer_logprob`, :class:`ExperimentConfig`,
  :func:`run_experiment` (task, warm start, GRPO, evaluation).

The policy-gradient losses (:func:`lab.llm.grpo_loss`, ...) and generation
(:func:`lab.llm.generate_completions`) are shared with :mod:`lab.llm.tnd` and live in
:mod:`lab.llm`.
"""

from __future__ import annotations

from .downsample import (
    DOWNSAMPLE_RULES,
    downsample,
    max_reward_downsample,
    max_variance_downsample,
    max_variance_downsample_bruteforce,
    random_downsample,
    subset_variance,
)
from .evaluation import answer_logprob, evaluate
from .experiment import ExperimentConfig, build_task, run_experiment
from .grpo import GRPOConfig, GRPOTrainer
from .models import SFTConfig, build_tokenizer, load_smollm2, sft_warm_start
from .rewards import RewardFunction, compute_rewards
from .tasks import (
    arithmetic_reward,
    arithmetic_task,
    extract_gsm8k_answer,
    gsm8k_correctness_reward,
    gsm8k_format_reward,
    gsm8k_tag_reward,
    load_gsm8k,
)

__all__ = [
    "DOWNSAMPLE_RULES",
    "ExperimentConfig",
    "GRPOConfig",
    "GRPOTrainer",
    "RewardFunction",
    "SFTConfig",
    "answer_logprob",
    "arithmetic_reward",
    "arithmetic_task",
    "build_task",
    "build_tokenizer",
    "compute_rewards",
    "downsample",
    "evaluate",
    "extract_gsm8k_answer",
    "gsm8k_correctness_reward",
    "gsm8k_format_reward",
    "gsm8k_tag_reward",
    "load_gsm8k",
    "load_smollm2",
    "max_reward_downsample",
    "max_variance_downsample",
    "max_variance_downsample_bruteforce",
    "random_downsample",
    "run_experiment",
    "sft_warm_start",
    "subset_variance",
]
