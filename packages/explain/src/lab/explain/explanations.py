"""Explanations as binary masks: top-k of any attribution, Captum methods, random masks, callables.

The paper's explanation is the top 25% of features by attribution (``top_k_fraction=0.25``),
with attributions from LIME, SHAP, Integrated Gradients or MFABA. Here:

- :func:`top_k_mask` turns any attribution vector (or batch) into a mask with exactly ``k`` ones
  (ties go to the lower feature index, OURS, so the result is deterministic).
- :func:`captum_attributions` runs a Captum method (needs ``pip install 'labworks-explain[captum]'``).
  In ``space="mask"`` (OURS, the default) Captum attributes the function ``z -> g(x, z)`` of the
  feature mask itself, from the all-ones mask to the all-zeros baseline: one attribution per
  feature for every masker, including text. In ``space="input"`` it attributes the raw input
  tensor (images, tabular), as the public code does, and averages over each patch; perturbation
  methods then get the patch grid as Captum's ``feature_mask``. Gradient methods need a masker
  that is differentiable in the mask (patch and tabular maskers; token masking only with a
  model that accepts a float attention mask).
- :func:`random_mask` is the random baseline: ``k`` features uniformly at random.
- :func:`explanation_mask` dispatches on a method name, ``"random"`` or a plain callable
  ``fn(x) -> attributions``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from lab.core import ConfigError, DataError, get_device, require, seeded

from ._eval import n_features_of
from ._validate import check_positive_int
from .maskers import Masker, extract_logits, move_input
from .sampling import make_generator

__all__ = [
    "CAPTUM_METHODS",
    "AttributionConfig",
    "captum_attributions",
    "explanation_mask",
    "k_from_fraction",
    "random_mask",
    "top_k_mask",
]

#: Our method names and the Captum classes behind them.
CAPTUM_METHODS: dict[str, str] = {
    "integrated_gradients": "IntegratedGradients",
    "saliency": "Saliency",
    "input_x_gradient": "InputXGradient",
    "lime": "Lime",
    "kernel_shap": "KernelShap",
    "feature_ablation": "FeatureAblation",
    "shapley_sampling": "ShapleyValueSampling",
}
_GRADIENT = {"integrated_gradients", "saliency", "input_x_gradient"}
_SAMPLED = {"lime", "kernel_shap", "shapley_sampling"}


def k_from_fraction(n_features: int, fraction: float) -> int:
    """``int(fraction * n_features)`` (the public code's rounding down), checked to be >= 1."""
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"top_k_fraction must be in (0, 1], got {fraction!r}")
    k = int(fraction * n_features)
    if k < 1:
        raise ConfigError(f"top_k_fraction {fraction} of {n_features} features selects no feature")
    return k


def top_k_mask(attributions: torch.Tensor, k: int) -> torch.Tensor:
    """A ``long`` mask with ones at the ``k`` largest attributions, per row for a batch.

    Args:
        attributions: ``(n,)`` or ``(B, n)`` real attributions (no NaN).
        k: number of features to keep, ``0 <= k <= n``.
    """
    if not isinstance(attributions, torch.Tensor) or attributions.dim() not in (1, 2):
        shape = (
            tuple(attributions.shape)
            if isinstance(attributions, torch.Tensor)
            else type(attributions).__name__
        )
        raise DataError(f"attributions must be a tensor of shape (n,) or (B, n), got {shape}")
    n = attributions.shape[-1]
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n:
        raise ConfigError(f"k must be an integer in [0, {n}], got {k!r}")
    a = attributions.detach().to(torch.float64)
    if torch.isnan(a).any():
        raise DataError("attributions contain NaN")
    order = torch.sort(a, dim=-1, descending=True, stable=True).indices[..., :k]
    mask = torch.zeros(a.shape, dtype=torch.long, device=a.device)
    return mask.scatter_(-1, order, 1)


