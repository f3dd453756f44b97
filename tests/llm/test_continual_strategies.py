"""Strategies: adapter freezing, per-task isolation, O-LoRA overlap, InfLoRA's null update, ..."""

import pytest
import torch

from lab.core import ConfigError, DataError
from lab.llm.continual import (
    EWC,
    L2P,
    METHODS,
    EWCConfig,
    InfLoRA,
    JointConfig,
    JointTraining,
    L2PConfig,
    OLoRA,
    OLoRAConfig,
    PerTaskLoRA,
    Replay,
    ReplayConfig,
    SequentialLoRA,
    SyntheticStreamConfig,
    Task,
    TaskAwareJointTraining,
    TrainConfig,
    TransformerBackboneConfig,
    build_transformer_backbone,
    build_word_tokenizer,
    dualgpm_update,
    make_strategy,
    run_stream,
    synthetic_stream,
)

torch.set_num_threads(1)

STREAM = synthetic_stream(SyntheticStreamConfig(num_tasks=3, train_per_class=16, test_per_class=8))
TOKENIZER = build_word_tokenizer(STREAM.all_texts())
TRAIN = TrainConfig(epochs=8, lr=3e-2, batch_size=16)
SMALL = TransformerBackboneConfig(
    hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_length=16
)


def backbone(seed=0):
    return build_transformer_backbone((), SMALL, seed=seed, tokenizer=TOKENIZER, device="cpu")


def strategy(cls, **kw):
    kw.setdefault("train", TRAIN)
    return cls(
        backbone(), num_classes=STREAM.num_classes, num_tasks=len(STREAM), device="cpu", **kw
    )


def snapshot(params):
    return [p.detach().clone() for p in params]


def test_peft_set_adapter_unfreezes_and_activate_refreezes():
    st = strategy(OLoRA)
    st._add_structures(STREAM[0])
    st._add_structures(STREAM[1])
    peft = st.adapters.peft
    peft.base_model.set_adapter(["task_0", "task_1"])  # the PEFT pitfall
    assert all(p.requires_grad for p in st.adapters.parameters("task_0"))
    st.adapters.activate(["task_0", "task_1"], trainable=["task_1"])
    assert st.adapters.active == ["task_0", "task_1"]
    assert not any(p.requires_grad for p in st.adapters.parameters("task_0"))
    assert all(p.requires_grad for p in st.adapters.parameters("task_1"))
    with pytest.raises(ConfigError, match="not among the active"):
        st.adapters.activate(["task_0"], trainable=["task_1"])


def test_only_the_current_adapter_trains_after_each_switch():
    st = strategy(PerTaskLoRA)
    for task in STREAM:
        st._add_structures(task)
        data = st._encode(list(task.train_texts))
        st._before_training(task, data)
        name = f"task_{task.task_id}"
        trainable = {id(p) for p in st.trainable_parameters()}
        own = {id(p) for p in st.adapters.parameters(name)}
        own |= {id(p) for p in st.module["heads"][str(task.task_id)].parameters()}
        assert trainable == own
        # a prediction-time switch back to an earlier adapter leaves no adapter trainable
        st.adapters.activate(["task_0"], trainable=())
        assert not any(
            p.requires_grad for n in st.adapters.names for p in st.adapters.parameters(n)
        )


