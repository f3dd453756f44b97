"""Issue 19 for lab.privacy.unlearning: secret DP-SGD/DP-MLM coins by default, DP-MLM's fixed
output length, Opacus' unsupported layers and secure_mode named clearly."""

from __future__ import annotations

import importlib.util
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")
pytest.importorskip("transformers")

from lab.core import ConfigError  # noqa: E402
from lab.core.testing import assert_state_dicts_equal  # noqa: E402
from lab.privacy.unlearning import (  # noqa: E402
    DPConfig,
    DPMLMConfig,
    DPMLMRewriter,
    MLMTrainConfig,
    build_word_tokenizer,
    make_tofu_like,
    train_dp_classifier,
    train_small_mlm,
)

torch.set_num_threads(1)


def _linear(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Linear(4, 2)


def _xy():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    return x, (x[:, 0] > 0).long()


def _cfg(**kw) -> DPConfig:
    base = dict(target_epsilon=4.0, delta=1e-3, epochs=1, batch_size=16, accountant="rdp")
    return DPConfig(**{**base, **kw})


def test_dp_sgd_noise_and_sampling_are_secret_unless_a_simulation_seed_is_given() -> None:
    x, y = _xy()
    ra = train_dp_classifier(_linear(), x, y, _cfg(), device="cpu")
    a, b = ra.model, train_dp_classifier(_linear(), x, y, _cfg(), device="cpu").model
    assert not torch.equal(a.weight, b.weight)
    assert ra.privacy_report()["randomness"] == "os-entropy seed"
    rc = train_dp_classifier(_linear(), x, y, _cfg(simulation_seed=4), device="cpu")
    assert "no privacy guarantee" in str(rc.privacy_report()["randomness"])
    c = rc.model
    d = train_dp_classifier(_linear(), x, y, _cfg(simulation_seed=4), device="cpu").model
    assert_state_dicts_equal(c.state_dict(), d.state_dict(), atol=0.0)
    with pytest.warns(DeprecationWarning, match="simulation_seed"):
        old = _cfg(seed=4)
    assert old.simulation_seed == 4 and DPConfig().simulation_seed is None


def test_unsupported_layers_are_named_with_the_fix() -> None:
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2)
    )
    x, y = _xy()
    with pytest.raises(ConfigError, match=r"'1' \(BatchNorm1d.*ModuleValidator\.fix") as err:
        train_dp_classifier(model, x, y, _cfg(), device="cpu")
    assert "epsilon" not in str(err.value)  # no longer blamed on the privacy budget
    # the suggested fix works
    from opacus.validators import ModuleValidator

    fixed = ModuleValidator.fix(model)
    assert train_dp_classifier(fixed, x, y, _cfg(simulation_seed=0), device="cpu").steps > 0


@pytest.mark.skipif(
    importlib.util.find_spec("torchcsprng") is not None, reason="torchcsprng is installed"
)
def test_secure_mode_without_torchcsprng_is_a_clear_error() -> None:
    x, y = _xy()
    with pytest.raises(ConfigError, match="torchcsprng"):
        train_dp_classifier(_linear(), x, y, _cfg(secure_mode=True), device="cpu")


@pytest.fixture(scope="module")
def rewriter_parts():
    data = make_tofu_like(n_authors=4, min_qa=4, max_qa=4, forget_fraction=0.25, seed=0)
    tok = build_word_tokenizer(data.texts())
    texts = [t for q in data.pretrain for t in (q.question, q.answer)]
    mlm = train_small_mlm(texts, tok, MLMTrainConfig(n_layer=1, n_embd=32, n_head=2, steps=3))
    return mlm, tok


def test_dp_mlm_output_length_is_fixed_and_costs_length_times_epsilon(rewriter_parts) -> None:
    mlm, tok = rewriter_parts
    rw = DPMLMRewriter(mlm, tok, DPMLMConfig(epsilon_per_token=2.0, output_length=6))
    short, long = "Paris .", "The capital of France is Paris and it is large ."
    assert len(tok(short, add_special_tokens=False)["input_ids"]) < 6
    assert len(tok(long, add_special_tokens=False)["input_ids"]) > 6
    for text in (short, long):
        ids = rw.fixed_length_ids(text)
        assert len(ids) == 6
        out = rw.rewrite(text)
        assert out.n_tokens == 6 and out.epsilon == pytest.approx(12.0)
        assert len(tok(out.text, add_special_tokens=False)["input_ids"]) == 6
    # padded positions are sampled like any other (mask input), truncation drops the tail
    assert rw.fixed_length_ids(short)[-1] == tok.mask_token_id
    assert rw.fixed_length_ids(long) == tok(long, add_special_tokens=False)["input_ids"][:6]
    with pytest.raises(ConfigError, match="output_length"):
        DPMLMConfig(output_length=0)
    assert DPMLMConfig().output_length == 32


def test_dp_mlm_coins_are_secret_unless_a_simulation_seed_is_given(rewriter_parts) -> None:
    mlm, tok = rewriter_parts
    # a flat distribution (tiny epsilon): two secret rewrites of 32 tokens agree w.p. ~V**-32
    text = "The capital of France is Paris ."
    free = DPMLMRewriter(mlm, tok, DPMLMConfig(epsilon_per_token=0.01))
    assert free.rewrite(text).text != free.rewrite(text).text
    a = DPMLMRewriter(mlm, tok, DPMLMConfig(epsilon_per_token=0.01, simulation_seed=3))
    b = DPMLMRewriter(mlm, tok, DPMLMConfig(epsilon_per_token=0.01, simulation_seed=3))
    assert a.rewrite(text).text == b.rewrite(text).text
    with pytest.warns(DeprecationWarning):
        assert DPMLMConfig(seed=3).simulation_seed == 3


def test_secret_sampling_follows_the_mechanism(rewriter_parts) -> None:
    """The inverse-CDF draw from OS entropy has the exponential mechanism's law (chi-square)."""
    mlm, tok = rewriter_parts
    rw = DPMLMRewriter(mlm, tok, DPMLMConfig(epsilon_per_token=5.0))
    probs = torch.tensor([[0.5, 0.3, 0.2, 0.0]], dtype=torch.float64).expand(30_000, 4)
    counts = torch.bincount(rw._sample(probs), minlength=4).double()
    assert counts[3] == 0
    expected = torch.tensor([0.5, 0.3, 0.2]) * 30_000
    chi2 = float(((counts[:3] - expected) ** 2 / expected).sum())
    assert chi2 < 13.8, counts  # chi2(2) 0.999 quantile
    assert math.isfinite(chi2)
