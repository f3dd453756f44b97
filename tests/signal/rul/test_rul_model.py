import pytest
import torch

from lab.core import ConfigError
from lab.core.testing import device_params
from lab.signal.rul import MKDPINN, MKDPINNConfig, pde_residual

SMALL = MKDPINNConfig(
    n_features=3,
    window=6,
    hidden_dim=4,
    d_model=8,
    n_heads=2,
    ff_dim=16,
    n_layers=1,
    pgr_width=8,
    dropout=0.0,
)


def _analytic(h, t):
    # u = t^2 (sum_j h_j)^2: du/dt = 2 t S^2, du/dh_j = 2 t^2 S, d2u/dh_i dh_j = 2 t^2
    s = h.sum(dim=1)
    return t**2 * s**2


def test_pde_residual_of_analytic_u_equals_hand_derivatives():
    torch.manual_seed(0)
    h = torch.randn(5, 3, dtype=torch.float64)
    t = torch.rand(5, dtype=torch.float64) + 0.5
    w = torch.randn(1 + 3 + 3 + 3, dtype=torch.float64)

    def n_fn(z):
        return z @ w

    s = h.sum(dim=1)
    u = t**2 * s**2
    u_t = 2 * t * s**2
    du = (2 * t**2 * s)[:, None].expand(5, 3)
    for mode, d2 in (("hessian_rowsum", 2 * t**2 * 3), ("diagonal", 2 * t**2)):
        d2u = d2[:, None].expand(5, 3)
        z = torch.cat([h, u[:, None], du, d2u], dim=1)
        f, u_out = pde_residual(_analytic, n_fn, h, t, order=2, second_derivative=mode)
        torch.testing.assert_close(u_out, u)
        torch.testing.assert_close(f, u_t - z @ w)


def test_pde_residual_orders_and_gradients_reach_parameters():
    torch.manual_seed(0)
    model = MKDPINN(SMALL)
    x = torch.randn(7, 6, 3)
    t = torch.rand(7)
    f, u = model.residual(x, t)
    assert f.shape == (7,) and u.shape == (7,)
    (f**2).mean().backward()
    assert model.pgr.out.weight.grad is not None and model.pgr.out.weight.grad.abs().sum() > 0
    assert model.hsm.embed.weight.grad is not None
    with pytest.raises(ConfigError):
        MKDPINNConfig(d_model=10, n_heads=4)


def test_loss_parts_and_no_physics_ablation():
    torch.manual_seed(0)
    model = MKDPINN(SMALL)
    x, t, y = torch.randn(9, 6, 3), torch.rand(9), torch.rand(9) * 100
    loss, parts = model.loss(x, t, y)
    u = model(x, t)
    f, _ = model.residual(x, t)
    assert parts["data"] == pytest.approx(float(((u - y) ** 2).mean().detach()), rel=1e-5)
    assert parts["physics"] == pytest.approx(float((f**2).mean().detach()), rel=1e-5)
    assert loss.item() == pytest.approx(parts["data"] + parts["physics"], rel=1e-5)
    torch.manual_seed(0)
    ablated = MKDPINN(MKDPINNConfig(**{**SMALL.__dict__, "physics_weight": 0.0}))
    loss0, parts0 = ablated.loss(x, t, y)
    assert parts0["physics"] == 0.0 and loss0.item() == pytest.approx(parts["data"], rel=1e-5)


def test_predictions_are_per_sample():
    # the official PGR attends across a batch; ours (and the HSM) must not mix samples
    torch.manual_seed(0)
    model = MKDPINN(SMALL).eval()
    x, t = torch.randn(8, 6, 3), torch.rand(8)
    full = model(x, t)
    part = model(x[:3], t[:3])
    torch.testing.assert_close(full[:3], part, rtol=1e-5, atol=1e-4)
    f_full, _ = model.residual(x, t)
    f_part, _ = model.residual(x[:3], t[:3])
    torch.testing.assert_close(f_full[:3], f_part, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("device", device_params)
def test_model_runs_on_device(device):
    model = MKDPINN(SMALL).to(device)
    x, t, y = (
        torch.randn(4, 6, 3, device=device),
        torch.rand(4, device=device),
        torch.rand(4, device=device),
    )
    loss, _ = model.loss(x, t, y)
    loss.backward()
    assert loss.device.type == device
