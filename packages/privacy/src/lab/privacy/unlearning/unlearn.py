"""Unlearning methods behind one interface: RFS, DP2U and the approximate baselines.

| method | what it does | starts from |
|---|---|---|
| ``rfs`` | fine-tune on the retain split (the gold standard) | the pretrained model |
| ``dp2u`` | fine-tune on the retain split (DP2Unlearning) | the DP base model |
| ``ga`` | gradient ascent on the forget NLL | the full model |
| ``gd`` | ascent on forget + descent on retain | the full model |
| ``kl`` | ascent on forget + KL(start model, model) on retain | the full model |
| ``npo`` | negative preference optimisation on forget (+ optional retain NLL: NPO+RT) | the full model |

RFS and DP2U are the same computation on different starting models: the method name records
which one was meant. GA/GD/KL/NPO run ``epochs`` passes over the forget split; their retain
terms draw one retain batch per forget batch (cycling), as in TOFU's code. NPO follows Zhang
et al. 2024: ``L = -(2/beta) * mean log sigmoid(-beta * log(pi_theta(y|x) / pi_ref(y|x)))``
with sequence log-probabilities; the KL term is the token-level KL divergence from the frozen
starting model to the current one over the retain tokens.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F

from lab.core import ConfigError, DataError, RunDir, get_device

from .data import TofuData
from .training import (
    Cost,
    QABatch,
    encode_qa,
    epoch_batches,
    example_losses,
    position_ids_for,
    run_steps,
    sequence_logprobs,
)

__all__ = ["METHODS", "UnlearnConfig", "UnlearnResult", "unlearn"]

METHODS = ("rfs", "dp2u", "ga", "gd", "kl", "npo")


@dataclass(frozen=True)
class UnlearnConfig:
    """One unlearning run.

    Attributes:
        method: one of ``rfs``, ``dp2u``, ``ga``, ``gd``, ``kl``, ``npo``.
        epochs: passes over the retain split (RFS, DP2U) or the forget split (the others).
        batch_size: examples per step (per split for two-split methods).
        lr: AdamW learning rate.
        npo_beta: NPO's beta (Zhang et al.: 0.1).
        retain_weight: weight of the retain term of GD and KL.
        npo_retain_weight: weight of NPO's retain NLL term (OURS default 0.0: plain NPO;
            1.0 gives NPO+RT).
        max_length: longest prompt + answer.
        checkpoint_every: checkpoint period in steps with a run dir (0: at the end only).
        seed: data order seed.
    """

    method: Literal["rfs", "dp2u", "ga", "gd", "kl", "npo"] = "dp2u"
    epochs: int = 5
    batch_size: int = 16
    lr: float = 1e-3
    npo_beta: float = 0.1
    retain_weight: float = 1.0
    npo_retain_weight: float = 0.0
    max_length: int = 64
    checkpoint_every: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if not self.npo_beta > 0:
            raise ConfigError(f"npo_beta must be positive, got {self.npo_beta}")
        if self.retain_weight < 0 or self.npo_retain_weight < 0:
            raise ConfigError("retain weights must be >= 0")


@dataclass(frozen=True)
class UnlearnResult:
    """The unlearned model and what unlearning cost."""

    model: Any
    cost: Cost
    method: str


def _kl_retain(model: Any, ref: Any, b: QABatch) -> torch.Tensor:
    kw = {
        "input_ids": b.input_ids,
        "attention_mask": b.attention_mask,
        "position_ids": position_ids_for(b.attention_mask),
    }
    with torch.no_grad():
        ref_logp = torch.log_softmax(ref(**kw).logits.float(), -1)
    cur_logp = torch.log_softmax(model(**kw).logits.float(), -1)
    # KL(ref || cur) per position, averaged over the real tokens
    kl = F.kl_div(cur_logp, ref_logp, log_target=True, reduction="none").sum(-1)
    mask = b.attention_mask.float()
    return (kl * mask).sum() / mask.sum()


def unlearn(
    model: Any,
    tokenizer: Any,
    data: TofuData,
    config: UnlearnConfig | None = None,
    *,
    reference: Any | None = None,
    device: torch.device | str | None = None,
    run_dir: RunDir | str | Path | None = None,
    resume: bool = False,
    on_epoch_end: Callable[[int, Any, Cost], None] | None = None,
) -> UnlearnResult:
    """Run one unlearning method.

    Args:
        model: the starting model (pretrained for ``rfs``, the DP base for ``dp2u``, the fully
            fine-tuned model for ``ga``/``gd``/``kl``/``npo``); trained in place.
        tokenizer: its tokenizer.
        data: the forget and retain splits.
        config: :class:`UnlearnConfig`.
        reference: the frozen reference of ``kl``/``npo`` (default: a copy of ``model`` taken
            before unlearning).
        device: where to run.
        run_dir: folder for checkpoints.
        resume: continue from the latest checkpoint in ``run_dir``.
        on_epoch_end: ``f(epoch, model, cost_so_far)`` after each epoch (evaluation time is
            not counted in the cost).

    Returns:
        :class:`UnlearnResult` (model, cost: optimizer steps, tokens processed, wall seconds).
    """
    cfg = config or UnlearnConfig()
    dev = get_device(device)
    model.to(dev)
    enc = lambda items: encode_qa(  # noqa: E731
        tokenizer, [q.question for q in items], [q.answer for q in items], max_length=cfg.max_length
    )
    retain = enc(data.retain)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    cb = None if on_epoch_end is None else (lambda e, c: on_epoch_end(e, model, c))

    if cfg.method in ("rfs", "dp2u"):
        per_epoch = [
            epoch_batches(len(retain), cfg.batch_size, cfg.seed, e) for e in range(cfg.epochs)
        ]
        schedule: list[Any] = [b for ep in per_epoch for b in ep]

        def retain_step(idx: Any) -> tuple[torch.Tensor, int]:
            b = retain.select(idx).to(dev)
            return example_losses(model, b).mean(), b.n_tokens

        spe = len(per_epoch[0])
        step: Callable[[Any], tuple[torch.Tensor, int]] = retain_step
    else:
        forget = enc(data.forget)
        ref = None
        if cfg.method in ("kl", "npo"):
            ref = reference if reference is not None else copy.deepcopy(model)
            ref.to(dev).eval()
            for p in ref.parameters():
                p.requires_grad_(False)
        schedule = []
        spe = 0
        for e in range(cfg.epochs):
            fb = epoch_batches(len(forget), cfg.batch_size, cfg.seed, e)
            rb = epoch_batches(len(retain), cfg.batch_size, cfg.seed + 7919, e)
            schedule += [(f, rb[i % len(rb)]) for i, f in enumerate(fb)]
            spe = len(fb)

        def pair_step(pair: Any) -> tuple[torch.Tensor, int]:
            f = forget.select(pair[0]).to(dev)
            r = retain.select(pair[1]).to(dev)
            tokens = f.n_tokens
            if cfg.method == "npo":
                logp, _ = sequence_logprobs(model, f)
                with torch.no_grad():
                    ref_logp, _ = sequence_logprobs(ref, f)
                tokens += f.n_tokens
                loss = (
                    -(2.0 / cfg.npo_beta) * F.logsigmoid(-cfg.npo_beta * (logp - ref_logp)).mean()
                )
                if cfg.npo_retain_weight > 0:
                    loss = loss + cfg.npo_retain_weight * example_losses(model, r).mean()
                    tokens += r.n_tokens
                return loss, tokens
            loss = -example_losses(model, f).mean()
            if cfg.method == "gd":
                loss = loss + cfg.retain_weight * example_losses(model, r).mean()
                tokens += r.n_tokens
            elif cfg.method == "kl":
                loss = loss + cfg.retain_weight * _kl_retain(model, ref, r)
                tokens += 2 * r.n_tokens
            return loss, tokens

        step = pair_step

    if not schedule:
        raise DataError("nothing to train on")
    cost = run_steps(
        model,
        opt,
        schedule,
        step,
        run_dir=run_dir,
        checkpoint_every=cfg.checkpoint_every,
        resume=resume,
        desc=f"unlearn-{cfg.method}",
        steps_per_epoch=spe,
        on_epoch_end=cb,
    )
    return UnlearnResult(model=model, cost=cost, method=cfg.method)
