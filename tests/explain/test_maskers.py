"""Patch, token and tabular maskers and the masked-classifier wrapper."""

import pytest
import torch

from lab.core import ConfigError, DataError
from lab.explain import MaskedClassifier, PatchMasker, TabularMasker, TokenMasker


def test_patch_index_even_and_uneven_grids():
    even = PatchMasker((4, 4), (2, 2)).patch_index()
    assert torch.equal(even, torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]))
    uneven = PatchMasker((5, 3), (2, 2)).patch_index()  # rows 3+2, cols 2+1
    assert torch.equal(
        uneven, torch.tensor([[0, 0, 1], [0, 0, 1], [0, 0, 1], [2, 2, 3], [2, 2, 3]])
    )


def test_patch_masker_zeroes_removed_patches_and_keeps_the_rest():
    m = PatchMasker((4, 4), (2, 2))
    x = torch.arange(2 * 16, dtype=torch.float32).view(2, 4, 4) + 1
    out = m.apply(x, torch.tensor([[1, 0, 0, 1], [0, 0, 0, 0]]))
    assert out.shape == (2, 2, 4, 4)
    assert torch.equal(out[0, :, :2, :2], x[:, :2, :2]) and torch.equal(
        out[0, :, 2:, 2:], x[:, 2:, 2:]
    )
    assert (out[0, :, :2, 2:] == 0).all() and (out[0, :, 2:, :2] == 0).all()
    assert (out[1] == 0).all()
    grey = PatchMasker((4, 4), (2, 2), baseline=0.5).apply(x, torch.tensor([[0, 1, 1, 1]]))
    assert (grey[0, :, :2, :2] == 0.5).all()


def test_patch_pool_averages_each_patch():
    m = PatchMasker((4, 4), (2, 2))
    a = torch.zeros(3, 4, 4)
    a[:, :2, 2:] = 6.0
    a[0, 3, 3] = 12.0
    pooled = m.pool(a)
    assert torch.allclose(pooled, torch.tensor([0.0, 6.0, 0.0, 1.0]))
    with pytest.raises(DataError, match="pixel attributions"):
        m.pool(torch.zeros(5, 5))


def test_patch_masker_rejects_wrong_inputs():
    m = PatchMasker((8, 8), (4, 4))
    with pytest.raises(DataError, match="one image of shape"):
        m.apply(torch.zeros(1, 7, 8), torch.ones(1, 16))
    with pytest.raises(DataError, match=r"shape \(B, 16\)"):
        m.apply(torch.zeros(1, 8, 8), torch.ones(1, 15))
    with pytest.raises(ConfigError, match="more patches than pixels"):
        PatchMasker((4, 4), (5, 1))


def test_token_masker_attention_and_token_modes():
    x = {"input_ids": torch.tensor([5, 6, 7, 8]), "attention_mask": torch.tensor([1, 1, 1, 0])}
    masks = torch.tensor([[1, 0, 1, 1], [0, 0, 0, 1]])
    att = TokenMasker(4).apply(x, masks)
    assert torch.equal(att["input_ids"], torch.tensor([[5, 6, 7, 8]] * 2))
    assert torch.equal(att["attention_mask"], torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0]]))
    tok = TokenMasker(4, mode="token", mask_token_id=99).apply(x, masks)
    assert torch.equal(tok["input_ids"], torch.tensor([[5, 99, 7, 8], [99, 99, 99, 8]]))
    assert torch.equal(tok["attention_mask"], torch.tensor([[1, 1, 1, 0]] * 2))
    soft = TokenMasker(4).apply(x, torch.tensor([[0.5, 1.0, 0.0, 1.0]]))
    assert torch.allclose(soft["attention_mask"], torch.tensor([[0.5, 1.0, 0.0, 0.0]]))
    with pytest.raises(ConfigError, match="mask_token_id"):
        TokenMasker(4, mode="token")
    with pytest.raises(DataError, match="input_ids of shape"):
        TokenMasker(5).apply(x, masks)


def test_tabular_masker_baseline_vector():
    m = TabularMasker(3, baseline=torch.tensor([10.0, 20.0, 30.0]))
    out = m.apply(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([[1, 0, 1], [0, 0, 0]]))
    assert torch.equal(out, torch.tensor([[1.0, 20.0, 3.0], [10.0, 20.0, 30.0]]))
    with pytest.raises(DataError, match="baseline"):
        TabularMasker(3, baseline=torch.zeros(4))


def test_masked_classifier_reads_logits_from_objects_and_dicts():
    class Out:
        def __init__(self, logits):
            self.logits = logits

    g1 = MaskedClassifier(lambda z: Out(torch.stack([z.sum(1), -z.sum(1)], 1)), TabularMasker(3))
    g2 = MaskedClassifier(
        lambda z: {"logits": torch.stack([z.sum(1), -z.sum(1)], 1)}, TabularMasker(3)
    )
    masks = torch.tensor([[1, 1, 0]])
    assert torch.equal(g1(torch.ones(3), masks), torch.tensor([[2.0, -2.0]]))
    assert torch.equal(g2(torch.ones(3), masks), g1(torch.ones(3), masks))
    bad = MaskedClassifier(lambda z: z.sum(1), TabularMasker(3))
    with pytest.raises(DataError, match="logits of shape"):
        bad(torch.ones(3), masks)