def random_mask(
    n_features: int,
    k: int,
    *,
    generator: torch.Generator | int | None = None,
    device: str | torch.device | None = "cpu",
) -> torch.Tensor:
    """The random-explanation baseline: ``k`` of ``n_features`` chosen uniformly at random."""
    check_positive_int("n_features", n_features)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n_features:
        raise ConfigError(f"k must be an integer in [0, {n_features}], got {k!r}")
    gen = make_generator(generator)
    chosen = torch.randperm(n_features, generator=gen)[:k]
    mask = torch.zeros(n_features, dtype=torch.long)
    mask[chosen] = 1
    return mask.to(get_device(device))


@dataclass(frozen=True)
class AttributionConfig:
    """How to compute attributions with Captum.

    Args:
        method: one of :data:`CAPTUM_METHODS` (``integrated_gradients``, ``lime``,
            ``kernel_shap``, ...).
        space: ``"mask"`` (attribute the feature mask, any masker; OURS default) or ``"input"``
            (attribute the raw input tensor and average per feature, as the public code).
        n_samples: perturbations for LIME, KernelSHAP and Shapley sampling (OURS: 200; Captum's
            default of 25 is low).
        n_steps: integration steps of Integrated Gradients (public code: 16; OURS default 32).
        perturbations_per_eval: batch size of perturbation methods (memory only).
        seed: seed of the sampling methods (run under ``lab.core.seeded``).
    """

    method: str = "integrated_gradients"
    space: Literal["mask", "input"] = "mask"
    n_samples: int = 200
    n_steps: int = 32
    perturbations_per_eval: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in CAPTUM_METHODS:
            raise ConfigError(
                f"unknown attribution method {self.method!r}; known: {sorted(CAPTUM_METHODS)}"
            )
        if self.space not in ("mask", "input"):
            raise ConfigError(f"space must be 'mask' or 'input', got {self.space!r}")
        check_positive_int("n_samples", self.n_samples)
        check_positive_int("n_steps", self.n_steps)
        check_positive_int("perturbations_per_eval", self.perturbations_per_eval)


def _method_kwargs(cfg: AttributionConfig) -> dict[str, Any]:
    if cfg.method == "integrated_gradients":
        return {"n_steps": cfg.n_steps}
    if cfg.method in _SAMPLED:
        return {"n_samples": cfg.n_samples, "perturbations_per_eval": cfg.perturbations_per_eval}
    if cfg.method == "feature_ablation":
        return {"perturbations_per_eval": cfg.perturbations_per_eval}
    return {}


