"""Batched sampling of completions with Hugging Face ``generate``.

:func:`generate_completions` samples ``num_generations`` completions for every prompt and returns
a :class:`Rollouts` batch: left-padded prompt ids, right-padded completion ids cut after the first
EOS, the masks, and the decoded texts, prompt-major (rollouts of prompt ``i`` are rows
``i*n .. i*n+n-1``). :func:`encode_prompts` and :func:`render_prompt` handle plain-text and chat
(list of messages) prompts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lab.core import ConfigError, DataError, get_device

__all__ = ["Rollouts", "completion_mask", "encode_prompts", "generate_completions", "render_prompt"]

Prompt = str | Sequence[Mapping[str, str]]


def render_prompt(tokenizer: Any, prompt: Prompt) -> str:
    """A prompt as text: strings pass through; a list of chat messages goes through the chat template."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence) and all(isinstance(p, Mapping) for p in prompt):
        if not getattr(tokenizer, "chat_template", None):
            raise DataError(
                "a chat prompt (list of messages) needs a tokenizer with a chat_template"
            )
        text = tokenizer.apply_chat_template(
            list(prompt), tokenize=False, add_generation_prompt=True
        )
        return str(text)
    raise DataError(f"a prompt must be a string or a list of chat messages, got {prompt!r}")


def encode_prompts(
    tokenizer: Any,
    prompts: Sequence[Prompt],
    *,
    max_prompt_length: int | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ``(input_ids, attention_mask)``; too-long prompts keep their last tokens."""
    if len(prompts) == 0:
        raise DataError("no prompts to encode (empty prompt list)")
    texts = [render_prompt(tokenizer, p) for p in prompts]
    for t in texts:
        if not t:
            raise DataError("empty prompt string")
    pad = tokenizer.pad_token_id
    if pad is None:
        raise ConfigError("the tokenizer has no pad token; set tokenizer.pad_token first")
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    if max_prompt_length is not None:
        rows = [r[-max_prompt_length:] for r in rows]
    for t, r in zip(texts, rows, strict=False):
        if len(r) == 0:
            raise DataError(f"prompt {t!r} encodes to no tokens")
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r) :] = 1
    dev = get_device(device)
    return ids.to(dev), mask.to(dev)


def completion_mask(
    completion_ids: torch.Tensor, eos_token_id: int | Sequence[int]
) -> torch.Tensor:
    """1 on tokens up to and including the first EOS of each row (all tokens if there is none)."""
    eos_ids = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
    is_eos = torch.zeros_like(completion_ids, dtype=torch.bool)
    for e in eos_ids:
        is_eos |= completion_ids == e
    L = completion_ids.shape[1]
    first = torch.where(
        is_eos.any(1), is_eos.int().argmax(1), torch.full_like(is_eos[:, 0], L, dtype=torch.long)
    )
    return (torch.arange(L, device=completion_ids.device).unsqueeze(0) <= first.unsqueeze(1)).long()


@dataclass
class Rollouts:
    """A batch of sampled completions (prompt-major: ``num_prompts * num_generations`` rows)."""

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    completions: list[str]
    num_generations: int
    is_truncated: torch.Tensor

    @property
    def input_ids(self) -> torch.Tensor:
        return torch.cat([self.prompt_ids, self.completion_ids], dim=1)

    @property
    def attention_mask(self) -> torch.Tensor:
        return torch.cat([self.prompt_mask, self.completion_mask], dim=1)

    def select(self, idx: torch.Tensor | Sequence[int]) -> Rollouts:
        """The rows ``idx`` (completion columns trimmed to the longest kept completion)."""
        i = torch.as_tensor(idx, dtype=torch.long, device=self.prompt_ids.device)
        cm = self.completion_mask[i]
        width = max(int(cm.sum(1).max().item()) if len(i) else 1, 1)
        return Rollouts(
            self.prompt_ids[i],
            self.prompt_mask[i],
            self.completion_ids[i, :width],
            cm[:, :width],
            [self.completions[j] for j in i.tolist()],
            self.num_generations,
            self.is_truncated[i],
        )


@torch.no_grad()
def generate_completions(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    *,
    num_generations: int = 1,
    max_completion_length: int = 32,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    do_sample: bool = True,
    max_prompt_length: int | None = None,
    generation_batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> Rollouts:
    """Sample ``num_generations`` completions per prompt with ``model.generate``.

    Args:
        model: a HF causal LM (or PEFT model); not a DDP wrapper (pass ``ddp.module``).
        tokenizer: its tokenizer (needs pad and eos tokens).
        prompts: strings or chat message lists.
        num_generations: completions per prompt (``n``).
        max_completion_length: new tokens at most.
        temperature: sampling temperature.
        top_p: nucleus sampling threshold.
        top_k: top-k sampling (0 disables it).
        do_sample: False for greedy decoding.
        max_prompt_length: keep only the last tokens of longer prompts.
        generation_batch_size: rows per ``generate`` call (default: all at once).
        device: where the tensors live (default: the model's device).

    Returns:
        A :class:`Rollouts` batch; completions that hit ``max_completion_length`` without EOS
        are flagged in ``is_truncated``.
    """
    if num_generations < 1:
        raise ConfigError(f"num_generations must be >= 1, got {num_generations}")
    if max_completion_length < 1:
        raise ConfigError(f"max_completion_length must be >= 1, got {max_completion_length}")
    if do_sample and temperature <= 0:
        raise ConfigError(f"temperature must be > 0 when sampling, got {temperature}")
    dev = next(model.parameters()).device if device is None else get_device(device)
    ids, mask = encode_prompts(tokenizer, prompts, max_prompt_length=max_prompt_length, device=dev)
    ids = ids.repeat_interleave(num_generations, dim=0)
    mask = mask.repeat_interleave(num_generations, dim=0)
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ConfigError("the tokenizer has no eos token")
    bs = generation_batch_size or ids.shape[0]
    was_training = model.training
    model.eval()
    chunks = []
    try:
        for s in range(0, ids.shape[0], bs):
            kwargs: dict[str, Any] = {
                "max_new_tokens": max_completion_length,
                "do_sample": do_sample,
                "pad_token_id": tokenizer.pad_token_id,
                "eos_token_id": eos,
            }
            if do_sample:
                kwargs.update(temperature=temperature, top_p=top_p, top_k=top_k)
            out = model.generate(
                input_ids=ids[s : s + bs], attention_mask=mask[s : s + bs], **kwargs
            )
            chunks.append(out[:, ids.shape[1] :])
    finally:
        model.train(was_training)
    width = max(c.shape[1] for c in chunks)
    comp = torch.full((ids.shape[0], width), tokenizer.pad_token_id, dtype=torch.long, device=dev)
    row = 0
    for c in chunks:
        comp[row : row + c.shape[0], : c.shape[1]] = c
        row += c.shape[0]
    cmask = completion_mask(comp, eos)
    has_eos = ((comp == eos) & cmask.bool()).any(1)
    comp = torch.where(cmask.bool(), comp, torch.full_like(comp, tokenizer.pad_token_id))
    texts = tokenizer.batch_decode(comp, skip_special_tokens=True)
    return Rollouts(ids, mask, comp, cmask, list(texts), num_generations, ~has_eos)
