"""The (alpha, beta)-LDP one-bit salted-hash randomizer (Busa-Fekete & Syed, AISTATS 2025).

Protocol. Users are split into groups by a public assignment. Group ``g`` has a public random
hash table ``H_g : [m] x domain -> {0, 1}`` (here a keyed pseudo-random function, see
``lab.privacy.collision._hashing``). User ``u`` in group ``g`` draws a secret salt ``s_u`` uniformly
from ``[m]`` and reports the single bit ``b_u = H_g(s_u, x_u)``. Two users of one group agree
with probability ``1/2 + C(p)/(2m)`` (over salts, values and the table): they agree surely
when salt and value coincide (probability ``C/m``) and with probability 1/2 otherwise.

Privacy (the constant of ``m``; our derivation, Hoeffding's inequality over the table).
Given the table, value ``x`` outputs 1 with probability ``h_x`` = the fraction of ones in
column ``x``. The pair ``(x, x')`` is alpha-indistinguishable iff
``|ln h_x - ln h_x'| <= alpha`` and ``|ln(1-h_x) - ln(1-h_x')| <= alpha``; this holds whenever
both ``h_x`` and ``h_x'`` lie in ``[1/2 - t, 1/2 + t]`` with
``(1/2 + t)/(1/2 - t) = e^alpha``, i.e. ``t = tanh(alpha/2)/2``. Hoeffding's inequality
(Hoeffding 1963, Thm 1) gives ``P(|h_x - 1/2| > t) <= 2 exp(-2 m t^2)`` per column, and a union
bound over the two columns gives a per-pair violation probability ``<= 4 exp(-2 m t^2)``, which
is ``<= beta`` for

    m >= 2 ln(4/beta) / tanh(alpha/2)^2    (-> 8 ln(4/beta) / alpha^2 as alpha -> 0),

the form quoted for the paper. ``table_rule="binomial"`` (ours) replaces Hoeffding's bound by
the exact binomial tail of the column mean, which gives the smallest ``m`` for which the same
sufficient condition fails with probability ``<= beta``.

Estimator per group (see :mod:`lab.privacy.collision.ldp_estimator`): with ``n_g`` reports of which
``o_g`` are ones, ``S = 2 o_g - n_g`` and the all-pairs agreement fraction
``U_g = 1/2 + (S^2 - n_g) / (2 n_g (n_g - 1))``, the debiased group estimate is
``C_g = 2 m (U_g - 1/2) = m (S^2 - n_g) / (n_g (n_g - 1))``; it is unbiased over the table
draw. Its exact variance (our derivation, :func:`salted_hash_group_variance`) is

    Var(C_g) = m^2 [ Var(mu^2) + 2/(n(n-1)) (2(n-2)(E mu^2 - E mu^4) + 1 - E mu^4) ],
    E mu^2 = C/m,  E mu^4 = 3 C^2/m^2 - 2 C_4/m^3,  Var(mu^2) = E mu^4 - C^2/m^2,

with ``C_4 = sum_i p_i^4`` and ``mu = 2 q - 1`` the table-dependent bias of a report bit; to
leading order ``Var(C_g) ~ 2 C^2 + 4 m C / n_g + 2 m^2 / n_g^2``. For ``N`` users in groups of
``n_g`` the mean over groups has variance ``(2 C^2 n_g + 4 m C + 2 m^2 / n_g) / N``, minimised
at the best group size ``n_g = m / C`` (:func:`best_group_size`), where it is ``8 m C / N``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from scipy.stats import binom

from lab.core import ConfigError, DataError, get_device

from ..randomness import resolve_simulation_seed, secret_integers
from ._hashing import derive_seed, encode_categories, hash_bits
from ._validate import check_alpha, check_open_unit, check_positive_int
from .distributions import exact_collision_probability
from .ldp_estimator import estimate_collision_ldp
from .reports import SaltedHashReports

__all__ = [
    "MAX_TABLE_SIZE",
    "SaltedHashConfig",
    "SaltedHashLDP",
    "SaltedHashReports",
    "assign_groups",
    "best_group_size",
    "salted_hash_group_variance",
    "salted_hash_variance_bound",
    "table_size",
]


_SALT_TAG = 0x5A17ED  # separates the salt stream from other streams seeded with the same integer


#: the largest table size :func:`table_size` returns unless told otherwise: a group needs
#: about m / C users, so larger tables need more than ten million users per group.
MAX_TABLE_SIZE = 10_000_000


def table_size(
    alpha: float,
    beta: float,
    rule: Literal["hoeffding", "binomial"] = "hoeffding",
    *,
    max_size: int = MAX_TABLE_SIZE,
) -> int:
    """The hash-table size ``m`` that makes the salted-hash randomizer (alpha, beta)-LDP.

    ``rule="hoeffding"``: ``ceil(2 ln(4/beta) / tanh(alpha/2)^2)`` (module docstring).
    ``rule="binomial"`` (ours): the smallest ``m`` with
    ``2 P(|Bin(m, 1/2)/m - 1/2| > tanh(alpha/2)/2) <= beta``.

    Raises:
        ConfigError: the (alpha, beta) pair needs ``m > max_size`` (default
            :data:`MAX_TABLE_SIZE`): each group would need about ``m / C`` users, so the
            protocol cannot run at any realistic scale; nothing is allocated.
    """
    alpha = check_alpha(alpha)
    beta = check_open_unit(beta, "beta")
    check_positive_int(max_size, "max_size")
    t = math.tanh(alpha / 2) / 2
    m_real = 2.0 * math.log(4.0 / beta) / (math.tanh(alpha / 2) ** 2)
    if not math.isfinite(m_real) or m_real > max_size:
        raise ConfigError(
            f"alpha={alpha!r}, beta={beta!r} need a hash table of m = {m_real:.3g} salts "
            f"(> max_size={max_size}); each group would need about m / C >= {m_real:.3g} users. "
            "Use a larger alpha or beta, or pass max_size explicitly if you really mean it"
        )
    m_hoeff = math.ceil(m_real)
    if rule == "hoeffding":
        return m_hoeff
    if rule != "binomial":
        raise ConfigError(f"table_rule must be 'hoeffding' or 'binomial', got {rule!r}")
    eps = 1e-12
    chunk = 1 << 20
    for start in range(1, m_hoeff + 1, chunk):  # chunks keep memory bounded for large m
        ms = np.arange(start, min(m_hoeff, start + chunk - 1) + 1)
        lo = np.ceil(ms * (0.5 - t) - eps)  # smallest count of ones that is inside
        hi = np.floor(ms * (0.5 + t) + eps)  # largest count of ones that is inside
        outside = binom.cdf(lo - 1, ms, 0.5) + binom.sf(hi, ms, 0.5)
        ok = np.flatnonzero(2.0 * outside <= beta)
        if ok.size:
            return int(ms[ok[0]])
    # Hoeffding bounds the exact tail, so m_hoeff itself always qualifies.
    return m_hoeff


def best_group_size(m: int, c: float) -> int:
    """The variance-optimal group size ``round(m / C)`` (at least 2) for a collision level ``C``."""
    check_positive_int(m, "m")
    if not (0.0 < c <= 1.0):
        raise ConfigError(f"the collision-probability guess must be in (0, 1], got {c!r}")
    return max(2, round(m / c))


def assign_groups(n: int, group_size: int) -> torch.Tensor:
    """Public assignment of ``n`` users (in arrival order) to ``max(1, n // group_size)``
    contiguous groups whose sizes differ by at most one (all ``>= group_size`` when
    ``n >= group_size``). Returns int64 group ids."""
    check_positive_int(n, "n")
    check_positive_int(group_size, "group_size", 2)
    g = max(1, n // group_size)
    return (torch.arange(n, dtype=torch.int64) * g) // n


def salted_hash_group_variance(p: np.ndarray, m: int, n_g: int) -> float:
    """Exact variance of one group's debiased estimate ``C_g`` (module docstring)."""
    c = exact_collision_probability(p)
    c4 = float(np.sum(np.asarray(p, dtype=np.float64) ** 4))
    return _group_variance(c, c4, m, n_g)


def _group_variance(c: float | np.ndarray, c4: float | np.ndarray, m: int, n: np.ndarray | int):
    n = np.asarray(n, dtype=np.float64)
    e2 = c / m
    e4 = 3.0 * c * c / m**2 - 2.0 * c4 / m**3
    var_mu2 = e4 - e2 * e2
    within = 2.0 / (n * (n - 1.0)) * (2.0 * (n - 2.0) * (e2 - e4) + 1.0 - e4)
    return m * m * (var_mu2 + within)


def salted_hash_variance_bound(c: float | np.ndarray, m: int, n_g: np.ndarray | int):
    """Upper bound on ``Var(C_g)`` that needs only ``C``: drops the negative ``C_4`` and
    ``E mu^4`` terms, ``2 C^2 + 2 m^2 (2 (n_g - 2) C / m + 1) / (n_g (n_g - 1))``.
    Increasing in ``C``; used by the median-of-means interval and the private test."""
    n = np.asarray(n_g, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    return 2.0 * c * c + 2.0 * m * m * (2.0 * (n - 2.0) * c / m + 1.0) / (n * (n - 1.0))


@dataclass(frozen=True)
class SaltedHashConfig:
    """Configuration of :class:`SaltedHashLDP`.

    Attributes:
        alpha: privacy parameter (> 0).
        beta: per-pair failure probability over the public tables, in (0, 1).
        table_size: the table size ``m``; ``None`` derives it from (alpha, beta).
        table_rule: how ``m`` is derived: ``"hoeffding"`` (the paper's bound) or
            ``"binomial"`` (ours, exact binomial tail, smaller ``m``).
        group_size: users per group; ``None`` uses :func:`best_group_size` with ``c_guess``.
        c_guess: a guess of C(p) used only to size groups (ours: the protocol is
            non-interactive, so the group size must be fixed before any report is seen).
        table_seed: public seed of the hash-table draw (shared by users and server; public
            by design, unlike the users' salts).
        max_table_size: refuse an (alpha, beta) whose table would be larger
            (:func:`table_size`).
    """

    alpha: float = 1.0
    beta: float = 1e-3
    table_size: int | None = None
    table_rule: Literal["hoeffding", "binomial"] = "hoeffding"
    group_size: int | None = None
    c_guess: float = 0.05
    table_seed: int = 0
    max_table_size: int = MAX_TABLE_SIZE

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_open_unit(self.beta, "beta")
        check_positive_int(self.max_table_size, "max_table_size")
        if self.table_size is not None:
            check_positive_int(self.table_size, "table_size")
            if self.table_size > self.max_table_size:
                raise ConfigError(
                    f"table_size={self.table_size} exceeds max_table_size={self.max_table_size}"
                )
        if self.group_size is not None:
            check_positive_int(self.group_size, "group_size", 2)
        if not (0.0 < self.c_guess <= 1.0):
            raise ConfigError(f"c_guess must be in (0, 1], got {self.c_guess!r}")
        if self.table_rule not in ("hoeffding", "binomial"):
            raise ConfigError(
                f"table_rule must be 'hoeffding' or 'binomial', got {self.table_rule!r}"
            )


class SaltedHashLDP:
    """The one-bit salted-hash local randomizer (users' side) and its public parameters.

    Example:
        >>> from lab.privacy.collision import SaltedHashConfig, SaltedHashLDP, estimate_collision_ldp
        >>> ldp = SaltedHashLDP(SaltedHashConfig(alpha=1.0, beta=1e-3, group_size=200))
        >>> reports = ldp.privatize([i % 10 for i in range(20_000)])  # secret salts
        >>> est = estimate_collision_ldp(reports)
    """

    def __init__(self, config: SaltedHashConfig | None = None) -> None:
        self.config = config or SaltedHashConfig()
        cfg = self.config
        self.m = (
            cfg.table_size
            if cfg.table_size is not None
            else table_size(cfg.alpha, cfg.beta, cfg.table_rule, max_size=cfg.max_table_size)
        )
        self.group_size = (
            cfg.group_size if cfg.group_size is not None else best_group_size(self.m, cfg.c_guess)
        )

    def table_bits(self, group: int, ids: torch.Tensor, *, device: Any = None) -> torch.Tensor:
        """The public table of ``group`` restricted to ``ids``: an (m, len(ids)) 0/1 tensor."""
        dev = get_device(device)
        ids = torch.as_tensor(ids, dtype=torch.int64, device=dev)
        salts = torch.arange(self.m, dtype=torch.int64, device=dev)[:, None]
        g = torch.full((), int(group), dtype=torch.int64, device=dev)
        return hash_bits(self.config.table_seed, g, salts, ids[None, :])

    def randomize_ids(
        self,
        ids: torch.Tensor,
        groups: torch.Tensor,
        *,
        simulation_seed: int | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ) -> torch.Tensor:
        """Users' reports for 64-bit category ids and their group ids (same device).

        The salts come from ``os.urandom`` unless ``simulation_seed`` (or a ``generator``) is
        given; see :mod:`lab.privacy.randomness`. ``seed`` is the deprecated name of
        ``simulation_seed``.
        """
        simulation_seed = resolve_simulation_seed(
            simulation_seed, seed, "SaltedHashLDP.randomize_ids"
        )
        if ids.shape != groups.shape:
            raise DataError(
                f"ids and groups must have the same shape, got {tuple(ids.shape)} and {tuple(groups.shape)}"
            )
        if generator is None and simulation_seed is None:
            salts = secret_integers(ids.numel(), self.m, device=ids.device).reshape(ids.shape)
        else:
            if generator is None:
                assert simulation_seed is not None
                generator = torch.Generator(device=ids.device)
                generator.manual_seed(derive_seed(simulation_seed, _SALT_TAG))
            salts = torch.randint(0, self.m, ids.shape, generator=generator, device=ids.device)
        return hash_bits(self.config.table_seed, groups, salts, ids)

    def privatize(
        self,
        values: Any,
        *,
        simulation_seed: int | None = None,
        generator: torch.Generator | None = None,
        groups: torch.Tensor | None = None,
        device: Any = None,
        seed: int | None = None,
    ) -> SaltedHashReports:
        """Randomize every user's value; return the reports the server sees.

        Args:
            values: the users' categories, in arrival order (any hashable values, a numpy
                array or an integer tensor).
            simulation_seed: ``None`` (default): every salt is drawn from ``os.urandom`` and
                stays secret, as the privacy guarantee requires. An integer makes the salts
                reproducible for simulations and voids the guarantee.
            generator: a torch.Generator on ``device`` for the salts (simulation only).
            groups: optional public group ids; default :func:`assign_groups`.
            device: where to compute (``None``/"auto": CUDA when present).
            seed: deprecated name of ``simulation_seed`` (DeprecationWarning).

        Raises:
            DataError: fewer than two users, or a value that is not a hashable category.
        """
        simulation_seed = resolve_simulation_seed(simulation_seed, seed, "SaltedHashLDP.privatize")
        dev = get_device(device)
        if isinstance(values, torch.Tensor) and not values.is_floating_point():
            ids = values.to(device=dev, dtype=torch.int64).reshape(-1)
        else:
            ids = torch.as_tensor(encode_categories(values), device=dev)
        n = int(ids.numel())
        if n < 2:
            raise DataError(f"the salted-hash protocol needs at least 2 users, got {n}")
        if groups is None:
            groups = assign_groups(n, min(self.group_size, n)).to(dev)
        else:
            groups = torch.as_tensor(groups, dtype=torch.int64, device=dev).reshape(-1)
            if groups.numel() != n:
                raise DataError(f"groups has {groups.numel()} entries for {n} values")
            if n and int(groups.min()) < 0:
                raise DataError(f"group ids must be >= 0, got {int(groups.min())}")
        if generator is not None and generator.device != dev:
            raise ConfigError(f"generator is on {generator.device}, values on {dev}")
        bits = self.randomize_ids(ids, groups, simulation_seed=simulation_seed, generator=generator)
        return SaltedHashReports(
            groups=groups,
            bits=bits,
            m=self.m,
            n_groups=int(groups.max()) + 1,
            alpha=self.config.alpha,
            beta=self.config.beta,
        )

    def estimate(self, reports: SaltedHashReports, config: Any = None, *, device: Any = None):
        """Server-side estimate (:func:`~lab.privacy.collision.estimate_collision_ldp`)."""
        return estimate_collision_ldp(reports, config, device=device)

    def run(
        self,
        values: Any,
        *,
        simulation_seed: int | None = None,
        config: Any = None,
        device: Any = None,
        seed: int | None = None,
    ):
        """``estimate(privatize(values))``: simulate the whole protocol on users' values."""
        simulation_seed = resolve_simulation_seed(simulation_seed, seed, "SaltedHashLDP.run")
        reports = self.privatize(values, simulation_seed=simulation_seed, device=device)
        return self.estimate(reports, config, device=device)
