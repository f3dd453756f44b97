"""Maskers: apply a batch of binary feature masks to one input.

A *masker* turns one input ``x`` and a batch of masks ``(B, n_features)`` into a batch of model
inputs in which the features whose mask bit is 0 are removed. :class:`MaskedClassifier` binds a
model to a masker and is the ``g(x, masks) -> logits`` callable that every estimator in
:mod:`lab.explain` takes (the public code's ``f(x, alpha)``).

- :class:`PatchMasker`: images ``(C, H, W)`` split into a grid of patches; a removed patch is set
  to ``baseline`` (0 in the paper's experiments, which zero patches).
- :class:`TokenMasker`: token sequences given as ``{"input_ids": (L,), "attention_mask": (L,)}``.
  ``mode="attention"`` (the paper's choice) multiplies the attention mask by the feature mask;
  ``mode="token"`` instead replaces removed tokens by ``mask_token_id`` (for models that ignore
  or lack an attention mask).
- :class:`TabularMasker`: flat feature vectors ``(n,)``; a removed feature takes its baseline value.

Masks may be float in ``[0, 1]`` as well as binary: the image and tabular maskers interpolate
``x * z + baseline * (1 - z)``, which lets gradient attributions differentiate through the mask.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from lab.core import ConfigError, DataError

from ._validate import check_masks

__all__ = [
    "MaskedClassifier",
    "Masker",
    "PatchMasker",
    "TabularMasker",
    "TokenMasker",
    "extract_logits",
    "move_input",
]


def move_input(x: Any, device: torch.device | str) -> Any:
    """Move a tensor, or every tensor of a mapping, to ``device``."""
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, Mapping):
        return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in x.items()}
    raise DataError(f"an input must be a tensor or a mapping of tensors, got {type(x).__name__}")


def extract_logits(out: Any) -> torch.Tensor:
    """The logits of a model output: a tensor, an object with ``.logits`` or a dict with ``"logits"``."""
    if isinstance(out, torch.Tensor):
        logits = out
    elif hasattr(out, "logits"):
        logits = out.logits
    elif isinstance(out, Mapping) and "logits" in out:
        logits = out["logits"]
    else:
        raise DataError(f"cannot find logits in a model output of type {type(out).__name__}")
    if logits.dim() != 2:
        raise DataError(
            f"a classifier must return logits of shape (B, classes), got {tuple(logits.shape)}"
        )
    return logits


class Masker(ABC):
    """Base class of maskers: ``n_features``, ``check_input(x)`` and ``apply(x, masks)``."""

    n_features: int

    @abstractmethod
    def apply(self, x: Any, masks: torch.Tensor) -> Any:
        """The batched model input for one input ``x`` under ``masks`` of shape ``(B, n_features)``."""

    @abstractmethod
    def check_input(self, x: Any) -> None:
        """Raise :class:`lab.core.DataError` when ``x`` does not fit this masker."""


@dataclass(frozen=True)
class PatchMasker(Masker):
    """Mask an image ``(C, H, W)`` by a ``grid = (rows, cols)`` of patches.

    Patch ``i * cols + j`` covers rows ``[top_i, top_{i+1})`` and columns ``[left_j, left_{j+1})``.
    When ``H`` is not a multiple of ``rows`` the first ``H % rows`` patch rows are one pixel taller
    (as in the public code's pooling); likewise for columns.

    Args:
        image_size: ``(H, W)`` of the inputs.
        grid: ``(rows, cols)`` of patches; ``n_features = rows * cols``.
        baseline: value of removed pixels (OURS: 0.0, i.e. zeroing, as the paper's experiments).
    """

    image_size: tuple[int, int]
    grid: tuple[int, int]
    baseline: float = 0.0

    def __post_init__(self) -> None:
        h, w = self.image_size
        gh, gw = self.grid
        if min(h, w, gh, gw) < 1:
            raise ConfigError(f"image_size {self.image_size} and grid {self.grid} must be positive")
        if gh > h or gw > w:
            raise ConfigError(
                f"grid {self.grid} has more patches than pixels in image_size {self.image_size}"
            )

    @property
    def n_features(self) -> int:  # type: ignore[override]
        return self.grid[0] * self.grid[1]

    def patch_index(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """``(H, W)`` long tensor: the patch index of every pixel (Captum's ``feature_mask``)."""
        h, w = self.image_size
        gh, gw = self.grid

        def edges(size: int, parts: int) -> torch.Tensor:
            base, extra = divmod(size, parts)
            lengths = torch.tensor([base + 1 if i < extra else base for i in range(parts)])
            return torch.repeat_interleave(torch.arange(parts), lengths)

        rows, cols = edges(h, gh), edges(w, gw)
        return (rows.view(-1, 1) * gw + cols.view(1, -1)).to(device)

    def check_input(self, x: Any) -> None:
        if (
            not isinstance(x, torch.Tensor)
            or x.dim() != 3
            or tuple(x.shape[1:]) != tuple(self.image_size)
        ):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise DataError(
                f"PatchMasker expects one image of shape (C, {self.image_size[0]}, "
                f"{self.image_size[1]}), got {shape}"
            )

    def upsample(self, masks: torch.Tensor) -> torch.Tensor:
        """Pixel masks ``(B, 1, H, W)`` from feature masks ``(B, n_features)``."""
        masks = check_masks(masks, self.n_features)
        idx = self.patch_index(masks.device)
        return masks[:, idx].unsqueeze(1)

    def apply(self, x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        z = self.upsample(masks).to(x.dtype)
        return x.unsqueeze(0) * z + self.baseline * (1 - z)

    def pool(self, attributions: torch.Tensor) -> torch.Tensor:
        """Average pixel attributions ``(C, H, W)`` or ``(H, W)`` over each patch: ``(n_features,)``."""
        a = attributions
        if a.dim() == 3:
            a = a.mean(dim=0)
        if tuple(a.shape) != tuple(self.image_size):
            raise DataError(
                f"pixel attributions must have shape (C, H, W) or (H, W) with (H, W) = "
                f"{self.image_size}, got {tuple(attributions.shape)}"
            )
        idx = self.patch_index(a.device).flatten()
        sums = torch.zeros(self.n_features, dtype=a.dtype, device=a.device).index_add_(
            0, idx, a.flatten()
        )
        counts = torch.bincount(idx, minlength=self.n_features).to(a.dtype)
        return sums / counts


@dataclass(frozen=True)
class TokenMasker(Masker):
    """Mask a token sequence ``{"input_ids": (L,), "attention_mask": (L,)}`` (one feature per token).

    Args:
        length: the sequence length ``L`` (``n_features = L``).
        mode: ``"attention"`` (the paper's choice): the model sees ``attention_mask * mask``, so a
            removed token is invisible to attention. ``"token"``: removed tokens are replaced by
            ``mask_token_id`` and the attention mask is kept, for models without attention masks.
        mask_token_id: the replacement token for ``mode="token"`` (e.g. a tokenizer's
            ``mask_token_id`` or ``pad_token_id``).

    ``apply`` returns a dict of ``(B, L)`` tensors; :class:`MaskedClassifier` calls
    ``model(**inputs)``, which fits Hugging Face sequence classifiers and
    :class:`lab.explain.TinyTextClassifier`. In ``"attention"`` mode a float mask gives a float
    attention mask, which only models that accept one (like ``TinyTextClassifier``) can use for
    gradient attributions; binary masks keep the input dtype.
    """

    length: int
    mode: Literal["attention", "token"] = "attention"
    mask_token_id: int | None = None

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ConfigError(f"length must be >= 1, got {self.length}")
        if self.mode not in ("attention", "token"):
            raise ConfigError(f"mode must be 'attention' or 'token', got {self.mode!r}")
        if self.mode == "token" and self.mask_token_id is None:
            raise ConfigError("TokenMasker(mode='token') needs mask_token_id")

    @property
    def n_features(self) -> int:  # type: ignore[override]
        return self.length

    def check_input(self, x: Any) -> None:
        if not isinstance(x, Mapping) or "input_ids" not in x:
            raise DataError(
                f"TokenMasker expects a mapping with 'input_ids' (and optionally "
                f"'attention_mask'), got {type(x).__name__}"
            )
        ids = x["input_ids"]
        if not isinstance(ids, torch.Tensor) or tuple(ids.shape) != (self.length,):
            shape = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
            raise DataError(
                f"TokenMasker(length={self.length}) expects input_ids of shape "
                f"({self.length},), got {shape}"
            )
        am = x.get("attention_mask")
        if am is not None and (not isinstance(am, torch.Tensor) or am.shape != ids.shape):
            raise DataError(f"attention_mask must have the shape of input_ids {tuple(ids.shape)}")

    def apply(self, x: Mapping[str, torch.Tensor], masks: torch.Tensor) -> dict[str, torch.Tensor]:
        self.check_input(x)
        masks = check_masks(masks, self.n_features)
        ids = x["input_ids"]
        am = x.get("attention_mask")
        if am is None:
            am = torch.ones_like(ids)
        b = masks.shape[0]
        ids_b = ids.unsqueeze(0).expand(b, -1)
        am_b = am.unsqueeze(0).expand(b, -1)
        out = {k: v for k, v in x.items() if k not in ("input_ids", "attention_mask")}
        if self.mode == "attention":
            if masks.is_floating_point() and not _is_binary(masks):
                out["attention_mask"] = am_b.to(masks.dtype) * masks
            else:
                out["attention_mask"] = am_b * masks.to(am_b.dtype)
            out["input_ids"] = ids_b
        else:
            keep = masks.bool() if not masks.is_floating_point() else masks > 0.5
            out["input_ids"] = torch.where(
                keep, ids_b, torch.full_like(ids_b, int(self.mask_token_id or 0))
            )
            out["attention_mask"] = am_b
        return out


def _is_binary(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())


class TabularMasker(Masker):
    """Mask a feature vector ``(n,)``: removed features take their baseline value.

    Args:
        n_features: the number of features.
        baseline: a scalar or an ``(n,)`` tensor (OURS default: 0.0; a training-set mean is
            another common choice).
    """

    def __init__(self, n_features: int, baseline: float | torch.Tensor = 0.0):
        if n_features < 1:
            raise ConfigError(f"n_features must be >= 1, got {n_features}")
        if isinstance(baseline, torch.Tensor) and tuple(baseline.shape) not in ((), (n_features,)):
            raise DataError(
                f"baseline must be a scalar or of shape ({n_features},), got {tuple(baseline.shape)}"
            )
        self.n_features = n_features
        self.baseline = baseline

    def check_input(self, x: Any) -> None:
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != (self.n_features,):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise DataError(
                f"TabularMasker expects a vector of shape ({self.n_features},), got {shape}"
            )

    def apply(self, x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        masks = check_masks(masks, self.n_features)
        z = masks.to(x.dtype)
        base = (
            self.baseline.to(x.device, x.dtype)
            if isinstance(self.baseline, torch.Tensor)
            else self.baseline
        )
        return x.unsqueeze(0) * z + base * (1 - z)

    def __repr__(self) -> str:
        return f"TabularMasker(n_features={self.n_features})"


class MaskedClassifier:
    """``g(x, masks) -> logits``: a classifier evaluated on one input under a batch of masks.

    Args:
        model: a callable (usually an ``nn.Module`` in eval mode) returning logits ``(B, C)``, an
            object with ``.logits`` or a dict with ``"logits"``. Tensor inputs are passed
            positionally, mapping inputs as keyword arguments (``model(**inputs)``).
        masker: the :class:`Masker` that defines the features.

    ``g(x, masks)`` with ``masks`` of shape ``(B, n_features)`` returns ``(B, C)`` logits. It
    does not chunk: the estimators split large batches themselves (``batch_size``).
    """

    def __init__(self, model: Callable[..., Any], masker: Masker):
        if not callable(model):
            raise ConfigError(f"model must be callable, got {type(model).__name__}")
        self.model = model
        self.masker = masker

    @property
    def n_features(self) -> int:
        return self.masker.n_features

    def __call__(self, x: Any, masks: torch.Tensor) -> torch.Tensor:
        inputs = self.masker.apply(x, masks)
        out = self.model(**inputs) if isinstance(inputs, Mapping) else self.model(inputs)
        return extract_logits(out)

    def __repr__(self) -> str:
        return f"MaskedClassifier(model={type(self.model).__name__}, masker={self.masker!r})"
