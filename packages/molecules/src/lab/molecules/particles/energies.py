"""Energies of particle systems: DW-4, LJ-13/LJ-55 and two closed-form targets.

Every energy maps coordinates of shape ``[B, n_particles * dim]`` to energies of shape ``[B]``;
the target density is ``exp(-E(x) / tau)``. Gradients come from autograd
(:func:`energy_and_grad`), so any callable ``x -> energy`` with that signature works too
(the :class:`Energy` protocol, wrapped by :class:`CallableEnergy`).
"""

from __future__ import annotations

import abc
import math
import warnings
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from lab.core import ConfigError, DataError

from .._geometry import check_coordinates, remove_com, triu_pairs

__all__ = [
    "CallableEnergy",
    "DoubleWell",
    "Energy",
    "HarmonicCluster",
    "IsotropicGaussian",
    "LennardJones",
    "NonFiniteEnergyError",
    "ParticleEnergy",
    "TranslationInvarianceWarning",
    "check_coordinates",
    "check_finite",
    "energy_and_grad",
    "make_energy",
]


class NonFiniteEnergyError(DataError):
    """An energy or its gradient is NaN or infinite for some configurations."""


@runtime_checkable
class Energy(Protocol):
    """Anything that maps ``[B, n*d]`` coordinates to ``[B]`` energies (differentiably)."""

    def __call__(self, x: Tensor) -> Tensor: ...


class ParticleEnergy(nn.Module, abc.ABC):
    """Base class: an energy of ``n_particles`` particles in ``dim`` dimensions at temperature ``tau``.

    Subclasses implement :meth:`_energy` on validated ``[B, n, d]`` coordinates.
    """

    #: True when the energy is invariant to translations (so samplers may work in the
    #: centre-of-mass-free subspace without changing the target up to the CoM marginal).
    translation_invariant: bool = True

    def __init__(self, n_particles: int, dim: int, tau: float = 1.0):
        super().__init__()
        if n_particles < 1 or dim < 1:
            raise ConfigError(f"n_particles and dim must be >= 1, got {n_particles} and {dim}")
        if not (tau > 0 and math.isfinite(tau)):
            raise ConfigError(f"temperature tau must be positive and finite, got {tau!r}")
        self.n_particles = int(n_particles)
        self.dim = int(dim)
        self.tau = float(tau)

    @property
    def n_coords(self) -> int:
        return self.n_particles * self.dim

    def d_eff(self, com_free: bool = True) -> int:
        """Degrees of freedom: ``n*d`` minus ``d`` in the centre-of-mass-free subspace."""
        return self.n_coords - (self.dim if com_free else 0)

    @abc.abstractmethod
    def _energy(self, x: Tensor) -> Tensor:
        """Energies ``[B]`` of validated coordinates ``[B, n, d]``."""

    def forward(self, x: Tensor) -> Tensor:
        check_coordinates(x, self.n_particles, self.dim)
        return self._energy(x.view(x.shape[0], self.n_particles, self.dim))

    def extra_repr(self) -> str:
        return f"n_particles={self.n_particles}, dim={self.dim}, tau={self.tau}"


class DoubleWell(ParticleEnergy):
    """DW-4 as the benchmark defines it: ``E = sum_{i<j} a (d_ij - d0)^4 + b (d_ij - d0)^2``.

    Defaults ``a = 0.9``, ``b = -4``, ``d0 = 4``, 4 particles in 2-D, ``tau = 1``.
    """

    translation_invariant = True

    def __init__(
        self,
        n_particles: int = 4,
        dim: int = 2,
        *,
        a: float = 0.9,
        b: float = -4.0,
        d0: float = 4.0,
        tau: float = 1.0,
    ):
        super().__init__(n_particles, dim, tau)
        self.a, self.b, self.d0 = float(a), float(b), float(d0)

    def _energy(self, x: Tensor) -> Tensor:
        i, j = triu_pairs(self.n_particles, x.device)
        d = (x[:, i] - x[:, j]).norm(dim=-1) - self.d0
        return (self.a * d**4 + self.b * d**2).sum(-1)


class LennardJones(ParticleEnergy):
    """LJ-13 / LJ-55 in the benchmark convention (DEM, Adjoint Sampling).

    ``E = eps * sum over ORDERED pairs i != j [(r_m/r)^12 - 2 (r_m/r)^6]
    + c/2 * sum_i ||x_i - com||^2`` with ``eps = r_m = 1`` and ``c = 1``; the pair term is
    twice the textbook per-pair sum (each unordered pair counted twice), as in the
    benchmark's code.
    """

    translation_invariant = True

    def __init__(
        self,
        n_particles: int = 13,
        dim: int = 3,
        *,
        eps: float = 1.0,
        rm: float = 1.0,
        oscillator_scale: float = 1.0,
        tau: float = 1.0,
    ):
        super().__init__(n_particles, dim, tau)
        if n_particles < 2:
            raise ConfigError(f"LennardJones needs at least 2 particles, got {n_particles}")
        self.eps, self.rm, self.oscillator_scale = float(eps), float(rm), float(oscillator_scale)

    def _energy(self, x: Tensor) -> Tensor:
        i, j = triu_pairs(self.n_particles, x.device)
        r = (x[:, i] - x[:, j]).norm(dim=-1)
        s6 = (self.rm / r) ** 6
        pair = 2.0 * self.eps * (s6**2 - 2.0 * s6).sum(-1)  # ordered pairs = 2 x unordered
        osc = 0.5 * self.oscillator_scale * remove_com(x).pow(2).sum(dim=(-2, -1))
        return pair + osc