def test_per_task_lora_keeps_earlier_adapters_bit_identical_and_never_forgets():
    st = strategy(PerTaskLoRA)
    st.train_task(STREAM[0])
    before = snapshot(st.adapters.parameters("task_0")) + snapshot(
        st.module["heads"]["0"].parameters()
    )
    acc0 = st.evaluate(STREAM[0])
    pred0 = st.predict(list(STREAM[0].test_texts), task_id=0)
    st.train_task(STREAM[1])
    st.train_task(STREAM[2])
    after = list(st.adapters.parameters("task_0")) + list(st.module["heads"]["0"].parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert torch.equal(st.predict(list(STREAM[0].test_texts), task_id=0), pred0)
    assert st.evaluate(STREAM[0]) == acc0
    assert not any(p.requires_grad for p in st.module.parameters())


def test_per_task_lora_run_has_exactly_zero_forgetting_and_fwt():
    res = run_stream(strategy(PerTaskLoRA), STREAM, show_progress=False)
    assert res.til.forgetting == 0.0 and res.til.bwt == 0.0
    assert res.til.fwt == 0.0  # unseen tasks are scored by the base model = the baseline
    assert res.til.acc > 0.75


def test_predict_errors():
    st = strategy(SequentialLoRA)
    with pytest.raises(DataError, match="not been trained"):
        st.predict(["a"])
    st.train_task(STREAM[0])
    with pytest.raises(DataError, match="task id 2 was never trained"):
        st.predict(["k0x0x1 w1"], task_id=2)
    with pytest.raises(DataError, match="trained already"):
        st.train_task(STREAM[0])
    wide = Task("wide", (0, 99), ("a", "b"), (0, 99), ("c",), (0,), task_id=9)
    with pytest.raises(DataError, match=r"class id\(s\) \[99\]"):
        st.train_task(wide)
    with pytest.raises(ConfigError, match="unknown method"):
        make_strategy("nope", backbone(), STREAM)


def test_predict_with_task_id_stays_in_label_space():
    st = strategy(SequentialLoRA)
    st.train_task(STREAM[0])
    st.train_task(STREAM[1])
    texts = list(STREAM[1].test_texts)
    assert set(st.predict(texts, task_id=0).tolist()) <= set(STREAM[0].labels)
    assert set(st.predict(texts).tolist()) <= set(STREAM[0].labels) | set(STREAM[1].labels)


def _olora_overlap(lam):
    st = strategy(OLoRA, config=OLoRAConfig(lambda_orth=lam))
    st.train_task(STREAM[0])
    a0 = snapshot(st.adapters.parameters("task_0"))
    st.train_task(STREAM[1])
    assert all(torch.equal(a, b) for a, b in zip(a0, st.adapters.parameters("task_0"), strict=True))
    return st.overlap("task_1")


def test_olora_overlap_falls_as_its_weight_grows():
    overlaps = [_olora_overlap(lam) for lam in (0.0, 0.01, 0.5)]
    assert overlaps[0] > overlaps[1] > overlaps[2]
    assert overlaps[2] < 0.5 * overlaps[0]


def test_inflora_update_is_zero_on_the_stored_subspace():
    st = strategy(InfLoRA)
    st.train_task(STREAM[0])
    bases = {k: v.clone() for k, v in st.bases.items()}
    assert bases and all(0 < v.shape[1] < v.shape[0] for v in bases.values())
    st.train_task(STREAM[1])
    gen = torch.Generator().manual_seed(0)
    for lname, layer in st.adapters.layers():
        m = bases[lname]
        a = layer.lora_A["task_1"].weight
        b = layer.lora_B["task_1"].weight
        assert b.abs().max() > 0  # B was trained
        x_in = (m @ torch.randn(m.shape[1], 8, generator=gen)).T  # 8 inputs in span(M)
        x_out = torch.randn(8, m.shape[0], generator=gen)
        delta_in = (x_in @ a.T) @ b.T * st.adapters.scaling("task_1")
        delta_out = (x_out @ a.T) @ b.T * st.adapters.scaling("task_1")
        assert delta_in.abs().max() < 1e-5 * x_in.abs().max()
        assert delta_out.abs().max() > 1e-3
    # only B trains: A of the current task is frozen during training
    st._add_structures(STREAM[2])
    st._before_training(STREAM[2], st._encode(list(STREAM[2].train_texts)))
    trainable = {id(p) for p in st.trainable_parameters()}
    for _, layer in st.adapters.layers():
        assert id(layer.lora_A["task_2"].weight) not in trainable
        assert id(layer.lora_B["task_2"].weight) in trainable


def test_inflora_needs_num_tasks():
    with pytest.raises(ConfigError, match="num_tasks"):
        InfLoRA(backbone(), num_classes=6, device="cpu")


def test_dualgpm_closed_form():
    act = torch.diag(torch.tensor([3.0, 2.0, 1.0, 0.0]))
    # energies 9, 4, 1 of 14: cumulative 0.64, 0.93, 1.0 -> two vectors below 0.95
    m = dualgpm_update(None, act, 0.95)
    assert m.shape == (4, 2)
    assert torch.allclose(m.abs(), torch.eye(4)[:, :2])
    # next task lives in e3: captured energy 0 < threshold -> add e3
    m2 = dualgpm_update(m, torch.diag(torch.tensor([0.0, 0.0, 1.0, 0.0])), 0.97)
    assert m2.shape == (4, 3)
    assert torch.allclose(m2.T @ m2, torch.eye(3), atol=1e-6)
    # a task inside span(M) adds nothing
    m3 = dualgpm_update(m2, torch.diag(torch.tensor([1.0, 1.0, 0.0, 0.0])), 0.99)
    assert m3.shape == (4, 3)


def test_l2p_trains_prompts_keys_and_head_only():
    st = strategy(L2P, config=L2PConfig(pool_size=4, prompt_length=2, top_k=2, feature="tokens"))
    frozen = snapshot(st.backbone.parameters())
    keys0 = st.module["prompts"]["key_vectors"].detach().clone()
    st.train_task(STREAM[0])
    assert all(torch.equal(a, b) for a, b in zip(frozen, st.backbone.parameters(), strict=True))
    assert not torch.equal(keys0, st.module["prompts"]["key_vectors"])
    idx, sims = st.select(torch.randn(5, 32))
    assert idx.shape == (5, 2) and torch.all(sims[:, 0] >= sims[:, 1])
    assert st.evaluate(STREAM[0]) > 0.7
    with pytest.raises(ConfigError, match="top_k"):
        L2PConfig(pool_size=3, top_k=4)


def test_l2p_pull_term_moves_selected_keys_towards_queries():
    cfg = L2PConfig(pool_size=4, prompt_length=2, top_k=1, pull_coeff=1.0)
    st = strategy(L2P, config=cfg)
    data = st._encode(list(STREAM[0].train_texts))
    q = data["query"]
    before = st.select(q)[1].mean()
    st.train_task(STREAM[0])
    after = st.select(q)[1].mean()
    assert after > before


def test_replay_memory_and_ewc_penalty():
    st = strategy(Replay, config=ReplayConfig(memory_per_task=5))
    st.train_task(STREAM[0])
    st.train_task(STREAM[1])
    assert len(st.memory) == 10
    texts, _labels = st._training_examples(STREAM[2])
    assert len(texts) == STREAM[2].num_train + 10
    assert st._train_classes(STREAM[2]) == [0, 1, 2, 3, 4, 5]

    ewc = strategy(EWC, config=EWCConfig(ewc_lambda=1.0, fisher_samples=8))
    ewc.train_task(STREAM[0])
    assert len(ewc.fishers) == 1 and all((f >= 0).all() for f in ewc.fishers[0].values())
    ewc.adapters.activate(["shared"], trainable=["shared"])
    ewc.module["head"].requires_grad_(True)
    assert float(ewc._penalty().detach()) == 0.0  # at the anchor
    with torch.no_grad():
        for p in ewc.trainable_parameters():
            p.add_(0.1)
    assert float(ewc._penalty().detach()) > 0.0


def test_strong_ewc_anchors_the_shared_adapter():
    def drift(cls, **kw):
        st = strategy(cls, **kw)
        st.train_task(STREAM[0])
        a0 = snapshot(st.adapters.parameters("shared"))
        st.train_task(STREAM[1])
        return sum(
            float((a - b).norm()) for a, b in zip(a0, st.adapters.parameters("shared"), strict=True)
        )

    assert drift(EWC, config=EWCConfig(ewc_lambda=1e6, fisher_samples=16)) < 0.5 * drift(
        SequentialLoRA
    )


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_learns_the_first_task(method):
    st = make_strategy(
        method,
        backbone(),
        STREAM,
        train=TRAIN,
        device="cpu",
        config=L2PConfig(feature="tokens") if method == "l2p" else None,
    )
    log = st.train_task(STREAM[0])
    assert log.trainable_params > 0 and log.steps == 16
    assert st.evaluate(STREAM[0]) > 0.7


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    full = run_stream(strategy(InfLoRA), STREAM, show_progress=False)

    class Stop(Exception):
        pass

    def stop_after_second(i, til, cil):
        if i == 1:
            raise Stop

    with pytest.raises(Stop):
        run_stream(strategy(InfLoRA), STREAM, checkpoint_dir=tmp_path, on_task=stop_after_second)
    resumed = run_stream(strategy(InfLoRA), STREAM, checkpoint_dir=tmp_path, resume=True)
    assert resumed.til.values.tolist() == full.til.values.tolist()
    assert resumed.cil.values.tolist() == full.cil.values.tolist()


@pytest.mark.parametrize("method", ["sequential", "per_task"])
def test_logits_agree_with_predict_and_honour_attention_holes(method):
    st = make_strategy(method, backbone(), STREAM, train=TRAIN, device="cpu")
    st.train_task(STREAM[0])
    st.train_task(STREAM[1])
    texts = list(STREAM[0].test_texts[:6])
    enc = st.backbone.tokenize(texts)
    for tid in (0, None):
        logits = st.logits(enc["input_ids"], enc["attention_mask"], task_id=tid)
        assert torch.equal(logits.argmax(-1), st.predict(texts, task_id=tid))
        allowed = (
            set(STREAM[0].labels) if tid == 0 else set(STREAM[0].labels) | set(STREAM[1].labels)
        )
        finite = {c for c in range(STREAM.num_classes) if torch.isfinite(logits[0, c])}
        assert finite and finite <= allowed  # per-task LoRA without id keeps the winner's classes
    # a hole in the attention mask changes the input the model sees (nothing is trimmed away)
    holed = enc["attention_mask"].clone()
    holed[:, 0] = 0
    assert not torch.equal(
        st.logits(enc["input_ids"], holed), st.logits(enc["input_ids"], enc["attention_mask"])
    )
    with pytest.raises(DataError, match=r"\(B, L\)"):
        st.logits(enc["input_ids"][0], enc["attention_mask"][0])


@pytest.mark.parametrize("protocol", ["class_incremental", "task_aware"])
def test_joint_training_cross_entropy_runs_over_the_protocols_label_space(protocol, monkeypatch):
    """Task-aware joint training masks each example's logits to its own task's classes;
    class-incremental joint training keeps every class seen so far."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    ce = torch.nn.functional.cross_entropy

    def spy(logits, labels, *args, **kwargs):
        seen.append((torch.isfinite(logits.detach()), labels.detach().clone()))
        return ce(logits, labels, *args, **kwargs)

    st = strategy(JointTraining, config=JointConfig(protocol=protocol))
    st.train_task(STREAM[0])
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", spy)
    st.train_task(STREAM[1])
    monkeypatch.undo()
    union = set(STREAM[0].labels) | set(STREAM[1].labels)
    own = {c: set(t.labels) for t in (STREAM[0], STREAM[1]) for c in t.labels}
    rows = 0
    for finite, labels in seen:
        for f, y in zip(finite, labels.tolist(), strict=True):
            allowed = {c for c in range(STREAM.num_classes) if f[c]}
            assert allowed == (own[y] if protocol == "task_aware" else union)
            rows += 1
    # one epoch-sized pass per epoch over the union of both tasks
    assert rows == TRAIN.epochs * (STREAM[0].num_train + STREAM[1].num_train)


def test_task_aware_joint_training_is_a_named_method_with_its_own_default():
    st = make_strategy("joint_task_aware", backbone(), STREAM, train=TRAIN, device="cpu")
    assert isinstance(st, TaskAwareJointTraining) and st.config.protocol == "task_aware"
    assert JointTraining.default_config().protocol == "class_incremental"
    with pytest.raises(ConfigError, match="protocol='task_aware'"):
        strategy(TaskAwareJointTraining, config=JointConfig())
    with pytest.raises(ConfigError, match="'multi_task'"):
        JointConfig(protocol="multi_task")


def test_task_aware_joint_training_masks_follow_the_example_order():
    st = strategy(TaskAwareJointTraining)
    st._add_structures(STREAM[0])
    st._add_structures(STREAM[1])
    _texts, labels = st._training_examples(STREAM[1])
    masks = st._training_masks(STREAM[1], len(labels))
    assert masks is not None and masks.shape == (len(labels), STREAM.num_classes)
    for row, y in zip(masks, labels, strict=True):
        task = STREAM[0] if y in STREAM[0].labels else STREAM[1]
        assert {c for c in range(STREAM.num_classes) if row[c]} == set(task.labels)


def test_joint_training_with_inflora_parameterisation_trains_only_b_on_the_designed_a():
    cfg = JointConfig(adapter_init="inflora")
    st = strategy(JointTraining, config=cfg)
    st.train_task(STREAM[0])
    st.train_task(STREAM[1])  # a fresh adapter, designed from the union of both tasks
    texts, _ = st._training_examples(STREAM[1])
    data = st._encode(texts)
    with st.adapters.disabled():
        covs = st._input_covariances(data, cfg.covariance_samples)
    r = st.lora_config.r
    for lname, a, b in st.adapters.factors(st.adapter_now):
        u, _, _ = torch.linalg.svd(covs[lname], full_matrices=False)
        want = (u[:, :r].T * cfg.a_scale).float()
        assert torch.allclose(a, want, atol=1e-5)  # A is the design, untouched by training
        assert torch.allclose(a @ a.T, cfg.a_scale**2 * torch.eye(r), atol=1e-5)
        assert float(b.abs().max()) > 0  # B left its zero init
    with pytest.raises(ConfigError, match="adapter_init"):
        JointConfig(adapter_init="pca")
