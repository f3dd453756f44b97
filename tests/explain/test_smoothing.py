"""Mild smoothing: closed form, exact enumeration and Monte Carlo agree."""

import math

import pytest
import torch
from scipy import stats

from lab.core import ConfigError
from lab.core.testing import device_params
from lab.explain import (
    ExactSmoothed,
    MaskedClassifier,
    SCAConfig,
    Smoothed,
    SmoothingConfig,
    TabularMasker,
    exact_stability_rate,
    soft_stability,
)


def threshold(n, t, w=None):
    w = torch.ones(n) if w is None else w

    def model(z):
        s = z.float() @ w.to(z.device) - t + 0.5
        return torch.stack([torch.zeros_like(s), s], dim=1)

    return MaskedClassifier(model, TabularMasker(n))


def test_exact_smoothing_of_threshold_is_binomial_tail():
    n, t, lam = 9, 3, 0.6
    g = threshold(n, t)
    masks = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0, 0], [1] * 9])
    out = ExactSmoothed(g, lam)(torch.ones(n), masks)
    for row, mask in zip(out, masks, strict=True):
        a = int(mask.sum())
        p1 = stats.binom.sf(t - 1, a, lam)  # P(Bin(a, lam) >= t)
        assert float(row[1]) == pytest.approx(p1, abs=1e-6)
        assert float(row.sum()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("mode", ["votes", "logits"])
def test_monte_carlo_smoothing_agrees_with_exact(mode):
    n = 8
    w = torch.tensor([1.0, -0.5, 2.0, 0.3, 0.7, -1.2, 0.9, 0.4])
    g = threshold(n, 1.1, w)
    masks = torch.tensor([[1, 1, 1, 1, 0, 0, 1, 1], [1, 0, 1, 0, 1, 0, 1, 0]])
    exact = ExactSmoothed(g, 0.5, mode=mode)(torch.ones(n), masks)
    draws = 20000
    mc = Smoothed(g, SmoothingConfig(lam=0.5, n_draws=draws, mode=mode), seed=3)(
        torch.ones(n), masks
    )
    # 5 standard deviations of the mean of per-draw outputs (bounded by the logit range)
    spread = 1.0 if mode == "votes" else float(w.abs().sum() + 1.6)
    assert torch.allclose(mc, exact, atol=5 * spread / (2 * math.sqrt(draws)))


def test_lambda_one_is_the_base_classifier():
    n = 6
    g = threshold(n, 2)
    masks = torch.tensor([[1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    out = Smoothed(g, SmoothingConfig(lam=1.0, n_draws=50))(torch.ones(n), masks)
    assert torch.equal(out, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    torch.testing.assert_close(ExactSmoothed(g, 1.0)(torch.ones(n), masks), out)


def test_sca_on_smoothed_classifier_matches_exact_smoothed_stability():
    n, t = 10, 3
    g = threshold(n, t)
    alpha = torch.zeros(n, dtype=torch.long)
    alpha[:4] = 1
    lam = 0.7
    exact = exact_stability_rate(ExactSmoothed(g, lam), torch.ones(n), alpha, 3)
    est = soft_stability(
        Smoothed(g, SmoothingConfig(lam=lam, n_draws=256), seed=0),
        torch.ones(n),
        alpha,
        3,
        SCAConfig(eps=0.05, delta=0.01),
        generator=0,
    )
    assert est.reference == exact.reference
    # SCA error (eps) plus a little for the finite smoothing draws near the decision boundary
    assert abs(est.rate - exact.rate) <= 0.05 + 0.03


@pytest.mark.parametrize("device", device_params)
def test_smoothed_on_device(device):
    g = threshold(6, 2)
    masks = torch.ones(3, 6, dtype=torch.long, device=device)
    out = Smoothed(g, SmoothingConfig(lam=0.5, n_draws=32), seed=1)(
        torch.ones(6, device=device), masks
    )
    ref = Smoothed(g, SmoothingConfig(lam=0.5, n_draws=32), seed=1)(torch.ones(6), masks.cpu())
    assert out.device.type == device
    torch.testing.assert_close(out.cpu(), ref)


def test_bad_smoothing_configs():
    with pytest.raises(ConfigError, match="lambda"):
        SmoothingConfig(lam=0.0)
    with pytest.raises(ConfigError, match="lambda"):
        SmoothingConfig(lam=1.5)
    with pytest.raises(ConfigError, match="n_draws"):
        SmoothingConfig(n_draws=0)
    with pytest.raises(ConfigError, match="mode"):
        SmoothingConfig(mode="median")
    with pytest.raises(ConfigError, match="max_support"):
        ExactSmoothed(threshold(30, 2), 0.5)(torch.ones(30), torch.ones(1, 30, dtype=torch.long))


def test_fixed_keep_masks_make_the_smoothed_classifier_a_function():
    n = 10
    g = threshold(n, 2.0, torch.linspace(0.2, 1.4, n))
    alpha = torch.zeros(n, dtype=torch.long)
    alpha[:6] = 1
    fixed = Smoothed(g, SmoothingConfig(lam=0.5, n_draws=7, resample=False), seed=0)
    a = fixed(torch.ones(n), alpha.repeat(5, 1))
    assert (a == a[0]).all()  # the same keep masks for every row and call
    assert torch.equal(fixed(torch.ones(n), alpha.view(1, -1)), a[:1])
    assert soft_stability(fixed, torch.ones(n), alpha, 0, generator=0).rate == 1.0
    fresh = Smoothed(g, SmoothingConfig(lam=0.5, n_draws=7), seed=0)
    b = fresh(torch.ones(n), alpha.repeat(50, 1))
    assert not (b == b[0]).all()  # resampled per row
