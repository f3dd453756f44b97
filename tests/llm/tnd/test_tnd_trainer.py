"""Teacher, masked teacher, age predictor, the TnD trainer (modes, PPO step, resume)."""

import dataclasses
import math

import pytest
import torch

from lab.core import ConfigError, DataError, RunDir
from lab.core.testing import assert_state_dicts_equal
from lab.llm import tiny_causal_lm
from lab.llm.generation import generate_completions
from lab.llm.tnd import (
    AgePredictorConfig,
    StudentLM,
    TeacherConfig,
    TnDConfig,
    TnDExperimentConfig,
    TnDTrainer,
    build_word_tokenizer,
    check_vocabulary,
    child_directed_corpus,
    choose_masked_words,
    masked_teacher,
    prepare,
)

torch.set_num_threads(1)

TINY = TnDExperimentConfig(
    num_train=300,
    num_heldout=60,
    seq_words=16,
    teacher=TeacherConfig(n_embd=32, n_layer=1, steps=40, num_checkpoints=4),
    predictor=AgePredictorConfig(
        n_embd=16, samples_per_checkpoint=8, epochs=20, learning_rate=5e-3, max_new_tokens=6
    ),
    student=TnDConfig(
        corpus_steps=12,
        batch_size=4,
        interaction_batch_size=4,
        max_new_tokens=6,
        n_embd=32,
        n_layer=1,
        eval_points=5,
        ppo_epochs=2,
    ),
)


@pytest.fixture(scope="module")
def setup():
    return prepare(TINY, seed=0, device="cpu", show_progress=False)


def _trainer(setup, run_dir=None, teacher=None, **kw):
    cfg = dataclasses.replace(TINY.student, **kw)
    return TnDTrainer(
        cfg,
        setup.tokenizer,
        setup.train_sequences,
        setup.heldout_sequences,
        setup.word_ids,
        teacher=setup.teacher.model if teacher is None else teacher,
        teacher_step=setup.teacher.step,
        age_predictor=setup.age_predictor,
        device="cpu",
        run_dir=run_dir,
        show_progress=False,
    )


def test_teacher_checkpoints_are_log_spaced_and_learn(setup):
    t = setup.teacher
    assert sorted(t.checkpoints) == [1, 3, 12, 40]
    assert t.step == 40
    assert sum(t.losses[-5:]) / 5 < t.losses[0] - 0.5
    early, final = t.model_at(1), t.model_at(40)
    p0 = next(early.parameters())
    p1 = next(final.parameters())
    assert not torch.equal(p0, p1)
    with pytest.raises(DataError, match="no teacher checkpoint"):
        t.model_at(7)


def test_age_predictor_orders_teacher_checkpoints(setup):
    s = setup.predictor_stats
    assert s["train_mse"] < s["baseline_mse"]
    assert math.isfinite(s["heldout_mse"])


def _biased_teacher(tok, target_id):
    """A tiny GPT-2 whose next token is almost always ``target_id``."""
    m = tiny_causal_lm(tok, n_layer=1, n_embd=32, seed=0)
    with torch.no_grad():
        m.transformer.ln_f.weight.zero_()
        e = m.transformer.wte.weight[target_id]
        m.transformer.ln_f.bias.copy_(e / e.dot(e) * 30.0)  # logit of the target = 30
    return m.eval()


def test_masked_teacher_never_emits_masked_words():
    c = child_directed_corpus(200, 20, seed=0)
    tok = build_word_tokenizer(c.train, words=c.words)
    ids = check_vocabulary(tok, ["dog", "ball", "milk"]).ids
    teacher = _biased_teacher(tok, ids["dog"])
    prompts = ["<bos> look at the"] * 16
    torch.manual_seed(0)
    plain = generate_completions(teacher, tok, prompts, max_completion_length=12, top_k=20)
    assert (plain.completion_ids == ids["dog"]).float().mean() > 0.9  # the bias works
    masked = masked_teacher(teacher, tok, ["dog", "ball", "milk"])
    for seed in range(3):
        torch.manual_seed(seed)
        ro = generate_completions(
            masked, tok, prompts, max_completion_length=12, top_k=20, top_p=0.95
        )
        emitted = set(ro.completion_ids[ro.completion_mask.bool()].tolist())
        assert emitted.isdisjoint(ids.values())
        assert all(w not in t.split() for t in ro.completions for w in ("dog", "ball", "milk"))
    assert teacher.generation_config.suppress_tokens in (None, [])  # original untouched
    with pytest.raises(ConfigError, match="not single tokens"):
        masked_teacher(teacher, tok, ["dog", "teddy bear"])
    with pytest.raises(ConfigError, match="at least one"):
        masked_teacher(teacher, tok, [])


