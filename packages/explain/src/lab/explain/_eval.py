"""Chunked, gradient-free evaluation of a masked classifier (private)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lab.core import DataError

MaskedFn = Callable[[Any, torch.Tensor], torch.Tensor]


def n_features_of(classifier: Any) -> int | None:
    n = getattr(classifier, "n_features", None)
    return int(n) if isinstance(n, int) else None


@torch.no_grad()
def evaluate(classifier: MaskedFn, x: Any, masks: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``classifier(x, masks)`` in chunks of ``batch_size`` rows, concatenated: ``(B, C)``."""
    outs = []
    for chunk in torch.split(masks, batch_size):
        out = classifier(x, chunk)
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != chunk.shape[0]:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise DataError(
                f"a masked classifier must return (B, classes) for B = {chunk.shape[0]} "
                f"masks, got {shape}"
            )
        if out.shape[1] < 2:
            raise DataError(
                f"a masked classifier must return logits for >= 2 classes, got shape "
                f"{tuple(out.shape)}: with one column (a sigmoid model) argmax is always 0 and "
                "every mask looks stable; return two columns, e.g. torch.cat([-z, z], dim=1)"
            )
        # -inf is an excluded class (e.g. classes a continual model has not seen yet): argmax
        # over the rest is well defined. NaN and +inf are not, and a row with fewer than two
        # finite logits has only one possible prediction, so every mask would look stable.
        bad = int((torch.isnan(out) | (out == float("inf"))).sum().item())
        if bad:
            raise DataError(
                f"the classifier returned {bad} NaN or +inf values among {out.numel()} logits "
                f"of shape {tuple(out.shape)}: a prediction on them means nothing"
            )
        few = int((torch.isfinite(out).sum(dim=1) < 2).sum().item())
        if few:
            raise DataError(
                f"{few} of {out.shape[0]} rows of the classifier's logits (shape "
                f"{tuple(out.shape)}) have fewer than 2 finite values (the rest -inf): with one "
                "possible class every mask looks stable"
            )
        outs.append(out)
    return torch.cat(outs, dim=0)


@torch.no_grad()
def predict(classifier: MaskedFn, x: Any, masks: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Predicted classes ``(B,)`` (argmax, first index on ties)."""
    return evaluate(classifier, x, masks, batch_size).argmax(dim=-1)
