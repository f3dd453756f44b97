"""Hoeffding count, the C(m, k) size law and uniformity over Delta_r(alpha)."""

import math
from collections import Counter

import pytest
import torch
from scipy import stats

from lab.core import ConfigError, DataError
from lab.core.testing import device_params
from lab.explain import (
    delta_r_size,
    enumerate_perturbations,
    hoeffding_samples,
    perturbation_size_probs,
    sample_perturbations,
)


@pytest.mark.parametrize(
    ("eps", "delta", "n"), [(0.1, 0.1, 150), (0.05, 0.05, 738), (0.1, 0.05, 185)]
)
def test_hoeffding_known_values(eps, delta, n):
    assert hoeffding_samples(eps, delta) == n


@pytest.mark.parametrize(("eps", "delta"), [(0.1, 0.1), (0.02, 0.3), (0.25, 0.01), (0.07, 0.001)])
def test_hoeffding_is_smallest_n_meeting_the_bound(eps, delta):
    n = hoeffding_samples(eps, delta)
    assert 2 * math.exp(-2 * n * eps**2) <= delta * (1 + 1e-12)
    assert 2 * math.exp(-2 * (n - 1) * eps**2) > delta
    assert n == math.ceil(math.log(2 / delta) / (2 * eps**2))


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_hoeffding_rejects_out_of_range(bad):
    with pytest.raises(ConfigError, match="eps"):
        hoeffding_samples(bad, 0.1)
    with pytest.raises(ConfigError, match="delta"):
        hoeffding_samples(0.1, bad)


def test_size_probs_are_binomial_weights():
    m, r = 12, 5
    p = perturbation_size_probs(m, r)
    weights = torch.tensor([math.comb(m, k) for k in range(r + 1)], dtype=torch.float64)
    torch.testing.assert_close(p, weights / weights.sum())
    # large m stays finite (log space)
    big = perturbation_size_probs(5000, 40)
    assert torch.isfinite(big).all() and abs(float(big.sum()) - 1) < 1e-9


def test_sampled_sizes_follow_binomial_law():
    alpha = torch.zeros(20, dtype=torch.long)
    alpha[:4] = 1  # m = 16 zeros
    r = 4
    samples, sizes = sample_perturbations(alpha, r, 20000, generator=123, return_sizes=True)
    added = (samples - alpha).sum(dim=1)
    assert torch.equal(added, sizes)
    counts = torch.bincount(sizes, minlength=r + 1).numpy()
    expected = perturbation_size_probs(16, r).numpy() * 20000
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    # A uniform law over k would be rejected by the same test.
    assert stats.chisquare(counts, [4000] * 5).pvalue < 1e-6


def test_samples_dominate_alpha_and_stay_in_radius():
    alpha = torch.tensor([1, 0, 0, 1, 0, 0, 0, 1, 0, 0])
    s = sample_perturbations(alpha, 3, 2000, generator=0)
    assert s.shape == (2000, 10)
    assert ((s - alpha) >= 0).all()
    assert ((s - alpha).sum(dim=1) <= 3).all()
    assert set(s.unique().tolist()) <= {0, 1}


def test_uniform_over_delta_r():
    alpha = torch.tensor([1, 0, 0, 0, 0, 0])  # m = 5, r = 2: 1 + 5 + 10 = 16 masks
    n = 32000
    s = sample_perturbations(alpha, 2, n, generator=7)
    counts = Counter(tuple(row) for row in s.tolist())
    assert len(counts) == delta_r_size(5, 2) == 16
    assert stats.chisquare(list(counts.values())).pvalue > 1e-3


def test_radius_zero_returns_alpha():
    alpha = torch.tensor([0, 1, 0, 1])
    s = sample_perturbations(alpha, 0, 50, generator=1)
    assert torch.equal(s, alpha.repeat(50, 1))


def test_seed_reproducible_and_generator_advances():
    alpha = torch.zeros(30, dtype=torch.long)
    a = sample_perturbations(alpha, 5, 100, generator=5)
    b = sample_perturbations(alpha, 5, 100, generator=5)
    assert torch.equal(a, b)
    gen = torch.Generator().manual_seed(5)
    c = sample_perturbations(alpha, 5, 100, generator=gen)
    d = sample_perturbations(alpha, 5, 100, generator=gen)
    assert torch.equal(a, c) and not torch.equal(c, d)


@pytest.mark.parametrize("device", device_params)
def test_same_masks_on_every_device(device):
    alpha = torch.tensor([1, 0, 0, 0, 1, 0, 0, 0])
    s = sample_perturbations(alpha, 3, 64, generator=9, device=device)
    assert s.device.type == device
    assert torch.equal(s.cpu(), sample_perturbations(alpha, 3, 64, generator=9))


def test_enumeration_is_complete_and_unique():
    alpha = torch.tensor([1, 0, 0, 1, 0, 0, 0])
    rows = torch.cat(list(enumerate_perturbations(alpha, 3, chunk_size=7)))
    assert rows.shape[0] == delta_r_size(5, 3) == 1 + 5 + 10 + 10
    assert len({tuple(r) for r in rows.tolist()}) == rows.shape[0]
    assert torch.equal(rows[0], alpha)
    assert ((rows - alpha) >= 0).all() and ((rows - alpha).sum(1) <= 3).all()


def test_bad_inputs():
    alpha = torch.tensor([1, 0, 0])
    with pytest.raises(ConfigError, match="radius 3 is larger than the number of features outside"):
        sample_perturbations(alpha, 3, 10)
    with pytest.raises(ConfigError, match="radius must be >= 0"):
        sample_perturbations(alpha, -1, 10)
    with pytest.raises(DataError, match="binary"):
        sample_perturbations(torch.tensor([1, 2, 0]), 1, 10)
    with pytest.raises(DataError, match="flat mask"):
        sample_perturbations(torch.zeros(2, 2), 1, 10)
    with pytest.raises(ConfigError, match="num_samples"):
        sample_perturbations(alpha, 1, 0)
