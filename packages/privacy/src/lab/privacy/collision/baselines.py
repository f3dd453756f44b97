"""Baselines in the same API as :class:`~lab.privacy.SaltedHashLDP`: ``privatize`` then ``estimate``.

* :class:`PairwiseRandomizedResponse`: users are paired (1st with 2nd, 3rd with 4th, ...);
  pair ``i`` shares a public random hash ``h_i : domain -> {-1, +1}``, and each user reports
  ``h_i(x)`` with probability ``e^alpha / (1 + e^alpha)`` and ``-h_i(x)`` otherwise (binary
  randomized response, exactly alpha-LDP). With ``tau = tanh(alpha/2)``,
  ``E[y_a y_b] = tau^2 C(p)``, so ``y_a y_b / tau^2`` is unbiased per pair with variance
  ``1/tau^4 - C^2`` (about ``16/alpha^4``), i.e. ``~32/(n alpha^4)`` for ``n`` users: the
  ``1/alpha^4`` rate of Bravo-Hermsdorff et al. (NeurIPS 2022) that the paper improves on.
  With an odd number of users the last one has no partner and is not used (reported in
  ``details["n_unpaired"]``).
* :class:`FrequencyOraclePlugin`: each user privatises with a frequency oracle of the
  ``pure-ldp`` package (direct encoding, i.e. k-ary randomized response, exactly alpha-LDP);
  the server forms pure-ldp's unbiased count estimates ``f`` (a sum of per-user unbiased
  vectors ``v_u``) and returns the plug-in with the diagonal removed,
  ``(||f||^2 - sum_u ||v_u||^2) / (n (n - 1))``, which is unbiased because
  ``E<v_u, v_w> = C(p)`` for ``u != w`` (ours: the paper's baseline is a plug-in; we debias it).
  Its error grows with the domain size ``k``.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import torch
from scipy.stats import norm

from lab.core import ConfigError, DataError, get_device, require, seeded

from ..randomness import resolve_simulation_seed, secret_uniforms
from ._hashing import category_codes, derive_seed, encode_categories, hash_bits
from ._validate import check_alpha, check_open_unit
from .estimate import CollisionEstimate

__all__ = [
    "FrequencyOracleConfig",
    "FrequencyOraclePlugin",
    "FrequencyOracleReports",
    "PairReports",
    "PairwiseRRConfig",
    "PairwiseRandomizedResponse",
]

_PAIR_SALT = 0x5A17  # separates the pair hashes from the salted-hash tables of the same seed
_FO_TAG = 0xF0


@dataclass(frozen=True)
class PairwiseRRConfig:
    """Configuration of :class:`PairwiseRandomizedResponse`.

    Attributes:
        alpha: privacy parameter (> 0); the mechanism is exactly alpha-LDP.
        confidence: nominal coverage of the (normal) interval.
        hash_seed: public seed of the per-pair +-1 hashes.
    """

    alpha: float = 1.0
    confidence: float = 0.95
    hash_seed: int = 0

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_open_unit(self.confidence, "confidence")


@dataclass(frozen=True)
class PairReports:
    """Reports of the pairwise baseline: a +-1 sign per user, users ``2i`` and ``2i+1`` paired."""

    signs: torch.Tensor
    alpha: float

    def __len__(self) -> int:
        return int(self.signs.numel())


class PairwiseRandomizedResponse:
    """Randomized response on disjoint pairs with a shared +-1 hash (baseline)."""

    def __init__(self, config: PairwiseRRConfig | None = None) -> None:
        self.config = config or PairwiseRRConfig()

    def privatize(
        self,
        values: Any,
        *,
        simulation_seed: int | None = None,
        generator: torch.Generator | None = None,
        device: Any = None,
        seed: int | None = None,
    ) -> PairReports:
        """Each user's randomized +-1 report (the pair hash is public, the flip is private).

        The flips come from ``os.urandom`` unless ``simulation_seed`` (or a ``generator``) is
        given (:mod:`lab.privacy.randomness`); ``seed`` is its deprecated name.
        """
        simulation_seed = resolve_simulation_seed(
            simulation_seed, seed, "PairwiseRandomizedResponse.privatize"
        )
        dev = get_device(device)
        if isinstance(values, torch.Tensor) and not values.is_floating_point():
            ids = values.to(device=dev, dtype=torch.int64).reshape(-1)
        else:
            ids = torch.as_tensor(encode_categories(values), device=dev)
        n = int(ids.numel())
        if n < 2:
            raise DataError(f"the pairwise baseline needs at least 2 users, got {n}")
        pair = torch.arange(n, dtype=torch.int64, device=dev) // 2
        h = (
            2 * hash_bits(self.config.hash_seed, pair, torch.tensor(_PAIR_SALT, device=dev), ids)
            - 1
        )
        if generator is None and simulation_seed is None:
            u = secret_uniforms(n, device=dev)
        else:
            if generator is None:
                assert simulation_seed is not None
                generator = torch.Generator(device=dev)
                generator.manual_seed(derive_seed(simulation_seed, _PAIR_SALT))
            u = torch.rand(n, generator=generator, device=dev, dtype=torch.float64)
        keep = u < 1.0 / (1.0 + math.exp(-self.config.alpha))
        signs = torch.where(keep, h, -h)
        return PairReports(signs=signs, alpha=self.config.alpha)

    def likelihoods(self) -> np.ndarray:
        """Likelihood matrix of one user's report for the two hash values (rows: h = -1, +1)."""
        q = 1.0 / (1.0 + math.exp(self.config.alpha))
        return np.array([[1 - q, q], [q, 1 - q]])

    def estimate(self, reports: PairReports) -> CollisionEstimate:
        """Unbiased estimate ``mean(y_a y_b) / tanh(alpha/2)^2`` with a normal interval."""
        s = reports.signs.double()
        n_pairs = s.numel() // 2
        if n_pairs < 1:
            raise DataError(
                f"the pairwise baseline needs at least one pair, got {s.numel()} report(s)"
            )
        tau2 = math.tanh(reports.alpha / 2) ** 2
        z = (s[0 : 2 * n_pairs : 2] * s[1 : 2 * n_pairs : 2]).cpu().numpy() / tau2
        est = float(z.mean())
        se = float(z.std(ddof=1) / math.sqrt(n_pairs)) if n_pairs > 1 else float("nan")
        q = float(norm.ppf(0.5 + self.config.confidence / 2))
        return CollisionEstimate(
            estimate=est,
            ci_low=est - q * se,
            ci_high=est + q * se,
            confidence=self.config.confidence,
            std_error=se,
            n=2 * n_pairs,
            method="pairwise randomized response",
            details={
                "n_pairs": n_pairs,
                "n_unpaired": int(s.numel() - 2 * n_pairs),
                "alpha": reports.alpha,
            },
        )

    def run(
        self,
        values: Any,
        *,
        simulation_seed: int | None = None,
        device: Any = None,
        seed: int | None = None,
    ) -> CollisionEstimate:
        """``estimate(privatize(values))``."""
        simulation_seed = resolve_simulation_seed(
            simulation_seed, seed, "PairwiseRandomizedResponse.run"
        )
        return self.estimate(self.privatize(values, simulation_seed=simulation_seed, device=device))


