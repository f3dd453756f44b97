"""`lab llm` CLI and the demo; a GPU smoke test of the trainer."""

from __future__ import annotations

import json

import pytest
import torch

from lab.core import RunDir, cuda_available
from lab.core.testing import gpu, slow
from lab.llm.cli import main


def test_cli_downsample(capsys):
    assert main(["pods", "downsample", "--m", "2", "0", "1", "1", "0.5", "0.2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out["rewards"]) == [0.0, 1.0]
    assert main(["pods", "downsample", "--m", "9", "0", "1"]) == 2
    assert "m=9" in capsys.readouterr().err


def test_cli_grpo_runs_and_resumes(tmp_path, capsys):
    argv = [
        "pods",
        "grpo",
        "--task",
        "arithmetic",
        "--style",
        "equation",
        "--n",
        "6",
        "--m",
        "2",
        "--max-steps",
        "2",
        "--prompts-per-step",
        "2",
        "--sft-steps",
        "3",
        "--train-size",
        "20",
        "--eval-size",
        "8",
        "--max-completion-length",
        "3",
        "--n-layer",
        "1",
        "--n-embd",
        "32",
        "--n-head",
        "2",
        "--device",
        "cpu",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    run = RunDir.open(summary["run_dir"])
    rows = [r for r in run.metrics() if "step" in r]
    assert [r["step"] for r in rows] == [1, 2]
    assert run.latest_checkpoint().name.endswith("000000002.pt")
    cfg = run.load_config_dict()
    assert cfg["grpo"]["num_generations"] == 6 and cfg["grpo"]["num_train_generations"] == 2
    # resume the same run to 3 steps
    assert (
        main(
            [
                *argv[: argv.index("--max-steps") + 1],
                "3",
                *argv[argv.index("--max-steps") + 2 :],
                "--resume",
                summary["run_dir"],
            ]
        )
        == 0
    )
    rows = [r for r in RunDir.open(summary["run_dir"]).metrics() if "step" in r]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert (
        main(["pods", "grpo", "--n", "4", "--m", "8", "--device", "cpu", "--out", str(tmp_path)])
        == 2
    )
    assert "num_train_generations" in capsys.readouterr().err
    assert main(["pods", "grpo", "--task", "gsm8k", "--device", "cpu", "--out", str(tmp_path)]) == 2
    assert "data_path" in capsys.readouterr().err


@slow
def test_demo(tmp_path):
    from lab.llm.pods.demo import demo

    res = demo(tmp_path, device=torch.device("cpu"), seed=0, steps=3, sft_steps=20)
    assert all(p.is_file() for p in res.plots)
    for k in ("grpo_answer_prob", "pods_answer_prob", "start_answer_prob"):
        assert 0.0 <= res.metrics[k] <= 1.0
    # PODS keeps the max-variance 4 of 16: fewer zero-variance groups than GRPO's 4 of 4
    assert res.metrics["pods_zero_std_groups"] <= res.metrics["grpo_zero_std_groups"]


@gpu
@pytest.mark.skipif(
    not cuda_available(), reason="needs a CUDA device"
)  # lab.core.testing.gpu does not skip
def test_grpo_step_on_cuda():
    from lab.llm import tiny_causal_lm
    from lab.llm.pods import (
        GRPOConfig,
        GRPOTrainer,
        arithmetic_reward,
        arithmetic_task,
        build_tokenizer,
    )

    tok = build_tokenizer()
    model = tiny_causal_lm(tok, n_layer=1, n_embd=32, n_head=2, device="cuda")
    tr = GRPOTrainer(
        model,
        arithmetic_reward,
        args=GRPOConfig(
            max_steps=2,
            prompts_per_step=2,
            num_generations=8,
            num_train_generations=2,
            max_completion_length=4,
        ),
        train_dataset=arithmetic_task(20),
        processing_class=tok,
        device="cuda",
    )
    hist = tr.train()
    assert len(hist) == 2 and next(tr.model.parameters()).device.type == "cuda"
    assert tr.last_rollouts.completion_ids.device.type == "cuda"


def test_downsample_on_every_device():
    from lab.core.testing import available_devices
    from lab.llm.pods import max_variance_downsample

    for dev in available_devices():
        r = torch.tensor([[0.0, 1.0, 1.0, 1.0]], device=dev)
        idx = max_variance_downsample(r, 2)
        assert idx.device.type == torch.device(dev).type
        assert sorted(r[0, idx[0]].tolist()) == [0.0, 1.0]


@pytest.mark.parametrize("bad", [["grpo", "--loss-type", "ppo"]])
def test_cli_rejects_unknown_choice(bad):
    with pytest.raises(SystemExit):
        main(bad)
