"""Causal language models built from a config, without downloads (shared by PODS and TnD).

- :func:`tiny_causal_lm`: a GPT-2 or Llama built from a config (random weights).
- :func:`wrap_causal_tokenizer`: a ``tokenizers.Tokenizer`` as the left-padding causal-LM
  tokenizer both methods use.

The PODS-only builders that lived here before 0.2 (:func:`build_tokenizer`, :class:`SFTConfig`,
:func:`sft_warm_start`, :func:`load_smollm2`) moved to :mod:`lab.llm.pods.models`; the old
names still resolve, with a ``DeprecationWarning``, until labworks 0.3.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from lab.core import ConfigError, get_device, moved_attributes

__all__ = ["tiny_causal_lm", "wrap_causal_tokenizer"]


def wrap_causal_tokenizer(tokenizer: Any) -> Any:
    """Wrap a ``tokenizers.Tokenizer`` as a ``transformers.PreTrainedTokenizerFast`` for causal
    LMs: special tokens ``<pad>``, ``<eos>``, ``<bos>``, ``<unk>`` (which the tokenizer's
    vocabulary must hold) and left padding (generation appends on the right)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        padding_side="left",
    )


def tiny_causal_lm(
    vocab_size: int | Any,
    *,
    arch: Literal["gpt2", "llama"] = "gpt2",
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    max_positions: int = 256,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> Any:
    """A small randomly initialised causal LM built from a config (no weights downloaded).

    Args:
        vocab_size: an int, or a tokenizer (its ``len`` and special token ids are used).
        arch: ``"gpt2"`` (``GPT2LMHeadModel``) or ``"llama"`` (``LlamaForCausalLM``).
        n_layer: depth.
        n_embd: width.
        n_head: attention heads.
        max_positions: context length.
        seed: initialisation seed (the global RNG is left as it was).
        device: where the model lives.

    Dropout is 0 so that log-probs at sampling time and at update time agree (OURS).
    """
    import transformers as tf

    from lab.core import seeded

    tok = None if isinstance(vocab_size, int) else vocab_size
    V = int(vocab_size) if tok is None else len(tok)
    ids: dict[str, Any] = {}
    if tok is not None:
        ids = {
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": tok.eos_token_id,
            "bos_token_id": tok.bos_token_id,
        }
    if arch == "gpt2":
        cfg: Any = tf.GPT2Config(
            vocab_size=V,
            n_positions=max_positions,
            n_embd=n_embd,
            n_layer=n_layer,
            n_head=n_head,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            **ids,
        )
        cls: Any = tf.GPT2LMHeadModel
    elif arch == "llama":
        cfg = tf.LlamaConfig(
            vocab_size=V,
            hidden_size=n_embd,
            intermediate_size=4 * n_embd,
            num_hidden_layers=n_layer,
            num_attention_heads=n_head,
            num_key_value_heads=n_head,
            max_position_embeddings=max_positions,
            attention_dropout=0.0,
            **ids,
        )
        cls = tf.LlamaForCausalLM
    else:
        raise ConfigError(f"arch must be 'gpt2' or 'llama', got {arch!r}")
    with seeded(seed):
        model = cls(cfg)
    if tok is not None:
        model.generation_config.pad_token_id = tok.pad_token_id
        model.generation_config.eos_token_id = tok.eos_token_id
    return model.to(get_device(device))


__getattr__ = moved_attributes(
    __name__,
    {
        name: "lab.llm.pods.models"
        for name in ("SFTConfig", "build_tokenizer", "load_smollm2", "sft_warm_start")
    },
)
