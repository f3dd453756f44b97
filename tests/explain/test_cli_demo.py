"""``lab explain stability`` (with resume), the digits loaders and the demo (slow)."""

import importlib.util
import json

import numpy as np
import pytest
import torch

from lab.core import DataError, RunDir
from lab.core.testing import slow
from lab.explain import load_image_npz
from lab.explain.cli import main

needs_sklearn = pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None, reason="needs scikit-learn"
)


@needs_sklearn
def test_cli_stability_runs_and_resumes(tmp_path, capsys):
    args = [
        "stability",
        "--n-images",
        "3",
        "--methods",
        "random",
        "--radii",
        "0",
        "2",
        "--epochs",
        "2",
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--mus-lam",
        "0.25",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "random" in out and "r=2" in out
    (run_path,) = (tmp_path / "explain-stability").iterdir()
    summary = json.loads((run_path / "summary.json").read_text())
    entry = summary["methods"]["random"]
    assert entry["n"] == 3 and entry["mean_rate"]["0"] == 1.0
    assert 0.0 <= entry["mean_rate"]["2"] <= 1.0
    assert entry["mus_certified_fraction"]["0"] == 1.0
    rows = list(RunDir.open(run_path).metrics())
    assert len(rows) == 3
    # resume: nothing new to do, same rows, same summary
    assert main(["stability", "--resume", str(run_path), "--device", "cpu"]) == 0
    assert len(list(RunDir.open(run_path).metrics())) == 3
    assert json.loads((run_path / "summary.json").read_text())["methods"] == summary["methods"]


def test_cli_rejects_unknown_method(tmp_path):
    from lab.core import ConfigError

    with pytest.raises(ConfigError, match="unknown method 'gradcam'"):
        main(["stability", "--methods", "gradcam", "--out", str(tmp_path)])


def test_npz_loader(tmp_path):
    path = tmp_path / "imgs.npz"
    np.savez(path, images=np.zeros((5, 8, 8), dtype=np.float32), labels=np.arange(5))
    images, labels = load_image_npz(path)
    assert images.shape == (5, 1, 8, 8) and labels.tolist() == [0, 1, 2, 3, 4]
    np.savez(tmp_path / "bad.npz", images=np.zeros((5, 8, 8)))
    with pytest.raises(DataError, match="missing arrays \\['labels'\\]"):
        load_image_npz(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="does not exist"):
        load_image_npz(tmp_path / "nope.npz")


@slow
@needs_sklearn
def test_demo_measures_stability(tmp_path):
    from lab.explain.demo import demo

    res = demo(tmp_path, device=torch.device("cpu"), seed=0)
    assert res.metrics["test_accuracy"] > 0.9
    assert res.metrics["random_tau_r0"] == 1.0
    assert all(p.is_file() for p in res.plots)


def test_failed_commands_leave_no_run_folder(tmp_path, monkeypatch):
    import sys

    import pytest

    from lab.core import LabError

    out = tmp_path / "runs"
    with pytest.raises(LabError, match=r"no-such\.npz"):
        main(["stability", "--data", str(tmp_path / "no-such.npz"), "--out", str(out)])
    with pytest.raises(LabError, match="checkpoint"):
        main(["stability", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(out)])
    with pytest.raises(LabError):
        main(["stability", "--device", "no-such-device", "--out", str(out)])
    monkeypatch.setitem(sys.modules, "captum", None)
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(LabError, match="captum"):
        main(["stability", "--methods", "integrated_gradients", "--out", str(out)])
    assert not out.exists()
