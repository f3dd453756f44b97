"""MoleculeGraph: parsing errors, the paper's SMARTS, the torsion -> coordinates map."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from lab.molecules.conformers import MoleculeError, MoleculeGraph, rmsd_matrix

torch.set_num_threads(1)
DRUG = "CCOc1ccccc1C(=O)NCCN(C)C"


@pytest.fixture(scope="module")
def drug() -> MoleculeGraph:
    return MoleculeGraph.from_smiles(DRUG, seed=3)


@pytest.mark.parametrize("bad", ["C1CC", "not a smiles", "c1cccc1X", ""])
def test_bad_smiles_raise_molecule_error_naming_it(bad: str) -> None:
    with pytest.raises(MoleculeError) as err:
        MoleculeGraph.from_smiles(bad)
    assert repr(bad) in str(err.value)


def test_several_fragments_are_rejected() -> None:
    with pytest.raises(MoleculeError, match="fragments"):
        MoleculeGraph.from_smiles("CCO.CC")


def test_smarts_torsions_heavy_graph_and_with_hydrogen_rotors() -> None:
    # butane: only the central C-C is rotatable on the heavy-atom graph; with hydrogens the two
    # methyl rotors match too (D counts the hydrogens).
    assert MoleculeGraph.from_smiles("CCCC").n_torsions == 1
    assert MoleculeGraph.from_smiles("CCCC", hydrogen_rotors=True).n_torsions == 3
    assert MoleculeGraph.from_smiles("CC#CC").n_torsions == 0  # triple-bond neighbours
    assert MoleculeGraph.from_smiles("C1CCCCC1").n_torsions == 0  # ring bonds
    g = MoleculeGraph.from_smiles("CCCCCCCO")
    assert g.n_torsions == 5


def test_the_smaller_fragment_rotates(drug: MoleculeGraph) -> None:
    n = drug.n_atoms
    for k in range(drug.n_torsions):
        moving = int(drug.moving_mask[k].sum())
        assert 1 <= moving <= n - moving
        _, b, c, _ = drug.torsion_atoms[k].tolist()
        # the moving side holds exactly one end of the bond
        assert bool(drug.moving_mask[k, b]) != bool(drug.moving_mask[k, c])


def test_map_reproduces_the_etkdg_conformer_at_its_own_torsions(drug: MoleculeGraph) -> None:
    x = drug.coordinates(drug.torsions0.unsqueeze(0))
    assert torch.allclose(x[0], drug.coords0, atol=1e-10)
    # and sets any requested torsions exactly, keeping every bond length
    gen = torch.Generator().manual_seed(0)
    phi = (torch.rand(5, drug.n_torsions, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
    y = drug.coordinates(phi)
    diff = torch.remainder(drug.measure_torsions(y) - phi + math.pi, 2 * math.pi) - math.pi
    assert diff.abs().max() < 1e-9
    i, j = drug.bond_index[:, 0], drug.bond_index[:, 1]
    d0 = (drug.coords0[i] - drug.coords0[j]).norm(dim=-1)
    assert torch.allclose((y[:, i] - y[:, j]).norm(dim=-1), d0.expand(5, -1), atol=1e-9)


def test_map_is_two_pi_periodic(drug: MoleculeGraph) -> None:
    phi = torch.linspace(-3.0, 3.0, drug.n_torsions, dtype=torch.float64).unsqueeze(0)
    shift = 2 * math.pi * torch.tensor([[1, -2, 3, 0, -1, 1, 2][: drug.n_torsions]])
    assert torch.allclose(drug.coordinates(phi), drug.coordinates(phi + shift), atol=1e-9)


def test_map_recovers_another_etkdg_conformer_up_to_geometry_noise(drug: MoleculeGraph) -> None:
    mol = Chem.Mol(drug.mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = 11
    AllChem.EmbedMolecule(mol, params)
    target = torch.tensor(mol.GetConformer().GetPositions()).unsqueeze(0)
    phi = drug.measure_torsions(target)
    rebuilt = drug.to_mol(drug.coordinates(phi))
    far = drug.to_mol(drug.coordinates(phi + 1.5))
    near, off = rmsd_matrix(mol, rebuilt)[0, 0], rmsd_matrix(mol, far)[0, 0]
    # only ETKDG's bond-length/angle noise separates them; shifted torsions are far
    assert near < 0.35 < off


def test_no_rotatable_bonds_is_explicit() -> None:
    g = MoleculeGraph.from_smiles("c1ccccc1")
    assert g.n_torsions == 0
    x = g.coordinates(torch.zeros(3, 0, dtype=torch.float64))
    assert x.shape == (3, 12, 3) and torch.allclose(x, g.coords0.expand(3, -1, -1))


def test_to_mol_round_trip_and_shape_check(drug: MoleculeGraph) -> None:
    mol = drug.to_mol(drug.coords0.unsqueeze(0).repeat(2, 1, 1))
    assert mol.GetNumConformers() == 2
    np.testing.assert_allclose(mol.GetConformer(1).GetPositions(), drug.coords0.numpy())
    with pytest.raises(Exception, match="coordinates must be"):
        drug.to_mol(torch.zeros(2, 3, 3))
