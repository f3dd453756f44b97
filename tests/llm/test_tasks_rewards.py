"""Tasks (arithmetic generator, GSM8K loader) and the TRL-style reward combination."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

from lab.core import ConfigError, DataError
from lab.llm.pods import (
    arithmetic_reward,
    arithmetic_task,
    compute_rewards,
    extract_gsm8k_answer,
    gsm8k_correctness_reward,
    gsm8k_format_reward,
    gsm8k_tag_reward,
    load_gsm8k,
)


def _eval_word(prompt: str) -> int:
    nums = [int(x) for x in re.findall(r"\d+", prompt)]
    total = nums[0]
    sentences = prompt.split(". ")[1:]
    for x, sent in zip(nums[1:], sentences, strict=False):
        total += -x if any(w in sent for w in ("gives away", "loses", "sells")) else x
    return total


def test_arithmetic_answers_are_exact():
    eq = arithmetic_task(300, difficulty=2, num_terms=3, style="equation", seed=1)
    for e in eq:
        assert e["prompt"].endswith("=")
        assert eval(e["prompt"][:-1]) == int(e["answer"])
        assert int(e["answer"]) >= 0
    words = arithmetic_task(200, difficulty=1, seed=2)
    for e in words:
        assert e["prompt"].startswith("Question: ") and e["prompt"].endswith("\nAnswer:")
        assert _eval_word(e["prompt"]) == int(e["answer"])
        assert e["completion"] == f" {e['answer']}"


def test_difficulty_knob_and_determinism():
    easy = arithmetic_task(500, difficulty=1, operations=("+",), style="equation")
    hard = arithmetic_task(500, difficulty=3, operations=("+",), style="equation")
    assert max(int(e["answer"]) for e in easy) <= 18
    assert max(int(e["answer"]) for e in hard) > 1000
    assert arithmetic_task(20, seed=3) == arithmetic_task(20, seed=3)
    assert arithmetic_task(20, seed=3) != arithmetic_task(20, seed=4)
    with pytest.raises(ConfigError, match="difficulty"):
        arithmetic_task(5, difficulty=0)
    with pytest.raises(ConfigError, match="operations"):
        arithmetic_task(5, operations=("*",))


def test_arithmetic_reward():
    r = arithmetic_reward(
        ["p"] * 4, [" 12", "12 apples", " 1 2", "no"], answer=["12", "12", "12", "12"]
    )
    assert r == [1.0, 1.0, 0.0, 0.0]


def _write_gsm8k(path: Path) -> None:
    rows = [
        {"question": "Tom has 3 apples and buys 4. How many?", "answer": "3+4=<<3+4=7>>7\n#### 7"},
        {
            "question": "A shop sells 1,200 pens a day for 2 days.",
            "answer": "1200*2=<<1200*2=2400>>2400\n#### 2,400",
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_gsm8k_loader_and_extraction(tmp_path):
    _write_gsm8k(tmp_path / "test.jsonl")
    data = load_gsm8k(tmp_path, split="test")
    assert [d["answer"] for d in data] == ["7", "2400"]
    assert "<<" not in data[0]["completion"] and data[0]["completion"].endswith(
        "<answer>\n7\n</answer>"
    )
    assert "Question: Tom has 3 apples" in data[0]["prompt"]
    assert extract_gsm8k_answer("so\n#### 1,234") == "1234"
    assert load_gsm8k(tmp_path / "test.jsonl", limit=1)[0]["answer"] == "7"
    # the reference completion gets the full correctness + format + tag rewards
    comp = [d["completion"] for d in data]
    ans = [d["answer"] for d in data]
    assert gsm8k_correctness_reward(["p", "p"], comp, answer=ans) == [1.0, 1.0]
    assert gsm8k_format_reward(["p", "p"], comp) == [0.1, 0.1]
    assert gsm8k_tag_reward(["p", "p"], comp) == pytest.approx([0.1, 0.1])
    free = ["The total is 7 apples.", "<answer>2,400</answer> but 5", "I think 8"]
    assert gsm8k_correctness_reward(["p"] * 3, free, answer=["7", "2400", "7"]) == [1.0, 1.0, 0.0]
    assert gsm8k_format_reward(["p"] * 3, free) == [0.0, 0.0, 0.0]


def test_gsm8k_bad_input(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_gsm8k(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match=r"no train\.jsonl"):
        load_gsm8k(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "no final"}\n')
    with pytest.raises(DataError, match="####"):
        load_gsm8k(bad)
    bad.write_text("not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:1"):
        load_gsm8k(bad)


@pytest.mark.skipif(
    not os.environ.get("LABWORKS_DATA")
    or not (Path(os.environ.get("LABWORKS_DATA", "")) / "gsm8k").is_dir(),
    reason="real GSM8K not under $LABWORKS_DATA/gsm8k",
)
def test_real_gsm8k():
    data = load_gsm8k(Path(os.environ["LABWORKS_DATA"]) / "gsm8k", split="test")
    assert len(data) == 1319
    assert gsm8k_correctness_reward(
        [d["prompt"] for d in data],
        [d["completion"] for d in data],
        answer=[d["answer"] for d in data],
    ) == [1.0] * len(data)


def test_compute_rewards_weights_none_and_errors():
    def a(prompts, completions, **kw):
        return [1.0, None, None, 0.0]

    def b(prompts, completions, gold, **kw):
        return [
            *[0.5 if c == g else 0.0 for c, g in zip(completions, gold, strict=False)][:3],
            None,
        ]

    comps = ["x", "y", "z", "w"]
    per, total, excl = compute_rewards(
        [a, b], ["p"] * 4, comps, {"gold": ["x", "y", "q", "w"]}, weights=[2.0, 1.0]
    )
    assert math.isnan(per[1, 0].item()) and per[0, 1].item() == 0.5
    np.testing.assert_allclose(total.numpy(), [2.5, 0.5, 0.0, 0.0])
    assert excl.tolist() == [False, False, False, False]

    def none_for_odd(prompts, completions, **kw):
        return [None if i % 2 else 1.0 for i in range(len(completions))]

    _, total, excl = compute_rewards([none_for_odd], ["p"] * 4, comps)
    assert excl.tolist() == [False, True, False, True]
    with pytest.raises(DataError, match="returned 3 values for 4"):
        compute_rewards([lambda prompts, completions, **k: [1.0] * 3], ["p"] * 4, comps)
    with pytest.raises(DataError, match="nan"):
        compute_rewards(
            [lambda prompts, completions, **k: [1.0, float("nan"), 0.0, 0.0]], ["p"] * 4, comps
        )
    with pytest.raises(DataError, match="expected a number"):
        compute_rewards([lambda prompts, completions, **k: ["1"] * 4], ["p"] * 4, comps)
    with pytest.raises(ConfigError, match="weights"):
        compute_rewards([a], ["p"] * 4, comps, weights=[1.0, 2.0])


def test_gsm8k_experiment_end_to_end(tmp_path):
    from lab.llm.pods import ExperimentConfig, GRPOConfig, run_experiment

    _write_gsm8k(tmp_path / "train.jsonl")
    _write_gsm8k(tmp_path / "test.jsonl")
    exp = ExperimentConfig(
        task="gsm8k",
        data_path=str(tmp_path),
        train_size=2,
        eval_size=2,
        n_layer=1,
        n_embd=32,
        n_head=2,
        sft_steps=2,
        sft_batch_size=2,
        device="cpu",
        out=str(tmp_path / "runs"),
    )
    grpo = GRPOConfig(
        max_steps=1,
        prompts_per_step=2,
        num_generations=4,
        num_train_generations=2,
        max_completion_length=8,
    )
    res = run_experiment(exp, grpo, show_progress=False)
    h = res["history"][0]
    assert {
        "rewards/gsm8k_correctness_reward",
        "rewards/gsm8k_format_reward",
        "rewards/gsm8k_tag_reward",
    } <= set(h)
    assert 0.0 <= res["after"]["accuracy"] <= 1.0 and res["run_dir"] is not None
