"""SCA against closed-form stability rates of Boolean threshold functions."""

import math

import pytest
import torch
from scipy import stats

from lab.core import ConfigError, DataError
from lab.core.testing import device_params
from lab.explain import (
    MaskedClassifier,
    SCAConfig,
    TabularMasker,
    exact_stability_rate,
    reference_prediction,
    soft_stability,
    stability_curve,
)


def threshold_classifier(n: int, t: int, weights: torch.Tensor | None = None) -> MaskedClassifier:
    """Class 1 iff sum_i w_i z_i >= t (z = the mask applied to x = ones)."""
    w = torch.ones(n) if weights is None else weights

    def model(z: torch.Tensor) -> torch.Tensor:
        score = z.float() @ w.to(z.device) - t + 0.5
        return torch.stack([torch.zeros_like(score), score], dim=1)

    return MaskedClassifier(model, TabularMasker(n))


def closed_form_tau(m: int, a: int, t: int, r: int) -> float:
    """tau_r of 1[|alpha'| >= t] at an alpha with a ones and m zeros."""
    if a >= t:
        return 1.0
    total = sum(math.comb(m, k) for k in range(r + 1))
    keep = sum(math.comb(m, k) for k in range(min(r, t - a - 1) + 1))
    return keep / total


def test_exact_rate_matches_closed_form():
    n, t = 14, 6
    g = threshold_classifier(n, t)
    for a in (2, 4, 5, 7):
        alpha = torch.zeros(n, dtype=torch.long)
        alpha[:a] = 1
        for r in (0, 1, 2, 3, 5):
            ex = exact_stability_rate(g, torch.ones(n), alpha, r, batch_size=37)
            assert ex.rate == pytest.approx(closed_form_tau(n - a, a, t, r), abs=1e-12)
            assert ex.n_masks == sum(math.comb(n - a, k) for k in range(r + 1))


def test_sca_within_eps_in_at_least_1_minus_delta_of_repetitions():
    n, t, a, r = 24, 7, 4, 4  # m = 20; tau = (1+20+190)/(1+20+190+1140+4845) ~ 0.034
    tau = closed_form_tau(n - a, a, t, r)
    assert tau == pytest.approx(211 / 6196)
    g = threshold_classifier(n, t)
    alpha = torch.zeros(n, dtype=torch.long)
    alpha[:a] = 1
    cfg = SCAConfig(eps=0.1, delta=0.1)
    reps = 200
    gen = torch.Generator().manual_seed(2024)
    misses = sum(
        abs(soft_stability(g, torch.ones(n), alpha, r, cfg, generator=gen, device="cpu").rate - tau)
        > cfg.eps
        for _ in range(reps)
    )
    # Hoeffding: P(miss) <= delta; allow binomial slack at the 0.999 quantile.
    assert misses <= stats.binom.ppf(0.999, reps, cfg.delta)


def test_sca_mean_is_unbiased():
    n, t, a = 16, 5, 2
    g = threshold_classifier(n, t)
    alpha = torch.zeros(n, dtype=torch.long)
    alpha[:a] = 1
    for r in (2, 3, 6):
        tau = closed_form_tau(n - a, a, t, r)
        est = soft_stability(
            g, torch.ones(n), alpha, r, SCAConfig(eps=0.02, delta=0.01), generator=r
        )
        assert est.n_samples == math.ceil(math.log(200) / (2 * 0.02**2))
        # 5 standard errors of a binomial proportion
        assert abs(est.rate - tau) <= 5 * math.sqrt(tau * (1 - tau) / est.n_samples) + 1e-9
        assert est.lower <= tau <= est.upper


def test_reference_is_the_masked_input_prediction():
    n, t = 10, 3
    g = threshold_classifier(n, t)
    x = torch.ones(n)
    alpha = torch.zeros(n, dtype=torch.long)
    alpha[0] = 1  # masked input predicts 0, full input predicts 1
    assert reference_prediction(g, x, torch.ones(n, dtype=torch.long)) == 1
    est = soft_stability(g, x, alpha, 0, generator=0)
    assert est.reference == 0 and est.rate == 1.0
    # at r = 1 every sample keeps class 0 (at most 2 ones < 3)
    assert soft_stability(g, x, alpha, 1, generator=0).rate == 1.0
    # if the reference were f(x) = 1 these would be 0


def test_curve_rate_one_at_zero_and_non_increasing_for_monotone_threshold():
    n, t = 20, 6
    g = threshold_classifier(n, t)
    alpha = torch.zeros(n, dtype=torch.long)
    alpha[:3] = 1
    curve = stability_curve(
        g, torch.ones(n), alpha, [0, 1, 2, 3, 4, 6], SCAConfig(eps=0.05, delta=0.05), generator=1
    )
    rates = [e.rate for e in curve]
    assert (
        rates[0] == 1.0 and rates[1] == 1.0 and rates[2] == 1.0
    )  # up to 2 additions keep |a'| <= 5
    assert rates[3] < 1.0 and rates[5] < rates[3]
    assert all(e.n_samples == 738 for e in curve)


def test_batch_size_does_not_change_the_estimate():
    n, t = 18, 5
    g = threshold_classifier(n, t, torch.linspace(0.2, 2.0, n))
    alpha = torch.zeros(n, dtype=torch.long)
    alpha[::5] = 1
    a = soft_stability(g, torch.ones(n), alpha, 4, SCAConfig(batch_size=7), generator=3)
    b = soft_stability(g, torch.ones(n), alpha, 4, SCAConfig(batch_size=4096), generator=3)
    assert a == b


@pytest.mark.parametrize("device", device_params)
def test_runs_on_device(device):
    n, t = 12, 4
    g = threshold_classifier(n, t)
    alpha = torch.zeros(n, dtype=torch.long)
    alpha[:2] = 1
    est = soft_stability(g, torch.ones(n), alpha, 3, generator=0, device=device)
    cpu = soft_stability(g, torch.ones(n), alpha, 3, generator=0, device="cpu")
    assert est == cpu


def test_bad_input_errors():
    g = threshold_classifier(6, 2)
    x = torch.ones(6)
    alpha = torch.tensor([1, 0, 0, 0, 0, 0])
    with pytest.raises(ConfigError, match="eps"):
        SCAConfig(eps=0.0)
    with pytest.raises(ConfigError, match="delta"):
        SCAConfig(delta=1.0)
    with pytest.raises(DataError, match="has 5 entries but the masker has 6 features"):
        soft_stability(g, x, alpha[:5], 1)
    with pytest.raises(DataError, match="binary"):
        soft_stability(g, x, alpha * 3, 1)
    with pytest.raises(
        ConfigError, match="radius 6 is larger than the number of features outside the mask"
    ):
        soft_stability(g, x, alpha, 6)
    with pytest.raises(DataError, match="TabularMasker expects a vector of shape"):
        soft_stability(g, torch.ones(7), alpha, 1)
    with pytest.raises(ConfigError, match="max_masks"):
        exact_stability_rate(g, x, alpha, 5, max_masks=3)
