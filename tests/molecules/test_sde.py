"""The SDE: schedule, exact increments, base-process statistics, time grids."""

from __future__ import annotations

import math
from typing import Literal

import pytest
import torch

from lab.core import ConfigError
from lab.molecules import GeometricNoiseSchedule, com_free_noise, simulate, time_grid

torch.set_num_threads(1)


def test_kappa_closed_form_and_derivative() -> None:
    s = GeometricNoiseSchedule(1e-3, 2.0)
    t = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    k = s.kappa(t)
    assert k[0].item() == 0.0
    assert k[2].item() == pytest.approx(4.0 * (1 - 2000.0**-2), rel=1e-12)
    assert s.kappa1 == pytest.approx(k[2].item(), rel=1e-12)
    assert k[1].item() == pytest.approx(4.0 * (1 - 2000.0 ** (-0.6)), rel=1e-12)
    # d kappa / dt = g^2 (central difference)
    tt = torch.linspace(0.05, 0.95, 10, dtype=torch.float64)
    h = 1e-6
    fd = (s.kappa(tt + h) - s.kappa(tt - h)) / (2 * h)
    assert torch.allclose(fd, s.g2(tt), rtol=1e-6)
    assert s.g(torch.tensor(1.0)).item() == pytest.approx(1e-3 * math.sqrt(2 * math.log(2000)))
    assert torch.allclose(s.kappa_inverse(k), t, atol=1e-12)
    with pytest.raises(ConfigError, match="sigma_min"):
        GeometricNoiseSchedule(2.0, 1.0)


def test_exact_increments_sum_to_kappa1_while_left_point_overshoots() -> None:
    s = GeometricNoiseSchedule(1e-3, 2.0)
    ts = time_grid(100, device="cpu", dtype=torch.float64)
    exact = (s.kappa(ts[1:]) - s.kappa(ts[:-1])).sum()
    left = (s.g2(ts[:-1]) * (ts[1:] - ts[:-1])).sum()
    assert exact.item() == pytest.approx(s.kappa1, rel=1e-12)
    # the left-point rule injects ~7.5% too much variance at 100 steps
    assert left.item() / s.kappa1 - 1 == pytest.approx(0.0767, abs=0.005)


@pytest.mark.parametrize("n_steps", [3, 40])
def test_base_process_end_point_has_variance_kappa1_in_com_free_subspace(n_steps: int) -> None:
    s = GeometricNoiseSchedule(1e-2, 1.5)
    g = torch.Generator().manual_seed(1)
    x = simulate(
        None,
        s,
        n_samples=20000,
        n_particles=3,
        dim=2,
        n_steps=n_steps,
        generator=g,
        device="cpu",
        dtype=torch.float64,
    )
    xs = x.view(-1, 3, 2)
    assert xs.mean(1).abs().max().item() < 1e-12  # centre of mass removed exactly
    var = x.var(0).mean().item()
    assert var == pytest.approx(s.kappa1 * (1 - 1 / 3), rel=0.03)
    xl = simulate(
        None,
        s,
        n_samples=20000,
        n_particles=3,
        dim=2,
        n_steps=n_steps,
        generator=g,
        device="cpu",
        dtype=torch.float64,
        increment="left",
    )
    assert xl.var(0).mean().item() > 1.05 * var  # left point over-injects variance


def test_time_grids() -> None:
    s = GeometricNoiseSchedule(1e-3, 2.0)
    for kind in ("uniform", "quadratic", "variance"):
        t = time_grid(20, kind, schedule=s, device="cpu", dtype=torch.float64)
        assert t[0].item() == 0.0 and t[-1].item() == 1.0 and bool((t[1:] > t[:-1]).all())
    t = time_grid(20, "variance", schedule=s, device="cpu", dtype=torch.float64)
    dk = s.kappa(t[1:]) - s.kappa(t[:-1])
    assert torch.allclose(dk, torch.full_like(dk, s.kappa1 / 20), rtol=1e-9)
    assert time_grid(4, "quadratic", device="cpu")[1].item() == pytest.approx(1 / 16)
    with pytest.raises(ConfigError, match="schedule"):
        time_grid(4, "variance")
    with pytest.raises(ConfigError, match="unknown time grid"):
        time_grid(4, "cosine")  # type: ignore[arg-type]


