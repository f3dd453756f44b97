"""lab.molecules: Adjoint Sampling (Havens et al., 2025) for particle systems.

Energies (:class:`DoubleWell`, :class:`LennardJones`, :class:`IsotropicGaussian`,
:class:`HarmonicCluster`, any callable via :class:`CallableEnergy`), the memoryless controlled
SDE with a geometric noise schedule, an E(n)-equivariant :class:`EGNN` control, the reciprocal
adjoint matching loss with a :class:`ReplayBuffer`, the :class:`AdjointSampler` trainer,
:func:`mala` as baseline and reference generator, and the benchmark metrics.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .buffer import ReplayBuffer
from .data import exact_samples, lattice_start, load_reference
from .egnn import EGNN, EGNNConfig
from .energies import (
    CallableEnergy,
    DoubleWell,
    Energy,
    HarmonicCluster,
    IsotropicGaussian,
    LennardJones,
    NonFiniteEnergyError,
    ParticleEnergy,
    check_finite,
    energy_and_grad,
    make_energy,
)
from .equivariance import assert_equivariant, assert_invariant, random_orthogonal
from .loss import adjoint_matching_loss, bridge_sample, lean_adjoint
from .mala import MALAConfig, MALAResult, mala
from .metrics import (
    configuration_w2,
    effective_sample_size,
    energy_w1,
    energy_w2,
    interatomic_distance_w1,
    kabsch_align,
    virial,
)
from .sampler import AdjointSampler, AdjointSamplingConfig
from .sde import GeometricNoiseSchedule, com_free_noise, simulate, simulate_trajectory, time_grid

try:
    __version__ = version("labworks-molecules")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0+unknown"

__all__ = [
    "EGNN",
    "AdjointSampler",
    "AdjointSamplingConfig",
    "CallableEnergy",
    "DoubleWell",
    "EGNNConfig",
    "Energy",
    "GeometricNoiseSchedule",
    "HarmonicCluster",
    "IsotropicGaussian",
    "LennardJones",
    "MALAConfig",
    "MALAResult",
    "NonFiniteEnergyError",
    "ParticleEnergy",
    "ReplayBuffer",
    "__version__",
    "adjoint_matching_loss",
    "assert_equivariant",
    "assert_invariant",
    "bridge_sample",
    "check_finite",
    "com_free_noise",
    "configuration_w2",
    "effective_sample_size",
    "energy_and_grad",
    "energy_w1",
    "energy_w2",
    "exact_samples",
    "interatomic_distance_w1",
    "kabsch_align",
    "lattice_start",
    "lean_adjoint",
    "load_reference",
    "make_energy",
    "mala",
    "random_orthogonal",
    "simulate",
    "simulate_trajectory",
    "time_grid",
    "virial",
]
