"""The `continual` subcommand, the experiment runner and the demo."""

import argparse
import json

import pytest
import torch

from lab.core import ConfigError
from lab.llm.continual.cli import main, register
from lab.llm.continual.experiment import ContinualExperimentConfig

torch.set_num_threads(1)

FAST = [
    "--synthetic.num-tasks",
    "2",
    "--synthetic.train-per-class",
    "12",
    "--synthetic.test-per-class",
    "6",
    "--tiny.hidden-size",
    "32",
    "--tiny.num-layers",
    "1",
    "--max-length",
    "16",
    "--train.epochs",
    "6",
    "--train.lr",
    "0.03",
]


def test_register_adds_continual_to_a_parent_parser(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="lab llm")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(
        ["continual", "--methods", "per_task", "sequential", "--out", str(tmp_path), *FAST]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "per_task" in out and "sequential" in out
    (results,) = tmp_path.glob("continual/*/results.json")
    report = json.loads(results.read_text())
    per_task = report["runs"]["per_task"][0]
    assert per_task["til"]["forgetting"] == 0.0
    assert len(per_task["til"]["values"]) == 2
    # resuming a finished run (only --resume: its own config.json) reproduces its numbers
    assert main(["continual", "--resume", str(results.parent)]) == 0
    again = json.loads(results.read_text())
    assert again["runs"]["per_task"][0]["til"]["values"] == per_task["til"]["values"]
    assert set(again["runs"]) == {"per_task", "sequential"}
    capsys.readouterr()
    # config flags next to --resume are refused rather than silently mixed in
    assert main(["continual", "--resume", str(results.parent), "--methods", "olora"]) == 2
    assert "config.json" in capsys.readouterr().out


def test_failed_commands_leave_no_run_folder(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["continual", "--device", "cuda:7", "--out", str(out), *FAST]) == 2
    assert (
        main(
            ["continual", "--stream", "bbc", "--bbc-path", str(tmp_path / "no"), "--out", str(out)]
        )
        == 2
    )
    assert not out.exists()


def test_issue_spelling_of_the_flags_parses():
    from lab.core import config_from_args

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["continual", "--stream", "bbc", "--method", "olora"])
    cfg = config_from_args(ContinualExperimentConfig, args)
    assert cfg.stream == "bbc" and cfg.methods == ("olora",)


def test_bad_method_is_a_clear_error(capsys):
    assert main(["continual", "--methods", "nope", *FAST]) == 2
    assert "unknown method" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="hf_path"):
        ContinualExperimentConfig(backbone="hf")
    assert ContinualExperimentConfig(methods=("all",)).methods[-2:] == ("joint", "joint_task_aware")


def test_demo_measures_the_methods(tmp_path):
    pytest.importorskip("matplotlib")
    from lab.llm.continual.demo import demo

    res = demo(tmp_path, device=torch.device("cpu"), seed=0)
    assert res.metrics["per_task_forgetting"] == 0.0
    assert res.metrics["joint_cil_acc"] > res.metrics["sequential_cil_acc"]
    assert len(res.plots) == 5 and all(p.read_bytes()[:4] == b"\x89PNG" for p in res.plots)


def test_joint_bound_flags_keep_the_task_aware_default():
    from lab.core import add_config_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_config_arguments(parser, ContinualExperimentConfig)
    args = parser.parse_args(
        ["--joint-task-aware.adapter-init", "inflora", "--joint.adapter-init", "inflora"]
    )
    cfg = config_from_args(ContinualExperimentConfig, args)
    assert cfg.joint_task_aware.protocol == "task_aware"
    assert cfg.joint_task_aware.adapter_init == "inflora"
    assert cfg.joint.protocol == "class_incremental" and cfg.joint.adapter_init == "inflora"
