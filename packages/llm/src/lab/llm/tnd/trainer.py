"""TnD: a student LM learns from scratch from the corpus, its own trials and a teacher's demonstrations.

One cycle (``clm_steps_per_interaction`` = 3 in the paper):

1. ``clm_steps_per_interaction`` causal-LM steps on corpus batches;
2. one interaction step: prompts = the first ``prompt_length`` tokens of corpus sequences;
   *trials* = the student's sampled continuations, scored by the age predictor against a
   baseline; *demonstrations* = the teacher's continuations of the same prompts (top-k 20,
   top-p 0.95), scored with ``log2(teacher step)`` against the same baseline; PPO (clipped
   policy and value losses, GAE) on all (prompt, response, score) triples; then one causal-LM
   step on the trials and demonstrations.

Modes (the ablations): ``tnd`` (trials + demonstrations), ``trials``, ``demonstrations``, ``clm``
(corpus steps only). All modes draw the same corpus batches for the same seed, so arms are
compared at equal corpus tokens and corpus steps. Word surprisal is recorded at log-spaced
corpus steps; :meth:`TnDTrainer.word_learning` turns it into ages of acquisition.

OURS (the paper is silent or runs at a different scale): two AdamW optimizers (one for the
causal-LM steps, one for PPO), their learning rates, the trial sampling settings (the
demonstration ones by default), gradient clipping, the baseline ``log2(corpus step)``, and
recording the trial word frequencies used by the practice analysis.

Data parallelism (``torchrun``): every rank holds the same student (wrapped in
DistributedDataParallel by :func:`lab.core.wrap_ddp`, so gradients are averaged), draws its own
slice of each step's corpus batch and of each interaction's prompts (``batch_size`` and
``interaction_batch_size`` are per rank; the slices of all ranks form the batch one process
would draw with ``world_size`` times the size), and samples its own trials and demonstrations.
The causal-LM loss is normalised by the token count of all ranks, so a run on ``N`` ranks with
per-rank batch ``b`` takes the same corpus step as one process with batch ``N * b``; advantages
are whitened with statistics over all ranks; the PPO token means are per rank (averaged by
DDP). Word surprisal is computed on a shard of the held-out data per rank and summed over
ranks. Metrics are averaged over ranks, trial/demonstration word counts summed; only rank 0
writes metrics and checkpoints.
"""

from __future__ import annotations

import copy
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
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
    barrier,
    get_device,
    init_distributed,
    is_main,
    load_checkpoint,
    progress,
    save_checkpoint,
    wrap_ddp,
)

from ..generation import Rollouts, generate_completions
from ..policy_gradient import (
    gae_advantages,
    kl_penalty_rewards,
    ppo_loss,
    token_logprobs,
)
from .models import (
    StudentLM,
    clm_loss_from_logits,
    clm_token_count,
    log_spaced_steps,
    sample_batch,
)
from .reward import BASELINES, SCORE_VARIANTS, AgePredictor, competence_scores
from .words import AoAResult, age_of_acquisition, word_surprisal

__all__ = ["MODES", "TnDConfig", "TnDTrainer", "WordLearning"]

MODES: tuple[str, ...] = ("tnd", "trials", "demonstrations", "clm")


