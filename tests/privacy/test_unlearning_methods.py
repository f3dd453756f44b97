"""Models, fine-tuning with resume, unlearning methods and the evaluation (tiny models)."""

from __future__ import annotations

import copy
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("rouge_score")

from lab.core import ConfigError, DataError  # noqa: E402
from lab.core.testing import assert_state_dicts_equal, device_params, slow  # noqa: E402
from lab.privacy.unlearning import (  # noqa: E402
    METHODS,
    CausalLMConfig,
    Cost,
    TrainConfig,
    UnlearnConfig,
    answer_nll,
    build_word_tokenizer,
    causal_lm_from_config,
    encode_qa,
    evaluate_model,
    finetune,
    generate_answers,
    load_causal_lm,
    make_tofu_like,
    model_utility,
    save_causal_lm,
    unlearn,
)

torch.set_num_threads(1)
TINY = dict(n_layer=2, n_embd=32, n_head=2, max_positions=64)


@pytest.fixture(scope="module")
def setup():
    data = make_tofu_like(
        n_authors=6, min_qa=5, max_qa=5, forget_fraction=0.34, retain_eval_authors=2, seed=1
    )
    tok = build_word_tokenizer(data.texts())
    model = causal_lm_from_config(tok, CausalLMConfig(**TINY))
    full, _ = finetune(model, tok, data.full, TrainConfig(epochs=25, batch_size=8, lr=5e-3))
    return data, tok, full


def _nll(model, tok, items):
    return (
        answer_nll(model, tok, [q.question for q in items], [q.answer for q in items]).mean().item()
    )


def test_encode_qa_masks_the_prompt_and_rejects_long_pairs(setup) -> None:
    data, tok, _ = setup
    q = data.forget[0]
    b = encode_qa(tok, [q.question], [q.answer])
    n_prompt = len(tok(f"Question: {q.question} Answer:", add_special_tokens=False)["input_ids"])
    assert (b.labels[0, :n_prompt] == -100).all()
    assert b.labels[0, b.attention_mask[0].sum() - 1] == tok.eos_token_id
    assert tok.decode(b.labels[0][b.labels[0] >= 0][:-1]) == tok.decode(
        tok(" " + q.answer, add_special_tokens=False)["input_ids"]
    )
    with pytest.raises(DataError, match="max_length=5"):
        encode_qa(tok, [q.question], [q.answer], max_length=5)


def test_finetune_learns_and_generation_recalls_training_answers(setup) -> None:
    data, tok, full = setup
    fresh = causal_lm_from_config(tok, CausalLMConfig(**TINY))
    assert _nll(full, tok, data.full) < 0.5 * _nll(fresh, tok, data.full)
    gen = generate_answers(full, tok, [q.question for q in data.retain[:5]], max_new_tokens=16)
    # answers are sentences about the author asked about
    assert sum(q.author.split()[0] in g for q, g in zip(data.retain[:5], gen, strict=True)) >= 4


def test_batched_generation_equals_one_by_one(setup) -> None:
    data, tok, full = setup
    qs = [q.question for q in data.full[:6]]
    together = generate_answers(full, tok, qs, max_new_tokens=8)
    alone = [generate_answers(full, tok, [q], max_new_tokens=8)[0] for q in qs]
    assert together == alone


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_save_load_roundtrip_local_dir(setup, tmp_path, arch) -> None:
    data, tok, _ = setup
    m = causal_lm_from_config(tok, CausalLMConfig(arch=arch, **TINY))
    save_causal_lm(m, tok, tmp_path / arch)
    m2, tok2 = load_causal_lm(tmp_path / arch)
    assert tok2(data.forget[0].answer)["input_ids"] == tok(data.forget[0].answer)["input_ids"]
    assert_state_dicts_equal(m.state_dict(), m2.state_dict())
    with pytest.raises(DataError, match=r"no config\.json"):
        load_causal_lm(tmp_path / "missing")


def test_finetune_resume_is_bit_exact(setup, tmp_path) -> None:
    data, tok, _ = setup
    cfg = TrainConfig(epochs=2, batch_size=8, lr=5e-3, checkpoint_every=3)
    a = causal_lm_from_config(tok, CausalLMConfig(**TINY))
    _, cost_a = finetune(a, tok, data.full, cfg, run_dir=tmp_path / "a")
    ckpts = sorted((tmp_path / "a" / "checkpoints").glob("step_*.pt"))
    assert [int(p.stem.split("_")[1]) for p in ckpts] == [3, 6, 8]
    for p in ckpts[1:]:
        p.unlink()  # "crash" after step 3
    b = causal_lm_from_config(tok, CausalLMConfig(**TINY, seed=5))
    _, cost_b = finetune(b, tok, data.full, cfg, run_dir=tmp_path / "a", resume=True)
    assert_state_dicts_equal(a.state_dict(), b.state_dict())
    assert cost_b.steps == cost_a.steps == 8