def test_first_and_last_noise_increments_of_the_grids() -> None:
    """The numbers behind the LJ grid choice: with 100 steps the uniform grid's first step
    carries kappa(0.01) = 0.56 of kappa(1) = 4 (the paper's 1,000 steps: 0.06); the quadratic
    grid's first step is finer than the paper's, while its last step stays as fine as the
    uniform one's; the variance grid's last step spans t in [0.30, 1]."""
    s = GeometricNoiseSchedule(1e-3, 2.0)

    def increments(
        n: int, kind: Literal["uniform", "quadratic", "variance"]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        t = time_grid(n, kind, schedule=s, device="cpu", dtype=torch.float64)
        return t, s.kappa(t[1:]) - s.kappa(t[:-1])

    _, uni = increments(100, "uniform")
    _, paper = increments(1000, "uniform")
    tq, quad = increments(100, "quadratic")
    tv, _ = increments(100, "variance")
    assert uni[0].item() == pytest.approx(4 * (1 - 2000 ** (-0.02)), rel=1e-9)
    assert uni[0].item() == pytest.approx(0.564, abs=1e-3)
    assert paper[0].item() == pytest.approx(0.0603, abs=1e-4)
    assert quad[0].item() == pytest.approx(0.0061, abs=1e-4)  # 10x finer than the paper's
    assert quad.max().item() < 0.2 < uni.max().item()
    assert (1 - tq[-2]).item() == pytest.approx(0.0199, abs=1e-4)  # last step dt ~ 2/n
    assert tv[-2].item() == pytest.approx(0.303, abs=2e-3)


def test_com_free_noise_projects_out_the_centre() -> None:
    z = com_free_noise((1000, 12), 4, 3, generator=torch.Generator().manual_seed(0), device="cpu")
    assert z.view(-1, 4, 3).mean(1).abs().max().item() < 1e-6
    assert z.var(0).mean().item() == pytest.approx(0.75, rel=0.05)


def test_custom_grid_is_validated() -> None:
    s = GeometricNoiseSchedule()
    with pytest.raises(ConfigError, match="increasing"):
        simulate(
            None,
            s,
            n_samples=2,
            n_particles=2,
            dim=2,
            grid=torch.tensor([0.0, 0.7, 0.5, 1.0]),
            device="cpu",
        )


def test_trajectory_starts_at_the_dirac_and_ends_at_simulate() -> None:
    from lab.molecules import simulate_trajectory

    s = GeometricNoiseSchedule(1e-3, 1.0)
    kw = dict(n_samples=5, n_particles=3, dim=2, n_steps=7, device="cpu", dtype=torch.float64)
    traj = simulate_trajectory(None, s, generator=torch.Generator().manual_seed(4), **kw)
    end = simulate(None, s, generator=torch.Generator().manual_seed(4), **kw)
    assert traj.shape == (8, 5, 6) and traj[0].abs().max().item() == 0.0
    assert torch.equal(traj[-1], end)


def _harmonic_bias(**kwargs: object) -> tuple[float, float]:
    """Relative energy bias (and its standard error) of 20,000 samples of the closed-form
    optimal control of the harmonic cluster n=6, d=3 (exact mean energy 15/2)."""
    from lab.molecules.particles import HarmonicCluster

    h = HarmonicCluster(6, 3)
    s = GeometricNoiseSchedule(1e-3, 2.0)
    lam = 1 / h.variance - 1 / s.kappa1

    def u_star(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return -x / (s.kappa1 - s.kappa(t) + 1 / lam).unsqueeze(-1)

    x = simulate(
        u_star,
        s,
        n_samples=20_000,
        n_particles=6,
        dim=3,
        generator=torch.Generator().manual_seed(0),
        device="cpu",
        dtype=torch.float64,
        **kwargs,  # type: ignore[arg-type]
    )
    e = h(x)
    return e.mean().item() / 7.5 - 1, e.std().item() / 7.5 / e.numel() ** 0.5


def test_default_integrator_samples_the_harmonic_optimal_control_within_1_5_percent() -> None:
    from lab.molecules.particles import AdjointSamplingConfig

    cfg = AdjointSamplingConfig()
    bias, se = _harmonic_bias(
        n_steps=cfg.n_steps, grid=cfg.time_grid, increment=cfg.increment, integrator=cfg.integrator
    )
    assert se < 0.003
    assert abs(bias) < 0.015, f"default integrator energy bias {bias:+.2%} (+- {se:.2%})"
    # the test can fail: Euler-Maruyama with exact increments is ~8% warm at 100 steps
    euler, _ = _harmonic_bias(n_steps=cfg.n_steps, integrator="euler", increment="exact")
    assert euler > 0.05


def test_unknown_integrator_is_a_config_error() -> None:
    from lab.core import ConfigError

    with pytest.raises(ConfigError, match="integrator"):
        simulate(
            None, GeometricNoiseSchedule(), n_samples=2, n_particles=2, dim=2, integrator="rk4"
        )  # type: ignore[arg-type]