def test_masked_teacher_in_training_gives_no_masked_demonstrations(setup):
    words, control = choose_masked_words(setup.corpus, setup.word_ids, 5)
    assert len(words) == len(control) == 5 and not set(words) & set(control)
    f = setup.corpus.frequencies
    assert all(f[w] > 0 for w in words + control)
    # frequency-matched: masked word i is at least as frequent as control i (alternate ranks)
    fm, fc = (
        sorted((f[w] for w in words), reverse=True),
        sorted((f[w] for w in control), reverse=True),
    )
    assert all(a >= b for a, b in zip(fm, fc, strict=True))
    assert setup.corpus.categories[words[0]] not in ("quantifiers", "pronouns")
    mt = masked_teacher(setup.teacher.model, setup.tokenizer, words)
    tr = _trainer(setup, teacher=mt, mode="demonstrations", corpus_steps=6)
    tr.train()
    assert tr.interactions == 2
    assert sum(tr.demo_counts.values()) > 0
    assert all(tr.demo_counts.get(w, 0) == 0 for w in words)
    assert not tr.trial_counts


@pytest.mark.parametrize("mode", ["tnd", "trials", "demonstrations", "clm"])
def test_modes_share_corpus_batches_and_differ_in_interactions(setup, mode):
    tr = _trainer(setup, mode=mode)
    hist = tr.train()
    assert [h["step"] for h in hist] == list(range(1, 13))
    assert tr.interactions == (0 if mode == "clm" else 4)
    assert bool(tr.trial_counts) == (mode in ("tnd", "trials"))
    assert bool(tr.demo_counts) == (mode in ("tnd", "demonstrations"))
    assert sorted(tr.surprisal) == tr.eval_steps
    ids, _ = tr.corpus_batch(5)
    other, _ = _trainer(setup, mode="clm").corpus_batch(5)
    assert torch.equal(ids, other)
    if mode != "clm":
        n = {"tnd": 8, "trials": 4, "demonstrations": 4}[mode]
        assert tr.last_batch.completion_ids.shape[0] == n
        assert all(math.isfinite(h["value_loss"]) for h in hist if "value_loss" in h)
    wl = tr.word_learning()
    assert wl.steps == tuple(tr.eval_steps)
    assert 0.0 <= wl.fraction_learned() <= 1.0
    assert wl.chance == pytest.approx(math.log2(len(setup.tokenizer)))


def test_demonstration_scores_use_the_teacher_step(setup):
    tr = _trainer(setup, mode="demonstrations", corpus_steps=3, score_variant="subtract")
    tr.train()
    exp = math.log2(setup.teacher.step) - math.log2(3)
    assert torch.allclose(tr.last_scores, torch.full((4,), exp))
    tr = _trainer(setup, mode="demonstrations", corpus_steps=3, score_variant="binary")
    tr.train()
    assert torch.equal(tr.last_scores, torch.ones(4))


def test_ppo_step_moves_log_probs_towards_positive_scores(setup):
    tr = _trainer(
        setup, mode="trials", ppo_epochs=6, ppo_learning_rate=3e-3, whiten_advantages=False
    )
    prompts = tr.prompts(0)
    torch.manual_seed(0)
    ro = tr._generate(tr.student.lm, prompts, 20, 0.95)
    scores = torch.tensor([5.0, -5.0, 5.0, -5.0])
    L = ro.completion_ids.shape[1]
    with torch.no_grad():
        before, _ = tr._forward(ro.input_ids, ro.attention_mask, L)
    tr.ppo_step(ro, scores)
    with torch.no_grad():
        after, _ = tr._forward(ro.input_ids, ro.attention_mask, L)
    m = ro.completion_mask.float()
    delta = ((after - before) * m).sum(1) / m.sum(1)
    assert delta[0] > 0 and delta[2] > 0
    assert delta[1] < 0 and delta[3] < 0


