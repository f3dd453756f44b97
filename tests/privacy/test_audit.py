"""Exact privacy audits: the salted hash within beta, the baselines exactly alpha-LDP."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from lab.core import ConfigError, DataError
from lab.privacy.collision import (
    FrequencyOracleConfig,
    FrequencyOraclePlugin,
    PairwiseRandomizedResponse,
    PairwiseRRConfig,
    SaltedHashConfig,
    SaltedHashLDP,
    audit_likelihoods,
    audit_salted_hash,
    pairwise_privacy_loss,
    table_size,
)


def _pair_violation_probability(m: int, alpha: float) -> float:
    """Exact P(pair loss > alpha) for two independent Bin(m, 1/2)/m column means."""
    h = np.arange(m + 1) / m
    w = binom.pmf(np.arange(m + 1), m, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        l1, l0 = np.log(h), np.log1p(-h)
        loss = np.maximum(np.abs(l1[:, None] - l1[None, :]), np.abs(l0[:, None] - l0[None, :]))
    loss = np.nan_to_num(loss, nan=0.0, posinf=np.inf)
    return float(np.sum(np.outer(w, w) * (loss > alpha * (1 + 1e-12))))


@pytest.mark.parametrize("rule", ["hoeffding", "binomial"])
@pytest.mark.parametrize(("alpha", "beta"), [(0.5, 1e-2), (1.0, 1e-3), (3.0, 1e-2)])
def test_table_size_meets_beta_exactly(alpha, beta, rule):
    m = table_size(alpha, beta, rule)
    assert _pair_violation_probability(m, alpha) <= beta


def test_audit_of_hoeffding_tables_is_within_beta():
    ldp = SaltedHashLDP(SaltedHashConfig(alpha=1.0, beta=1e-2, table_seed=4))
    a = audit_salted_hash(ldp, 300, groups=range(4), device="cpu")
    assert a.n_pairs == 4 * 300 * 299 // 2
    assert a.violation_fraction <= 1e-2
    assert a.column_means.shape == (4, 300)
    assert np.all(np.abs(a.column_means - 0.5) <= math.tanh(0.5) / 2 + 0.2)


def test_audit_matches_exact_violation_probability_on_small_tables():
    m, alpha = 8, 1.0
    ldp = SaltedHashLDP(SaltedHashConfig(alpha=alpha, table_size=m, table_seed=2))
    a = audit_salted_hash(ldp, 400, groups=range(6), device="cpu")
    expected = _pair_violation_probability(m, alpha)
    assert 0.05 < expected < 0.95
    # pairs share columns, so allow a generous tolerance around the exact probability
    assert a.violation_fraction == pytest.approx(expected, abs=0.05)
    assert a.max_loss == math.inf  # some column of 8 salts is all zeros or all ones


def test_audit_matches_generic_loss_matrix():
    ldp = SaltedHashLDP(SaltedHashConfig(alpha=1.0, table_size=12, table_seed=8))
    a = audit_salted_hash(ldp, 40, device="cpu")
    h = a.column_means[0]
    L = pairwise_privacy_loss(np.stack([1 - h, h], axis=1))
    b = audit_likelihoods(np.stack([1 - h, h], axis=1), 1.0)
    assert a.violations == b.violations
    assert a.max_loss == pytest.approx(L[np.triu_indices(40, 1)].max())


@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.5])
def test_baselines_are_exactly_alpha_ldp(alpha):
    rr = PairwiseRandomizedResponse(PairwiseRRConfig(alpha=alpha))
    a = audit_likelihoods(rr.likelihoods(), alpha)
    assert a.violations == 0 and a.max_loss == pytest.approx(alpha)
    pytest.importorskip("pure_ldp")
    fo = FrequencyOraclePlugin(FrequencyOracleConfig(alpha=alpha), domain=6)
    a = audit_likelihoods(fo.likelihoods(), alpha)
    assert a.violations == 0 and a.max_loss == pytest.approx(alpha)
    # and a slightly smaller alpha is violated by every pair
    assert audit_likelihoods(fo.likelihoods(), alpha * 0.99).violation_fraction == 1.0


def test_audit_errors():
    ldp = SaltedHashLDP(SaltedHashConfig())
    with pytest.raises(ConfigError, match="k=1"):
        audit_salted_hash(ldp, 1)
    with pytest.raises(DataError, match="repeated"):
        audit_salted_hash(ldp, ["a", "a", "b"])
    with pytest.raises(DataError, match="probability vector"):
        pairwise_privacy_loss(np.array([[0.5, 0.6]]))
