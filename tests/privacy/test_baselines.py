"""Baselines: unbiasedness, the documented variance of the pairwise estimator, pure-ldp use."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from lab.core import DataError
from lab.privacy.collision import (
    FrequencyOracleConfig,
    FrequencyOraclePlugin,
    PairwiseRandomizedResponse,
    PairwiseRRConfig,
    dirichlet_distribution,
    exact_collision_probability,
    sample_categorical,
    uniform_distribution,
    zipf_distribution,
)

DISTS = {
    "uniform": uniform_distribution(6),
    "zipf": zipf_distribution(10, 1.0),
    "dirichlet": dirichlet_distribution(8, 0.5, seed=1),
}


@pytest.mark.parametrize("name", list(DISTS))
def test_pairwise_rr_unbiased_with_documented_variance(name):
    p = DISTS[name]
    c = exact_collision_probability(p)
    alpha, n, trials = 1.0, 2000, 300
    ests = np.array(
        [
            PairwiseRandomizedResponse(PairwiseRRConfig(alpha=alpha, hash_seed=t))
            .run(sample_categorical(p, n, seed=t), simulation_seed=10_000 + t, device="cpu")
            .estimate
            for t in range(trials)
        ]
    )
    var = (1 / math.tanh(alpha / 2) ** 4 - c * c) / (n // 2)
    assert abs(ests.mean() - c) < 3 * math.sqrt(var / trials)
    assert ests.var(ddof=1) / var == pytest.approx(1.0, abs=0.2)


def test_pairwise_rr_odd_user_is_reported():
    e = PairwiseRandomizedResponse().run(list(range(11)), simulation_seed=0, device="cpu")
    assert e.n == 10 and e.details["n_unpaired"] == 1


@pytest.mark.parametrize("name", list(DISTS))
def test_frequency_oracle_plugin_unbiased(name):
    pytest.importorskip("pure_ldp")
    p = DISTS[name]
    c = exact_collision_probability(p)
    fo = FrequencyOraclePlugin(FrequencyOracleConfig(alpha=1.5), domain=p.size)
    ests = np.array(
        [
            fo.run(sample_categorical(p, 300, seed=t).numpy(), simulation_seed=t).estimate
            for t in range(300)
        ]
    )
    se = ests.std(ddof=1) / math.sqrt(len(ests))
    assert abs(ests.mean() - c) < 3 * se


def test_frequency_oracle_uses_pure_ldp_estimates_and_restores_global_rng():
    pytest.importorskip("pure_ldp")
    from pure_ldp.frequency_oracles import DEServer

    fo = FrequencyOraclePlugin(FrequencyOracleConfig(alpha=1.0), domain=["a", "b", "c", "d"])
    values = ["a", "b", "a", "d", "c", "a"] * 50
    random.seed(123)
    before = random.random()
    random.seed(123)
    rep = fo.privatize(values, simulation_seed=5)
    assert random.random() == before  # pure-ldp's global draws did not leak out
    assert np.array_equal(rep.reports, fo.privatize(values, simulation_seed=5).reports)
    server = DEServer(1.0, 4, index_mapper=lambda x: x)
    server.aggregate_all(rep.reports.tolist())
    f = np.asarray(server.estimate_all(range(4), suppress_warnings=True))
    const = server.const
    norm_v = ((const - 1) ** 2 + 3) / (const - 4) ** 2
    n = len(values)
    assert fo.estimate(rep).estimate == pytest.approx((f @ f - n * norm_v) / (n * (n - 1)))
    with pytest.raises(DataError, match="'z' is not in"):
        fo.privatize(["a", "z"], simulation_seed=0)
    with pytest.raises(DataError, match="outside the domain"):
        FrequencyOraclePlugin(FrequencyOracleConfig(), domain=3).privatize(
            [0, 3], simulation_seed=0
        )


def test_same_integer_seed_for_data_and_randomizer_is_safe():
    """Regression: the randomizer's stream is derived from its seed, not equal to the sampler's."""
    p = DISTS["zipf"]
    c = exact_collision_probability(p)
    n, trials = 20_000, 30
    ests = np.array(
        [
            PairwiseRandomizedResponse(PairwiseRRConfig(hash_seed=s))
            .run(sample_categorical(p, n, seed=s), simulation_seed=s, device="cpu")
            .estimate
            for s in range(trials)
        ]
    )
    var = (1 / math.tanh(0.5) ** 4 - c * c) / (n // 2)
    assert abs(ests.mean() - c) < 3 * math.sqrt(var / trials)
