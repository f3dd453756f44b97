"""Packing copies of several molecules into one flat batch (torsions, network graph)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lab.core import ConfigError, get_device

from .graph import MoleculeGraph, torsions_to_coordinates

__all__ = ["GraphBatch"]


@dataclass(frozen=True)
class _NetView:
    atoms: Tensor  # atom indices seen by the network (heavy atoms, or all with hydrogen rotors)
    src: Tensor  # ordered pairs (i != j) among them, in network indexing
    dst: Tensor
    edge_type: Tensor  # index into BOND_TYPES (0 = not bonded)
    torsion_nodes: Tensor  # [n_torsions, 4] a, b, c, d in network indexing


def _net_view(graph: MoleculeGraph) -> _NetView:
    cached = graph._net_view_cache
    if isinstance(cached, _NetView):
        return cached
    if graph.hydrogen_rotors:
        atoms = torch.arange(graph.n_atoms)
    else:
        atoms = graph.heavy if graph.heavy.numel() >= 2 else torch.arange(graph.n_atoms)
    pos = torch.full((graph.n_atoms,), -1, dtype=torch.long)
    pos[atoms] = torch.arange(atoms.numel())
    m = atoms.numel()
    dense = torch.zeros(m, m, dtype=torch.long)
    for (i, j), bt in zip(graph.bond_index.tolist(), graph.bond_type.tolist(), strict=True):
        if pos[i] >= 0 and pos[j] >= 0:
            dense[pos[i], pos[j]] = dense[pos[j], pos[i]] = bt
    src, dst = (~torch.eye(m, dtype=torch.bool)).nonzero(as_tuple=True)
    tors = pos[graph.torsion_atoms] if graph.n_torsions else torch.zeros(0, 4, dtype=torch.long)
    if (tors < 0).any():  # a reference atom is a hydrogen the network does not see
        raise ConfigError(f"torsion reference atoms of {graph.smiles!r} are outside the network")
    view = _NetView(atoms, src, dst, dense[src, dst], tors)
    graph._net_view_cache = view
    return view


class GraphBatch:
    """``copies[m]`` copies of each ``graphs[m]`` packed into flat tensors.

    Torsions of the batch are one flat vector ``[n_torsions_total]``: molecule ``m``'s block is
    its ``[copies[m], n_torsions_m]`` array flattened. The network graph has one node per seen
    atom per copy and all ordered atom pairs within a copy as edges.
    """

    def __init__(
        self,
        graphs: list[MoleculeGraph],
        copies: list[int] | int,
        *,
        device: torch.device | str | None = None,
    ):
        if not graphs:
            raise ConfigError("a GraphBatch needs at least one molecule")
        cs = [copies] * len(graphs) if isinstance(copies, int) else list(copies)
        if len(cs) != len(graphs) or min(cs) < 1:
            raise ConfigError(f"copies must be >= 1 per molecule, got {copies!r}")
        self.device = dev = get_device(device)
        self.graphs, self.copies = list(graphs), cs
        views = [_net_view(g) for g in graphs]
        self.n_samples = sum(cs)
        self.torsion_counts = [g.n_torsions * c for g, c in zip(graphs, cs, strict=True)]
        self.n_torsions = sum(self.torsion_counts)
        feats, node_sample, src, dst, etype, tnodes, tsample = [], [], [], [], [], [], []
        node_off = sample_off = 0
        for g, c, v in zip(graphs, cs, views, strict=True):
            m = v.atoms.numel()
            feats.append(g.atom_features[v.atoms].repeat(c, 1))
            for k in range(c):
                node_sample.append(torch.full((m,), sample_off + k, dtype=torch.long))
                src.append(v.src + node_off + k * m)
                dst.append(v.dst + node_off + k * m)
                etype.append(v.edge_type)
                tnodes.append(v.torsion_nodes + node_off + k * m)
                tsample.append(torch.full((g.n_torsions,), sample_off + k, dtype=torch.long))
            node_off += c * m
            sample_off += c
        self.atom_features = torch.cat(feats).to(dev)
        self.node_sample = torch.cat(node_sample).to(dev)
        self.src, self.dst = torch.cat(src).to(dev), torch.cat(dst).to(dev)
        self.edge_type = torch.cat(etype).to(dev)
        self.torsion_nodes = torch.cat(tnodes).to(dev)
        self.torsion_sample = torch.cat(tsample).to(dev)
        self._views = views
        self.n_nodes = node_off

    def split(self, phi: Tensor) -> list[Tensor]:
        """Flat torsions ``[n_torsions_total]`` to per-molecule ``[copies, n_torsions]`` arrays."""
        parts = torch.split(phi, self.torsion_counts)
        return [
            p.view(c, g.n_torsions) for p, c, g in zip(parts, self.copies, self.graphs, strict=True)
        ]

    def join(self, parts: list[Tensor]) -> Tensor:
        """Inverse of :meth:`split`."""
        return torch.cat([p.reshape(-1) for p in parts])

    def coordinates(self, phi: Tensor) -> list[Tensor]:
        """All-atom coordinates ``[copies, n_atoms, 3]`` per molecule at flat torsions ``phi``."""
        return [
            torsions_to_coordinates(g, p) for g, p in zip(self.graphs, self.split(phi), strict=True)
        ]

    def network_positions(self, phi: Tensor) -> Tensor:
        """Coordinates ``[n_nodes, 3]`` of the atoms the network sees."""
        xs = self.coordinates(phi)
        return torch.cat(
            [
                x[:, v.atoms.to(x.device)].reshape(-1, 3)
                for x, v in zip(xs, self._views, strict=True)
            ]
        )
