import numpy as np
import pytest

from lab.core import ConfigError
from lab.signal.rul import CMAPSSConfig, SimulatorConfig, prepare_rul_data, simulate_turbofan


def test_fleet_shape_determinism_and_failure_convention():
    cfg = SimulatorConfig(n_train_units=8, n_test_units=5, n_conditions=4, fault_modes=(0, 1))
    a = simulate_turbofan(cfg, seed=7)
    b = simulate_turbofan(cfg, seed=7)
    c = simulate_turbofan(cfg, seed=8)
    np.testing.assert_array_equal(a.train, b.train)
    assert a.train.shape[1] == 26 and a.n_train_units == 8 and a.n_test_units == 5
    assert not np.array_equal(a.train[:50], c.train[:50])
    # four operating conditions, identified like C-MAPSS
    data = prepare_rul_data(a, CMAPSSConfig(window=5, val_fraction=0.0))
    assert len(data.scaler.conditions) == 4
    # test RUL is non-negative and test units are numbered after the training units
    assert np.all(a.test_rul >= 0)
    assert np.unique(a.test[:, 0]).min() == 9


def test_health_sensors_drift_towards_failure_and_noise_free_sensors_are_flat():
    cfg = SimulatorConfig(n_train_units=3, n_test_units=1, noise_std=0.0, initial_wear=(0, 0))
    sub = simulate_turbofan(cfg, seed=0)
    unit = sub.train[sub.train[:, 0] == 1]
    sensors = unit[:, 5:]
    # s1 (no health information) is constant in one condition
    assert np.ptp(sensors[:, 0]) == 0.0
    # informative sensors move monotonically (exponential wear, fixed sign per sensor)
    diffs = np.diff(sensors[:, 1])  # s2
    assert np.all(diffs >= -1e-9) or np.all(diffs <= 1e-9)
    # the wear accelerates: the change in the last 10 cycles beats the first 10
    assert abs(sensors[-1, 1] - sensors[-11, 1]) > abs(sensors[10, 1] - sensors[0, 1])


def test_lifetime_follows_the_threshold():
    # one degraded parameter pair, no initial wear, fixed rates: life = ceil(log1p(1/a)/b)
    cfg = SimulatorConfig(
        n_train_units=1,
        n_test_units=1,
        wear_rate=(0.02, 0.02),
        wear_scale=(0.05, 0.05),
        initial_wear=(0.0, 0.0),
    )
    sub = simulate_turbofan(cfg, seed=0)
    life = int(np.ceil(np.log1p(1 / 0.05) / 0.02))
    assert sub.train[:, 1].max() == life - 1


def test_bad_settings_are_rejected():
    with pytest.raises(ConfigError, match="n_conditions"):
        SimulatorConfig(n_conditions=7)
    with pytest.raises(ConfigError, match="fault_modes"):
        SimulatorConfig(fault_modes=(3,))
    with pytest.raises(ConfigError, match="max_cycles"):
        simulate_turbofan(SimulatorConfig(wear_rate=(1e-4, 1e-4), wear_scale=(1e-3, 1e-3)))
