"""Evaluation: coverage/AMR on hand-made RMSD matrices, symmetry-aware RMSD, graph checks,
reference ensembles, ETKDG, SDF, the molecule split, generation of rigid molecules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from lab.core import DataError
from lab.molecules.conformers import (
    MoleculeFilter,
    MoleculeGraph,
    coverage_amr,
    etkdg_conformers,
    generate_conformers,
    keeps_graph,
    mmff_energies,
    mmff_relax,
    reference_ensemble,
    rmsd_matrix,
    split_molecules,
    write_sdf,
)

torch.set_num_threads(1)


def test_coverage_and_amr_on_a_hand_made_matrix() -> None:
    r = np.array([[0.5, 2.0], [1.1, 0.9], [3.0, 1.2]])  # 3 references x 2 generated
    m = coverage_amr(r)
    # recall: best per reference 0.5, 0.9, 1.2; precision: best per sample 0.5, 0.9
    assert m["recall_coverage@0.75"] == pytest.approx(1 / 3)
    assert m["recall_coverage@1"] == pytest.approx(2 / 3)
    assert m["recall_coverage@1.25"] == pytest.approx(1.0)
    assert m["recall_amr"] == pytest.approx((0.5 + 0.9 + 1.2) / 3)
    assert m["precision_coverage@0.75"] == pytest.approx(0.5)
    assert m["precision_coverage@1"] == pytest.approx(1.0)
    assert m["precision_amr"] == pytest.approx(0.7)


def test_coverage_threshold_is_strict_and_inputs_are_checked() -> None:
    assert coverage_amr(np.array([[1.0]]), thresholds=(1.0,))["recall_coverage@1"] == 0.0
    with pytest.raises(DataError):
        coverage_amr(np.zeros((0, 3)))
    with pytest.raises(DataError):
        coverage_amr(np.array([[np.nan]]))


def test_rmsd_is_heavy_atom_symmetry_aware_and_alignment_free() -> None:
    mol = etkdg_conformers("CC(C)(C)O", 1, seed=0)
    heavy_c = [a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "C" and a.GetDegree() == 4]
    methyls = [
        i
        for i in heavy_c
        if sum(n.GetSymbol() == "C" for n in mol.GetAtomWithIdx(i).GetNeighbors()) == 1
    ]
    swapped = Chem.Mol(mol)
    conf = swapped.GetConformer()
    a, b = methyls[:2]
    pa, pb = conf.GetAtomPosition(a), conf.GetAtomPosition(b)
    conf.SetAtomPosition(a, pb)
    conf.SetAtomPosition(b, pa)
    # rotate + translate the copy as well
    AllChem.TransformConformer(
        conf,
        np.array(
            [[0.0, -1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 1.0, -3.0], [0, 0, 0, 1.0]]
        ),
    )
    assert rmsd_matrix(mol, swapped)[0, 0] < 1e-6
    other = etkdg_conformers("CCCCCCO", 2, seed=1)
    r = rmsd_matrix(other, other)
    assert r.shape == (2, 2) and r[0, 0] < 1e-6 and r[0, 1] > 0.05
    with pytest.raises(DataError, match="different molecules"):
        rmsd_matrix(mol, other)


def test_keeps_graph_detects_broken_geometry() -> None:
    mol = etkdg_conformers("CC(=O)Nc1ccccc1", 3, seed=0)
    assert keeps_graph(mol).all()
    broken = Chem.Mol(mol)
    conf = broken.GetConformer(1)
    conf.SetAtomPosition(0, conf.GetAtomPosition(5))  # two atoms on top of each other
    assert keeps_graph(broken).tolist() == [True, False, True]


def test_reference_ensemble_is_pruned_sorted_and_relaxed() -> None:
    ref = reference_ensemble("CCCCOC(=O)C", n_embed=30, prune_rmsd=0.5, max_conformers=8)
    n = ref.GetNumConformers()
    assert 2 <= n <= 8
    r = rmsd_matrix(ref, ref)
    assert (r[~np.eye(n, dtype=bool)] >= 0.5).all()
    e = np.array([c.GetDoubleProp("MMFF_energy") for c in ref.GetConformers()])
    assert (np.diff(e) >= 0).all()
    np.testing.assert_allclose(mmff_energies(ref), e, atol=1e-6)


def test_etkdg_relax_lowers_energy_and_sdf_round_trips(tmp_path: Path) -> None:
    raw = etkdg_conformers("CCOCCN", 4, seed=2)
    relaxed = mmff_relax(raw)
    assert raw.GetNumConformers() == 4
    assert (mmff_energies(relaxed) < mmff_energies(raw) + 1e-9).all()
    path = write_sdf(relaxed, tmp_path / "x.sdf")
    back = [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]
    assert len(back) == 4 and all(m.GetNumAtoms() == relaxed.GetNumAtoms() for m in back)
    np.testing.assert_allclose(
        [m.GetDoubleProp("MMFF_energy") for m in back], mmff_energies(relaxed), rtol=1e-6
    )


def test_rigid_molecule_generation_is_documented_behaviour() -> None:
    g = MoleculeGraph.from_smiles("c1ccc2ccccc2c1")
    mol = generate_conformers(g, 3)
    assert mol.GetNumConformers() == 3
    r = rmsd_matrix(mol, mol)
    assert r.max() < 1e-6  # copies of the ETKDG conformer


def test_split_is_deterministic_disjoint_and_filtered() -> None:
    smiles = [
        "CCCCCCCCO",
        "OCCCCCCCCN",
        "CC(=O)NCCc1ccccc1",
        "C[N+](C)(C)CCCCCO",  # charged: rejected
        "CCCCCCCCCCCCCCCCCCCCCCCCCC",  # too large: rejected
        "CCOCCOCC",
    ] * 2  # duplicates: dropped
    train, test = split_molecules(smiles, test_fraction=0.5)
    assert set(train).isdisjoint(test)
    assert len(train) + len(test) == 4
    train_r, test_r = split_molecules(list(reversed(smiles)), test_fraction=0.5)
    assert set(train_r) == set(train) and set(test_r) == set(test)  # order-independent
    assert MoleculeFilter().accepts("C[N+](C)(C)CCCCCO") is None
    assert MoleculeFilter(max_torsions=2).accepts("CCCCCCCCO") is None


def test_warm_start_builds_each_conformer_on_its_own_etkdg_geometry() -> None:
    smiles = "CCOC(=O)CCc1ccccc1"
    mol = generate_conformers(smiles, 4, warm_start=True, n_steps=5, seed=3)
    ens = etkdg_conformers(MoleculeGraph.from_smiles(smiles, seed=3), 4, seed=3)
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]

    def lengths(m: Chem.Mol, k: int) -> np.ndarray:
        x = m.GetConformer(k).GetPositions()
        return np.array([np.linalg.norm(x[i] - x[j]) for i, j in bonds])

    for k in range(4):
        np.testing.assert_allclose(lengths(mol, k), lengths(ens, k), atol=1e-9)
    assert not np.allclose(lengths(mol, 0), lengths(mol, 1), atol=1e-4)


def test_rejection_returns_only_valid_conformers_or_says_how_many() -> None:
    from lab.core import DataError
    from lab.molecules.conformers import clash_free, valid_conformers

    smiles = "CN(C)CCOC(c1ccccc1)c1ccccc1"  # diphenhydramine
    assert clash_free(etkdg_conformers(smiles, 5, seed=0)).all()
    raw = generate_conformers(smiles, 12, reject_invalid=False, n_steps=10, seed=1)
    kept = generate_conformers(smiles, 12, n_steps=10, seed=1)
    assert kept.GetNumConformers() == 12 and valid_conformers(kept).all()
    assert not valid_conformers(raw).all()  # 10 SDE steps leave invalid raw samples
    with pytest.raises(DataError, match="of 3 sampled conformers"):
        generate_conformers(smiles, 3, n_steps=10, clash_factor=5.0, max_rounds=1)


def test_compare_generators_reports_raw_and_rejected_validity() -> None:
    """The untrained sampler's raw samples clash; the rejecting generator returns only valid
    conformers; ETKDG's are valid; every coverage threshold is reported raw and relaxed."""
    from lab.molecules.conformers import (
        TorsionalAdjointSampler,
        TorsionalConfig,
        TorsionNetConfig,
        adjoint_generator,
        compare_generators,
        etkdg_generator,
    )

    cfg = TorsionalConfig(
        eval_steps=5, net=TorsionNetConfig(hidden=8, n_layers=1, n_rbf=4, time_features=2)
    )
    sampler = TorsionalAdjointSampler(None, cfg, device="cpu")
    res = compare_generators(
        ["CCCCCCCCO"],
        {
            "raw": adjoint_generator(sampler, reject_invalid=False),
            "rejected": adjoint_generator(sampler),
            "etkdg": etkdg_generator,
        },
        max_samples=12,
        reference_kwargs={"n_embed": 8, "max_conformers": 6},
        show_progress=False,
    )
    s = res["summary"]
    assert set(s) == {"raw", "raw+relax", "rejected", "rejected+relax", "etkdg", "etkdg+relax"}
    for row in s.values():
        assert {"recall_coverage@0.5", "recall_coverage@0.75", "recall_coverage@1"} <= set(row)
        assert 0.0 <= row["valid"] <= row["keeps_graph"] <= 1.0
    assert s["rejected"]["valid"] == 1.0 and s["etkdg"]["valid"] == 1.0
    assert s["raw"]["valid"] < 1.0  # an untrained control folds the chain onto itself
