"""The `lab molecules` CLI and the demo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lab.core.testing import slow
from lab.molecules.cli import main

torch.set_num_threads(1)
TINY_FLAGS = [
    "--n-steps",
    "10",
    "--epochs",
    "3",
    "--samples-per-epoch",
    "16",
    "--grad-steps-per-epoch",
    "3",
    "--batch-size",
    "16",
    "--egnn.hidden",
    "8",
    "--egnn.n-layers",
    "1",
    "--sigma-max",
    "1.0",
    "--device",
    "cpu",
    "--w2-samples",
    "40",
]


def test_sample_trains_writes_and_reloads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "harm"
    assert (
        main(
            [
                "particles",
                "sample",
                "--energy",
                "harmonic",
                "--out",
                str(out),
                "--n-samples",
                "200",
                *TINY_FLAGS,
            ]
        )
        == 0
    )
    x = np.load(out / "samples.npy")
    assert x.shape == (200, 12)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["energy_evals"] == 48 and metrics["grad_steps"] == 9
    assert metrics["virial_expected"] == 9.0 and np.isfinite(metrics["energy_w2"])
    assert (out / "energy_hist.png").stat().st_size > 1000
    assert (out / "metrics.jsonl").read_text().count("\n") == 3
    ckpt = sorted((out / "checkpoints").glob("step_*.pt"))[-1]
    out2 = tmp_path / "reload"
    assert (
        main(
            [
                "particles",
                "sample",
                "--energy",
                "harmonic",
                "--out",
                str(out2),
                "--checkpoint",
                str(ckpt),
                "--n-samples",
                "50",
                "--no-plots",
                "--device",
                "cpu",
                "--w2-samples",
                "40",
            ]
        )
        == 0
    )
    assert np.load(out2 / "samples.npy").shape == (50, 12)


def test_mala_writes_reference(tmp_path: Path) -> None:
    out = tmp_path / "ref.npy"
    assert (
        main(
            [
                "particles",
                "mala",
                "--energy",
                "harmonic",
                "--out",
                str(out),
                "--n-chains",
                "50",
                "--n-steps",
                "40",
                "--burn-in",
                "20",
                "--thin",
                "10",
                "--step-size",
                "0.1",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert np.load(out).shape == (100, 12)
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["energy_evals"] == 50 * 41


def test_bad_energy_name_is_rejected() -> None:
    with pytest.raises(SystemExit):
        main(["particles", "sample", "--energy", "lj7", "--out", "x"])


@slow
def test_demo_runs_and_beats_the_base_process(tmp_path: Path) -> None:
    from lab.molecules.particles.demo import demo

    res = demo(tmp_path, device=torch.device("cpu"), seed=0)
    assert res.metrics["energy_w2"] < 0.2 * res.metrics["energy_w2_base"]
    assert all(Path(p).is_file() for p in res.plots)


def test_paper_flag_sets_the_paper_sizes_and_flags_override(tmp_path: Path) -> None:
    from lab.molecules.particles.cli import _parser, _sampler_config

    base = ["sample", "--energy", "lj13", "--out", str(tmp_path)]
    cfg = _sampler_config(_parser().parse_args([*base, "--paper", "--epochs", "7"]))
    assert cfg.epochs == 7 and cfg.n_steps == 1000 and cfg.egnn.hidden == 128 and cfg.lr == 1e-4
    cpu = _sampler_config(_parser().parse_args([*base, "--epochs", "7"]))
    assert cpu.epochs == 7 and cpu.egnn.hidden == 32


def test_pretrained_dw4_samples_without_training(tmp_path: Path) -> None:
    """The shipped DW-4 model samples at once; its provenance (command, scores) is reported, a
    model of another system or an unknown name is refused before any folder is made."""
    import json

    from lab.core import ConfigError
    from lab.molecules.particles.pretrained import PRETRAINED, pretrained_provenance

    assert "dw4" in PRETRAINED
    prov = pretrained_provenance("dw4")
    assert "train_particles.sh dw4" in prov["command"] and "energy W2" in prov["scores"]
    out = tmp_path / "run"
    args = ["particles", "sample", "--energy", "dw4", "--pretrained", "dw4"]
    main([*args, "--n-samples", "64", "--eval-steps", "20", "--no-plots", "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pretrained"] == "dw4" and metrics["provenance"] == prov
    x = np.load(out / "samples.npy")
    assert x.shape == (64, 8) and np.isfinite(x).all()
    assert not (out / "checkpoints").exists()  # nothing was trained
    with pytest.raises(ConfigError, match="not of --energy"):
        main([*args[:3], "lj13", "--pretrained", "dw4", "--out", str(tmp_path / "y")])
    with pytest.raises(ConfigError, match="no shipped particle model"):
        main([*args[:3], "lj13", "--pretrained", "lj13", "--out", str(tmp_path / "y")])
    with pytest.raises(ConfigError, match="needs --importance"):
        main([*args, "--proposals", "10", "--out", str(tmp_path / "y")])
    assert not (tmp_path / "y").exists()
    # importance resampling: proposals and their log weights are saved for re-scoring
    imp = tmp_path / "imp"
    flags = ["--n-samples", "32", "--eval-steps", "20", "--no-plots", "--importance"]
    with pytest.warns(UserWarning, match="effective sample size"):  # 20 steps: few effective
        main([*args, *flags, "--proposals", "96", "--out", str(imp)])
    m = json.loads((imp / "metrics.json").read_text())["importance"]
    assert m["proposals"] == 96 and m["energy_evals"] == 96 and 0 < m["ess"] <= 1
    assert np.load(imp / "samples.npy").shape == (32, 8)
    assert np.load(imp / "log_weights.npy").shape == (96,)
