"""The Cartesian variant: Adjoint Sampling of all-atom coordinates with a graph-conditioned EGNN.

The state is every atom's position (``[n_atoms * 3]``, centre-of-mass free), the SDE, bridge,
lean adjoint (per-atom clip; paper: 150) and loss are the shared ones of :mod:`lab.molecules`, and
the control is :class:`GraphEGNN`, the package's :class:`~lab.molecules.EGNN` with atom-type
one-hot + ``t`` as node features and the bond order as the edge attribute. MMFF94 is huge at the
random coordinates of the early SDE, so the energy adds a bond-length hinge regulariser
(:func:`bond_length_penalty`) and the per-atom clip bounds the adjoint.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from lab.core import ConfigError, get_device, progress, seeded

from ..buffer import ReplayBuffer
from ..egnn import EGNN, EGNNConfig
from ..loss import adjoint_matching_loss, lean_adjoint
from ..sde import GeometricNoiseSchedule, simulate
from ..training import ema_update
from .graph import MoleculeGraph
from .mmff import MMFFEnergy
from .network import N_ATOM_FEATURES

__all__ = ["CartesianAdjointSampler", "CartesianConfig", "GraphEGNN", "bond_length_penalty"]

#: Edge attribute per bond type of :data:`~lab.molecules.conformers.graph.BOND_TYPES`.
_BOND_ORDER = (0.0, 1.0, 2.0, 3.0, 1.5)


def bond_length_penalty(
    graph: MoleculeGraph, x: Tensor, *, tolerance: float = 0.1, weight: float = 100.0
) -> Tensor:
    """Hinge regulariser ``weight * sum_bonds relu(|d - d0| - tolerance)^2`` (kcal/mol) with
    ``d0`` the bond lengths of the ETKDG base conformer (OURS: the paper names a bond-length
    regulariser without its form). ``x``: ``[B, n_atoms, 3]``."""
    i, j = graph.bond_index[:, 0].to(x.device), graph.bond_index[:, 1].to(x.device)
    d0 = (graph.coords0[i.cpu()] - graph.coords0[j.cpu()]).norm(dim=-1).to(x)
    d = (x[:, i] - x[:, j]).norm(dim=-1)
    return weight * torch.relu((d - d0).abs() - tolerance).pow(2).sum(-1)


class GraphEGNN(EGNN):
    """:class:`~lab.molecules.EGNN` conditioned on a molecular graph (any atom count).

    Node features: ``[t, atom features]``; the per-edge scalar slot that the particle EGNN fills
    with initial squared distances carries the bond order (0 for non-bonded pairs; OURS: the
    paper uses a bond-type one-hot and the squared distance). ``forward(t, x, graph)`` returns a
    centre-of-mass-free, rotation-equivariant displacement ``[B, n_atoms * 3]``.
    """

    def __init__(self, config: EGNNConfig | None = None):
        super().__init__(2, 3, config)
        self.embed = nn.Linear(1 + N_ATOM_FEATURES, self.config.hidden)

    def forward(self, t: Tensor | float, x: Tensor, graph: MoleculeGraph) -> Tensor:  # type: ignore[override]
        n = graph.n_atoms
        b = x.shape[0]
        if x.shape != (b, n * 3):
            raise ConfigError(f"coordinates must be [B, {n * 3}], got {tuple(x.shape)}")
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t = t.expand(b) if t.ndim == 0 else t
        x0 = x.view(b, n, 3)
        x0 = x0 - x0.mean(1, keepdim=True)
        feats = graph.atom_features.to(x).unsqueeze(0).expand(b, -1, -1)
        h = self.embed(torch.cat([t.view(b, 1, 1).expand(b, n, 1), feats], dim=-1))
        order = torch.zeros(n, n, dtype=x.dtype, device=x.device)
        if graph.bond_index.numel():
            bi, bj = graph.bond_index[:, 0], graph.bond_index[:, 1]
            vals = torch.tensor([_BOND_ORDER[k] for k in graph.bond_type.tolist()]).to(x)
            order[bi, bj] = vals
            order[bj, bi] = vals
        edge = order.view(1, n, n, 1).expand(b, -1, -1, -1)
        mask = (1.0 - torch.eye(n, dtype=x.dtype, device=x.device)).unsqueeze(-1)
        norm = float(n - 1) if self.config.aggregation == "mean" else 1.0
        xl = x0
        for layer in self.layers:
            h, xl = layer(h, xl, edge, mask, norm)
        v = xl - x0
        v = v - v.mean(1, keepdim=True)
        return v.reshape(b, n * 3)


@dataclass(frozen=True)
class CartesianConfig:
    """Configuration of :class:`CartesianAdjointSampler` (CPU-sized defaults).

    Attributes:
        sigma_min: geometric noise at t=1.
        sigma_max: geometric noise at t=0 (paper, conformers: 1).
        n_steps: Euler-Maruyama steps (paper: 500 train, 1000 eval).
        tau: temperature (kcal/mol; OURS default 1.0).
        adjoint_clip: per-atom clip of ``grad E / tau`` (paper: 150).
        bond_tolerance: free deviation of a bond from its ETKDG length (A; OURS).
        bond_weight: strength of the bond-length hinge (kcal/mol/A^2; OURS).
        egnn: the control network (paper: 12 layers on the fully connected graph).
        epochs: training epochs.
        molecules_per_epoch: molecules simulated per epoch.
        copies_per_molecule: end points per molecule and epoch.
        grad_steps_per_epoch: optimiser steps per epoch.
        batch_molecules: molecules per loss batch.
        batch_copies: buffer entries per molecule in a loss batch.
        buffer_per_molecule: replay buffer capacity per molecule.
        lr: Adam learning rate.
        grad_clip_norm: clip of the parameters' gradient norm (None disables).
        ema_decay: EMA of the weights used for sampling.
        seed: network initialisation and generator seed.
    """

    sigma_min: float = 1e-3
    sigma_max: float = 1.0
    n_steps: int = 50
    tau: float = 1.0
    adjoint_clip: float | None = 150.0
    bond_tolerance: float = 0.1
    bond_weight: float = 100.0
    egnn: EGNNConfig = field(default_factory=lambda: EGNNConfig(hidden=32, n_layers=3))
    epochs: int = 50
    molecules_per_epoch: int = 4
    copies_per_molecule: int = 16
    grad_steps_per_epoch: int = 20
    batch_molecules: int = 4
    batch_copies: int = 8
    buffer_per_molecule: int = 256
    lr: float = 1e-3
    grad_clip_norm: float | None = 1.0
    ema_decay: float = 0.99
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "n_steps",
            "epochs",
            "molecules_per_epoch",
            "copies_per_molecule",
            "grad_steps_per_epoch",
            "batch_molecules",
            "batch_copies",
            "buffer_per_molecule",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.tau > 0:
            raise ConfigError(f"tau must be positive, got {self.tau!r}")
        GeometricNoiseSchedule(self.sigma_min, self.sigma_max)


class CartesianAdjointSampler:
    """Adjoint Sampling of all-atom coordinates for many molecules (EGNN control).

    Args:
        molecules: training molecules.
        config: a :class:`CartesianConfig`.
        device: where the network and buffers live.
    """

    def __init__(
        self,
        molecules: list[MoleculeGraph],
        config: CartesianConfig | None = None,
        *,
        device: torch.device | str | None = None,
    ):
        if not molecules:
            raise ConfigError("CartesianAdjointSampler needs at least one molecule")
        self.config = cfg = config or CartesianConfig()
        self.device = get_device(device)
        self.molecules = list(molecules)
        self.schedule = GeometricNoiseSchedule(cfg.sigma_min, cfg.sigma_max)
        with seeded(cfg.seed):
            self.model = GraphEGNN(cfg.egnn).to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.buffers: dict[int, ReplayBuffer] = {}
        self._mmff: dict[int, MMFFEnergy] = {}
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed * 1000 + 29)
        self.energy_evals = 0
        self.grad_steps = 0
        self.epoch = 0
        self.history: list[dict[str, Any]] = []

    def energy(self, idx: int, x: Tensor) -> Tensor:
        """MMFF94 + bond-length regulariser (kcal/mol) of coordinates ``[B, n_atoms, 3]``."""
        g = self.molecules[idx]
        if idx not in self._mmff:
            self._mmff[idx] = MMFFEnergy(g)
        cfg = self.config
        return self._mmff[idx](x) + bond_length_penalty(
            g, x, tolerance=cfg.bond_tolerance, weight=cfg.bond_weight
        )

    def _control(self, graph: MoleculeGraph, use_ema: bool) -> Any:
        net = self.ema if (use_ema and self.config.ema_decay > 0) else self.model
        return lambda t, x: net(t, x, graph)

    @torch.no_grad()
    def sample(
        self,
        graph: MoleculeGraph,
        n: int,
        *,
        n_steps: int | None = None,
        use_ema: bool = True,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``n`` conformers ``[n, n_atoms, 3]`` (centre of mass at the origin)."""
        x = simulate(
            self._control(graph, use_ema),
            self.schedule,
            n_samples=n,
            n_particles=graph.n_atoms,
            dim=3,
            n_steps=n_steps or self.config.n_steps,
            com_free=True,
            generator=generator or self.generator,
            device=self.device,
        )
        return x.view(n, graph.n_atoms, 3)

    def _store(self, idx: int, x1: Tensor) -> float:
        g = self.molecules[idx]
        xd = x1.detach().double().view(-1, g.n_atoms, 3).cpu().requires_grad_(True)
        e = self.energy(idx, xd)
        (grad,) = torch.autograd.grad(e.sum(), xd)
        ok = torch.isfinite(e) & torch.isfinite(grad).flatten(1).all(-1)
        a, _ = lean_adjoint(
            x1[ok],
            grad[ok].reshape(int(ok.sum()), -1).to(x1),
            tau=self.config.tau,
            kappa1=self.schedule.kappa1,
            n_particles=g.n_atoms,
            dim=3,
            clip=self.config.adjoint_clip,
        )
        if idx not in self.buffers:
            self.buffers[idx] = ReplayBuffer(
                self.config.buffer_per_molecule, g.n_atoms * 3, device=self.device
            )
        if int(ok.sum()):
            self.buffers[idx].add(x1[ok], a, e[ok].to(x1))
        return float(e[ok].detach().mean()) if int(ok.sum()) else math.nan

    def fit(
        self, *, epochs: int | None = None, show_progress: bool | None = None
    ) -> dict[str, Any]:
        """Train for ``epochs`` (default ``config.epochs``) epochs; returns a summary."""
        cfg = self.config
        total = cfg.epochs if epochs is None else int(epochs)
        start = time.perf_counter()
        last = math.nan
        for _ in progress(
            range(self.epoch, total),
            total=total,
            initial=self.epoch,
            desc="cartesian adjoint sampling",
            disable=None if show_progress is None else not show_progress,
        ):
            self.model.eval()
            pick = torch.randperm(len(self.molecules), generator=self.generator)
            energies = []
            for i in pick[: cfg.molecules_per_epoch].tolist():
                g = self.molecules[i]
                x1 = simulate(
                    self._control(g, use_ema=False),
                    self.schedule,
                    n_samples=cfg.copies_per_molecule,
                    n_particles=g.n_atoms,
                    dim=3,
                    n_steps=cfg.n_steps,
                    com_free=True,
                    generator=self.generator,
                    device=self.device,
                )
                energies.append(self._store(i, x1))
                self.energy_evals += cfg.copies_per_molecule
            self.model.train()
            losses = []
            for _ in range(cfg.grad_steps_per_epoch):
                ready = [k for k, b in self.buffers.items() if len(b)]
                order = torch.randperm(len(ready), generator=self.generator)
                loss = torch.zeros((), device=self.device)
                chosen = [ready[k] for k in order[: cfg.batch_molecules].tolist()]
                for i in chosen:
                    g = self.molecules[i]
                    x1, a = self.buffers[i].sample(cfg.batch_copies, generator=self.generator)
                    loss = loss + adjoint_matching_loss(
                        self._control(g, use_ema=False),
                        x1,
                        a,
                        self.schedule,
                        n_particles=g.n_atoms,
                        dim=3,
                        generator=self.generator,
                    ) / len(chosen)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip_norm)
                self.optimizer.step()
                ema_update(self.ema, self.model, cfg.ema_decay)
                self.grad_steps += 1
                losses.append(float(loss.detach()))
            last = sum(losses) / len(losses)
            self.epoch += 1
            self.history.append(
                {"epoch": self.epoch, "loss": last, "energy_mean": sum(energies) / len(energies)}
            )
        return {
            "epochs": self.epoch,
            "energy_evals": self.energy_evals,
            "grad_steps": self.grad_steps,
            "loss": last,
            "seconds": time.perf_counter() - start,
        }
