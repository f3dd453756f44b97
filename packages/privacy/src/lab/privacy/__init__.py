"""lab.privacy: differential-privacy research methods, one subpackage per method.

- :mod:`lab.privacy.collision`: locally private estimation and sequential testing of collision
  probability (Busa-Fekete & Syed, AISTATS 2025): salted-hash LDP randomizer, estimators,
  exact audit, baselines and sequential tests.
- :mod:`lab.privacy.unlearning`: DP2Unlearning (Al Mahmud et al. 2025) for causal language
  models with Opacus DP-SGD and DP-MLM (extra ``labworks-privacy[unlearning]``).

The one piece both methods use is :mod:`lab.privacy.randomness`: every privatiser draws its
coins from OS entropy unless an explicit ``simulation_seed`` is passed (a known seed voids the
guarantee). This package re-exports nothing.
The names it exported before 0.2 (the collision API) still resolve, with a
``DeprecationWarning``, from :mod:`lab.privacy.collision`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from lab.core import moved_attributes

try:
    __version__ = version("labworks-privacy")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]

#: names that moved to lab.privacy.collision in 0.2 (removed in 0.3)
_MOVED = {
    name: "lab.privacy.collision"
    for name in (
        "CollisionEstimate",
        "FrequencyOracleConfig",
        "FrequencyOraclePlugin",
        "FrequencyOracleReports",
        "LDPEstimatorConfig",
        "PairReports",
        "PairwiseRRConfig",
        "PairwiseRandomizedResponse",
        "PrivacyAudit",
        "PrivateSequentialCollisionTest",
        "PrivateSequentialTestConfig",
        "SaltedHashConfig",
        "SaltedHashLDP",
        "SaltedHashReports",
        "SequentialCollisionTest",
        "SequentialResult",
        "SequentialTestConfig",
        "assign_groups",
        "audit_likelihoods",
        "audit_salted_hash",
        "best_group_size",
        "collision_probability",
        "collision_variance",
        "dirichlet_distribution",
        "estimate_collision",
        "estimate_collision_ldp",
        "exact_collision_probability",
        "fixed_sample_size",
        "fixed_sample_test",
        "group_estimates",
        "hoeffding_u_radius",
        "pairwise_privacy_loss",
        "salted_hash_group_variance",
        "salted_hash_variance_bound",
        "sample_categorical",
        "table_size",
        "uniform_distribution",
        "value_counts",
        "zipf_distribution",
    )
}

__getattr__ = moved_attributes(__name__, _MOVED)
