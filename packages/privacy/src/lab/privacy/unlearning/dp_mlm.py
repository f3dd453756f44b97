"""DP-MLM text sanitisation in its rigorous form (Meisenbacher et al. 2024), for DP2U's base.

Each token of a record is replaced by a token sampled with the exponential mechanism whose
utility is the masked LM's logit for that position, clipped to a fixed range ``[a, b]``:

    p(v) ∝ exp(eps * clip(logit_v, a, b) / (2 * D)),   D = b - a,

over the whole vocabulary (special tokens excluded: a fixed, data-independent support). Since a
clipped logit moves by at most ``D`` whatever the input, the probability of any output token
changes by at most a factor ``e^eps`` between any two inputs, so each replacement is
``eps``-DP with respect to the whole record, and a record costs ``eps * (number of replaced
tokens)`` by sequential composition. Every token is replaced (keeping a token unchanged would
not be private). The public code's top-K variant is not rigorously DP and is not offered.

Fixed output length (OURS; the paper rewrites token for token, which releases each record's
length exactly). Every rewritten field has exactly ``output_length`` tokens: a longer text is
truncated to its first ``output_length`` tokens (the rest is not released at all), a shorter
one is padded with mask tokens, whose positions are sampled like any other. Each of the
``output_length`` sampled positions costs ``epsilon_per_token``, so a field costs
``output_length * epsilon_per_token`` whatever its true length: the per-record epsilon scales
linearly with the configured length (sequential composition). ``output_length=None`` restores
the length-preserving rewrite, which leaks the length and costs ``len * epsilon_per_token``.

Randomness: the sampling coins come from ``os.urandom`` unless ``simulation_seed`` is given
(:mod:`lab.privacy.randomness`); a known seed voids the guarantee.

OURS (the paper is silent or differs): the masked position is predicted from the original
record with only that position masked (the paper feeds the original and the partially
rewritten sentence); the clip range is a config field with a data-independent default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import InitVar, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from lab.core import ConfigError, DataError, get_device, progress, require, seeded

from ..randomness import resolve_simulation_seed, secret_uniforms
from .data import QAItem, TofuData

__all__ = [
    "DPMLMConfig",
    "DPMLMRewriter",
    "MLMTrainConfig",
    "exponential_mechanism_probs",
    "load_masked_lm",
    "sanitize_tofu",
    "train_small_mlm",
]


def exponential_mechanism_probs(
    logits: torch.Tensor,
    epsilon: float,
    clip: tuple[float, float],
    *,
    support: torch.Tensor | None = None,
) -> torch.Tensor:
    """The exponential mechanism over clipped logits (float64).

    Args:
        logits: ``[..., V]`` utilities.
        epsilon: the per-token epsilon.
        clip: ``(a, b)`` with ``a < b``; sensitivity ``D = b - a``.
        support: optional boolean ``[V]`` mask of allowed outputs (fixed, data-independent).

    Returns:
        ``softmax(clip(logits, a, b) * eps / (2 D))`` over the support, in float64.
    """
    a, b = float(clip[0]), float(clip[1])
    if not (math.isfinite(a) and math.isfinite(b) and a < b):
        raise ConfigError(f"clip range must be finite with a < b, got {clip}")
    if not (epsilon > 0 and math.isfinite(epsilon)):
        raise ConfigError(f"epsilon must be positive and finite, got {epsilon}")
    u = logits.double().clamp(a, b) * (epsilon / (2.0 * (b - a)))
    if support is not None:
        if not bool(support.any()):
            raise ConfigError("the support of the exponential mechanism is empty")
        u = u.masked_fill(~support.to(u.device), -math.inf)
    return torch.softmax(u, dim=-1)


@dataclass(frozen=True)
class DPMLMConfig:
    """DP-MLM rewriting.

    Attributes:
        epsilon_per_token: epsilon of each token replacement.
        clip_min: lower end a of the logit clip range (OURS default).
        clip_max: upper end b of the logit clip range (OURS default; fix both independently
            of the data being sanitised).
        batch_size: positions scored per forward pass.
        fields: which QA fields are rewritten (OURS default both question and answer).
        output_length: tokens in every rewritten field (truncate or pad; module docstring);
            a field costs ``output_length * epsilon_per_token``. ``None``: keep each text's
            length (leaks it). OURS default 32, data-independent.
        simulation_seed: ``None`` (default): sampling coins from OS entropy. An integer makes
            rewrites reproducible and voids the guarantee (simulations only).
        seed: deprecated name of ``simulation_seed`` (init-only; DeprecationWarning).
    """

    epsilon_per_token: float = 10.0
    clip_min: float = -5.0
    clip_max: float = 10.0
    batch_size: int = 256
    fields: tuple[str, ...] = ("question", "answer")
    output_length: int | None = 32
    simulation_seed: int | None = None
    seed: InitVar[int | None] = None

    def __post_init__(self, seed: int | None) -> None:
        object.__setattr__(
            self,
            "simulation_seed",
            resolve_simulation_seed(self.simulation_seed, seed, "DPMLMConfig"),
        )
        if self.output_length is not None and (
            isinstance(self.output_length, bool)
            or not isinstance(self.output_length, int)
            or self.output_length < 1
        ):
            raise ConfigError(
                f"output_length must be a positive integer or None, got {self.output_length!r}"
            )
        if not (self.epsilon_per_token > 0 and math.isfinite(self.epsilon_per_token)):
            raise ConfigError(f"epsilon_per_token must be positive, got {self.epsilon_per_token}")
        if not self.clip_min < self.clip_max:
            raise ConfigError(f"need clip_min < clip_max, got {self.clip_min}, {self.clip_max}")
        bad = [f for f in self.fields if f not in ("question", "answer")]
        if bad or not self.fields:
            raise ConfigError(
                f"fields must be a non-empty subset of question/answer, got {self.fields}"
            )
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class RewriteResult:
    """A rewritten text and its privacy cost."""

    text: str
    epsilon: float
    n_tokens: int


class DPMLMRewriter:
    """Rewrite texts token by token with a masked LM and the exponential mechanism.

    Args:
        mlm: a Hugging Face masked LM (``AutoModelForMaskedLM``).
        tokenizer: its tokenizer (needs a mask token).
        config: :class:`DPMLMConfig`.
        device: where the masked LM runs.
    """

    def __init__(
        self,
        mlm: Any,
        tokenizer: Any,
        config: DPMLMConfig | None = None,
        *,
        device: torch.device | str | None = None,
    ):
        if tokenizer.mask_token_id is None:
            raise ConfigError("the DP-MLM tokenizer needs a mask token")
        self.config = config or DPMLMConfig()
        self.device = get_device(device)
        self.mlm = mlm.to(self.device).eval()
        self.tokenizer = tokenizer
        vocab = int(self.mlm.get_output_embeddings().weight.shape[0])
        support = torch.ones(vocab, dtype=torch.bool)
        for i in tokenizer.all_special_ids:
            if 0 <= i < vocab:
                support[i] = False
        self.support = support
        sim = self.config.simulation_seed
        self.generator = None if sim is None else torch.Generator().manual_seed(sim)

    def _ids(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise DataError(f"text {text!r} has no tokens to rewrite")
        return list(ids)

    def fixed_length_ids(self, text: str) -> list[int]:
        """The token ids that are rewritten: ``text``'s tokens truncated or padded with mask
        tokens to ``output_length`` (unchanged when it is ``None``)."""
        ids = self._ids(text)
        n = self.config.output_length
        if n is None:
            return ids
        return ids[:n] + [int(self.tokenizer.mask_token_id)] * max(0, n - len(ids))

    def _sample(self, probs: torch.Tensor) -> torch.Tensor:
        """One draw per row of ``probs`` (secret coins unless a simulation seed is set)."""
        if self.generator is not None:
            return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)
        cdf = probs.cumsum(-1)
        u = secret_uniforms(probs.shape[0]).to(cdf.dtype)[:, None] * cdf[:, -1:]
        idx = torch.searchsorted(cdf, u, right=True).squeeze(-1)
        return idx.clamp_max(probs.shape[-1] - 1)

    @torch.no_grad()
    def logits(self, input_ids: Sequence[int]) -> torch.Tensor:
        """Masked-LM logits ``[T, V]``: row ``i`` with position ``i`` masked."""
        ids = torch.as_tensor(list(input_ids), dtype=torch.long)
        t = len(ids)
        out = []
        for s in range(0, t, self.config.batch_size):
            pos = torch.arange(s, min(t, s + self.config.batch_size))
            batch = ids.repeat(len(pos), 1)
            batch[torch.arange(len(pos)), pos] = self.tokenizer.mask_token_id
            logits = self.mlm(input_ids=batch.to(self.device)).logits
            out.append(logits[torch.arange(len(pos)), pos].float().cpu())
        return torch.cat(out)

    def distribution(self, input_ids: Sequence[int], position: int | None = None) -> torch.Tensor:
        """The sampling distribution (float64) at ``position`` (``[V]``) or at all (``[T, V]``).

        This is what a privacy audit checks: for any two inputs the probabilities of every
        output token differ by at most a factor ``e^epsilon_per_token``.
        """
        lg = self.logits(input_ids)
        if position is not None:
            if not 0 <= position < lg.shape[0]:
                raise ConfigError(f"position {position} outside a text of {lg.shape[0]} tokens")
            lg = lg[position]
        cfg = self.config
        return exponential_mechanism_probs(
            lg, cfg.epsilon_per_token, (cfg.clip_min, cfg.clip_max), support=self.support
        )

    def rewrite(self, text: str) -> RewriteResult:
        """Rewrite ``text`` into ``output_length`` sampled tokens (every position replaced);
        the cost is ``epsilon_per_token`` per output token."""
        ids = self.fixed_length_ids(text)
        probs = self.distribution(ids)
        new = self._sample(probs)
        out = self.tokenizer.decode(new.tolist(), skip_special_tokens=True)
        return RewriteResult(out, self.config.epsilon_per_token * len(ids), len(ids))

    def rewrite_items(self, items: Sequence[QAItem]) -> tuple[list[QAItem], list[float]]:
        """Rewrite the configured fields of QA items; returns the items and per-record epsilons.

        Fields not rewritten are kept verbatim (they are not protected); the paraphrased and
        perturbed variants are dropped.
        """
        out, eps = [], []
        for q in progress(items, desc="dp-mlm", total=len(items)):
            changes: dict[str, str] = {}
            e = 0.0
            for f in self.config.fields:
                r = self.rewrite(getattr(q, f))
                changes[f] = r.text if r.text.strip() else self.tokenizer.unk_token
                e += r.epsilon
            # the un-rewritten variants would leak the record: they are dropped
            out.append(
                replace(
                    q,
                    **changes,
                    paraphrased_answer=None,
                    paraphrased_question=None,
                    perturbed_answers=(),
                )
            )
            eps.append(e)
        return out, eps


def sanitize_tofu(
    data: TofuData, rewriter: DPMLMRewriter
) -> tuple[TofuData, dict[str, float | int | None]]:
    """Rewrite the training splits (forget and retain) of ``data`` for training a DP base.

    Only ``question``/``answer`` (the configured fields) are kept, rewritten; the paraphrased
    and perturbed variants and the retain evaluation set (private text) are dropped, and the
    public real-authors, world-facts and pretraining sets are kept. Evaluate models against
    the original data.

    Returns:
        The sanitised instance and a report: per-record epsilon (max and mean) and the
        author-level epsilon (the largest sum over one author's records).
    """
    forget, ef = rewriter.rewrite_items(data.forget)
    retain, er = rewriter.rewrite_items(data.retain)
    per_author: dict[str, float] = {}
    for q, e in zip((*data.forget, *data.retain), (*ef, *er), strict=True):
        per_author[q.author] = per_author.get(q.author, 0.0) + e
    allrec = ef + er
    report = {
        "record_epsilon_max": max(allrec),
        "record_epsilon_mean": sum(allrec) / len(allrec),
        "author_epsilon": max(per_author.values()),
        "epsilon_per_token": rewriter.config.epsilon_per_token,
        "output_length": rewriter.config.output_length,
    }
    return replace(data, forget=tuple(forget), retain=tuple(retain), retain_eval=()), report


@dataclass(frozen=True)
class MLMTrainConfig:
    """A small BERT masked LM trained on the corpus (when no local MLM is given).

    Attributes:
        n_layer: layers.
        n_embd: width.
        n_head: attention heads.
        steps: AdamW steps.
        batch_size: sequences per step.
        lr: learning rate.
        mask_prob: share of tokens masked per sequence (BERT: 0.15; OURS 0.25 for small data).
        max_length: longest sequence.
        seed: seed.
    """

    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    steps: int = 300
    batch_size: int = 64
    lr: float = 2e-3
    mask_prob: float = 0.25
    max_length: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ConfigError(f"invalid MLMTrainConfig {self}")
        if not 0 < self.mask_prob < 1:
            raise ConfigError(f"mask_prob must be in (0, 1), got {self.mask_prob}")


def train_small_mlm(
    texts: Sequence[str],
    tokenizer: Any,
    config: MLMTrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
) -> Any:
    """Train a small ``BertForMaskedLM`` on ``texts`` with ``tokenizer`` (needs a mask token).

    The corpus must be public or already-sanitised text: the masked LM itself is not trained
    privately, so training it on the private records would void DP-MLM's guarantee.
    """
    tf = require("transformers", "labworks-privacy[unlearning]")
    cfg = config or MLMTrainConfig()
    if tokenizer.mask_token_id is None:
        raise ConfigError("the tokenizer needs a mask token")
    if not texts:
        raise DataError("cannot train a masked LM on an empty corpus")
    dev = get_device(device)
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"][: cfg.max_length] for t in texts]
    rows = [r for r in rows if r]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    mask = ids != tokenizer.pad_token_id
    hf = tf.BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.n_embd,
        num_hidden_layers=cfg.n_layer,
        num_attention_heads=cfg.n_head,
        intermediate_size=4 * cfg.n_embd,
        max_position_embeddings=max(cfg.max_length, width),
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    with seeded(cfg.seed):
        model = tf.BertForMaskedLM(hf)
    model.to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    for _ in progress(range(cfg.steps), desc="mlm", total=cfg.steps):
        idx = torch.randint(len(rows), (min(cfg.batch_size, len(rows)),), generator=g)
        x, m = ids[idx], mask[idx]
        sel = (torch.rand(x.shape, generator=g) < cfg.mask_prob) & m
        sel[~sel.any(1), 0] = True  # at least one masked token per row
        labels = torch.where(sel, x, torch.full_like(x, -100))
        inp = torch.where(sel, torch.full_like(x, tokenizer.mask_token_id), x)
        loss = model(
            input_ids=inp.to(dev), attention_mask=m.long().to(dev), labels=labels.to(dev)
        ).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def load_masked_lm(
    path: str | Path, *, device: torch.device | str | None = None
) -> tuple[Any, Any]:
    """``(masked LM, tokenizer)`` from a local directory (no hub access)."""
    tf = require("transformers", "labworks-privacy[unlearning]")
    root = Path(path)
    if not (root / "config.json").is_file():
        raise DataError(f"{str(root)!r} is not a local model directory (no config.json)")
    try:
        tok = tf.AutoTokenizer.from_pretrained(root, local_files_only=True)
        model = tf.AutoModelForMaskedLM.from_pretrained(root, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot load a masked LM from {str(root)!r}: {exc}") from exc
    return model.to(get_device(device)).eval(), tok
