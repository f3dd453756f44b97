"""Exact privacy audits of finite local randomizers.

A local randomizer with finitely many outputs is described by its likelihood matrix
``P[x, o] = P(output o | input x)``. The realised privacy loss of a pair of inputs is
``L(x, x') = max_o |ln P[x, o] - ln P[x', o]|`` (infinite when an output is possible for one
input and impossible for the other); the randomizer is alpha-LDP on the pair iff
``L(x, x') <= alpha``. :func:`audit_salted_hash` computes, for a drawn public table, the loss of
every unordered pair of domain values and the fraction of pairs that violate alpha, which the
(alpha, beta) guarantee bounds by beta in expectation over the table draw.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from lab.core import ConfigError, DataError, get_device

from ._hashing import encode_categories
from ._validate import check_alpha
from .salted_hash import SaltedHashLDP

__all__ = ["PrivacyAudit", "audit_likelihoods", "audit_salted_hash", "pairwise_privacy_loss"]


@dataclass(frozen=True)
class PrivacyAudit:
    """Result of an exact audit.

    Attributes:
        alpha: the privacy level audited.
        n_inputs: number of domain values audited.
        n_pairs: number of unordered pairs (per table, summed over tables).
        violations: number of pairs whose loss exceeds alpha.
        violation_fraction: ``violations / n_pairs``.
        max_loss: the largest realised loss (``inf`` when some output separates two inputs).
        column_means: for the salted hash, ``h_x`` per audited table and value (else empty).
    """

    alpha: float
    n_inputs: int
    n_pairs: int
    violations: int
    violation_fraction: float
    max_loss: float
    column_means: np.ndarray


def pairwise_privacy_loss(likelihoods: np.ndarray | torch.Tensor) -> np.ndarray:
    """The (k, k) matrix of realised privacy losses of a (k, outputs) likelihood matrix."""
    P = np.asarray(likelihoods, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] < 1:
        raise DataError(f"likelihoods must be a (inputs, outputs) matrix, got shape {P.shape}")
    if np.any(P < 0) or np.any(~np.isfinite(P)) or not np.allclose(P.sum(axis=1), 1.0, atol=1e-9):
        raise DataError("every likelihood row must be a probability vector")
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log(P)
        diff = np.abs(logp[:, None, :] - logp[None, :, :])
    both_zero = (P[:, None, :] == 0) & (P[None, :, :] == 0)
    diff = np.where(both_zero, 0.0, diff)
    return diff.max(axis=2)


def _pair_counts(h: np.ndarray, alpha: float, chunk: int = 2048) -> tuple[int, int, float]:
    """Violations, pairs and max loss over unordered pairs of one table's column means."""
    k = h.size
    with np.errstate(divide="ignore"):
        l1, l0 = np.log(h), np.log1p(-h)
    viol, max_loss = 0, 0.0
    for start in range(0, k, chunk):
        a1, a0 = l1[start : start + chunk, None], l0[start : start + chunk, None]
        with np.errstate(invalid="ignore"):
            loss = np.maximum(np.abs(a1 - l1[None, :]), np.abs(a0 - l0[None, :]))
        # (-inf) - (-inf) is nan: both inputs never output that bit, so no loss from it.
        loss = np.nan_to_num(loss, nan=0.0, posinf=np.inf)
        rows = np.arange(start, min(start + chunk, k))[:, None]
        upper = np.arange(k)[None, :] > rows
        viol += int(np.count_nonzero((loss > alpha * (1 + 1e-12)) & upper))
        if np.any(upper):
            max_loss = max(max_loss, float(loss[upper].max()))
    return viol, k * (k - 1) // 2, max_loss


def audit_likelihoods(likelihoods: np.ndarray, alpha: float) -> PrivacyAudit:
    """Exact audit of a finite randomizer given by its likelihood matrix."""
    alpha = check_alpha(alpha)
    L = pairwise_privacy_loss(likelihoods)
    k = L.shape[0]
    iu = np.triu_indices(k, 1)
    losses = L[iu]
    viol = int(np.count_nonzero(losses > alpha * (1 + 1e-12)))
    n_pairs = losses.size
    return PrivacyAudit(
        alpha=alpha,
        n_inputs=k,
        n_pairs=n_pairs,
        violations=viol,
        violation_fraction=viol / n_pairs if n_pairs else 0.0,
        max_loss=float(losses.max()) if n_pairs else 0.0,
        column_means=np.empty(0),
    )


def audit_salted_hash(
    ldp: SaltedHashLDP,
    domain: int | Sequence[Any],
    *,
    groups: Iterable[int] = (0,),
    alpha: float | None = None,
    device: Any = None,
) -> PrivacyAudit:
    """Exact audit of the salted-hash randomizer for the drawn tables of ``groups``.

    Args:
        ldp: the randomizer (its table seed and size ``m`` define the draw).
        domain: the input domain, as ``k`` (values ``0..k-1``) or a sequence of categories.
        groups: the groups whose tables are audited (pairs are counted per table).
        alpha: privacy level to audit (default: the randomizer's alpha).
        device: where the table bits are computed.

    Returns:
        A :class:`PrivacyAudit` whose ``violation_fraction`` is at most ``beta`` in
        expectation over the table draw (and, the bound being loose, typically far below).
    """
    alpha = check_alpha(ldp.config.alpha if alpha is None else alpha)
    dev = get_device(device)
    if isinstance(domain, int) and not isinstance(domain, bool):
        if domain < 2:
            raise ConfigError(f"an audit needs a domain of at least 2 values, got k={domain}")
        ids = torch.arange(domain, dtype=torch.int64, device=dev)
    else:
        ids = torch.as_tensor(encode_categories(list(cast(Sequence[Any], domain))), device=dev)
        if int(torch.unique(ids).numel()) != int(ids.numel()):
            raise DataError("the audited domain contains repeated values")
        if ids.numel() < 2:
            raise ConfigError(f"an audit needs a domain of at least 2 values, got {ids.numel()}")
    groups = list(groups)
    if not groups:
        raise ConfigError("groups must name at least one group to audit")
    viol = pairs = 0
    max_loss = 0.0
    means = []
    for g in groups:
        h = ldp.table_bits(int(g), ids, device=dev).double().mean(dim=0).cpu().numpy()
        means.append(h)
        v, p, ml = _pair_counts(h, alpha)
        viol, pairs, max_loss = viol + v, pairs + p, max(max_loss, ml)
    return PrivacyAudit(
        alpha=alpha,
        n_inputs=int(ids.numel()),
        n_pairs=pairs,
        violations=viol,
        violation_fraction=viol / pairs,
        max_loss=max_loss,
        column_means=np.stack(means),
    )