def captum_attributions(
    classifier: Any,
    x: Any,
    config: AttributionConfig | None = None,
    *,
    target: int | None = None,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """One attribution per feature, ``(n_features,)``, from a Captum method.

    Args:
        classifier: a masked classifier ``g(x, masks) -> logits`` (``space="mask"``) or a
            :class:`lab.explain.MaskedClassifier` with a tensor-input masker (``space="input"``).
        x: one input.
        config: method, space and sample counts.
        target: class to explain; default the prediction on the full input ``g(x, ones)``.
        device: where the computation runs.
    """
    cfg = config or AttributionConfig()
    attr_mod = require("captum.attr", "labworks-explain[captum]")
    dev = get_device(device)
    x = move_input(x, dev)
    n = n_features_of(classifier)
    if n is None:
        raise ConfigError(
            "captum_attributions needs a classifier with n_features (e.g. a MaskedClassifier)"
        )
    ones = torch.ones(1, n, device=dev)
    if target is None:
        with torch.no_grad():
            target = int(classifier(x, ones).argmax(dim=-1).item())
    method_cls = getattr(attr_mod, CAPTUM_METHODS[cfg.method])
    kwargs = _method_kwargs(cfg)
    with seeded(cfg.seed):
        if cfg.space == "mask":

            def forward(z: torch.Tensor) -> torch.Tensor:
                return classifier(x, z)

            explainer = method_cls(forward)
            baselines = (
                {}
                if cfg.method in ("saliency", "input_x_gradient")
                else {"baselines": torch.zeros_like(ones)}
            )
            attrs = explainer.attribute(
                ones.clone().requires_grad_(cfg.method in _GRADIENT),
                target=target,
                **baselines,
                **kwargs,
            )
            return attrs.detach().reshape(n)
        masker: Masker | None = getattr(classifier, "masker", None)
        model = getattr(classifier, "model", None)
        if masker is None or model is None or not isinstance(x, torch.Tensor):
            raise ConfigError(
                "space='input' needs a MaskedClassifier with a tensor input (patch or tabular masker)"
            )

        def forward_input(inp: torch.Tensor) -> torch.Tensor:
            return extract_logits(model(inp))

        explainer = method_cls(forward_input)
        inp = x.unsqueeze(0).clone().requires_grad_(cfg.method in _GRADIENT)
        baseline = getattr(masker, "baseline", 0.0)
        base_t = torch.as_tensor(baseline, dtype=x.dtype, device=dev) * torch.ones_like(inp)
        extra: dict[str, Any] = {}
        if cfg.method not in ("saliency", "input_x_gradient"):
            extra["baselines"] = base_t
        if cfg.method not in _GRADIENT:
            fmask = (
                masker.patch_index(dev)
                if hasattr(masker, "patch_index")
                else torch.arange(n, device=dev)
            )
            extra["feature_mask"] = fmask.expand_as(x).unsqueeze(0)
        attrs = explainer.attribute(inp, target=target, **extra, **kwargs).detach()[0]
        if hasattr(masker, "pool"):
            return masker.pool(attrs)
        return attrs.reshape(n)


def explanation_mask(
    explainer: str | Callable[[Any], torch.Tensor],
    classifier: Any,
    x: Any,
    k: int,
    *,
    config: AttributionConfig | None = None,
    target: int | None = None,
    seed: int | torch.Generator | None = 0,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """The binary explanation of ``x`` with ``k`` features, on ``device``.

    Args:
        explainer: ``"random"`` (random baseline), a name from :data:`CAPTUM_METHODS` (Captum),
            or a plain callable ``fn(x) -> attributions`` of shape ``(n_features,)``.
        classifier: the masked classifier (for Captum methods and ``n_features``).
        x: one input.
        k: features in the explanation.
        config: Captum settings (its ``method`` is replaced by ``explainer``).
        target: class to explain (Captum; default the full-input prediction).
        seed: seed of the random baseline.
        device: where the result lives.
    """
    dev = get_device(device)
    n = n_features_of(classifier)
    if isinstance(explainer, str):
        if explainer == "random":
            if n is None:
                raise ConfigError("the random baseline needs a classifier with n_features")
            return random_mask(n, k, generator=seed, device=dev)
        base = config or AttributionConfig()
        cfg = AttributionConfig(
            method=explainer,
            space=base.space,
            n_samples=base.n_samples,
            n_steps=base.n_steps,
            perturbations_per_eval=base.perturbations_per_eval,
            seed=base.seed,
        )
        attrs = captum_attributions(classifier, x, cfg, target=target, device=dev)
    elif callable(explainer):
        attrs = explainer(move_input(x, dev))
        if not isinstance(attrs, torch.Tensor):
            raise DataError(
                f"an explainer callable must return a tensor, got {type(attrs).__name__}"
            )
        if n is not None and attrs.numel() != n:
            raise DataError(
                f"the explainer returned {attrs.numel()} attributions for {n} features "
                f"(shape {tuple(attrs.shape)})"
            )
        attrs = attrs.reshape(-1)
    else:
        raise ConfigError(
            f"explainer must be 'random', a Captum method name or a callable, got {explainer!r}"
        )
    return top_k_mask(attrs, k).to(dev)
