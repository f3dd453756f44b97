"""GRPO with PODS rollout down-sampling, on Hugging Face ``transformers`` models.

One training step (per process):

1. draw ``prompts_per_step`` prompts (a generator seeded by ``(seed, step, rank)``, so a resumed
   run draws the same prompts);
2. sample ``num_generations`` (= n) completions per prompt with ``generate``;
3. score them with the reward functions (TRL signature; weighted sum; ``None`` excludes);
4. keep ``num_train_generations`` (= m) per prompt with the ``downsample`` rule (PODS);
5. advantages over the kept rollouts of each prompt: ``(r - mean) / (std + 1e-4)``;
6. ``num_iterations`` optimizer steps on the clipped surrogate (+ ``beta`` * KL to the reference
   model), split into micro-batches of ``per_device_train_batch_size`` completions.

Under ``torchrun`` every rank runs the same loop on its own prompts; the model is wrapped in
DistributedDataParallel, so gradients are averaged and the ranks stay identical.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
import time
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from lab.core import (
    ConfigError,
    DataError,
    RunDir,
    all_reduce_mean,
    get_device,
    init_distributed,
    is_main,
    load_checkpoint,
    progress,
    rank,
    save_checkpoint,
    wrap_ddp,
)

from ..generation import Rollouts, generate_completions
from ..policy_gradient import (
    aggregate_loss,
    clipped_surrogate,
    completion_logprobs,
    group_advantages,
)
from .downsample import downsample
from .rewards import RewardFunction, compute_rewards, reward_name

__all__ = ["GRPOConfig", "GRPOTrainer", "truncate_metrics"]

log = logging.getLogger(__name__)


def _literal_fields(cls: type) -> dict[str, tuple[Any, ...]]:
    """``{field: allowed values}`` for the ``Literal[...]`` fields of a dataclass."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: typing.get_args(hints[f.name])
        for f in dataclasses.fields(cls)
        if typing.get_origin(hints[f.name]) is Literal
    }


