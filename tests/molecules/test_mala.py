"""MALA: samples a closed-form target; adapts its step; counts energy evaluations."""

from __future__ import annotations

import pytest
import torch

from lab.core import ConfigError
from lab.molecules.particles import (
    HarmonicCluster,
    IsotropicGaussian,
    MALAConfig,
    lattice_start,
    mala,
)

torch.set_num_threads(1)


def test_mala_samples_the_harmonic_cluster() -> None:
    h = HarmonicCluster(4, 3, w=2.0)
    x0 = lattice_start(
        500, 4, 3, spacing=1.0, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    cfg = MALAConfig(n_steps=300, burn_in=150, step_size=0.5, thin=15)
    res = mala(h, x0, cfg, generator=torch.Generator().manual_seed(1))
    assert res.energy_evals == 500 * 301
    assert res.samples.shape == (500 * 10, 12)
    assert abs(res.accept_rate - cfg.target_accept) < 0.1
    assert res.samples.view(-1, 4, 3).mean(1).abs().max().item() < 1e-9  # com free
    cov = torch.cov(res.samples.T)
    truth = h.exact_covariance()
    assert ((cov - truth).norm() / truth.norm()).item() < 0.1


def test_mala_without_com_projection_samples_a_gaussian() -> None:
    g = IsotropicGaussian(2, 2, sigma=0.5, tau=2.0)
    x0 = torch.zeros(400, 4, dtype=torch.float64)
    res = mala(
        g,
        x0,
        MALAConfig(n_steps=200, burn_in=100, step_size=0.1, thin=10),
        com_free=False,
        generator=torch.Generator().manual_seed(0),
    )
    assert res.samples.var(0).mean().item() == pytest.approx(0.5, rel=0.08)


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="burn_in"):
        MALAConfig(n_steps=10, burn_in=20)
    with pytest.raises(ConfigError, match="target_accept"):
        MALAConfig(target_accept=1.5)
