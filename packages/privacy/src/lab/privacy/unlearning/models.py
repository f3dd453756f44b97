"""Causal language models and tokenizers that need no download.

- :func:`build_word_tokenizer`: a word-level tokenizer built locally from a corpus with the
  ``tokenizers`` library (small vocabulary, so tiny models learn fast), wrapped as a
  ``transformers.PreTrainedTokenizerFast`` with pad/eos/bos/unk/mask tokens.
- :func:`causal_lm_from_config`: any Hugging Face causal LM architecture built from a config
  (GPT-2 and Llama presets; any ``transformers`` config object is accepted too).
- :func:`load_causal_lm` / :func:`save_causal_lm`: a local directory (``save_pretrained``
  layout, model and tokenizer); nothing is fetched from the hub (``local_files_only=True``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from lab.core import ConfigError, DataError, get_device, require, seeded

from .data import format_prompt

__all__ = [
    "CausalLMConfig",
    "build_word_tokenizer",
    "causal_lm_from_config",
    "load_causal_lm",
    "save_causal_lm",
    "unwrap_model",
]

_SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>")


def _transformers() -> Any:
    return require("transformers", "labworks-privacy[unlearning]")


def build_word_tokenizer(texts: Iterable[str], *, min_frequency: int = 1) -> Any:
    """A word-level tokenizer trained locally on ``texts``.

    Words and punctuation runs (``\\w+|[^\\w\\s]+``) are tokens (plus the words of the
    QA prompt of :func:`format_prompt`); a word seen fewer than
    ``min_frequency`` times maps to ``<unk>``. Special tokens: ``<pad>`` (id 0), ``<eos>``,
    ``<bos>``, ``<unk>``, ``<mask>`` (the last one for the DP-MLM masked LM). Decoding joins
    tokens with spaces.

    Raises:
        DataError: the corpus is empty.
    """
    tokenizers = require("tokenizers", "labworks-privacy[unlearning]")
    tf = _transformers()
    texts = [t for t in texts if t]
    if not texts:
        raise DataError("cannot build a tokenizer from an empty corpus")
    texts.append(format_prompt(""))  # the prompt's own words are always in the vocabulary
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    trainer = tokenizers.trainers.WordLevelTrainer(
        special_tokens=list(_SPECIALS), min_frequency=min_frequency, show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tf.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        mask_token="<mask>",
    )


@dataclass(frozen=True)
class CausalLMConfig:
    """A causal LM built from a config (random initialisation).

    Attributes:
        arch: ``"gpt2"`` (``GPT2LMHeadModel``) or ``"llama"`` (``LlamaForCausalLM``).
        n_layer: depth.
        n_embd: width.
        n_head: attention heads.
        max_positions: context length.
        dropout: dropout of GPT-2 (residual, embedding, attention) and Llama attention.
        tie_word_embeddings: tie the output layer to the input embedding (GPT-2's default).
            DP-SGD in Opacus' hooks mode handles tied weights (the per-sample gradients of the
            two uses are summed; checked against a per-example loop in the tests), ghost
            clipping does not.
        seed: initialisation seed (the global RNG is left as it was).
    """

    arch: Literal["gpt2", "llama"] = "gpt2"
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    max_positions: int = 128
    dropout: float = 0.0
    tie_word_embeddings: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.arch not in ("gpt2", "llama"):
            raise ConfigError(f"arch must be 'gpt2' or 'llama', got {self.arch!r}")
        for name in ("n_layer", "n_embd", "n_head", "max_positions"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


def causal_lm_from_config(
    tokenizer: Any,
    config: CausalLMConfig | Any | None = None,
    *,
    device: torch.device | str | None = None,
) -> Any:
    """Build a randomly initialised causal LM for ``tokenizer``.

    Args:
        tokenizer: its size and pad/eos/bos ids set the model's vocabulary and special ids.
        config: a :class:`CausalLMConfig` preset, or any ``transformers.PretrainedConfig`` of a
            causal LM (built with ``AutoModelForCausalLM.from_config``).
        device: where the model lives.
    """
    tf = _transformers()
    config = config if config is not None else CausalLMConfig()
    ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.bos_token_id,
    }
    vocab = len(tokenizer)
    if isinstance(config, CausalLMConfig):
        seed = config.seed
        if config.arch == "gpt2":
            hf: Any = tf.GPT2Config(
                vocab_size=vocab,
                n_positions=config.max_positions,
                n_embd=config.n_embd,
                n_layer=config.n_layer,
                n_head=config.n_head,
                resid_pdrop=config.dropout,
                embd_pdrop=config.dropout,
                attn_pdrop=config.dropout,
                tie_word_embeddings=config.tie_word_embeddings,
                **ids,
            )
        else:
            hf = tf.LlamaConfig(
                vocab_size=vocab,
                hidden_size=config.n_embd,
                intermediate_size=4 * config.n_embd,
                num_hidden_layers=config.n_layer,
                num_attention_heads=config.n_head,
                num_key_value_heads=config.n_head,
                max_position_embeddings=config.max_positions,
                attention_dropout=config.dropout,
                tie_word_embeddings=config.tie_word_embeddings,
                **ids,
            )
    elif isinstance(config, tf.PretrainedConfig):
        hf, seed = config, 0
        if getattr(hf, "vocab_size", vocab) < vocab:
            raise ConfigError(
                f"config vocab_size={hf.vocab_size} is smaller than the tokenizer ({vocab})"
            )
    else:
        raise ConfigError(f"config must be a CausalLMConfig or a PretrainedConfig, got {config!r}")
    with seeded(seed):
        model = tf.AutoModelForCausalLM.from_config(hf)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.to(get_device(device))


def load_causal_lm(
    path: str | Path, *, device: torch.device | str | None = None
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a local ``save_pretrained`` directory (no hub access).

    Raises:
        DataError: the directory does not exist or holds no model/tokenizer.
    """
    tf = _transformers()
    root = Path(path)
    if not (root / "config.json").is_file():
        raise DataError(f"{str(root)!r} is not a local model directory (no config.json)")
    try:
        tok = tf.AutoTokenizer.from_pretrained(root, local_files_only=True)
        model = tf.AutoModelForCausalLM.from_pretrained(root, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot load a causal LM from {str(root)!r}: {exc}") from exc
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise DataError(f"the tokenizer in {str(root)!r} has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token  # OURS: a common convention for causal LMs without pad
    model.generation_config.pad_token_id = tok.pad_token_id
    return model.to(get_device(device)), tok


def unwrap_model(model: Any) -> Any:
    """The plain Hugging Face model inside an Opacus ``GradSampleModule`` or DDP wrapper."""
    while True:
        inner = getattr(model, "_module", None) or getattr(model, "module", None)
        if isinstance(inner, torch.nn.Module) and inner is not model:
            model = inner
        else:
            return model


def save_causal_lm(model: Any, tokenizer: Any, path: str | Path) -> Path:
    """``save_pretrained`` the (unwrapped) model and its tokenizer into ``path``."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    unwrap_model(model).save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root