@dataclass(frozen=True)
class GRPOConfig:
    """Configuration of :class:`GRPOTrainer` (field names follow TRL's ``GRPOConfig`` where TRL has one).

    Attributes:
        max_steps: training steps (one generation + ``num_iterations`` updates each).
        prompts_per_step: prompts per step per process (OURS: TRL derives it from batch sizes).
        num_generations: ``n``, rollouts sampled per prompt.
        num_train_generations: ``m``, rollouts kept per prompt for the update (PODS); None = n.
        downsample: ``max_variance`` (PODS), ``max_reward`` or ``random``; unused when m = n.
        learning_rate, adam_beta1, adam_beta2, weight_decay, max_grad_norm: AdamW and clipping.
        lr_scheduler_type: ``constant`` or ``linear`` (decay to 0 at ``max_steps``), after
            ``warmup_steps`` linear warm-up steps.
        beta: KL coefficient (0 = no reference model, the paper's setting).
        epsilon, epsilon_high: clipping range ``[1-epsilon, 1+epsilon_high]`` (None: symmetric).
        loss_type: ``grpo`` (sequence mean, then batch mean), ``bnpo`` (token mean),
            ``dr_grpo`` (token sum / (sequences * max_completion_length)).
        scale_rewards: ``group`` (divide by the group's std), ``batch`` or ``none``.
        advantage_epsilon: added to the std (1e-4, as in the paper's code).
        temperature, top_p, top_k: sampling (``top_k=0`` off). Log-probs use the same temperature.
        max_prompt_length: keep the last tokens of longer prompts (None = all).
        max_completion_length: new tokens at most.
        mask_truncated_completions: exclude completions without EOS from the loss.
        num_iterations: optimizer steps per generated batch (mu); > 1 uses the clipped ratio.
        per_device_train_batch_size: completions per forward/backward micro-batch.
        generation_batch_size: rows per ``generate`` call (None = all).
        reward_weights: one weight per reward function (None = all 1).
        use_peft, lora_r, lora_alpha, lora_dropout, lora_target_modules: LoRA via PEFT
            (target modules None = PEFT's default for the architecture).
        gradient_checkpointing: recompute activations in the backward pass (less memory, more
            time), as TRL's field of the same name; TRL defaults it to True, we to False.
        save_steps: checkpoint every this many steps (0 = only at the end).
        logging_steps: log metrics every this many steps.
        seed: prompt order, random down-sampling.
    """

    max_steps: int = 100
    prompts_per_step: int = 4
    num_generations: int = 8
    num_train_generations: int | None = None
    downsample: Literal["max_variance", "max_reward", "random"] = "max_variance"
    learning_rate: float = 1e-5
    adam_beta1: float = 0.9
    adam_beta2: float = 0.99
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    lr_scheduler_type: Literal["constant", "linear"] = "constant"
    warmup_steps: int = 0
    beta: float = 0.0
    epsilon: float = 0.2
    epsilon_high: float | None = None
    loss_type: Literal["grpo", "bnpo", "dr_grpo"] = "grpo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    advantage_epsilon: float = 1e-4
    temperature: float = 0.9
    top_p: float = 1.0
    top_k: int = 0
    max_prompt_length: int | None = None
    max_completion_length: int = 32
    mask_truncated_completions: bool = False
    num_iterations: int = 1
    per_device_train_batch_size: int = 64
    generation_batch_size: int | None = None
    reward_weights: tuple[float, ...] | None = None
    use_peft: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: tuple[str, ...] | None = None
    gradient_checkpointing: bool = False
    save_steps: int = 0
    logging_steps: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        for k, allowed in _literal_fields(type(self)).items():
            v = getattr(self, k)
            if v not in allowed:
                raise ConfigError(f"{k}={v!r} is not one of {', '.join(repr(c) for c in allowed)}")
        pos = {
            "max_steps": self.max_steps,
            "prompts_per_step": self.prompts_per_step,
            "num_generations": self.num_generations,
            "max_completion_length": self.max_completion_length,
            "num_iterations": self.num_iterations,
            "per_device_train_batch_size": self.per_device_train_batch_size,
            "lora_r": self.lora_r,
            "logging_steps": self.logging_steps,
        }
        for k, v in pos.items():
            if v < 1:
                raise ConfigError(f"{k} must be >= 1, got {v}")
        m = self.num_train_generations
        if m is not None and not 1 <= m <= self.num_generations:
            raise ConfigError(
                f"num_train_generations (m={m}) must be between 1 and num_generations (n={self.num_generations})"
            )
        if self.num_generations < 2 and self.scale_rewards != "none":
            raise ConfigError(
                f"num_generations must be >= 2 for group advantages, got {self.num_generations}"
            )
        for k in ("learning_rate", "temperature", "epsilon"):
            v = getattr(self, k)
            if not (v > 0 and math.isfinite(v)) and not (k == "epsilon" and v == 0):
                raise ConfigError(f"{k} must be a positive finite number, got {v}")
        if self.beta < 0:
            raise ConfigError(f"beta must be >= 0, got {self.beta}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.save_steps < 0 or self.warmup_steps < 0:
            raise ConfigError("save_steps and warmup_steps must be >= 0")

    @property
    def m(self) -> int:
        """Rollouts kept per prompt."""
        return (
            self.num_generations
            if self.num_train_generations is None
            else self.num_train_generations
        )


class GRPOTrainer:
    """GRPO / PODS trainer for a Hugging Face causal LM.

    Args:
        model: a ``*ForCausalLM`` (wrapped with LoRA when ``args.use_peft``).
        reward_funcs: a reward function or a list of them, ``f(prompts, completions, **columns)``.
        args: a :class:`GRPOConfig`.
        train_dataset: a sequence of dicts with ``prompt`` plus any columns the rewards need.
        processing_class: the tokenizer (pad and eos tokens required).
        ref_model: reference model for the KL term (default: the initial policy; with LoRA, the
            policy with adapters disabled). Only used when ``beta > 0``.
        device: where to train (default: CUDA when present; ``cuda:LOCAL_RANK`` under torchrun).
        run_dir: a :class:`lab.core.RunDir` for metrics and checkpoints (None: nothing written).

    Example:
        >>> trainer = GRPOTrainer(model, arithmetic_reward, args=GRPOConfig(num_generations=16,
        ...     num_train_generations=4), train_dataset=arithmetic_task(200), processing_class=tok)
        >>> history = trainer.train()
    """

    def __init__(
        self,
        model: Any,
        reward_funcs: RewardFunction | Sequence[RewardFunction],
        *,
        args: GRPOConfig | None = None,
        train_dataset: Sequence[Mapping[str, Any]],
        processing_class: Any,
        ref_model: Any | None = None,
        device: torch.device | str | None = None,
        run_dir: RunDir | None = None,
        callbacks: Sequence[Callable[[dict[str, Any]], None]] = (),
    ) -> None:
        self.args = args or GRPOConfig()
        self.reward_funcs = (
            list(reward_funcs) if isinstance(reward_funcs, Sequence) else [reward_funcs]
        )
        if not self.reward_funcs:
            raise ConfigError("at least one reward function is required")
        if self.args.reward_weights is not None and len(self.args.reward_weights) != len(
            self.reward_funcs
        ):
            raise ConfigError(
                f"{len(self.args.reward_weights)} reward_weights for {len(self.reward_funcs)} reward functions"
            )
        if train_dataset is None or len(train_dataset) == 0:
            raise DataError("train_dataset is empty: GRPO needs at least one prompt")
        if "prompt" not in train_dataset[0]:
            raise DataError(
                f"train_dataset rows need a 'prompt' field, got keys {sorted(train_dataset[0])}"
            )
        self.dataset = train_dataset
        self.tokenizer = processing_class
        if self.tokenizer.pad_token_id is None or self.tokenizer.eos_token_id is None:
            raise ConfigError("the tokenizer needs pad and eos tokens")
        self.dist = init_distributed(device=device)
        self.device = self.dist.device if self.dist.world_size > 1 else get_device(device)
        self.run_dir = run_dir  # written by the main process only
        self.callbacks = list(callbacks)
        a = self.args
        if a.use_peft:
            from peft import LoraConfig, get_peft_model

            lcfg = LoraConfig(
                r=a.lora_r,
                lora_alpha=a.lora_alpha,
                lora_dropout=a.lora_dropout,
                target_modules=list(a.lora_target_modules) if a.lora_target_modules else None,
                task_type="CAUSAL_LM",
            )
            model = get_peft_model(model, lcfg)
        if a.gradient_checkpointing:
            if not getattr(model, "supports_gradient_checkpointing", False):
                raise ConfigError(
                    f"gradient_checkpointing=True: {type(model).__name__} does not support it"
                )
            kw = {"use_reentrant": False}
            if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=kw)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)
            if a.use_peft:  # frozen embeddings: checkpointed blocks still need grad inputs
                model.enable_input_require_grads()
        self.model = model.to(self.device)
        self.ref_model = None
        if a.beta > 0:
            if ref_model is not None:
                self.ref_model = ref_model.to(self.device).eval()
            elif not a.use_peft:
                self.ref_model = copy.deepcopy(self.model).eval()
            if self.ref_model is not None:
                for p in self.ref_model.parameters():
                    p.requires_grad_(False)
        self.ddp_model = wrap_ddp(self.model, self.device)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ConfigError("the model has no trainable parameters")
        self.optimizer = torch.optim.AdamW(
            params,
            lr=a.learning_rate,
            betas=(a.adam_beta1, a.adam_beta2),
            weight_decay=a.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_lambda)
        self.step_count = 0
        self.history: list[dict[str, Any]] = []
        #: the last step's rollouts, the indices kept for the update and their advantages
        self.last_rollouts: Rollouts | None = None
        self.last_kept: torch.Tensor | None = None
        self.last_advantages: torch.Tensor | None = None

    # ------------------------------------------------------------------ helpers
    def _lr_lambda(self, step: int) -> float:
        a = self.args
        if a.warmup_steps and step < a.warmup_steps:
            return (step + 1) / a.warmup_steps
        if a.lr_scheduler_type == "linear":
            return max(0.0, (a.max_steps - step) / max(1, a.max_steps - a.warmup_steps))
        return 1.0

    def _prompt_indices(self, step: int) -> list[int]:
        rng = np.random.default_rng([self.args.seed, step, rank()])
        n = len(self.dataset)
        k = self.args.prompts_per_step
        return rng.choice(n, size=k, replace=n < k).tolist()

    def _logprobs(self, model: Any, batch: Rollouts, *, grad: bool) -> torch.Tensor:
        """Per-token log-probs of ``batch``'s completions, in micro-batches."""
        mb = self.args.per_device_train_batch_size
        out = []
        ids, att = batch.input_ids, batch.attention_mask
        L = batch.completion_ids.shape[1]
        with torch.set_grad_enabled(grad):
            for s in range(0, ids.shape[0], mb):
                out.append(
                    completion_logprobs(
                        model,
                        ids[s : s + mb],
                        att[s : s + mb],
                        L,
                        temperature=self.args.temperature,
                    )
                )
        return torch.cat(out)

    def _ref_logprobs(self, batch: Rollouts) -> torch.Tensor:
        if self.ref_model is not None:
            return self._logprobs(self.ref_model, batch, grad=False)
        with self.model.disable_adapter():  # LoRA: the base model is the reference
            return self._logprobs(self.model, batch, grad=False)

    # ------------------------------------------------------------------ one step
    def select(
        self, rewards: torch.Tensor, excluded: torch.Tensor, step: int
    ) -> list[torch.Tensor]:
        """Down-sample each group; returns per-group index tensors into the flat rollout batch."""
        a = self.args
        n, m = a.num_generations, a.m
        G = rewards.shape[0] // n
        r = rewards.view(G, n).cpu()
        ex = excluded.view(G, n).cpu()
        gen = torch.Generator().manual_seed(
            int(np.random.default_rng([a.seed, step, rank(), 1]).integers(2**62))
        )
        out: list[torch.Tensor] = []
        for g in range(G):
            valid = torch.nonzero(~ex[g]).flatten()
            if valid.numel() == 0:
                out.append(valid)
                continue
            k = min(m, valid.numel())
            if k == valid.numel():
                local = torch.arange(k)
            else:
                local = torch.as_tensor(downsample(r[g, valid], k, a.downsample, generator=gen))
            out.append(g * n + valid[local].sort().values)
        return out

    def step(self) -> dict[str, Any]:
        """Run one training step and return its metrics."""
        a = self.args
        step = self.step_count
        t0 = time.perf_counter()
        rows = [self.dataset[i] for i in self._prompt_indices(step)]
        prompts = [r["prompt"] for r in rows]
        ro = generate_completions(
            self.model,
            self.tokenizer,
            prompts,
            num_generations=a.num_generations,
            max_completion_length=a.max_completion_length,
            temperature=a.temperature,
            top_p=a.top_p,
            top_k=a.top_k,
            max_prompt_length=a.max_prompt_length,
            generation_batch_size=a.generation_batch_size,
            device=self.device,
        )
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t_gen = time.perf_counter() - t0
        n = a.num_generations
        rep_prompts = [p for p in prompts for _ in range(n)]
        columns = {k: [r[k] for r in rows for _ in range(n)] for k in rows[0] if k != "prompt"}
        per_func, total, excluded = compute_rewards(
            self.reward_funcs,
            rep_prompts,
            ro.completions,
            columns,
            weights=a.reward_weights,
            device="cpu",
        )
        if bool(excluded.all()):
            warnings.warn(
                f"step {step + 1}: every one of the {excluded.numel()} rollouts was excluded "
                "(every reward function returned None for each), so this step makes no update; "
                "check the reward functions",
                RuntimeWarning,
                stacklevel=2,
            )
        groups = self.select(total, excluded, step)
        counts = torch.tensor([len(g) for g in groups])
        kept = torch.cat(groups) if groups else torch.zeros(0, dtype=torch.long)
        width = int(counts.max().item()) if len(groups) else 0
        padded = torch.zeros(len(groups), max(width, 1), dtype=torch.float64)
        for gi, g in enumerate(groups):
            padded[gi, : len(g)] = total[g]
        adv_pad = group_advantages(
            padded, scale=a.scale_rewards, eps=a.advantage_epsilon, counts=counts
        )
        adv = (
            torch.cat([adv_pad[gi, : len(g)] for gi, g in enumerate(groups)])
            if len(kept)
            else adv_pad.new_zeros(0)
        )
        self.last_rollouts, self.last_kept, self.last_advantages = ro, kept, adv
        t1 = time.perf_counter()
        stats = self._update(ro, kept, adv) if len(kept) else {}
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t_upd = time.perf_counter() - t1
        self.step_count += 1

        r_all = total.view(-1, n)
        valid_all = ~excluded.view(-1, n)
        zero_std = [
            bool((rg[vg].numel() > 0) and (rg[vg].max() == rg[vg].min()).item())
            for rg, vg in zip(r_all, valid_all, strict=False)
        ]
        zero_std_kept = [
            bool(len(g) > 0 and (total[g].max() == total[g].min()).item()) for g in groups
        ]
        valid_tot = total[~excluded]
        metrics: dict[str, Any] = {
            "step": self.step_count,
            "reward": float(valid_tot.mean()) if valid_tot.numel() else float("nan"),
            "reward_std": float(valid_tot.std()) if valid_tot.numel() > 1 else 0.0,
            "reward_kept": float(total[kept].mean()) if len(kept) else float("nan"),
            "frac_reward_zero_std": float(np.mean(zero_std)),
            "frac_reward_zero_std_kept": float(np.mean(zero_std_kept)),
            "excluded": int(excluded.sum()),
            "completion_length": float(ro.completion_mask.sum(1).float().mean()),
            "frac_truncated": float(ro.is_truncated.float().mean()),
            "tokens_generated": int(ro.completion_mask.sum()),
            "tokens_trained": int(ro.completion_mask[kept].sum()) if len(kept) else 0,
            "gen_seconds": t_gen,
            "update_seconds": t_upd,
            "learning_rate": float(self.scheduler.get_last_lr()[0]),
            **stats,
        }
        for j, f in enumerate(self.reward_funcs):
            col = per_func[:, j]
            ok = ~torch.isnan(col)
            metrics[f"rewards/{reward_name(f)}"] = (
                float(col[ok].mean()) if ok.any() else float("nan")
            )
        if self.dist.world_size > 1:  # floats: mean over ranks; counts: sum over ranks
            import torch.distributed as dist

            for k, v in list(metrics.items()):
                if k in ("step", "learning_rate") or not isinstance(v, (int, float)):
                    continue
                t = torch.tensor(float(v), dtype=torch.float64, device=self.device)
                if isinstance(v, int):
                    dist.all_reduce(t)
                    metrics[k] = int(t.item())
                else:
                    metrics[k] = float(all_reduce_mean(t).item())
        self.history.append(metrics)
        return metrics

    def _update(self, ro: Rollouts, kept: torch.Tensor, adv: torch.Tensor) -> dict[str, Any]:
        a = self.args
        batch = ro.select(kept)
        mask = batch.completion_mask.clone()
        if a.mask_truncated_completions:
            mask = mask * (~batch.is_truncated).long().unsqueeze(1)
        adv = adv.to(self.device, torch.float32)
        N = batch.completion_ids.shape[0]
        num_tokens = int(mask.sum().item())
        old_logp = self._logprobs(self.model, batch, grad=False) if a.num_iterations > 1 else None
        ref_logp = self._ref_logprobs(batch) if a.beta > 0 else None
        mb = a.per_device_train_batch_size
        self.ddp_model.train()
        tot_loss = tot_low = tot_high = tot_kl = 0.0
        grad_norm = 0.0
        for _ in range(a.num_iterations):
            self.optimizer.zero_grad(set_to_none=True)
            for s in range(0, N, mb):
                sl = slice(s, s + mb)
                ids, att = batch.input_ids[sl], batch.attention_mask[sl]
                logp = completion_logprobs(
                    self.ddp_model,
                    ids,
                    att,
                    batch.completion_ids.shape[1],
                    temperature=a.temperature,
                )
                old = logp.detach() if old_logp is None else old_logp[sl]
                per_tok, st = clipped_surrogate(
                    logp,
                    old,
                    adv[sl],
                    mask[sl],
                    epsilon_low=a.epsilon,
                    epsilon_high=a.epsilon_high,
                    beta=a.beta,
                    ref_logp=None if ref_logp is None else ref_logp[sl],
                )
                loss = aggregate_loss(
                    per_tok,
                    mask[sl],
                    a.loss_type,
                    max_completion_length=a.max_completion_length,
                    num_sequences=N,
                    num_tokens=num_tokens,
                )
                loss.backward()
                w = float(mask[sl].sum()) / max(num_tokens, 1)
                tot_loss += float(loss.detach())
                tot_low += float(st.clip_low) * w
                tot_high += float(st.clip_high) * w
                if st.kl is not None:
                    tot_kl += float(st.kl) * w
            params = [p for p in self.model.parameters() if p.requires_grad]
            grad_norm = float(
                torch.nn.utils.clip_grad_norm_(
                    params, a.max_grad_norm if a.max_grad_norm > 0 else float("inf")
                )
            )
            self.optimizer.step()
        self.scheduler.step()
        it = a.num_iterations
        out = {
            "loss": tot_loss / it,
            "clip_ratio_low": tot_low / it,
            "clip_ratio_high": tot_high / it,
            "clip_ratio": (tot_low + tot_high) / it,
            "grad_norm": grad_norm,
        }
        if a.beta > 0:
            out["kl"] = tot_kl / it
        return out

    # ------------------------------------------------------------------ loop, checkpoints
    def save(self, path: str | Path | None = None) -> Path | None:
        """Write a checkpoint (model, optimizer, scheduler, RNG, step) on the main process."""
        if not is_main():
            return None
        if path is None:
            if self.run_dir is None:
                raise ConfigError("no run_dir: pass a checkpoint path")
            path = self.run_dir.checkpoint_path(self.step_count)
        return save_checkpoint(
            path,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            step=self.step_count,
            extra={"history_len": len(self.history)},
        )

    def load(self, path: str | Path) -> int:
        """Restore a checkpoint written by :meth:`save`; returns the step to continue from."""
        state = load_checkpoint(
            path,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            map_location=self.device,
        )
        self.step_count = state.step
        return state.step

    def train(self, resume_from: str | Path | None = None) -> list[dict[str, Any]]:
        """Train to ``max_steps``; ``resume_from`` = a checkpoint file or ``"latest"`` (in ``run_dir``).

        On resume, the rows of ``run_dir``'s ``metrics.jsonl`` logged after the restored step
        (steps the interrupted run trained past its last checkpoint, and its final summary) are
        removed, so that the file of an interrupted and resumed run equals an uninterrupted one's.
        Returns the metrics of the steps run by this call.
        """
        if resume_from is not None:
            if str(resume_from) == "latest":
                if self.run_dir is None:
                    raise ConfigError("resume_from='latest' needs a run_dir")
                latest = self.run_dir.latest_checkpoint()
                if latest is None:
                    raise DataError(f"no checkpoint in {self.run_dir.checkpoints}")
                resume_from = latest
            self.load(resume_from)
            if self.run_dir is not None and is_main():
                dropped = truncate_metrics(self.run_dir, self.step_count)
                if dropped:
                    log.info(
                        "resumed at step %d: dropped %d metrics rows logged after it",
                        self.step_count,
                        dropped,
                    )
        a = self.args
        out = []
        bar = progress(total=a.max_steps, initial=self.step_count, desc="grpo")
        try:
            while self.step_count < a.max_steps:
                met = self.step()
                out.append(met)
                bar.update(1)
                bar.set_postfix(
                    reward=f"{met['reward']:.3f}", zero_std=f"{met['frac_reward_zero_std']:.2f}"
                )
                if (
                    self.run_dir is not None
                    and is_main()
                    and self.step_count % a.logging_steps == 0
                ):
                    self.run_dir.log(met)
                for cb in self.callbacks:
                    cb(met)
                if (
                    a.save_steps
                    and self.step_count % a.save_steps == 0
                    and self.step_count < a.max_steps
                    and self.run_dir is not None
                ):
                    self.save()
        finally:
            bar.close()
        if self.run_dir is not None:
            self.save()
        return out


def truncate_metrics(run_dir: RunDir, step: int) -> int:
    """Remove the rows of ``run_dir``'s metrics past training step ``step``; returns how many.

    Dropped: rows with a ``"step"`` above ``step`` and ``"final"`` summary rows (a resumed run
    writes its own). Other rows (the pre-training evaluation) are kept. The file is replaced
    atomically.
    """
    rows = list(run_dir.metrics())
    keep = [
        r
        for r in rows
        if not r.get("final") and not (isinstance(r.get("step"), int) and r["step"] > step)
    ]
    if len(keep) != len(rows):
        tmp = run_dir.metrics_file.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
        os.replace(tmp, run_dir.metrics_file)
    return len(rows) - len(keep)
