"""Sample-quality metrics of the particle benchmarks (POT and scipy).

- :func:`energy_w1`, :func:`energy_w2`: 1-D Wasserstein distances between energy samples
  (the paper's "E-W2").
- :func:`interatomic_distance_w1`: 1-D W1 between the pooled interatomic distances.
- :func:`configuration_w2`: the paper's W2 on configurations: each pair of configurations is
  compared after the optimal particle permutation (Hungarian matching) and an optimal
  orthogonal alignment (Kabsch), then exact optimal transport (``ot.emd2``) on that cost.
- :func:`virial`: ``E[x . grad E]``, which equals ``tau * d_eff`` for exact samples.
- :func:`effective_sample_size`: normalised ESS of importance weights (from
  :mod:`lab.molecules.importance`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import ot
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from lab.core import ConfigError, DataError

from .._geometry import check_coordinates, pairwise_distances
from ..importance import effective_sample_size
from .energies import energy_and_grad

__all__ = [
    "configuration_w2",
    "effective_sample_size",
    "energy_w1",
    "energy_w2",
    "interatomic_distance_w1",
    "kabsch_align",
    "pair_fraction_below",
    "virial",
]


def _as_1d(v: Tensor | np.ndarray, name: str) -> np.ndarray:
    a = (
        v.detach().cpu().double().numpy()
        if isinstance(v, Tensor)
        else np.asarray(v, dtype=np.float64)
    )
    a = a.reshape(-1)
    if a.size == 0:
        raise DataError(f"{name} is empty")
    bad = ~np.isfinite(a)
    if bad.any():
        raise DataError(
            f"{name} holds {int(bad.sum())} non-finite values (first at index "
            f"{int(np.argmax(bad))}: {a[np.argmax(bad)]})"
        )
    return a


def energy_w1(energies: Tensor | np.ndarray, reference: Tensor | np.ndarray) -> float:
    """1-D Wasserstein-1 distance between two sets of energies."""
    return float(
        ot.wasserstein_1d(
            _as_1d(energies, "energies"), _as_1d(reference, "reference energies"), p=1
        )
    )


def energy_w2(energies: Tensor | np.ndarray, reference: Tensor | np.ndarray) -> float:
    """1-D Wasserstein-2 distance between two sets of energies (the paper's E-W2)."""
    w22 = ot.wasserstein_1d(
        _as_1d(energies, "energies"), _as_1d(reference, "reference energies"), p=2
    )
    return math.sqrt(max(float(w22), 0.0))


def interatomic_distance_w1(x: Tensor, reference: Tensor, n_particles: int, dim: int) -> float:
    """W1 between the pooled distances ``|x_i - x_j|`` (``i < j``) of two configuration sets."""
    check_coordinates(x, n_particles, dim)
    check_coordinates(reference, n_particles, dim, name="reference")
    da = pairwise_distances(x.double(), n_particles, dim)
    db = pairwise_distances(reference.double(), n_particles, dim)
    return float(ot.wasserstein_1d(_as_1d(da, "distances"), _as_1d(db, "reference distances"), p=1))


def kabsch_align(a: Tensor, b: Tensor, *, reflections: bool = True) -> Tensor:
    """Rotate (and, with ``reflections``, reflect) centred ``b [..., n, d]`` onto ``a [..., n, d]``.

    Returns ``b @ R`` with the orthogonal ``R`` minimising ``||a - b R||`` (batched SVD).
    """
    h = b.transpose(-1, -2) @ a  # [..., d, d]
    u, _, vt = torch.linalg.svd(h)
    if not reflections:
        det = torch.det(u @ vt)
        fix = torch.ones(*det.shape, h.shape[-1], dtype=h.dtype, device=h.device)
        fix[..., -1] = det.sign()
        u = u * fix.unsqueeze(-2)
    return b @ (u @ vt)


def _match(a: np.ndarray, b: np.ndarray, perms: np.ndarray | None) -> np.ndarray:
    """Permutation of b's particles that best matches a's, for every pair: [Na, Nb, n]."""
    na, nb, n = a.shape[0], b.shape[1], a.shape[1]
    if perms is not None:  # few particles: exhaustive search, vectorised in row chunks
        out = np.empty((na, nb, n), dtype=np.int64)
        rows = max(1, 2_000_000 // max(1, nb * perms.size * a.shape[2]))
        for s in range(0, na, rows):
            bp = b[s : s + rows][:, :, perms]  # [r, Nb, P, n, d]
            cost = ((a[s : s + rows, None, None] - bp) ** 2).sum(axis=(-1, -2))  # [r, Nb, P]
            out[s : s + rows] = perms[cost.argmin(-1)]
        return out
    out = np.empty((na, nb, n), dtype=np.int64)
    for i in range(na):
        for j in range(nb):
            c = ((a[i][:, None] - b[i, j][None]) ** 2).sum(-1)
            _, col = linear_sum_assignment(c)
            out[i, j] = col
    return out


def _principal_axes(v: Tensor) -> Tensor:
    """Eigenvectors (columns, ascending eigenvalues) of each centred configuration's gyration
    tensor: ``[N, d, d]`` from ``[N, n, d]``."""
    return torch.linalg.eigh(v.transpose(-1, -2) @ v)[1]


def configuration_w2(
    x: Tensor,
    reference: Tensor,
    n_particles: int,
    dim: int,
    *,
    max_samples: int | None = 1000,
    iterations: int = 2,
    reflections: bool = True,
    generator: torch.Generator | None = None,
) -> float:
    """W2 between configuration sets modulo permutations and orthogonal transformations.

    The cost of a pair ``(x_i, y_j)`` is ``min ||x_i - P y_j R||^2`` over permutations ``P``
    and orthogonal ``R``, found by alternating Hungarian matching (scipy; exhaustive for at most
    5 particles) and Kabsch alignment ``iterations`` times, started from the principal-axes
    alignment of the two centred configurations under each of the ``2^d`` axis sign choices,
    keeping the best (OURS: a local search; the paper states Hungarian + Kabsch). Exact OT
    (POT ``emd2``) then gives ``W2 = sqrt(min_pi sum pi_ij c_ij)``.

    Args:
        max_samples: random subsets of at most this size from each set (the cost matrix is
            ``N x M`` alignments); ``None`` uses everything.
        reflections: allow improper rotations (all benchmark energies are O(d) invariant).
    """
    check_coordinates(x, n_particles, dim)
    check_coordinates(reference, n_particles, dim, name="reference")
    if iterations < 1:
        raise ConfigError(f"iterations must be >= 1, got {iterations}")
    for name, v in (("x", x), ("reference", reference)):
        if not bool(torch.isfinite(v).all()):
            raise DataError(f"{name} holds non-finite coordinates")

    def subset(v: Tensor) -> Tensor:
        if max_samples is not None and v.shape[0] > max_samples:
            idx = torch.randperm(v.shape[0], generator=generator)[:max_samples]
            v = v[idx.to(v.device)]
        v = v.detach().cpu().double().view(-1, n_particles, dim)
        return v - v.mean(1, keepdim=True)

    a, b = subset(x), subset(reference)
    perms = np.array(list(itertools.permutations(range(n_particles)))) if n_particles <= 5 else None
    aa = a.unsqueeze(1)  # [Na, 1, n, d]
    va, vb = _principal_axes(a), _principal_axes(b)  # [N, d, d]
    cost = torch.full((a.shape[0], b.shape[0]), math.inf, dtype=torch.float64)
    for signs in itertools.product((1.0, -1.0), repeat=dim):
        s = torch.tensor(signs, dtype=torch.float64)
        if not reflections and float(s.prod()) < 0:
            continue
        # start: b's principal frame mapped onto a's, up to the axis signs s
        rot = (vb * s).unsqueeze(0) @ va.transpose(-1, -2).unsqueeze(1)  # [Na, Nb, d, d]
        bb = b.unsqueeze(0) @ rot  # [Na, Nb, n, d]
        for _ in range(iterations):
            perm = torch.from_numpy(_match(a.numpy(), bb.numpy(), perms))
            bb = torch.gather(bb, 2, perm.unsqueeze(-1).expand(-1, -1, -1, dim))
            bb = kabsch_align(aa.expand_as(bb), bb, reflections=reflections)
        cost = torch.minimum(cost, (aa - bb).pow(2).sum(dim=(-1, -2)))
    cost_np = cost.numpy()
    wa = np.full(a.shape[0], 1.0 / a.shape[0])
    wb = np.full(b.shape[0], 1.0 / b.shape[0])
    return math.sqrt(max(float(ot.emd2(wa, wb, cost_np, numItermax=1_000_000)), 0.0))


def pair_fraction_below(x: Tensor, n_particles: int, dim: int, cutoff: float) -> Tensor:
    """Per sample, the share of its particle pairs ``i < j`` closer than ``cutoff``, ``[B]``
    float64 (a mode-weight check: for DW-4, ``cutoff=4`` splits the short and long distance
    modes; its mean over samples is the share of all pairs)."""
    check_coordinates(x, n_particles, dim)
    return (pairwise_distances(x.detach().double(), n_particles, dim) < cutoff).double().mean(-1)


def virial(energy: torch.nn.Module, x: Tensor, *, batch_size: int = 4096) -> float:
    """``E[x . grad E(x)]`` over the samples; equals ``tau * d_eff`` for exact samples."""
    total, count = 0.0, 0
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        _, g = energy_and_grad(energy, xb)
        v = (xb * g).sum(-1)
        if not bool(torch.isfinite(v).all()):
            raise DataError("virial: non-finite energy gradient on the samples")
        total += float(v.double().sum())
        count += xb.shape[0]
    return total / count
