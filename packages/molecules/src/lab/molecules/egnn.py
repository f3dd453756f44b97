"""E(n)-equivariant graph network (Satorras et al., 2021) as the control ``u(t, x)``.

The architecture follows the EGNN used by the DEM / Adjoint Sampling particle benchmarks:
fully connected graph, edge MLP on ``[h_i, h_j, |x_i - x_j|^2, |x_i^0 - x_j^0|^2]`` with SiLU,
optional attention (a sigmoid gate on each message), residual node updates, and coordinate
updates ``x_i += agg_j (x_i - x_j) / (|x_i - x_j| + 1) * phi_x(m_ij)`` whose last linear layer is
initialised near zero (xavier, gain 1e-3) and bounded by ``tanh * coords_range``. Time is the
node feature. The output is ``x_L - x_0`` with the centre of mass removed, so the network is
equivariant to rotations, reflections, translations (the output is invariant to them: it is
a displacement) and permutations of the particles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from lab.core import ConfigError

from ._geometry import check_coordinates

__all__ = ["EGNN", "EGNNConfig", "EquivariantStack"]


@dataclass(frozen=True)
class EGNNConfig:
    """Configuration of :class:`EGNN`.

    Attributes:
        hidden: width of node features and messages (paper: 128).
        n_layers: number of equivariant layers (paper: 5).
        attention: gate each message with ``sigmoid(Linear(m_ij))`` (paper: on).
        tanh: bound coordinate updates with ``coords_range * tanh`` (paper: on).
        coords_range: bound of each message's coordinate weight (DEM/AS code: 15).
        aggregation: ``mean`` over the ``n-1`` neighbours (OURS: keeps update sizes independent
            of the particle count) or ``sum`` (the EGNN paper).
        out_gain: xavier gain of the last coordinate layer (near-zero initial control).
    """

    hidden: int = 128
    n_layers: int = 5
    attention: bool = True
    tanh: bool = True
    coords_range: float = 15.0
    aggregation: Literal["mean", "sum"] = "mean"
    out_gain: float = 1e-3

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.n_layers < 1:
            raise ConfigError(
                f"EGNN hidden and n_layers must be >= 1, got {self.hidden}, {self.n_layers}"
            )
        if self.aggregation not in ("mean", "sum"):
            raise ConfigError(f"EGNN aggregation must be 'mean' or 'sum', got {self.aggregation!r}")
        if not self.coords_range > 0:
            raise ConfigError(f"EGNN coords_range must be positive, got {self.coords_range!r}")


class _EquivariantLayer(nn.Module):
    def __init__(self, hidden: int, cfg: EGNNConfig, update_nodes: bool = True):
        super().__init__()
        act = nn.SiLU
        self.cfg = cfg
        self.edge_mlp = nn.Sequential(
            nn.Linear(2 * hidden + 2, hidden), act(), nn.Linear(hidden, hidden), act()
        )
        self.att = nn.Linear(hidden, 1) if cfg.attention else None
        # the last layer's node features would feed nothing (the output is the displacement)
        self.node_mlp = (
            nn.Sequential(nn.Linear(2 * hidden, hidden), act(), nn.Linear(hidden, hidden))
            if update_nodes
            else None
        )
        last = nn.Linear(hidden, 1, bias=False)
        nn.init.xavier_uniform_(last.weight, gain=cfg.out_gain)
        self.coord_mlp = nn.Sequential(nn.Linear(hidden, hidden), act(), last)

    def forward(
        self, h: Tensor, x: Tensor, d0: Tensor, mask: Tensor, norm: float
    ) -> tuple[Tensor, Tensor]:
        # h [B, n, H], x [B, n, d], d0 [B, n, n, 1] initial squared distances, mask [n, n, 1]
        n = h.shape[1]
        diff = x.unsqueeze(2) - x.unsqueeze(1)  # x_i - x_j
        radial = diff.pow(2).sum(-1, keepdim=True)
        hi = h.unsqueeze(2).expand(-1, -1, n, -1)
        hj = h.unsqueeze(1).expand(-1, n, -1, -1)
        m = self.edge_mlp(torch.cat([hi, hj, radial, d0], dim=-1))
        if self.att is not None:
            m = m * torch.sigmoid(self.att(m))
        m = m * mask
        # coordinates: normalised direction, bounded weight
        w = self.coord_mlp(m)
        if self.cfg.tanh:
            w = torch.tanh(w) * self.cfg.coords_range
        unit = diff / (radial + 1e-8).sqrt().add(1.0)
        x = x + (unit * w * mask).sum(2) / norm
        # nodes: residual update from aggregated messages
        if self.node_mlp is not None:
            agg = m.sum(2) / norm
            h = h + self.node_mlp(torch.cat([h, agg], dim=-1))
        return h, x


class EquivariantStack(nn.Module):
    """The layers of an EGNN without a fixed particle count: a node embedding of
    ``in_features`` per-node inputs and ``config.n_layers`` equivariant layers. Subclasses build
    the node inputs and the per-edge scalar and call :meth:`propagate`."""

    def __init__(self, in_features: int, config: EGNNConfig | None = None):
        super().__init__()
        self.config = cfg = config or EGNNConfig()
        self.embed = nn.Linear(in_features, cfg.hidden)
        self.layers = nn.ModuleList(
            _EquivariantLayer(cfg.hidden, cfg, update_nodes=k < cfg.n_layers - 1)
            for k in range(cfg.n_layers)
        )

    def propagate(self, node_inputs: Tensor, x0: Tensor, edge: Tensor, mask: Tensor) -> Tensor:
        """The centre-of-mass-free displacement ``[B, n, d]`` of ``x0`` ``[B, n, d]`` (centred),
        from node inputs ``[B, n, in_features]``, edge scalars ``[B, n, n, 1]`` and the edge mask
        ``[n, n, 1]`` (1 off the diagonal)."""
        n = x0.shape[1]
        norm = float(n - 1) if self.config.aggregation == "mean" else 1.0
        h = self.embed(node_inputs)
        xl = x0
        for layer in self.layers:
            h, xl = layer(h, xl, edge, mask, norm)
        v = xl - x0
        return v - v.mean(1, keepdim=True)


class EGNN(EquivariantStack):
    """E(n)- and permutation-equivariant control network ``u(t, x)``.

    Args:
        n_particles: particles per configuration.
        dim: spatial dimension.
        config: an :class:`EGNNConfig` (defaults: the paper's 5 layers, hidden 128).

    ``forward(t, x)`` takes times ``[B]`` (or a scalar) and coordinates ``[B, n*d]`` and returns
    a centre-of-mass-free vector field ``[B, n*d]``.
    """

    _mask: Tensor

    def __init__(self, n_particles: int, dim: int, config: EGNNConfig | None = None):
        if n_particles < 2:
            raise ConfigError(f"EGNN needs at least 2 particles, got {n_particles}")
        super().__init__(1, config)
        self.n_particles, self.dim = int(n_particles), int(dim)
        self.register_buffer(
            "_mask", (1.0 - torch.eye(n_particles)).unsqueeze(-1), persistent=False
        )

    def forward(self, t: Tensor | float, x: Tensor) -> Tensor:
        check_coordinates(x, self.n_particles, self.dim)
        b = x.shape[0]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if t.ndim == 0:
            t = t.expand(b)
        if t.shape != (b,):
            raise ConfigError(f"times have shape {tuple(t.shape)}; expected [{b}] or a scalar")
        x0 = x.view(b, self.n_particles, self.dim)
        x0 = x0 - x0.mean(1, keepdim=True)
        d0 = (x0.unsqueeze(2) - x0.unsqueeze(1)).pow(2).sum(-1, keepdim=True)
        nodes = t.view(b, 1, 1).expand(b, self.n_particles, 1)
        v = self.propagate(nodes, x0, d0, self._mask.to(x.dtype))
        return v.reshape(b, self.n_particles * self.dim)