@dataclass(frozen=True)
class TnDConfig:
    """Configuration of :class:`TnDTrainer`.

    Attributes:
        mode: ``tnd``, ``trials``, ``demonstrations`` or ``clm`` (the ablations).
        corpus_steps: causal-LM steps on the corpus (equal across modes).
        clm_steps_per_interaction: corpus steps before each interaction step (3 in the paper).
        batch_size: corpus sequences per causal-LM step.
        interaction_batch_size: prompts per interaction step (one trial and one demonstration
            each; 128 in the paper).
        prompt_length: corpus tokens after ``<bos>`` used as a prompt (5 in the paper).
        max_new_tokens: length of trials and demonstrations.
        trial_top_k, trial_top_p: student sampling (OURS: the demonstration settings).
        demo_top_k, demo_top_p: teacher sampling (20 and 0.95 in the paper).
        temperature: sampling temperature of both.
        score_variant: ``subtract``, ``divide`` or ``binary``.
        baseline: ``step`` (``log2`` of the current corpus step), ``reference`` (the age
            predicted for a CLM-only reference student's text) or ``none``.
        learning_rate: AdamW learning rate of the causal-LM steps (OURS).
        ppo_learning_rate: AdamW learning rate of PPO (2e-5 in the paper with larger models and
            batches; OURS here).
        ppo_epochs: passes of PPO over one interaction batch (1: the paper's public code sets
            ``PPO_EPOCH = 1`` and accumulates the whole batch into one optimizer step, so the
            ratio is 1 and clipping never acts; TRL's own default is 4).
        ppo_minibatches: minibatches per pass.
        cliprange, cliprange_value, vf_coef: PPO clipping and value coefficient (0.2, 0.2, 0.1).
        gamma, lam: GAE discount and lambda (TRL defaults 1.0, 0.95).
        kl_coef: KL penalty to the initial student (effectively 0 in the paper).
        whiten_advantages: whiten advantages over the batch (TRL).
        interaction_clm: the causal-LM step on trials + demonstrations after PPO.
        max_grad_norm: gradient clipping (0: none).
        n_layer, n_embd, n_head: student GPT-2 size.
        eval_points: about this many log-spaced corpus steps at which word surprisal is measured.
        eval_batch_size: held-out sequences per forward pass.
        save_steps: checkpoint every this many corpus steps (0: only at the end).
        seed: student initialisation, corpus batches, prompts and sampling.
    """

    mode: Literal["tnd", "trials", "demonstrations", "clm"] = "tnd"
    corpus_steps: int = 300
    clm_steps_per_interaction: int = 3
    batch_size: int = 16
    interaction_batch_size: int = 16
    prompt_length: int = 5
    max_new_tokens: int = 20
    trial_top_k: int = 20
    trial_top_p: float = 0.95
    demo_top_k: int = 20
    demo_top_p: float = 0.95
    temperature: float = 1.0
    score_variant: Literal["subtract", "divide", "binary"] = "subtract"
    baseline: Literal["step", "reference", "none"] = "step"
    learning_rate: float = 3e-3
    ppo_learning_rate: float = 3e-4
    ppo_epochs: int = 1
    ppo_minibatches: int = 1
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    gamma: float = 1.0
    lam: float = 0.95
    kl_coef: float = 0.0
    whiten_advantages: bool = True
    interaction_clm: bool = True
    max_grad_norm: float = 1.0
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    eval_points: int = 12
    eval_batch_size: int = 64
    save_steps: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {list(MODES)}, got {self.mode!r}")
        if self.score_variant not in SCORE_VARIANTS:
            raise ConfigError(
                f"score_variant must be one of {list(SCORE_VARIANTS)}, got {self.score_variant!r}"
            )
        if self.baseline not in BASELINES:
            raise ConfigError(f"baseline must be one of {list(BASELINES)}, got {self.baseline!r}")
        for k in (
            "corpus_steps",
            "clm_steps_per_interaction",
            "batch_size",
            "interaction_batch_size",
            "prompt_length",
            "max_new_tokens",
            "ppo_epochs",
            "ppo_minibatches",
            "n_layer",
            "n_embd",
            "n_head",
            "eval_points",
            "eval_batch_size",
        ):
            if getattr(self, k) < 1:
                raise ConfigError(f"TnDConfig.{k} must be >= 1, got {getattr(self, k)}")
        if self.ppo_minibatches > self.interaction_batch_size:
            raise ConfigError(
                f"ppo_minibatches={self.ppo_minibatches} exceeds interaction_batch_size="
                f"{self.interaction_batch_size}"
            )
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        for k in ("learning_rate", "ppo_learning_rate", "temperature"):
            v = getattr(self, k)
            if not (v > 0 and math.isfinite(v)):
                raise ConfigError(f"TnDConfig.{k} must be a positive finite number, got {v}")
        for k in ("trial_top_p", "demo_top_p"):
            if not 0 < getattr(self, k) <= 1:
                raise ConfigError(f"TnDConfig.{k} must be in (0, 1], got {getattr(self, k)}")
        for k in ("trial_top_k", "demo_top_k", "save_steps"):
            if getattr(self, k) < 0:
                raise ConfigError(f"TnDConfig.{k} must be >= 0, got {getattr(self, k)}")
        for k in ("cliprange", "cliprange_value", "vf_coef", "kl_coef", "max_grad_norm"):
            if getattr(self, k) < 0:
                raise ConfigError(f"TnDConfig.{k} must be >= 0, got {getattr(self, k)}")

    @property
    def uses_trials(self) -> bool:
        return self.mode in ("tnd", "trials")

    @property
    def uses_demonstrations(self) -> bool:
        return self.mode in ("tnd", "demonstrations")


