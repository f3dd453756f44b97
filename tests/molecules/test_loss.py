"""Lean adjoint, bridge sampling, and the closed-form optimal control of a Gaussian target."""

from __future__ import annotations

import pytest
import torch

from lab.molecules import (
    GeometricNoiseSchedule,
    adjoint_matching_loss,
    bridge_sample,
    lean_adjoint,
    simulate,
)
from lab.molecules.loss import clip_per_particle
from lab.molecules.particles import IsotropicGaussian, energy_and_grad, exact_samples

torch.set_num_threads(1)
N, D = 4, 3


def _gaussian_optimal_control(
    t: torch.Tensor, x: torch.Tensor, s: GeometricNoiseSchedule, var: float
) -> torch.Tensor:
    """u*(t, x) = grad log h(t, x) = -x / (kappa(1) - kappa(t) + 1/lambda),
    lambda = 1/var - 1/kappa(1): the closed form for target N(0, var) and the memoryless base."""
    lam = 1 / var - 1 / s.kappa1
    kr = s.kappa1 - s.kappa(t)
    return -x / (kr + 1 / lam).unsqueeze(-1)


def test_lean_adjoint_formula_and_per_particle_clip() -> None:
    x1 = torch.randn(5, N * D, dtype=torch.float64)
    x1 = (x1.view(5, N, D) - x1.view(5, N, D).mean(1, keepdim=True)).reshape(5, -1)
    grad = torch.randn(5, N * D, dtype=torch.float64)
    a, clipped = lean_adjoint(x1, grad, tau=2.0, kappa1=3.0, n_particles=N, dim=D, clip=None)
    want = grad / 2.0 - x1 / 3.0
    want = (want.view(5, N, D) - want.view(5, N, D).mean(1, keepdim=True)).reshape(5, -1)
    assert torch.allclose(a, want) and not clipped.any()
    big = torch.zeros(1, N * D, dtype=torch.float64)
    big[0, :3] = torch.tensor([300.0, 400.0, 0.0])  # particle 0 has norm 500
    c, mask = clip_per_particle(big, N, D, 100.0)
    assert torch.allclose(c[0, :3], torch.tensor([60.0, 80.0, 0.0], dtype=torch.float64))
    assert mask.tolist() == [[True, False, False, False]]


def test_bridge_moments() -> None:
    s = GeometricNoiseSchedule(1e-3, 1.0)
    g = torch.Generator().manual_seed(0)
    x1 = torch.zeros(40000, 2 * 1, dtype=torch.float64)
    x1[:, 0], x1[:, 1] = 1.0, -1.0
    t = torch.full((40000,), 0.2, dtype=torch.float64)
    xt = bridge_sample(x1, t, s, n_particles=2, dim=1, generator=g)
    gamma = (s.kappa(t[:1]) / s.kappa1).item()
    assert xt.mean(0)[0].item() == pytest.approx(gamma, abs=0.01)
    # com-free noise in 2 particles x 1-D: variance along each coordinate is half
    assert xt.var(0)[0].item() == pytest.approx(s.kappa1 * gamma * (1 - gamma) * 0.5, rel=0.03)


def test_loss_target_on_a_gaussian_equals_the_closed_form_optimal_control() -> None:
    """With X1 from the target, E[-a(X1) | X_t = x] (what the loss regresses onto) is the
    closed-form optimal control at every t."""
    s = GeometricNoiseSchedule(1e-3, 1.5)
    target = IsotropicGaussian(N, D, sigma=0.6)
    g = torch.Generator().manual_seed(0)
    x1 = exact_samples(target, 200000, generator=g, dtype=torch.float64)
    _, grad = energy_and_grad(target, x1)
    a, _ = lean_adjoint(x1, grad, tau=1.0, kappa1=s.kappa1, n_particles=N, dim=D, clip=None)
    for tv in (0.05, 0.3, 0.7, 0.95):
        t = torch.full((x1.shape[0],), tv, dtype=torch.float64)
        xt = bridge_sample(x1, t, s, n_particles=N, dim=D, generator=g)
        # least-squares slope of the regression target -a on x_t (all coordinates pooled)
        slope = ((-a) * xt).sum() / (xt * xt).sum()
        u_star = _gaussian_optimal_control(
            t[:1], torch.ones(1, 1, dtype=torch.float64), s, target.variance
        )
        assert slope.item() == pytest.approx(u_star.item(), rel=0.02)
        # and the loss of the optimal control is below that of nearby controls
        best = adjoint_matching_loss(
            lambda tt, xx: _gaussian_optimal_control(tt, xx, s, target.variance),
            x1[:20000],
            a[:20000],
            s,
            n_particles=N,
            dim=D,
            t=t[:20000],
            generator=torch.Generator().manual_seed(1),
        )
        worse = adjoint_matching_loss(
            lambda tt, xx: 1.2 * _gaussian_optimal_control(tt, xx, s, target.variance),
            x1[:20000],
            a[:20000],
            s,
            n_particles=N,
            dim=D,
            t=t[:20000],
            generator=torch.Generator().manual_seed(1),
        )
        assert best.item() < worse.item()


def test_simulating_the_optimal_control_samples_the_target() -> None:
    s = GeometricNoiseSchedule(1e-3, 1.5)
    target = IsotropicGaussian(N, D, sigma=0.6)
    x = simulate(
        lambda t, x: _gaussian_optimal_control(t, x, s, target.variance),
        s,
        n_samples=12000,
        n_particles=N,
        dim=D,
        n_steps=200,
        generator=torch.Generator().manual_seed(0),
        device="cpu",
        dtype=torch.float64,
    )
    cov = torch.cov(x.T)
    truth = target.exact_covariance()
    assert ((cov - truth).norm() / truth.norm()).item() < 0.05
