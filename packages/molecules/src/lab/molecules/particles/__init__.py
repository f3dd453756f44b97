"""lab.molecules.particles: Adjoint Sampling (Havens et al., 2025) for particle systems.

Energies (:class:`DoubleWell`, :class:`LennardJones`, :class:`IsotropicGaussian`,
:class:`HarmonicCluster`, any callable via :class:`CallableEnergy`), the
:class:`AdjointSampler` trainer (EGNN control, memoryless SDE, reciprocal adjoint matching with
a replay buffer: the shared pieces in :mod:`lab.molecules`), :func:`mala` as baseline and
reference generator, reference data loaders and the benchmark metrics.
"""

from __future__ import annotations

from .data import exact_samples, lattice_start, load_reference
from .energies import (
    CallableEnergy,
    DoubleWell,
    Energy,
    HarmonicCluster,
    IsotropicGaussian,
    LennardJones,
    NonFiniteEnergyError,
    ParticleEnergy,
    TranslationInvarianceWarning,
    check_finite,
    energy_and_grad,
    make_energy,
)
from .mala import MALAConfig, MALAResult, mala
from .metrics import (
    configuration_w2,
    effective_sample_size,
    energy_w1,
    energy_w2,
    interatomic_distance_w1,
    kabsch_align,
    pair_fraction_below,
    virial,
)
from .sampler import AdjointSampler, AdjointSamplingConfig

__all__ = [
    "AdjointSampler",
    "AdjointSamplingConfig",
    "CallableEnergy",
    "DoubleWell",
    "Energy",
    "HarmonicCluster",
    "IsotropicGaussian",
    "LennardJones",
    "MALAConfig",
    "MALAResult",
    "NonFiniteEnergyError",
    "ParticleEnergy",
    "TranslationInvarianceWarning",
    "check_finite",
    "configuration_w2",
    "effective_sample_size",
    "energy_and_grad",
    "energy_w1",
    "energy_w2",
    "exact_samples",
    "interatomic_distance_w1",
    "kabsch_align",
    "lattice_start",
    "load_reference",
    "make_energy",
    "mala",
    "pair_fraction_below",
    "virial",
]