@dataclass(frozen=True)
class WordLearning:
    """Ages of acquisition of the tracked words of one run.

    Attributes:
        steps: the evaluated corpus steps.
        curves: word -> surprisal (bits) at each step.
        aoa: word -> :class:`lab.llm.tnd.words.AoAResult`.
        chance: chance surprisal ``log2(vocabulary size)``.
        missing: tracked words that never occur in the held-out data (no curve).
    """

    steps: tuple[int, ...]
    curves: Mapping[str, tuple[float, ...]]
    aoa: Mapping[str, AoAResult]
    chance: float
    missing: tuple[str, ...] = ()

    def learned(self, by_step: float | None = None) -> list[str]:
        """Words whose AoA is finite (and at most ``by_step`` when given)."""
        return [
            w for w, r in self.aoa.items() if r.learned and (by_step is None or r.aoa <= by_step)
        ]

    def fraction_learned(self, by_step: float | None = None) -> float:
        """Share of the words with a curve that are learned (by ``by_step``)."""
        return len(self.learned(by_step)) / max(len(self.aoa), 1)

    def mean_log10_aoa(self, words: Sequence[str] | None = None) -> float:
        """Mean ``log10(AoA)`` over ``words`` (default: all learned words); NaN if none."""
        ws = self.learned() if words is None else list(words)
        vals = [self.aoa[w].log10_aoa for w in ws if w in self.aoa and self.aoa[w].learned]
        return float(np.mean(vals)) if vals else float("nan")

    def aoa_steps(self) -> dict[str, float]:
        """word -> AoA in steps (NaN for words not learned)."""
        return {w: r.aoa for w, r in self.aoa.items()}

    def mean_surprisal(self) -> list[float]:
        """Mean surprisal over the words with a curve, at each evaluated step."""
        if not self.curves:
            return []
        return [float(v) for v in np.mean(np.array(list(self.curves.values())), axis=0)]


def _merge_rollouts(parts: Sequence[Rollouts], pad_id: int) -> Rollouts:
    """Stack rollouts of the same prompt width; completions are right-padded to one width."""
    if len(parts) == 1:
        return parts[0]
    pw = {p.prompt_ids.shape[1] for p in parts}
    if len(pw) != 1:
        raise DataError(f"rollouts with different prompt widths {sorted(pw)} cannot be merged")
    W = max(p.completion_ids.shape[1] for p in parts)

    def pad(t: torch.Tensor, value: int) -> torch.Tensor:
        return torch.nn.functional.pad(t, (0, W - t.shape[1]), value=value)

    return Rollouts(
        torch.cat([p.prompt_ids for p in parts]),
        torch.cat([p.prompt_mask for p in parts]),
        torch.cat([pad(p.completion_ids, pad_id) for p in parts]),
        torch.cat([pad(p.completion_mask, 0) for p in parts]),
        [c for p in parts for c in p.completions],
        1,
        torch.cat([p.is_truncated for p in parts]),
    )


