"""Unassigned stereo: the torsional sampler's base conformer fixes chiral centres and E/Z, so
``generate_conformers(stereo="enumerate")`` spreads the conformers over the stereoisomers."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from rdkit import Chem

from lab.core import ConfigError
from lab.molecules.conformers import MoleculeGraph, generate_conformers
from lab.molecules.conformers.graph import stereoisomer_count, stereoisomer_graphs

torch.set_num_threads(1)

TWO_CENTRES = "OCCNC(c1ccc(Cl)cc1)C(O)c1ccc(Cl)cc1"  # 4 stereoisomers, held-out NCI molecule
DOUBLE_BOND = "O=C(O)C=CC(=O)c1ccccc1"  # E and Z


def _stereo_of_conformer(mol: Chem.Mol, conf_id: int) -> str:
    """Canonical isomeric SMILES that one conformer's 3D coordinates embody."""
    one = Chem.Mol(mol)
    one.RemoveAllConformers()
    one.AddConformer(Chem.Conformer(mol.GetConformer(conf_id)), assignId=True)
    Chem.AssignStereochemistryFrom3D(one)
    return Chem.MolToSmiles(Chem.RemoveHs(one))


def test_stereoisomer_graphs_enumerate_only_unassigned_elements() -> None:
    graphs = stereoisomer_graphs(TWO_CENTRES, seed=3)
    names = {Chem.MolToSmiles(Chem.RemoveHs(g.mol)) for g in graphs}
    assert len(graphs) == 4 and len(names) == 4
    for g in graphs:  # same atoms, same torsions: one model serves every isomer
        assert [a.GetSymbol() for a in g.mol.GetAtoms()] == [
            a.GetSymbol() for a in graphs[0].mol.GetAtoms()
        ]
        assert torch.equal(g.torsion_atoms, graphs[0].torsion_atoms)
        # the base conformer's 3D geometry is the isomer the graph is labelled with
        assert _stereo_of_conformer(g.mol, 0) == Chem.MolToSmiles(Chem.RemoveHs(g.mol))
    assert stereoisomer_count(Chem.MolFromSmiles("C[C@H](N)C(=O)O")) == 1
    assert len(stereoisomer_graphs("C[C@H](N)C(=O)O")) == 1  # assigned stereo is kept
    assert len(stereoisomer_graphs("CCCCO")) == 1


def test_a_given_base_conformer_serves_the_isomer_it_embodies() -> None:
    g = MoleculeGraph.from_smiles(TWO_CENTRES, seed=5)
    graphs = stereoisomer_graphs(g, seed=1)
    same = [h for h in graphs if torch.equal(h.coords0, g.coords0)]
    assert len(graphs) == 4 and len(same) == 1
    h = MoleculeGraph.from_smiles(TWO_CENTRES, seed=5, hydrogen_rotors=True)
    assert all(x.n_torsions == h.n_torsions > g.n_torsions for x in stereoisomer_graphs(h))


def test_too_many_isomers_warn_and_bad_arguments_raise() -> None:
    with pytest.warns(UserWarning, match="up to 32 stereoisomers"):
        graphs = stereoisomer_graphs("CC(O)C(O)C(O)C(O)C(O)C", max_isomers=3)
    assert len(graphs) == 3
    with pytest.raises(ConfigError, match="max_isomers"):
        stereoisomer_graphs(TWO_CENTRES, max_isomers=0)
    with pytest.raises(ConfigError, match="stereo must be"):
        generate_conformers(TWO_CENTRES, 2, stereo="random")  # type: ignore[arg-type]


def test_enumerate_spreads_conformers_over_every_stereoisomer() -> None:
    mol = generate_conformers(TWO_CENTRES, 10, n_steps=10, seed=1, reject_invalid=False)
    names = json.loads(mol.GetProp("stereoisomers"))
    labels = [c.GetIntProp("stereoisomer") for c in mol.GetConformers()]
    assert len(names) == 4 and sorted(np.bincount(labels).tolist()) == [2, 2, 3, 3]
    for conf, k in zip(mol.GetConformers(), labels, strict=True):
        assert _stereo_of_conformer(mol, conf.GetId()) == names[k]
    # the container's tags are cleared: each conformer's stereo lives in its coordinates
    assert all(a.GetChiralTag() == Chem.ChiralType.CHI_UNSPECIFIED for a in mol.GetAtoms())
    ez = generate_conformers(DOUBLE_BOND, 4, n_steps=10, seed=0, reject_invalid=False)
    assert len({_stereo_of_conformer(ez, c.GetId()) for c in ez.GetConformers()}) == 2
    for smiles, m in ((TWO_CENTRES, mol), (DOUBLE_BOND, ez)):  # same molecule as the input
        assert Chem.MolToSmiles(Chem.RemoveHs(m)) == Chem.CanonSmiles(smiles)


def test_base_mode_is_the_papers_one_isomer_and_says_so() -> None:
    with pytest.warns(UserWarning, match="up to 4 stereoisomers"):
        mol = generate_conformers(
            TWO_CENTRES, 6, n_steps=10, seed=1, reject_invalid=False, stereo="base"
        )
    assert len({_stereo_of_conformer(mol, c.GetId()) for c in mol.GetConformers()}) == 1
    assert not mol.HasProp("stereoisomers")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about without unassigned stereo
        generate_conformers("CCOC(=O)CCc1ccccc1", 2, n_steps=5, stereo="base")
