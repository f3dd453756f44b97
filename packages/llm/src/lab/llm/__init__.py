"""lab.llm: language-model research methods on Hugging Face models, one subpackage per method.

- :mod:`lab.llm.pods`: GRPO with PODS rollout down-sampling (Xu et al. 2025): down-sampling
  rules, the GRPO trainer, arithmetic/GSM8K tasks and rewards, SFT warm start, evaluation.
- :mod:`lab.llm.tnd`: Trial-and-Demonstration language learning from scratch (Ma, Wang,
  Chai 2025): teacher, age-predictor reward, PPO student, word ages of acquisition.
- :mod:`lab.llm.continual`: parameter-efficient continual fine-tuning (PECFT survey, Coleman et
  al. 2025): task streams, LoRA/O-LoRA/InfLoRA/L2P/replay/EWC strategies, metrics.

Shared by PODS and TnD, and re-exported here:

- policy-gradient pieces (:mod:`lab.llm.policy_gradient`): :func:`token_logprobs`,
  :func:`completion_logprobs`, :func:`group_advantages`, :func:`clipped_surrogate`,
  :func:`aggregate_loss`, :func:`grpo_loss`, :func:`kl_k3` (and the PPO pieces TnD uses);
- generation (:mod:`lab.llm.generation`): :func:`generate_completions`, :class:`Rollouts`,
  :func:`encode_prompts`, :func:`completion_mask`;
- models built from a config (:mod:`lab.llm.models`): :func:`tiny_causal_lm`.

The PODS names this package exported before 0.2 (``GRPOTrainer``, ``max_variance_downsample``,
...) still resolve, with a ``DeprecationWarning``, from :mod:`lab.llm.pods` until labworks 0.3.
"""

from __future__ import annotations

from lab.core import moved_attributes

from .generation import Rollouts, completion_mask, encode_prompts, generate_completions
from .models import tiny_causal_lm
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

__all__ = [
    "LOSS_TYPES",
    "Rollouts",
    "SurrogateStats",
    "aggregate_loss",
    "clipped_surrogate",
    "completion_logprobs",
    "completion_mask",
    "encode_prompts",
    "generate_completions",
    "group_advantages",
    "grpo_loss",
    "kl_k3",
    "tiny_causal_lm",
    "token_logprobs",
]

#: names that moved to lab.llm.pods in 0.2 (removed in 0.3)
__getattr__ = moved_attributes(
    __name__,
    {
        name: "lab.llm.pods"
        for name in (
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
        )
    },
)
