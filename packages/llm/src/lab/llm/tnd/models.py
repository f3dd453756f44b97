"""Teacher, student and masked teacher for TnD.

- :func:`log_spaced_steps`: the log-spaced checkpoint schedule (teacher checkpoints, word
  surprisal evaluations).
- :func:`encode_sequences`, :func:`clm_loss`: causal language modelling on packed sequences.
- :class:`TeacherConfig`, :func:`train_teacher`: a causal LM trained by ordinary language
  modelling, keeping its weights at log-spaced steps (:class:`Teacher`); checkpoints on disk and
  resume when a :class:`lab.core.RunDir` is given.
- :class:`StudentLM`: a causal LM from scratch plus a scalar value head on the last hidden
  state (TRL's ``AutoModelForCausalLMWithValueHead`` layout: dropout, then a linear layer).
- :func:`masked_teacher`: a copy of a teacher that can never generate a chosen word set.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from lab.core import (
    ConfigError,
    DataError,
    RunDir,
    get_device,
    load_checkpoint,
    progress,
    save_checkpoint,
)

from ..models import tiny_causal_lm
from ..policy_gradient import position_ids_from_mask
from .corpus import check_vocabulary

__all__ = [
    "StudentLM",
    "Teacher",
    "TeacherConfig",
    "clm_loss",
    "clm_loss_from_logits",
    "clm_token_count",
    "encode_sequences",
    "log_spaced_steps",
    "masked_teacher",
    "sample_batch",
    "train_teacher",
]


def log_spaced_steps(max_steps: int, num: int, *, start: int = 1) -> list[int]:
    """About ``num`` distinct integer steps from ``start`` to ``max_steps``, spaced evenly in log.

    Always contains ``start`` and ``max_steps``; duplicates after rounding are removed, so fewer
    than ``num`` steps come back when the range is short.
    """
    if max_steps < start or start < 1:
        raise ConfigError(f"need 1 <= start <= max_steps, got start={start}, max_steps={max_steps}")
    if num < 1:
        raise ConfigError(f"num must be >= 1, got {num}")
    if num == 1:
        return [max_steps]
    xs = np.geomspace(start, max_steps, num)
    return sorted({round(float(x)) for x in xs} | {start, max_steps})


def encode_sequences(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text (no special tokens added; ``<bos>`` in the text is kept)."""
    if not texts:
        raise DataError("no sequences to encode")
    out = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    for t, ids in zip(texts, out, strict=True):
        if len(ids) < 2:
            raise DataError(f"sequence {t!r} has fewer than 2 tokens: nothing to predict")
    return out


def sample_batch(
    seqs: Sequence[Sequence[int]],
    batch_size: int,
    *,
    seed: int,
    step: int,
    pad_id: int,
    stream: int = 0,
    device: torch.device | str | None = None,
    shard: int = 0,
    num_shards: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A right-padded batch drawn by a generator seeded with ``(seed, step, stream)``.

    The draw depends only on these numbers, so a resumed run and arms trained side by side see
    the same batches. With ``num_shards`` > 1 (data parallelism) ``batch_size * num_shards``
    rows are drawn and shard ``shard`` gets its slice of ``batch_size`` rows, so the union of
    the shards is the batch one process would draw with ``batch_size * num_shards``.
    """
    if not 0 <= shard < num_shards:
        raise ConfigError(f"shard must be in [0, {num_shards}), got {shard}")
    rng = np.random.default_rng([seed, step, stream])
    idx = rng.integers(len(seqs), size=batch_size * num_shards)[
        shard * batch_size : (shard + 1) * batch_size
    ]
    rows = [list(seqs[int(i)]) for i in idx]
    W = max(len(r) for r in rows)
    ids = torch.full((len(rows), W), pad_id, dtype=torch.long)
    att = torch.zeros_like(ids)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r)
        att[b, : len(r)] = 1
    dev = get_device(device)
    return ids.to(dev), att.to(dev)


def clm_loss(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the attended tokens (works with left or right padding)."""
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        use_cache=False,
    )
    return clm_loss_from_logits(out.logits, input_ids, attention_mask)