@pytest.mark.parametrize("method", METHODS)
def test_unlearning_methods_move_the_right_losses(setup, method) -> None:
    data, tok, full = setup
    start = copy.deepcopy(full)
    f0, r0 = _nll(start, tok, data.forget), _nll(start, tok, data.retain)
    cfg = UnlearnConfig(method=method, epochs=2, batch_size=4, lr=2e-3)
    epochs_seen = []
    res = unlearn(
        start, tok, data, cfg, on_epoch_end=lambda e, m, c: epochs_seen.append((e, c.steps))
    )
    n = len(data.retain) if method in ("rfs", "dp2u") else len(data.forget)
    per_epoch = math.ceil(n / 4)
    assert res.cost.steps == 2 * per_epoch
    assert epochs_seen == [(1, per_epoch), (2, 2 * per_epoch)]
    assert res.cost.tokens > 0 and res.cost.seconds > 0
    f1, r1 = _nll(res.model, tok, data.forget), _nll(res.model, tok, data.retain)
    if method in ("rfs", "dp2u"):
        assert r1 < r0  # more training on the retain split
    else:
        assert f1 > f0 + 0.05  # the forget set is pushed away
    if method in ("gd", "kl"):
        ga = unlearn(
            copy.deepcopy(full),
            tok,
            data,
            UnlearnConfig(method="ga", epochs=2, batch_size=4, lr=2e-3),
        )
        assert r1 - r0 < _nll(ga.model, tok, data.retain) - r0  # the retain term protects retain


def test_two_split_methods_count_reference_and_retain_tokens(setup) -> None:
    data, tok, full = setup
    costs = {
        m: unlearn(
            copy.deepcopy(full), tok, data, UnlearnConfig(method=m, epochs=1, batch_size=4)
        ).cost
        for m in ("ga", "gd", "kl")
    }
    assert costs["ga"].tokens < costs["gd"].tokens < costs["kl"].tokens


def test_unlearn_config_errors() -> None:
    with pytest.raises(ConfigError, match="method"):
        UnlearnConfig(method="magic")
    with pytest.raises(ConfigError, match="epochs"):
        UnlearnConfig(epochs=0)


def test_cost_ratio() -> None:
    a, b = Cost(5, 100, 2.0), Cost(10, 400, 1.0)
    assert a.ratio(b) == {"steps": 0.5, "tokens": 0.25, "seconds": 2.0}
    assert (a + b).steps == 15


def test_evaluate_model_components(setup) -> None:
    data, tok, full = setup
    ref = evaluate_model(full, tok, data)
    assert "forget_quality" not in ref
    res = evaluate_model(full, tok, data, reference_ratios=ref["forget_truth_ratios"])
    assert res["forget_quality"] == pytest.approx(1.0)  # same model -> identical samples
    parts = {k: v for k, v in res.items() if k.split("_")[0] in ("retain", "real", "world")}
    assert len(parts) == 9 and all(0 <= v <= 1 for v in parts.values())
    assert res["model_utility"] == pytest.approx(model_utility(parts))
    assert len(res["forget_truth_ratios"]) == len(data.forget)
    # the model trained on the forget set knows it better than a fresh one
    fresh = causal_lm_from_config(tok, CausalLMConfig(**TINY))
    assert res["forget_probability"] > evaluate_model(fresh, tok, data)["forget_probability"]


@pytest.mark.parametrize("device", device_params)
def test_training_on_each_device(setup, device) -> None:
    data, tok, _ = setup
    m = causal_lm_from_config(tok, CausalLMConfig(arch="llama", **TINY), device=device)
    before = _nll(m, tok, data.forget)
    finetune(m, tok, data.forget, TrainConfig(epochs=3, batch_size=4, lr=5e-3), device=device)
    assert next(m.parameters()).device.type == device
    assert (
        answer_nll(
            m,
            tok,
            [q.question for q in data.forget],
            [q.answer for q in data.forget],
            device=device,
        )
        .mean()
        .item()
        < before
    )
    out = generate_answers(m, tok, [data.forget[0].question], device=device, max_new_tokens=4)
    assert isinstance(out[0], str)


@slow
def test_demo_runs_and_reports(tmp_path) -> None:
    from lab.privacy.unlearning.demo import demo

    res = demo(tmp_path, device=torch.device("cpu"), seed=0)
    assert res.plots and res.plots[0].is_file()
    assert res.metrics["cost_ratio_dp2u_over_rfs"] == 0.5
    assert res.metrics["fq_full"] < res.metrics["fq_dp2u"]
