"""Energies: exact values at hand-computed configurations, invariances, benchmark data."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

from lab.core import ConfigError, DataError
from lab.molecules import assert_invariant
from lab.molecules.particles import (
    CallableEnergy,
    DoubleWell,
    HarmonicCluster,
    IsotropicGaussian,
    LennardJones,
    NonFiniteEnergyError,
    check_finite,
    energy_and_grad,
    load_reference,
    make_energy,
    virial,
)

torch.set_num_threads(1)
DATA = os.environ.get("LABWORKS_DATA")
needs_data = pytest.mark.skipif(
    not DATA or not (Path(DATA) / "particles").is_dir(),
    reason="needs $LABWORKS_DATA/particles (the DW-4 / LJ-13 reference sets)",
)


def test_double_well_square_of_side_four() -> None:
    # sides have d = 4 (zero energy), the two diagonals d = 4 sqrt(2)
    x = torch.tensor([[0.0, 0.0, 4.0, 0.0, 4.0, 4.0, 0.0, 4.0]], dtype=torch.float64)
    u = 4 * math.sqrt(2) - 4
    expected = 2 * (0.9 * u**4 - 4 * u**2)
    assert DoubleWell()(x).item() == pytest.approx(expected, rel=1e-12)


def test_double_well_pair_and_minimum() -> None:
    e = DoubleWell(n_particles=2, dim=2)
    x = torch.tensor([[0.0, 0.0, 5.0, 0.0]], dtype=torch.float64)
    assert e(x).item() == pytest.approx(0.9 - 4.0)
    # minimum of 0.9 u^4 - 4 u^2 at u^2 = 4 / 1.8
    u = math.sqrt(4 / 1.8)
    x = torch.tensor([[0.0, 0.0, 4.0 + u, 0.0]], dtype=torch.float64)
    assert e(x).item() == pytest.approx(-(4.0**2) / (4 * 0.9))


def test_lennard_jones_pair_at_minimum_counts_ordered_pairs() -> None:
    # r = 1: textbook per-pair energy -1; the benchmark counts both orders -> -2;
    # the oscillator adds 0.5 * (0.5^2 + 0.5^2) = 0.25
    x = torch.tensor([[0.0, 0.0, 0.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    assert LennardJones(2, 3)(x).item() == pytest.approx(-2.0 + 0.25)
    # r = 2^(1/6): s6 = 1/2, pair = 2 * (1/4 - 1) = -1.5; oscillator 0.5 * 2 * (r/2)^2
    r = 2 ** (1 / 6)
    x = torch.tensor([[0.0, 0.0, 0.0, r, 0.0, 0.0]], dtype=torch.float64)
    assert LennardJones(2, 3)(x).item() == pytest.approx(-1.5 + 0.25 * r**2)


def test_gaussian_and_harmonic_values_and_gradients() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 12, generator=g, dtype=torch.float64)
    gauss = IsotropicGaussian(4, 3, sigma=0.5)
    assert torch.allclose(gauss(x), x.pow(2).sum(-1) / 0.5)
    harm = HarmonicCluster(4, 3, w=2.0)
    xs = x.view(5, 4, 3)
    pair = sum(((xs[:, i] - xs[:, j]) ** 2).sum(-1) for i in range(4) for j in range(i + 1, 4))
    assert torch.allclose(harm(x), 0.5 * 2.0 * pair)
    _, grad = energy_and_grad(harm, x)
    com_free = (xs - xs.mean(1, keepdim=True)).reshape(5, 12)
    assert torch.allclose(grad, 2.0 * 4 * com_free)  # grad = w n (x_i - com)


def test_exact_covariances() -> None:
    c = IsotropicGaussian(3, 2, sigma=2.0, tau=0.5).exact_covariance()
    assert c.shape == (6, 6)
    assert c[0, 0].item() == pytest.approx(0.5 * 4 * (1 - 1 / 3))
    assert c[0, 2].item() == pytest.approx(-0.5 * 4 / 3)  # same axis, other particle
    assert c[0, 1].item() == 0.0  # other axis
    h = HarmonicCluster(4, 3, w=2.0, tau=1.0)
    assert h.variance == pytest.approx(1 / 8)
    with pytest.raises(ConfigError):
        h.exact_covariance(com_free=False)


@pytest.mark.parametrize(
    "energy",
    [DoubleWell(), LennardJones(5, 3), HarmonicCluster(4, 3)],
    ids=["dw", "lj", "harmonic"],
)
def test_particle_energies_are_e3_and_permutation_invariant(energy: torch.nn.Module) -> None:
    def fn(x: torch.Tensor) -> torch.Tensor:
        return energy(x)

    assert_invariant(fn, energy.n_particles, energy.dim, scale=2.0, atol=1e-8, rtol=1e-9)


def test_assert_invariant_detects_a_broken_symmetry() -> None:
    with pytest.raises(AssertionError, match="translation"):
        assert_invariant(lambda x: x.pow(2).sum(-1), 3, 2)


def test_wrong_shape_names_expected_shape() -> None:
    with pytest.raises(DataError, match=r"expected \[B, 8\]"):
        DoubleWell()(torch.zeros(3, 9))
    with pytest.raises(DataError, match="floating"):
        DoubleWell()(torch.zeros(3, 8, dtype=torch.long))


def test_nonfinite_raises_with_count_and_first_configuration() -> None:
    x = torch.zeros(3, 6, dtype=torch.float64)
    x[1, 3] = 1.0
    e, g = energy_and_grad(LennardJones(2, 3), x)  # rows 0 and 2 have r = 0
    with pytest.raises(NonFiniteEnergyError, match=r"2 of 3 configurations.*index 0"):
        check_finite(x, e, g)
    mask = check_finite(x, e, g, skip=True)
    assert mask.tolist() == [False, True, False]


def test_callable_energy_and_names() -> None:
    e = CallableEnergy(lambda x: x.pow(2).sum(-1), 2, 2, tau=0.5, translation_invariant=False)
    val, grad = energy_and_grad(e, torch.ones(2, 4))
    assert val.tolist() == [4.0, 4.0] and torch.allclose(grad, 2 * torch.ones(2, 4))
    bad = CallableEnergy(lambda x: x, 2, 2, translation_invariant=False)
    with pytest.raises(DataError, match="expected a tensor of shape"):
        bad(torch.ones(2, 4))
    assert isinstance(make_energy("lj55"), LennardJones) and make_energy("lj55").n_particles == 55
    with pytest.raises(ConfigError, match="lj7"):
        make_energy("lj7")
    with pytest.raises(ConfigError, match="tau"):
        DoubleWell(tau=0.0)


@needs_data
def test_reference_statistics_and_lj13_virial() -> None:
    dw = load_reference("dw4", dtype=torch.float64)
    e = DoubleWell()(dw)
    assert e.mean().item() == pytest.approx(-22.45, abs=0.01)
    assert e.std().item() == pytest.approx(1.90, abs=0.01)
    lj = load_reference("lj13", dtype=torch.float64)
    energy = LennardJones(13, 3)
    assert energy(lj).mean().item() == pytest.approx(-43.13, abs=0.01)
    # E[x . grad E] = tau * d_eff = 39 - 3 in the benchmark convention
    assert virial(energy, lj) == pytest.approx(36.0, abs=0.3)


def test_callable_energy_needs_an_explicit_invariance_claim_and_checks_it() -> None:
    import warnings

    from lab.molecules.particles import TranslationInvarianceWarning

    with pytest.raises(ConfigError, match="translation_invariant=True or False"):
        CallableEnergy(lambda x: x.pow(2).sum(-1), 3, 2)
    x = torch.randn(16, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lying = CallableEnergy(lambda x: x.pow(2).sum(-1), 3, 2, translation_invariant=True)
    with pytest.warns(TranslationInvarianceWarning, match="changes the energy by up to"):
        lying(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lying(x)  # checked once, on the first batch
        pairwise = CallableEnergy(
            lambda x: (x.view(-1, 3, 2)[:, 0] - x.view(-1, 3, 2)[:, 1]).pow(2).sum(-1),
            3,
            2,
            translation_invariant=True,
        )
        pairwise(x)
        assert pairwise.check_translation_invariance(x) < 1e-10
    assert lying.check_translation_invariance(x.float()) > 1e-2
