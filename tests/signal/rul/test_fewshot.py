import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy import stats

from lab.core import ConfigError, DataError
from lab.signal.rul import (
    FEWSHOT_ARMS,
    MKDPINN,
    AdaptConfig,
    CMAPSSConfig,
    FewShotConfig,
    MetaConfig,
    MKDPINNConfig,
    SimulatorConfig,
    adapt,
    few_shot_experiment,
    few_shot_split,
    known_rul_residual,
    paired_difference,
    prepare_rul_data,
    simulate_turbofan,
    simulator_tasks,
)

DATA = CMAPSSConfig(window=8)
TINY = MKDPINNConfig(
    hidden_dim=4, d_model=8, n_heads=2, ff_dim=16, n_layers=1, pgr_width=8, dropout=0.0
)


def _config(**kw):
    base = dict(
        k=2,
        draws=(0, 1),
        seeds=(0, 1),
        step_grid=(0, 3, 6),
        data=DATA,
        model=TINY,
        meta=MetaConfig(
            outer_steps=3, meta_batch_size=2, inner_steps=4, inner_batch_size=32, eval_every=0
        ),
        adapt_batch_size=32,
        adapt_lr=1e-2,
        plain_lr=1e-2,
    )
    base.update(kw)
    return FewShotConfig(**base)


@pytest.fixture(scope="module")
def fleets():
    sources = simulator_tasks(
        [SimulatorConfig(n_train_units=6, n_test_units=2, n_conditions=c) for c in (1, 2)],
        DATA,
        seed=0,
    )
    target = simulate_turbofan(
        SimulatorConfig(n_train_units=8, n_test_units=5, n_conditions=3), seed=7
    )
    return sources, target


@pytest.fixture(scope="module")
def run(fleets):
    sources, target = fleets
    return few_shot_experiment(sources, target, _config(), device="cpu", show_progress=False)


