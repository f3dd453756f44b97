"""Graph-conditioned control network for torsional Adjoint Sampling.

OURS (the paper runs a 12-layer EGNN on the Cartesian coordinates): an E(3)-invariant message
passing network on the atoms the torsions move (heavy atoms by default). Node inputs are the atom
features of :class:`~lab.molecules.conformers.MoleculeGraph` plus Fourier features of ``t``;
edges join every pair of atoms of one molecule with the bond type one-hot and radial basis
functions of the distance in the conformer built from the current torsions. Each torsion's
control is read out from the features of its four atoms, ``sin phi``, ``cos phi`` and ``t``.
Everything the network sees is a ``2 pi``-periodic function of every torsion, so the control is
invariant to the periodicity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lab.core import ConfigError

from .batch import GraphBatch
from .graph import ATOM_TYPES, BOND_TYPES

__all__ = ["TorsionControlNet", "TorsionNetConfig"]

N_ATOM_FEATURES = len(ATOM_TYPES) + 4


@dataclass(frozen=True)
class TorsionNetConfig:
    """Configuration of :class:`TorsionControlNet` (all OURS).

    Attributes:
        hidden: node / message width.
        n_layers: message passing layers.
        n_rbf: radial basis functions of the interatomic distance.
        rbf_max: largest RBF centre (Angstrom).
        time_features: Fourier frequencies of ``t``.
        out_gain: scale of the initial readout weights (near-zero initial control).
        out_scale: fixed factor on the readout (the lean adjoint is clipped at 200 per torsion,
            so the control's natural scale is tens; this spares the optimiser growing it).
    """

    hidden: int = 32
    n_layers: int = 3
    n_rbf: int = 12
    rbf_max: float = 10.0
    time_features: int = 6
    out_gain: float = 1e-2
    out_scale: float = 30.0

    def __post_init__(self) -> None:
        for name in ("hidden", "n_layers", "n_rbf", "time_features"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.rbf_max > 0:
            raise ConfigError(f"rbf_max must be positive, got {self.rbf_max!r}")


class _Layer(nn.Module):
    def __init__(self, hidden: int, n_edge: int):
        super().__init__()
        self.edge = nn.Sequential(
            nn.Linear(2 * hidden + n_edge, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU()
        )
        self.gate = nn.Linear(hidden, 1)
        self.node = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )

    def forward(self, h: Tensor, src: Tensor, dst: Tensor, e: Tensor, deg: Tensor) -> Tensor:
        m = self.edge(torch.cat([h[src], h[dst], e], dim=-1))
        m = m * torch.sigmoid(self.gate(m))
        agg = torch.zeros_like(h).index_add_(0, dst, m) / deg
        return h + self.node(torch.cat([h, agg], dim=-1))


class TorsionControlNet(nn.Module):
    """``u(t, phi | graph)``: one control value per torsion of every molecule in a batch.

    ``forward(t, phi, batch)`` takes times ``[n_samples]``, flat torsions ``[n_torsions_total]``
    and a :class:`~lab.molecules.conformers.batch.GraphBatch`; returns ``[n_torsions_total]``.
    """

    def __init__(self, config: TorsionNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or TorsionNetConfig()
        h = cfg.hidden
        n_time = 2 * cfg.time_features
        self.freqs: Tensor
        self.centres: Tensor
        self.register_buffer(
            "freqs", math.pi * 2.0 ** torch.arange(cfg.time_features, dtype=torch.float32) / 2
        )
        self.register_buffer("centres", torch.linspace(0.0, cfg.rbf_max, cfg.n_rbf))
        self.rbf_width = cfg.rbf_max / cfg.n_rbf
        self.atom_in = nn.Linear(N_ATOM_FEATURES, h)
        self.time_in = nn.Sequential(nn.Linear(n_time, h), nn.SiLU(), nn.Linear(h, h))
        n_edge = len(BOND_TYPES) + cfg.n_rbf
        self.layers = nn.ModuleList(_Layer(h, n_edge) for _ in range(cfg.n_layers))
        last = nn.Linear(h, 1)
        nn.init.xavier_uniform_(last.weight, gain=cfg.out_gain)
        nn.init.zeros_(last.bias)
        self.readout = nn.Sequential(
            nn.Linear(4 * h + 2 + n_time, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), last
        )

    def time_embedding(self, t: Tensor) -> Tensor:
        arg = t.unsqueeze(-1) * self.freqs
        return torch.cat([arg.sin(), arg.cos()], dim=-1)

    def forward(self, t: Tensor, phi: Tensor, batch: GraphBatch) -> Tensor:
        dtype = self.atom_in.weight.dtype
        t = torch.as_tensor(t, dtype=dtype, device=phi.device)
        if t.ndim == 0:
            t = t.expand(batch.n_samples)
        if t.shape != (batch.n_samples,):
            raise ConfigError(f"times must be [{batch.n_samples}], got {tuple(t.shape)}")
        if phi.shape != (batch.n_torsions,):
            raise ConfigError(f"torsions must be [{batch.n_torsions}], got {tuple(phi.shape)}")
        with torch.no_grad():
            pos = batch.network_positions(phi.detach().double()).to(dtype)
        d = (pos[batch.src] - pos[batch.dst]).norm(dim=-1, keepdim=True)
        rbf = torch.exp(-0.5 * ((d - self.centres) / self.rbf_width) ** 2)
        onehot = nn.functional.one_hot(batch.edge_type, len(BOND_TYPES)).to(dtype)
        e = torch.cat([onehot, rbf], dim=-1)
        temb = self.time_embedding(t)
        h = self.atom_in(batch.atom_features.to(dtype)) + self.time_in(temb)[batch.node_sample]
        deg = (
            torch.zeros(h.shape[0], 1, dtype=dtype, device=h.device)
            .index_add_(
                0, batch.dst, torch.ones(batch.dst.shape[0], 1, dtype=dtype, device=h.device)
            )
            .clamp_min(1.0)
        )
        for layer in self.layers:
            h = layer(h, batch.src, batch.dst, e, deg)
        tn = batch.torsion_nodes
        p = phi.to(dtype)
        z = torch.cat(
            [
                h[tn[:, 0]],
                h[tn[:, 1]],
                h[tn[:, 2]],
                h[tn[:, 3]],
                p.sin().unsqueeze(-1),
                p.cos().unsqueeze(-1),
                temb[batch.torsion_sample],
            ],
            dim=-1,
        )
        return (self.config.out_scale * self.readout(z)).squeeze(-1).to(phi.dtype)
