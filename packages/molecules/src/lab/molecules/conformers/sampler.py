"""``TorsionalAdjointSampler``: one graph-conditioned sampler of torsions for many molecules.

Adjoint Sampling on the torus of torsion angles, trained across molecules. Each epoch draws
``molecules_per_epoch`` training molecules, simulates ``copies_per_molecule`` end points of the
current controlled SDE for each (wrapped Euler-Maruyama, :mod:`.torus`), evaluates MMFF94 and its
torsion gradient once per end point (a vector-Jacobian product through the torsion map) and stores
``(phi1, a(phi1))`` in that molecule's :class:`~lab.molecules.ReplayBuffer`, where

``a = clip(grad_phi E(phi1) / tau) + score_wrapped_normal(phi1; kappa(1))``.

Then ``grad_steps_per_epoch`` optimiser steps of the reciprocal adjoint matching loss
``mean ||u(t, phi_t) + a||^2`` on batches of ``batch_molecules x batch_copies`` buffer entries,
``phi_t`` from the periodic bridge. The noise schedule, the replay buffer, the per-coordinate
clip and the loss times are the shared ones of :mod:`lab.molecules`.
"""

from __future__ import annotations

import copy
import math
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import torch
from rdkit.Chem import rdDistGeom
from torch import Tensor

from lab.core import (
    ConfigError,
    DataError,
    atomic_save,
    config_from_dict,
    config_to_dict,
    get_device,
    rank,
    seeded,
    world_size,
)

from ..buffer import ReplayBuffer
from ..loss import clip_per_particle, sample_times
from ..sde import GeometricNoiseSchedule, Integrator, time_grid
from ..training import AdjointTrainer
from .batch import GraphBatch
from .graph import MoleculeGraph, torsions_to_coordinates
from .mmff import MMFFEnergy
from .network import TorsionControlNet, TorsionNetConfig
from .torus import periodic_bridge, wrap, wrapped_normal_score

__all__ = [
    "PerMoleculeBuffers",
    "TorsionalAdjointSampler",
    "TorsionalConfig",
    "simulate_torsions",
    "torsion_energy",
]

EXPORT_FORMAT = "lab.molecules.conformers/torsional-1"


