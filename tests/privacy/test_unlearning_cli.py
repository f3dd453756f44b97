"""``lab privacy unlearning ...`` through register(subparsers), and the deprecated spellings."""

from __future__ import annotations

import argparse
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("opacus")
pytest.importorskip("transformers")
pytest.importorskip("rouge_score")

from lab.core import ConfigError
from lab.privacy.unlearning.cli import register
from lab.privacy.unlearning.data import load_tofu


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="lab privacy")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_pipeline(tmp_path, capsys) -> None:
    import torch

    torch.set_num_threads(1)
    d, m0, full, dp, u = (tmp_path / x for x in ("data", "m0", "full", "dp", "u"))
    small = [
        "--n-authors",
        "4",
        "--min-qa",
        "3",
        "--max-qa",
        "3",
        "--forget-fraction",
        "0.25",
        "--retain-eval-authors",
        "1",
    ]
    assert run(["unlearning", "data", "--out", str(d), *small]) == 0
    data = load_tofu(d, forget_split="forget25")
    assert len(data.forget) == 3 and len(data.retain) == 9
    model = ["--model.n-embd", "16", "--model.n-head", "2", "--model.n-layer", "1"]
    assert (
        run(
            [
                "unlearning",
                "train",
                "--data",
                str(d),
                "--split",
                "pretrain",
                "--out",
                str(m0),
                "--epochs",
                "1",
                *model,
            ]
        )
        == 0
    )
    assert (
        run(
            [
                "unlearning",
                "train",
                "--data",
                str(d),
                "--split",
                "full",
                "--init",
                str(m0),
                "--out",
                str(full),
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    cost = json.loads((full / "cost.json").read_text())
    assert cost["split"] == "full" and cost["steps"] == 1  # 12 records, batch 16
    assert (
        run(
            [
                "unlearning",
                "dp-train",
                "--data",
                str(d),
                "--init",
                str(m0),
                "--out",
                str(dp),
                "--target-epsilon",
                "5",
                "--delta",
                "0.001",
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--accountant",
                "rdp",
            ]
        )
        == 0
    )
    priv = json.loads((dp / "privacy.json").read_text())
    assert priv["epsilon"] <= 5.01 and priv["group_size"] == 3
    assert priv["author_epsilon"] == pytest.approx(3 * priv["epsilon"])
    assert (
        run(
            [
                "unlearning",
                "forget",
                "--data",
                str(d),
                "--model",
                str(dp),
                "--method",
                "dp2u",
                "--epochs",
                "1",
                "--out",
                str(u),
            ]
        )
        == 0
    )
    assert json.loads((u / "cost.json").read_text())["method"] == "dp2u"
    out = tmp_path / "metrics.json"
    assert (
        run(
            [
                "unlearning",
                "evaluate",
                "--data",
                str(d),
                "--model",
                str(u),
                "--reference",
                str(full),
                "--out",
                str(out),
                "--max-new-tokens",
                "4",
            ]
        )
        == 0
    )
    metrics = json.loads(out.read_text())
    assert 0 <= metrics["forget_quality"] <= 1 and 0 <= metrics["model_utility"] <= 1
    assert "model_utility" in capsys.readouterr().out


def test_cli_rejects_bad_values(tmp_path) -> None:
    with pytest.raises(ConfigError, match="forget_fraction"):
        run(
            [
                "unlearning",
                "data",
                "--out",
                str(tmp_path),
                "--n-authors",
                "3",
                "--forget-fraction",
                "0.01",
            ]
        )
    with pytest.raises(SystemExit):
        run(
            [
                "unlearning",
                "forget",
                "--data",
                "x",
                "--model",
                "y",
                "--out",
                "z",
                "--method",
                "nope",
            ]
        )


def test_failed_commands_leave_no_folders(tmp_path) -> None:
    """Issue 24: config, device and data are validated before any run or output folder."""
    import torch

    from lab.core import DataError, DeviceError

    torch.set_num_threads(1)
    d, m0 = tmp_path / "data", tmp_path / "m0"
    small = ["--n-authors", "4", "--min-qa", "2", "--max-qa", "2", "--forget-fraction", "0.25"]
    assert run(["unlearning", "data", "--out", str(d), *small, "--retain-eval-authors", "1"]) == 0
    model = ["--model.n-embd", "16", "--model.n-head", "2", "--model.n-layer", "1"]
    train = ["unlearning", "train", "--data", str(d), "--split", "pretrain", "--epochs", "1"]
    assert run([*train, "--out", str(m0), *model]) == 0
    out, rd = tmp_path / "dp", tmp_path / "rd"
    dp = ["unlearning", "dp-train", "--data", str(d), "--init", str(m0), "--out", str(out)]
    dp += ["--run-dir", str(rd), "--epochs", "1", "--batch-size", "2", "--accountant", "rdp"]
    with pytest.raises(ConfigError, match="cannot be met"):
        run([*dp, "--target-epsilon", "1e-6"])
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError):
            run([*dp, "--device", "cuda"])
        with pytest.raises(DeviceError):
            run([*train, "--out", str(out), "--run-dir", str(rd), "--device", "cuda", *model])
    with pytest.raises(DataError):
        run([*train, "--out", str(out), "--run-dir", str(rd), "--data", str(tmp_path / "no")])
    assert not out.exists() and not rd.exists()
