"""lab.privacy: locally private estimation and sequential testing of collision probability.

Implements Busa-Fekete & Syed, "Near-optimal algorithms for private estimation and sequential
testing of collision probability" (AISTATS 2025): the unbiased all-pairs estimator of
C(p) = sum_i p_i^2, the (alpha, beta)-LDP one-bit salted-hash randomizer with its server-side
median-of-means estimator and an exact privacy audit, the pairwise randomized-response and
frequency-oracle (pure-ldp) baselines, and gap-free sequential tests (non-private and private).

DP2Unlearning (Al Mahmud et al. 2025) for causal language models with Opacus lives in the
subpackage :mod:`lab.privacy.unlearning` (extra ``labworks-privacy[unlearning]``).
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
from .collision import collision_probability, collision_variance, estimate_collision, value_counts
from .distributions import (
    dirichlet_distribution,
    exact_collision_probability,
    sample_categorical,
    uniform_distribution,
    zipf_distribution,
)
from .estimate import CollisionEstimate
from .ldp_estimator import LDPEstimatorConfig, estimate_collision_ldp, group_estimates
from .salted_hash import (
    SaltedHashConfig,
    SaltedHashLDP,
    SaltedHashReports,
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