@dataclass(frozen=True)
class TorsionalConfig:
    """Configuration of :class:`TorsionalAdjointSampler` (CPU-sized defaults; :meth:`paper`).

    Attributes:
        sigma_min: geometric noise at t=1 (paper, torsions: 0.0314).
        sigma_max: geometric noise at t=0 (paper, torsions: pi).
        n_steps: Euler-Maruyama steps while training (paper: 500).
        eval_steps: steps when generating (paper: 1000).
        integrator: ``euler`` (the paper's Euler-Maruyama; training always uses it) or
            ``heun`` (OURS) for generation; :meth:`TorsionalAdjointSampler.sample` can override
            it per call (see :func:`simulate_torsions`).
        tau: temperature in kcal/mol (OURS: 3.0, so that the target spreads over the
            conformers within a few kcal/mol that reference ensembles hold; the paper's eSEN
            runs used 5e-3 eV = 0.115 kcal/mol).
        adjoint_clip: clip of ``|dE/dphi| / tau`` per torsion (paper: 200).
        net: the control network.
        epochs: training epochs.
        molecules_per_epoch: molecules simulated per epoch (x ``copies_per_molecule`` = new
            energy evaluations per epoch; paper: 128 in total).
        copies_per_molecule: end points per molecule and epoch.
        grad_steps_per_epoch: optimiser steps per epoch (paper: 100).
        batch_molecules: molecules per loss batch (paper: 8).
        batch_copies: buffer entries per molecule in a loss batch (paper: 8).
        buffer_per_molecule: replay buffer capacity per molecule (OURS).
        lr: Adam learning rate (paper: 1e-4 at its size).
        grad_clip_norm: clip of the parameters' gradient norm (OURS; None disables).
        ema_decay: EMA of the weights used for generation (0 disables).
        t_sampling: loss times, ``uniform`` (paper) or ``variance`` (OURS).
        n_images: ``2 pi`` images in the wrapped-normal sums (each side).
        warm_start_etkdg: ETKDG conformers per training molecule whose torsions pre-fill the
            replay buffer before training (our reading of the paper's "RDKit warm-up"; 0: off).
        checkpoint_every: checkpoint every N epochs (0: only at the end).
        keep_checkpoints: keep only the newest N checkpoints (0: keep all).
        seed: network initialisation and sampler generator seed.
    """

    sigma_min: float = 0.0314
    sigma_max: float = math.pi
    n_steps: int = 40
    eval_steps: int = 100
    integrator: Literal["euler", "heun"] = "euler"
    tau: float = 3.0
    adjoint_clip: float | None = 200.0
    net: TorsionNetConfig = field(default_factory=TorsionNetConfig)
    epochs: int = 100
    molecules_per_epoch: int = 16
    copies_per_molecule: int = 8
    grad_steps_per_epoch: int = 30
    batch_molecules: int = 8
    batch_copies: int = 8
    buffer_per_molecule: int = 256
    lr: float = 1e-3
    grad_clip_norm: float | None = 1.0
    ema_decay: float = 0.99
    t_sampling: Literal["uniform", "variance"] = "uniform"
    n_images: int = 5
    warm_start_etkdg: int = 0
    checkpoint_every: int = 0
    keep_checkpoints: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "n_steps",
            "eval_steps",
            "epochs",
            "molecules_per_epoch",
            "copies_per_molecule",
            "grad_steps_per_epoch",
            "batch_molecules",
            "batch_copies",
            "buffer_per_molecule",
            "n_images",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.tau > 0:
            raise ConfigError(f"tau (kcal/mol) must be positive, got {self.tau!r}")
        if self.integrator not in ("euler", "heun"):
            raise ConfigError(f"integrator must be 'euler' or 'heun', got {self.integrator!r}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if self.warm_start_etkdg < 0 or self.checkpoint_every < 0 or self.keep_checkpoints < 0:
            raise ConfigError(
                "warm_start_etkdg, checkpoint_every and keep_checkpoints must be >= 0"
            )
        GeometricNoiseSchedule(self.sigma_min, self.sigma_max)

    @classmethod
    def paper(cls, **overrides: Any) -> TorsionalConfig:
        """The paper's sizes for a GPU (steps, clip, batch of 8 x 8, 128 samples per epoch)."""
        base: dict[str, Any] = dict(
            n_steps=500,
            eval_steps=1000,
            tau=0.115,
            net=TorsionNetConfig(hidden=128, n_layers=6, n_rbf=32),
            epochs=2000,
            molecules_per_epoch=16,
            copies_per_molecule=8,
            grad_steps_per_epoch=100,
            buffer_per_molecule=1024,
            lr=1e-4,
            ema_decay=0.999,
        )
        base.update(overrides)
        return cls(**base)


def torsion_energy(graph: MoleculeGraph, energy: MMFFEnergy, phi: Tensor) -> tuple[Tensor, Tensor]:
    """MMFF energies ``[B]`` and torsion gradients ``[B, n_torsions]`` at torsions ``phi``
    (float64; the gradient is a vector-Jacobian product through the torsion map)."""
    p = phi.detach().double().cpu().requires_grad_(True)
    e = energy(torsions_to_coordinates(graph, p))
    (g,) = torch.autograd.grad(e.sum(), p)
    return e.detach().to(phi.device), g.to(phi.device)


@torch.no_grad()
def simulate_torsions(
    control: Any,
    batch: GraphBatch,
    schedule: GeometricNoiseSchedule,
    *,
    n_steps: int,
    generator: torch.Generator | None = None,
    integrator: Integrator = "euler",
) -> Tensor:
    """Wrapped SDE ``dphi = g^2 u dt + g dW`` from ``phi_0 = 0`` (flat torsions of ``batch``);
    ``control=None`` runs the base process. Uses the exact variance increments
    ``dk = kappa(t_{k+1}) - kappa(t_k)`` on a uniform grid.

    ``integrator="euler"`` (the paper's Euler-Maruyama): ``phi + dk u(t_k, phi) + sqrt(dk) z``,
    wrapped. ``"heun"`` (OURS, as :func:`lab.molecules.simulate`): predictor
    ``phi' = wrap(phi + dk u(t_k, phi) + sqrt(dk) z)``, then
    ``wrap(phi + dk (u(t_k, phi) + u(t_{k+1}, phi')) / 2 + sqrt(dk) z)`` with the same ``z``
    (two control evaluations per step; the control is periodic, so wrapping the predictor is
    exact). On the particle targets Euler-Maruyama is biased warm and Heun is not
    (docs/benchmarks/molecules.md)."""
    if integrator not in ("euler", "heun"):
        raise ConfigError(f"unknown integrator {integrator!r}; choose 'euler' or 'heun'")
    dev = batch.device
    ts = time_grid(n_steps, "uniform", device=dev, dtype=torch.float64)
    kap = schedule.kappa(ts)
    dks = (kap[1:] - kap[:-1]).float()
    tf = ts.float()
    phi = torch.zeros(batch.n_torsions, device=dev)
    for i in range(n_steps):
        z = torch.randn(phi.shape, generator=generator, device=dev)
        noise = dks[i].sqrt() * z
        if control is None:
            phi = wrap(phi + noise)
            continue
        u0 = control(tf[i].expand(batch.n_samples), phi, batch)
        if integrator == "euler":
            phi = wrap(phi + dks[i] * u0 + noise)
        else:
            pred = wrap(phi + dks[i] * u0 + noise)
            u1 = control(tf[i + 1].expand(batch.n_samples), pred, batch)
            phi = wrap(phi + dks[i] * 0.5 * (u0 + u1) + noise)
    return phi


class PerMoleculeBuffers(AdjointTrainer):
    """A trainer with one replay buffer per training molecule (``buffers``, created by
    ``_buffer(idx)``): the rank state saved with each checkpoint holds every buffer and the
    generator. Shared by the torsional and Cartesian samplers."""

    buffers: dict[int, ReplayBuffer]

    @abstractmethod
    def _buffer(self, idx: int) -> ReplayBuffer:
        """Molecule ``idx``'s buffer, created on first use."""

    def _rank_state(self) -> dict[str, Any]:
        return {
            "buffers": {str(k): b.state_dict() for k, b in self.buffers.items()},
            "generator": self.generator.get_state(),
        }

    def _load_rank_state(self, state: dict[str, Any]) -> None:
        for key, bstate in state["buffers"].items():
            self._buffer(int(key)).load_state_dict(bstate)
        self.generator.set_state(state["generator"].cpu())


class TorsionalAdjointSampler(PerMoleculeBuffers):
    """Amortised Adjoint Sampling of torsions, conditioned on the molecular graph.

    Training is :meth:`fit` of the shared loop :class:`~lab.molecules.training.AdjointTrainer`
    (checkpoints, exact resume, ``time_limit``); an ETKDG buffer warm start runs first when
    ``config.warm_start_etkdg`` is set.

    Args:
        molecules: training molecules (:class:`MoleculeGraph` with at least one torsion); may be
            empty when the sampler is only used for generation.
        config: a :class:`TorsionalConfig`.
        device: where the network and buffers live (``None``: CUDA if present).
    """

    progress_desc = "torsional adjoint sampling"

    def __init__(
        self,
        molecules: list[MoleculeGraph] | None = None,
        config: TorsionalConfig | None = None,
        *,
        device: torch.device | str | None = None,
    ):
        self.config = cfg = config or TorsionalConfig()
        self.device = get_device(device)
        self.molecules = list(molecules or [])
        rigid = [g.smiles for g in self.molecules if g.n_torsions == 0]
        if rigid:
            raise ConfigError(f"training molecules need rotatable bonds; none in {rigid[:3]!r}")
        self.schedule = GeometricNoiseSchedule(cfg.sigma_min, cfg.sigma_max)
        with seeded(cfg.seed):
            self.model = TorsionControlNet(cfg.net).to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.buffers: dict[int, ReplayBuffer] = {}
        self._energies: dict[int, MMFFEnergy] = {}
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed * 1000 + 23 + rank())
        self._init_counters()
        self.train_smiles = [g.smiles for g in self.molecules]

    # ------------------------------------------------------------------ generation

    def control(self, use_ema: bool = True) -> TorsionControlNet:
        net = self.ema if (use_ema and self.config.ema_decay > 0) else self.model
        return cast(TorsionControlNet, net)

    @torch.no_grad()
    def sample(
        self,
        graph: MoleculeGraph,
        n: int,
        *,
        n_steps: int | None = None,
        batch_size: int = 256,
        use_ema: bool = True,
        generator: torch.Generator | None = None,
        integrator: Integrator | None = None,
    ) -> Tensor:
        """``n`` torsion vectors ``[n, n_torsions]`` for ``graph`` (no energy calls). A molecule
        without torsions gives ``[n, 0]``. ``integrator`` overrides ``config.integrator``."""
        if n < 1:
            raise ConfigError(f"number of conformers must be >= 1, got {n}")
        if graph.n_torsions == 0:
            return torch.zeros(n, 0, device=self.device)
        out = []
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            batch = GraphBatch([graph], m, device=self.device)
            phi = simulate_torsions(
                self.control(use_ema),
                batch,
                self.schedule,
                n_steps=n_steps or self.config.eval_steps,
                generator=generator or self.generator,
                integrator=integrator or self.config.integrator,
            )
            out.append(phi.view(m, graph.n_torsions))
        return torch.cat(out)

    @torch.no_grad()
    def sample_graphs(
        self,
        graphs: list[MoleculeGraph],
        *,
        n_steps: int | None = None,
        use_ema: bool = True,
        generator: torch.Generator | None = None,
        integrator: Integrator | None = None,
    ) -> list[Tensor]:
        """One torsion vector ``[n_torsions_k]`` per graph, all simulated in one packed batch
        (e.g. copies of one molecule built on different base conformers)."""
        if not graphs:
            raise ConfigError("sample_graphs needs at least one graph")
        if any(g.n_torsions == 0 for g in graphs):
            raise ConfigError("sample_graphs needs graphs with rotatable torsions")
        batch = GraphBatch(graphs, 1, device=self.device)
        phi = simulate_torsions(
            self.control(use_ema),
            batch,
            self.schedule,
            n_steps=n_steps or self.config.eval_steps,
            generator=generator or self.generator,
            integrator=integrator or self.config.integrator,
        )
        return [p[0] for p in batch.split(phi)]

    # ------------------------------------------------------------------ energies

    def _energy(self, idx: int) -> MMFFEnergy:
        if idx not in self._energies:
            self._energies[idx] = MMFFEnergy(self.molecules[idx])
        return self._energies[idx]

    def _buffer(self, idx: int) -> ReplayBuffer:
        if idx not in self.buffers:
            self.buffers[idx] = ReplayBuffer(
                self.config.buffer_per_molecule,
                self.molecules[idx].n_torsions,
                device=self.device,
            )
        return self.buffers[idx]

    def _store(self, idx: int, phi: Tensor) -> dict[str, float]:
        """Energy + torsion gradient of end points ``[c, T]`` of molecule ``idx``; buffer them."""
        cfg = self.config
        g = self.molecules[idx]
        e, grad = torsion_energy(g, self._energy(idx), phi)
        ok = torch.isfinite(e) & torch.isfinite(grad).all(-1)
        n_bad = int((~ok).sum())
        self.nonfinite_skipped += n_bad
        phi, e, grad = phi[ok].float(), e[ok].float(), grad[ok].float()
        clipped, mask = clip_per_particle(grad / cfg.tau, g.n_torsions, 1, cfg.adjoint_clip)
        a = clipped + wrapped_normal_score(phi, self.schedule.kappa1, cfg.n_images)
        if phi.shape[0]:
            self._buffer(idx).add(phi, a, e)
        return {
            "energy": float(e.mean()) if e.numel() else math.nan,
            "energy_median": float(e.median()) if e.numel() else math.nan,
            "clipped": float(mask.float().mean()) if mask.numel() else 0.0,
        }

    def warm_start(self, n_conformers: int, *, seed: int = 0) -> int:
        """Fill each training molecule's buffer with the torsions of ``n_conformers`` ETKDG
        conformers (energies and adjoints evaluated on our fixed-geometry torsion map)."""
        added = 0
        for idx, g in enumerate(self.molecules):
            mol = copy.deepcopy(g.mol)
            params = rdDistGeom.ETKDGv3()
            params.randomSeed = int(seed) + idx  # type: ignore[assignment]
            ids = list(rdDistGeom.EmbedMultipleConfs(mol, n_conformers, params))
            if not ids:
                continue
            xyz = torch.tensor(
                [mol.GetConformer(i).GetPositions() for i in ids], dtype=torch.float64
            )
            phi = g.measure_torsions(xyz)
            self._store(idx, phi)
            added += phi.shape[0]
        self.energy_evals += added
        return added

    # ------------------------------------------------------------------ checkpoints

    def _extra(self) -> dict[str, Any]:
        return {**super()._extra(), "train_smiles": list(self.train_smiles)}

    def _load_extra(self, extra: dict[str, Any]) -> None:
        super()._load_extra(extra)
        self.train_smiles = list(extra.get("train_smiles", self.train_smiles))

    def export(self, path: str | Path, **info: Any) -> Path:
        """Write a small generation-only file: config, EMA weights, training SMILES, ``info``."""
        weights = self.control(True).state_dict()
        payload = {
            "format": EXPORT_FORMAT,
            "config": config_to_dict(self.config),
            "weights": {k: v.detach().cpu().clone() for k, v in weights.items()},
            "train_smiles": list(self.train_smiles),
            "epochs": self.epoch,
            "energy_evals": self.energy_evals,
            "info": dict(info),
        }
        out = atomic_save(payload, path)
        out.chmod(0o644)  # a shareable model file (the temporary file was private)
        return out

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        molecules: list[MoleculeGraph] | None = None,
        *,
        device: torch.device | str | None = None,
    ) -> TorsionalAdjointSampler:
        """A sampler from an :meth:`export` file or a training checkpoint (weights only)."""
        p = Path(path)
        if not p.is_file():
            raise DataError(f"no conformer model at {str(p)!r}")
        payload = torch.load(p, map_location="cpu", weights_only=True)
        if isinstance(payload, dict) and payload.get("format") == EXPORT_FORMAT:
            config = config_from_dict(TorsionalConfig, payload["config"])
            sampler = cls(molecules, config, device=device)
            sampler.model.load_state_dict(payload["weights"])
            sampler.ema.load_state_dict(payload["weights"])
            sampler.train_smiles = list(payload.get("train_smiles", []))
            sampler.epoch = int(payload.get("epochs", 0))
            sampler.energy_evals = int(payload.get("energy_evals", 0))
            return sampler
        if isinstance(payload, dict) and "config" in payload.get("extra", {}):
            config = config_from_dict(TorsionalConfig, payload["extra"]["config"])
            sampler = cls(molecules, config, device=device)
            sampler.load(p, restore_training_state=False)
            return sampler
        raise DataError(f"{str(p)!r} is not a TorsionalAdjointSampler checkpoint")

    # ------------------------------------------------------------------ training

    def _before_fit(self) -> None:
        if self.config.warm_start_etkdg and self.epoch == 0:
            self.warm_start(self.config.warm_start_etkdg, seed=self.config.seed)

    def _simulate_epoch(self) -> dict[str, float]:
        if not self.molecules:
            raise ConfigError("fit() needs training molecules")
        cfg = self.config
        ws = world_size()
        n_mol = min(len(self.molecules), max(1, math.ceil(cfg.molecules_per_epoch / ws)))
        pick = torch.randperm(len(self.molecules), generator=self.generator, device=self.device)
        chosen = [int(i) for i in pick[:n_mol]]
        batch = GraphBatch(
            [self.molecules[i] for i in chosen], cfg.copies_per_molecule, device=self.device
        )
        phi1 = simulate_torsions(
            self.model, batch, self.schedule, n_steps=cfg.n_steps, generator=self.generator
        )
        stats = [self._store(i, p) for i, p in zip(chosen, batch.split(phi1), strict=True)]
        self.energy_evals += batch.n_samples * ws
        energies = [s["energy"] for s in stats if math.isfinite(s["energy"])]
        return {
            "energy_mean": sum(energies) / max(len(energies), 1),
            "energy_median": float(torch.tensor([s["energy_median"] for s in stats]).nanmedian()),
            "clipped_fraction": sum(s["clipped"] for s in stats) / len(stats),
        }

    def _loss_batches(self, trainer: torch.nn.Module) -> Iterator[Tensor]:
        for _ in range(self.config.grad_steps_per_epoch):
            yield self._loss_batch(trainer)

    def _loss_batch(self, trainer: Any) -> Tensor:
        cfg = self.config
        ready = [k for k, b in self.buffers.items() if len(b)]
        pick = torch.randperm(len(ready), generator=self.generator, device=self.device)
        chosen = [ready[int(i)] for i in pick[: cfg.batch_molecules]]
        xs, adj = [], []
        for idx in chosen:
            x, a = self.buffers[idx].sample(cfg.batch_copies, generator=self.generator)
            xs.append(x)
            adj.append(a)
        batch = GraphBatch(
            [self.molecules[i] for i in chosen], cfg.batch_copies, device=self.device
        )
        x1, a = batch.join(xs), batch.join(adj)
        t = sample_times(
            batch.n_samples,
            self.schedule,
            cfg.t_sampling,
            generator=self.generator,
            device=self.device,
        )
        phit = periodic_bridge(
            x1,
            t[batch.torsion_sample],
            self.schedule,
            n_images=cfg.n_images,
            generator=self.generator,
        )
        u = trainer(t, phit, batch)
        return (u + a).pow(2).sum() / batch.n_samples
