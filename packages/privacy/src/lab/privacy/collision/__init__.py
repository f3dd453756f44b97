"""lab.privacy.collision: locally private estimation and sequential testing of collision probability.

Busa-Fekete & Syed, "Near-optimal algorithms for private estimation and sequential testing of
collision probability" (AISTATS 2025): the unbiased all-pairs estimator of C(p) = sum_i p_i^2
(:mod:`.unbiased`), the (alpha, beta)-LDP one-bit salted-hash randomizer (:mod:`.salted_hash`)
with its server-side estimator (:mod:`.ldp_estimator`) and an exact privacy audit
(:mod:`.audit`), the pairwise randomized-response and frequency-oracle (pure-ldp) baselines
(:mod:`.baselines`), and gap-free sequential tests, non-private and private (:mod:`.sequential`).
"""

from __future__ import annotations

from .audit import PrivacyAudit, audit_likelihoods, audit_salted_hash, pairwise_privacy_loss
from .baselines import (
    FrequencyOracleConfig,
    FrequencyOraclePlugin,
    FrequencyOracleReports,
    PairReports,
    PairwiseRandomizedResponse,
    PairwiseRRConfig,
)
from .distributions import (
    dirichlet_distribution,
    exact_collision_probability,
    sample_categorical,
    uniform_distribution,
    zipf_distribution,
)
from .estimate import CollisionEstimate
from .ldp_estimator import LDPEstimatorConfig, estimate_collision_ldp, group_estimates
from .reports import SaltedHashReports
from .salted_hash import (
    SaltedHashConfig,
    SaltedHashLDP,
    assign_groups,
    best_group_size,
    salted_hash_group_variance,
    salted_hash_variance_bound,
    table_size,
)
from .sequential import (
    PrivateSequentialCollisionTest,
    PrivateSequentialTestConfig,
    SequentialCollisionTest,
    SequentialResult,
    SequentialTestConfig,
    fixed_sample_size,
    fixed_sample_test,
    hoeffding_u_radius,
)
from .unbiased import collision_probability, collision_variance, estimate_collision, value_counts

__all__ = [
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
]
