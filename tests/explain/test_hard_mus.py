"""Hard stability (exhaustive and adversarial) and the MuS certificate."""

import pytest
import torch

from lab.core import ConfigError
from lab.explain import (
    MaskedClassifier,
    MuSClassifier,
    MuSConfig,
    TabularMasker,
    hard_stability,
    hard_stability_radius,
    mus_certified_radius,
    mus_masks,
)


def threshold(n, t, w=None):
    w = torch.ones(n) if w is None else w

    def model(z):
        s = z.float() @ w.to(z.device) - t + 0.5
        return torch.stack([torch.zeros_like(s), s], dim=1)

    return MaskedClassifier(model, TabularMasker(n))


@pytest.mark.parametrize(("a", "t"), [(1, 4), (2, 4), (3, 7), (0, 2)])
def test_exhaustive_hard_radius_of_threshold_is_t_minus_a_minus_1(a, t):
    n = 12
    g = threshold(n, t)
    alpha = torch.zeros(n, dtype=torch.long)
    alpha[:a] = 1
    assert hard_stability_radius(g, torch.ones(n), alpha, 6) == t - a - 1
    stable = hard_stability(g, torch.ones(n), alpha, t - a - 1)
    assert stable.stable and stable.certified and stable.counterexample is None
    broken = hard_stability(g, torch.ones(n), alpha, t - a)
    assert not broken.stable and broken.certified
    ce = broken.counterexample
    assert ((ce - alpha) >= 0).all() and int((ce - alpha).sum()) == t - a
    assert int(g(torch.ones(n), ce.view(1, -1)).argmax()) != broken.reference


def test_adversarial_finds_the_weighted_flip_and_does_not_claim_proofs():
    n = 10
    w = torch.tensor([5.0, 0.1, 0.1, 0.1, 3.0, 0.1, 0.1, 0.1, 0.1, 2.5])
    g = threshold(n, 5.8, w)
    alpha = torch.zeros(n, dtype=torch.long)
    alpha[0] = 1  # score 5 < 5.8 - 0.5: class 0; adding feature 4 or 9 flips it
    res = hard_stability(g, torch.ones(n), alpha, 1, method="adversarial", beam_width=1)
    assert not res.stable and res.certified
    assert res.counterexample[4] == 1 or res.counterexample[9] == 1
    # a classifier that never flips: adversarial says stable but not certified
    g2 = threshold(n, 100.0)
    res2 = hard_stability(g2, torch.ones(n), alpha, 3, method="adversarial")
    assert res2.stable and not res2.certified
    assert hard_stability(g2, torch.ones(n), alpha, 3).certified


def test_exhaustive_refuses_huge_searches():
    g = threshold(30, 3)
    alpha = torch.zeros(30, dtype=torch.long)
    with pytest.raises(ConfigError, match="max_masks"):
        hard_stability(g, torch.ones(30), alpha, 10, max_masks=1000)
    with pytest.raises(ConfigError, match="method"):
        hard_stability(g, torch.ones(30), alpha, 1, method="magic")


@pytest.mark.parametrize(("lam", "q"), [(0.25, 64), (0.5, 8), (0.125, 16)])
def test_mus_masks_keep_each_feature_exactly_lambda_q_times(lam, q):
    cfg = MuSConfig(lam=lam, q=q)
    v = torch.randint(0, q, (37,), generator=torch.Generator().manual_seed(0))
    masks = mus_masks(v, cfg)
    assert masks.shape == (q, 37)
    assert (masks.sum(dim=0) == round(lam * q)).all()
    # matches the public formula ((v/q + (j + 0.5)/q) mod 1) < lambda
    j = torch.arange(q).view(-1, 1)
    t = ((v.view(1, -1) / q) + (j + 0.5) / q).remainder(1.0)
    assert torch.equal(masks, (t < lam).long())


def test_mus_rejects_unquantisable_lambda():
    with pytest.raises(ConfigError, match="lambda \\* q to be an integer"):
        MuSConfig(lam=0.3, q=64)
    with pytest.raises(ConfigError, match="lambda"):
        MuSConfig(lam=0.0)


def test_mus_radius_of_constant_classifier_is_one_over_two_lambda():
    g = MaskedClassifier(
        lambda z: torch.tensor([[0.0, 1.0, 0.5]]).repeat(z.shape[0], 1), TabularMasker(8)
    )
    cert = mus_certified_radius(
        g, torch.ones(8), torch.zeros(8, dtype=torch.long), MuSConfig(lam=0.25, q=64)
    )
    assert cert.prediction == 1 and cert.p_top == 1.0 and cert.p_second == 0.0
    assert cert.radius == pytest.approx(2.0)
    assert cert.certifies(1) and not cert.certifies(2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mus_certificate_is_sound_for_the_smoothed_classifier(seed):
    n = 10
    w = torch.linspace(0.3, 1.5, n)
    g = threshold(n, 2.2, w)
    cfg = MuSConfig(lam=0.125, q=64)
    checked = 0
    for a in range(0, 5):
        alpha = torch.zeros(n, dtype=torch.long)
        alpha[torch.randperm(n, generator=torch.Generator().manual_seed(seed * 10 + a))[:a]] = 1
        cert = mus_certified_radius(g, torch.ones(n), alpha, cfg, seed=seed)
        smoothed = MuSClassifier(g, cfg, seed=seed)
        r = int(min(cert.radius, n - a))
        while r > 0 and not cert.certifies(r):
            r -= 1
        if r > 0:
            checked += 1
            res = hard_stability(smoothed, torch.ones(n), alpha, r)
            assert res.stable, (a, r, cert)
            assert res.reference == cert.prediction
    assert checked > 0
