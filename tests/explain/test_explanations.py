"""Top-k masks, random masks, plain callables and Captum attributions (when installed)."""

import importlib.util

import pytest
import torch

from lab.core import ConfigError, DataError
from lab.explain import (
    AttributionConfig,
    MaskedClassifier,
    PatchMasker,
    TabularMasker,
    captum_attributions,
    explanation_mask,
    k_from_fraction,
    random_mask,
    top_k_mask,
)


def test_top_k_mask_picks_largest_and_breaks_ties_by_index():
    a = torch.tensor([0.1, 3.0, -2.0, 3.0, 0.5])
    assert top_k_mask(a, 2).tolist() == [0, 1, 0, 1, 0]
    assert top_k_mask(a, 3).tolist() == [0, 1, 0, 1, 1]
    assert top_k_mask(torch.zeros(4), 2).tolist() == [1, 1, 0, 0]
    batch = top_k_mask(torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), 1)
    assert batch.tolist() == [[0, 0, 1], [1, 0, 0]]
    assert top_k_mask(a, 0).sum() == 0 and top_k_mask(a, 5).sum() == 5


def test_top_k_mask_errors():
    with pytest.raises(ConfigError, match="k must be an integer in \\[0, 3\\]"):
        top_k_mask(torch.zeros(3), 4)
    with pytest.raises(DataError, match="NaN"):
        top_k_mask(torch.tensor([1.0, float("nan")]), 1)
    with pytest.raises(DataError, match="shape"):
        top_k_mask(torch.zeros(2, 2, 2), 1)


def test_k_from_fraction_rounds_down_like_the_public_code():
    assert (
        k_from_fraction(196, 0.25) == 49
        and k_from_fraction(16, 0.25) == 4
        and k_from_fraction(10, 0.25) == 2
    )
    with pytest.raises(ConfigError, match="selects no feature"):
        k_from_fraction(3, 0.25)


def test_random_mask_has_k_ones_uniformly():
    masks = torch.stack([random_mask(10, 3, generator=s) for s in range(3000)])
    assert (masks.sum(1) == 3).all()
    freq = masks.float().mean(0)
    assert torch.allclose(freq, torch.full((10,), 0.3), atol=0.04)
    assert torch.equal(random_mask(10, 3, generator=5), random_mask(10, 3, generator=5))


def linear_classifier(w: torch.Tensor) -> MaskedClassifier:
    return MaskedClassifier(
        lambda z: torch.stack([torch.zeros(z.shape[0]), z.float() @ w], 1), TabularMasker(len(w))
    )


def test_plain_callable_explainer_and_its_shape_check():
    w = torch.tensor([0.5, -1.0, 2.0, 1.5])
    g = linear_classifier(w)
    mask = explanation_mask(lambda x: w * x, g, torch.ones(4), 2)
    assert mask.tolist() == [0, 0, 1, 1]
    with pytest.raises(DataError, match="returned 3 attributions for 4 features"):
        explanation_mask(lambda x: torch.zeros(3), g, torch.ones(4), 2)
    with pytest.raises(ConfigError, match="explainer"):
        explanation_mask(42, g, torch.ones(4), 2)
    assert explanation_mask("random", g, torch.ones(4), 2, seed=1).sum() == 2


def test_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown attribution method 'gradcam'"):
        AttributionConfig(method="gradcam")


needs_captum = pytest.mark.skipif(
    importlib.util.find_spec("captum") is None,
    reason="Captum attributions need pip install 'labworks-explain[captum]'",
)


@needs_captum
@pytest.mark.parametrize("method", ["integrated_gradients", "input_x_gradient", "feature_ablation"])
def test_captum_mask_space_recovers_linear_weights_exactly(method):
    w = torch.tensor([0.5, -1.0, 2.0, 1.5, 0.1])
    attrs = captum_attributions(
        linear_classifier(w), torch.ones(5), AttributionConfig(method=method), target=1
    )
    # for f(z) = w.z from baseline 0 to 1 each of these is exactly w
    torch.testing.assert_close(attrs, w, atol=1e-4, rtol=1e-4)


@needs_captum
@pytest.mark.parametrize("method", ["lime", "kernel_shap", "shapley_sampling"])
def test_captum_sampling_methods_rank_linear_weights(method):
    w = torch.tensor([0.2, -1.0, 3.0, 1.5, 0.0, 2.2])
    cfg = AttributionConfig(method=method, n_samples=300 if method != "shapley_sampling" else 20)
    mask = explanation_mask(method, linear_classifier(w), torch.ones(6), 3, config=cfg)
    assert mask.tolist() == [0, 0, 1, 1, 0, 1]


@needs_captum
def test_captum_input_space_pools_pixel_attributions_per_patch():
    torch.manual_seed(0)
    weight = torch.zeros(1, 4, 4)
    weight[0, :2, 2:] = 3.0  # patch 1 matters most
    weight[0, 2:, :2] = 1.0  # then patch 2

    def model(img):
        s = (img * weight).flatten(1).sum(1)
        return torch.stack([torch.zeros_like(s), s], 1)

    g = MaskedClassifier(model, PatchMasker((4, 4), (2, 2)))
    x = torch.ones(1, 4, 4)
    for method in ("integrated_gradients", "feature_ablation", "kernel_shap"):
        cfg = AttributionConfig(method=method, space="input", n_samples=100)
        attrs = captum_attributions(g, x, cfg, target=1)
        assert attrs.shape == (4,)
        assert top_k_mask(attrs, 2).tolist() == [0, 1, 1, 0], method
    ig = captum_attributions(g, x, AttributionConfig(space="input"), target=1)
    torch.testing.assert_close(ig, torch.tensor([0.0, 3.0, 1.0, 0.0]), atol=1e-4, rtol=1e-4)


@needs_captum
def test_captum_default_target_is_full_input_prediction_and_seeded():
    w = torch.tensor([1.0, -2.0, 0.5])
    g = MaskedClassifier(
        lambda z: torch.stack([z.float() @ w, -(z.float() @ w)], 1), TabularMasker(3)
    )
    # full input: score -0.5 -> class 1 predicted; attributions for class 1 are -w
    attrs = captum_attributions(g, torch.ones(3), AttributionConfig())
    torch.testing.assert_close(attrs, -w, atol=1e-4, rtol=1e-4)
    cfg = AttributionConfig(method="lime", n_samples=50, seed=3)
    a1 = captum_attributions(g, torch.ones(3), cfg)
    a2 = captum_attributions(g, torch.ones(3), cfg)
    assert torch.equal(a1, a2)
