"""Salted-hash randomizer and server estimator: constants, unbiasedness, variance, intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lab.core import ConfigError, DataError
from lab.core.testing import device_params
from lab.privacy.collision import (
    LDPEstimatorConfig,
    SaltedHashConfig,
    SaltedHashLDP,
    SaltedHashReports,
    assign_groups,
    best_group_size,
    dirichlet_distribution,
    estimate_collision_ldp,
    exact_collision_probability,
    group_estimates,
    salted_hash_group_variance,
    salted_hash_variance_bound,
    sample_categorical,
    table_size,
    uniform_distribution,
    zipf_distribution,
)
from lab.privacy.collision._hashing import mix64

DISTS = {
    "uniform": uniform_distribution(8),
    "zipf": zipf_distribution(30, 1.1),
    "dirichlet": dirichlet_distribution(15, 0.7, seed=5),
}


def test_mix64_matches_uint64_reference():
    x = np.array([0, 1, 2**40 + 7, -5, 2**63 - 1], dtype=np.int64)
    z = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    assert np.array_equal(mix64(torch.tensor(x)).numpy().view(np.uint64), z)


def test_table_size_constants():
    # Hoeffding rule: ceil(2 ln(4/beta) / tanh(alpha/2)^2)
    assert table_size(1.0, 1e-3) == math.ceil(2 * math.log(4000) / math.tanh(0.5) ** 2) == 78
    # small-alpha limit is the quoted 8 ln(4/beta) / alpha^2
    a = 0.02
    assert table_size(a, 0.01) / (8 * math.log(400) / a**2) == pytest.approx(1.0, rel=1e-3)
    # the exact binomial rule never needs more
    for alpha, beta in [(0.5, 1e-2), (1.0, 1e-3), (2.0, 1e-4)]:
        assert table_size(alpha, beta, "binomial") <= table_size(alpha, beta)
    assert best_group_size(78, 0.1) == 780


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_alpha(bad):
    with pytest.raises(ConfigError, match="alpha"):
        SaltedHashConfig(alpha=bad)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 2.0])
def test_bad_beta(bad):
    with pytest.raises(ConfigError, match=f"beta.*{bad}"):
        SaltedHashConfig(beta=bad)


def test_assign_groups_sizes():
    g = assign_groups(1003, 100)
    sizes = torch.bincount(g)
    assert (
        sizes.numel() == 10 and int(sizes.min()) >= 100 and int(sizes.max()) - int(sizes.min()) <= 1
    )


@pytest.mark.parametrize("name", list(DISTS))
def test_group_estimates_unbiased_and_variance_formula(name):
    """Every group has its own table: the C_g are i.i.d., mean C, variance = the formula."""
    p = DISTS[name]
    c = exact_collision_probability(p)
    m, n_g, groups = 6, 12, 25_000
    ldp = SaltedHashLDP(SaltedHashConfig(table_size=m, group_size=n_g, table_seed=17))
    vals = sample_categorical(p, n_g * groups, seed=2)
    c_g, sizes = group_estimates(ldp.privatize(vals, simulation_seed=9, device="cpu"))
    assert sizes.min() == sizes.max() == n_g
    var = salted_hash_group_variance(p, m, n_g)
    assert abs(c_g.mean() - c) < 3 * math.sqrt(var / groups)
    assert c_g.var(ddof=1) / var == pytest.approx(1.0, abs=0.08)
    assert var <= float(salted_hash_variance_bound(c, m, n_g))


def test_mean_aggregate_unbiased_over_table_draws():
    p = DISTS["zipf"]
    c = exact_collision_probability(p)
    ests = []
    for trial in range(60):
        ldp = SaltedHashLDP(SaltedHashConfig(table_size=20, group_size=40, table_seed=1000 + trial))
        rep = ldp.privatize(
            sample_categorical(p, 4000, seed=trial), simulation_seed=trial, device="cpu"
        )
        ests.append(
            estimate_collision_ldp(rep, LDPEstimatorConfig(aggregate="mean", ci="normal")).estimate
        )
    ests = np.array(ests)
    var = salted_hash_group_variance(p, 20, 40) / 100
    assert abs(ests.mean() - c) < 3 * math.sqrt(var / len(ests))


def test_median_of_means_interval_coverage_and_bias():
    p = DISTS["uniform"]
    c = exact_collision_probability(p)
    ests, hits = [], 0
    for trial in range(30):
        ldp = SaltedHashLDP(SaltedHashConfig(alpha=2.0, beta=1e-2, c_guess=c, table_seed=trial))
        e = ldp.run(
            sample_categorical(p, 30_000, seed=100 + trial),
            simulation_seed=trial,
            config=LDPEstimatorConfig(
                aggregate="median_of_means", ci="chebyshev", min_groups_per_block=10
            ),
            device="cpu",
        )
        ests.append(e.estimate)
        hits += e.ci_low <= c <= e.ci_high
        assert e.details["n_blocks"] == 9  # smallest odd B with P(Bin(B,1/4) >= B/2) <= 0.05
    assert hits >= 28
    ests = np.array(ests)
    # median of means is nearly unbiased: |bias| small next to its spread
    assert abs(ests.mean() - c) < 3 * ests.std(ddof=1) / math.sqrt(len(ests)) + 0.1 * ests.std()


def test_estimate_is_fast_for_ten_million_reports():
    import time

    n = 10_000_000
    rep = SaltedHashReports(
        groups=assign_groups(n, 1000),
        bits=torch.randint(0, 2, (n,)),
        m=78,
        n_groups=n // 1000,
        alpha=1.0,
        beta=1e-3,
    )
    t0 = time.perf_counter()
    est = estimate_collision_ldp(rep, device="cpu")
    assert time.perf_counter() - t0 < 6.0  # < 2 s on an idle core; slack for a shared runner
    assert abs(est.estimate) < 0.05  # fair coin bits: C_g = m * (S^2 - n)/(n(n-1)) has mean 0


def test_server_errors_are_named():
    ldp = SaltedHashLDP(SaltedHashConfig(table_size=10, group_size=5))
    rep = ldp.privatize(list(range(10)), simulation_seed=0, device="cpu")
    bad = SaltedHashReports(rep.groups, rep.bits * 2, rep.m, rep.n_groups, 1.0, 1e-3)
    with pytest.raises(DataError, match="0 or 1"):
        group_estimates(bad)
    lonely = SaltedHashReports(torch.tensor([0, 0, 1]), torch.tensor([1, 0, 1]), 10, 2, 1.0, 1e-3)
    with pytest.raises(DataError, match="group 1 has 1"):
        group_estimates(lonely)
    one = SaltedHashReports(rep.groups * 0, rep.bits, rep.m, 1, 1.0, 1e-3)
    with pytest.raises(DataError, match="normal interval needs at least 2 groups, got 1"):
        estimate_collision_ldp(one)
    assert math.isfinite(
        estimate_collision_ldp(one, LDPEstimatorConfig(ci="chebyshev")).details["chebyshev_high"]
    )
    mom = LDPEstimatorConfig(aggregate="median_of_means")
    with pytest.raises(DataError, match=r"needs >= 50 groups per block \(450 groups\), got 2"):
        estimate_collision_ldp(rep, mom)
    with pytest.raises(DataError, match="at least 2 users"):
        ldp.privatize([1], simulation_seed=0, device="cpu")
    with pytest.raises(DataError, match="not a hashable category"):
        ldp.privatize([{"a": 1}, {"b": 2}], simulation_seed=0, device="cpu")


@pytest.mark.parametrize("device", device_params)
def test_runs_on_device(device):
    p = DISTS["uniform"]
    ldp = SaltedHashLDP(SaltedHashConfig(alpha=4.0, beta=1e-2, c_guess=0.125))
    vals = sample_categorical(p, 60_000, seed=1, device=device)
    rep = ldp.privatize(vals, simulation_seed=1, device=device)
    assert rep.bits.device.type == device
    e = estimate_collision_ldp(rep, LDPEstimatorConfig(ci="chebyshev"), device=device)
    assert e.ci_low <= 0.125 <= e.ci_high
    # the public table is the same function on every device
    ids = torch.arange(50)
    assert torch.equal(
        ldp.table_bits(3, ids, device=device).cpu(), ldp.table_bits(3, ids, device="cpu")
    )
