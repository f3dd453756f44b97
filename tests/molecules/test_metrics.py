"""Metrics: known answers and invariances."""

from __future__ import annotations

import math

import pytest
import torch

from lab.core import DataError
from lab.molecules import random_orthogonal
from lab.molecules.particles import (
    HarmonicCluster,
    configuration_w2,
    effective_sample_size,
    energy_w1,
    energy_w2,
    exact_samples,
    interatomic_distance_w1,
    kabsch_align,
    virial,
)

torch.set_num_threads(1)


def test_energy_distances_of_a_shift() -> None:
    e = torch.randn(500, dtype=torch.float64)
    assert energy_w2(e + 1.5, e) == pytest.approx(1.5, abs=1e-9)
    assert energy_w1(e - 0.5, e) == pytest.approx(0.5, abs=1e-9)
    assert energy_w2(e, e) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(DataError, match="non-finite"):
        energy_w2(torch.tensor([1.0, math.nan]), e)


def test_distance_w1_of_a_scaled_set() -> None:
    x = torch.randn(300, 12, dtype=torch.float64)
    assert interatomic_distance_w1(x, x, 4, 3) == pytest.approx(0.0, abs=1e-12)
    # scaling coordinates by 1.1 scales each distance by 1.1 -> W1 = 0.1 * mean distance
    xs = x.view(300, 4, 3)
    mean_d = torch.cdist(xs, xs).sum() / (300 * 12)
    assert interatomic_distance_w1(1.1 * x, x, 4, 3) == pytest.approx(0.1 * mean_d.item(), rel=1e-9)


def test_kabsch_recovers_a_rotation() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 3, generator=g, dtype=torch.float64)
    a = a - a.mean(0)
    r = random_orthogonal(3, reflection=True, generator=g)
    assert torch.allclose(kabsch_align(a, a @ r), a, atol=1e-10)
    rot = random_orthogonal(3, generator=g)
    assert torch.allclose(kabsch_align(a, a @ rot, reflections=False), a, atol=1e-10)


@pytest.mark.parametrize(("n", "d"), [(4, 2), (7, 3)])
def test_configuration_w2_is_zero_modulo_symmetries(n: int, d: int) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(30, n * d, generator=g, dtype=torch.float64) * 2
    xs = x.view(30, n, d)
    perm = torch.randperm(n, generator=g)
    r = random_orthogonal(d, reflection=True, generator=g)
    y = ((xs[:, perm] @ r) + 3.0).reshape(30, n * d)  # permuted, reflected, translated
    assert configuration_w2(x, y, n, d, max_samples=None) == pytest.approx(0.0, abs=1e-6)
    far = configuration_w2(x, 2.0 * y, n, d, max_samples=None)
    assert far > 0.5


def test_configuration_w2_of_a_scaled_copy() -> None:
    # for one configuration and its 1.5x copy, the optimal alignment is the identity
    x = torch.tensor([[0.0, 0.0, 2.0, 0.0, 2.0, 1.0, 0.0, 1.0]], dtype=torch.float64)
    x = x - x.view(1, 4, 2).mean(1).repeat(1, 4)
    assert configuration_w2(x, 1.5 * x, 4, 2) == pytest.approx(0.5 * x.norm().item(), rel=1e-9)


def test_virial_on_exact_samples_and_ess() -> None:
    h = HarmonicCluster(4, 3, w=1.5, tau=0.7)
    x = exact_samples(h, 20000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # harmonic: x . grad E = 2E; equipartition gives tau * d_eff with d_eff = 12 - 3
    assert virial(h, x) == pytest.approx(0.7 * 9, rel=0.03)
    assert effective_sample_size(torch.zeros(100)) == pytest.approx(1.0)
    lw = torch.full((100,), -1e9, dtype=torch.float64)
    lw[0] = 0.0
    assert effective_sample_size(lw) == pytest.approx(0.01)


def test_pair_fraction_below_counts_pairs_per_sample() -> None:
    from lab.molecules.particles import pair_fraction_below

    square = torch.tensor([[0.0, 0.0, 3.0, 0.0, 3.0, 3.0, 0.0, 3.0]])  # sides 3, diagonals 4.24
    wide = 2 * square  # sides 6, diagonals 8.5
    f = pair_fraction_below(torch.cat([square, wide]), 4, 2, 4.0)
    assert f.tolist() == pytest.approx([4 / 6, 0.0])
