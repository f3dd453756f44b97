"""MMFFEnergy: RDKit's numbers, exact gradients, torsion gradients through the map."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit.Chem import AllChem

from lab.molecules.conformers import MMFFEnergy, MoleculeError, MoleculeGraph, torsion_energy

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mol() -> MoleculeGraph:
    return MoleculeGraph.from_smiles("CC(=O)NCCc1ccc(O)cc1", seed=1)


def test_energy_and_gradient_match_rdkit(mol: MoleculeGraph) -> None:
    props = AllChem.MMFFGetMoleculeProperties(mol.mol)
    ff = AllChem.MMFFGetMoleculeForceField(mol.mol, props)
    e_ref, g_ref = ff.CalcEnergy(), np.array(ff.CalcGrad()).reshape(-1, 3)
    x = mol.coords0.clone().unsqueeze(0).requires_grad_(True)
    energy = MMFFEnergy(mol)
    e = energy(x)
    e.sum().backward()
    assert e.item() == pytest.approx(e_ref, rel=1e-10)
    np.testing.assert_allclose(x.grad[0].numpy(), g_ref, rtol=1e-8, atol=1e-8)
    assert energy.calls == 1


def test_batch_equals_single_calls(mol: MoleculeGraph) -> None:
    energy = MMFFEnergy(mol)
    phi = torch.randn(
        4, mol.n_torsions, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    x = mol.coordinates(phi)
    batch = energy(x)
    singles = torch.cat([energy(x[k : k + 1]) for k in range(4)])
    assert torch.equal(batch, singles)
    assert batch.std() > 0  # different torsions, different energies


def test_gradcheck_through_the_torsion_map(mol: MoleculeGraph) -> None:
    energy = MMFFEnergy(mol)
    phi = (mol.torsions0 + 0.3).unsqueeze(0).clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda p: energy(mol.coordinates(p)), (phi,), eps=1e-6, atol=1e-4, rtol=1e-4
    )


def test_torsion_gradient_matches_central_differences(mol: MoleculeGraph) -> None:
    energy = MMFFEnergy(mol)
    phi = (mol.torsions0 - 0.7).unsqueeze(0)
    e, g = torsion_energy(mol, energy, phi)
    h = 1e-5
    for k in range(mol.n_torsions):
        dp = torch.zeros_like(phi)
        dp[0, k] = h
        ep = energy(mol.coordinates(phi + dp))
        em = energy(mol.coordinates(phi - dp))
        assert g[0, k].item() == pytest.approx(((ep - em) / (2 * h)).item(), rel=1e-5, abs=1e-5)
    assert e.shape == (1,)


def test_untyped_atoms_raise() -> None:
    with pytest.raises(MoleculeError, match="MMFF94 has no parameters"):
        MMFFEnergy(MoleculeGraph.from_smiles("CB(C)C"))


def test_wrong_shape_is_an_error(mol: MoleculeGraph) -> None:
    with pytest.raises(Exception, match="MMFF expects coordinates"):
        MMFFEnergy(mol)(torch.zeros(2, 3, 3, dtype=torch.float64))
