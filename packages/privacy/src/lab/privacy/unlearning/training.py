"""Question/answer batches, per-example losses, and (non-private) fine-tuning with resume.

The loss on a QA pair is TOFU's: the mean negative log-likelihood of the answer tokens (and
the end-of-sequence token) given the prompt ``"Question: {q} Answer:"``; the prompt is not
trained on. A batch loss is the mean over examples of these per-example means, so that each
example contributes one term (what per-sample clipping in DP-SGD needs).

Every forward pass passes explicit ``position_ids`` of shape ``[batch, time]``: GPT-2's
position embedding otherwise receives ``[1, time]`` ids, which breaks Opacus' per-sample
gradients (opacus issue #841). Sequences are right-padded for training and scoring.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lab.core import (
    ConfigError,
    DataError,
    RunDir,
    get_device,
    load_checkpoint,
    progress,
    save_checkpoint,
)

from .data import QAItem, format_prompt
from .models import unwrap_model

__all__ = [
    "Cost",
    "QABatch",
    "TrainConfig",
    "answer_nll",
    "encode_qa",
    "finetune",
    "format_prompt",
    "position_ids_for",
    "sequence_logprobs",
]


@dataclass(frozen=True)
class QABatch:
    """Right-padded token ids, attention mask and labels (-100 outside the answer)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device) -> QABatch:
        return QABatch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.labels)))

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def select(self, idx: torch.Tensor | Sequence[int]) -> QABatch:
        idx = torch.as_tensor(idx, dtype=torch.long)
        return QABatch(self.input_ids[idx], self.attention_mask[idx], self.labels[idx])

    @property
    def n_tokens(self) -> int:
        return int(self.attention_mask.sum())


def encode_qa(
    tokenizer: Any,
    questions: Sequence[str],
    answers: Sequence[str],
    *,
    max_length: int = 64,
    pad_to: int | None = None,
) -> QABatch:
    """Tokenise QA pairs into a right-padded :class:`QABatch`.

    Args:
        tokenizer: a Hugging Face tokenizer with ``eos_token_id`` and ``pad_token_id``.
        questions: the questions.
        answers: the answers (parallel to ``questions``).
        max_length: the longest allowed prompt + answer + eos; a longer pair is an error
            (nothing is truncated silently).
        pad_to: pad to this width instead of the longest row (fixed shapes for Opacus).

    Raises:
        DataError: mismatched lengths, an empty answer, or a pair longer than ``max_length``.
    """
    if len(questions) != len(answers):
        raise DataError(f"{len(questions)} questions but {len(answers)} answers")
    if len(questions) == 0:
        raise DataError("cannot encode an empty list of QA pairs")
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    if eos is None or pad is None:
        raise ConfigError("the tokenizer needs an eos and a pad token")
    rows, labs = [], []
    for q, a in zip(questions, answers, strict=True):
        p = tokenizer(format_prompt(q), add_special_tokens=False)["input_ids"]
        t = tokenizer(" " + a, add_special_tokens=False)["input_ids"] + [eos]
        if len(t) <= 1:
            raise DataError(f"answer {a!r} to question {q!r} is empty after tokenisation")
        if len(p) + len(t) > max_length:
            raise DataError(
                f"QA pair {q!r} -> {a!r} has {len(p) + len(t)} tokens, more than "
                f"max_length={max_length}"
            )
        rows.append(p + t)
        labs.append([-100] * len(p) + t)
    width = max(len(r) for r in rows) if pad_to is None else pad_to
    if width < max(len(r) for r in rows):
        raise DataError(f"pad_to={pad_to} is shorter than the longest pair")
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (r, lab) in enumerate(zip(rows, labs, strict=True)):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
        labels[i, : len(r)] = torch.tensor(lab)
    return QABatch(ids, mask, labels)


