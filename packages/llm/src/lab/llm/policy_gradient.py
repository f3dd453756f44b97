"""Policy-gradient pieces shared by the GRPO trainer (and reusable by other RL trainers).

- :func:`token_logprobs` / :func:`completion_logprobs`: per-token log-probabilities of a
  completion under a causal LM (left-padded prompts, explicit position ids).
- :func:`group_advantages`: GRPO advantages ``(r - mean_group) / (std + eps)``.
- :func:`clipped_surrogate`: the PPO clipped per-token objective with an optional k3 KL term.
- :func:`aggregate_loss`: the loss types ``grpo``, ``bnpo`` and ``dr_grpo`` (as TRL documents them).
- :func:`grpo_loss`: the three composed on one batch.
- PPO with a value head (used by :mod:`lab.llm.tnd`): :func:`masked_mean`, :func:`masked_whiten`,
  :func:`kl_penalty_rewards` (per-token rewards: score on the last token minus a KL penalty),
  :func:`gae_advantages` (generalised advantage estimation and returns),
  :func:`clipped_value_loss` and :func:`ppo_loss` (clipped policy + value loss, TRL 0.7 style).
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
    "clipped_value_loss",
    "completion_logprobs",
    "gae_advantages",
    "group_advantages",
    "grpo_loss",
    "kl_k3",
    "kl_penalty_rewards",
    "masked_mean",
    "masked_whiten",
    "position_ids_from_mask",
    "ppo_loss",
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


# ---------------------------------------------------------------------------------------------
# PPO with a value head (per-token rewards, GAE, clipped value loss), as in TRL 0.7's PPOTrainer


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the positions where ``mask`` is 1 (0 when the mask is empty)."""
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum().clamp(min=1)


def masked_whiten(
    values: torch.Tensor, mask: torch.Tensor, *, shift_mean: bool = True, eps: float = 1e-8
) -> torch.Tensor:
    """``(x - mean) / sqrt(var + eps)`` over the masked positions (TRL's ``masked_whiten``).

    The variance is the unbiased masked variance (as TRL computes it); with ``shift_mean=False``
    the mean is added back after scaling. Positions outside the mask are returned unchanged
    scaled the same way (callers multiply by the mask).
    """
    m = mask.to(values.dtype)
    n = m.sum()
    if n < 2:
        raise DataError(f"masked_whiten needs at least 2 unmasked values, got {int(n)}")
    mean = (values * m).sum() / n
    var = (((values - mean) ** 2) * m).sum() / (n - 1)
    out = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out


def kl_penalty_rewards(
    scores: torch.Tensor,
    mask: torch.Tensor,
    *,
    logp: torch.Tensor | None = None,
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = 0.0,
) -> torch.Tensor:
    """Per-token rewards of PPO for language models.

    ``r_t = -kl_coef * (logp_t - ref_logp_t)`` on every completion token, plus the sequence
    ``score`` on its last unmasked token (TRL's ``compute_rewards``).

    Args:
        scores: ``(B,)`` one score per sequence.
        mask: ``(B, T)`` completion mask (1 on real tokens, right padding).
        logp, ref_logp: ``(B, T)`` log-probs under the policy and the reference (only when
            ``kl_coef != 0``).
        kl_coef: KL penalty coefficient.

    Returns:
        ``(B, T)`` rewards, 0 on padding.
    """
    if scores.ndim != 1 or scores.shape[0] != mask.shape[0]:
        raise DataError(
            f"scores must be (B,) with B={mask.shape[0]}, got shape {tuple(scores.shape)}"
        )
    lengths = mask.long().sum(1)
    if bool((lengths == 0).any()):
        bad = torch.nonzero(lengths == 0).flatten().tolist()
        raise DataError(f"sequences {bad} have an empty completion mask: no token to score")
    m = mask.to(torch.float32)
    rewards = torch.zeros_like(m)
    if kl_coef != 0.0:
        if logp is None or ref_logp is None:
            raise ConfigError(f"kl_coef={kl_coef} needs logp and ref_logp")
        rewards = -kl_coef * (logp.float() - ref_logp.float()) * m
    last = lengths - 1
    rows = torch.arange(mask.shape[0], device=mask.device)
    rewards[rows, last] = rewards[rows, last] + scores.to(rewards.dtype)
    return rewards


