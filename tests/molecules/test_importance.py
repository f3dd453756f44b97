"""Path-space importance weights (Euler-Maruyama) and importance resampling."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from lab.core import ConfigError, DataError
from lab.molecules import (
    GeometricNoiseSchedule,
    importance_resample,
    simulate_trajectory,
    simulate_with_log_ratio,
)
from lab.molecules.importance import effective_sample_size
from lab.molecules.particles import (
    AdjointSampler,
    AdjointSamplingConfig,
    HarmonicCluster,
)

torch.set_num_threads(1)


def test_log_ratio_equals_the_ratio_of_the_discrete_path_densities() -> None:
    """Same noise, same path: sum_k log N(x_k+1; x_k, dk) - log N(x_k+1; x_k + dk b_k, dk)."""
    s = GeometricNoiseSchedule(1e-2, 1.5)

    def control(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return -x * (1 + t).unsqueeze(-1) + 0.3

    kw = dict(n_samples=6, n_particles=3, dim=2, n_steps=5, device="cpu", dtype=torch.float64)
    for com_free in (True, False):
        x1, lr = simulate_with_log_ratio(
            control, s, com_free=com_free, generator=torch.Generator().manual_seed(3), **kw
        )
        traj = simulate_trajectory(
            control,
            s,
            integrator="euler",
            increment="exact",
            com_free=com_free,
            generator=torch.Generator().manual_seed(3),
            **kw,
        )
        assert torch.allclose(traj[-1], x1)
        ts = torch.linspace(0, 1, 6, dtype=torch.float64)
        kap = s.kappa(ts)
        want = torch.zeros(6, dtype=torch.float64)
        for k in range(5):
            dk = kap[k + 1] - kap[k]
            step = traj[k + 1] - traj[k]
            mean = dk * control(ts[k].expand(6), traj[k])
            if com_free:  # the step lives in the centre-of-mass-free subspace
                mean = (mean.view(6, 3, 2) - mean.view(6, 3, 2).mean(1, keepdim=True)).view(6, 6)
            want += (-(step**2).sum(-1) + ((step - mean) ** 2).sum(-1)) / (2 * dk)
        assert torch.allclose(lr, want, atol=1e-9)


def test_weights_remove_the_euler_bias_on_the_harmonic_optimal_control() -> None:
    """Euler-Maruyama with exact increments is ~8% warm at 100 steps; the path weights are
    exact for that chain, so the self-normalised mean energy is the exact 15/2."""
    h = HarmonicCluster(6, 3)
    s = GeometricNoiseSchedule(1e-3, 2.0)
    lam = 1 / h.variance - 1 / s.kappa1

    def u_star(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return -x / (s.kappa1 - s.kappa(t) + 1 / lam).unsqueeze(-1)

    x, lr = simulate_with_log_ratio(
        u_star,
        s,
        n_samples=20_000,
        n_particles=6,
        dim=3,
        n_steps=100,
        generator=torch.Generator().manual_seed(0),
        device="cpu",
        dtype=torch.float64,
    )
    e = h(x)
    lw = -e + (x**2).sum(-1) / (2 * s.kappa1) + lr
    w = torch.softmax(lw, 0)
    assert e.mean().item() / 7.5 - 1 > 0.05  # the raw chain is biased warm
    assert abs(float((w * e).sum()) / 7.5 - 1) < 0.015
    # even the optimal control has spread-out weights at 100 steps: they carry the Euler
    # discretisation error, and become uniform as the steps shrink
    ess_100 = effective_sample_size(lw)
    x, lr = simulate_with_log_ratio(
        u_star,
        s,
        n_samples=5_000,
        n_particles=6,
        dim=3,
        n_steps=400,
        generator=torch.Generator().manual_seed(1),
        device="cpu",
        dtype=torch.float64,
    )
    ess_400 = effective_sample_size(-h(x) + (x**2).sum(-1) / (2 * s.kappa1) + lr)
    assert ess_100 < 0.3 and ess_400 > 0.4


def test_resampling_is_unbiased_and_validates_its_input() -> None:
    lw = torch.log(torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64))
    idx = importance_resample(lw, 10_000, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(idx, minlength=3).double() / 10_000
    assert torch.allclose(counts, torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64), atol=1e-3)
    lw_inf = torch.tensor([0.0, -math.inf, 0.0])  # an infinite energy: weight 0, not an error
    assert set(importance_resample(lw_inf, 50).tolist()) <= {0, 2}
    assert effective_sample_size(lw_inf) == pytest.approx(2 / 3)
    with pytest.raises(DataError, match="NaN"):
        importance_resample(torch.tensor([0.0, math.nan]), 5)
    with pytest.raises(DataError, match="every log weight is -inf"):
        effective_sample_size(torch.full((3,), -math.inf))
    with pytest.raises(ConfigError, match=">= 1"):
        importance_resample(torch.zeros(3), 0)


def test_sampler_importance_output_targets_the_energy() -> None:
    """An untrained sampler proposes the base process N(0, 1.44); resampling by the weights
    recovers the target N(0, 1): mean energy d_eff / 2 = 2 instead of 2.88."""
    target = HarmonicCluster(3, 2, w=1 / 3)  # variance 1 along the 4 com-free directions
    cfg = AdjointSamplingConfig(sigma_max=1.2, n_steps=20, seed=0)
    sampler = AdjointSampler(target, cfg, device="cpu")
    res = sampler.sample_importance(
        4000, n_proposals=16_000, generator=torch.Generator().manual_seed(1)
    )
    assert res.samples.shape == (4000, 6) and res.proposals.shape == (16_000, 6)
    assert res.energy_evals == 16_000 and 0 < res.ess <= 1 and res.n_unique <= 4000
    raw = target(res.proposals).mean().item()
    assert raw == pytest.approx(2 * 1.44, rel=0.05)
    assert target(res.samples).mean().item() == pytest.approx(2.0, rel=0.05)
    with pytest.warns(UserWarning, match="effective sample size"):
        sampler.sample_importance(10, n_proposals=20, min_effective=1e6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sampler.sample_importance(10, n_proposals=200, min_effective=10)
    with pytest.raises(ConfigError, match="n_proposals"):
        sampler.sample_importance(10, n_proposals=0)
