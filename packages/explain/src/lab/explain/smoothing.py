"""Mild smoothing: ``f_lambda(x, alpha) = E_keep[ f(x * (alpha * keep)) ]``, keep_i ~ Bernoulli(lambda).

Each feature is kept independently with probability ``lambda`` (Jin et al. 2025, Section 3). The
expectation is over votes (one-hot predictions, the public code's default) or over logits
(``mode="logits"``). :class:`Smoothed` estimates it with ``n_draws`` random keep masks per
evaluated mask, all evaluated in one batched pass; :class:`ExactSmoothed` computes it exactly by
enumerating the ``2^|alpha|`` keep patterns of the kept features (Boolean-function view), which
the tests use to check the Monte-Carlo version. Both are masked classifiers ``g(x, masks)`` and
can be passed to :func:`lab.explain.soft_stability` and :func:`lab.explain.exact_stability_rate`.

The paper's result: if ``1 - Q <= tau_r(f)`` then ``1 - lambda Q <= tau_r(f_lambda)`` in its
Boolean-function sense; in practice smoothing trades accuracy for stability, and at small radii
the measured rate can go down (see docs/explain.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from lab.core import ConfigError, DataError

from ._eval import MaskedFn, evaluate, n_features_of
from ._validate import check_masks, check_positive_int
from .sampling import make_generator

__all__ = ["ExactSmoothed", "Smoothed", "SmoothingConfig"]


@dataclass(frozen=True)
class SmoothingConfig:
    """Configuration of mild smoothing.

    Args:
        lam: keep probability ``lambda`` in (0, 1]; ``1`` means no smoothing.
        n_draws: keep masks drawn per evaluation (public code: 64).
        mode: ``"votes"`` averages one-hot predictions, ``"logits"`` averages logits.
        batch_size: rows per call of the base classifier (memory only).
        resample: draw fresh keep masks on every call (the public code's behaviour). With
            ``False`` (OURS) the ``n_draws`` keep masks are drawn once and reused, which makes
            the smoothed classifier a fixed function of the mask (so, e.g., its rate at r = 0
            is exactly 1).
    """

    lam: float = 0.5
    n_draws: int = 64
    mode: Literal["votes", "logits"] = "votes"
    batch_size: int = 1024
    resample: bool = True

    def __post_init__(self) -> None:
        _check_lambda(self.lam)
        check_positive_int("n_draws", self.n_draws)
        check_positive_int("batch_size", self.batch_size)
        if self.mode not in ("votes", "logits"):
            raise ConfigError(f"mode must be 'votes' or 'logits', got {self.mode!r}")


def _check_lambda(lam: float) -> float:
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 < lam <= 1.0:
        raise ConfigError(f"lambda (the keep probability) must be in (0, 1], got {lam!r}")
    return float(lam)


def _combine(logits: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "votes":
        return F.one_hot(logits.argmax(dim=-1), num_classes=logits.shape[-1]).to(torch.float32)
    return logits.to(torch.float32)


class Smoothed:
    """Monte-Carlo mild smoothing of a masked classifier (batched).

    ``Smoothed(g, SmoothingConfig(lam=0.5))(x, masks)`` returns ``(B, C)``: per mask, the average
    over ``n_draws`` keep masks of votes (or logits) of ``g(x, masks * keep)``. Keep masks are
    drawn on the CPU from this object's generator (seeded by ``seed``), then moved to the masks'
    device: fresh ones on every call, or once for all calls with ``resample=False``. At
    ``lam == 1`` it is ``g`` itself (with votes turned one-hot), one draw.

    Args:
        classifier: the base masked classifier ``g(x, masks) -> logits``.
        config: ``lam``, ``n_draws``, ``mode`` and ``batch_size``.
        seed: seed (or CPU generator) of the keep masks.
    """

    def __init__(
        self,
        classifier: MaskedFn,
        config: SmoothingConfig | None = None,
        *,
        seed: int | torch.Generator | None = 0,
    ):
        self.classifier = classifier
        self.config = config or SmoothingConfig()
        self.generator = make_generator(seed)
        self._fixed_keep: torch.Tensor | None = None

    @property
    def n_features(self) -> int | None:
        return n_features_of(self.classifier)

    def _keep_masks(self, b: int, draws: int, n: int) -> torch.Tensor:
        if self.config.resample:
            return torch.rand(b, draws, n, generator=self.generator) < self.config.lam
        if self._fixed_keep is None or self._fixed_keep.shape[1] != n:
            self._fixed_keep = torch.rand(draws, n, generator=self.generator) < self.config.lam
        return self._fixed_keep.unsqueeze(0).expand(b, draws, n)

    @torch.no_grad()
    def __call__(self, x: Any, masks: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if masks.dim() != 2:
            raise DataError(f"masks must have shape (B, n_features), got {tuple(masks.shape)}")
        b, n = masks.shape
        draws = 1 if cfg.lam == 1.0 else cfg.n_draws
        keep = self._keep_masks(b, draws, n).to(masks.device)
        noisy = (masks.view(b, 1, n) * keep.to(masks.dtype)).view(b * draws, n)
        logits = evaluate(self.classifier, x, noisy, cfg.batch_size)
        return _combine(logits, cfg.mode).view(b, draws, -1).mean(dim=1)

    def __repr__(self) -> str:
        return f"Smoothed({self.classifier!r}, {self.config})"


class ExactSmoothed:
    """Exact mild smoothing by enumeration of every keep pattern (small explanations only).

    For a mask ``alpha`` with support ``S``, ``f_lambda = sum_{T subset S} lambda^|T|
    (1 - lambda)^(|S| - |T|) * votes(g(x, 1_T))``; features outside ``S`` are masked either way.
    This costs ``2^|S|`` evaluations per mask; masks with more than ``max_support`` ones raise
    ConfigError.

    Args:
        classifier: the base masked classifier.
        lam: keep probability in (0, 1].
        mode: ``"votes"`` or ``"logits"``.
        batch_size: rows per call of the base classifier.
        max_support: largest ``|S|`` accepted (default 16: 65,536 evaluations per mask).
    """

    def __init__(
        self,
        classifier: MaskedFn,
        lam: float,
        *,
        mode: Literal["votes", "logits"] = "votes",
        batch_size: int = 4096,
        max_support: int = 16,
    ):
        self.classifier = classifier
        self.lam = _check_lambda(lam)
        if mode not in ("votes", "logits"):
            raise ConfigError(f"mode must be 'votes' or 'logits', got {mode!r}")
        self.mode = mode
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.max_support = check_positive_int("max_support", max_support)

    @property
    def n_features(self) -> int | None:
        return n_features_of(self.classifier)

    @torch.no_grad()
    def __call__(self, x: Any, masks: torch.Tensor) -> torch.Tensor:
        if masks.dim() != 2:
            raise DataError(f"masks must have shape (B, n_features), got {tuple(masks.shape)}")
        n = masks.shape[1]
        if self.n_features is not None:
            check_masks(masks, self.n_features)
        if masks.shape[0] == 0:
            raise DataError("masks must hold at least one mask")
        binary = masks != 0
        sizes = binary.sum(dim=1)
        if int(sizes.max()) > self.max_support:
            raise ConfigError(
                f"a mask with {int(sizes.max())} kept features needs 2^{int(sizes.max())} "
                f"evaluations; max_support is {self.max_support}"
            )
        out: torch.Tensor | None = None
        # Rows with the same support size share one pattern table: evaluate them together.
        for s in sizes.unique().tolist():
            rows = torch.nonzero(sizes == s).flatten()
            g = rows.numel()
            codes = torch.arange(2**s, device=masks.device)
            bits = (
                codes.view(-1, 1) >> torch.arange(s, device=masks.device).view(1, -1)
            ) & 1  # (2^s, s)
            kept = bits.sum(dim=1).to(torch.float64)
            weights = self.lam**kept * (1.0 - self.lam) ** (s - kept)  # (2^s,)
            patterns = torch.zeros(g, 2**s, n, dtype=masks.dtype, device=masks.device)
            if s:
                # support indices of each row, in increasing order: (g, s)
                support = torch.sort(
                    torch.where(binary[rows], torch.arange(n, device=masks.device), n), dim=1
                ).values[:, :s]
                values = bits.to(masks.dtype).unsqueeze(0) * torch.gather(
                    masks[rows], 1, support
                ).unsqueeze(1)
                patterns.scatter_(2, support.unsqueeze(1).expand(g, 2**s, s), values)
            scores = _combine(
                evaluate(self.classifier, x, patterns.view(g * 2**s, n), self.batch_size), self.mode
            )
            smoothed = (weights.view(1, -1, 1) * scores.view(g, 2**s, -1).to(torch.float64)).sum(
                dim=1
            )
            if out is None:
                out = torch.zeros(
                    masks.shape[0], smoothed.shape[1], dtype=torch.float32, device=masks.device
                )
            out[rows] = smoothed.to(torch.float32)
        assert out is not None
        return out

    def __repr__(self) -> str:
        return f"ExactSmoothed({self.classifier!r}, lam={self.lam}, mode={self.mode!r})"
