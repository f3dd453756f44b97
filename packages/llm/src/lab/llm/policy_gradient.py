"""Policy-gradient pieces shared by the GRPO trainer (and reusable by other RL trainers).

- :func:`token_logprobs` / :func:`completion_logprobs`: per-token log-probabilities of a
  completion under a causal LM (left-padded prompts, explicit position ids).
- :func:`group_advantages`: GRPO advantages ``(r - mean_group) / (std + eps)``.
- :func:`clipped_surrogate`: the PPO clipped per-token objective with an optional k3 KL term.
- :func:`aggregate_loss`: the loss types ``grpo``, ``bnpo`` and ``dr_grpo`` (as TRL documents them).
- :func:`grpo_loss`: the three composed on one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from lab.core import ConfigError, DataError

__all__ = [
    "LOSS_TYPES",
    "LossType",
    "SurrogateStats",
    "aggregate_loss",
    "clipped_surrogate",
    "completion_logprobs",
    "group_advantages",
    "grpo_loss",
    "kl_k3",
    "position_ids_from_mask",
    "token_logprobs",
]

LossType = Literal["grpo", "bnpo", "dr_grpo"]
LOSS_TYPES: tuple[str, ...] = ("grpo", "bnpo", "dr_grpo")


def token_logprobs(
    logits: torch.Tensor, token_ids: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """``log softmax(logits / temperature)`` gathered at ``token_ids``; shapes ``(..., V)`` -> ``(...)``."""
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # log-softmax in fp32 (float64 stays float64)
    if temperature != 1.0:
        logits = logits / temperature
    return torch.gather(F.log_softmax(logits, dim=-1), -1, token_ids.unsqueeze(-1)).squeeze(-1)


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that count only attended tokens (what HF ``generate`` uses for left padding)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def completion_logprobs(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    completion_length: int,
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Per-token log-probs of the last ``completion_length`` tokens of ``input_ids``.

    Args:
        model: a causal LM returning ``.logits`` (HF ``*ForCausalLM``, PEFT or DDP wrapped).
        input_ids: ``(B, L)`` prompt (left-padded) followed by the completion (right-padded).
        attention_mask: ``(B, L)``, 1 on real tokens.
        completion_length: number of trailing positions to score.
        temperature: logits are divided by it, as during sampling (TRL does the same).

    Returns:
        ``(B, completion_length)`` float32 log-probabilities (padding positions included; mask
        them with the completion mask).
    """
    if completion_length < 1 or completion_length >= input_ids.shape[1]:
        raise DataError(
            f"completion_length={completion_length} must be in [1, {input_ids.shape[1] - 1}]"
        )
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        use_cache=False,
    )
    logits = out.logits[:, -completion_length - 1 : -1, :]
    return token_logprobs(logits, input_ids[:, -completion_length:], temperature)


def group_advantages(
    rewards: torch.Tensor,
    *,
    scale: Literal["group", "batch", "none"] = "group",
    eps: float = 1e-4,
    counts: torch.Tensor | None = None,
) -> torch.Tensor:
    """GRPO advantages: subtract the group mean, divide by a standard deviation plus ``eps``.

    Args:
        rewards: ``(G, k)`` rewards of the rollouts kept for training (after down-sampling).
        scale: ``"group"`` divides by each group's std (GRPO, PODS), ``"batch"`` by the std of all
            kept rewards, ``"none"`` does not divide (Dr. GRPO).
        eps: added to the std (1e-4 in the paper and in TRL).
        counts: optional ``(G,)`` number of valid leading entries per group (ragged groups after
            excluded samples); entries past the count are ignored and get advantage 0.

    The std is the unbiased sample std (``torch.std``), as in TRL and the PODS code; a group
    with a single kept rollout gets std 0.
    """
    if rewards.ndim != 2:
        raise DataError(f"rewards must be (groups, k), got shape {tuple(rewards.shape)}")
    if scale not in ("group", "batch", "none"):
        raise ConfigError(f"scale_rewards must be 'group', 'batch' or 'none', got {scale!r}")
    G, k = rewards.shape
    if counts is None:
        counts = torch.full((G,), k, device=rewards.device, dtype=torch.long)
    valid = torch.arange(k, device=rewards.device).unsqueeze(0) < counts.unsqueeze(1)
    r = torch.where(valid, rewards, torch.zeros_like(rewards))
    c = counts.clamp(min=1).to(rewards.dtype)
    mean = r.sum(1) / c
    dev = torch.where(valid, r - mean.unsqueeze(1), torch.zeros_like(r))
    if scale == "group":
        var = (dev * dev).sum(1) / (c - 1).clamp(min=1)
        std = torch.where(counts > 1, var.sqrt(), torch.zeros_like(var)).unsqueeze(1)
    elif scale == "batch":
        flat = rewards[valid]
        std = flat.std() if flat.numel() > 1 else flat.new_zeros(())
    else:
        return dev
    return torch.where(valid, dev / (std + eps), torch.zeros_like(dev))


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || pi_ref): ``exp(ref - logp) - (ref - logp) - 1`` (>= 0)."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