def gae_advantages(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    *,
    gamma: float = 1.0,
    lam: float = 0.95,
    whiten: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over right-padded completions.

    ``delta_t = r_t + gamma * V_{t+1} - V_t`` (``V`` is 0 past the last real token),
    ``A_t = delta_t + gamma * lam * A_{t+1}``; returns ``R_t = A_t + V_t``. With ``whiten``
    the advantages (not the returns) are whitened over the masked tokens, as TRL does.

    Returns:
        ``(advantages, returns)``, both ``(B, T)`` and detached; 0 on padding.
    """
    if rewards.shape != values.shape or rewards.shape != mask.shape:
        raise DataError(
            f"shapes differ: rewards {tuple(rewards.shape)}, values {tuple(values.shape)}, "
            f"mask {tuple(mask.shape)}"
        )
    if not (0.0 <= gamma <= 1.0 and 0.0 <= lam <= 1.0):
        raise ConfigError(f"gamma and lam must be in [0, 1], got gamma={gamma}, lam={lam}")
    m = mask.to(torch.float32)
    r = rewards.detach().float() * m
    v = values.detach().float() * m
    T = r.shape[1]
    adv = torch.zeros_like(r)
    last = torch.zeros_like(r[:, 0])
    for t in reversed(range(T)):
        nxt = v[:, t + 1] if t + 1 < T else torch.zeros_like(last)
        delta = r[:, t] + gamma * nxt - v[:, t]
        last = (delta + gamma * lam * last) * m[:, t]
        adv[:, t] = last
    returns = (adv + v) * m
    if whiten:
        adv = masked_whiten(adv, m) * m
    return adv, returns


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_range: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped value loss ``0.5 * mean_t max((V - R)^2, (clip(V, V_old +- c) - R)^2)``.

    Returns:
        ``(loss, clip_fraction)``: the masked-mean loss and the fraction of tokens where the
        clipped term was the larger one.
    """
    if clip_range < 0:
        raise ConfigError(f"value clip range must be >= 0, got {clip_range}")
    if values.shape != old_values.shape or values.shape != returns.shape:
        raise DataError(
            f"shapes differ: values {tuple(values.shape)}, old {tuple(old_values.shape)}, "
            f"returns {tuple(returns.shape)}"
        )
    clipped = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    l1 = (values - returns) ** 2
    l2 = (clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(l1, l2), mask)
    with torch.no_grad():
        frac = masked_mean((l2 > l1).to(values.dtype), mask)
    return loss, frac


def ppo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    values: torch.Tensor,
    old_values: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    *,
    cliprange: float = 0.2,
    cliprange_value: float = 0.2,
    vf_coef: float = 0.1,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO loss for a policy with a value head: token-mean clipped surrogate + ``vf_coef`` * value loss.

    The policy part is :func:`clipped_surrogate` (the same per-token objective GRPO uses) averaged
    over all unmasked tokens (TRL's ``masked_mean``); the value part is
    :func:`clipped_value_loss`.

    Returns:
        ``(loss, stats)`` with ``policy_loss``, ``value_loss``, ``clipfrac`` (policy) and
        ``vf_clipfrac``.
    """
    per_tok, st = clipped_surrogate(
        logp, old_logp, advantages, mask, epsilon_low=cliprange, epsilon_high=cliprange
    )
    pg = masked_mean(per_tok, mask)
    vf, vf_clip = clipped_value_loss(values, old_values, returns, mask, clip_range=cliprange_value)
    loss = pg + vf_coef * vf
    stats = {
        "policy_loss": pg.detach(),
        "value_loss": vf.detach(),
        "clipfrac": st.clip_region.detach(),
        "vf_clipfrac": vf_clip,
    }
    return loss, stats
