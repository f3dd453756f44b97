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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lab.core import (
    ConfigError,
    DataError,
    config_from_dict,
    get_device,
    rank,
    seeded,
    world_size,
)

from ..buffer import ReplayBuffer
from ..egnn import EGNNConfig, EquivariantStack
from ..loss import adjoint_matching_loss, lean_adjoint
from ..sde import GeometricNoiseSchedule, simulate
from .graph import MoleculeGraph
from .mmff import MMFFEnergy
from .network import N_ATOM_FEATURES
from .sampler import PerMoleculeBuffers

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


class GraphEGNN(EquivariantStack):
    """An EGNN control conditioned on a molecular graph (any atom count).

    The layers are the particle :class:`~lab.molecules.EGNN`'s (:class:`EquivariantStack`).
    Node inputs: ``[t, atom features]``; the per-edge scalar that the particle EGNN fills with
    initial squared distances carries the bond order (0 for non-bonded pairs; OURS: the paper
    uses a bond-type one-hot and the squared distance). ``forward(t, x, graph)`` returns a
    centre-of-mass-free, rotation-equivariant displacement ``[B, n_atoms * 3]``.
    """

    def __init__(self, config: EGNNConfig | None = None):
        super().__init__(1 + N_ATOM_FEATURES, config)

    def forward(self, t: Tensor | float, x: Tensor, graph: MoleculeGraph) -> Tensor:
        n = graph.n_atoms
        b = x.shape[0]
        if x.shape != (b, n * 3):
            raise ConfigError(f"coordinates must be [B, {n * 3}], got {tuple(x.shape)}")
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t = t.expand(b) if t.ndim == 0 else t
        x0 = x.view(b, n, 3)
        x0 = x0 - x0.mean(1, keepdim=True)
        feats = graph.atom_features.to(x).unsqueeze(0).expand(b, -1, -1)
        nodes = torch.cat([t.view(b, 1, 1).expand(b, n, 1), feats], dim=-1)
        order = torch.zeros(n, n, dtype=x.dtype, device=x.device)
        if graph.bond_index.numel():
            bi, bj = graph.bond_index[:, 0], graph.bond_index[:, 1]
            vals = torch.tensor([_BOND_ORDER[k] for k in graph.bond_type.tolist()]).to(x)
            order[bi, bj] = vals
            order[bj, bi] = vals
        edge = order.view(1, n, n, 1).expand(b, -1, -1, -1)
        mask = (1.0 - torch.eye(n, dtype=x.dtype, device=x.device)).unsqueeze(-1)
        return self.propagate(nodes, x0, edge, mask).reshape(b, n * 3)


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
        checkpoint_every: checkpoint every N epochs when :meth:`~CartesianAdjointSampler.fit`
            has a ``run_dir`` (0: only at the end).
        keep_checkpoints: keep only the newest N checkpoints (0: keep all).
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
    checkpoint_every: int = 0
    keep_checkpoints: int = 0
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
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if self.checkpoint_every < 0 or self.keep_checkpoints < 0:
            raise ConfigError("checkpoint_every and keep_checkpoints must be >= 0")
        GeometricNoiseSchedule(self.sigma_min, self.sigma_max)