@dataclass(frozen=True)
class SurrogateStats:
    """Masked token fractions where the ratio was clipped (low: A<0, high: A>0) and mean KL."""

    clip_low: torch.Tensor
    clip_high: torch.Tensor
    kl: torch.Tensor | None

    @property
    def clip_region(self) -> torch.Tensor:
        return self.clip_low + self.clip_high


def clipped_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    epsilon_low: float = 0.2,
    epsilon_high: float | None = None,
    beta: float = 0.0,
    ref_logp: torch.Tensor | None = None,
) -> tuple[torch.Tensor, SurrogateStats]:
    """Per-token PPO clipped loss (to be minimised), with an optional KL penalty.

    ``ratio = exp(logp - old_logp)``; ``loss_t = -min(ratio * A, clip(ratio, 1-eps_low,
    1+eps_high) * A) + beta * KL_t`` with the k3 KL estimator. ``advantages`` is ``(B,)``
    (one per sequence) or ``(B, T)``. With ``old_logp = logp.detach()`` (one update per batch) the
    ratio is 1 and the gradient is the plain policy gradient ``-A * grad logp``.

    Returns:
        ``(per_token_loss (B, T), stats)``; stats are fractions over unmasked tokens.
    """
    if epsilon_low < 0 or (epsilon_high is not None and epsilon_high < 0):
        raise ConfigError(f"epsilon must be >= 0, got {epsilon_low}, {epsilon_high}")
    if logp.shape != old_logp.shape or logp.shape != mask.shape:
        raise DataError(
            f"shapes differ: logp {tuple(logp.shape)}, old {tuple(old_logp.shape)}, mask {tuple(mask.shape)}"
        )
    eps_high = epsilon_low if epsilon_high is None else epsilon_high
    adv = advantages.unsqueeze(1) if advantages.ndim == 1 else advantages
    ratio = torch.exp(logp - old_logp)
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + eps_high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    m = mask.to(logp.dtype)
    ntok = m.sum().clamp(min=1)
    kl_mean = None
    if beta != 0.0:
        if ref_logp is None:
            raise ConfigError(f"beta={beta} needs reference log-probs (ref_logp)")
        kl = kl_k3(logp, ref_logp)
        per_token = per_token + beta * kl
        kl_mean = (kl.detach() * m).sum() / ntok
    with torch.no_grad():
        low = ((ratio < 1 - epsilon_low) & (adv < 0)).to(m.dtype)
        high = ((ratio > 1 + eps_high) & (adv > 0)).to(m.dtype)
        stats = SurrogateStats(
            clip_low=(low * m).sum() / ntok, clip_high=(high * m).sum() / ntok, kl=kl_mean
        )
    return per_token, stats


def aggregate_loss(
    per_token_loss: torch.Tensor,
    mask: torch.Tensor,
    loss_type: str = "grpo",
    *,
    max_completion_length: int | None = None,
    num_sequences: int | None = None,
    num_tokens: int | float | None = None,
) -> torch.Tensor:
    """Reduce a per-token loss to a scalar.

    - ``grpo``: mean over each sequence's tokens, then sum over sequences / ``num_sequences``.
    - ``bnpo``: sum over all tokens / ``num_tokens``.
    - ``dr_grpo``: sum over all tokens / (``num_sequences * max_completion_length``).

    ``num_sequences`` and ``num_tokens`` default to this batch's; pass the totals of the whole
    optimizer step when the step is split into micro-batches (gradient accumulation), so the
    accumulated gradient equals the full-batch one.
    """
    m = mask.to(per_token_loss.dtype)
    if num_sequences is None:
        num_sequences = per_token_loss.shape[0]
    if loss_type == "grpo":
        per_seq = (per_token_loss * m).sum(1) / m.sum(1).clamp(min=1)
        return per_seq.sum() / num_sequences
    if loss_type == "bnpo":
        denom = m.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=m.dtype)
        return (per_token_loss * m).sum() / denom.clamp(min=1)
    if loss_type == "dr_grpo":
        if max_completion_length is None:
            raise ConfigError("loss_type='dr_grpo' needs max_completion_length")
        return (per_token_loss * m).sum() / (num_sequences * max_completion_length)
    raise ConfigError(f"unknown loss_type {loss_type!r}; choose one of {list(LOSS_TYPES)}")


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_type: str = "grpo",
    epsilon_low: float = 0.2,
    epsilon_high: float | None = None,
    beta: float = 0.0,
    ref_logp: torch.Tensor | None = None,
    max_completion_length: int | None = None,
) -> tuple[torch.Tensor, SurrogateStats]:
    """:func:`clipped_surrogate` followed by :func:`aggregate_loss` on one full batch."""
    per_token, stats = clipped_surrogate(
        logp,
        old_logp,
        advantages,
        mask,
        epsilon_low=epsilon_low,
        epsilon_high=epsilon_high,
        beta=beta,
        ref_logp=ref_logp,
    )
    loss = aggregate_loss(per_token, mask, loss_type, max_completion_length=max_completion_length)
    return loss, stats
