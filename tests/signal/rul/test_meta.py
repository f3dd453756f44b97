import copy

import numpy as np
import pytest
import torch

from lab.core import ConfigError, DataError
from lab.core.testing import assert_state_dicts_equal, slow
from lab.signal.rul import (
    MKDPINN,
    AdaptConfig,
    CMAPSSConfig,
    MetaConfig,
    MKDPINNConfig,
    SimulatorConfig,
    adapt,
    evaluate_rul,
    meta_train,
    prepare_rul_data,
    simulate_turbofan,
    simulator_tasks,
    tasks_by_condition,
    tasks_by_units,
)
from lab.signal.rul.meta import _inner_loop

TINY = MKDPINNConfig(
    n_features=14,
    window=8,
    hidden_dim=4,
    d_model=8,
    n_heads=2,
    ff_dim=16,
    n_layers=1,
    pgr_width=8,
    dropout=0.0,
)


@pytest.fixture(scope="module")
def data():
    sub = simulate_turbofan(
        SimulatorConfig(n_train_units=8, n_test_units=4, n_conditions=3), seed=0
    )
    return prepare_rul_data(sub, CMAPSSConfig(window=8, val_fraction=0.25))


def test_reptile_with_full_step_lands_on_the_adapted_weights(data):
    cfg = MetaConfig(outer_steps=1, meta_batch_size=1, inner_steps=3, outer_lr=1.0, eval_every=0)
    torch.manual_seed(0)
    model = MKDPINN(TINY)
    start = copy.deepcopy(model)
    meta_train(model, [data.train], cfg, device="cpu", show_progress=False)
    # replay: same task draw, same inner loop
    rng = np.random.default_rng([cfg.seed, 0])
    rng.choice(1, size=1, replace=False)
    fast = copy.deepcopy(start)
    _inner_loop(
        fast,
        data.train,
        cfg,
        rng,
        torch.device("cpu"),
        cfg.inner_steps,
        cfg.inner_batch_size,
        cfg.inner_lr,
    )
    assert_state_dicts_equal(model.state_dict(), fast.state_dict(), atol=1e-6, rtol=1e-5)
    # half a step lands half-way
    half = copy.deepcopy(start)
    meta_train(
        half,
        [data.train],
        MetaConfig(**{**cfg.__dict__, "outer_lr": 0.5}),
        device="cpu",
        show_progress=False,
    )
    for k, v in half.state_dict().items():
        expect = 0.5 * (start.state_dict()[k] + fast.state_dict()[k])
        torch.testing.assert_close(v, expect, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("algorithm", ["reptile", "fomaml"])
def test_meta_training_improves_validation(data, algorithm):
    torch.manual_seed(0)
    model = MKDPINN(TINY)
    before = evaluate_rul(model, data.val)["rmse"]
    tasks = tasks_by_condition(data.train)
    res = meta_train(
        model,
        tasks,
        MetaConfig(
            algorithm=algorithm,
            outer_steps=40,
            meta_batch_size=3,
            inner_steps=3,
            outer_lr=0.5,
            meta_lr=1e-2,
            inner_lr=3e-3,
            eval_every=10,
        ),
        val=data.val,
        device="cpu",
        show_progress=False,
    )
    assert len(res.history) == 4
    assert res.best_val_rmse < 0.8 * before
    assert evaluate_rul(model, data.val)["rmse"] == pytest.approx(res.best_val_rmse, rel=1e-5)


def test_task_builders_partition_the_windows(data):
    by_cond = tasks_by_condition(data.train)
    assert len(by_cond) == 3
    assert sum(len(t) for t in by_cond) == len(data.train)
    assert all(len(np.unique(t.condition)) == 1 for t in by_cond)
    by_unit = tasks_by_units(data.train, 3, seed=0)
    units = [set(t.units.tolist()) for t in by_unit]
    assert sum(len(u) for u in units) == len(data.train.units)
    assert not (units[0] & units[1]) and not (units[1] & units[2])
    with pytest.raises(ConfigError):
        tasks_by_units(data.train, 100)
    sims = simulator_tasks(
        [
            SimulatorConfig(n_train_units=3, n_test_units=1),
            SimulatorConfig(n_train_units=3, n_test_units=1, wear_rate=(0.02, 0.03)),
        ],
        CMAPSSConfig(window=8),
    )
    assert len(sims) == 2 and all(t.x.shape[1:] == (8, 14) for t in sims)
    # faster wear gives shorter lives
    assert len(sims[1]) < len(sims[0])


def test_adapt_fits_support_and_leaves_the_input_alone(data):
    torch.manual_seed(0)
    model = MKDPINN(TINY)
    snapshot = copy.deepcopy(model.state_dict())
    support = data.train.select_units(data.train.units[:2])
    before = evaluate_rul(model, support)["rmse"]
    adapted = adapt(model, support, AdaptConfig(steps=60, lr=3e-3), device="cpu")
    assert evaluate_rul(adapted, support)["rmse"] < 0.5 * before
    assert_state_dicts_equal(model.state_dict(), snapshot)
    with pytest.raises(DataError):
        adapt(model, support.subset(np.zeros(len(support), bool)))
    with pytest.raises(DataError, match="at least one task"):
        meta_train(model, [], MetaConfig())


@slow
def test_meta_learned_start_beats_scratch_in_few_shot():
    cm = CMAPSSConfig(window=8)
    sources = [
        SimulatorConfig(n_train_units=10, n_test_units=2, wear_rate=r)
        for r in ((0.008, 0.012), (0.012, 0.016), (0.016, 0.02), (0.02, 0.025))
    ]
    tasks = simulator_tasks(sources, cm, seed=0)
    target = simulate_turbofan(
        SimulatorConfig(n_train_units=3, n_test_units=20, wear_rate=(0.014, 0.018)), seed=99
    )
    tdata = prepare_rul_data(target, CMAPSSConfig(window=8, val_fraction=0.0))
    torch.manual_seed(0)
    meta = MKDPINN(TINY)
    meta_train(
        meta,
        tasks,
        MetaConfig(
            outer_steps=150,
            meta_batch_size=4,
            inner_steps=5,
            outer_lr=0.5,
            inner_lr=3e-3,
            eval_every=0,
        ),
        device="cpu",
        show_progress=False,
    )
    torch.manual_seed(0)
    scratch = MKDPINN(TINY)
    acfg = AdaptConfig(steps=40, lr=3e-3)
    a = evaluate_rul(adapt(meta, tdata.train, acfg), tdata.test)["rmse"]
    b = evaluate_rul(adapt(scratch, tdata.train, acfg), tdata.test)["rmse"]
    assert a < b
