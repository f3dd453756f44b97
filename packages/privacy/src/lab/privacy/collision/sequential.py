"""Sequential tests of H0: C(p) = c0 (or C(p) <= c0) that need no knowledge of the gap.

Non-private (:class:`SequentialCollisionTest`). Samples arrive one by one; the all-pairs
U-statistic ``U_t`` is maintained incrementally from value counts (a new value ``x`` adds
``count[x]`` colliding pairs). It is compared with ``c0`` only at the check times
``t_j = ceil(first_check * growth^(j-1))`` (doubling epochs for ``growth=2``), with the
confidence radius of Hoeffding's inequality for U-statistics of order 2 with a [0, 1] kernel
(Hoeffding 1963, Section 5), ``P(|U_t - C| >= r) <= 2 exp(-2 floor(t/2) r^2)``, at level
``delta_j = delta / (j (j + 1))``:

    r_j = sqrt(ln(2 / delta_j) / (2 floor(t_j / 2)))    (one-sided: ln(1 / delta_j)).

Since ``sum_j delta_j = delta``, a union bound makes the radii hold at every check time at once,
so the test rejects a true H0 with probability at most ``delta`` however long it runs. When
``|C - c0| = eps`` it stops once ``r_j < eps`` roughly, after ``O(log(log(1/eps)/delta) / eps^2)``
samples, without knowing ``eps``.

Private (:class:`PrivateSequentialCollisionTest`). Users report through the salted-hash
randomizer in groups of fixed size ``n_g``; each completed group contributes its debiased
estimate ``C_g`` (the all-pairs agreement statistic inside the group). At check ``j`` with
``G_j`` complete groups the statistic is the median of ``B_j`` block means and the radius is the
Chebyshev/binomial median-of-means radius of :mod:`lab.privacy.collision.ldp_estimator` at level
``delta_j``, evaluated with the variance bound at ``c0`` (valid under H0, and for
``C <= c0`` because the bound increases with ``C``). Check times with fewer groups than ``B_j``
are skipped (their ``delta_j`` is simply not spent). Ours: the time-uniform private radius.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch

from lab.core import ConfigError, DataError, get_device

from ..randomness import resolve_simulation_seed
from ._hashing import category_codes, encode_categories
from ._validate import check_alpha, check_open_unit, check_positive_int
from .ldp_estimator import group_estimates, median_of_means_blocks, mom_radius
from .salted_hash import SaltedHashConfig, SaltedHashLDP, SaltedHashReports, best_group_size

__all__ = [
    "IncrementalCollisionCounter",
    "PrivateSequentialCollisionTest",
    "PrivateSequentialTestConfig",
    "SequentialCollisionTest",
    "SequentialResult",
    "SequentialTestConfig",
    "fixed_sample_size",
    "fixed_sample_test",
    "hoeffding_u_radius",
]

Alternative = Literal["two-sided", "greater"]


def _check_common(c0: float, delta: float, alternative: str, growth: float) -> None:
    if isinstance(c0, bool) or not isinstance(c0, (int, float)) or not (0.0 < c0 <= 1.0):
        raise ConfigError(f"c0 must be a collision probability in (0, 1], got {c0!r}")
    check_open_unit(delta, "delta")
    if alternative not in ("two-sided", "greater"):
        raise ConfigError(f"alternative must be 'two-sided' or 'greater', got {alternative!r}")
    if not (isinstance(growth, (int, float)) and growth > 1.0 and math.isfinite(growth)):
        raise ConfigError(f"growth must be a finite number > 1, got {growth!r}")


def hoeffding_u_radius(t: int, delta: float, alternative: Alternative = "two-sided") -> float:
    """Hoeffding radius for the order-2 U-statistic of ``t`` samples at level ``delta``."""
    if t < 2:
        raise DataError(f"the radius needs t >= 2 samples, got {t}")
    check_open_unit(delta, "delta")
    log_term = math.log((2.0 if alternative == "two-sided" else 1.0) / delta)
    return math.sqrt(log_term / (2.0 * (t // 2)))


def _check_times(first: int, growth: float) -> Iterator[tuple[int, int]]:
    j, last = 1, 0
    while True:
        t = max(last + 1, math.ceil(first * growth ** (j - 1)))
        yield j, t
        last, j = t, j + 1


Outcome = Literal["reject", "no_rejection", "insufficient_data"]


@dataclass(frozen=True)
class SequentialResult:
    """Outcome of a sequential test.

    Attributes:
        reject: whether H0 was rejected.
        stopping_time: samples (users) seen when H0 was rejected; ``None`` if never.
        n_used: samples consumed (the stopping time, or all that were available).
        path: (checks, 3) array of ``(t, statistic, radius)`` at every check performed.
        c0: the null value.
        delta: the type-I error level.
        alternative: ``"two-sided"`` (H0: C = c0) or ``"greater"`` (H0: C <= c0).
        n_required: samples needed for the first check (the smallest sample on which the
            test can say anything).
    """

    reject: bool
    stopping_time: int | None
    n_used: int
    path: np.ndarray
    c0: float
    delta: float
    alternative: str
    n_required: int = 0

    @property
    def outcome(self) -> Outcome:
        """``"reject"``, ``"no_rejection"`` (at least one check ran and none rejected) or
        ``"insufficient_data"`` (too few samples for even the first check: no test ran)."""
        if self.reject:
            return "reject"
        return "no_rejection" if len(self.path) else "insufficient_data"

    @property
    def insufficient_data(self) -> bool:
        """True when no check could be performed (see :attr:`outcome`)."""
        return self.outcome == "insufficient_data"

    @property
    def decision(self) -> str:
        """``"reject H0"``, ``"no rejection"`` or ``"insufficient data"``."""
        return {
            "reject": "reject H0",
            "no_rejection": "no rejection",
            "insufficient_data": "insufficient data",
        }[self.outcome]


class IncrementalCollisionCounter:
    """Running all-pairs collision count of a stream of non-negative integer codes, O(batch + K)."""

    def __init__(self) -> None:
        self.counts = np.zeros(0, dtype=np.int64)
        self.pairs = 0
        self.t = 0

    def update(self, codes: np.ndarray) -> None:
        """Add a batch of codes (non-negative integers)."""
        codes = np.asarray(codes)
        if codes.size == 0:
            return
        if codes.dtype.kind not in "iu" or int(codes.min()) < 0:
            raise DataError("codes must be non-negative integers")
        a = np.bincount(codes.reshape(-1))
        if a.size > self.counts.size:
            self.counts = np.concatenate(
                [self.counts, np.zeros(a.size - self.counts.size, np.int64)]
            )
        old = self.counts[: a.size]
        self.pairs += int(np.dot(old, a)) + int(np.sum(a * (a - 1)) // 2)
        self.counts[: a.size] += a
        self.t += int(codes.size)

    @property
    def statistic(self) -> float:
        """The U-statistic ``pairs / binom(t, 2)``."""
        if self.t < 2:
            raise DataError(f"the statistic needs at least 2 samples, got {self.t}")
        return 2.0 * self.pairs / (self.t * (self.t - 1))


@dataclass(frozen=True)
class SequentialTestConfig:
    """Configuration of :class:`SequentialCollisionTest`.

    Attributes:
        c0: the null collision probability, in (0, 1].
        delta: type-I error level, in (0, 1).
        alternative: ``"two-sided"`` tests H0: C = c0; ``"greater"`` tests H0: C <= c0.
        first_check: sample count of the first check.
        growth: ratio of successive check times (2 = doubling epochs).
        max_samples: budget of :meth:`SequentialCollisionTest.run_sampler`.
    """

    c0: float = 0.1
    delta: float = 0.05
    alternative: Alternative = "two-sided"
    first_check: int = 64
    growth: float = 2.0
    max_samples: int = 1_000_000

    def __post_init__(self) -> None:
        _check_common(self.c0, self.delta, self.alternative, self.growth)
        check_positive_int(self.first_check, "first_check", 2)
        check_positive_int(self.max_samples, "max_samples", 2)


def _decide(stat: float, c0: float, radius: float, alternative: str) -> bool:
    return (stat - c0 > radius) if alternative == "greater" else (abs(stat - c0) > radius)


class SequentialCollisionTest:
    """The non-private gap-free sequential test (module docstring)."""

    def __init__(self, config: SequentialTestConfig | None = None) -> None:
        self.config = config or SequentialTestConfig()

    def _loop(self, pull: Callable[[int], np.ndarray | None]) -> SequentialResult:
        cfg = self.config
        counter = IncrementalCollisionCounter()
        path: list[tuple[float, float, float]] = []
        for j, t in _check_times(cfg.first_check, cfg.growth):
            batch = pull(t - counter.t)
            if batch is None:
                break
            counter.update(batch)
            delta_j = cfg.delta / (j * (j + 1))
            r = hoeffding_u_radius(t, delta_j, cfg.alternative)
            stat = counter.statistic
            path.append((t, stat, r))
            if _decide(stat, cfg.c0, r, cfg.alternative):
                return SequentialResult(
                    True, t, t, np.array(path), cfg.c0, cfg.delta, cfg.alternative, cfg.first_check
                )
        return SequentialResult(
            False,
            None,
            counter.t,
            np.array(path).reshape(-1, 3),
            cfg.c0,
            cfg.delta,
            cfg.alternative,
            cfg.first_check,
        )

    def run(self, values: Any) -> SequentialResult:
        """Test on a finite sequence of categories taken in order; stops at the first rejection.

        Fewer values than ``first_check`` (including none) give the outcome
        ``"insufficient_data"``, not ``"no_rejection"``.
        """
        codes, _ = category_codes(values)
        n = codes.size
        state = {"pos": 0}

        def pull(k: int) -> np.ndarray | None:
            if state["pos"] + k > n:
                return None
            out = codes[state["pos"] : state["pos"] + k]
            state["pos"] += k
            return out

        res = self._loop(pull)
        if not res.reject:
            res = replace(res, n_used=n)
        return res

    def run_sampler(
        self, sampler: Callable[[int, np.random.Generator], np.ndarray], *, seed: int = 0
    ) -> SequentialResult:
        """Test on a stream: ``sampler(k, rng)`` returns ``k`` non-negative integer codes.

        Draws only as many samples as the test needs, at most ``max_samples``.
        """
        rng = np.random.default_rng(seed)
        budget = self.config.max_samples
        state = {"used": 0}

        def pull(k: int) -> np.ndarray | None:
            if state["used"] + k > budget:
                return None
            state["used"] += k
            return np.asarray(sampler(k, rng))

        return self._loop(pull)


def fixed_sample_size(eps: float, delta: float, alternative: Alternative = "two-sided") -> int:
    """Samples of the fixed-n Hoeffding test that knows the gap ``eps``: the smallest even
    ``n`` whose radius at level ``delta`` is ``<= eps / 2`` (so both errors are ``<= delta``)."""
    if not (eps > 0):
        raise ConfigError(f"eps must be > 0, got {eps!r}")
    check_open_unit(delta, "delta")
    log_term = math.log((2.0 if alternative == "two-sided" else 1.0) / delta)
    half = math.ceil(log_term / (2.0 * (eps / 2) ** 2))
    return 2 * half


def fixed_sample_test(
    values: Any, c0: float, eps: float, delta: float, alternative: Alternative = "two-sided"
) -> bool:
    """The fixed-n test: reject when ``|U_n - c0| > eps/2`` on ``fixed_sample_size`` samples."""
    n = fixed_sample_size(eps, delta, alternative)
    codes, _ = category_codes(values)
    if codes.size < n:
        raise DataError(f"the fixed-n test with eps={eps} needs {n} samples, got {codes.size}")
    counts = np.bincount(codes[:n])
    u = float(np.sum(counts * (counts - 1))) / (n * (n - 1))
    return _decide(u, c0, eps / 2, alternative)


@dataclass(frozen=True)
class PrivateSequentialTestConfig:
    """Configuration of :class:`PrivateSequentialCollisionTest`.

    Attributes:
        c0: the null collision probability, in (0, 1].
        delta: type-I error level, in (0, 1).
        alternative: ``"two-sided"`` (H0: C = c0) or ``"greater"`` (H0: C <= c0).
        alpha: LDP privacy parameter.
        beta: LDP failure probability over the tables.
        table_size: ``m``; ``None`` derives it from (alpha, beta).
        table_rule: ``"hoeffding"`` or ``"binomial"`` (see :func:`~lab.privacy.table_size`).
        group_size: users per group; ``None`` uses ``best_group_size(m, c0)`` (ours).
        first_check_groups: number of complete groups at the first check.
        growth: ratio of successive check times (in groups).
        max_samples: user budget of :meth:`PrivateSequentialCollisionTest.run_sampler`.
        block_failure: Chebyshev failure probability per median-of-means block.
        table_seed: public seed of the hash tables.
    """

    c0: float = 0.1
    delta: float = 0.05
    alternative: Alternative = "two-sided"
    alpha: float = 1.0
    beta: float = 1e-3
    table_size: int | None = None
    table_rule: Literal["hoeffding", "binomial"] = "hoeffding"
    group_size: int | None = None
    first_check_groups: int = 16
    growth: float = 2.0
    max_samples: int = 10_000_000
    block_failure: float = 0.25
    table_seed: int = 0

    def __post_init__(self) -> None:
        _check_common(self.c0, self.delta, self.alternative, self.growth)
        check_alpha(self.alpha)
        check_open_unit(self.beta, "beta")
        check_open_unit(self.block_failure, "block_failure")
        check_positive_int(self.first_check_groups, "first_check_groups")
        check_positive_int(self.max_samples, "max_samples", 2)
        if self.group_size is not None:
            check_positive_int(self.group_size, "group_size", 2)


class PrivateSequentialCollisionTest:
    """The private gap-free sequential test over salted-hash reports (module docstring)."""

    def __init__(self, config: PrivateSequentialTestConfig | None = None) -> None:
        self.config = cfg = config or PrivateSequentialTestConfig()
        self.ldp = SaltedHashLDP(
            SaltedHashConfig(
                alpha=cfg.alpha,
                beta=cfg.beta,
                table_size=cfg.table_size,
                table_rule=cfg.table_rule,
                group_size=cfg.group_size,
                c_guess=cfg.c0,
                table_seed=cfg.table_seed,
            )
        )
        self.m = self.ldp.m
        self.group_size = (
            cfg.group_size if cfg.group_size is not None else best_group_size(self.m, cfg.c0)
        )
        self.n_required = self._first_check_groups() * self.group_size

    def _first_check_groups(self) -> int:
        """Complete groups at the first check time that has enough groups for its blocks."""
        cfg = self.config
        for j, g_j in _check_times(cfg.first_check_groups, cfg.growth):
            if g_j >= median_of_means_blocks(cfg.delta / (j * (j + 1)), cfg.block_failure):
                return g_j
        raise AssertionError("unreachable")  # pragma: no cover - check times grow without bound

    def _loop(self, pull: Callable[[int, int], np.ndarray | None]) -> SequentialResult:
        """``pull(first_group, n_groups)`` returns the new groups' estimates or None when exhausted."""
        cfg, ng = self.config, self.group_size
        estimates = np.zeros(0)
        path: list[tuple[float, float, float]] = []
        for j, g_j in _check_times(cfg.first_check_groups, cfg.growth):
            new = pull(estimates.size, g_j - estimates.size)
            if new is None:
                break
            estimates = np.concatenate([estimates, new])
            delta_j = cfg.delta / (j * (j + 1))
            b = median_of_means_blocks(delta_j, cfg.block_failure)
            if g_j < b:
                continue
            blocks = np.array_split(estimates, b)
            stat = float(np.median([blk.mean() for blk in blocks]))
            r = float(
                mom_radius(
                    cfg.c0,
                    self.m,
                    [np.full(blk.size, float(ng)) for blk in blocks],
                    cfg.block_failure,
                )
            )
            path.append((g_j * ng, stat, r))
            if _decide(stat, cfg.c0, r, cfg.alternative):
                return SequentialResult(
                    True,
                    g_j * ng,
                    g_j * ng,
                    np.array(path),
                    cfg.c0,
                    cfg.delta,
                    cfg.alternative,
                    self.n_required,
                )
        return SequentialResult(
            False,
            None,
            estimates.size * ng,
            np.array(path).reshape(-1, 3),
            cfg.c0,
            cfg.delta,
            cfg.alternative,
            self.n_required,
        )

    def _group_estimates(
        self, ids: torch.Tensor, first_group: int, simulation_seed: int | None
    ) -> np.ndarray:
        ng = self.group_size
        n_groups = ids.numel() // ng
        local = torch.arange(n_groups * ng, device=ids.device) // ng
        bits = self.ldp.randomize_ids(
            ids[: n_groups * ng], local + first_group, simulation_seed=simulation_seed
        )
        reports = SaltedHashReports(
            local, bits, self.m, n_groups, self.config.alpha, self.config.beta
        )
        return group_estimates(reports, device=ids.device)[0]

    def run(
        self,
        values: Any,
        *,
        simulation_seed: int | None = None,
        device: Any = None,
        seed: int | None = None,
    ) -> SequentialResult:
        """Test on users' values in arrival order (each randomised locally with a secret salt).

        The salts come from ``os.urandom`` unless ``simulation_seed`` is given
        (:mod:`lab.privacy.randomness`; ``seed`` is its deprecated name). Fewer users than
        :attr:`n_required` give the outcome ``"insufficient_data"``.
        """
        simulation_seed = resolve_simulation_seed(
            simulation_seed, seed, "PrivateSequentialCollisionTest.run"
        )
        dev = get_device(device)
        ids_all = torch.as_tensor(encode_categories(values), device=dev)
        n = ids_all.numel()

        def pull(first: int, k: int) -> np.ndarray | None:
            lo, hi = first * self.group_size, (first + k) * self.group_size
            if hi > n:
                return None
            sim = None if simulation_seed is None else simulation_seed + first
            return self._group_estimates(ids_all[lo:hi], first, sim)

        res = self._loop(pull)
        if not res.reject:
            res = replace(res, n_used=n)
        return res

    def run_sampler(
        self,
        sampler: Callable[[int, np.random.Generator], np.ndarray],
        *,
        seed: int = 0,
        simulation_seed: int | None = None,
        device: Any = None,
    ) -> SequentialResult:
        """Test on a stream: ``sampler(k, rng)`` returns ``k`` integer categories.

        ``seed`` seeds the data stream ``rng`` handed to ``sampler`` (data simulation); the
        users' salts come from ``os.urandom`` unless ``simulation_seed`` is given.
        """
        dev = get_device(device)
        rng = np.random.default_rng(seed)
        budget = self.config.max_samples

        def pull(first: int, k: int) -> np.ndarray | None:
            if (first + k) * self.group_size > budget:
                return None
            vals = np.asarray(sampler(k * self.group_size, rng))
            if vals.dtype.kind not in "iu":
                raise DataError(
                    f"the sampler must return integer categories, got dtype {vals.dtype}"
                )
            ids = torch.as_tensor(vals.astype(np.int64), device=dev)
            sim = None if simulation_seed is None else simulation_seed * 1_000_003 + first
            return self._group_estimates(ids, first, sim)

        return self._loop(pull)
