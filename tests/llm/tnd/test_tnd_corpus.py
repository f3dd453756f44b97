"""The generated child-directed corpus, the BabyLM / CDI loaders and the vocabulary check."""

import logging

import numpy as np
import pytest

from lab.core import ConfigError, DataError
from lab.llm.tnd import (
    CDI_WORDS,
    build_word_tokenizer,
    check_vocabulary,
    child_directed_corpus,
    load_babylm,
    load_word_list,
    pack_sequences,
    word_counts,
)


def test_generated_corpus_vocabulary_categories_and_counts():
    c = child_directed_corpus(3000, 300, seed=1)
    assert len(c.words) >= 300
    assert len(set(c.words)) == len(c.words)
    assert set(c.categories.values()) == set(CDI_WORDS)
    assert len(CDI_WORDS) >= 15
    # frequencies are the exact counts in the training split
    assert c.frequencies == word_counts(c.train, c.words)
    assert sum(c.frequencies.values()) == sum(len(u.split()) for u in c.train)
    # every utterance uses only vocabulary words
    vocab = set(c.words)
    assert all(w in vocab for u in c.train + c.heldout for w in u.split())
    # same seed -> same corpus; another seed -> another one
    assert child_directed_corpus(3000, 300, seed=1).train == c.train
    assert child_directed_corpus(3000, 300, seed=2).train != c.train


def test_frequencies_follow_the_planted_zipf_law():
    c = child_directed_corpus(6000, 100, zipf_exponent=1.0, seed=0)
    nouns = [w for w in c.words if c.categories[w] == "descriptive_words"]  # one slot only
    p = np.array([c.probabilities[w] for w in nouns])
    f = np.array([c.frequencies[w] for w in nouns], dtype=float)
    # observed counts track the planted probabilities (Spearman via ranks)
    rp, rf = np.argsort(np.argsort(p)), np.argsort(np.argsort(f))
    assert np.corrcoef(rp, rf)[0, 1] > 0.9
    # Zipf: within a slot, frequency x rank is roughly constant -> log-log slope near -1
    top = np.sort(f)[::-1][:15]
    slope = np.polyfit(np.log(np.arange(1, 16)), np.log(top), 1)[0]
    assert -1.4 < slope < -0.6
    flat = child_directed_corpus(6000, 100, zipf_exponent=0.0, seed=0)
    ff = np.array([flat.frequencies[w] for w in nouns], dtype=float)
    assert ff.std() / ff.mean() < f.std() / f.mean() / 2


def test_corpus_bad_config():
    with pytest.raises(ConfigError, match="num_train"):
        child_directed_corpus(0, 10)
    with pytest.raises(ConfigError, match="zipf_exponent"):
        child_directed_corpus(10, 10, zipf_exponent=-1)


def test_load_babylm_file_and_folder(tmp_path):
    d = tmp_path / "babylm"
    d.mkdir()
    (d / "a.train").write_text("The dog is big\n\n  look at the CAT  \n", encoding="utf-8")
    (d / "b.train").write_text("where is mommy\nmore milk please\n", encoding="utf-8")
    (d / "notes.md").write_text("ignored\n", encoding="utf-8")
    c = load_babylm(d, words=["dog", "cat", "milk", "zebra"], heldout_fraction=0.25, seed=0)
    assert len(c.train) + len(c.heldout) == 4
    assert len(c.heldout) == 1
    assert all(u == u.lower() for u in c.train)
    allw = word_counts(c.train + c.heldout, ["dog", "cat", "milk", "zebra"])
    assert allw == {"dog": 1, "cat": 1, "milk": 1, "zebra": 0}
    one = load_babylm(d / "a.train", words={"dog": "animals"}, max_lines=2)
    assert len(one.train) + len(one.heldout) == 2
    assert one.categories == {"dog": "animals"}
    with pytest.raises(DataError, match="does not exist"):
        load_babylm(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \.train"):
        load_babylm(tmp_path / "empty")
    (tmp_path / "one.txt").write_text("just one line\n")
    with pytest.raises(DataError, match="1 non-empty"):
        load_babylm(tmp_path / "one.txt")


def test_load_word_list_formats(tmp_path):
    plain = tmp_path / "w.txt"
    plain.write_text("dog\ncat\n\nchicken (animal)\n", encoding="utf-8")
    assert load_word_list(plain) == {"dog": "unknown", "cat": "unknown", "chicken": "unknown"}
    csvf = tmp_path / "cdi.csv"
    csvf.write_text("category,definition\nanimals,Dog\nfood,drink (beverage)\n", encoding="utf-8")
    assert load_word_list(csvf) == {"dog": "animals", "drink": "food"}
    dup = tmp_path / "dup.txt"
    dup.write_text("dog\nDog\n")
    with pytest.raises(DataError, match="more than once"):
        load_word_list(dup)
    with pytest.raises(DataError, match="does not exist"):
        load_word_list(tmp_path / "missing.csv")


def test_words_that_are_not_one_token_are_reported(caplog):
    tok = build_word_tokenizer(["the dog runs", "a cat"], words=["dog", "cat"])
    with caplog.at_level(logging.WARNING, logger="lab.llm.tnd"):
        chk = check_vocabulary(tok, ["dog", "cat", "teddy bear", "zebra"])
    assert set(chk.ids) == {"dog", "cat"}
    assert chk.not_single_token == ("teddy bear", "zebra")
    assert "teddy bear" in caplog.text and "zebra" in caplog.text
    ids = tok("<bos> the dog", add_special_tokens=False)["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[2] == chk.ids["dog"]
    assert tok.decode(ids, skip_special_tokens=True) == "the dog"


def test_tokenizer_vocab_size_cap():
    tok = build_word_tokenizer(["a a a b b c"], words=["z"], vocab_size=8)
    assert len(tok) == 8  # 4 specials + separator + z + a + b
    assert tok("c", add_special_tokens=False)["input_ids"] == [tok.unk_token_id]
    with pytest.raises(ConfigError, match="vocab_size"):
        build_word_tokenizer(["a"], words=["x", "y"], vocab_size=5)
    with pytest.raises(DataError):
        build_word_tokenizer([])


def test_pack_sequences():
    seqs = pack_sequences(["a b c", "d e"], seq_words=4)
    assert seqs == ["<bos> a b c .", "<bos> d e ."]
    with pytest.raises(ConfigError):
        pack_sequences(["a"], seq_words=1)
    with pytest.raises(DataError):
        pack_sequences([])
