import numpy as np
import pytest
import torch

from lab.core import RunDir
from lab.core.testing import assert_state_dicts_equal
from lab.signal.rul import (
    MKDPINN,
    CMAPSSConfig,
    MKDPINNConfig,
    SimulatorConfig,
    TrainConfig,
    evaluate_rul,
    prepare_rul_data,
    rmse,
    simulate_turbofan,
    train_rul,
)

TINY = MKDPINNConfig(
    n_features=14, window=8, hidden_dim=4, d_model=8, n_heads=2, ff_dim=16, n_layers=1, pgr_width=8
)


@pytest.fixture(scope="module")
def sim_data():
    sub = simulate_turbofan(SimulatorConfig(n_train_units=10, n_test_units=6), seed=0)
    return prepare_rul_data(sub, CMAPSSConfig(window=8, val_fraction=0.2))


def test_training_beats_the_mean_predictor(sim_data):
    torch.manual_seed(0)
    model = MKDPINN(TINY)
    res = train_rul(
        model,
        sim_data,
        TrainConfig(epochs=12, batch_size=128, lr=3e-3, patience=0),
        device="cpu",
        show_progress=False,
    )
    mean_rmse = rmse(np.full(len(sim_data.val), sim_data.train.y.mean()), sim_data.val.y)
    assert res.best_val_rmse < 0.6 * mean_rmse
    # the returned model holds the best epoch's weights
    assert evaluate_rul(model, sim_data.val)["rmse"] == pytest.approx(res.best_val_rmse, rel=1e-5)
    assert res.history[-1]["physics_mse"] < res.history[0]["physics_mse"]


def test_resume_is_bit_exact(sim_data, tmp_path):
    cfg = TrainConfig(
        epochs=3, batch_size=256, patience=0, max_steps_per_epoch=3, lr_schedule="cosine"
    )

    def fresh():
        torch.manual_seed(1)
        return MKDPINN(TINY)

    full = fresh()
    run = RunDir.create("t", root=tmp_path)
    torch.manual_seed(5)
    res_full = train_rul(full, sim_data, cfg, device="cpu", run_dir=run, show_progress=False)
    assert len(list(run.checkpoints.glob("step_*.pt"))) == 3
    assert res_full.best_epoch == 3  # so the comparison below covers the resumed epoch
    # simulate a crash after epoch 2: drop the last checkpoint and metrics line
    run.checkpoint_path(3).unlink()
    lines = run.metrics_file.read_text().splitlines()[:2]
    run.metrics_file.write_text("\n".join(lines) + "\n")
    resumed = fresh()
    torch.manual_seed(123)  # resume must restore the RNG, not rely on this
    res_resumed = train_rul(
        resumed,
        sim_data,
        cfg,
        device="cpu",
        run_dir=RunDir.open(run.path),
        resume=True,
        show_progress=False,
    )
    assert_state_dicts_equal(full.state_dict(), resumed.state_dict())
    assert [h["val_rmse"] for h in res_full.history] == [h["val_rmse"] for h in res_resumed.history]
    assert len(list(run.metrics())) == 3
