"""A transformers-free text classifier and a synthetic planted-keyword task (tests, benchmark).

:class:`TinyTextClassifier` takes ``input_ids`` and ``attention_mask`` like a Hugging Face
sequence classifier (so :class:`lab.explain.TokenMasker` drives both), embeds the tokens,
averages the embeddings of attended tokens (the attention mask may be float) and classifies
with a small MLP. :func:`planted_keyword_data` writes random filler tokens and plants one to three
keywords of the label's class, so the ground-truth evidence of every example is known.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.core import ConfigError

__all__ = ["TinyTextClassifier", "planted_keyword_data"]


class TinyTextClassifier(nn.Module):
    """Embedding, attention-masked mean pooling and an MLP: ``forward(input_ids, attention_mask)``."""

    def __init__(self, vocab_size: int, n_classes: int = 2, dim: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, n_classes))

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        emb = self.embed(input_ids)
        if attention_mask is None:
            attention_mask = torch.ones(input_ids.shape, device=input_ids.device)
        w = attention_mask.to(emb.dtype).unsqueeze(-1)
        pooled = (emb * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)
        return self.mlp(pooled)


def planted_keyword_data(
    n: int,
    *,
    length: int = 16,
    vocab_size: int = 64,
    n_classes: int = 2,
    keywords_per_class: int = 3,
    distractors: int = 0,
    seed: int = 0,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Synthetic sequences with planted class keywords.

    Token ids ``0 .. n_classes * keywords_per_class - 1`` are keywords (class ``c`` owns ids
    ``c * keywords_per_class ..``); the rest is filler. Each sequence holds ``length`` filler
    tokens with ``distractors + 1`` to ``distractors + 3`` of its class's keywords and
    ``distractors`` keywords of other classes at random positions, so the label's keywords
    always form the majority.

    Returns:
        ``({"input_ids": (n, L), "attention_mask": (n, L)}, labels (n,), keyword_positions (n, L))``
        where ``keyword_positions`` marks the label's planted keywords (the evidence).
    """
    n_kw = n_classes * keywords_per_class
    if vocab_size <= n_kw:
        raise ConfigError(f"vocab_size {vocab_size} must exceed the {n_kw} keyword ids")
    if distractors < 0 or (distractors and n_classes < 2):
        raise ConfigError(f"distractors must be >= 0 (and need two classes), got {distractors}")
    if length < 2 * distractors + 3:
        raise ConfigError(f"length {length} cannot hold {2 * distractors + 3} planted keywords")
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, n_classes, (n,), generator=gen)
    ids = torch.randint(n_kw, vocab_size, (n, length), generator=gen)
    planted = torch.zeros(n, length, dtype=torch.long)
    counts = torch.randint(1, 4, (n,), generator=gen) + distractors
    for i in range(n):
        pos = torch.randperm(length, generator=gen)[: int(counts[i]) + distractors]
        own, other = pos[: int(counts[i])], pos[int(counts[i]) :]
        ids[i, own] = labels[i] * keywords_per_class + torch.randint(
            0, keywords_per_class, (len(own),), generator=gen
        )
        if distractors:
            shift = torch.randint(1, n_classes, (len(other),), generator=gen)
            cls = (labels[i] + shift) % n_classes
            ids[i, other] = cls * keywords_per_class + torch.randint(
                0, keywords_per_class, (len(other),), generator=gen
            )
        planted[i, own] = 1
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, labels, planted