def clm_loss_from_logits(
    logits: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    reduction: str = "mean",
) -> torch.Tensor:
    """Next-token cross-entropy of ``logits`` ``(B, L, V)`` on the attended tokens.

    ``reduction`` is ``"mean"`` (over the predicted tokens) or ``"sum"`` (the data-parallel
    trainer divides the sum by the token count of all ranks).
    """
    lg = logits[:, :-1].float()
    target = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
    target = target.masked_fill(attention_mask[:, :-1] == 0, -100)
    return nn.functional.cross_entropy(
        lg.reshape(-1, lg.shape[-1]), target.reshape(-1), ignore_index=-100, reduction=reduction
    )


def clm_token_count(attention_mask: torch.Tensor) -> torch.Tensor:
    """Number of predicted tokens :func:`clm_loss_from_logits` averages over."""
    return ((attention_mask[:, 1:] != 0) & (attention_mask[:, :-1] != 0)).sum()


@dataclass(frozen=True)
class TeacherConfig:
    """Teacher LM trained by ordinary language modelling.

    Attributes:
        n_layer, n_embd, n_head: GPT-2 size (OURS: tiny by default for CPUs).
        steps: optimizer steps.
        batch_size: sequences per step.
        learning_rate: AdamW learning rate (OURS).
        num_checkpoints: log-spaced checkpoints kept (for the age predictor).
        seed: initialisation and batch order.
    """

    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    steps: int = 600
    batch_size: int = 16
    learning_rate: float = 3e-3
    num_checkpoints: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        for k in ("n_layer", "n_embd", "n_head", "steps", "batch_size", "num_checkpoints"):
            if getattr(self, k) < 1:
                raise ConfigError(f"TeacherConfig.{k} must be >= 1, got {getattr(self, k)}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")


@dataclass
class Teacher:
    """A trained teacher: the final model, its step, and its weights at log-spaced steps."""

    model: Any
    step: int
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)

    def model_at(self, step: int) -> Any:
        """A copy of the teacher with the weights it had at checkpoint ``step``."""
        if step not in self.checkpoints:
            raise DataError(
                f"no teacher checkpoint at step {step}; have {sorted(self.checkpoints)}"
            )
        m = copy.deepcopy(self.model)
        m.load_state_dict(self.checkpoints[step])
        return m.eval()


