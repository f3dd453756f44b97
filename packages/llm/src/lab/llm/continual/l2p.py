"""L2P: learning to prompt for continual learning (Wang et al., CVPR 2022).

A pool of ``pool_size`` prompts (each ``prompt_length`` embedding vectors) with one learned key
each. A frozen query encoder maps the input to a query ``q(x)``; the ``top_k`` keys most
cosine-similar to it select their prompts, which are prepended to the frozen backbone's token
embeddings. The classifier reads the mean of the backbone's outputs at the prompt positions.
Loss: ``CE - pull * sum_{selected} cos(q(x), k)`` averaged over the batch (the code's
``pull_constraint_coeff``; 0.1). Defaults follow the paper: pool 10, length 5, top-5.
``feature="tokens"`` (ours) pools the text positions with the backbone's rule instead of
the prompt positions, which helps backbones that were not pretrained.

The query encoder is either the backbone itself run without prompts (as in the paper, where
the pretrained ViT serves as both) or any other frozen :class:`Backbone`, e.g.
:func:`~lab.llm.continual.load_minilm`. Ours: prompts and keys start uniform in [-1, 1] (the
code's default) scaled by ``init_scale``; no prompt-frequency diversity penalty; the backbone's
position embeddings are added to the prompts too (a text backbone adds them to every input
embedding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

import torch
from torch import nn

from lab.core import ConfigError, seeded

from .backbone import Backbone
from .strategy import Batch, ContinualStrategy
from .stream import Task

__all__ = ["L2P", "L2PConfig"]


@dataclass(frozen=True)
class L2PConfig:
    """Prompt-pool settings (paper: pool 10, length 5, top 5, pull coefficient 0.1)."""

    pool_size: int = 10
    prompt_length: int = 5
    top_k: int = 5
    pull_coeff: float = 0.1
    init_scale: float = 1.0
    feature: Literal["prompt", "tokens"] = "prompt"

    def __post_init__(self) -> None:
        if self.pool_size < 1 or self.prompt_length < 1:
            raise ConfigError(
                f"pool_size and prompt_length must be >= 1, got {self.pool_size}, {self.prompt_length}"
            )
        if not 1 <= self.top_k <= self.pool_size:
            raise ConfigError(f"top_k must be in [1, pool_size={self.pool_size}], got {self.top_k}")
        if self.pull_coeff < 0 or self.init_scale <= 0:
            raise ConfigError("pull_coeff must be >= 0 and init_scale > 0")
        if self.feature not in ("prompt", "tokens"):
            raise ConfigError(f"feature must be 'prompt' or 'tokens', got {self.feature!r}")


class L2P(ContinualStrategy):
    """Prompt pool with learned keys and a frozen query encoder; the backbone stays frozen.

    Args:
        backbone: the frozen backbone the prompts are prepended to.
        query_encoder: a frozen :class:`Backbone` computing ``q(x)``; ``None`` uses the
            strategy's backbone without prompts.
        **kwargs: the other arguments of :class:`ContinualStrategy`.
    """

    name: ClassVar[str] = "l2p"
    config_class: ClassVar[type | None] = L2PConfig
    config: L2PConfig

    def __init__(
        self, backbone: Backbone, *, query_encoder: Backbone | None = None, **kwargs: Any
    ) -> None:
        self.query_encoder = query_encoder
        super().__init__(backbone, **kwargs)

    def _setup(self) -> None:
        cfg = self.config
        n_prefix = cfg.top_k * cfg.prompt_length
        limit = self.backbone.max_positions
        if limit is not None and self.backbone.max_length + n_prefix > limit:
            raise ConfigError(
                f"L2P prepends {n_prefix} prompt tokens but backbone {self.backbone.name!r} holds "
                f"{limit} positions and truncates texts at {self.backbone.max_length}"
            )
        if self.query_encoder is not None:
            self.query_encoder = self.query_encoder.to(self.device)
            for p in self.query_encoder.parameters():
                p.requires_grad_(False)
            self.query_encoder.eval()
            q_dim = self.query_encoder.hidden_size
        else:
            q_dim = self.backbone.hidden_size
        d = self.backbone.hidden_size
        with seeded(self._seed("prompts")):
            prompts = torch.empty(cfg.pool_size, cfg.prompt_length, d).uniform_(-1, 1)
            keys = torch.empty(cfg.pool_size, q_dim).uniform_(-1, 1)
        self.module["prompts"] = nn.ParameterDict(
            {
                "prompt_vectors": nn.Parameter(prompts.to(self.device) * cfg.init_scale),
                "key_vectors": nn.Parameter(keys.to(self.device) * cfg.init_scale),
            }
        )

    def _encode(self, texts: Sequence[str]) -> Batch:
        data = super()._encode(texts)
        if self.query_encoder is not None:
            data["query"] = self.query_encoder.encode(
                list(texts), batch_size=self.train_config.eval_batch_size, device=self.device
            )
        else:
            with torch.no_grad():
                feats = []
                bs = self.train_config.eval_batch_size
                for s in range(0, data["input_ids"].shape[0], bs):
                    b = self._to_device(data, slice(s, s + bs))
                    feats.append(self.backbone(b["input_ids"], b["attention_mask"]).float().cpu())
                data["query"] = torch.cat(feats)
        return data

    def _before_training(self, task: Task, data: Batch) -> None:
        self.module["prompts"].requires_grad_(True)
        self.module["head"].requires_grad_(True)

    def select(self, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k prompt indices ``(n, k)`` and their cosine similarities for queries ``(n, d_q)``."""
        keys = cast(nn.ParameterDict, self.module["prompts"])["key_vectors"]
        sim = nn.functional.normalize(query, dim=-1) @ nn.functional.normalize(keys, dim=-1).T
        top = sim.topk(self.config.top_k, dim=-1)
        return top.indices, top.values

    def _forward(
        self, batch: Batch, task_id: int | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        cfg = self.config
        query = batch["query"].to(self.device)
        idx, sims = self.select(query)
        pool = cast(nn.ParameterDict, self.module["prompts"])
        prompts = pool["prompt_vectors"][idx]  # (n, k, L, d)
        prefix = prompts.reshape(prompts.shape[0], cfg.top_k * cfg.prompt_length, -1)
        hidden, mask = self.backbone.hidden_states(
            batch["input_ids"], batch["attention_mask"], prefix
        )
        if cfg.feature == "prompt":
            feats = hidden[:, : prefix.shape[1]].mean(1)
        else:
            feats = self.backbone.pool(hidden[:, prefix.shape[1] :], mask[:, prefix.shape[1] :])
        logits = self.module["head"](feats)
        aux = -cfg.pull_coeff * sims.sum(-1).mean() if cfg.pull_coeff else None
        return logits, aux