@dataclass(frozen=True)
class FrequencyOracleConfig:
    """Configuration of :class:`FrequencyOraclePlugin`.

    Attributes:
        alpha: privacy parameter (> 0) of the frequency oracle.
        oracle: the pure-ldp oracle; ``"direct_encoding"`` (k-ary randomized response).
        confidence: nominal coverage of the (normal) interval.
    """

    alpha: float = 1.0
    oracle: Literal["direct_encoding"] = "direct_encoding"
    confidence: float = 0.95

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        check_open_unit(self.confidence, "confidence")
        if self.oracle != "direct_encoding":
            raise ConfigError(f"oracle must be 'direct_encoding', got {self.oracle!r}")


@dataclass(frozen=True)
class FrequencyOracleReports:
    """Privatised reports of the frequency-oracle baseline (indices into the domain)."""

    reports: np.ndarray
    k: int
    alpha: float

    def __len__(self) -> int:
        return int(self.reports.size)


@contextmanager
def _system_random(client: Any) -> Iterator[None]:
    """Point the ``random`` global of ``client``'s module at a ``random.SystemRandom``."""
    module: Any = sys.modules[type(client).__module__]
    saved = module.random
    module.random = random.SystemRandom()
    try:
        yield
    finally:
        module.random = saved


def _pure_ldp_de() -> tuple[Any, Any]:
    require("pure_ldp", "labworks-privacy[baselines]")
    mod = require("pure_ldp.frequency_oracles", "labworks-privacy[baselines]")
    return mod.DEClient, mod.DEServer


