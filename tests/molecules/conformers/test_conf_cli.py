"""CLI: `lab molecules conformers generate` with the shipped model, `... conformers train` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem

from lab.molecules.cli import main
from lab.molecules.conformers import (
    MoleculeError,
    TorsionalAdjointSampler,
    keeps_graph,
    mmff_energies,
    pretrained_path,
)

torch.set_num_threads(1)


def _read(path: Path) -> list[Chem.Mol]:
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]


def test_shipped_checkpoint_is_small_and_loads() -> None:
    path = pretrained_path()
    assert path.stat().st_size < 2_000_000
    sampler = TorsionalAdjointSampler.from_checkpoint(path)
    assert len(sampler.train_smiles) >= 100 and sampler.epoch >= 1


def test_conformers_command_with_the_shipped_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.sdf"
    assert (
        main(
            [
                "conformers",
                "generate",
                "CCOC(=O)CCc1ccccc1",
                "-n",
                "6",
                "-o",
                str(out),
                "--steps",
                "30",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    mols = _read(out)
    assert len(mols) == 6 and summary["n_conformers"] == 6 and not summary["relaxed"]
    assert all(Chem.MolToSmiles(Chem.RemoveHs(m)) == "CCOC(=O)CCc1ccccc1" for m in mols)
    raw_e = np.array([m.GetDoubleProp("MMFF_energy") for m in mols])
    relaxed = tmp_path / "relaxed.sdf"
    main(
        [
            "conformers",
            "generate",
            "CCOC(=O)CCc1ccccc1",
            "-n",
            "6",
            "-o",
            str(relaxed),
            "--steps",
            "30",
            "--relax",
        ]
    )
    rel = _read(relaxed)
    rel_e = np.array([m.GetDoubleProp("MMFF_energy") for m in rel])
    assert (rel_e <= raw_e + 1e-6).all()  # the same torsions (same seed), then minimised
    merged = Chem.Mol(rel[0])
    for m in rel[1:]:
        merged.AddConformer(m.GetConformer(), assignId=True)
    assert keeps_graph(merged).all()
    # SDF stores 4 decimals of coordinates: energies agree to ~1e-4 kcal/mol
    np.testing.assert_allclose(mmff_energies(merged), rel_e, atol=1e-3)


def test_conformers_command_rejects_bad_smiles(tmp_path: Path) -> None:
    with pytest.raises(MoleculeError, match="C1CC"):
        main(["conformers", "generate", "C1CC", "-n", "2", "-o", str(tmp_path / "x.sdf")])


def test_train_then_generate_from_the_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m.pt"
    args = [
        "conformers",
        "train",
        "--out",
        str(tmp_path / "run"),
        "--n-train",
        "4",
        "--epochs",
        "1",
        "--n-steps",
        "4",
        "--grad-steps-per-epoch",
        "2",
        "--molecules-per-epoch",
        "2",
        "--copies-per-molecule",
        "2",
        "--batch-molecules",
        "2",
        "--batch-copies",
        "2",
        "--export",
        str(model),
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs"] == 1 and summary["n_train"] == 4 and model.is_file()
    assert (tmp_path / "run" / "checkpoints").is_dir()
    out = tmp_path / "g.sdf"
    assert (
        main(["conformers", "generate", "CCCCO", "-n", "3", "-o", str(out), "--model", str(model)])
        == 0
    )
    assert len(_read(out)) == 3


def test_conformers_command_warm_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.sdf"
    argv = [
        "conformers",
        "generate",
        "CCOC(=O)CCc1ccccc1",
        "-n",
        "3",
        "-o",
        str(out),
        "--steps",
        "5",
    ]
    assert main([*argv, "--warm-start"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["warm_start"] and summary["n_conformers"] == 3 and len(_read(out)) == 3


def test_conformers_command_spreads_over_stereoisomers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.sdf"
    smiles = "O=C(O)C=CC(=O)c1ccccc1"  # E/Z left unassigned
    argv = ["conformers", "generate", smiles, "-n", "4", "-o", str(out), "--steps", "5"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["stereo"] == "enumerate" and len(summary["stereoisomers"]) == 2
    assert {m.GetProp("stereoisomer") for m in _read(out)} == set(summary["stereoisomers"])
    with pytest.warns(UserWarning, match="stereo='base'"):
        assert main([*argv, "--stereo", "base"]) == 0
    assert json.loads(capsys.readouterr().out)["stereoisomers"] == []


def test_demo_measures_coverage_and_writes_a_plot(tmp_path: Path) -> None:
    from lab.molecules.conformers.demo import demo

    res = demo(tmp_path, device=torch.device("cpu"), seed=0)
    assert all(p.is_file() for p in res.plots)
    cov = [v for k, v in res.metrics.items() if k.endswith("recall_coverage@1")]
    assert len(cov) == 4 and all(0.0 <= v <= 1.0 for v in cov)
    assert res.metrics["etkdg+relax/keeps_graph"] == 1.0