def train_teacher(
    sequences: Sequence[Sequence[int]],
    tokenizer: Any,
    config: TeacherConfig = TeacherConfig(),
    *,
    device: torch.device | str | None = None,
    run_dir: RunDir | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> Teacher:
    """Train a GPT-2 from scratch on ``sequences`` (token ids) by next-token prediction.

    The weights at ``log_spaced_steps(config.steps, config.num_checkpoints)`` are kept in
    memory (and written to ``run_dir/checkpoints/step_<N>.pt`` when a run folder is given, with
    the optimizer and RNG state); ``resume=True`` continues from the latest file there.
    """
    if not sequences:
        raise DataError("train_teacher got no sequences")
    dev = get_device(device)
    model = tiny_causal_lm(
        tokenizer,
        n_layer=config.n_layer,
        n_embd=config.n_embd,
        n_head=config.n_head,
        max_positions=max(64, max(len(s) for s in sequences) + 64),
        seed=config.seed,
        device=dev,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    schedule = set(log_spaced_steps(config.steps, config.num_checkpoints))
    ckpts: dict[int, dict[str, torch.Tensor]] = {}
    losses: list[float] = []
    step = 0
    if resume:
        if run_dir is None:
            raise ConfigError("resume=True needs a run_dir")
        latest = run_dir.latest_checkpoint()
        if latest is not None:
            st = load_checkpoint(latest, model=model, optimizer=opt, map_location=dev)
            step = st.step
            for p in sorted(run_dir.checkpoints.glob("step_*.pt")):
                s = int(p.stem.split("_")[1])
                if s <= step:
                    ckpts[s] = torch.load(p, map_location=dev, weights_only=True)["model"]
            losses = list(st.extra.get("losses", []))
    model.train()
    bar = progress(
        total=config.steps,
        initial=step,
        desc="teacher",
        disable=True if show_progress is False else None,
    )
    try:
        while step < config.steps:
            ids, att = sample_batch(
                sequences,
                config.batch_size,
                seed=config.seed,
                step=step,
                pad_id=tokenizer.pad_token_id,
                stream=7,
                device=dev,
            )
            loss = clm_loss(model, ids, att)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            losses.append(float(loss.detach()))
            bar.update(1)
            if step in schedule:
                ckpts[step] = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if run_dir is not None:
                    save_checkpoint(
                        run_dir.checkpoint_path(step),
                        model=model,
                        optimizer=opt,
                        step=step,
                        extra={"losses": losses},
                    )
    finally:
        bar.close()
    model.eval()
    return Teacher(model=model, step=step, checkpoints=ckpts, losses=losses)


class StudentLM(nn.Module):
    """A causal LM built from scratch plus a value head (``dropout -> Linear(hidden, 1)``).

    ``forward`` returns ``(logits, values)`` with ``values`` of shape ``(B, L)`` read off the
    last hidden state; :attr:`lm` is the plain Hugging Face model used for ``generate`` and
    surprisal. The value head follows TRL's ``ValueHead`` (dropout 0.1 there; 0 here by default,
    OURS, so values at rollout and update time agree).
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        n_layer: int = 2,
        n_embd: int = 64,
        n_head: int = 4,
        max_positions: int = 256,
        value_dropout: float = 0.0,
        seed: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ConfigError(f"n_embd={n_embd} must be divisible by n_head={n_head}")
        dev = get_device(device)
        self.lm = tiny_causal_lm(
            tokenizer,
            n_layer=n_layer,
            n_embd=n_embd,
            n_head=n_head,
            max_positions=max_positions,
            seed=seed,
            device=dev,
        )
        g = torch.Generator().manual_seed(seed + 1)
        self.value_dropout = nn.Dropout(value_dropout)
        self.value_head = nn.Linear(n_embd, 1)
        with torch.no_grad():
            self.value_head.weight.copy_(torch.randn(1, n_embd, generator=g) * 0.02)
            self.value_head.bias.zero_()
        self.value_head.to(dev)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if position_ids is None:
            position_ids = position_ids_from_mask(attention_mask)
        out = self.lm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            output_hidden_states=True,
            use_cache=False,
        )
        h = out.hidden_states[-1]
        values = self.value_head(self.value_dropout(h)).squeeze(-1).float()
        return out.logits, values

    def num_parameters(self) -> int:
        """Trainable parameters of the language model (the value head excluded)."""
        return sum(p.numel() for p in self.lm.parameters())


def masked_teacher(teacher_model: Any, tokenizer: Any, words: Iterable[str]) -> Any:
    """A copy of ``teacher_model`` that can never generate any of ``words``.

    The token ids go into ``generation_config.suppress_tokens``, so ``generate`` sets their
    logits to ``-inf`` before top-k/top-p sampling at every step.

    Raises:
        ConfigError: a word is not a single token of ``tokenizer`` (it could not be masked
            exactly), or no words were given.
    """
    words = list(words)
    if not words:
        raise ConfigError("masked_teacher needs at least one word to mask")
    chk = check_vocabulary(tokenizer, words)
    if chk.not_single_token:
        raise ConfigError(
            f"cannot mask words that are not single tokens: {list(chk.not_single_token)}"
        )
    m = copy.deepcopy(teacher_model)
    m.generation_config.suppress_tokens = sorted(set(chk.ids.values()))
    return m.eval()
