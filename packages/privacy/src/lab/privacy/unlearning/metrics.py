"""TOFU evaluation: truth ratio, forget quality (KS test) and model utility.

Definitions follow the TOFU code (``locuslab/tofu``, ``aggregate_eval_stat.py``):

- answer losses are per-token NLLs of an answer given the question;
- truth ratio ``R = exp(mean_j NLL(perturbed_j) - NLL(paraphrased))``;
- forget quality = p-value of the two-sample KS test between the truth ratios on the forget
  set of the evaluated model and of the retain-only (RFS) model;
- model utility = harmonic mean of {probability, ROUGE-L recall, truth-ratio score} on
  {retain, real authors, world facts}, where probability is ``mean exp(-NLL(answer))`` on the
  retain set and ``mean p(answer) / (p(answer) + sum_j p(perturbed_j))`` (normalised over the
  options) on real authors and world facts, and the truth-ratio score is
  ``mean max(0, 1 - 1/R)``; ROUGE-L recall (``rouge-score``, stemming on) is computed between
  the greedy generation and the ground-truth answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lab.core import ConfigError, DataError, get_device, require

from .data import QAItem, TofuData, format_prompt
from .models import unwrap_model
from .training import answer_nll

__all__ = [
    "EvalConfig",
    "SetScores",
    "evaluate_model",
    "forget_quality",
    "generate_answers",
    "model_utility",
    "rouge_l_recall",
    "truth_ratio",
    "truth_ratio_score",
]


def _arr(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if a.size == 0:
        raise DataError(f"{name} is empty")
    if not np.all(np.isfinite(a)):
        raise DataError(f"{name} holds non-finite values: {a[~np.isfinite(a)][:5]}")
    return a


def truth_ratio(paraphrased_nll: Any, perturbed_nll: Any) -> np.ndarray:
    """TOFU's truth ratio per question.

    Args:
        paraphrased_nll: ``[N]`` per-token NLL of the paraphrased answer.
        perturbed_nll: ``[N, K]`` per-token NLL of the ``K`` perturbed answers.

    Returns:
        ``R = exp(mean_j perturbed_nll[:, j] - paraphrased_nll)``, shape ``[N]`` (large when the
        model prefers the true answer to the wrong ones).
    """
    para = _arr(paraphrased_nll, "paraphrased_nll")
    pert = _arr(perturbed_nll, "perturbed_nll")
    if pert.ndim != 2 or para.ndim != 1 or pert.shape[0] != para.shape[0]:
        raise DataError(
            f"need paraphrased_nll [N] and perturbed_nll [N, K], got {para.shape} and {pert.shape}"
        )
    return np.exp(pert.mean(axis=1) - para)


def truth_ratio_score(ratios: Any, *, forget: bool = False) -> float:
    """TOFU's summary of truth ratios: ``mean max(0, 1 - 1/R)`` (``mean min(R, 1/R)`` on forget)."""
    r = _arr(ratios, "ratios")
    if np.any(r <= 0):
        raise DataError("truth ratios must be positive")
    if forget:
        return float(np.mean(np.minimum(r, 1 / r)))
    return float(np.mean(np.maximum(0.0, 1 - 1 / r)))


def forget_quality(ratios: Any, reference_ratios: Any) -> float:
    """Forget quality: the two-sample KS-test p-value between two truth-ratio samples.

    Args:
        ratios: truth ratios of the evaluated model on the forget set.
        reference_ratios: truth ratios of the retain-only (RFS) model on the same set.
    """
    stats = require("scipy.stats", "labworks-privacy[unlearning]")
    a, b = _arr(ratios, "ratios"), _arr(reference_ratios, "reference_ratios")
    return float(stats.ks_2samp(a, b).pvalue)


def model_utility(scores: Mapping[str, float] | Sequence[float]) -> float:
    """Harmonic mean of the utility numbers (TOFU: 9 of them); 0 if any is 0.

    Raises:
        DataError: a negative or non-finite number, or none at all.
    """
    vals = list(scores.values()) if isinstance(scores, Mapping) else list(scores)
    a = _arr(vals, "utility scores")
    if np.any(a < 0):
        raise DataError(f"utility scores must be >= 0, got {vals}")
    if np.any(a == 0):
        return 0.0
    return float(len(a) / np.sum(1 / a))


