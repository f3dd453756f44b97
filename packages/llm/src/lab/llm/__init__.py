"""lab.llm: GRPO with PODS rollout down-sampling on Hugging Face models.

- Down-sampling rules (PODS, Xu et al. 2025): :func:`max_variance_downsample`,
  :func:`max_reward_downsample`, :func:`random_downsample`.
- Trainer: :class:`GRPOConfig`, :class:`GRPOTrainer` (TRL-style fields and reward functions,
  LoRA via PEFT, checkpoints/resume, torchrun data parallelism).
- Reusable policy-gradient pieces: :func:`completion_logprobs`, :func:`group_advantages`,
  :func:`clipped_surrogate`, :func:`aggregate_loss`, :func:`grpo_loss`, :func:`generate_completions`.
- Tasks: :func:`arithmetic_task`, :func:`load_gsm8k` and their reward functions.
- Runs: :class:`ExperimentConfig`, :func:`run_experiment` (task, warm start, GRPO, evaluation).
- Offline models: :func:`build_tokenizer`, :func:`tiny_causal_lm`, :func:`sft_warm_start`,
  :func:`load_smollm2`.
- Continual fine-tuning (PECFT survey, Coleman et al. 2025): the subpackage
  :mod:`lab.llm.continual` (task streams, LoRA/O-LoRA/InfLoRA/L2P/replay/EWC strategies, metrics).
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
from .generation import Rollouts, completion_mask, encode_prompts, generate_completions
from .grpo import GRPOConfig, GRPOTrainer
from .models import SFTConfig, build_tokenizer, load_smollm2, sft_warm_start, tiny_causal_lm
from .policy_gradient import (
    LOSS_TYPES,
    SurrogateStats,
    aggregate_loss,
    clipped_surrogate,
    completion_logprobs,
    group_advantages,
    grpo_loss,
    kl_k3,
    token_logprobs,
)
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
    "LOSS_TYPES",
    "ExperimentConfig",
    "GRPOConfig",
    "GRPOTrainer",
    "RewardFunction",
    "Rollouts",
    "SFTConfig",
    "SurrogateStats",
    "aggregate_loss",
    "answer_logprob",
    "arithmetic_reward",
    "arithmetic_task",
    "build_task",
    "build_tokenizer",
    "clipped_surrogate",
    "completion_logprobs",
    "completion_mask",
    "compute_rewards",
    "downsample",
    "encode_prompts",
    "evaluate",
    "extract_gsm8k_answer",
    "generate_completions",
    "group_advantages",
    "grpo_loss",
    "gsm8k_correctness_reward",
    "gsm8k_format_reward",
    "gsm8k_tag_reward",
    "kl_k3",
    "load_gsm8k",
    "load_smollm2",
    "max_reward_downsample",
    "max_variance_downsample",
    "max_variance_downsample_bruteforce",
    "random_downsample",
    "run_experiment",
    "sft_warm_start",
    "subset_variance",
    "tiny_causal_lm",
    "token_logprobs",
]
