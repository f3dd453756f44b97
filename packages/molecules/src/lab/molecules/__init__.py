"""lab.molecules: Adjoint Sampling (Havens et al., 2025) for particle systems and molecules.

Methods (one subpackage each):

- :mod:`lab.molecules.particles`: Adjoint Sampling of particle systems (DW-4, LJ-13, LJ-55,
  Gaussian checks) with an EGNN control, MALA baseline and benchmark metrics.
- :mod:`lab.molecules.conformers`: amortised conformer generation (torsional Adjoint Sampling
  on MMFF94 energies), ETKDG baselines, coverage / AMR.

Shared by both and re-exported here: the memoryless controlled SDE and its geometric noise
schedule (:mod:`~lab.molecules.sde`), the E(n)-equivariant :class:`EGNN`
(:mod:`~lab.molecules.egnn`), the reciprocal adjoint matching loss
(:mod:`~lab.molecules.loss`), the :class:`ReplayBuffer` (:mod:`~lab.molecules.buffer`),
importance resampling by path weights (:mod:`~lab.molecules.importance`, OURS), the
EMA / learning-rate helpers (:mod:`~lab.molecules.training`) and the equivariance test helpers
(:mod:`~lab.molecules.equivariance`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from lab.core import moved_attributes

from .buffer import ReplayBuffer
from .egnn import EGNN, EGNNConfig
from .equivariance import assert_equivariant, assert_invariant, random_orthogonal
from .importance import ImportanceSamples, importance_resample
from .loss import adjoint_matching_loss, bridge_sample, lean_adjoint
from .sde import (
    GeometricNoiseSchedule,
    com_free_noise,
    simulate,
    simulate_trajectory,
    simulate_with_log_ratio,
    time_grid,
)
from .training import ema_update, lr_factor

try:
    __version__ = version("labworks-molecules")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0+unknown"

__all__ = [
    "EGNN",
    "EGNNConfig",
    "GeometricNoiseSchedule",
    "ImportanceSamples",
    "ReplayBuffer",
    "__version__",
    "adjoint_matching_loss",
    "assert_equivariant",
    "assert_invariant",
    "bridge_sample",
    "com_free_noise",
    "ema_update",
    "importance_resample",
    "lean_adjoint",
    "lr_factor",
    "random_orthogonal",
    "simulate",
    "simulate_trajectory",
    "simulate_with_log_ratio",
    "time_grid",
]

#: Names exported here before 0.2 that moved to :mod:`lab.molecules.particles`.
_MOVED_TO_PARTICLES = (
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
    "virial",
)
__getattr__ = moved_attributes(
    __name__, dict.fromkeys(_MOVED_TO_PARTICLES, "lab.molecules.particles")
)
