"""Text: the planted-keyword task, TokenMasker with a tiny model, explanations and stability."""

import importlib.util

import pytest
import torch

from lab.core import ConfigError
from lab.explain import (
    AttributionConfig,
    MaskedClassifier,
    SCAConfig,
    TinyTextClassifier,
    TokenMasker,
    TrainConfig,
    accuracy,
    captum_attributions,
    planted_keyword_data,
    random_mask,
    soft_stability,
    top_k_mask,
    train_classifier,
)

L = 12


@pytest.fixture(scope="module")
def trained():
    inputs, labels, planted = planted_keyword_data(700, length=L, vocab_size=40, seed=0)
    model = TinyTextClassifier(40, 2, dim=16)
    train_classifier(
        model,
        {k: v[:500] for k, v in inputs.items()},
        labels[:500],
        TrainConfig(epochs=12, lr=1e-2),
        seed=0,
        device="cpu",
    )
    test = ({k: v[500:] for k, v in inputs.items()}, labels[500:], planted[500:])
    return model, test


def test_planted_data_is_consistent():
    inputs, labels, planted = planted_keyword_data(
        50, length=L, vocab_size=40, keywords_per_class=3, seed=1
    )
    ids = inputs["input_ids"]
    assert ids.shape == (50, L) and (inputs["attention_mask"] == 1).all()
    kw = ids < 6
    assert torch.equal(kw, planted.bool())
    assert ((ids[kw] // 3) == labels.view(-1, 1).expand(-1, L)[kw]).all()
    assert (planted.sum(1) >= 1).all() and (planted.sum(1) <= 3).all()


def test_tiny_model_learns_the_keywords(trained):
    model, (inputs, labels, _) = trained
    assert accuracy(model, inputs, labels) > 0.95


def test_keyword_explanations_are_more_stable_than_random(trained):
    model, (inputs, _, planted) = trained
    g = MaskedClassifier(model, TokenMasker(L))
    kw_rates, rnd_rates = [], []
    for i in range(12):
        x = {k: v[i] for k, v in inputs.items()}
        k = int(planted[i].sum())
        kw_rates.append(soft_stability(g, x, planted[i], 4, SCAConfig(), generator=i).rate)
        rnd_rates.append(
            soft_stability(g, x, random_mask(L, k, generator=i), 4, SCAConfig(), generator=i).rate
        )
    assert sum(kw_rates) / 12 > sum(rnd_rates) / 12 + 0.1
    assert min(kw_rates) > 0.8


@pytest.mark.skipif(importlib.util.find_spec("captum") is None, reason="needs Captum")
def test_integrated_gradients_on_tokens_finds_planted_keywords(trained):
    model, (inputs, _, planted) = trained
    g = MaskedClassifier(model, TokenMasker(L))
    hits, total = 0, 0
    for i in range(10):
        x = {k: v[i] for k, v in inputs.items()}
        k = int(planted[i].sum())
        mask = top_k_mask(captum_attributions(g, x, AttributionConfig(n_steps=16)), k)
        hits += int((mask * planted[i]).sum())
        total += k
    assert hits / total > 0.8


def test_token_mode_masker_drives_the_same_model(trained):
    model, (inputs, _, planted) = trained
    x = {k: v[0] for k, v in inputs.items()}
    g_tok = MaskedClassifier(model, TokenMasker(L, mode="token", mask_token_id=39))
    ones = torch.ones(1, L, dtype=torch.long)
    g_att = MaskedClassifier(model, TokenMasker(L))
    # no feature removed: both modes see the same input
    torch.testing.assert_close(g_tok(x, ones), g_att(x, ones))
    est = soft_stability(g_tok, x, planted[0], 2, generator=0)
    assert 0.0 <= est.rate <= 1.0 and est.n_samples == 150


def test_distractor_keywords_are_a_minority_of_other_classes():
    inputs, labels, planted = planted_keyword_data(
        80, length=L, vocab_size=40, n_classes=3, distractors=2, seed=4
    )
    ids = inputs["input_ids"]
    kw = ids < 9
    own = kw & (ids // 3 == labels.view(-1, 1))
    assert torch.equal(own, planted.bool())
    assert ((kw & ~own).sum(1) == 2).all()
    assert (planted.sum(1) >= 3).all() and (planted.sum(1) <= 5).all()
    with pytest.raises(ConfigError, match="cannot hold"):
        planted_keyword_data(5, length=6, distractors=2)
