"""The MuS certified radius (multiplicative smoothing; Xue et al. 2023), the prior-work baseline.

MuS smooths with *quantised* keep masks: with ``q`` levels, a seed ``v in {0..q-1}^n`` drawn once
per input and ``j = 0..q-1``, feature ``i`` is kept in mask ``j`` iff ``(v_i + j) mod q < lambda q``
(the public code's ``((v + (j + 0.5) / q) mod 1) < lambda`` in integer form). Every feature is
then kept in exactly ``lambda q`` of the ``q`` masks, so the vote fractions of the smoothed
classifier change by at most ``lambda`` per added or removed feature, and the top-two gap
certifies the hard radius ``(p1 - p2) / (2 lambda)``: adding any ``r < radius`` features keeps
the smoothed prediction (``r = radius`` can tie; we certify ``r`` only when ``r < radius``,
OURS, conservative).

Unlike SCA this certifies the *smoothed* classifier :class:`MuSClassifier`, not the original one.
``lambda q`` must be an integer: the public code silently floors ``lambda`` to a multiple of
``1/q``, we raise ConfigError instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lab.core import ConfigError, DataError, get_device

from ._eval import MaskedFn, evaluate, n_features_of
from ._validate import check_mask, check_positive_int
from .maskers import move_input
from .sampling import make_generator

__all__ = ["MuSCertificate", "MuSClassifier", "MuSConfig", "mus_certified_radius", "mus_masks"]


@dataclass(frozen=True)
class MuSConfig:
    """MuS smoothing parameters.

    Args:
        lam: keep probability ``lambda`` in (0, 1]; ``lam * q`` must be an integer (public: 0.25).
        q: quantisation levels (public: 64).
        batch_size: rows per call of the base classifier.
    """

    lam: float = 0.25
    q: int = 64
    batch_size: int = 1024

    def __post_init__(self) -> None:
        check_positive_int("q", self.q)
        check_positive_int("batch_size", self.batch_size)
        if (
            isinstance(self.lam, bool)
            or not isinstance(self.lam, (int, float))
            or not 0 < self.lam <= 1
        ):
            raise ConfigError(f"MuS lambda must be in (0, 1], got {self.lam!r}")
        if abs(self.lam * self.q - round(self.lam * self.q)) > 1e-9:
            raise ConfigError(
                f"MuS needs lambda * q to be an integer; lambda = {self.lam} and "
                f"q = {self.q} give {self.lam * self.q}"
            )

    @property
    def keep_levels(self) -> int:
        """``lambda * q``: in how many of the ``q`` masks each feature is kept."""
        return round(self.lam * self.q)


def mus_masks(seed_vector: torch.Tensor, config: MuSConfig) -> torch.Tensor:
    """The ``(q, n)`` quantised keep masks for a seed vector ``v`` of integers in ``[0, q)``."""
    v = seed_vector.long().view(1, -1)
    if (v < 0).any() or (v >= config.q).any():
        raise DataError(
            f"the MuS seed vector must hold integers in [0, {config.q}), got {seed_vector.tolist()}"
        )
    j = torch.arange(config.q, device=v.device).view(-1, 1)
    return (((v + j) % config.q) < config.keep_levels).long()


class MuSClassifier:
    """The MuS-smoothed masked classifier: vote fractions ``(B, C)`` over the ``q`` quantised masks.

    The seed vector is drawn once at construction (from ``seed``), so the classifier is a fixed,
    deterministic function of the mask, as the certificate requires.

    Args:
        classifier: the base masked classifier ``g(x, masks) -> logits``.
        n_features: number of features (taken from ``classifier.n_features`` when it has one).
        config: ``lam``, ``q``, ``batch_size``.
        seed: seed or CPU generator for the seed vector.
    """

    def __init__(
        self,
        classifier: MaskedFn,
        config: MuSConfig | None = None,
        *,
        n_features: int | None = None,
        seed: int | torch.Generator | None = 0,
    ):
        self.classifier = classifier
        self.config = config or MuSConfig()
        n = n_features if n_features is not None else n_features_of(classifier)
        if n is None:
            raise ConfigError("MuSClassifier needs n_features (the classifier does not say)")
        self.n_features = check_positive_int("n_features", n)
        gen = make_generator(seed)
        self.seed_vector = torch.randint(0, self.config.q, (self.n_features,), generator=gen)
        self._masks = mus_masks(self.seed_vector, self.config)

    @torch.no_grad()
    def __call__(self, x: Any, masks: torch.Tensor) -> torch.Tensor:
        if masks.dim() != 2 or masks.shape[1] != self.n_features:
            raise DataError(
                f"masks must have shape (B, {self.n_features}), got {tuple(masks.shape)}"
            )
        q, b, n = self.config.q, masks.shape[0], self.n_features
        keep = self._masks.to(masks.device, masks.dtype)
        noisy = (masks.view(b, 1, n) * keep.view(1, q, n)).view(b * q, n)
        logits = evaluate(self.classifier, x, noisy, self.config.batch_size)
        votes = F.one_hot(logits.argmax(dim=-1), num_classes=logits.shape[-1]).to(torch.float32)
        return votes.view(b, q, -1).mean(dim=1)


@dataclass(frozen=True)
class MuSCertificate:
    """A MuS certificate for one explanation.

    Attributes:
        prediction: the MuS-smoothed prediction on ``x * alpha``.
        radius: ``(p1 - p2) / (2 lambda)``.
        p_top: the top vote fraction ``p1``.
        p_second: the runner-up vote fraction ``p2``.
        lam: ``lambda``.
        q: quantisation levels.
    """

    prediction: int
    radius: float
    p_top: float
    p_second: float
    lam: float
    q: int

    def certifies(self, r: int) -> bool:
        """Whether hard stability at radius ``r`` is certified: ``r == 0`` or ``r < radius``."""
        return r == 0 or r < self.radius


def mus_certified_radius(
    classifier: MaskedFn,
    x: Any,
    alpha: torch.Tensor,
    config: MuSConfig | None = None,
    *,
    seed: int | torch.Generator | None = 0,
    n_features: int | None = None,
    device: str | torch.device | None = None,
) -> MuSCertificate:
    """Certify hard stability of ``alpha`` for the MuS-smoothed classifier.

    Builds :class:`MuSClassifier` (seed vector from ``seed``), evaluates its votes on
    ``x * alpha`` and returns the certified radius ``(p1 - p2) / (2 lambda)``.
    """
    cfg = config or MuSConfig()
    dev = get_device(device)
    n = n_features if n_features is not None else (n_features_of(classifier) or alpha.numel())
    alpha = check_mask(alpha, n).to(dev)
    mus = MuSClassifier(classifier, cfg, n_features=n, seed=seed)
    votes = mus(move_input(x, dev), alpha.view(1, -1))[0]
    top = votes.topk(2 if votes.numel() > 1 else 1)
    p1 = float(top.values[0])
    p2 = float(top.values[1]) if votes.numel() > 1 else 0.0
    return MuSCertificate(
        prediction=int(votes.argmax().item()),
        radius=(p1 - p2) / (2 * cfg.lam),
        p_top=p1,
        p_second=p2,
        lam=cfg.lam,
        q=cfg.q,
    )
