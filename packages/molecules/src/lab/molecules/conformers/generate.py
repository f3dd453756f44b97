"""``generate_conformers``: conformers of any molecule from a trained torsional sampler."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Literal

import torch
from rdkit import Chem

from lab.core import ConfigError, DataError

from ..sde import Integrator
from .evaluation import etkdg_conformers, mmff_relax, valid_conformers
from .graph import MoleculeGraph, stereoisomer_count, stereoisomer_graphs
from .sampler import TorsionalAdjointSampler

__all__ = [
    "PRETRAINED",
    "Stereo",
    "conformers_over_isomers",
    "generate_conformers",
    "load_pretrained",
    "pretrained_path",
]

#: How :func:`generate_conformers` treats unassigned stereo elements (see there).
Stereo = Literal["enumerate", "base"]

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


def _graph_coords(
    graph: MoleculeGraph,
    m: int,
    get_sampler: Callable[[], TorsionalAdjointSampler],
    *,
    warm_start: bool,
    n_steps: int | None,
    seed: int,
    reject_invalid: bool,
    clash_factor: float,
    max_rounds: int,
    integrator: Integrator | None,
) -> torch.Tensor:
    """``m`` conformers' coordinates on one base graph (rejection rounds included)."""
    if graph.n_torsions == 0:  # rigid: copies of the base conformer, no model needed
        return graph.coords0.unsqueeze(0).expand(m, -1, -1).clone()
    sampler = get_sampler()
    gen = torch.Generator(device=sampler.device).manual_seed(int(seed))
    kept: list[torch.Tensor] = []
    found = 0
    for round_ in range(max_rounds if reject_invalid else 1):
        coords = _sample_coords(
            graph,
            sampler,
            m - found,
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
        if found >= m:
            break
    if found < m:
        raise DataError(
            f"only {found} of {m} sampled conformers of {Chem.MolToSmiles(graph.mol)!r} keep "
            f"the graph without clashes after {max_rounds} rounds; raise max_rounds or pass "
            "reject_invalid=False"
        )
    return torch.cat(kept)[:m]


def conformers_over_isomers(
    graphs: list[MoleculeGraph],
    n: int,
    coords_of: Callable[[MoleculeGraph, int, int], torch.Tensor],
) -> Chem.Mol:
    """``n`` conformers spread evenly over ``graphs`` (stereoisomers of one molecule, as
    :func:`~.graph.stereoisomer_graphs` returns them; in their order, the first
    ``n % len(graphs)`` get one more, those that get none are left out).

    ``coords_of(graph, m, i)`` returns block ``i``'s coordinates ``[m, n_atoms, 3]``. With
    several graphs the returned Mol has its stereo tags cleared (each conformer's stereo is in
    its coordinates), its ``stereoisomers`` property lists the isomers' SMILES and each
    conformer's ``stereoisomer`` int property indexes that list.
    """
    counts = [n // len(graphs) + (i < n % len(graphs)) for i in range(len(graphs))]
    pairs = [(g, m) for g, m in zip(graphs, counts, strict=True) if m > 0]
    coords = torch.cat([coords_of(g, m, i) for i, (g, m) in enumerate(pairs)])
    mol = graphs[0].to_mol(coords)
    if len(graphs) > 1:  # several stereoisomers: clear the tags, label the conformers
        Chem.RemoveStereochemistry(mol)
        mol.SetProp(
            "stereoisomers", json.dumps([Chem.MolToSmiles(Chem.RemoveHs(g.mol)) for g, _ in pairs])
        )
        index = [i for i, (_, m) in enumerate(pairs) for _ in range(m)]
        for conf, k in zip(mol.GetConformers(), index, strict=True):
            conf.SetIntProp("stereoisomer", k)
    return mol


def generate_conformers(
    molecule: str | Chem.Mol | MoleculeGraph,
    n: int,
    *,
    model: TorsionalAdjointSampler | str | Path | None = None,
    relax: bool = False,
    warm_start: bool = False,
    stereo: Stereo = "enumerate",
    max_isomers: int = 32,
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

    ``stereo`` (OURS; the paper builds every sample on one ETKDG conformer): a torsional
    sampler cannot change chiral centres or double-bond E/Z, so the base conformer fixes them.
    ``"enumerate"`` (default) enumerates the stereo elements that ``molecule`` leaves
    unassigned (:func:`~.graph.stereoisomer_graphs`, at most ``max_isomers``), embeds one base
    conformer per stereoisomer and spreads the ``n`` conformers evenly over them in a random
    isomer order drawn from ``seed`` (uniform over isomers, as ETKDG draws unassigned stereo;
    not Boltzmann-weighted). The conformers come in isomer blocks; the returned Mol then has
    its stereo tags cleared (each conformer's stereo is in its 3D coordinates), and its
    ``stereoisomers`` property lists the isomers' SMILES and each conformer's
    ``stereoisomer`` int property indexes that list. Assigned stereo and a molecule with one
    isomer are unaffected. ``"base"`` is the paper's scheme: one base conformer, one
    stereoisomer, and a ``UserWarning`` when the molecule has several.

    ``warm_start=True`` (OURS: our reading of the paper's RDKit warm-up for generation) embeds
    ETKDG conformers first and builds each conformer on its own ETKDG conformer: its bond
    lengths, angles, ring puckers and stereo come from that conformer, its torsions from the
    sampler (the memoryless SDE forgets any start value, so the rigid geometry is what a warm
    start can carry). With ``stereo="enumerate"`` the ETKDG conformers are embedded per
    stereoisomer.
    ``reject_invalid=True`` (OURS; the paper reports raw samples) keeps only raw conformers
    that keep the molecular graph and have no clash (:func:`~.evaluation.valid_conformers`
    with ``clash_factor``) and samples again for the rejected ones, up to ``max_rounds``
    rounds; every returned conformer is then valid before any relaxation.
    ``integrator`` (``euler`` / ``heun``) overrides the model's ``config.integrator`` for the
    SDE (see :func:`~.sampler.simulate_torsions`).
    A molecule without rotatable bonds yields ``n`` copies of its base conformer(s) (relaxed
    when ``relax``).

    Returns:
        An RDKit Mol with explicit hydrogens and ``n`` conformers.

    Raises:
        ConfigError: ``n``, ``max_rounds`` or ``max_isomers`` below 1, or an unknown ``stereo``.
        DataError: with ``reject_invalid``, when ``max_rounds`` rounds gave fewer than ``n``
            valid conformers (the count found is named).
    """
    if n < 1:
        raise ConfigError(f"number of conformers must be >= 1, got {n}")
    if max_rounds < 1:
        raise ConfigError(f"max_rounds must be >= 1, got {max_rounds}")
    if stereo not in ("enumerate", "base"):
        raise ConfigError(f"stereo must be 'enumerate' or 'base', got {stereo!r}")
    if stereo == "base":
        graph = (
            molecule
            if isinstance(molecule, MoleculeGraph)
            else MoleculeGraph.from_smiles(molecule, seed=seed)
            if isinstance(molecule, str)
            else MoleculeGraph.from_mol(molecule, seed=seed)
        )
        count = stereoisomer_count(graph.mol)
        if count > 1:
            warnings.warn(
                f"{graph.smiles!r} has up to {count} stereoisomers from unassigned stereo "
                "elements; stereo='base' samples only the one its base conformer embodies",
                UserWarning,
                stacklevel=2,
            )
        graphs = [graph]
    else:
        graphs = stereoisomer_graphs(molecule, seed=seed, max_isomers=max_isomers)
    cache: list[TorsionalAdjointSampler] = []

    def get_sampler() -> TorsionalAdjointSampler:
        if not cache:
            if model is None:
                cache.append(load_pretrained(device))
            elif isinstance(model, TorsionalAdjointSampler):
                cache.append(model)
            else:
                cache.append(TorsionalAdjointSampler.from_checkpoint(model, device=device))
        return cache[0]

    mol = conformers_over_isomers(
        graphs,
        n,
        lambda g, m, i: _graph_coords(
            g,
            m,
            get_sampler,
            warm_start=warm_start,
            n_steps=n_steps,
            seed=seed + 7919 * i,
            reject_invalid=reject_invalid,
            clash_factor=clash_factor,
            max_rounds=max_rounds,
            integrator=integrator,
        ),
    )
    return mmff_relax(mol, max_iters=max_iters) if relax else mol