class TnDTrainer:
    """Trial-and-Demonstration training of a student LM from scratch.

    Args:
        config: a :class:`TnDConfig`.
        tokenizer: word-level (or any) tokenizer with pad/eos/bos tokens.
        train_sequences: token ids of packed corpus sequences, each starting with ``<bos>``.
        heldout_sequences: token ids of held-out sequences (word surprisal).
        word_ids: tracked word -> its single token id.
        teacher: the teacher LM (or a :func:`masked_teacher`); needed for demonstrations.
        teacher_step: the teacher's training step (its demonstrations' age is its log2).
        age_predictor: the :class:`AgePredictor`; needed for trials and the reference baseline.
        reference_model: a CLM-only student LM for ``baseline="reference"``.
        device: where to train (default: CUDA when present).
        run_dir: metrics and checkpoints (None: nothing written).

    Example:
        >>> trainer = TnDTrainer(TnDConfig(mode="tnd"), tok, train_ids, held_ids, word_ids,
        ...     teacher=teacher.model, teacher_step=teacher.step, age_predictor=rm)
        >>> trainer.train()
        >>> learning = trainer.word_learning()
    """

    def __init__(
        self,
        config: TnDConfig,
        tokenizer: Any,
        train_sequences: Sequence[Sequence[int]],
        heldout_sequences: Sequence[Sequence[int]],
        word_ids: Mapping[str, int],
        *,
        teacher: Any | None = None,
        teacher_step: int | None = None,
        age_predictor: AgePredictor | None = None,
        reference_model: Any | None = None,
        device: torch.device | str | None = None,
        run_dir: RunDir | None = None,
        show_progress: bool | None = None,
    ) -> None:
        self.config = c = config
        if not train_sequences:
            raise DataError("TnDTrainer got no training sequences")
        if not heldout_sequences:
            raise DataError("TnDTrainer got no held-out sequences")
        if not word_ids:
            raise DataError("TnDTrainer got no tracked words")
        for tok_name in ("pad_token_id", "eos_token_id", "bos_token_id"):
            if getattr(tokenizer, tok_name) is None:
                raise ConfigError(f"the tokenizer needs a {tok_name[:-3]}")
        short = [i for i, s in enumerate(train_sequences) if len(s) < c.prompt_length + 2]
        if len(short) == len(train_sequences):
            raise DataError(
                f"no training sequence is longer than prompt_length + 1 = {c.prompt_length + 1}"
            )
        if c.uses_demonstrations and (teacher is None or teacher_step is None):
            raise ConfigError(f"mode={c.mode!r} needs a teacher and its teacher_step")
        if teacher_step is not None and teacher_step < 1:
            raise ConfigError(f"teacher_step must be >= 1, got {teacher_step}")
        if (
            (c.uses_trials or c.baseline == "reference")
            and age_predictor is None
            and c.mode != "clm"
        ):
            raise ConfigError(f"mode={c.mode!r} needs an age_predictor to score trials")
        if c.baseline == "reference" and reference_model is None and c.mode != "clm":
            raise ConfigError("baseline='reference' needs a reference_model")
        self.tokenizer = tokenizer
        self.dist = init_distributed(device=device)
        self.rank, self.world_size = self.dist.rank, self.dist.world_size
        self.device = self.dist.device if self.world_size > 1 else get_device(device)
        self.train_sequences = [list(s) for s in train_sequences]
        self.heldout_sequences = [list(s) for s in heldout_sequences]
        self.word_ids = dict(word_ids)
        self.id_to_word = {v: k for k, v in self.word_ids.items()}
        self.teacher = teacher.to(self.device).eval() if teacher is not None else None
        self.teacher_step = teacher_step
        self.age_predictor = age_predictor
        self.reference_model = (
            reference_model.to(self.device).eval() if reference_model is not None else None
        )
        self.run_dir = run_dir
        self.show_progress = show_progress
        self.prompt_pool = [
            i for i, s in enumerate(self.train_sequences) if len(s) >= c.prompt_length + 2
        ]
        max_len = max(len(s) for s in self.train_sequences)
        self.student = StudentLM(
            tokenizer,
            n_layer=c.n_layer,
            n_embd=c.n_embd,
            n_head=c.n_head,
            max_positions=max(max_len, c.prompt_length + 1 + c.max_new_tokens) + 8,
            seed=c.seed,
            device=self.device,
        )
        # DDP (identity in one process): averages the gradients of every backward pass
        self.ddp = wrap_ddp(self.student, self.device)
        self.ref_lm = copy.deepcopy(self.student.lm).eval() if c.kl_coef > 0 else None
        if self.ref_lm is not None:
            for p in self.ref_lm.parameters():
                p.requires_grad_(False)
        self.clm_optimizer = torch.optim.AdamW(self.student.lm.parameters(), lr=c.learning_rate)
        self.ppo_optimizer = torch.optim.AdamW(self.student.parameters(), lr=c.ppo_learning_rate)
        self.eval_steps = log_spaced_steps(c.corpus_steps, c.eval_points)
        self.corpus_step = 0
        self.interactions = 0
        self.history: list[dict[str, Any]] = []
        self.surprisal: dict[int, dict[str, float]] = {}
        self.missing_words: tuple[str, ...] = ()
        self.trial_counts: Counter[str] = Counter()
        self.demo_counts: Counter[str] = Counter()
        self.chance = math.log2(len(tokenizer))
        #: the last interaction batch (trials then demonstrations) and its scores
        self.last_batch: Rollouts | None = None
        self.last_scores: torch.Tensor | None = None

    # ------------------------------------------------------------------ pieces
    def _sum_over_ranks(self, t: torch.Tensor) -> torch.Tensor:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(t)
        return t

    def _clm_step(self, ids: torch.Tensor, att: torch.Tensor) -> float:
        self.student.train()
        logits, values = self.ddp(ids, att)
        if self.world_size == 1:
            loss = clm_loss_from_logits(logits, ids, att)
            shown = float(loss.detach())
        else:  # sum over this rank's tokens / tokens of all ranks; DDP averages (x world size)
            n_all = self._sum_over_ranks(clm_token_count(att).to(torch.float64)).clamp(min=1)
            total = clm_loss_from_logits(logits, ids, att, reduction="sum")
            # 0 * values: the value head gets a (zero) gradient, so DDP sees every parameter
            loss = total * (self.world_size / float(n_all)) + 0.0 * values.sum()
            shown = float(self._sum_over_ranks(total.detach().double()) / n_all)
        self.clm_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.student.lm.parameters(), self.config.max_grad_norm)
        self.clm_optimizer.step()
        return shown

    def corpus_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The corpus batch of corpus step ``step`` (identical across modes for one seed)."""
        return sample_batch(
            self.train_sequences,
            self.config.batch_size,
            seed=self.config.seed,
            step=step,
            pad_id=self.tokenizer.pad_token_id,
            stream=0,
            device=self.device,
            shard=self.rank,
            num_shards=self.world_size,
        )

    def prompts(self, step: int) -> list[str]:
        """Prompts of the interaction at corpus step ``step``: ``<bos>`` + first tokens."""
        c = self.config
        rng = np.random.default_rng([c.seed, step, 1])
        B = c.interaction_batch_size
        idx = rng.choice(len(self.prompt_pool), size=B * self.world_size)
        idx = idx[self.rank * B : (self.rank + 1) * B]
        out = []
        for i in idx:
            ids = self.train_sequences[self.prompt_pool[int(i)]][: c.prompt_length + 1]
            out.append(self.tokenizer.decode(ids, skip_special_tokens=False))
        return out

    def _generate(self, model: Any, prompts: list[str], top_k: int, top_p: float) -> Rollouts:
        c = self.config
        return generate_completions(
            model,
            self.tokenizer,
            prompts,
            max_completion_length=c.max_new_tokens,
            temperature=c.temperature,
            top_k=top_k,
            top_p=top_p,
            device=self.device,
        )

    def _count_words(self, ro: Rollouts, counter: Counter[str]) -> None:
        local: Counter[str] = Counter()
        for t in ro.completion_ids[ro.completion_mask.bool()].tolist():
            w = self.id_to_word.get(int(t))
            if w is not None:
                local[w] += 1
        if self.world_size > 1:  # counts of all ranks
            names = sorted(self.word_ids)
            t = torch.tensor([local[w] for w in names], dtype=torch.long, device=self.device)
            self._sum_over_ranks(t)
            local = Counter({w: int(v) for w, v in zip(names, t.tolist(), strict=True) if v})
        counter.update(local)

    def _baseline(self, prompts: list[str]) -> torch.Tensor:
        c = self.config
        if c.baseline == "none":
            return torch.zeros(len(prompts))
        if c.baseline == "step":
            return torch.full((len(prompts),), math.log2(max(self.corpus_step, 1)))
        assert self.reference_model is not None and self.age_predictor is not None
        ro = self._generate(self.reference_model, prompts, c.trial_top_k, c.trial_top_p)
        texts = [f"{p} {t}".strip() for p, t in zip(prompts, ro.completions, strict=True)]
        return self.age_predictor.predict(texts)

    def interaction_step(self) -> dict[str, float]:
        """Trials and/or demonstrations for one batch of prompts, PPO on them, then one CLM step."""
        c = self.config
        prompts = self.prompts(self.corpus_step)
        b = self._baseline(prompts)
        parts: list[Rollouts] = []
        scores: list[torch.Tensor] = []
        out: dict[str, float] = {"baseline": float(b.mean())}
        if c.uses_trials:
            assert self.age_predictor is not None
            ro = self._generate(self.student.lm, prompts, c.trial_top_k, c.trial_top_p)
            texts = [f"{p} {t}".strip() for p, t in zip(prompts, ro.completions, strict=True)]
            ages = self.age_predictor.predict(texts)
            s = competence_scores(ages, b, c.score_variant)
            parts.append(ro)
            scores.append(s)
            self._count_words(ro, self.trial_counts)
            out["trial_age"] = float(ages.mean())
            out["trial_score"] = float(s.mean())
        if c.uses_demonstrations:
            assert self.teacher is not None and self.teacher_step is not None
            ro = self._generate(self.teacher, prompts, c.demo_top_k, c.demo_top_p)
            ages = torch.full((len(prompts),), math.log2(self.teacher_step))
            s = competence_scores(ages, b, c.score_variant)
            parts.append(ro)
            scores.append(s)
            self._count_words(ro, self.demo_counts)
            out["demo_score"] = float(s.mean())
        batch = _merge_rollouts(parts, self.tokenizer.pad_token_id)
        score = torch.cat(scores).to(self.device)
        self.last_batch, self.last_scores = batch, score
        out.update(self.ppo_step(batch, score))
        if c.interaction_clm:
            out["interaction_clm_loss"] = self._clm_step(batch.input_ids, batch.attention_mask)
        self.interactions += 1
        return out

    def _forward(self, ids: torch.Tensor, att: torch.Tensor, L: int) -> tuple[torch.Tensor, ...]:
        logits, values = self.ddp(ids, att)
        logp = token_logprobs(logits[:, -L - 1 : -1], ids[:, -L:])
        return logp, values[:, -L - 1 : -1]

    def ppo_step(self, batch: Rollouts, scores: torch.Tensor) -> dict[str, float]:
        """``ppo_epochs`` passes of clipped PPO over ``batch`` with one score per sequence."""
        c = self.config
        ids, att = batch.input_ids, batch.attention_mask
        mask = batch.completion_mask.float()
        L = batch.completion_ids.shape[1]
        self.student.eval()
        with torch.no_grad():
            old_logp, old_v = self._forward(ids, att, L)
            ref_logp = None
            if self.ref_lm is not None:
                from ..policy_gradient import completion_logprobs

                ref_logp = completion_logprobs(self.ref_lm, ids, att, L)
        rewards = kl_penalty_rewards(
            scores.float(), mask, logp=old_logp, ref_logp=ref_logp, kl_coef=c.kl_coef
        )
        adv, ret = gae_advantages(
            rewards,
            old_v,
            mask,
            gamma=c.gamma,
            lam=c.lam,
            whiten=c.whiten_advantages and self.world_size == 1,
        )
        if c.whiten_advantages and self.world_size > 1:
            adv = self._whiten_over_ranks(adv, mask)
        N = ids.shape[0]
        rng = np.random.default_rng([c.seed, self.corpus_step, 2])
        stats: dict[str, float] = {"policy_loss": 0.0, "value_loss": 0.0, "clipfrac": 0.0}
        n_updates = 0
        self.student.train()
        for _ in range(c.ppo_epochs):
            perm = torch.as_tensor(rng.permutation(N), device=ids.device)
            for mb in torch.tensor_split(perm, c.ppo_minibatches):
                logp, v = self._forward(ids[mb], att[mb], L)
                loss, st = ppo_loss(
                    logp,
                    old_logp[mb],
                    v,
                    old_v[mb],
                    adv[mb],
                    ret[mb],
                    mask[mb],
                    cliprange=c.cliprange,
                    cliprange_value=c.cliprange_value,
                    vf_coef=c.vf_coef,
                )
                self.ppo_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if c.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(self.student.parameters(), c.max_grad_norm)
                self.ppo_optimizer.step()
                for k in stats:
                    stats[k] += float(st[k])
                n_updates += 1
        return {k: v / max(n_updates, 1) for k, v in stats.items()}

    def _whiten_over_ranks(self, adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """TRL's masked whitening (unbiased variance) with the statistics of all ranks."""
        m = mask.to(torch.float64)
        a = adv.to(torch.float64)
        n = self._sum_over_ranks(m.sum())
        if n < 2:
            raise DataError(f"whitening needs at least 2 completion tokens, got {int(n)}")
        mean = self._sum_over_ranks((a * m).sum()) / n
        var = self._sum_over_ranks((((a - mean) ** 2) * m).sum()) / (n - 1)
        return ((a - mean) * torch.rsqrt(var + 1e-8) * m).to(adv.dtype)

    def evaluate(self) -> dict[str, float]:
        """Word surprisal of the tracked words at the current corpus step (stored)."""
        bs, dev = self.config.eval_batch_size, self.device
        if self.world_size == 1:
            ws = word_surprisal(
                self.student.lm, self.heldout_sequences, self.word_ids, batch_size=bs, device=dev
            )
            surprisal, missing = dict(ws.surprisal), ws.missing
        else:  # a shard per rank; bits and counts summed over ranks
            names = list(self.word_ids)
            sums = torch.zeros(len(names), dtype=torch.float64, device=self.device)
            counts = torch.zeros(len(names), dtype=torch.float64, device=self.device)
            shard = self.heldout_sequences[self.rank :: self.world_size]
            if shard:
                ws = word_surprisal(
                    self.student.lm, shard, self.word_ids, batch_size=bs, device=dev
                )
                for j, w in enumerate(names):
                    if w in ws.surprisal:
                        sums[j] = ws.surprisal[w] * ws.counts[w]
                        counts[j] = ws.counts[w]
            self._sum_over_ranks(sums)
            self._sum_over_ranks(counts)
            surprisal = {
                w: float(sums[j] / counts[j]) for j, w in enumerate(names) if counts[j] > 0
            }
            missing = tuple(w for j, w in enumerate(names) if counts[j] == 0)
        self.surprisal[self.corpus_step] = surprisal
        self.missing_words = missing
        vals = list(surprisal.values())
        return {"mean_word_surprisal": float(np.mean(vals)) if vals else float("nan")}

    # ------------------------------------------------------------------ loop, checkpoints
    def save(self, path: str | Path | None = None) -> Path | None:
        """Checkpoint the student, both optimizers, RNG, step, surprisal records and counts.

        Under torchrun only rank 0 writes (the others return None).
        """
        if not is_main():
            return None
        if path is None:
            if self.run_dir is None:
                raise ConfigError("no run_dir: pass a checkpoint path")
            path = self.run_dir.checkpoint_path(self.corpus_step)
        return save_checkpoint(
            path,
            model=self.student,
            optimizer=self.clm_optimizer,
            step=self.corpus_step,
            extra={
                "ppo_optimizer": self.ppo_optimizer.state_dict(),
                "interactions": self.interactions,
                "surprisal": {str(k): v for k, v in self.surprisal.items()},
                "missing_words": list(self.missing_words),
                "trial_counts": dict(self.trial_counts),
                "demo_counts": dict(self.demo_counts),
                "history": self.history,
            },
        )

    def load(self, path: str | Path) -> int:
        """Restore a checkpoint written by :meth:`save`; returns the corpus step reached."""
        st = load_checkpoint(
            path, model=self.student, optimizer=self.clm_optimizer, map_location=self.device
        )
        ex = st.extra
        self.ppo_optimizer.load_state_dict(ex["ppo_optimizer"])
        self.corpus_step = st.step
        self.interactions = int(ex["interactions"])
        self.surprisal = {int(k): dict(v) for k, v in ex["surprisal"].items()}
        self.missing_words = tuple(ex["missing_words"])
        self.trial_counts = Counter(ex["trial_counts"])
        self.demo_counts = Counter(ex["demo_counts"])
        self.history = list(ex["history"])
        return st.step

    def train(self, resume_from: str | Path | None = None) -> list[dict[str, Any]]:
        """Run to ``corpus_steps``; ``resume_from`` = a checkpoint file or ``"latest"``.

        Returns the metrics of the corpus steps run by this call.
        """
        c = self.config
        if resume_from is not None:
            if str(resume_from) == "latest":
                if self.run_dir is None:
                    raise ConfigError("resume_from='latest' needs a run_dir")
                latest = self.run_dir.latest_checkpoint()
                if latest is None:
                    raise DataError(f"no checkpoint in {self.run_dir.checkpoints}")
                resume_from = latest
            self.load(resume_from)
        schedule = set(self.eval_steps)
        out: list[dict[str, Any]] = []
        bar = progress(
            total=c.corpus_steps,
            initial=self.corpus_step,
            desc=f"tnd[{c.mode}]",
            disable=True if self.show_progress is False or not is_main() else None,
        )
        t0 = time.perf_counter()
        try:
            while self.corpus_step < c.corpus_steps:
                ids, att = self.corpus_batch(self.corpus_step)
                rec: dict[str, Any] = {"clm_loss": self._clm_step(ids, att)}
                self.corpus_step += 1
                rec["step"] = self.corpus_step
                if c.mode != "clm" and self.corpus_step % c.clm_steps_per_interaction == 0:
                    rec.update(self.interaction_step())
                if self.corpus_step in schedule:
                    rec.update(self.evaluate())
                rec["seconds"] = time.perf_counter() - t0
                self._reduce_metrics(rec)
                self.history.append(rec)
                out.append(rec)
                if self.run_dir is not None and is_main():
                    self.run_dir.log(rec)
                bar.update(1)
                if (
                    c.save_steps
                    and self.run_dir is not None
                    and self.corpus_step % c.save_steps == 0
                    and self.corpus_step < c.corpus_steps
                ):
                    self.save()
                    barrier()
        finally:
            bar.close()
        if self.run_dir is not None:
            self.save()
            barrier()
        return out

    def _reduce_metrics(self, rec: dict[str, Any]) -> None:
        """Average the float metrics of a record over ranks (no-op in one process)."""
        if self.world_size == 1:
            return
        keys = sorted(k for k, v in rec.items() if isinstance(v, float) and k != "seconds")
        t = torch.tensor([rec[k] for k in keys], dtype=torch.float64, device=self.device)
        all_reduce_mean(t)
        rec.update(zip(keys, t.tolist(), strict=True))

    # ------------------------------------------------------------------ results
    def word_learning(self, *, chance: float | None = None, min_drop: float = 0.5) -> WordLearning:
        """Ages of acquisition of every tracked word with a held-out curve.

        Args:
            chance: chance surprisal (default ``log2`` of the vocabulary size).
            min_drop: bits below chance a fitted curve must reach to count as learned (OURS;
                see :func:`lab.llm.tnd.age_of_acquisition`).

        Raises:
            DataError: fewer than 4 evaluated steps (too few for a sigmoid fit).
        """
        steps = sorted(self.surprisal)
        if len(steps) < 4:
            raise DataError(
                f"word learning needs surprisal at >= 4 steps, have {len(steps)}; "
                "train longer or raise eval_points"
            )
        ch = self.chance if chance is None else chance
        words = [w for w in self.word_ids if all(w in self.surprisal[s] for s in steps)]
        curves = {w: tuple(self.surprisal[s][w] for s in steps) for w in words}
        aoa = {w: age_of_acquisition(steps, curves[w], chance=ch, min_drop=min_drop) for w in words}
        return WordLearning(tuple(steps), curves, aoa, ch, tuple(self.missing_words))
