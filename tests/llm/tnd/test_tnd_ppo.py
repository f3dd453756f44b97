"""The PPO pieces (shared in lab.llm.policy_gradient) against hand computations."""

import pytest
import torch

from lab.core import ConfigError, DataError
from lab.llm.policy_gradient import (
    clipped_value_loss,
    gae_advantages,
    kl_penalty_rewards,
    masked_mean,
    masked_whiten,
    ppo_loss,
)
from lab.llm.tnd import competence_scores

torch.set_num_threads(1)

MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])


def test_kl_penalty_rewards_put_the_score_on_the_last_token():
    r = kl_penalty_rewards(torch.tensor([2.0, -1.0]), MASK)
    assert torch.equal(r, torch.tensor([[0.0, 0.0, 2.0], [0.0, -1.0, 0.0]]))
    logp = torch.tensor([[-1.0, -2.0, -1.0], [-0.5, -0.5, -9.0]])
    ref = torch.tensor([[-1.5, -1.0, -1.0], [-0.5, -1.5, -9.0]])
    r = kl_penalty_rewards(torch.tensor([2.0, -1.0]), MASK, logp=logp, ref_logp=ref, kl_coef=0.5)
    # -0.5 * (logp - ref) per token, + score on the last real token, 0 on padding
    exp = torch.tensor([[-0.25, 0.5, 2.0], [0.0, -1.0 - 0.5, 0.0]])
    assert torch.allclose(r, exp)
    with pytest.raises(DataError, match="empty completion"):
        kl_penalty_rewards(torch.tensor([1.0]), torch.zeros(1, 3))
    with pytest.raises(ConfigError, match="kl_coef"):
        kl_penalty_rewards(torch.tensor([1.0, 1.0]), MASK, kl_coef=0.1)


def test_gae_matches_hand_computation():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    values = torch.tensor([[0.5, 0.2, 0.4], [0.1, 0.3, 7.0]])  # 7.0 sits on padding: ignored
    gamma, lam = 0.9, 0.8
    adv, ret = gae_advantages(rewards, values, MASK, gamma=gamma, lam=lam, whiten=False)
    # row 0: deltas d2 = 1 - 0.4, d1 = 0 + .9*.4 - .2, d0 = 0 + .9*.2 - .5
    d2, d1, d0 = 0.6, 0.36 - 0.2, 0.18 - 0.5
    a2 = d2
    a1 = d1 + gamma * lam * a2
    a0 = d0 + gamma * lam * a1
    # row 1 (length 2): d1 = 2 - 0.3, d0 = 0 + .9*.3 - .1
    b1 = 1.7
    b0 = (0.27 - 0.1) + gamma * lam * b1
    exp = torch.tensor([[a0, a1, a2], [b0, b1, 0.0]])
    assert torch.allclose(adv, exp, atol=1e-6)
    assert torch.allclose(ret, (exp + values) * MASK, atol=1e-6)
    w, _ = gae_advantages(rewards, values, MASK, gamma=gamma, lam=lam, whiten=True)
    flat = exp[MASK.bool()]
    assert torch.allclose(w[MASK.bool()], (flat - flat.mean()) / flat.std(), atol=1e-4)
    assert w[1, 2] == 0
    with pytest.raises(ConfigError):
        gae_advantages(rewards, values, MASK, gamma=1.5)
    with pytest.raises(DataError, match="shapes"):
        gae_advantages(rewards, values[:, :2], MASK)


def test_masked_mean_and_whiten():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 100.0]])
    assert float(masked_mean(x, MASK)) == pytest.approx(3.0)
    w = masked_whiten(x, MASK)
    assert float(masked_mean(w, MASK)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(DataError):
        masked_whiten(x, torch.tensor([[1.0, 0, 0], [0, 0, 0]]))


def test_value_and_policy_losses_match_hand_computation():
    values = torch.tensor([[0.5, 1.0, -0.2], [0.0, 0.9, 3.0]], requires_grad=True)
    old_v = torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.4, 0.0]])
    ret = torch.tensor([[1.0, 0.0, 0.1], [0.2, 1.0, 0.0]])
    c = 0.2
    vl, frac = clipped_value_loss(values, old_v, ret, MASK, clip_range=c)
    hand = []
    n_clip = 0
    for i in range(2):
        for t in range(3):
            if MASK[i, t] == 0:
                continue
            v, o, r = float(values[i, t].detach()), float(old_v[i, t]), float(ret[i, t])
            vc = o + max(-c, min(c, v - o))
            l1, l2 = (v - r) ** 2, (vc - r) ** 2
            hand.append(max(l1, l2))
            n_clip += l2 > l1
    assert float(vl.detach()) == pytest.approx(0.5 * sum(hand) / len(hand), rel=1e-6)
    assert float(frac) == pytest.approx(n_clip / 5)

    logp = torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.6, 0.1, 0.9]]))
    old = torch.log(torch.tensor([[0.4, 0.3, 0.3], [0.3, 0.2, 0.9]]))
    adv = torch.tensor([[1.0, -1.0, 2.0], [0.5, -2.0, 9.0]])
    loss, st = ppo_loss(logp, old, values, old_v, adv, ret, MASK, cliprange=0.2, vf_coef=0.1)
    pg = []
    for i in range(2):
        for t in range(3):
            if MASK[i, t] == 0:
                continue
            ratio = float(torch.exp(logp[i, t] - old[i, t]))
            a = float(adv[i, t])
            pg.append(max(-a * ratio, -a * min(max(ratio, 0.8), 1.2)))
    exp = sum(pg) / len(pg) + 0.1 * float(vl.detach())
    assert float(loss.detach()) == pytest.approx(exp, rel=1e-6)
    assert float(st["policy_loss"]) == pytest.approx(sum(pg) / len(pg), rel=1e-6)
    loss.backward()
    assert values.grad is not None and values.grad[1, 2] == 0  # padding gets no gradient


def test_competence_score_variants():
    ages = torch.tensor([3.0, 5.0, 8.0])
    assert torch.equal(competence_scores(ages, 5.0, "subtract"), torch.tensor([-2.0, 0.0, 3.0]))
    assert torch.allclose(competence_scores(ages, 4.0, "divide"), torch.tensor([0.75, 1.25, 2.0]))
    assert torch.equal(competence_scores(ages, 5.0, "binary"), torch.tensor([0.0, 0.0, 1.0]))
    b = torch.tensor([1.0, 6.0, 8.0])
    assert torch.equal(competence_scores(ages, b, "subtract"), torch.tensor([2.0, -1.0, 0.0]))
    with pytest.raises(ConfigError, match="unknown score variant"):
        competence_scores(ages, 1.0, "ratio")
    with pytest.raises(DataError, match="zero baseline"):
        competence_scores(ages, 0.0, "divide")
