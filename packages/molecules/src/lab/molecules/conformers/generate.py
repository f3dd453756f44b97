"""``generate_conformers``: conformers of any molecule from a trained torsional sampler."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
from rdkit import Chem

from lab.core import ConfigError, DataError

from ..sde import Integrator
from .evaluation import etkdg_conformers, mmff_relax, valid_conformers
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


def _sample_coords(
    graph: MoleculeGraph,
    sampler: TorsionalAdjointSampler,
    m: int,
    *,
    warm_start: bool,
    n_steps: int | None,
    generator: torch.Generator,
    seed: int,
    integrator: Integrator | None,
) -> torch.Tensor:
    """``m`` conformers' coordinates ``[m, n_atoms, 3]`` from sampled torsions."""
    if warm_start:
        ens = etkdg_conformers(graph, m, seed=seed)
        ids = [c.GetId() for c in ens.GetConformers()]
        bases = [MoleculeGraph(ens, conf_id=ids[k % len(ids)]) for k in range(m)]
        phis = sampler.sample_graphs(
            bases, n_steps=n_steps, generator=generator, integrator=integrator
        )
        return torch.cat(
            [
                b.coordinates(p.detach().cpu().double().unsqueeze(0))
                for b, p in zip(bases, phis, strict=True)
            ]
        )
    phi = sampler.sample(graph, m, n_steps=n_steps, generator=generator, integrator=integrator)
    return graph.coordinates(phi.detach().cpu().double())


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
    reject_invalid: bool = True,
    clash_factor: float = 0.5,
    max_rounds: int = 20,
    integrator: Integrator | None = None,
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
    ``reject_invalid=True`` (OURS; the paper reports raw samples) keeps only raw conformers
    that keep the molecular graph and have no clash (:func:`~.evaluation.valid_conformers`
    with ``clash_factor``) and samples again for the rejected ones, up to ``max_rounds``
    rounds; every returned conformer is then valid before any relaxation.
    ``integrator`` (``euler`` / ``heun``) overrides the model's ``config.integrator`` for the
    SDE (see :func:`~.sampler.simulate_torsions`).
    A molecule without rotatable bonds yields ``n`` copies of its ETKDG conformer (relaxed when
    ``relax``).

    Returns:
        An RDKit Mol with explicit hydrogens and ``n`` conformers.

    Raises:
        DataError: with ``reject_invalid``, when ``max_rounds`` rounds gave fewer than ``n``
            valid conformers (the count found is named).
    """
    if n < 1:
        raise ConfigError(f"number of conformers must be >= 1, got {n}")
    if max_rounds < 1:
        raise ConfigError(f"max_rounds must be >= 1, got {max_rounds}")
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
    kept: list[torch.Tensor] = []
    found = 0
    for round_ in range(max_rounds if reject_invalid else 1):
        need = n - found
        coords = _sample_coords(
            graph,
            sampler,
            need,
            warm_start=warm_start,
            n_steps=n_steps,
            generator=gen,
            seed=seed + round_,
            integrator=integrator,
        )
        if reject_invalid:
            ok = valid_conformers(graph.to_mol(coords), clash_factor=clash_factor)
            coords = coords[torch.from_numpy(ok)]
        kept.append(coords)
        found += coords.shape[0]
        if found >= n:
            break
    if found < n:
        raise DataError(
            f"only {found} of {n} sampled conformers of {Chem.MolToSmiles(graph.mol)!r} keep "
            f"the graph without clashes after {max_rounds} rounds; raise max_rounds or pass "
            "reject_invalid=False"
        )
    mol = graph.to_mol(torch.cat(kept)[:n])
    return mmff_relax(mol, max_iters=max_iters) if relax else mol
