"""GRPO loss, gradients, advantages and KL against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lab.core import ConfigError
from lab.llm import (
    aggregate_loss,
    clipped_surrogate,
    group_advantages,
    grpo_loss,
    kl_k3,
    token_logprobs,
)


def _fixed_batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 5, generator=g, dtype=torch.float64).requires_grad_(True)
    ids = torch.tensor([[1, 4, 0], [2, 2, 3]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    adv = torch.tensor([1.0, -0.5], dtype=torch.float64)
    return logits, ids, mask, adv


def test_grpo_loss_and_gradient_equal_hand_computation():
    logits, ids, mask, adv = _fixed_batch()
    logp = token_logprobs(logits, ids)
    loss, stats = grpo_loss(logp, logp.detach(), adv, mask, loss_type="grpo")
    # ratio = 1: loss = -(1/B) sum_b A_b * mean_t 1 = -(1 - 0.5) / 2
    assert loss.item() == pytest.approx(-0.25, abs=1e-12)
    assert stats.clip_low.item() == 0 and stats.clip_high.item() == 0
    loss.backward()
    L = logits.detach().numpy()
    p = np.exp(L - L.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    onehot = np.eye(5)[ids.numpy()]
    lens = mask.numpy().sum(1)
    expect = -(0.5) * (adv.numpy() / lens)[:, None, None] * mask.numpy()[:, :, None] * (onehot - p)
    np.testing.assert_allclose(logits.grad.numpy(), expect, atol=1e-12)


def test_loss_types_values():
    logits, ids, mask, adv = _fixed_batch()
    logp = token_logprobs(logits, ids).detach()
    per_tok = -adv[:, None] * torch.ones(2, 3, dtype=torch.float64)  # ratio 1
    m = mask.double()
    # bnpo: token-weighted mean = -(2*1 + 3*(-0.5)) / 5
    bnpo, _ = grpo_loss(logp, logp, adv, mask, loss_type="bnpo")
    assert bnpo.item() == pytest.approx(-(2 - 1.5) / 5)
    dr, _ = grpo_loss(logp, logp, adv, mask, loss_type="dr_grpo", max_completion_length=4)
    assert dr.item() == pytest.approx(-(2 - 1.5) / (2 * 4))
    assert aggregate_loss(per_tok, m, "grpo").item() == pytest.approx(-0.25)
    with pytest.raises(ConfigError, match="max_completion_length"):
        aggregate_loss(per_tok, m, "dr_grpo")
    with pytest.raises(ConfigError, match="unknown loss_type"):
        aggregate_loss(per_tok, m, "ppo")


def test_clipping_values_and_gradients():
    eps = 0.2
    old = torch.zeros(1, 4, dtype=torch.float64)
    # ratios 1.5 (A>0: clipped), 0.5 (A>0: not clipped, min picks ratio), 1.5 (A<0: not clipped),
    # 0.5 (A<0: clipped at 0.8)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.5, 0.5]], dtype=torch.float64)).requires_grad_(True)
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]], dtype=torch.float64)
    mask = torch.ones(1, 4)
    per_tok, st = clipped_surrogate(logp, old, adv, mask, epsilon_low=eps)
    expect = [-1.2, -0.5, 1.5, 0.8]
    np.testing.assert_allclose(per_tok.detach().numpy()[0], expect, atol=1e-12)
    per_tok.sum().backward()
    # d/dlogp (-ratio*A) = -ratio*A where unclipped, 0 where clipped
    np.testing.assert_allclose(logp.grad.numpy()[0], [0.0, -0.5, 1.5, 0.0], atol=1e-12)
    assert st.clip_high.item() == pytest.approx(0.25) and st.clip_low.item() == pytest.approx(0.25)
    # asymmetric range: eps_high = 0.6 leaves ratio 1.5 unclipped
    per_tok2, st2 = clipped_surrogate(
        logp.detach(), old, adv, mask, epsilon_low=eps, epsilon_high=0.6
    )
    assert per_tok2[0, 0].item() == pytest.approx(-1.5) and st2.clip_high.item() == 0


def test_kl_term():
    logp = torch.tensor([[-1.0, -2.0]], dtype=torch.float64, requires_grad=True)
    ref = torch.tensor([[-1.0, -1.5]], dtype=torch.float64)
    k = kl_k3(logp, ref)
    assert k[0, 0].item() == 0.0
    assert k[0, 1].item() == pytest.approx(math.exp(0.5) - 0.5 - 1)
    adv = torch.zeros(1, dtype=torch.float64)
    per_tok, st = clipped_surrogate(
        logp, logp.detach(), adv, torch.ones(1, 2), beta=0.1, ref_logp=ref
    )
    per_tok.sum().backward()
    np.testing.assert_allclose(logp.grad.numpy()[0], [0.0, 0.1 * (1 - math.exp(0.5))], atol=1e-12)
    assert st.kl.item() == pytest.approx((math.exp(0.5) - 1.5) / 2)
    with pytest.raises(ConfigError, match="ref_logp"):
        clipped_surrogate(logp, logp, adv, torch.ones(1, 2), beta=0.1)


def test_group_advantages_known_values():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.5, 0.5]], dtype=torch.float64)
    a = group_advantages(r)
    s = math.sqrt(1 / 3)
    np.testing.assert_allclose(a[0].numpy(), np.array([0.5, -0.5, -0.5, 0.5]) / (s + 1e-4))
    assert (a[1] == 0).all(), "zero-variance group gives zero advantages"
    np.testing.assert_allclose(group_advantages(r, scale="none")[0].numpy(), [0.5, -0.5, -0.5, 0.5])
    b = group_advantages(r, scale="batch")
    np.testing.assert_allclose(
        b[0].numpy(), np.array([0.5, -0.5, -0.5, 0.5]) / (r.flatten().std().item() + 1e-4)
    )
    # ragged groups: entries past the count are ignored
    rag = group_advantages(torch.tensor([[2.0, 0.0, 99.0]]), counts=torch.tensor([2]))
    np.testing.assert_allclose(
        rag[0].numpy(), [1 / (math.sqrt(2) + 1e-4), -1 / (math.sqrt(2) + 1e-4), 0.0]
    )
    # invariance: shifting rewards does not change advantages
    np.testing.assert_allclose(group_advantages(r + 7.0).numpy(), a.numpy(), atol=1e-9)


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo"])
def test_micro_batches_accumulate_to_full_batch_gradient(loss_type):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 5, 6, generator=g, dtype=torch.float64).requires_grad_(True)
    ids = torch.randint(6, (4, 5), generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 1, 1, 0]])
    adv = torch.tensor([1.0, -1.0, 0.5, 2.0], dtype=torch.float64)
    logp = token_logprobs(logits, ids)
    full, _ = grpo_loss(
        logp, logp.detach() + 0.1, adv, mask, loss_type=loss_type, max_completion_length=5
    )
    (gfull,) = torch.autograd.grad(full, logits)
    total = 0.0
    for sl in (slice(0, 1), slice(1, 4)):
        lp = token_logprobs(logits[sl], ids[sl])
        pt, _ = clipped_surrogate(lp, lp.detach() + 0.1, adv[sl], mask[sl])
        total = total + aggregate_loss(
            pt,
            mask[sl],
            loss_type,
            max_completion_length=5,
            num_sequences=4,
            num_tokens=int(mask.sum()),
        )
    (gacc,) = torch.autograd.grad(total, logits)
    assert total.item() == pytest.approx(full.item())
    torch.testing.assert_close(gacc, gfull)
