"""Evaluation of a policy on a task: greedy accuracy and exact-answer probability."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from lab.core import DataError

from ..generation import encode_prompts, generate_completions
from ..policy_gradient import completion_logprobs

__all__ = ["answer_logprob", "evaluate"]


@torch.no_grad()
def answer_logprob(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    targets: Sequence[str],
    *,
    batch_size: int = 64,
) -> torch.Tensor:
    """``log p(target + EOS | prompt)`` for each pair (teacher forcing, temperature 1)."""
    if len(prompts) != len(targets) or not prompts:
        raise DataError(
            f"need equally many prompts and targets, got {len(prompts)} and {len(targets)}"
        )
    dev = next(model.parameters()).device
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    was_training = model.training
    model.eval()
    out = []
    try:
        for s in range(0, len(prompts), batch_size):
            p_ids, p_mask = encode_prompts(tokenizer, list(prompts[s : s + batch_size]), device=dev)
            rows = [
                tokenizer(t, add_special_tokens=False)["input_ids"] + [eos]
                for t in targets[s : s + batch_size]
            ]
            W = max(len(r) for r in rows)
            c_ids = torch.full((len(rows), W), pad, dtype=torch.long, device=dev)
            c_mask = torch.zeros_like(c_ids)
            for i, r in enumerate(rows):
                c_ids[i, : len(r)] = torch.tensor(r, device=dev)
                c_mask[i, : len(r)] = 1
            lp = completion_logprobs(
                model, torch.cat([p_ids, c_ids], 1), torch.cat([p_mask, c_mask], 1), W
            )
            out.append((lp * c_mask).sum(1))
    finally:
        model.train(was_training)
    return torch.cat(out).cpu()


def evaluate(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Mapping[str, Any]],
    correct: Callable[..., Sequence[float | None]],
    *,
    max_completion_length: int = 16,
    batch_size: int = 64,
    target_key: str | None = "completion",
) -> dict[str, float]:
    """Greedy accuracy and mean exact-answer probability of ``model`` on ``examples``.

    Args:
        model: the policy.
        tokenizer: its tokenizer.
        examples: task dicts (``prompt``, ``answer``, and ``target_key``).
        correct: a reward function returning 1.0 for a correct completion (e.g.
            :func:`lab.llm.arithmetic_reward`).
        max_completion_length: greedy decoding length.
        batch_size: prompts per forward pass.
        target_key: the field holding the reference completion whose probability is reported
            (None skips it).

    Returns:
        ``{"accuracy": ..., "answer_prob": ...}`` (``answer_prob`` = mean of ``p(target|prompt)``).
    """
    if not examples:
        raise DataError("evaluate got no examples")
    prompts = [e["prompt"] for e in examples]
    cols = {k: [e[k] for e in examples] for k in examples[0] if k != "prompt"}
    hits = 0.0
    for s in range(0, len(prompts), batch_size):
        ro = generate_completions(
            model,
            tokenizer,
            prompts[s : s + batch_size],
            num_generations=1,
            max_completion_length=max_completion_length,
            do_sample=False,
        )
        sub = {k: v[s : s + batch_size] for k, v in cols.items()}
        vals = correct(prompts=prompts[s : s + batch_size], completions=ro.completions, **sub)
        hits += sum(float(v or 0.0) for v in vals)
    res = {"accuracy": hits / len(prompts)}
    if target_key is not None:
        lp = answer_logprob(
            model, tokenizer, prompts, [str(e[target_key]) for e in examples], batch_size=batch_size
        )
        res["answer_prob"] = float(lp.exp().mean())
    return res
