"""Conformer ensembles with RDKit: ETKDG, MMFF relaxation, reference ensembles, RMSD, coverage.

Metrics follow the conformer-generation literature (GeoMol, torsional diffusion, Adjoint
Sampling): with the heavy-atom, symmetry-aware RMSD matrix ``R[i, j]`` between reference ``i``
and generated conformer ``j``,

- recall coverage ``COV-R(d) = mean_i [min_j R[i, j] < d]``, recall ``AMR-R = mean_i min_j R[i, j]``;
- precision coverage ``COV-P(d) = mean_j [min_i R[i, j] < d]``, ``AMR-P = mean_j min_i R[i, j]``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdDetermineBonds, rdDistGeom, rdForceFieldHelpers, rdMolAlign

from lab.core import ConfigError, DataError

from .graph import MoleculeError, MoleculeGraph
from .mmff import mmff_energies

__all__ = [
    "THRESHOLDS",
    "clash_free",
    "coverage_amr",
    "etkdg_conformers",
    "keeps_graph",
    "mmff_relax",
    "reference_ensemble",
    "rmsd_matrix",
    "valid_conformers",
    "write_sdf",
]

#: RMSD thresholds (Angstrom) of the coverage metrics.
THRESHOLDS = (0.5, 0.75, 1.0, 1.25)


def _as_mol(molecule: str | Chem.Mol | MoleculeGraph) -> Chem.Mol:
    if isinstance(molecule, MoleculeGraph):
        return Chem.Mol(molecule.mol)
    if isinstance(molecule, str):
        mol = Chem.MolFromSmiles(molecule)
        if mol is None:
            raise MoleculeError(f"RDKit cannot parse the SMILES {molecule!r}")
        return Chem.AddHs(mol)
    if isinstance(molecule, Chem.Mol):
        return Chem.AddHs(molecule, addCoords=molecule.GetNumConformers() > 0)
    raise MoleculeError(f"expected a SMILES, RDKit Mol or MoleculeGraph, got {type(molecule)!r}")


def etkdg_conformers(
    molecule: str | Chem.Mol | MoleculeGraph,
    n: int,
    *,
    seed: int = 0,
    relax: bool = False,
    max_iters: int = 500,
    num_threads: int = 1,
) -> Chem.Mol:
    """``n`` ETKDGv3 conformers (explicit hydrogens) of ``molecule``; MMFF94-relaxed when
    ``relax``. ETKDG may embed fewer than ``n`` for hard molecules: the result holds what it
    embedded (check ``GetNumConformers()``); none at all raises :class:`MoleculeError`."""
    if n < 1:
        raise ConfigError(f"number of conformers must be >= 1, got {n}")
    mol = _as_mol(molecule)
    mol.RemoveAllConformers()
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = int(seed)  # type: ignore[assignment]
    params.numThreads = int(num_threads)  # type: ignore[assignment]
    ids = rdDistGeom.EmbedMultipleConfs(mol, int(n), params)
    if len(ids) == 0:
        raise MoleculeError(f"ETKDG embedded no conformer of {Chem.MolToSmiles(mol)!r}")
    return mmff_relax(mol, max_iters=max_iters, num_threads=num_threads) if relax else mol


def mmff_relax(mol: Chem.Mol, *, max_iters: int = 500, num_threads: int = 1) -> Chem.Mol:
    """A copy of ``mol`` with every conformer minimised under MMFF94 (RDKit's optimiser)."""
    out = Chem.Mol(mol)
    if out.GetNumConformers() == 0:
        raise DataError("mmff_relax needs a molecule with conformers")
    rdForceFieldHelpers.MMFFOptimizeMoleculeConfs(out, numThreads=num_threads, maxIters=max_iters)
    return out


def _heavy(mol: Chem.Mol) -> Chem.Mol:
    return Chem.RemoveHs(mol, sanitize=True)


def _symmetry_maps(heavy: Chem.Mol) -> list[list[tuple[int, int]]]:
    matches = heavy.GetSubstructMatches(heavy, uniquify=False, useChirality=False, maxMatches=1000)
    return [list(zip(m, range(heavy.GetNumAtoms()), strict=True)) for m in matches]


def rmsd_matrix(reference: Chem.Mol, generated: Chem.Mol) -> np.ndarray:
    """Heavy-atom, symmetry-aware RMSD ``[n_ref, n_gen]`` (``rdMolAlign.GetBestRMS`` over the
    molecule's automorphisms, optimal superposition) between the conformers of two copies of one
    molecule."""
    ref, gen = _heavy(reference), _heavy(generated)
    if Chem.MolToSmiles(ref) != Chem.MolToSmiles(gen):
        raise DataError(
            f"RMSD between different molecules: {Chem.MolToSmiles(ref)!r} vs "
            f"{Chem.MolToSmiles(gen)!r}"
        )
    if ref.GetNumConformers() == 0 or gen.GetNumConformers() == 0:
        raise DataError("rmsd_matrix needs conformers on both sides")
    gen = Chem.Mol(gen)  # GetBestRMS moves the probe
    maps = _symmetry_maps(ref)
    ref_ids = [c.GetId() for c in ref.GetConformers()]
    gen_ids = [c.GetId() for c in gen.GetConformers()]
    out = np.empty((len(ref_ids), len(gen_ids)))
    for i, ri in enumerate(ref_ids):
        for j, gj in enumerate(gen_ids):
            out[i, j] = rdMolAlign.GetBestRMS(gen, ref, gj, ri, map=maps)
    return out


def coverage_amr(
    rmsd: np.ndarray | tuple[Chem.Mol, Chem.Mol],
    thresholds: Sequence[float] = THRESHOLDS,
) -> dict[str, float]:
    """Recall and precision coverage (at each threshold) and AMR.

    Args:
        rmsd: an RMSD matrix ``[n_ref, n_gen]`` or a pair ``(reference, generated)`` of
            molecules with conformers (the matrix is then computed by :func:`rmsd_matrix`).
        thresholds: RMSD thresholds in Angstrom.

    Returns:
        ``{"recall_coverage@d": ..., "precision_coverage@d": ..., "recall_amr": ...,
        "precision_amr": ...}`` with coverages as fractions in [0, 1].
    """
    if isinstance(rmsd, tuple):
        rmsd = rmsd_matrix(*rmsd)
    r = np.asarray(rmsd, dtype=np.float64)
    if r.ndim != 2 or 0 in r.shape:
        raise DataError(f"RMSD matrix must be [n_ref, n_gen] and non-empty, got {r.shape}")
    if not np.isfinite(r).all() or (r < 0).any():
        raise DataError("RMSD matrix has negative or non-finite entries")
    best_ref, best_gen = r.min(axis=1), r.min(axis=0)
    out: dict[str, float] = {}
    for d in thresholds:
        out[f"recall_coverage@{d:g}"] = float((best_ref < d).mean())
        out[f"precision_coverage@{d:g}"] = float((best_gen < d).mean())
    out["recall_amr"] = float(best_ref.mean())
    out["precision_amr"] = float(best_gen.mean())
    return out


def reference_ensemble(
    molecule: str | Chem.Mol | MoleculeGraph,
    *,
    n_embed: int = 100,
    prune_rmsd: float = 0.5,
    energy_window: float | None = 15.0,
    max_conformers: int = 30,
    seed: int = 12345,
    max_iters: int = 2000,
) -> Chem.Mol:
    """Reference conformers (OURS, documented; the paper uses SPICE / GEOM-DRUGS ensembles):
    ``n_embed`` ETKDGv3 conformers (seed ``seed``, distinct from the baselines' seeds), each
    minimised with MMFF94, sorted by energy, kept within ``energy_window`` kcal/mol of the lowest
    (``None``: all), then greedily pruned so that no two kept conformers are within
    ``prune_rmsd`` heavy-atom RMSD; at most ``max_conformers`` (the lowest in energy) are kept.

    This favours ETKDG as a baseline: its samples come from the same generator.
    """
    mol = etkdg_conformers(molecule, n_embed, seed=seed)
    res = rdForceFieldHelpers.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=max_iters)
    energies = np.array([e for _, e in res])
    order = np.argsort(energies)
    if energy_window is not None:
        order = order[energies[order] <= energies[order[0]] + energy_window]
    heavy = _heavy(mol)
    maps = _symmetry_maps(heavy)
    conf_ids = [c.GetId() for c in mol.GetConformers()]
    kept: list[int] = []
    probe = Chem.Mol(heavy)
    for k in order:
        cid = conf_ids[int(k)]
        if all(
            rdMolAlign.GetBestRMS(probe, heavy, cid, conf_ids[j], map=maps) >= prune_rmsd
            for j in kept
        ):
            kept.append(int(k))
        if len(kept) >= max_conformers:
            break
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    for new_id, k in enumerate(kept):
        conf = Chem.Conformer(mol.GetConformer(conf_ids[k]))
        conf.SetId(new_id)
        out.AddConformer(conf, assignId=False)
        out.GetConformer(new_id).SetDoubleProp("MMFF_energy", float(energies[k]))
    return out


