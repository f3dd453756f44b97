"""lab.molecules.conformers: amortised conformer generation with Adjoint Sampling.

One graph-conditioned control network samples torsion angles (on the torus) for any molecule;
energies are RDKit's MMFF94 (:class:`MMFFEnergy`, kcal/mol). The SDE schedule, replay buffer,
per-coordinate clipping and loss times are shared with :mod:`lab.molecules`. Also: the
Cartesian variant (:class:`CartesianAdjointSampler`, EGNN, centre-of-mass-free noise), ETKDG
baselines, reference ensembles, coverage / AMR metrics and SDF output.
"""

from __future__ import annotations

from .batch import GraphBatch
from .cartesian import (
    CartesianAdjointSampler,
    CartesianConfig,
    GraphEGNN,
    bond_length_penalty,
)
from .compare import adjoint_generator, compare_generators, etkdg_generator
from .data import MoleculeFilter, load_smiles, rdkit_nci_path, split_molecules, training_molecules
from .evaluation import (
    THRESHOLDS,
    clash_free,
    coverage_amr,
    etkdg_conformers,
    keeps_graph,
    mmff_relax,
    reference_ensemble,
    rmsd_matrix,
    valid_conformers,
    write_sdf,
)
from .generate import (
    Stereo,
    conformers_over_isomers,
    generate_conformers,
    load_pretrained,
    pretrained_path,
)
from .graph import (
    ROTATABLE_SMARTS,
    MoleculeError,
    MoleculeGraph,
    dihedral,
    parse_smiles,
    stereoisomer_count,
    stereoisomer_graphs,
    torsions_to_coordinates,
)
from .mmff import MMFFEnergy, mmff_energies
from .network import TorsionControlNet, TorsionNetConfig
from .sampler import TorsionalAdjointSampler, TorsionalConfig, simulate_torsions, torsion_energy
from .torus import periodic_bridge, wrap, wrapped_normal_log_density, wrapped_normal_score

__all__ = [
    "ROTATABLE_SMARTS",
    "THRESHOLDS",
    "CartesianAdjointSampler",
    "CartesianConfig",
    "GraphBatch",
    "GraphEGNN",
    "MMFFEnergy",
    "MoleculeError",
    "MoleculeFilter",
    "MoleculeGraph",
    "Stereo",
    "TorsionControlNet",
    "TorsionNetConfig",
    "TorsionalAdjointSampler",
    "TorsionalConfig",
    "adjoint_generator",
    "bond_length_penalty",
    "clash_free",
    "compare_generators",
    "conformers_over_isomers",
    "coverage_amr",
    "dihedral",
    "etkdg_conformers",
    "etkdg_generator",
    "generate_conformers",
    "keeps_graph",
    "load_pretrained",
    "load_smiles",
    "mmff_energies",
    "mmff_relax",
    "parse_smiles",
    "periodic_bridge",
    "pretrained_path",
    "rdkit_nci_path",
    "reference_ensemble",
    "rmsd_matrix",
    "simulate_torsions",
    "split_molecules",
    "stereoisomer_count",
    "stereoisomer_graphs",
    "torsion_energy",
    "torsions_to_coordinates",
    "training_molecules",
    "valid_conformers",
    "wrap",
    "wrapped_normal_log_density",
    "wrapped_normal_score",
    "write_sdf",
]
