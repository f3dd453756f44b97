"""Side-by-side evaluation of conformer generators against reference ensembles."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from rdkit import Chem

from lab.core import progress

from ..sde import Integrator
from .evaluation import (
    THRESHOLDS,
    clash_free,
    coverage_amr,
    etkdg_conformers,
    keeps_graph,
    mmff_relax,
    reference_ensemble,
    rmsd_matrix,
)
from .generate import Stereo, generate_conformers
from .graph import MoleculeGraph
from .mmff import mmff_energies
from .sampler import TorsionalAdjointSampler

__all__ = ["Generator", "adjoint_generator", "compare_generators", "etkdg_generator"]

#: A conformer generator: ``(graph, n, seed) -> Mol with n conformers``.
Generator = Callable[[MoleculeGraph, int, int], Chem.Mol]


def etkdg_generator(graph: MoleculeGraph, n: int, seed: int) -> Chem.Mol:
    """RDKit ETKDGv3 as a :data:`Generator` (the baseline)."""
    return etkdg_conformers(graph, n, seed=seed)


def adjoint_generator(
    sampler: TorsionalAdjointSampler,
    *,
    n_steps: int | None = None,
    warm_start: bool = False,
    reject_invalid: bool = True,
    integrator: Integrator | None = None,
    stereo: Stereo = "enumerate",
) -> Generator:
    """A :data:`Generator` drawing torsions from ``sampler`` (see :func:`generate_conformers`
    for ``warm_start``, ``reject_invalid``, ``integrator`` and ``stereo``;
    ``reject_invalid=False, stereo="base"`` gives the raw samples as the paper makes them)."""

    def gen(graph: MoleculeGraph, n: int, seed: int) -> Chem.Mol:
        return generate_conformers(
            graph,
            n,
            model=sampler,
            n_steps=n_steps,
            seed=seed,
            warm_start=warm_start,
            reject_invalid=reject_invalid,
            integrator=integrator,
            stereo=stereo,
        )

    return gen


def _metrics(ref: Chem.Mol, mol: Chem.Mol, thresholds: Sequence[float]) -> dict[str, float]:
    e = mmff_energies(mol)
    out = coverage_amr(rmsd_matrix(ref, mol), thresholds)
    out["energy_mean"] = float(np.mean(e))
    out["energy_median"] = float(np.median(e))
    graph_ok = keeps_graph(mol)
    out["keeps_graph"] = float(graph_ok.mean())
    out["valid"] = float((graph_ok & clash_free(mol)).mean())
    return out


def compare_generators(
    smiles: Sequence[str],
    generators: Mapping[str, Generator],
    *,
    samples_per_reference: int = 2,
    max_samples: int = 60,
    relax: bool = True,
    reference_kwargs: Mapping[str, Any] | None = None,
    thresholds: Sequence[float] = THRESHOLDS,
    seed: int = 0,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Evaluate every generator on every molecule against a reference ensemble.

    Per molecule: the reference ensemble (:func:`reference_ensemble` with ``reference_kwargs``),
    ``n = min(samples_per_reference * n_ref, max_samples)`` conformers from each generator (the
    same ``n`` for all), their metrics raw and, with ``relax``, after MMFF94 minimisation
    (method name + ``"+relax"``): recall / precision coverage and AMR, MMFF energy mean and
    median (kcal/mol), the fraction keeping the molecular graph (``keeps_graph``) and the
    fraction that also has no clash (``valid``, :func:`~.evaluation.valid_conformers`' test
    at its default clash factor), seconds per conformer
    (generation; relaxation time added for the relaxed rows).

    Returns:
        ``{"per_molecule": [...], "summary": {method: {metric: mean over molecules}}}``.
    """
    rows = []
    for k, smi in enumerate(
        progress(
            smiles,
            desc="conformer benchmark",
            disable=None if show_progress is None else not show_progress,
        )
    ):
        graph = MoleculeGraph.from_smiles(smi, seed=seed + k)
        ref = reference_ensemble(graph, **dict(reference_kwargs or {}))
        n = min(samples_per_reference * ref.GetNumConformers(), max_samples)
        row: dict[str, Any] = {"smiles": smi, "n_reference": ref.GetNumConformers(), "n": n}
        for name, gen in generators.items():
            t0 = time.perf_counter()
            with torch.no_grad():
                mol = gen(graph, n, seed + 1000 * k + 7)
            t_gen = time.perf_counter() - t0
            m = _metrics(ref, mol, thresholds)
            m["seconds_per_conformer"] = t_gen / max(mol.GetNumConformers(), 1)
            m["n_generated"] = mol.GetNumConformers()
            row[name] = m
            if relax:
                t0 = time.perf_counter()
                relaxed = mmff_relax(mol)
                t_rel = time.perf_counter() - t0
                mr = _metrics(ref, relaxed, thresholds)
                mr["seconds_per_conformer"] = (t_gen + t_rel) / max(mol.GetNumConformers(), 1)
                mr["n_generated"] = relaxed.GetNumConformers()
                row[name + "+relax"] = mr
        rows.append(row)
    methods = [k for k in rows[0] if isinstance(rows[0][k], dict)] if rows else []
    summary = {
        m: {key: float(np.mean([r[m][key] for r in rows])) for key in rows[0][m]} for m in methods
    }
    return {"per_molecule": rows, "summary": summary}