def rouge_l_recall(predictions: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """ROUGE-L recall of each prediction against its reference (``rouge-score``, stemmed)."""
    rs = require("rouge_score.rouge_scorer", "labworks-privacy[unlearning]")
    if len(predictions) != len(references):
        raise DataError(f"{len(predictions)} predictions but {len(references)} references")
    scorer = rs.RougeScorer(["rougeL"], use_stemmer=True)
    return np.array(
        [scorer.score(r, p)["rougeL"].recall for p, r in zip(predictions, references, strict=True)]
    )


@torch.no_grad()
def generate_answers(
    model: Any,
    tokenizer: Any,
    questions: Sequence[str],
    *,
    max_new_tokens: int = 24,
    batch_size: int = 64,
    device: torch.device | str | None = None,
) -> list[str]:
    """Greedy answers to ``questions`` (works on Opacus-wrapped models too).

    Prompts are left-padded; generation stops at the eos token.
    """
    dev = get_device(device)
    m = unwrap_model(model)
    was = m.training
    m.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    outs: list[str] = []
    try:
        for s in range(0, len(questions), batch_size):
            prompts = [format_prompt(q) for q in questions[s : s + batch_size]]
            enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(dev) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            gen = m.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            new = gen[:, enc["input_ids"].shape[1] :]
            outs += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
        m.train(was)
    return outs


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation settings.

    Attributes:
        max_new_tokens: generation length for ROUGE-L.
        batch_size: scoring/generation batch size.
        max_length: longest prompt + answer scored.
    """

    max_new_tokens: int = 24
    batch_size: int = 64
    max_length: int = 128

    def __post_init__(self) -> None:
        if self.max_new_tokens <= 0 or self.batch_size <= 0 or self.max_length <= 1:
            raise ConfigError(f"invalid EvalConfig {self}")


@dataclass(frozen=True)
class SetScores:
    """Scores of one model on one evaluation set."""

    probability: float
    rouge_l: float
    truth_ratio_score: float
    truth_ratios: np.ndarray
    gt_nll: np.ndarray


def _scores(
    model: Any,
    tok: Any,
    items: Sequence[QAItem],
    *,
    normalise: bool,
    forget: bool,
    cfg: EvalConfig,
    dev: torch.device,
    with_rouge: bool = True,
) -> SetScores:
    if not items:
        raise DataError("an evaluation set is empty")
    missing = [q.question for q in items if q.paraphrased_answer is None or not q.perturbed_answers]
    if missing:
        raise DataError(
            f"{len(missing)} items lack paraphrased/perturbed answers, e.g. {missing[0]!r}"
        )
    k = min(len(q.perturbed_answers) for q in items)
    qs = [q.question for q in items]

    def nll(answers: list[str]) -> np.ndarray:
        return answer_nll(
            model,
            tok,
            qs,
            answers,
            batch_size=cfg.batch_size,
            max_length=cfg.max_length,
            device=dev,
        ).numpy()

    gt = nll([q.answer for q in items])
    para = nll([q.paraphrased_answer or "" for q in items])
    pert = np.stack(
        [nll([q.perturbed_answers[j] for q in items]) for j in range(k)],
        axis=1,
    )
    tr = truth_ratio(para, pert)
    if normalise:
        p_true = np.exp(-gt)
        prob = float(np.mean(p_true / (p_true + np.exp(-pert).sum(1))))
    else:
        prob = float(np.mean(np.exp(-gt)))
    rouge = float("nan")
    if with_rouge:
        gen = generate_answers(
            model, tok, qs, max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, device=dev
        )
        rouge = float(np.mean(rouge_l_recall(gen, [q.answer for q in items])))
    return SetScores(prob, rouge, truth_ratio_score(tr, forget=forget), tr, gt)


def evaluate_model(
    model: Any,
    tokenizer: Any,
    data: TofuData,
    *,
    reference_ratios: Any | None = None,
    config: EvalConfig | None = None,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """The TOFU evaluation of one model.

    Args:
        model: the causal LM.
        tokenizer: its tokenizer.
        data: needs ``forget``, ``retain_eval``, ``real_authors`` and ``world_facts`` with
            paraphrased and perturbed answers.
        reference_ratios: forget-set truth ratios of the RFS model (for forget quality).
        config: :class:`EvalConfig`.
        device: where to run.

    Returns:
        A dict with ``model_utility``, the 9 utility components, forget-set probability,
        ROUGE-L and truth-ratio score, ``forget_truth_ratios`` (a list, to pass as another
        model's ``reference_ratios``) and ``forget_quality`` when a reference is given.
    """
    cfg = config or EvalConfig()
    dev = get_device(device)
    unwrap_model(model).to(dev)
    out: dict[str, Any] = {}
    parts: dict[str, float] = {}
    sets = {
        "retain": (data.retain_eval, False),
        "real_authors": (data.real_authors, True),
        "world_facts": (data.world_facts, True),
    }
    for name, (items, norm) in sets.items():
        s = _scores(model, tokenizer, items, normalise=norm, forget=False, cfg=cfg, dev=dev)
        parts[f"{name}_probability"] = s.probability
        parts[f"{name}_rouge_l"] = s.rouge_l
        parts[f"{name}_truth_ratio"] = s.truth_ratio_score
    out.update(parts)
    out["model_utility"] = model_utility(parts)
    f = _scores(model, tokenizer, data.forget, normalise=False, forget=True, cfg=cfg, dev=dev)
    out["forget_probability"] = f.probability
    out["forget_rouge_l"] = f.rouge_l
    out["forget_truth_ratio"] = f.truth_ratio_score
    out["forget_truth_ratios"] = f.truth_ratios.tolist()
    if reference_ratios is not None:
        out["forget_quality"] = forget_quality(f.truth_ratios, reference_ratios)
    return out
