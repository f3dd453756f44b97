"""Soft stability: the stability rate and the Stability Certification Algorithm (SCA).

For a classifier ``f``, an input ``x`` and a binary explanation ``alpha``, the stability rate at
radius ``r`` is (Jin et al. 2025, Definition 2.2)::

    tau_r = P_{alpha' ~ U(Delta_r(alpha))} [ f(x * alpha') = f(x * alpha) ]

The reference is the prediction on the explanation-masked input ``x * alpha``, not on ``x``.
SCA draws ``N = ceil(log(2/delta) / (2 eps^2))`` masks uniformly from ``Delta_r(alpha)``
(:func:`lab.explain.sample_perturbations`), evaluates them in batches and returns the fraction
that keep the reference prediction; by Hoeffding's inequality ``|tau_hat - tau_r| <= eps`` with
probability at least ``1 - delta``. :func:`exact_stability_rate` enumerates ``Delta_r`` instead
(small feature counts) and is what the tests check SCA against.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch

from lab.core import ConfigError, get_device

from ._eval import MaskedFn, n_features_of, predict
from ._validate import check_mask, check_positive_int, check_radius, check_unit_interval
from .maskers import move_input
from .sampling import (
    delta_r_size,
    enumerate_perturbations,
    hoeffding_samples,
    make_generator,
    sample_perturbations,
)

#: SCAConfig warns when its Hoeffding sample count exceeds this.
LARGE_N = 1_000_000
#: Masks drawn per step of SCA (fixed, so batch_size cannot change the random stream).
MASK_CHUNK = 4096

__all__ = [
    "ExactStability",
    "SCAConfig",
    "StabilityEstimate",
    "exact_stability_rate",
    "reference_prediction",
    "soft_stability",
    "stability_curve",
]


@dataclass(frozen=True)
class SCAConfig:
    """Configuration of the Stability Certification Algorithm.

    Args:
        eps: additive error tolerance, in (0, 1).
        delta: failure probability, in (0, 1).
        batch_size: masks evaluated per model call (OURS; memory only, no effect on results).
    """

    eps: float = 0.1
    delta: float = 0.1
    batch_size: int = 256

    def __post_init__(self) -> None:
        check_unit_interval("eps", self.eps)
        check_unit_interval("delta", self.delta)
        check_positive_int("batch_size", self.batch_size)
        n = self.n_samples
        if n > LARGE_N:
            warnings.warn(
                f"eps={self.eps}, delta={self.delta} need N = {n:,} model evaluations per "
                f"radius (> {LARGE_N:,}); a larger eps is much cheaper (N grows as 1/eps^2)",
                stacklevel=3,
            )

    @property
    def n_samples(self) -> int:
        """The Hoeffding sample count ``ceil(log(2/delta) / (2 eps^2))``."""
        return hoeffding_samples(self.eps, self.delta)


@dataclass(frozen=True)
class StabilityEstimate:
    """SCA's answer: ``|rate - tau_r| <= eps`` holds with probability ``>= 1 - delta``.

    Attributes:
        rate: the estimate ``tau_hat`` (fraction of sampled masks that keep the prediction).
        radius: the radius ``r``.
        n_samples: ``N``, the number of sampled masks.
        n_stable: how many of them kept the reference prediction.
        eps: the additive tolerance of the guarantee.
        delta: its failure probability.
        reference: the class predicted on ``x * alpha``.
    """

    rate: float
    radius: int
    n_samples: int
    n_stable: int
    eps: float
    delta: float
    reference: int

    @property
    def lower(self) -> float:
        """``max(0, rate - eps)``: a lower bound on ``tau_r`` with confidence ``1 - delta``."""
        return max(0.0, self.rate - self.eps)

    @property
    def upper(self) -> float:
        """``min(1, rate + eps)``: an upper bound on ``tau_r`` with confidence ``1 - delta``."""
        return min(1.0, self.rate + self.eps)

    def __str__(self) -> str:
        return (
            f"tau_{self.radius} = {self.rate:.3f} +/- {self.eps} with probability >= "
            f"{1 - self.delta:.3g} ({self.n_stable}/{self.n_samples} samples stable)"
        )


@dataclass(frozen=True)
class ExactStability:
    """The exact stability rate ``tau_r`` by enumeration of ``Delta_r(alpha)``."""

    rate: float
    radius: int
    n_masks: int
    n_stable: int
    reference: int


def _prepare(classifier: MaskedFn, x: Any, alpha: torch.Tensor, device: str | torch.device | None):
    dev = get_device(device)
    alpha = check_mask(alpha, n_features_of(classifier))
    return dev, move_input(x, dev), alpha.to(dev)


def reference_prediction(
    classifier: MaskedFn, x: Any, alpha: torch.Tensor, *, device: str | torch.device | None = None
) -> int:
    """The class predicted on the explanation-masked input ``x * alpha``."""
    _, x, alpha = _prepare(classifier, x, alpha, device)
    return int(predict(classifier, x, alpha.view(1, -1), 1).item())


def soft_stability(
    classifier: MaskedFn,
    x: Any,
    alpha: torch.Tensor,
    radius: int,
    config: SCAConfig | None = None,
    *,
    generator: torch.Generator | int | None = None,
    device: str | torch.device | None = None,
) -> StabilityEstimate:
    """Estimate the stability rate ``tau_r`` of ``alpha`` with SCA.

    Args:
        classifier: ``g(x, masks) -> logits``, e.g. a :class:`lab.explain.MaskedClassifier`, a
            :class:`lab.explain.Smoothed` one, or any callable with that signature.
        x: one input (not batched), on any device; it is moved to ``device``.
        alpha: the binary explanation mask ``(n_features,)``.
        radius: ``r``, the number of features that may be added (``0 <= r <= #zeros(alpha)``).
        config: ``eps``, ``delta`` and the batch size.
        generator: CPU generator or seed of the mask draws.
        device: where masks and ``x`` go (the classifier's model must live there).

    Returns:
        A :class:`StabilityEstimate` with ``|rate - tau_r| <= eps`` w.p. ``>= 1 - delta``.
    """
    return stability_curve(
        classifier, x, alpha, [radius], config, generator=generator, device=device
    )[0]


def stability_curve(
    classifier: MaskedFn,
    x: Any,
    alpha: torch.Tensor,
    radii: Sequence[int],
    config: SCAConfig | None = None,
    *,
    generator: torch.Generator | int | None = None,
    device: str | torch.device | None = None,
) -> list[StabilityEstimate]:
    """SCA at several radii, with the masks of all radii evaluated in one batched pass.

    Each radius gets its own ``N`` independent samples, so each estimate carries the full
    ``(eps, delta)`` guarantee on its own (not jointly: a union bound over ``len(radii)``
    estimates holds with probability ``>= 1 - len(radii) * delta``).
    """
    cfg = config or SCAConfig()
    if not radii:
        raise ConfigError("radii must name at least one radius")
    dev, x, alpha = _prepare(classifier, x, alpha, device)
    radii = [check_radius(r, alpha) for r in radii]
    gen = make_generator(generator)
    n = cfg.n_samples
    ref = predict(classifier, x, alpha.view(1, -1), 1)
    stable = [0] * len(radii)
    # Masks are drawn MASK_CHUNK at a time (radius by radius, in order) and evaluated in
    # batch_size rows, so memory is O(max(MASK_CHUNK, batch_size) * n_features) whatever N is,
    # and the draws do not depend on batch_size.
    for i, masks in _mask_batches(alpha, radii, n, MASK_CHUNK, gen, dev):
        stable[i] += int((predict(classifier, x, masks, cfg.batch_size) == ref).sum().item())
    return [
        StabilityEstimate(
            rate=s / n,
            radius=int(r),
            n_samples=n,
            n_stable=int(s),
            eps=cfg.eps,
            delta=cfg.delta,
            reference=int(ref.item()),
        )
        for r, s in zip(radii, stable, strict=True)
    ]


def _mask_batches(
    alpha: torch.Tensor,
    radii: Sequence[int],
    n: int,
    chunk: int,
    gen: torch.Generator,
    dev: torch.device,
) -> Iterator[tuple[int, torch.Tensor]]:
    """(radius index, masks) chunks: ``n`` uniform draws from each ``Delta_r``, lazily."""
    for i, r in enumerate(radii):
        done = 0
        while done < n:
            k = min(chunk, n - done)
            yield (
                i,
                cast(torch.Tensor, sample_perturbations(alpha, r, k, generator=gen, device=dev)),
            )
            done += k


def exact_stability_rate(
    classifier: MaskedFn,
    x: Any,
    alpha: torch.Tensor,
    radius: int,
    *,
    batch_size: int = 1024,
    max_masks: int = 1_000_000,
    device: str | torch.device | None = None,
) -> ExactStability:
    """``tau_r`` exactly, by evaluating every mask of ``Delta_r(alpha)``.

    Raises ConfigError when ``|Delta_r(alpha)| > max_masks`` (use :func:`soft_stability`).
    """
    dev, x, alpha = _prepare(classifier, x, alpha, device)
    radius = check_radius(radius, alpha)
    m = int((alpha == 0).sum().item())
    total = delta_r_size(m, radius)
    if total > max_masks:
        raise ConfigError(
            f"|Delta_{radius}(alpha)| = {total} masks (m = {m}) exceeds max_masks = "
            f"{max_masks}; use soft_stability for this radius"
        )
    ref = predict(classifier, x, alpha.view(1, -1), 1)
    n_stable = 0
    for chunk in enumerate_perturbations(alpha, radius, chunk_size=batch_size, device=dev):
        n_stable += int((predict(classifier, x, chunk, batch_size) == ref).sum().item())
    return ExactStability(
        rate=n_stable / total,
        radius=radius,
        n_masks=total,
        n_stable=n_stable,
        reference=int(ref.item()),
    )
