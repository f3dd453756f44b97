"""MKDPINN (Wang, Liu, Lv, Liu, 2025): physics-informed RUL prediction with hidden physics.

Three parts:

- :class:`HiddenStateMapper` (HSM): a sensor window ``x`` (window x features) to a
  low-dimensional hidden state ``h`` (Transformer encoder over the window's cycles, mean pooling,
  linear head; 64 dims in the official code).
- :class:`RULPredictor`: ``u = MLP([h, t])`` with tanh layers and the code's adaptive weight
  coefficients (the last layer's output times a learnable vector initialised near 100, summed).
- :class:`PhysicsGuidedRegulator` (PGR): a *per-sample* network ``N(h, u, du/dh, d2u/dh2)``
  that learns the unknown degradation dynamics; the PDE residual ``f = u_t - N(...)`` (all
  derivatives by autograd, see :func:`pde_residual`) is driven to zero (DeepHPM-style hidden
  physics). Loss = ``MSE(u, RUL) + physics_weight * MSE(f, 0)``.

``MKDPINNConfig.physics="known"`` (OURS, not the paper's) replaces the learned PGR by the known
dynamics of the piecewise-linear label: one cycle later the remaining life is one cycle shorter
below the cap and unchanged on the plateau, so the residual is
``f = du/dcycle + 1`` where the label is below the cap and ``f = du/dcycle`` on it
(:func:`known_rul_residual`; ``du/dcycle = time_scale * du/dt`` by autograd at fixed ``h``).

The official PGR attends across the samples of a batch (so a prediction depends on its batch
mates); ours is per sample, as the paper's equation is. The official HSM applies its encoder
across the embedding dimension (it permutes time and features, which only type-checks because
both are 15); ours attends over the window's cycles. Both are noted in docs/signal.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from lab.core import ConfigError

__all__ = [
    "MKDPINN",
    "HiddenStateMapper",
    "MKDPINNConfig",
    "PhysicsGuidedRegulator",
    "RULPredictor",
    "known_rul_residual",
    "pde_residual",
]


@dataclass(frozen=True)
class MKDPINNConfig:
    """Sizes and loss of :class:`MKDPINN` (defaults: the official code's where it has them).

    Attributes:
        n_features: sensors per cycle (14 in the paper).
        window: cycles per window (15 in the paper's code).
        hidden_dim: size of the hidden state h (64 in the code).
        d_model, n_heads, ff_dim, n_layers, dropout: the HSM's Transformer encoder
            (code: 2 layers, feed-forward 128, dropout 0.1; d_model/heads are OURS because the
            code's 15/3 belong to its permuted layout).
        predictor_widths: hidden widths of u's tanh MLP (code: 10, 10, 10).
        n_awc: number of adaptive weight coefficients (code: 8, initialised ~100).
        pgr_width: hidden width of the per-sample PGR (OURS; the code uses the input width).
        derivative_order: highest derivative of u w.r.t. h fed to the PGR (code: 2).
        second_derivative: ``"hessian_rowsum"`` (the code: the gradient of ``sum_j du/dh_j``,
            i.e. ``H @ 1``, one backward pass) or ``"diagonal"`` (``d2u/dh_j2``, one backward
            pass per hidden dimension; exact but slower). Also used for orders above 2.
        physics_weight: weight of ``MSE(f, 0)`` (paper: 1; 0 gives the no-physics ablation).
        physics: ``"hidden"`` (the paper: the PGR learns ``u_t = N(h, u, du/dh, ...)``) or
            ``"known"`` (OURS: the label's own dynamics, ``du/dcycle = -1`` below ``rul_cap`` and
            0 on the plateau; see :func:`known_rul_residual`; the PGR is then unused).
        time_scale: cycles-to-``t`` factor of the data (``CMAPSSConfig.time_scale``); only the
            known residual uses it (``du/dcycle = time_scale * du/dt``).
        rul_cap: the label cap (``CMAPSSConfig.rul_cap``; None: no plateau); known residual only.
    """

    n_features: int = 14
    window: int = 15
    hidden_dim: int = 64
    d_model: int = 32
    n_heads: int = 4
    ff_dim: int = 128
    n_layers: int = 2
    dropout: float = 0.1
    predictor_widths: tuple[int, ...] = (10, 10, 10)
    n_awc: int = 8
    pgr_width: int = 64
    derivative_order: int = 2
    second_derivative: Literal["hessian_rowsum", "diagonal"] = "hessian_rowsum"
    physics_weight: float = 1.0
    physics: Literal["hidden", "known"] = "hidden"
    time_scale: float = 0.01
    rul_cap: float | None = 125.0

    def __post_init__(self) -> None:
        for name in (
            "n_features",
            "window",
            "hidden_dim",
            "d_model",
            "n_heads",
            "ff_dim",
            "n_layers",
            "n_awc",
            "pgr_width",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.derivative_order < 0:
            raise ConfigError(f"derivative_order must be >= 0, got {self.derivative_order}")
        if self.physics_weight < 0:
            raise ConfigError(f"physics_weight must be >= 0, got {self.physics_weight}")
        if self.physics not in ("hidden", "known"):
            raise ConfigError(f"physics must be 'hidden' or 'known', got {self.physics!r}")
        if self.time_scale <= 0:
            raise ConfigError(f"time_scale must be positive, got {self.time_scale}")
        if self.rul_cap is not None and self.rul_cap <= 0:
            raise ConfigError(f"rul_cap must be positive or None, got {self.rul_cap}")
        if any(w < 1 for w in self.predictor_widths):
            raise ConfigError(f"predictor_widths must be positive, got {self.predictor_widths}")


class HiddenStateMapper(nn.Module):
    """HSM: ``(batch, window, features) -> (batch, hidden_dim)``."""

    def __init__(self, cfg: MKDPINNConfig):
        super().__init__()
        self.embed = nn.Linear(cfg.n_features, cfg.d_model)
        self.pos = nn.Parameter(torch.zeros(1, cfg.window, cfg.d_model))
        layer = nn.TransformerEncoderLayer(
            cfg.d_model, cfg.n_heads, cfg.ff_dim, cfg.dropout, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.head = nn.Linear(cfg.d_model, cfg.hidden_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.embed(x) + self.pos[:, : x.shape[1]]
        z = self.encoder(z)
        return self.head(z.mean(dim=1))


class RULPredictor(nn.Module):
    """``u(h, t)``: tanh MLP on ``[h, t]`` times adaptive weight coefficients (summed)."""

    def __init__(self, cfg: MKDPINNConfig):
        super().__init__()
        layers: list[nn.Module] = []
        width = cfg.hidden_dim + 1
        for w in cfg.predictor_widths:
            layers += [nn.Linear(width, w), nn.Tanh()]
            width = w
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)
        self.awc = nn.Parameter(torch.randn(cfg.n_awc) * 0.01 + 100.0)

    def forward(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        z = self.mlp(torch.cat([h, t.reshape(-1, 1)], dim=1))
        return (z * self.awc).sum(dim=1)


class PhysicsGuidedRegulator(nn.Module):
    """PGR: per-sample ``N(h, u, du/dh, ...) -> u_t`` (layer norm, residual block, linear)."""

    def __init__(self, in_dim: int, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.inp = nn.Linear(in_dim, width)
        self.hidden = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)
        self.act = nn.Tanh()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        a = self.act(self.inp(self.norm(z)))
        a = self.act(self.hidden(a) + a)
        return self.out(a).squeeze(-1)


def pde_residual(
    u_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    n_fn: Callable[[torch.Tensor], torch.Tensor],
    h: torch.Tensor,
    t: torch.Tensor,
    *,
    order: int = 2,
    second_derivative: Literal["hessian_rowsum", "diagonal"] = "hessian_rowsum",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``f = u_t - N(h, u, du/dh, d2u/dh2, ...)`` with every derivative by autograd.

    Args:
        u_fn: ``u(h, t) -> (batch,)``.
        n_fn: ``N(z) -> (batch,)`` where ``z = [h, u, du/dh, d2u/dh2, ...]`` (per sample).
        h: ``(batch, d)`` hidden states (may be the output of an encoder; kept in the graph).
        t: ``(batch,)`` times.
        order: highest derivative of u w.r.t. h in z.
        second_derivative: for orders >= 2, ``"hessian_rowsum"`` differentiates
            ``sum_j d^{k-1}u/dh_j^{k-1}`` (the official code; for k = 2 this is ``H @ 1``) and
            ``"diagonal"`` takes ``d^k u / dh_j^k`` for each j.

    Returns:
        (f, u), each of shape ``(batch,)``; both stay differentiable w.r.t. parameters.
    """
    if not h.requires_grad:
        h = h.detach().requires_grad_(True)
    t = t.reshape(-1)
    if not t.requires_grad:
        t = t.detach().requires_grad_(True)
    u = u_fn(h, t)
    ones = torch.ones_like(u)
    u_t = torch.autograd.grad(u, t, grad_outputs=ones, create_graph=True)[0]
    derivs = [u.reshape(-1, 1)]
    if order >= 1:
        du = torch.autograd.grad(u, h, grad_outputs=ones, create_graph=True)[0]
        derivs.append(du)
        prev = du
        for _ in range(2, order + 1):
            if second_derivative == "hessian_rowsum":
                nxt = torch.autograd.grad(
                    prev, h, grad_outputs=torch.ones_like(prev), create_graph=True
                )[0]
            elif second_derivative == "diagonal":
                cols = [
                    torch.autograd.grad(
                        prev[:, j], h, grad_outputs=torch.ones_like(prev[:, j]), create_graph=True
                    )[0][:, j]
                    for j in range(h.shape[1])
                ]
                nxt = torch.stack(cols, dim=1)
            else:
                raise ConfigError(f"unknown second_derivative {second_derivative!r}")
            derivs.append(nxt)
            prev = nxt
    z = torch.cat([h, *derivs], dim=1)
    return u_t.reshape(-1) - n_fn(z).reshape(-1), u


def known_rul_residual(
    u_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    h: torch.Tensor,
    t: torch.Tensor,
    y: torch.Tensor,
    *,
    time_scale: float,
    rul_cap: float | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Residual of the label's known dynamics, ``f = du/dcycle - g(y)`` (OURS, not the paper's).

    ``g = -1`` where the label ``y`` is below ``rul_cap`` (the linear part of the piecewise
    RUL: one cycle later, one cycle less) and ``g = 0`` on the plateau ``y >= rul_cap``;
    ``du/dcycle = time_scale * du/dt`` at fixed ``h`` by autograd (``t = cycle * time_scale``).

    Returns:
        (f, u), each of shape ``(batch,)``; both differentiable w.r.t. parameters.
    """
    t = t.reshape(-1)
    if not t.requires_grad:
        t = t.detach().requires_grad_(True)
    u = u_fn(h, t)
    u_t = torch.autograd.grad(u, t, grad_outputs=torch.ones_like(u), create_graph=True)[0]
    target = -torch.ones_like(u)
    if rul_cap is not None:
        target = torch.where(y.reshape(-1) >= rul_cap, torch.zeros_like(u), target)
    return time_scale * u_t.reshape(-1) - target, u


class MKDPINN(nn.Module):
    """The full model: ``x -> h = HSM(x)``, ``u = predictor(h, t)``, PGR residual in the loss.

    ``forward(x, t)`` returns the RUL prediction ``(batch,)``; :meth:`loss` returns the total
    loss and its parts (``"data"``, ``"physics"``).
    """

    def __init__(self, config: MKDPINNConfig | None = None):
        super().__init__()
        self.config = config or MKDPINNConfig()
        c = self.config
        self.hsm = HiddenStateMapper(c)
        self.predictor = RULPredictor(c)
        pgr_in = c.hidden_dim + 1 + c.derivative_order * c.hidden_dim
        self.pgr = PhysicsGuidedRegulator(pgr_in, c.pgr_width)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.predictor(self.hsm(x), t)

    def residual(self, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(PDE residual f, prediction u) for a batch."""
        h = self.hsm(x)
        return pde_residual(
            self.predictor,
            self.pgr,
            h,
            t,
            order=self.config.derivative_order,
            second_derivative=self.config.second_derivative,
        )

    def loss(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``MSE(u, y) + physics_weight * MSE(f, 0)`` and its parts as floats.

        ``f`` is the learned-PDE residual (:meth:`residual`) for ``physics="hidden"`` and the
        known-dynamics residual (:func:`known_rul_residual`) for ``physics="known"``.
        """
        c = self.config
        if c.physics_weight == 0.0:
            u = self(x, t)
            data = torch.mean((u - y) ** 2)
            return data, {"data": float(data.detach()), "physics": 0.0}
        with torch.enable_grad():
            if c.physics == "known":
                f, u = known_rul_residual(
                    self.predictor,
                    self.hsm(x),
                    t,
                    y,
                    time_scale=c.time_scale,
                    rul_cap=c.rul_cap,
                )
            else:
                f, u = self.residual(x, t)
            data = torch.mean((u - y) ** 2)
            phys = torch.mean(f**2)
        return data + c.physics_weight * phys, {
            "data": float(data.detach()),
            "physics": float(phys.detach()),
        }
