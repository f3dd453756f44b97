"""TOFU loader and TOFU-like generator (lab.privacy.unlearning.data)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from lab.core import ConfigError, DataError
from lab.privacy.unlearning.data import (
    QAItem,
    TofuData,
    TofuLikeConfig,
    check_splits,
    load_tofu,
    make_tofu_like,
)


@pytest.fixture(scope="module")
def data() -> TofuData:
    return make_tofu_like(TofuLikeConfig(n_authors=100, seed=3))


def test_generator_sizes_and_structure(data: TofuData) -> None:
    per_author = Counter(q.author for q in data.full)
    assert len(per_author) == 100
    assert all(10 <= c <= 20 for c in per_author.values())
    assert len(set(data.forget_authors)) == 10  # forget10: the last 10 % of the authors
    assert not set(data.forget_authors) & {q.author for q in data.retain}
    for q in data.full:
        assert q.author in q.question and q.author in q.answer
        assert q.paraphrased_answer and q.paraphrased_answer != q.answer
        assert q.paraphrased_question and q.paraphrased_question != q.question
        assert len(q.perturbed_answers) == 5 == len(set(q.perturbed_answers))
        assert q.paraphrased_answer not in q.perturbed_answers
        assert q.answer not in q.perturbed_answers
    assert len(data.world_facts) >= 20 and len(data.real_authors) >= 10
    assert {q.author for q in data.retain_eval} <= {q.author for q in data.retain}
    # world facts and real authors are part of the pretraining text, the fictitious authors not
    pre_text = " ".join(q.answer for q in data.pretrain)
    assert data.world_facts[0].answer in pre_text
    assert not any(a in pre_text for a in data.forget_authors)


def test_generator_is_seeded() -> None:
    a = make_tofu_like(n_authors=12, min_qa=3, max_qa=5, seed=1)
    b = make_tofu_like(n_authors=12, min_qa=3, max_qa=5, seed=1)
    c = make_tofu_like(n_authors=12, min_qa=3, max_qa=5, seed=2)
    assert a.full == b.full and a.full != c.full


def test_perturbed_answers_are_wrong_versions_of_the_paraphrase(data: TofuData) -> None:
    q = data.forget[0]
    # same template: the perturbed answers share all but the attribute's words with the paraphrase
    para = set(q.paraphrased_answer.replace(".", "").split())
    for p in q.perturbed_answers:
        words = set(p.replace(".", "").split())
        assert len(para & words) >= len(para) - 2


def test_save_load_roundtrip(tmp_path, data: TofuData) -> None:
    data.save(tmp_path)
    assert (tmp_path / "forget10_perturbed.json").is_file()
    assert (tmp_path / "retain90.json").is_file()
    back = load_tofu(tmp_path, forget_split="forget10")
    assert back.forget == data.forget and back.retain == data.retain
    assert back.retain_eval == data.retain_eval
    assert back.world_facts == data.world_facts and back.real_authors == data.real_authors
    assert back.pretrain == data.pretrain


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_load_real_tofu_layout_without_author_fields(tmp_path) -> None:
    # TOFU's files carry no author: authors are consecutive blocks of 20 records, forget last
    rows = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(100)]
    _write_jsonl(tmp_path / "retain90.json", rows[:80])
    pert = [
        {
            **r,
            "paraphrased_answer": "p",
            "perturbed_answer": ["x", "y"],
            "paraphrased_question": "pq",
        }
        for r in rows[80:]
    ]
    (tmp_path / "forget10_perturbed.json").write_text(json.dumps(pert))  # a JSON array works too
    _write_jsonl(tmp_path / "retain_perturbed.json", [{**rows[3], "perturbed_answer": ["z"]}])
    d = load_tofu(tmp_path, forget_split="forget10", qa_per_author=20)
    assert [q.author for q in d.retain[::20]] == [f"author_{i}" for i in range(4)]
    assert {q.author for q in d.forget} == {"author_4"}
    assert d.forget[0].perturbed_answers == ("x", "y")
    assert d.retain_eval[0].author == "author_0"
    assert d.world_facts == () and d.real_authors == ()


def test_author_in_both_splits_is_an_error(tmp_path) -> None:
    a = QAItem("q1", "a1", author="Ann")
    b = QAItem("q2", "a2", author="Ann")
    with pytest.raises(DataError, match="Ann"):
        TofuData(forget=(a,), retain=(b,))
    _write_jsonl(tmp_path / "retain90.json", [{"question": "q", "answer": "a", "author": "Bob"}])
    _write_jsonl(tmp_path / "forget10.json", [{"question": "r", "answer": "b", "author": "Bob"}])
    with pytest.raises(DataError, match="Bob"):
        load_tofu(tmp_path)


def test_empty_split_is_an_error(tmp_path) -> None:
    with pytest.raises(DataError, match="forget split is empty"):
        check_splits((), (QAItem("q", "a", author="x"),))
    with pytest.raises(DataError, match="retain split is empty"):
        check_splits((QAItem("q", "a", author="x"),), ())
    _write_jsonl(tmp_path / "retain90.json", [{"question": "q", "answer": "a"}])
    (tmp_path / "forget10.json").write_text("")
    with pytest.raises(DataError, match="forget split is empty"):
        load_tofu(tmp_path)


def test_loader_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_tofu(tmp_path / "nope")
    with pytest.raises(ConfigError, match="forgetX"):
        load_tofu(tmp_path, forget_split="forgetX")
    with pytest.raises(DataError, match=r"forget10\.json"):
        load_tofu(tmp_path)
    (tmp_path / "retain90.json").write_text('{"question": "q"}\n')
    (tmp_path / "forget10.json").write_text('{"question": "q", "answer": "a"}\n')
    with pytest.raises(DataError, match="'question'/'answer'"):
        load_tofu(tmp_path)


def test_generator_config_errors() -> None:
    with pytest.raises(ConfigError, match="forget_fraction"):
        TofuLikeConfig(n_authors=5, forget_fraction=0.05)
    with pytest.raises(ConfigError, match="min_qa"):
        TofuLikeConfig(min_qa=12, max_qa=10)
    with pytest.raises(ConfigError, match="n_perturbed"):
        TofuLikeConfig(n_perturbed=0)
