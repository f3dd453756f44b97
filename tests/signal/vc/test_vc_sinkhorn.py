"""Sinkhorn divergence: agreement with POT, gradients, basic properties."""

import numpy as np
import ot
import pytest
import torch

from lab.core import ConfigError, DataError
from lab.signal.vc import entropic_ot, ot_loss, sinkhorn_divergence

torch.set_num_threads(1)


@pytest.mark.parametrize("seed", [0, 2])
def test_transport_value_matches_pot(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((30, 3))
    y = rng.standard_normal((25, 3)) + 0.7
    eps = 1.0
    ours = sinkhorn_divergence(
        torch.tensor(x), torch.tensor(y), epsilon=eps, n_iters=2000, value="transport"
    )
    ref = ot.bregman.empirical_sinkhorn_divergence(
        x, y, eps, metric="sqeuclidean", numIterMax=20000, stopThr=1e-10, method="sinkhorn_log"
    )
    assert float(ours) == pytest.approx(float(ref), rel=1e-6, abs=1e-9)


def test_entropic_value_matches_pot_plan():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20, 2))
    y = rng.standard_normal((15, 2)) * 1.5
    eps = 0.3
    a, b = np.full(20, 1 / 20), np.full(15, 1 / 15)
    cost = ot.dist(x, y, metric="sqeuclidean")
    plan = ot.sinkhorn(a, b, cost, eps, method="sinkhorn_log", numItermax=5000, stopThr=1e-13)
    kl = np.sum(plan * np.log(plan / np.outer(a, b)))
    ref = np.sum(plan * cost) + eps * kl
    ours = entropic_ot(torch.tensor(x), torch.tensor(y), eps, 2000, "entropic")
    assert float(ours) == pytest.approx(ref, rel=1e-7)


def test_divergence_properties():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 4, generator=g, dtype=torch.float64)
    assert float(sinkhorn_divergence(x, x)) == pytest.approx(0.0, abs=1e-10)
    vals = [float(sinkhorn_divergence(x, x + s)) for s in (0.5, 1.0, 2.0)]
    assert 0 < vals[0] < vals[1] < vals[2]
    # debiasing: large-shift divergence approaches the squared mean shift |t|^2 * dims
    assert vals[2] == pytest.approx(4.0 * 4, rel=0.05)


def test_gradcheck():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 2, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    for value in ("entropic", "transport"):
        assert torch.autograd.gradcheck(
            lambda a, b, v=value: sinkhorn_divergence(a, b, epsilon=0.5, n_iters=20, value=v),
            (x, y),
        )


def test_ot_loss_on_mel_batches_and_errors():
    g = torch.Generator().manual_seed(2)
    fake = torch.randn(2, 8, 10, generator=g, requires_grad=True)
    real = torch.randn(2, 8, 10, generator=g) + 1.0
    loss = ot_loss(fake, real, max_points=12, generator=g)
    loss.backward()
    assert loss.item() > 0 and fake.grad is not None and torch.isfinite(fake.grad).all()
    with pytest.raises(DataError, match="dimensions differ"):
        sinkhorn_divergence(torch.randn(3, 2), torch.randn(3, 4))
    with pytest.raises(ConfigError, match="epsilon"):
        sinkhorn_divergence(torch.randn(3, 2), torch.randn(3, 2), epsilon=0.0)
    with pytest.raises(DataError, match="NaN"):
        sinkhorn_divergence(torch.full((3, 2), float("nan")), torch.randn(3, 2))
