"""``generate_conformers``: conformers of any molecule from a trained torsional sampler."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
from rdkit import Chem

from lab.core import ConfigError, DataError

from .evaluation import etkdg_conformers, mmff_relax
from .graph import MoleculeGraph
from .sampler import TorsionalAdjointSampler

__all__ = ["PRETRAINED", "generate_conformers", "load_pretrained", "pretrained_path"]

#: File name of the checkpoint shipped inside the package (see docs/molecules-conformers.md).
PRETRAINED = "torsional_nci.pt"


def pretrained_path() -> Path:
    """Path of the small pretrained torsional model shipped with the package."""
    path = Path(str(resources.files("lab.molecules.conformers") / "pretrained" / PRETRAINED))
    if not path.is_file():
        raise DataError(f"the shipped conformer model {str(path)!r} is missing from this install")
    return path


def load_pretrained(device: torch.device | str | None = None) -> TorsionalAdjointSampler:
    """The shipped model (trained on RDKit's bundled NCI molecules; generation only)."""
    return TorsionalAdjointSampler.from_checkpoint(pretrained_path(), device=device)


def generate_conformers(
    molecule: str | Chem.Mol | MoleculeGraph,
    n: int,
    *,
    model: TorsionalAdjointSampler | str | Path | None = None,
    relax: bool = False,
    warm_start: bool = False,
    max_iters: int = 500,
    n_steps: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> Chem.Mol:
    """``n`` conformers of ``molecule`` (SMILES, RDKit Mol or :class:`MoleculeGraph`).

    Torsions are sampled by the torsional Adjoint Sampler ``model`` (a sampler, a checkpoint
    path, or ``None`` for the shipped model) and set on one ETKDG conformer (bond lengths and
    angles); ``relax=True`` then minimises each conformer with MMFF94 (``max_iters`` steps).
    ``warm_start=True`` (OURS: our reading of the paper's RDKit warm-up for generation) embeds
    ``n`` ETKDG conformers first and builds conformer ``k`` on ETKDG conformer ``k``: its bond
    lengths, angles and ring puckers come from that conformer, its torsions from the sampler
    (the memoryless SDE forgets any start value, so the rigid geometry is what a warm start
    can carry).
    A molecule without rotatable bonds yields ``n`` copies of its ETKDG conformer (relaxed when
    ``relax``).

    Returns:
        An RDKit Mol with explicit hydrogens and ``n`` conformers.
    """
    if n < 1:
        raise ConfigError(f"number of conformers must be >= 1, got {n}")
    graph = (
        molecule
        if isinstance(molecule, MoleculeGraph)
        else MoleculeGraph.from_smiles(molecule, seed=seed)
        if isinstance(molecule, str)
        else MoleculeGraph.from_mol(molecule, seed=seed)
    )
    if graph.n_torsions == 0:  # rigid: copies of the base conformer, no model needed
        mol = graph.to_mol(graph.coords0.unsqueeze(0).expand(n, -1, -1))
        return mmff_relax(mol, max_iters=max_iters) if relax else mol
    if model is None:
        sampler = load_pretrained(device)
    elif isinstance(model, TorsionalAdjointSampler):
        sampler = model
    else:
        sampler = TorsionalAdjointSampler.from_checkpoint(model, device=device)
    gen = torch.Generator(device=sampler.device).manual_seed(int(seed))
    if warm_start:
        ens = etkdg_conformers(graph, n, seed=seed)
        ids = [c.GetId() for c in ens.GetConformers()]
        bases = [MoleculeGraph(ens, conf_id=ids[k % len(ids)]) for k in range(n)]
        phis = sampler.sample_graphs(bases, n_steps=n_steps, generator=gen)
        coords = torch.cat(
            [
                b.coordinates(p.detach().cpu().double().unsqueeze(0))
                for b, p in zip(bases, phis, strict=True)
            ]
        )
    else:
        phi = sampler.sample(graph, n, n_steps=n_steps, generator=gen)
        coords = graph.coordinates(phi.detach().cpu().double())
    mol = graph.to_mol(coords)
    return mmff_relax(mol, max_iters=max_iters) if relax else mol
