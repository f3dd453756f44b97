"""DP-SGD with Opacus, group privacy and DP-MLM (lab.privacy.unlearning)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")
pytest.importorskip("transformers")

from lab.core import ConfigError  # noqa: E402
from lab.core.testing import assert_state_dicts_equal  # noqa: E402
from lab.privacy.unlearning import (  # noqa: E402
    CausalLMConfig,
    DPConfig,
    DPMLMConfig,
    DPMLMRewriter,
    MLMTrainConfig,
    build_word_tokenizer,
    causal_lm_from_config,
    encode_qa,
    epsilon_for,
    exponential_mechanism_probs,
    format_prompt,
    group_privacy,
    make_tofu_like,
    per_sample_gradients,
    sanitize_tofu,
    train_dp,
    train_small_mlm,
)
from lab.privacy.unlearning.training import example_losses  # noqa: E402

torch.set_num_threads(1)
TINY = dict(n_layer=2, n_embd=32, n_head=2, max_positions=64)


@pytest.fixture(scope="module")
def setup():
    data = make_tofu_like(n_authors=4, min_qa=4, max_qa=4, forget_fraction=0.25, seed=0)
    tok = build_word_tokenizer(data.texts())
    return data, tok


def _dp_cfg(**kw):
    base = dict(
        target_epsilon=4.0,
        delta=1e-3,
        epochs=2,
        batch_size=4,
        max_physical_batch_size=2,
        accountant="rdp",
        lr=1e-2,
    )
    return DPConfig(**{**base, **kw})


def test_epsilon_equals_opacus_accountant(setup) -> None:
    from opacus.accountants import RDPAccountant

    data, tok = setup
    model = causal_lm_from_config(tok, CausalLMConfig(**TINY))
    res = train_dp(model, tok, data.full, _dp_cfg())
    n = len(data.full)
    assert res.sample_rate == pytest.approx(4 / n)
    assert res.steps == 2 * math.ceil(n / 4)  # epochs / q logical steps
    acc = RDPAccountant()
    for _ in range(res.steps):
        acc.step(noise_multiplier=res.noise_multiplier, sample_rate=res.sample_rate)
    assert res.epsilon == pytest.approx(acc.get_epsilon(delta=1e-3), rel=1e-12)
    assert res.epsilon == pytest.approx(
        epsilon_for(res.noise_multiplier, res.sample_rate, res.steps, 1e-3, "rdp"), rel=1e-12
    )
    assert res.epsilon <= 4.0 + 0.01  # make_private_with_epsilon met the target
    # author level by group privacy with k = records per author (4)
    assert res.group_size == 4
    assert res.author_epsilon == pytest.approx(4 * res.epsilon)
    assert res.author_delta == pytest.approx(4 * math.exp(3 * res.epsilon) * 1e-3)
    # generation works on the returned (unwrapped) model
    assert not hasattr(res.model, "_module")
    enc = tok(format_prompt(data.forget[0].question), return_tensors="pt", add_special_tokens=False)
    out = res.model.generate(**enc, max_new_tokens=4, do_sample=False)
    t = enc["input_ids"].shape[1]
    assert out.shape[0] == 1 and t < out.shape[1] <= t + 4
    assert torch.equal(out[0, :t], enc["input_ids"][0])


def test_prv_accountant_is_used_by_default(setup) -> None:
    data, tok = setup
    model = causal_lm_from_config(tok, CausalLMConfig(**TINY))
    res = train_dp(model, tok, data.full, _dp_cfg(accountant="prv", epochs=1))
    assert res.accountant == "prv"
    assert res.epsilon == pytest.approx(
        epsilon_for(res.noise_multiplier, res.sample_rate, res.steps, 1e-3, "prv"), rel=1e-9
    )


def test_noise_std_with_zero_gradients_is_sigma_c_over_batch(setup) -> None:
    from opacus import PrivacyEngine

    data, tok = setup
    model = causal_lm_from_config(tok, CausalLMConfig(**TINY))
    b = encode_qa(tok, [q.question for q in data.full], [q.answer for q in data.full], pad_to=40)
    ds = torch.utils.data.TensorDataset(b.input_ids, b.attention_mask, b.labels)
    loader = torch.utils.data.DataLoader(ds, batch_size=8)
    sigma, C = 1.7, 0.5
    engine = PrivacyEngine(accountant="rdp")
    gsm, opt, dl = engine.make_private(
        module=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
        data_loader=loader,
        noise_multiplier=sigma,
        max_grad_norm=C,
        poisson_sampling=True,
        noise_generator=torch.Generator().manual_seed(0),
    )
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    ids, mask, labels = next(iter(dl))
    from lab.privacy.unlearning.training import QABatch

    (0.0 * example_losses(gsm, QABatch(ids, mask, labels)).mean()).backward()
    opt.step()
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    step = before - after
    expected = sigma * C / opt.expected_batch_size
    assert opt.expected_batch_size == 8
    assert step.numel() > 20_000
    assert step.std().item() == pytest.approx(expected, rel=0.03)
    assert step.mean().abs().item() < 4 * expected / math.sqrt(step.numel())
    gsm._close()


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_per_sample_gradients_match_a_per_example_loop(setup, arch) -> None:
    data, tok = setup
    model = causal_lm_from_config(tok, CausalLMConfig(arch=arch, **TINY))
    assert model.config.tie_word_embeddings  # the tied case is the one that matters
    items = data.full[:3]
    b = encode_qa(tok, [q.question for q in items], [q.answer for q in items])
    psg = per_sample_gradients(model, b)
    assert set(psg) == {n for n, p in model.named_parameters()} - (
        {"lm_head.weight"} if "lm_head.weight" in dict(model.named_parameters()) else set()
    )
    for i in range(3):
        model.zero_grad()
        example_losses(model, b.select([i])).mean().backward()
        for name, p in model.named_parameters():
            torch.testing.assert_close(psg[name][i], p.grad, atol=1e-6, rtol=1e-4)
    # the hooks are gone: a plain forward/backward leaves no grad_sample
    model.zero_grad()
    example_losses(model, b).mean().backward()
    assert all(getattr(p, "grad_sample", None) is None for p in model.parameters())


def test_unmeetable_epsilon_is_a_clear_error(setup) -> None:
    data, tok = setup
    model = causal_lm_from_config(tok, CausalLMConfig(**TINY))
    with pytest.raises(ConfigError, match="target epsilon 1e-07"):
        train_dp(model, tok, data.full, _dp_cfg(target_epsilon=1e-7))
    with pytest.raises(ConfigError, match="max_noise_multiplier"):
        train_dp(model, tok, data.full, _dp_cfg(target_epsilon=0.5, max_noise_multiplier=0.5))
    with pytest.raises(ConfigError, match="target_epsilon"):
        DPConfig(target_epsilon=0.0)
    with pytest.raises(ConfigError, match="delta"):
        DPConfig(delta=1.5)
    with pytest.raises(ConfigError, match="batch_size"):
        train_dp(model, tok, data.full, _dp_cfg(batch_size=10_000))


def test_group_privacy_closed_form() -> None:
    assert group_privacy(0.7, 1e-6, 1) == (0.7, 1e-6)
    e, d = group_privacy(0.5, 1e-9, 3)
    assert e == 1.5 and d == pytest.approx(3 * math.e * 1e-9)
    with pytest.raises(ConfigError):
        group_privacy(1.0, 1e-5, 0)


def test_dp_resume_reproduces_the_uninterrupted_run(setup, tmp_path) -> None:
    data, tok = setup
    cfg = _dp_cfg(epochs=2, accountant="rdp")
    a = causal_lm_from_config(tok, CausalLMConfig(**TINY))
    full = train_dp(a, tok, data.full, cfg, run_dir=tmp_path / "a")
    # simulate a crash after epoch 1: drop the last checkpoint and resume a fresh model
    ckpts = sorted((tmp_path / "a" / "checkpoints").glob("step_*.pt"))
    assert len(ckpts) == 2
    ckpts[-1].unlink()
    b = causal_lm_from_config(tok, CausalLMConfig(**TINY, seed=99))
    resumed = train_dp(b, tok, data.full, cfg, run_dir=tmp_path / "a", resume=True)
    assert resumed.steps == full.steps and resumed.epsilon == pytest.approx(full.epsilon)
    assert_state_dicts_equal(
        full.model.state_dict(), resumed.model.state_dict(), atol=1e-6, rtol=1e-5
    )


# ----------------------------------------------------------------------------------- DP-MLM


def test_exponential_mechanism_ratio_bound_is_exact() -> None:
    eps, clip = 2.0, (-3.0, 4.0)
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for _ in range(50):
        l1 = torch.randn(200, generator=g) * 10
        l2 = torch.randn(200, generator=g) * 10
        p1 = exponential_mechanism_probs(l1, eps, clip)
        p2 = exponential_mechanism_probs(l2, eps, clip)
        worst = max(worst, (p1 / p2).max().item(), (p2 / p1).max().item())
    assert worst <= math.exp(eps) * (1 + 1e-12)
    # the adversarial pair approaches the bound: one token at b vs at a, all others swapped
    V = 1_000_000
    l1 = torch.full((V,), clip[0])
    l1[0] = clip[1]
    l2 = torch.full((V,), clip[1])
    l2[0] = clip[0]
    p1 = exponential_mechanism_probs(l1, eps, clip)
    p2 = exponential_mechanism_probs(l2, eps, clip)
    ratio = (p1[0] / p2[0]).item()
    assert ratio <= math.exp(eps) * (1 + 1e-12)
    assert ratio >= math.exp(eps) * 0.999
    # closed form of one distribution: softmax(clip(l) * eps / (2 D))
    logits = torch.tensor([-10.0, 0.0, 10.0])
    p = exponential_mechanism_probs(logits, eps, clip)
    w = torch.exp(torch.tensor([-3.0, 0.0, 4.0], dtype=torch.float64) * eps / 14)
    torch.testing.assert_close(p, w / w.sum())
    with pytest.raises(ConfigError):
        exponential_mechanism_probs(logits, eps, (1.0, 1.0))


def test_dp_mlm_rewriter_distribution_and_accounting(setup) -> None:
    data, tok = setup
    texts = [t for q in data.pretrain for t in (q.question, q.answer)]
    mlm = train_small_mlm(texts, tok, MLMTrainConfig(n_layer=1, n_embd=32, n_head=2, steps=3))
    cfg = DPMLMConfig(
        epsilon_per_token=1.5, clip_min=-2.0, clip_max=2.0, simulation_seed=0, output_length=None
    )
    rw = DPMLMRewriter(mlm, tok, cfg)
    a = tok("The capital of France is Paris .", add_special_tokens=False)["input_ids"]
    b = tok("The capital of Japan is Tokyo .", add_special_tokens=False)["input_ids"]
    pa, pb = rw.distribution(a), rw.distribution(b)
    assert pa.shape == (len(a), len(tok)) and pa.dtype == torch.float64
    torch.testing.assert_close(pa.sum(-1), torch.ones(len(a), dtype=torch.float64))
    assert (pa[:, tok.all_special_ids] == 0).all()  # special tokens are never produced
    sup = rw.support
    ratio = pa[:, sup] / pb[:, sup]
    assert ratio.max().item() <= math.exp(1.5) * (1 + 1e-12)
    assert ratio.min().item() >= math.exp(-1.5) * (1 - 1e-12)
    out = rw.rewrite("The capital of France is Paris .")
    assert out.n_tokens == len(a) and out.epsilon == pytest.approx(1.5 * len(a))
    clean, report = sanitize_tofu(data, rw)
    assert len(clean.full) == len(data.full) and clean.forget_authors == data.forget_authors
    assert clean.world_facts == data.world_facts  # public sets untouched
    assert clean.retain_eval == ()  # private evaluation text is not carried along
    assert all(q.paraphrased_answer is None and not q.perturbed_answers for q in clean.full)
    n_tok = [
        len(tok(q.question, add_special_tokens=False)["input_ids"])
        + len(tok(q.answer, add_special_tokens=False)["input_ids"])
        for q in data.full
    ]
    assert report["record_epsilon_max"] == pytest.approx(1.5 * max(n_tok))
    assert report["author_epsilon"] >= report["record_epsilon_max"]
