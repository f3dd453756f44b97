"""``lab robotics`` end to end on tiny sizes."""

from __future__ import annotations

import json

import h5py

from lab.robotics.cli import main


def test_synth_then_label_with_ground_truth_and_export(tmp_path):
    data = tmp_path / "synth"
    assert (
        main(
            [
                "synth",
                "--out",
                str(data),
                "--seed",
                "2",
                "--n-frames",
                "3",
                "--width",
                "160",
                "--height",
                "120",
            ]
        )
        == 0
    )
    assert (data / "cam1" / "depth" / "000002.png").is_file()
    out = tmp_path / "labels"
    assert (
        main(
            [
                "label",
                "--input",
                str(data),
                "--out",
                str(out),
                "--robomimic",
                str(out / "demo.hdf5"),
                "--pose.ransac-attempts",
                "1",
                "--pose.ransac-max-iterations",
                "5000",
                "--pose.multi-start",
                "24",
                "--actions.mode",
                "delta",
                "--camera-rate",
                "20",
                "--policy-rate",
                "10",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 3
    assert summary["errors"]["trans_median_mm"] < 1.5  # depth PNG is quantised to 1 mm
    assert summary["errors"]["rot_median_deg"] < 0.5
    labels = json.loads((out / "labels.json").read_text())["frames"]
    assert labels[0]["status"] == "init" and len(labels[0]["pose"]) == 16
    with h5py.File(out / "demo.hdf5") as f:
        assert f["data/demo_0/actions"].shape == (1, 7)  # 3 frames at 20 Hz -> 2 poses at 10 Hz
    assert summary["outlier_frames"] == 0 and summary["action_steps"] == 1


def test_train_resume_and_eval(tmp_path, capsys):
    args = [
        "train-bc",
        "--kind",
        "robot",
        "--n-demos",
        "2",
        "--out",
        str(tmp_path),
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--checkpoint-every",
        "1",
    ]
    assert main(args) == 0
    run = next((tmp_path / "bc-robot").iterdir())
    assert (run / "demos.hdf5").is_file() and len(list((run / "checkpoints").iterdir())) == 2
    assert main(["train-bc", "--resume", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval-bc", "--run", str(run), "--n-rollouts", "5", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n_rollouts"] == 5 and 0.0 <= result["success_rate"] <= 1.0
    assert result["checkpoint"].endswith("step_000000002.pt")


def test_failed_train_leaves_no_run_folder(tmp_path):
    import pytest

    from lab.core import LabError

    out = tmp_path / "bc"
    with pytest.raises(LabError, match="does not exist"):
        main(["train-bc", "--hdf5", str(tmp_path / "missing.hdf5"), "--out", str(out)])
    with pytest.raises(LabError):
        main(["train-bc", "--kind", "robot", "--device", "no-such-device", "--out", str(out)])
    assert not out.exists()