class CartesianAdjointSampler(PerMoleculeBuffers):
    """Adjoint Sampling of all-atom coordinates for many molecules (EGNN control).

    Training is the package's shared loop (:class:`~lab.molecules.training.AdjointTrainer`:
    checkpoints every ``checkpoint_every`` epochs in ``fit(run_dir=...)``, exact resume,
    gradient clip, EMA, non-finite end points skipped and counted).

    Args:
        molecules: training molecules.
        config: a :class:`CartesianConfig`.
        device: where the network and buffers live.
    """

    progress_desc = "cartesian adjoint sampling"

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
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed * 1000 + 29 + rank())
        self._init_counters()

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

    def _simulate(
        self, graph: MoleculeGraph, n: int, control: Any, n_steps: int, generator: Any
    ) -> Tensor:
        return simulate(
            control,
            self.schedule,
            n_samples=n,
            n_particles=graph.n_atoms,
            dim=3,
            n_steps=n_steps,
            com_free=True,
            generator=generator,
            device=self.device,
        )

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
        if n < 1:
            raise ConfigError(f"number of conformers must be >= 1, got {n}")
        x = self._simulate(
            graph,
            n,
            self._control(graph, use_ema),
            n_steps or self.config.n_steps,
            generator or self.generator,
        )
        return x.view(n, graph.n_atoms, 3)

    def _buffer(self, idx: int) -> ReplayBuffer:
        if idx not in self.buffers:
            n = self.molecules[idx].n_atoms
            self.buffers[idx] = ReplayBuffer(
                self.config.buffer_per_molecule, n * 3, device=self.device
            )
        return self.buffers[idx]

    def _store(self, idx: int, x1: Tensor) -> float:
        """Energy + gradient of end points ``[c, n_atoms * 3]`` of molecule ``idx``; buffer the
        finite ones with their lean adjoints (non-finite ones are counted and skipped)."""
        g = self.molecules[idx]
        xd = x1.detach().double().view(-1, g.n_atoms, 3).cpu().requires_grad_(True)
        e = self.energy(idx, xd)
        (grad,) = torch.autograd.grad(e.sum(), xd)
        ok = (torch.isfinite(e) & torch.isfinite(grad).flatten(1).all(-1)).to(x1.device)
        self.nonfinite_skipped += int((~ok).sum())
        n_ok = int(ok.sum())
        if not n_ok:
            return math.nan
        a, _ = lean_adjoint(
            x1[ok],
            grad.reshape(grad.shape[0], -1).to(x1)[ok],
            tau=self.config.tau,
            kappa1=self.schedule.kappa1,
            n_particles=g.n_atoms,
            dim=3,
            clip=self.config.adjoint_clip,
        )
        energies = e.detach().to(x1)[ok]
        self._buffer(idx).add(x1[ok], a, energies)
        return float(energies.mean())

    # ------------------------------------------------------------------ training hooks

    def _simulate_epoch(self) -> dict[str, float]:
        cfg = self.config
        ws = world_size()
        n_mol = min(len(self.molecules), max(1, math.ceil(cfg.molecules_per_epoch / ws)))
        pick = torch.randperm(len(self.molecules), generator=self.generator, device=self.device)
        energies = []
        for i in pick[:n_mol].tolist():
            g = self.molecules[i]
            x1 = self._simulate(
                g,
                cfg.copies_per_molecule,
                self._control(g, use_ema=False),
                cfg.n_steps,
                self.generator,
            )
            energies.append(self._store(i, x1))
            self.energy_evals += cfg.copies_per_molecule * ws
        finite = [e for e in energies if math.isfinite(e)]
        return {"energy_mean": sum(finite) / len(finite) if finite else math.nan}

    def _loss_batches(self, trainer: torch.nn.Module) -> Iterator[Tensor]:
        cfg = self.config
        for _ in range(cfg.grad_steps_per_epoch):
            ready = [k for k, b in self.buffers.items() if len(b)]
            if not ready:
                return
            order = torch.randperm(len(ready), generator=self.generator, device=self.device)
            chosen = [ready[int(k)] for k in order[: cfg.batch_molecules]]
            loss = torch.zeros((), device=self.device)
            for i in chosen:
                g = self.molecules[i]
                x1, a = self.buffers[i].sample(cfg.batch_copies, generator=self.generator)

                def control(t: Tensor, x: Tensor, g: MoleculeGraph = g) -> Tensor:
                    return trainer(t, x, g)

                loss = loss + adjoint_matching_loss(
                    control,
                    x1,
                    a,
                    self.schedule,
                    n_particles=g.n_atoms,
                    dim=3,
                    generator=self.generator,
                ) / len(chosen)
            yield loss

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        molecules: list[MoleculeGraph],
        *,
        device: torch.device | str | None = None,
    ) -> CartesianAdjointSampler:
        """A sampler rebuilt from a :meth:`save` checkpoint's configuration and weights."""
        p = Path(path)
        payload = torch.load(p, map_location="cpu", weights_only=True) if p.is_file() else None
        if not isinstance(payload, dict) or "config" not in payload.get("extra", {}):
            raise DataError(f"{str(p)!r} is not a CartesianAdjointSampler checkpoint")
        config = config_from_dict(CartesianConfig, payload["extra"]["config"])
        sampler = cls(molecules, config, device=device)
        sampler.load(p, restore_training_state=False)
        return sampler
