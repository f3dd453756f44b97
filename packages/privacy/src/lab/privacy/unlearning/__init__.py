"""lab.privacy.unlearning: DP2Unlearning for causal language models (Al Mahmud et al. 2025).

Train a causal LM once on data protected by differential privacy (DP-SGD with Opacus, or
DP-MLM text sanitisation); to forget a set of authors later, fine-tune that DP base on the
retained data only (DP2U). Compared with retraining from scratch (RFS) and the approximate
baselines (gradient ascent, gradient difference, KL, NPO) with the TOFU metrics.

- Data: :func:`load_tofu` (TOFU JSON from a local folder), :func:`make_tofu_like`
  (fictitious authors, offline), :class:`TofuData`, :class:`QAItem`.
- Models: :func:`build_word_tokenizer`, :func:`causal_lm_from_config`, :func:`load_causal_lm`,
  :func:`save_causal_lm`.
- Training: :func:`finetune` (non-private), :func:`train_dp` (DP-SGD, Opacus),
  :func:`train_dp_classifier` (the same DP-SGD loop for any classifier),
  :func:`group_privacy`, :class:`DPMLMRewriter` and :func:`sanitize_tofu` (DP-MLM).
- Unlearning: :func:`unlearn` with methods ``rfs``, ``dp2u``, ``ga``, ``gd``, ``kl``, ``npo``.
- Metrics: :func:`truth_ratio`, :func:`forget_quality`, :func:`model_utility`,
  :func:`evaluate_model`.

Needs the extra ``labworks-privacy[unlearning]`` (opacus, transformers, rouge-score).
"""

from __future__ import annotations

from .data import (
    QAItem,
    TofuData,
    TofuLikeConfig,
    check_splits,
    format_prompt,
    load_tofu,
    make_tofu_like,
)
from .dp_mlm import (
    DPMLMConfig,
    DPMLMRewriter,
    MLMTrainConfig,
    exponential_mechanism_probs,
    load_masked_lm,
    sanitize_tofu,
    train_small_mlm,
)
from .dp_sgd import (
    DPConfig,
    DPResult,
    epsilon_for,
    group_privacy,
    per_sample_gradients,
    train_dp,
    train_dp_classifier,
)
from .metrics import (
    EvalConfig,
    evaluate_model,
    forget_quality,
    generate_answers,
    model_utility,
    rouge_l_recall,
    truth_ratio,
    truth_ratio_score,
)
from .models import (
    CausalLMConfig,
    build_word_tokenizer,
    causal_lm_from_config,
    load_causal_lm,
    save_causal_lm,
    unwrap_model,
)
from .training import Cost, TrainConfig, answer_nll, encode_qa, finetune
from .unlearn import METHODS, UnlearnConfig, UnlearnResult, unlearn

__all__ = [
    "METHODS",
    "CausalLMConfig",
    "Cost",
    "DPConfig",
    "DPMLMConfig",
    "DPMLMRewriter",
    "DPResult",
    "EvalConfig",
    "MLMTrainConfig",
    "QAItem",
    "TofuData",
    "TofuLikeConfig",
    "TrainConfig",
    "UnlearnConfig",
    "UnlearnResult",
    "answer_nll",
    "build_word_tokenizer",
    "causal_lm_from_config",
    "check_splits",
    "encode_qa",
    "epsilon_for",
    "evaluate_model",
    "exponential_mechanism_probs",
    "finetune",
    "forget_quality",
    "format_prompt",
    "generate_answers",
    "group_privacy",
    "load_causal_lm",
    "load_masked_lm",
    "load_tofu",
    "make_tofu_like",
    "model_utility",
    "per_sample_gradients",
    "rouge_l_recall",
    "sanitize_tofu",
    "save_causal_lm",
    "train_dp",
    "train_dp_classifier",
    "train_small_mlm",
    "truth_ratio",
    "truth_ratio_score",
    "unlearn",
    "unwrap_model",
]