def test_resume_continues_bit_exactly(setup, tmp_path):
    full = _trainer(setup, mode="tnd")
    torch.manual_seed(123)  # sampling uses the global RNG; the checkpoint stores its state
    full.train()
    run = RunDir.create("tnd", root=tmp_path)
    part = _trainer(setup, run_dir=run, mode="tnd", save_steps=6)
    part.config = dataclasses.replace(part.config, corpus_steps=6)
    torch.manual_seed(123)
    part.train()
    torch.manual_seed(999)  # whatever happens to the RNG in between is undone by the resume
    assert run.latest_checkpoint() == run.checkpoint_path(6)
    resumed = _trainer(setup, run_dir=run, mode="tnd")
    resumed.train(resume_from="latest")
    assert resumed.corpus_step == 12
    assert_state_dicts_equal(full.student.state_dict(), resumed.student.state_dict())
    assert resumed.surprisal == full.surprisal
    assert resumed.trial_counts == full.trial_counts


def test_bad_configs_and_inputs(setup):
    with pytest.raises(ConfigError, match="mode"):
        TnDConfig(mode="teacher")
    with pytest.raises(ConfigError, match="score_variant"):
        TnDConfig(score_variant="log")
    with pytest.raises(ConfigError, match="corpus_steps"):
        TnDConfig(corpus_steps=0)
    with pytest.raises(ConfigError, match="top_p"):
        TnDConfig(demo_top_p=1.5)
    with pytest.raises(ConfigError, match="divisible"):
        TnDConfig(n_embd=30, n_head=4)
    cfg = TINY.student
    with pytest.raises(ConfigError, match="needs a teacher"):
        TnDTrainer(
            cfg,
            setup.tokenizer,
            setup.train_sequences,
            setup.heldout_sequences,
            setup.word_ids,
            age_predictor=setup.age_predictor,
        )
    with pytest.raises(ConfigError, match="age_predictor"):
        TnDTrainer(
            dataclasses.replace(cfg, mode="trials"),
            setup.tokenizer,
            setup.train_sequences,
            setup.heldout_sequences,
            setup.word_ids,
        )
    with pytest.raises(DataError, match="no training"):
        TnDTrainer(cfg, setup.tokenizer, [], setup.heldout_sequences, setup.word_ids)
    with pytest.raises(DataError, match="longer than prompt_length"):
        TnDTrainer(
            dataclasses.replace(cfg, mode="clm"),
            setup.tokenizer,
            [[2, 5, 6]],
            setup.heldout_sequences,
            setup.word_ids,
        )
    tr = _trainer(setup, mode="clm", corpus_steps=2, eval_points=2)
    tr.train()
    with pytest.raises(DataError, match=">= 4 steps"):
        tr.word_learning()
    with pytest.raises(ConfigError, match="modes"):
        TnDExperimentConfig(modes=("tnd", "sft"))
    with pytest.raises(ConfigError, match="data_path"):
        TnDExperimentConfig(corpus="babylm")


def test_student_value_head_shapes():
    tok = build_word_tokenizer(["a b c"])
    s = StudentLM(tok, n_layer=1, n_embd=16, n_head=2)
    ids = torch.tensor([[2, 5, 6, 7]])
    logits, values = s(ids, torch.ones_like(ids))
    assert logits.shape == (1, 4, len(tok)) and values.shape == (1, 4)
    assert s.num_parameters() == sum(p.numel() for p in s.lm.parameters())


