"""What the server receives from the salted-hash randomizer (shared by the users' side in
:mod:`.salted_hash` and the server's estimator in :mod:`.ldp_estimator`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SaltedHashReports"]


@dataclass(frozen=True)
class SaltedHashReports:
    """What the server receives: one bit per user and the user's public group.

    Attributes:
        groups: int64 tensor (n,) of group ids ``0..n_groups-1``.
        bits: int64 tensor (n,) of reported bits.
        m: the table size used by the users.
        n_groups: number of groups.
        alpha: the privacy parameter the tables were sized for.
        beta: the per-pair failure probability the tables were sized for.
    """

    groups: torch.Tensor
    bits: torch.Tensor
    m: int
    n_groups: int
    alpha: float
    beta: float

    def __len__(self) -> int:
        return int(self.bits.numel())
