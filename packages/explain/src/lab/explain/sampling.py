"""Uniform sampling and enumeration of Delta_r(alpha), and the Hoeffding sample count.

``Delta_r(alpha) = {alpha' in {0,1}^n : alpha' >= alpha, |alpha' - alpha|_0 <= r}`` is the set of
masks that add at most ``r`` features to the explanation ``alpha``. With ``m`` zeros in ``alpha``
it holds ``sum_{k=0}^{r} C(m, k)`` masks; drawing uniformly from it means drawing the number
``k`` of added features with probability ``C(m, k) / sum_i C(m, i)`` (``k = 0`` included) and then
``k`` distinct zeros uniformly at random (Jin et al. 2025, Algorithm 1).

Random numbers are drawn on the CPU from an explicit ``torch.Generator`` (or a seed) and the
masks moved to ``device`` afterwards, so one seed gives the same masks on every device (OURS).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import torch

from lab.core import ConfigError, get_device

from ._validate import check_mask, check_positive_int, check_radius, check_unit_interval

__all__ = [
    "delta_r_size",
    "enumerate_perturbations",
    "hoeffding_samples",
    "make_generator",
    "perturbation_size_probs",
    "sample_perturbations",
]


def make_generator(seed: int | torch.Generator | None) -> torch.Generator:
    """A CPU ``torch.Generator``: the one given, or a new one seeded with ``seed``.

    ``None`` seeds from the operating system (a fresh draw each call).
    """
    if isinstance(seed, torch.Generator):
        if seed.device.type != "cpu":
            raise ConfigError(
                f"the sampling generator must live on the CPU, got one on {seed.device}"
            )
        return seed
    gen = torch.Generator(device="cpu")
    if seed is None:
        gen.seed()
    else:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        gen.manual_seed(seed)
    return gen


def hoeffding_samples(eps: float, delta: float) -> int:
    """``N = ceil(log(2 / delta) / (2 eps^2))``: samples for ``|tau_hat - tau| <= eps`` w.p. ``1 - delta``.

    Hoeffding's inequality gives ``P(|tau_hat - tau| > eps) <= 2 exp(-2 N eps^2)``, which is at
    most ``delta`` from this ``N`` on (150 at ``eps = delta = 0.1``, 738 at ``0.05``).
    """
    eps = check_unit_interval("eps", eps)
    delta = check_unit_interval("delta", delta)
    return math.ceil(math.log(2.0 / delta) / (2.0 * eps * eps))


def delta_r_size(m: int, radius: int) -> int:
    """``|Delta_r(alpha)| = sum_{k=0}^{r} C(m, k)`` for an ``alpha`` with ``m`` zeros (exact integer)."""
    check_positive_int("m", m, allow_zero=True)
    check_positive_int("radius", radius, allow_zero=True)
    if radius > m:
        raise ConfigError(f"radius {radius} is larger than the number of zeros m = {m}")
    return sum(math.comb(m, k) for k in range(radius + 1))


def perturbation_size_probs(m: int, radius: int) -> torch.Tensor:
    """``P(k) = C(m, k) / sum_{i<=r} C(m, i)`` for ``k = 0..r`` (float64, computed in log space)."""
    check_positive_int("m", m, allow_zero=True)
    check_positive_int("radius", radius, allow_zero=True)
    if radius > m:
        raise ConfigError(f"radius {radius} is larger than the number of zeros m = {m}")
    logc = torch.tensor(
        [
            math.lgamma(m + 1) - math.lgamma(k + 1) - math.lgamma(m - k + 1)
            for k in range(radius + 1)
        ],
        dtype=torch.float64,
    )
    return torch.softmax(logc, dim=0)


def sample_perturbations(
    alpha: torch.Tensor,
    radius: int,
    num_samples: int,
    *,
    generator: torch.Generator | int | None = None,
    device: str | torch.device | None = "cpu",
    return_sizes: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Draw ``num_samples`` masks uniformly from ``Delta_r(alpha)``; shape ``(num_samples, n)``.

    Args:
        alpha: binary explanation mask of shape ``(n,)``.
        radius: the largest number of features that may be added (``0 <= r <= m``).
        num_samples: how many masks to draw.
        generator: CPU generator or seed for the draws.
        device: where the returned masks live.
        return_sizes: also return the number of added features per sample.
    """
    alpha = check_mask(alpha)
    radius = check_radius(radius, alpha)
    check_positive_int("num_samples", num_samples)
    gen = make_generator(generator)
    dev = get_device(device)
    alpha_cpu = alpha.detach().to("cpu")
    zeros = torch.nonzero(alpha_cpu == 0).flatten()
    m = zeros.numel()
    probs = perturbation_size_probs(m, radius)
    sizes = torch.multinomial(probs, num_samples, replacement=True, generator=gen)
    samples = alpha_cpu.view(1, -1).repeat(num_samples, 1)
    if m > 0 and radius > 0:
        # A uniformly random ordering of the zeros per sample; turn on the first k of it.
        ranks = torch.rand(num_samples, m, generator=gen).argsort(dim=1).argsort(dim=1)
        on = ranks < sizes.view(-1, 1)
        samples[:, zeros] = on.long()
    samples = samples.to(dev)
    if return_sizes:
        return samples, sizes.to(dev)
    return samples


def enumerate_perturbations(
    alpha: torch.Tensor,
    radius: int,
    *,
    chunk_size: int = 4096,
    device: str | torch.device | None = "cpu",
) -> Iterator[torch.Tensor]:
    """Every mask of ``Delta_r(alpha)`` exactly once, in chunks of at most ``chunk_size`` rows.

    Ordered by the number of added features, then lexicographically; the first row is ``alpha``.
    """
    alpha = check_mask(alpha)
    radius = check_radius(radius, alpha)
    check_positive_int("chunk_size", chunk_size)
    dev = get_device(device)
    alpha_cpu = alpha.detach().to("cpu")
    zeros = torch.nonzero(alpha_cpu == 0).flatten().tolist()
    buf: list[torch.Tensor] = []
    for k in range(radius + 1):
        for subset in itertools.combinations(zeros, k):
            row = alpha_cpu.clone()
            if subset:
                row[list(subset)] = 1
            buf.append(row)
            if len(buf) == chunk_size:
                yield torch.stack(buf).to(dev)
                buf = []
    if buf:
        yield torch.stack(buf).to(dev)