def keeps_graph(mol: Chem.Mol, *, cov_factor: float = 1.3) -> np.ndarray:
    """Per conformer: does the connectivity perceived from the 3D coordinates (RDKit's
    ``DetermineConnectivity``, covalent radii x ``cov_factor``) equal the molecular graph?"""
    bonds = {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in mol.GetBonds()}
    out = np.zeros(mol.GetNumConformers(), dtype=bool)
    bare = Chem.RWMol(mol)
    for b in list(bare.GetBonds()):
        bare.RemoveBond(b.GetBeginAtomIdx(), b.GetEndAtomIdx())
    for atom in bare.GetAtoms():
        atom.SetNoImplicit(True)
        atom.SetFormalCharge(0)
    bare.RemoveAllConformers()
    for k, conf in enumerate(mol.GetConformers()):
        probe = Chem.Mol(bare)
        probe.AddConformer(Chem.Conformer(conf), assignId=True)
        rdDetermineBonds.DetermineConnectivity(probe, useHueckel=False, covFactor=cov_factor)
        found = {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in probe.GetBonds()}
        out[k] = found == bonds
    return out


def clash_free(mol: Chem.Mol, *, clash_factor: float = 0.5, min_bonds: int = 3) -> np.ndarray:
    """Per conformer: are all atom pairs at least ``min_bonds`` bonds apart (1-4 pairs and
    beyond) no closer than ``clash_factor`` x the sum of their van der Waals radii (RDKit's
    periodic table; H-H: 1.2 A at the default 0.5)?"""
    if clash_factor < 0:
        raise ConfigError(f"clash_factor must be >= 0, got {clash_factor!r}")
    topo = Chem.GetDistanceMatrix(mol)
    table = Chem.GetPeriodicTable()
    vdw = np.array([table.GetRvdw(a.GetAtomicNum()) for a in mol.GetAtoms()])
    i, j = np.nonzero(np.triu(topo >= min_bonds, k=1))
    limit = clash_factor * (vdw[i] + vdw[j])
    out = np.ones(mol.GetNumConformers(), dtype=bool)
    for k, conf in enumerate(mol.GetConformers()):
        xyz = np.asarray(conf.GetPositions())
        out[k] = bool((np.linalg.norm(xyz[i] - xyz[j], axis=1) >= limit).all())
    return out