def test_paired_difference_matches_scipy_paired_t_test():
    a = [3.0, 5.5, 4.0, 7.25]
    b = [2.0, 5.0, 4.5, 5.0]
    res = paired_difference(a, b)
    ref = stats.ttest_rel(a, b)
    d = np.subtract(a, b)
    assert res["n"] == 4 and res["a_lower"] == 1
    assert res["mean"] == pytest.approx(d.mean())
    assert res["se"] == pytest.approx(d.std(ddof=1) / 2)
    assert res["t"] == pytest.approx(ref.statistic)
    assert res["p"] == pytest.approx(ref.pvalue)
    assert math.isnan(paired_difference([1.0], [0.0])["p"])
    assert paired_difference([1.0, 2.0], [1.0, 2.0])["p"] == 1.0
    with pytest.raises(DataError, match="differ in number"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(DataError, match="non-finite"):
        paired_difference([1.0, math.nan], [1.0, 2.0])


def test_config_needs_zero_in_an_increasing_step_grid():
    with pytest.raises(ConfigError, match="contain 0"):
        FewShotConfig(step_grid=(5, 10))
    with pytest.raises(ConfigError, match="increasing"):
        FewShotConfig(step_grid=(0, 10, 5))
    with pytest.raises(ConfigError):
        FewShotConfig(k=0)
    cfg = FewShotConfig(meta=MetaConfig(outer_steps=7, meta_batch_size=3, inner_steps=2))
    assert cfg.pretrain_steps == 7 * 3 * 2  # equal compute by default
    assert FewShotConfig(plain_steps=11).pretrain_steps == 11


def test_split_holds_out_engines_and_scales_on_the_support_only(fleets):
    _, target = fleets
    d = few_shot_split(target, DATA, 3, 2, seed=4)
    sup, val = d.train.units, d.val.units
    assert len(sup) == 3 and len(val) == 2 and not set(sup) & set(val)
    ref = prepare_rul_data(target, CMAPSSConfig(window=8, val_fraction=0.0), train_units=sup)
    np.testing.assert_allclose(d.scaler.mean, ref.scaler.mean)
    np.testing.assert_allclose(d.train.x, ref.train.x)
    assert len(d.test) == target.n_test_units
    with pytest.raises(ConfigError, match="training engines"):
        few_shot_split(target, DATA, 8, 1, seed=0)


def test_adapt_callback_sees_every_step_and_zero_steps_change_nothing(fleets):
    sources, _ = fleets
    torch.manual_seed(0)
    model = MKDPINN(TINY)
    seen = []
    adapt(
        model, sources[0], AdaptConfig(steps=3, batch_size=16), callback=lambda s, m: seen.append(s)
    )
    assert seen == [0, 1, 2, 3]
    same = adapt(model, sources[0], AdaptConfig(steps=0))
    for k, v in model.state_dict().items():
        torch.testing.assert_close(same.state_dict()[k], v)


def test_every_arm_on_every_draw_and_seed_with_selection_on_held_out_engines(run):
    rows = run.rows
    assert sorted((r["seed"], r["draw"]) for r in rows) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for r in rows:
        assert not set(r["support_units"]) & set(r["val_units"])
        for arm in ("scratch", "meta_adapt", "plain_adapt"):
            curve = r[arm]["curve"]
            assert sorted(map(int, curve)) == [0, 3, 6]
            best = min((0, 3, 6), key=lambda s: (curve[str(s)]["val_rmse"], s))
            assert r[arm]["steps"] == best
            assert r[arm]["rmse"] == curve[str(best)]["test_rmse"]
        # zero-shot arms are the adapted arms' step-0 points
        assert r["meta_zero"]["rmse"] == r["meta_adapt"]["curve"]["0"]["test_rmse"]
        assert r["plain_zero"]["score"] == r["plain_adapt"]["curve"]["0"]["test_score"]
    # the same draw gives the same engines for every seed
    by = {(r["seed"], r["draw"]): r for r in rows}
    assert by[(0, 1)]["support_units"] == by[(1, 1)]["support_units"]
    summ = run.summary()
    assert summ["n_pairs"] == 4 and set(summ["arms"]) == set(FEWSHOT_ARMS)
    diff = [r["meta_adapt"]["rmse"] - r["scratch"]["rmse"] for r in rows]
    assert summ["paired"]["meta_adapt-scratch"]["rmse"]["mean"] == pytest.approx(np.mean(diff))
    assert sum(summ["arms"]["meta_adapt"]["chosen_steps"].values()) == 4


def test_pretraining_on_the_sources_beats_the_random_start(run):
    # scratch at step 0 is the shared random initialisation: pretraining must move far from it
    for r in run.rows:
        assert r["plain_zero"]["rmse"] < 0.8 * r["scratch"]["curve"]["0"]["test_rmse"]


def test_without_pretraining_steps_the_plain_start_is_the_shared_initialisation(fleets):
    sources, target = fleets
    res = few_shot_experiment(
        sources,
        target,
        _config(plain_steps=0, seeds=(3,), draws=(0,)),
        device="cpu",
        show_progress=False,
    )
    (r,) = res.rows
    assert r["plain_adapt"]["curve"] == r["scratch"]["curve"]


def test_rerun_is_reproducible_and_resumes_from_cache_and_rows(fleets, run, tmp_path):
    sources, target = fleets
    cfg = _config(seeds=(0,), draws=(0, 1))
    first = few_shot_experiment(sources, target, cfg, cache_dir=tmp_path, show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta_seed0.pt", "plain_seed0.pt"]
    ref = [r for r in run.rows if r["seed"] == 0]
    assert first.rows == ref  # same numbers as the module-level run
    new = []
    again = few_shot_experiment(
        sources,
        target,
        cfg,
        cache_dir=tmp_path,
        done_rows=first.rows[:1],
        on_row=new.append,
        show_progress=False,
    )
    assert again.rows == first.rows and [(r["seed"], r["draw"]) for r in new] == [(0, 1)]


def test_source_windows_must_match_the_config(fleets):
    sources, target = fleets
    with pytest.raises(DataError, match="source task 0"):
        few_shot_experiment(sources, target, _config(data=CMAPSSConfig(window=10)))


def test_known_residual_is_zero_for_rul_falling_one_per_cycle():
    h = torch.randn(4, 3)
    t = torch.tensor([0.1, 0.2, 0.5, 0.9])  # cycles 10, 20, 50, 90 at time_scale 0.01

    def u_fn(h, t):
        return h.sum(dim=1) - t / 0.01  # one cycle later, one cycle less

    y = torch.tensor([30.0, 125.0, 80.0, 130.0])
    f, u = known_rul_residual(u_fn, h, t, y, time_scale=0.01, rul_cap=125.0)
    torch.testing.assert_close(f, torch.tensor([0.0, -1.0, 0.0, -1.0]))
    torch.testing.assert_close(u, h.sum(dim=1) - t / 0.01)
    f2, _ = known_rul_residual(u_fn, h, t, y, time_scale=0.01, rul_cap=None)
    torch.testing.assert_close(f2, torch.zeros(4))


def test_known_physics_loss_trains_the_predictor_and_not_the_pgr():
    torch.manual_seed(0)
    cfg = replace(TINY, n_features=3, window=6, physics="known", physics_weight=5.0)
    model = MKDPINN(cfg)
    loss, parts = model.loss(torch.randn(5, 6, 3), torch.rand(5), torch.rand(5) * 150)
    assert parts["physics"] > 0
    loss.backward()
    assert model.pgr.out.weight.grad is None
    assert model.predictor.mlp[0].weight.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="physics"):
        MKDPINNConfig(physics="learned")