def position_ids_for(attention_mask: torch.Tensor) -> torch.Tensor:
    """Explicit ``[batch, time]`` position ids (0, 1, ... over the real tokens)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_min(0)


def sequence_logprobs(model: Any, batch: QABatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example sum of answer-token log-probs and the number of answer tokens.

    Returns:
        ``(logp_sum [B], n_tokens [B])``; gradients flow through ``logp_sum``.
    """
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=position_ids_for(batch.attention_mask),
    )
    logits = out.logits[:, :-1].float()
    target = batch.labels[:, 1:]
    valid = target != -100
    logp = torch.log_softmax(logits, dim=-1)
    tok = logp.gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    tok = torch.where(valid, tok, torch.zeros_like(tok))
    return tok.sum(-1), valid.sum(-1)


def example_losses(model: Any, batch: QABatch) -> torch.Tensor:
    """Per-example mean answer NLL ``[B]`` (differentiable)."""
    s, n = sequence_logprobs(model, batch)
    return -s / n.clamp_min(1)


@torch.no_grad()
def answer_nll(
    model: Any,
    tokenizer: Any,
    questions: Sequence[str],
    answers: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Per-token answer NLL of each QA pair (TOFU's "avg loss"), shape ``[N]``, on CPU."""
    dev = get_device(device)

    m = unwrap_model(model)
    was_training = m.training
    m.eval()
    out = []
    for s in range(0, len(questions), batch_size):
        b = encode_qa(
            tokenizer,
            questions[s : s + batch_size],
            answers[s : s + batch_size],
            max_length=max_length,
        ).to(dev)
        out.append(example_losses(m, b).cpu())
    m.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


@dataclass(frozen=True)
class Cost:
    """What a training or unlearning run cost.

    Attributes:
        steps: optimizer steps.
        tokens: tokens processed in forward passes (padding excluded; reference-model passes
            of KL/NPO included).
        seconds: wall-clock seconds.
    """

    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.steps + other.steps, self.tokens + other.tokens, self.seconds + other.seconds
        )

    def ratio(self, other: Cost) -> dict[str, float]:
        """This cost divided by ``other`` (steps, tokens, seconds)."""

        def div(a: float, b: float) -> float:
            return a / b if b else math.inf

        return {
            "steps": div(self.steps, other.steps),
            "tokens": div(self.tokens, other.tokens),
            "seconds": div(self.seconds, other.seconds),
        }

    def as_dict(self) -> dict[str, float]:
        return {"steps": self.steps, "tokens": self.tokens, "seconds": self.seconds}


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning with AdamW on QA pairs.

    Attributes:
        epochs: passes over the data.
        batch_size: examples per optimizer step.
        lr: AdamW learning rate (constant; OURS: TOFU uses warm-up then linear decay).
        weight_decay: AdamW weight decay.
        max_length: longest prompt + answer allowed (longer is an error).
        checkpoint_every: save a checkpoint every this many steps when a run dir is given
            (0: only at the end).
        seed: data order seed.
    """

    epochs: int = 5
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_length: int = 64
    checkpoint_every: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ConfigError(f"epochs must be >= 0, got {self.epochs}")
        if self.batch_size <= 0:
            raise ConfigError(f"batch_size must be positive, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.max_length <= 1:
            raise ConfigError(f"max_length must be > 1, got {self.max_length}")
        if self.checkpoint_every < 0:
            raise ConfigError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """The index batches of one epoch (a seeded permutation, last batch may be short)."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=g)
    return list(perm.split(batch_size))


def run_steps(
    model: Any,
    optimizer: torch.optim.Optimizer,
    schedule: Sequence[Any],
    step_fn: Callable[[Any], tuple[torch.Tensor, int]],
    *,
    run_dir: RunDir | str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    desc: str = "train",
    extra: dict[str, Any] | None = None,
    steps_per_epoch: int = 0,
    on_epoch_end: Callable[[int, Cost], None] | None = None,
) -> Cost:
    """Run ``step_fn`` on each element of ``schedule`` (one optimizer step each).

    ``step_fn(item)`` returns ``(loss, tokens)``. With a ``run_dir`` a checkpoint is written
    every ``checkpoint_every`` steps and at the end; ``resume=True`` restores the latest one
    (model, optimizer, RNG, step, cost so far) and continues from the next step, giving the
    same final weights as an uninterrupted run. With ``steps_per_epoch`` and
    ``on_epoch_end``, ``on_epoch_end(epoch, cost_so_far)`` is called after each epoch (1-based;
    the model is in eval mode during the call).
    """
    rd = None if run_dir is None else (run_dir if isinstance(run_dir, RunDir) else _open(run_dir))
    start, done = 0, Cost()
    if resume and rd is not None and (latest := rd.latest_checkpoint()) is not None:
        st = load_checkpoint(latest, model=model, optimizer=optimizer)
        start = st.step
        c = st.extra.get("cost", {})
        done = Cost(int(c.get("steps", 0)), int(c.get("tokens", 0)), float(c.get("seconds", 0)))
    model.train()
    t0 = time.perf_counter()
    tokens, steps = 0, 0
    paused = [0.0]  # seconds spent in callbacks, not part of the cost

    def cost_now() -> Cost:
        return done + Cost(steps, tokens, time.perf_counter() - t0 - paused[0])

    for step in progress(range(start, len(schedule)), desc=desc, total=len(schedule) - start):
        optimizer.zero_grad(set_to_none=True)
        loss, ntok = step_fn(schedule[step])
        if not torch.isfinite(loss):
            raise DataError(f"{desc}: loss became {loss.item()} at step {step}")
        loss.backward()
        optimizer.step()
        tokens += ntok
        steps += 1
        if rd is not None and checkpoint_every and (step + 1) % checkpoint_every == 0:
            save_checkpoint(
                rd.checkpoint_path(step + 1),
                model=model,
                optimizer=optimizer,
                step=step + 1,
                extra={"cost": cost_now().as_dict(), **(extra or {})},
            )
        if on_epoch_end is not None and steps_per_epoch and (step + 1) % steps_per_epoch == 0:
            t_cb = time.perf_counter()
            model.eval()
            on_epoch_end((step + 1) // steps_per_epoch, cost_now())
            model.train()
            paused[0] += time.perf_counter() - t_cb
    if rd is not None and len(schedule) > start:
        save_checkpoint(
            rd.checkpoint_path(len(schedule)),
            model=model,
            optimizer=optimizer,
            step=len(schedule),
            extra={"cost": cost_now().as_dict(), **(extra or {})},
        )
    model.eval()
    return cost_now()


def _open(path: str | Path) -> RunDir:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return RunDir.open(p)


def finetune(
    model: Any,
    tokenizer: Any,
    items: Sequence[QAItem],
    config: TrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    run_dir: RunDir | str | Path | None = None,
    resume: bool = False,
) -> tuple[Any, Cost]:
    """Non-private fine-tuning on QA pairs (pretraining, full fine-tuning, RFS, DP2U's step).

    Args:
        model: a Hugging Face causal LM (trained in place and returned).
        tokenizer: its tokenizer.
        items: the training QA pairs.
        config: :class:`TrainConfig`.
        device: where to train.
        run_dir: folder for checkpoints (a :class:`~lab.core.RunDir` or a path).
        resume: continue from the latest checkpoint in ``run_dir``.

    Returns:
        ``(model, cost)``.
    """
    cfg = config or TrainConfig()
    if len(items) == 0:
        raise DataError("cannot fine-tune on an empty set of QA pairs")
    dev = get_device(device)
    model.to(dev)
    data = encode_qa(
        tokenizer,
        [q.question for q in items],
        [q.answer for q in items],
        max_length=cfg.max_length,
    )
    schedule = [
        b for e in range(cfg.epochs) for b in epoch_batches(len(data), cfg.batch_size, cfg.seed, e)
    ]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def step(idx: torch.Tensor) -> tuple[torch.Tensor, int]:
        b = data.select(idx).to(dev)
        return example_losses(model, b).mean(), b.n_tokens

    cost = run_steps(
        model,
        opt,
        schedule,
        step,
        run_dir=run_dir,
        checkpoint_every=cfg.checkpoint_every,
        resume=resume,
        desc="finetune",
    )
    return model, cost
