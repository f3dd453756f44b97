import json
from pathlib import Path

import pytest
import torch

from lab.core import ConfigError, LabError
from lab.signal.cli import main

TINY_FLAGS = [
    "--subset",
    "SIM",
    "--simulator.n-train-units",
    "6",
    "--simulator.n-test-units",
    "3",
    "--data.window",
    "8",
    "--data.val-fraction",
    "0.34",
    "--mkdpinn.hidden-dim",
    "4",
    "--mkdpinn.d-model",
    "8",
    "--mkdpinn.n-heads",
    "2",
    "--mkdpinn.ff-dim",
    "16",
    "--mkdpinn.n-layers",
    "1",
    "--mkdpinn.pgr-width",
    "8",
    "--train.epochs",
    "2",
    "--train.max-steps-per-epoch",
    "2",
    "--train.batch-size",
    "64",
    "--meta.outer-steps",
    "2",
    "--meta.inner-steps",
    "2",
    "--meta.eval-every",
    "0",
    "--n-meta-tasks",
    "2",
    "--device",
    "cpu",
]


def _run_dir(out: Path) -> Path:
    (run,) = list((out / "rul").iterdir())
    return run


def test_cli_train_evaluate_adapt_resume(tmp_path, capsys):
    assert main(["rul", "train", *TINY_FLAGS, "--out", str(tmp_path)]) == 0
    run = _run_dir(tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_engines"] == 3 and summary["epochs_run"] == 2
    assert (run / "model.pt").is_file() and (run / "meta" / "meta_final.pt").is_file()
    assert len(list((run / "checkpoints").glob("step_*.pt"))) == 2
    capsys.readouterr()
    assert main(["rul", "evaluate", "--run", str(run), "--device", "cpu", "--plot"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["test"]["rmse"] == pytest.approx(summary["test_rmse"], rel=1e-6)
    assert (run / "plots" / "engine_rul.png").is_file()
    assert (
        main(
            [
                "rul",
                "adapt",
                "--run",
                str(run),
                "--target",
                "SIM",
                "--k",
                "2",
                "--steps",
                "3",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["k"] == 2 and out["adapted"]["n"] == 3.0
    # resume of a finished run keeps its result
    assert main(["rul", "train", "--resume", str(run), "--device", "cpu"]) == 0
    again = json.loads((run / "summary.json").read_text())
    assert again["test_rmse"] == pytest.approx(summary["test_rmse"], rel=1e-6)


def test_cli_ridge_and_bad_flags(tmp_path, capsys):
    assert main(["rul", "train", *TINY_FLAGS, "--model", "ridge", "--out", str(tmp_path)]) == 0
    run = _run_dir(tmp_path)
    assert json.loads((run / "summary.json").read_text())["model"] == "ridge"
    with pytest.raises(SystemExit):
        main(["rul", "train", "--model", "transformer"])
    with pytest.raises(ConfigError, match="FD007"):
        main(["rul", "train", "--subset", "FD007", "--out", str(tmp_path)])


def test_cli_failed_train_leaves_no_run_folder(tmp_path):
    empty = tmp_path / "no_data"
    empty.mkdir()
    out = tmp_path / "runs"
    with pytest.raises(LabError):
        main(["rul", "train", "--subset", "FD001", "--data-root", str(empty), "--out", str(out)])
    assert not (out / "rul").exists() or not any((out / "rul").iterdir())


def test_demo_on_the_simulator(tmp_path, monkeypatch):
    from lab.signal.rul.demo import demo

    monkeypatch.delenv("LABWORKS_DATA", raising=False)
    res = demo(tmp_path, device=torch.device("cpu"), seed=0)
    assert res.metrics["data"] == "SIM"
    assert 0 < res.metrics["mkdpinn_rmse"] < 60 and 0 < res.metrics["ridge_rmse"] < 60
    assert all(Path(p).is_file() and Path(p).stat().st_size > 1000 for p in res.plots)
