"""Torus SDE pieces: wrapping, the wrapped normal, its score, the periodic bridge, the base SDE."""

from __future__ import annotations

import math

import pytest
import torch

from lab.molecules import GeometricNoiseSchedule
from lab.molecules.conformers import (
    GraphBatch,
    MoleculeGraph,
    periodic_bridge,
    simulate_torsions,
    wrap,
    wrapped_normal_log_density,
    wrapped_normal_score,
)

torch.set_num_threads(1)


def test_wrap_range_and_periodicity() -> None:
    x = torch.linspace(-20, 20, 1001, dtype=torch.float64)
    w = wrap(x)
    assert (w >= -math.pi).all() and (w < math.pi).all()
    assert torch.allclose(torch.sin(w), torch.sin(x), atol=1e-12)
    assert torch.allclose(wrap(x + 2 * math.pi), w, atol=1e-9)


@pytest.mark.parametrize("var", [0.05, 1.0, math.pi**2])
def test_wrapped_normal_is_a_density_on_the_circle(var: float) -> None:
    x = torch.linspace(-math.pi, math.pi, 20001, dtype=torch.float64)
    p = wrapped_normal_log_density(x, var).exp()
    assert torch.trapezoid(p, x).item() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(
        wrapped_normal_log_density(x + 2 * math.pi, var), wrapped_normal_log_density(x, var)
    )


@pytest.mark.parametrize("var", [0.1, 2.0, math.pi**2])
def test_score_matches_autograd_of_the_log_density(var: float) -> None:
    x = torch.linspace(-3.1, 3.1, 57, dtype=torch.float64).requires_grad_(True)
    (g,) = torch.autograd.grad(wrapped_normal_log_density(x, var).sum(), x)
    assert torch.allclose(wrapped_normal_score(x.detach(), var), g, atol=1e-10)


def test_score_is_gaussian_for_small_variance() -> None:
    x = torch.tensor([-0.3, 0.1, 0.2], dtype=torch.float64)
    assert torch.allclose(wrapped_normal_score(x, 0.01), -x / 0.01, rtol=1e-9)


def test_periodic_bridge_end_points_and_images() -> None:
    sched = GeometricNoiseSchedule(0.0314, math.pi)
    gen = torch.Generator().manual_seed(0)
    x1 = wrap(torch.randn(400, 3, dtype=torch.float64, generator=gen) * 3)
    one = periodic_bridge(x1, torch.ones(400, dtype=torch.float64), sched, generator=gen)
    assert torch.allclose(wrap(one - x1), torch.zeros_like(x1), atol=1e-9)
    zero = periodic_bridge(x1, torch.zeros(400, dtype=torch.float64), sched, generator=gen)
    assert zero.abs().max() < 1e-12
    # near t=1 the bridge sits next to x1 on the circle, also across the -pi/pi seam
    near = periodic_bridge(x1, torch.full((400,), 0.999, dtype=torch.float64), sched, generator=gen)
    assert wrap(near - x1).abs().max() < 0.3


def test_base_sde_end_point_is_the_wrapped_normal() -> None:
    sched = GeometricNoiseSchedule(0.0314, 0.6)
    g = MoleculeGraph.from_smiles("CCCCO")
    batch = GraphBatch([g], 3000)
    gen = torch.Generator().manual_seed(1)
    phi = simulate_torsions(None, batch, sched, n_steps=20, generator=gen)
    assert (phi >= -math.pi).all() and (phi < math.pi).all()
    # circular moment E[cos phi] = exp(-kappa(1) / 2) for a wrapped normal
    expected = math.exp(-sched.kappa1 / 2)
    assert phi.cos().mean().item() == pytest.approx(expected, abs=0.03)
    assert phi.sin().mean().item() == pytest.approx(0.0, abs=0.03)
