"""Hard stability: does EVERY mask of Delta_r(alpha) keep the prediction?

Hard stability at radius ``r`` (Jin et al. 2025, Definition 2.1) asks that adding any set of at
most ``r`` features to the explanation keeps ``f(x * alpha')`` equal to ``f(x * alpha)``. It is a
worst case over ``sum_{k<=r} C(m, k)`` masks, so it can be decided exactly only for small radii:

- ``method="exhaustive"`` enumerates ``Delta_r(alpha)`` (size order, stopping at the first flip):
  a definite yes/no.
- ``method="adversarial"`` (OURS) runs a greedy beam search that adds, one feature at a time,
  the features that most reduce the reference class's logit margin. A flip it finds is a real
  counterexample; finding none is NOT a proof of stability (``certified=False``).

The prior work's certified alternative is :func:`lab.explain.mus_certified_radius`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from lab.core import ConfigError, get_device

from ._eval import MaskedFn, evaluate, n_features_of, predict
from ._validate import check_mask, check_positive_int, check_radius
from .maskers import move_input
from .sampling import delta_r_size, enumerate_perturbations

__all__ = ["HardStability", "hard_stability", "hard_stability_radius"]


@dataclass(frozen=True)
class HardStability:
    """The outcome of a hard-stability check.

    Attributes:
        stable: no mask found that changes the prediction.
        certified: the answer is definite: an exhaustive search, or a counterexample was found.
        radius: the radius checked.
        method: ``"exhaustive"`` or ``"adversarial"``.
        n_evaluated: masks evaluated.
        reference: the class predicted on ``x * alpha``.
        counterexample: a mask of ``Delta_r(alpha)`` with another prediction, or None.
    """

    stable: bool
    certified: bool
    radius: int
    method: str
    n_evaluated: int
    reference: int
    counterexample: torch.Tensor | None = None


def _margin(logits: torch.Tensor, ref: int) -> torch.Tensor:
    other = logits.clone()
    other[:, ref] = -torch.inf
    return logits[:, ref] - other.max(dim=1).values


def hard_stability(
    classifier: MaskedFn,
    x: Any,
    alpha: torch.Tensor,
    radius: int,
    *,
    method: Literal["exhaustive", "adversarial"] = "exhaustive",
    batch_size: int = 1024,
    max_masks: int = 1_000_000,
    beam_width: int = 4,
    device: str | torch.device | None = None,
) -> HardStability:
    """Check hard stability of ``alpha`` at ``radius``.

    Args:
        classifier: ``g(x, masks) -> logits``.
        x: one input.
        alpha: binary explanation mask ``(n_features,)``.
        radius: ``r``.
        method: ``"exhaustive"`` (exact; refuses more than ``max_masks`` masks) or
            ``"adversarial"`` (greedy beam search on the logit margin; sound only when it
            finds a counterexample).
        batch_size: masks per model call.
        max_masks: the largest ``|Delta_r(alpha)|`` the exhaustive search accepts.
        beam_width: states kept per step of the adversarial search (OURS, default 4).
        device: where masks and ``x`` go.
    """
    dev = get_device(device)
    alpha = check_mask(alpha, n_features_of(classifier)).to(dev)
    x = move_input(x, dev)
    radius = check_radius(radius, alpha)
    check_positive_int("batch_size", batch_size)
    ref_logits = evaluate(classifier, x, alpha.view(1, -1), 1)
    ref = int(ref_logits.argmax(dim=-1).item())
    if method == "exhaustive":
        m = int((alpha == 0).sum().item())
        total = delta_r_size(m, radius)
        if total > max_masks:
            raise ConfigError(
                f"|Delta_{radius}(alpha)| = {total} masks exceeds max_masks = {max_masks}; "
                "use method='adversarial' or a smaller radius"
            )
        seen = 0
        for chunk in enumerate_perturbations(alpha, radius, chunk_size=batch_size, device=dev):
            preds = predict(classifier, x, chunk, batch_size)
            flips = torch.nonzero(preds != ref).flatten()
            if flips.numel():
                seen += int(flips[0].item()) + 1
                return HardStability(
                    False, True, radius, method, seen, ref, chunk[flips[0]].clone()
                )
            seen += chunk.shape[0]
        return HardStability(True, True, radius, method, seen, ref, None)
    if method == "adversarial":
        check_positive_int("beam_width", beam_width)
        beam = alpha.view(1, -1)
        seen = 1
        for _ in range(radius):
            cands = []
            for state in beam:
                zeros = torch.nonzero(state == 0).flatten()
                grown = state.view(1, -1).repeat(zeros.numel(), 1)
                grown[torch.arange(zeros.numel(), device=dev), zeros] = 1
                cands.append(grown)
            cand = torch.unique(torch.cat(cands), dim=0)
            logits = evaluate(classifier, x, cand, batch_size)
            seen += cand.shape[0]
            flips = torch.nonzero(logits.argmax(dim=-1) != ref).flatten()
            if flips.numel():
                return HardStability(False, True, radius, method, seen, ref, cand[flips[0]].clone())
            order = _margin(logits, ref).argsort()[:beam_width]
            beam = cand[order]
        return HardStability(True, radius == 0, radius, method, seen, ref, None)
    raise ConfigError(f"method must be 'exhaustive' or 'adversarial', got {method!r}")


def hard_stability_radius(
    classifier: MaskedFn,
    x: Any,
    alpha: torch.Tensor,
    max_radius: int,
    *,
    batch_size: int = 1024,
    max_masks: int = 1_000_000,
    device: str | torch.device | None = None,
) -> int:
    """The largest ``r <= max_radius`` at which ``alpha`` is hard-stable (exhaustive search).

    Masks are enumerated by the number of added features, so this is one less than the size
    of the smallest set of added features that changes the prediction (or ``max_radius``).
    """
    dev = get_device(device)
    alpha = check_mask(alpha, n_features_of(classifier)).to(dev)
    max_radius = check_radius(max_radius, alpha)
    result = hard_stability(
        classifier,
        x,
        alpha,
        max_radius,
        method="exhaustive",
        batch_size=batch_size,
        max_masks=max_masks,
        device=dev,
    )
    if result.stable:
        return max_radius
    assert result.counterexample is not None
    return int((result.counterexample - alpha).sum().item()) - 1
