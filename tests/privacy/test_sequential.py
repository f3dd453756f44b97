"""Sequential tests: incremental statistic, type-I error <= delta, power, 1/eps^2 scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from lab.core import ConfigError
from lab.privacy.collision import (
    PrivateSequentialCollisionTest,
    PrivateSequentialTestConfig,
    SequentialCollisionTest,
    SequentialTestConfig,
    collision_probability,
    fixed_sample_size,
    fixed_sample_test,
    hoeffding_u_radius,
)
from lab.privacy.collision.sequential import IncrementalCollisionCounter


def _uniform(k):
    return lambda n, rng: rng.integers(0, k, size=n)


def _max_rejections(trials: int, delta: float) -> int:
    """Upper 99.9% quantile of Bin(trials, delta): the binomial slack of an empirical check."""
    return int(binom.ppf(0.999, trials, delta))


def test_incremental_counter_matches_batch_statistic():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 7, size=500)
    c = IncrementalCollisionCounter()
    for chunk in np.array_split(x, [3, 50, 51, 200]):
        c.update(chunk)
        assert c.statistic == pytest.approx(collision_probability(x[: c.t]))
    assert c.t == 500


def test_radius_formula():
    assert hoeffding_u_radius(100, 0.05) == pytest.approx(math.sqrt(math.log(40) / 100))
    assert hoeffding_u_radius(101, 0.05, "greater") == pytest.approx(math.sqrt(math.log(20) / 100))
    assert fixed_sample_size(0.1, 0.05) == 2 * math.ceil(math.log(40) / (2 * 0.05**2))


def test_type_one_error_two_sided():
    delta, trials = 0.2, 300
    test = SequentialCollisionTest(
        SequentialTestConfig(c0=0.1, delta=delta, first_check=32, max_samples=2**13)
    )
    rejections = sum(test.run_sampler(_uniform(10), seed=s).reject for s in range(trials))
    assert rejections <= _max_rejections(trials, delta)


def test_type_one_error_one_sided_composite_null():
    # H0: C <= 0.25 holds with C = 0.1 (and at the boundary C = 0.25)
    for k, c0 in [(10, 0.25), (4, 0.25)]:
        test = SequentialCollisionTest(
            SequentialTestConfig(
                c0=c0, delta=0.2, alternative="greater", first_check=32, max_samples=2**12
            )
        )
        rejections = sum(test.run_sampler(_uniform(k), seed=s).reject for s in range(200))
        assert rejections <= _max_rejections(200, 0.2)


def test_power_and_inverse_square_scaling():
    """Stopping time ~ 1/eps^2: halving the gap multiplies the median by about 4."""
    medians = {}
    for eps in (0.08, 0.04):
        test = SequentialCollisionTest(
            SequentialTestConfig(
                c0=0.1 - eps, delta=0.05, first_check=16, growth=1.5, max_samples=2**16
            )
        )
        res = [test.run_sampler(_uniform(10), seed=s) for s in range(40)]
        assert all(r.reject for r in res)
        medians[eps] = float(np.median([r.stopping_time for r in res]))
        # never needs more than the fixed-n test that knows eps (up to one epoch of growth)
        assert medians[eps] <= 1.5 * fixed_sample_size(eps, 0.05)
    assert 2.0 <= medians[0.04] / medians[0.08] <= 8.0


def test_run_on_finite_sequence_and_path():
    rng = np.random.default_rng(3)
    values = [f"c{v}" for v in rng.integers(0, 4, size=5000)]  # C = 0.25
    res = SequentialCollisionTest(SequentialTestConfig(c0=0.1, first_check=64)).run(values)
    assert res.reject and res.decision == "reject H0"
    t, stat, r = res.path[-1]
    assert t == res.stopping_time and abs(stat - 0.1) > r
    assert np.all(np.diff(res.path[:, 0]) > 0)
    short = SequentialCollisionTest(SequentialTestConfig(c0=0.25)).run(values[:100])
    assert not short.reject and short.stopping_time is None and short.n_used == 100


def test_fixed_sample_test():
    rng = np.random.default_rng(4)
    n = fixed_sample_size(0.1, 0.05)
    assert fixed_sample_test(rng.integers(0, 4, size=n), 0.1, 0.1, 0.05)  # C = 0.25
    assert not fixed_sample_test(rng.integers(0, 10, size=n), 0.1, 0.1, 0.05)


@pytest.mark.parametrize(
    "field,value",
    [
        ("delta", 0.0),
        ("delta", 1.0),
        ("c0", 0.0),
        ("c0", 1.5),
        ("growth", 1.0),
        ("alternative", "less"),
    ],
)
def test_bad_config(field, value):
    with pytest.raises(ConfigError, match=field):
        SequentialTestConfig(**{field: value})


def _private(c0, alternative="two-sided", max_samples=140_000):
    return PrivateSequentialCollisionTest(
        PrivateSequentialTestConfig(
            c0=c0,
            delta=0.2,
            alpha=4.0,
            beta=1e-2,
            alternative=alternative,
            first_check_groups=16,
            max_samples=max_samples,
        )
    )


def test_private_test_type_one_error_and_power():
    test = _private(0.1)
    assert test.m == 13 and test.group_size == 130
    null = [
        test.run_sampler(_uniform(10), seed=s, simulation_seed=s, device="cpu") for s in range(40)
    ]
    assert sum(r.reject for r in null) <= _max_rejections(40, 0.2)
    alt = [
        test.run_sampler(_uniform(3), seed=s, simulation_seed=s, device="cpu") for s in range(10)
    ]
    assert all(r.reject for r in alt)
    assert all(r.stopping_time % test.group_size == 0 for r in alt)
    one_sided = _private(0.3, "greater")
    assert not any(
        one_sided.run_sampler(_uniform(4), seed=s, simulation_seed=s, device="cpu").reject
        for s in range(10)
    )


def test_private_test_on_values():
    rng = np.random.default_rng(0)
    res = _private(0.1).run(
        rng.integers(0, 3, size=40_000).tolist(), simulation_seed=1, device="cpu"
    )
    assert res.reject and res.stopping_time <= 40_000