def valid_conformers(mol: Chem.Mol, *, clash_factor: float = 0.5) -> np.ndarray:
    """Per conformer: :func:`keeps_graph` and :func:`clash_free`."""
    return keeps_graph(mol) & clash_free(mol, clash_factor=clash_factor)


def write_sdf(mol: Chem.Mol, path: str | Path, *, energies: bool = True) -> Path:
    """Write every conformer of ``mol`` as one SDF record (with its MMFF94 energy, kcal/mol,
    in the ``MMFF_energy`` property when ``energies``, and, for conformers of several
    stereoisomers (:func:`~.generate.generate_conformers`), the isomer's SMILES in
    ``stereoisomer``)."""
    p = Path(path)
    if mol.GetNumConformers() == 0:
        raise DataError("write_sdf needs a molecule with conformers")
    p.parent.mkdir(parents=True, exist_ok=True)
    es = mmff_energies(mol) if energies else None
    isomers = json.loads(mol.GetProp("stereoisomers")) if mol.HasProp("stereoisomers") else None
    writer = Chem.SDWriter(str(p))
    try:
        for k, conf in enumerate(mol.GetConformers()):
            m = copy.deepcopy(mol)
            m.SetProp("_Name", f"{Chem.MolToSmiles(Chem.RemoveHs(mol))} conformer {k}")
            if es is not None:
                m.SetDoubleProp("MMFF_energy", float(es[k]))
            if isomers is not None and conf.HasProp("stereoisomer"):
                m.SetProp("stereoisomer", isomers[conf.GetIntProp("stereoisomer")])
            m.ClearProp("stereoisomers")
            writer.write(m, confId=conf.GetId())
    finally:
        writer.close()
    return p