class IsotropicGaussian(ParticleEnergy):
    """``E = ||x||^2 / (2 sigma^2)``: at temperature ``tau`` the target is N(0, tau sigma^2 I).

    In the centre-of-mass-free subspace (where the samplers live) the exact covariance is
    ``tau sigma^2 (I_n - 11^T/n) (x) I_d``; see :meth:`exact_covariance`.
    """

    translation_invariant = False

    def __init__(self, n_particles: int = 4, dim: int = 3, *, sigma: float = 1.0, tau: float = 1.0):
        super().__init__(n_particles, dim, tau)
        if not sigma > 0:
            raise ConfigError(f"sigma must be positive, got {sigma!r}")
        self.sigma = float(sigma)

    @property
    def variance(self) -> float:
        """Variance of each coordinate of the target, ``tau sigma^2``."""
        return self.tau * self.sigma**2

    def _energy(self, x: Tensor) -> Tensor:
        return x.pow(2).sum(dim=(-2, -1)) / (2.0 * self.sigma**2)

    def exact_covariance(
        self,
        com_free: bool = True,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        return self.variance * _projector(self.n_particles, self.dim, com_free, dtype, device)


class HarmonicCluster(ParticleEnergy):
    """``E = w/2 sum_{i<j} ||x_i - x_j||^2 = (w n / 2) sum_i ||x_i - com||^2``.

    Translation invariant; in the centre-of-mass-free subspace the target is Gaussian with
    covariance ``tau / (w n) (I_n - 11^T/n) (x) I_d`` (:meth:`exact_covariance`).
    """

    translation_invariant = True

    def __init__(self, n_particles: int = 4, dim: int = 3, *, w: float = 1.0, tau: float = 1.0):
        super().__init__(n_particles, dim, tau)
        if not w > 0:
            raise ConfigError(f"spring constant w must be positive, got {w!r}")
        self.w = float(w)

    @property
    def variance(self) -> float:
        """Variance of the target along each centre-of-mass-free direction, ``tau / (w n)``."""
        return self.tau / (self.w * self.n_particles)

    def _energy(self, x: Tensor) -> Tensor:
        i, j = triu_pairs(self.n_particles, x.device)
        return 0.5 * self.w * (x[:, i] - x[:, j]).pow(2).sum(dim=(-2, -1))

    def exact_covariance(
        self,
        com_free: bool = True,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> Tensor:
        if not com_free:
            raise ConfigError(
                "HarmonicCluster is translation invariant: its density is "
                "normalisable only in the centre-of-mass-free subspace (com_free=True)"
            )
        return self.variance * _projector(self.n_particles, self.dim, True, dtype, device)


def _projector(
    n: int, d: int, com_free: bool, dtype: torch.dtype, device: torch.device | str | None
) -> Tensor:
    eye_n = torch.eye(n, dtype=dtype, device=device)
    p = eye_n - (1.0 / n if com_free else 0.0)
    return torch.kron(p, torch.eye(d, dtype=dtype, device=device))


class CallableEnergy(ParticleEnergy):
    """Wrap a user callable ``fn(x: [B, n*d]) -> [B]`` as a :class:`ParticleEnergy`.

    ``translation_invariant`` has no default: it decides whether centre-of-mass-free sampling
    (the samplers' default) is exact for this energy, and only the user knows it. A claim of
    invariance is also checked numerically on the first batch the energy sees (one extra
    evaluation of ``fn`` on that batch shifted by a random common translation); a violation
    beyond floating-point noise emits a :class:`TranslationInvarianceWarning` naming the
    largest change, since centre-of-mass-free sampling then samples a different distribution.

    Raises:
        ConfigError: when ``translation_invariant`` is not given as ``True`` or ``False``.
    """

    def __init__(
        self,
        fn: Callable[[Tensor], Tensor],
        n_particles: int,
        dim: int,
        *,
        tau: float = 1.0,
        translation_invariant: bool | None = None,
    ):
        super().__init__(n_particles, dim, tau)
        if not callable(fn):
            raise ConfigError(f"energy function must be callable, got {fn!r}")
        if not isinstance(translation_invariant, bool):
            raise ConfigError(
                "CallableEnergy needs translation_invariant=True or False, got "
                f"{translation_invariant!r}: True when fn(x + c) == fn(x) for every common shift "
                "c of all particles (then centre-of-mass-free sampling is exact), False otherwise"
            )
        self.fn = fn
        self.translation_invariant = translation_invariant
        self._invariance_checked = not translation_invariant

    def _energy(self, x: Tensor) -> Tensor:
        return self.forward(x.reshape(x.shape[0], -1))

    def forward(self, x: Tensor) -> Tensor:
        check_coordinates(x, self.n_particles, self.dim)
        e = self.fn(x)
        if not isinstance(e, Tensor) or e.shape != (x.shape[0],):
            shape = tuple(e.shape) if isinstance(e, Tensor) else type(e).__name__
            raise DataError(
                f"user energy returned {shape}; expected a tensor of shape [{x.shape[0]}]"
            )
        if not self._invariance_checked:
            self._invariance_checked = True
            self.check_translation_invariance(x.detach(), e.detach())
        return e

    @torch.no_grad()
    def check_translation_invariance(
        self, x: Tensor, e: Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> float:
        """Largest ``|fn(x + c) - fn(x)|`` over the batch ``x`` for a random common shift ``c``
        (standard normal per dimension); warns (:class:`TranslationInvarianceWarning`) when it
        exceeds ``sqrt(eps) * (1 + |fn(x)|)`` of the dtype while the energy claims invariance."""
        check_coordinates(x, self.n_particles, self.dim)
        if e is None:
            e = self.fn(x)
        shift = torch.randn(self.dim, generator=generator, dtype=x.dtype, device=x.device)
        xs = (x.view(x.shape[0], self.n_particles, self.dim) + shift).reshape(x.shape)
        e2 = self.fn(xs)
        diff = (e2 - e).abs()
        finite = torch.isfinite(diff)
        if not bool(finite.any()):
            return math.nan
        tol = math.sqrt(torch.finfo(x.dtype).eps) * (1 + e.abs())
        worst = float(diff[finite].max())
        if self.translation_invariant and bool((diff[finite] > tol[finite]).any()):
            warnings.warn(
                f"CallableEnergy was declared translation_invariant=True but a common shift of "
                f"{shift.tolist()} changes the energy by up to {worst:.3g}: centre-of-mass-free "
                "sampling then samples the energy restricted to zero centre of mass, not the "
                "target; pass translation_invariant=False (and com_free=False to the sampler)",
                TranslationInvarianceWarning,
                stacklevel=3,
            )
        return worst


class TranslationInvarianceWarning(UserWarning):
    """An energy declared translation invariant is not (see :class:`CallableEnergy`)."""


def energy_and_grad(energy: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """Energies ``[B]`` and their gradients ``[B, n*d]`` by autograd (no graph is kept)."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        e = energy(xg)
        if e.ndim != 1 or e.shape[0] != x.shape[0]:
            raise DataError(f"energy returned shape {tuple(e.shape)}; expected [{x.shape[0]}]")
        (g,) = torch.autograd.grad(e.sum(), xg)
    return e.detach(), g.detach()


def check_finite(
    x: Tensor, energies: Tensor, grads: Tensor | None = None, *, skip: bool = False
) -> Tensor:
    """Boolean mask of configurations whose energy (and gradient) are finite.

    With ``skip=False`` any non-finite value raises :class:`NonFiniteEnergyError` saying how
    many configurations are affected and showing the first one; with ``skip=True`` the mask
    is returned so the caller drops (and counts) them.
    """
    ok = torch.isfinite(energies)
    if grads is not None:
        ok = ok & torch.isfinite(grads).all(dim=-1)
    bad = int((~ok).sum())
    if bad and not skip:
        first = int((~ok).nonzero()[0, 0])
        raise NonFiniteEnergyError(
            f"{bad} of {x.shape[0]} configurations have a non-finite energy or gradient; first "
            f"(index {first}, energy {float(energies[first])}): {x[first].detach().cpu().tolist()}"
        )
    return ok


_NAMES = ("dw4", "lj13", "lj55", "gaussian", "harmonic")


def make_energy(name: str, *, tau: float = 1.0) -> ParticleEnergy:
    """An energy by benchmark name: ``dw4``, ``lj13``, ``lj55``, ``gaussian`` (4 particles in
    3-D, sigma 1) or ``harmonic`` (4 particles in 3-D, w 1)."""
    key = name.lower()
    if key == "dw4":
        return DoubleWell(tau=tau)
    if key == "lj13":
        return LennardJones(13, 3, tau=tau)
    if key == "lj55":
        return LennardJones(55, 3, tau=tau)
    if key == "gaussian":
        return IsotropicGaussian(4, 3, tau=tau)
    if key == "harmonic":
        return HarmonicCluster(4, 3, tau=tau)
    raise ConfigError(f"unknown energy {name!r}; choose one of {list(_NAMES)}")