def test_reference_baseline_scores_against_a_reference_students_text(setup):
    ref = setup.teacher.model_at(3)
    cfg = dataclasses.replace(
        TINY.student, mode="demonstrations", baseline="reference", corpus_steps=3
    )
    with pytest.raises(ConfigError, match="reference_model"):
        TnDTrainer(cfg, setup.tokenizer, setup.train_sequences, setup.heldout_sequences,
                   setup.word_ids, teacher=setup.teacher.model, teacher_step=setup.teacher.step,
                   age_predictor=setup.age_predictor)  # fmt: skip
    tr = TnDTrainer(cfg, setup.tokenizer, setup.train_sequences, setup.heldout_sequences,
                    setup.word_ids, teacher=setup.teacher.model, teacher_step=setup.teacher.step,
                    age_predictor=setup.age_predictor, reference_model=ref,
                    show_progress=False)  # fmt: skip
    torch.manual_seed(5)
    b = tr._baseline(tr.prompts(3))
    torch.manual_seed(5)
    ro = generate_completions(ref, setup.tokenizer, tr.prompts(3), max_completion_length=6,
                              top_k=20, top_p=0.95)  # fmt: skip
    texts = [f"{p} {c}".strip() for p, c in zip(tr.prompts(3), ro.completions, strict=True)]
    assert torch.allclose(b, setup.age_predictor.predict(texts))
    tr.train()
    # demonstrations are scored log2(teacher step) - the reference text's predicted age
    assert tr.last_scores.shape == (4,)
    assert torch.isfinite(tr.last_scores).all()
    assert float(tr.history[-1]["baseline"]) != pytest.approx(math.log2(3))


def test_age_predictor_data_labels_are_log2_checkpoint_steps(setup):
    from lab.llm.tnd import age_predictor_data

    cfg = AgePredictorConfig(samples_per_checkpoint=3, max_new_tokens=4)
    prompts = ["<bos> look at the big", "<bos> do you want a"]
    texts, targets = age_predictor_data(setup.teacher, setup.tokenizer, prompts, cfg)
    steps = sorted(setup.teacher.checkpoints)
    assert targets == [math.log2(s) for s in steps for _ in range(3)]
    assert all(t.startswith("<bos> ") for t in texts) and len(texts) == 3 * len(steps)
    with pytest.raises(DataError, match="no prompts"):
        age_predictor_data(setup.teacher, setup.tokenizer, [], cfg)


def test_teacher_resume_matches_an_uninterrupted_run(setup, tmp_path):
    from lab.llm.tnd import train_teacher

    cfg = TeacherConfig(n_embd=32, n_layer=1, steps=12, num_checkpoints=3, seed=4)
    full = train_teacher(setup.train_sequences[:40], setup.tokenizer, cfg, show_progress=False)
    run = RunDir.create("teacher", root=tmp_path)
    half = dataclasses.replace(cfg, steps=6)
    train_teacher(setup.train_sequences[:40], setup.tokenizer, half, run_dir=run,
                  show_progress=False)  # fmt: skip
    assert run.latest_checkpoint() == run.checkpoint_path(6)
    resumed = train_teacher(setup.train_sequences[:40], setup.tokenizer, cfg, run_dir=run,
                            resume=True, show_progress=False)  # fmt: skip
    assert resumed.step == 12
    assert_state_dicts_equal(full.model.state_dict(), resumed.model.state_dict())
    assert resumed.losses == full.losses
    assert 12 in resumed.checkpoints and 6 in resumed.checkpoints


def test_default_ppo_is_the_public_codes_single_epoch(setup):
    # sled-group/TnD run_TnD.py: PPO_EPOCH = 1 and the whole batch accumulated into one step,
    # so the PPO ratio is exactly 1 and neither clipping region is ever entered
    assert TnDConfig().ppo_epochs == 1 and TnDConfig().ppo_minibatches == 1
    tr = _trainer(setup, mode="tnd", ppo_epochs=1, ppo_minibatches=1)
    prompts = tr.prompts(0)
    torch.manual_seed(0)
    ro = tr._generate(tr.student.lm, prompts, 20, 0.95)
    stats = tr.ppo_step(ro, torch.tensor([3.0, -3.0, 1.0, -1.0]))
    assert stats["clipfrac"] == 0.0
    assert stats["policy_loss"] == pytest.approx(0.0, abs=1e-5)  # whitened advantages, ratio 1
    tr4 = _trainer(setup, mode="tnd", ppo_epochs=4, ppo_learning_rate=3e-2)
    torch.manual_seed(0)
    ro = tr4._generate(tr4.student.lm, prompts, 20, 0.95)
    assert tr4.ppo_step(ro, torch.tensor([3.0, -3.0, 1.0, -1.0]))["clipfrac"] > 0