class FrequencyOraclePlugin:
    """Frequency-oracle plug-in baseline on top of the ``pure-ldp`` package.

    The domain must be known in advance (a frequency oracle reports an index into it).
    ``pure-ldp`` privatises one value per Python call (about 1 us each) and draws from
    Python's global ``random``; we run it inside :func:`lab.core.seeded`, which restores the
    global state afterwards.

    Args:
        config: options (:class:`FrequencyOracleConfig`).
        domain: ``k`` (values ``0..k-1``) or the sequence of the ``k`` categories.
    """

    def __init__(
        self, config: FrequencyOracleConfig | None = None, domain: int | Sequence[Any] = 2
    ) -> None:
        self.config = config or FrequencyOracleConfig()
        if isinstance(domain, int) and not isinstance(domain, bool):
            if domain < 2:
                raise ConfigError(f"the domain needs at least 2 values, got k={domain}")
            self.k = domain
            self._index: dict[Any, int] | None = None
        else:
            dom = list(cast(Sequence[Any], domain))
            if len(set(dom)) != len(dom) or len(dom) < 2:
                raise ConfigError(
                    f"domain must hold >= 2 distinct categories, got {len(dom)} values"
                )
            self.k = len(dom)
            self._index = {v: i for i, v in enumerate(dom)}
        client_cls, server_cls = _pure_ldp_de()
        self._client = client_cls(self.config.alpha, self.k, index_mapper=lambda x: x)
        self._server_cls = server_cls

    def _indices(self, values: Any) -> np.ndarray:
        if self._index is None:
            arr = (
                values.detach().cpu().numpy()
                if isinstance(values, torch.Tensor)
                else np.asarray(values)
            )
            if arr.dtype.kind not in "iu":
                raise DataError(
                    f"values must be integers in [0, {self.k - 1}] for domain k={self.k}"
                )
            bad = np.flatnonzero((arr < 0) | (arr >= self.k))
            if bad.size:
                raise DataError(
                    f"value {arr[bad[0]]!r} at index {int(bad[0])} is outside the domain [0, {self.k - 1}]"
                )
            return arr.astype(np.int64).reshape(-1)
        codes, uniq = category_codes(values)
        missing = [u for u in uniq if u not in self._index]
        if missing:
            raise DataError(f"value {missing[0]!r} is not in the frequency oracle's domain")
        lut = np.array([self._index[u] for u in uniq], dtype=np.int64)
        return lut[codes]

    def privatize(
        self, values: Any, *, simulation_seed: int | None = None, seed: int | None = None
    ) -> FrequencyOracleReports:
        """Privatise every value with pure-ldp's direct-encoding client.

        pure-ldp draws its coins from Python's module-level ``random``. Without a
        ``simulation_seed`` the client's module sees a :class:`random.SystemRandom` (OS
        entropy) for the duration of the call; with one, the global ``random`` is seeded
        inside :func:`lab.core.seeded` and restored afterwards. ``seed`` is the deprecated
        name of ``simulation_seed``.
        """
        simulation_seed = resolve_simulation_seed(
            simulation_seed, seed, "FrequencyOraclePlugin.privatize"
        )
        idx = self._indices(values)
        if idx.size < 2:
            raise DataError(f"the frequency-oracle baseline needs at least 2 users, got {idx.size}")
        priv = self._client.privatise
        if simulation_seed is None:
            with _system_random(self._client):
                out = np.fromiter((priv(int(i)) for i in idx), dtype=np.int64, count=idx.size)
        else:
            with seeded(derive_seed(simulation_seed, _FO_TAG) % 2**32):
                out = np.fromiter((priv(int(i)) for i in idx), dtype=np.int64, count=idx.size)
        return FrequencyOracleReports(reports=out, k=self.k, alpha=self.config.alpha)

    def likelihoods(self) -> np.ndarray:
        """The (k, k) likelihood matrix of pure-ldp's direct encoding (p on the diagonal, q off)."""
        p, q = float(self._client.p), float(self._client.q)
        return np.full((self.k, self.k), q) + np.eye(self.k) * (p - q)

    def estimate(self, reports: FrequencyOracleReports) -> CollisionEstimate:
        """Debiased plug-in from pure-ldp's frequency estimates, with a normal interval.

        The interval uses the U-statistic variance ``4 Var(h_u) / n`` with the projections
        ``h_u = (<v_u, f> - ||v_u||^2) / (n - 1)`` (ours).
        """
        if reports.k != self.k:
            raise DataError(
                f"reports are for a domain of {reports.k} values, the oracle has {self.k}"
            )
        n = len(reports)
        if n < 2:
            raise DataError(f"the frequency-oracle baseline needs at least 2 reports, got {n}")
        server = self._server_cls(self.config.alpha, self.k, index_mapper=lambda x: x)
        server.aggregate_all(reports.reports.tolist())
        f = np.asarray(server.estimate_all(range(self.k), suppress_warnings=True), dtype=np.float64)
        const, d = float(server.const), float(self.k)
        norm_v = ((const - 1.0) ** 2 + (d - 1.0)) / (
            const - d
        ) ** 2  # ||v_u||^2, the same for all u
        est = float((f @ f - n * norm_v) / (n * (n - 1.0)))
        # <v_u, f> = (const f[y_u] - sum f) / (const - d)
        vf = (const * f[reports.reports] - f.sum()) / (const - d)
        h = (vf - norm_v) / (n - 1.0)
        se = math.sqrt(4.0 * float(h.var()) / n)
        qz = float(norm.ppf(0.5 + self.config.confidence / 2))
        return CollisionEstimate(
            estimate=est,
            ci_low=est - qz * se,
            ci_high=est + qz * se,
            confidence=self.config.confidence,
            std_error=se,
            n=n,
            method="frequency-oracle plug-in (pure-ldp direct encoding)",
            details={
                "k": self.k,
                "alpha": self.config.alpha,
                "p": float(server.p),
                "q": float(server.q),
            },
        )

    def run(
        self, values: Any, *, simulation_seed: int | None = None, seed: int | None = None
    ) -> CollisionEstimate:
        """``estimate(privatize(values))``."""
        simulation_seed = resolve_simulation_seed(
            simulation_seed, seed, "FrequencyOraclePlugin.run"
        )
        return self.estimate(self.privatize(values, simulation_seed=simulation_seed))
