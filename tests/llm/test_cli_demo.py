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


def _grpo_argv(out) -> list[str]:
    return [
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
        "4",
        "--save-steps",
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
        "--learning-rate",
        "1e-2",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]


_TIMES = ("gen_seconds", "update_seconds")


def _step_rows(run_dir: str) -> list[dict]:
    rows = [r for r in RunDir.open(run_dir).metrics() if "step" in r]
    return [{k: v for k, v in r.items() if k not in _TIMES} for r in rows]


def test_cli_grpo_interrupted_and_resumed_equals_uninterrupted(tmp_path, capsys, monkeypatch):
    from lab.llm.pods import GRPOTrainer

    assert main(_grpo_argv(tmp_path / "a")) == 0
    full = json.loads(capsys.readouterr().out)
    run_a = RunDir.open(full["run_dir"])
    assert [r["step"] for r in _step_rows(full["run_dir"])] == [1, 2, 3, 4]
    cfg = run_a.load_config_dict()
    assert cfg["grpo"]["num_generations"] == 6 and cfg["grpo"]["num_train_generations"] == 2

    # the same run, interrupted after step 3 was logged (its last checkpoint is step 2)
    step = GRPOTrainer.step

    def interrupted(self):
        if self.step_count == 3:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(GRPOTrainer, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(_grpo_argv(tmp_path / "b"))
    monkeypatch.setattr(GRPOTrainer, "step", step)
    capsys.readouterr()
    (run_b,) = (tmp_path / "b" / "llm-grpo").iterdir()
    assert [r["step"] for r in _step_rows(str(run_b))] == [1, 2, 3]
    assert RunDir.open(run_b).latest_checkpoint().name.endswith("000000002.pt")

    # only --resume: the stored config (4 steps, n=6, m=2), not the defaults
    assert main(["pods", "grpo", "--resume", str(run_b)]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["run_dir"] == str(run_b)
    assert resumed["before"] == full["before"]  # the stored pre-training evaluation
    assert resumed["after"] == full["after"]
    assert _step_rows(str(run_b)) == _step_rows(full["run_dir"])  # step 3 not duplicated
    ckpt_a = torch.load(run_a.latest_checkpoint(), weights_only=False)["model"]
    ckpt_b = torch.load(RunDir.open(run_b).latest_checkpoint(), weights_only=False)["model"]
    assert ckpt_a.keys() == ckpt_b.keys()
    assert all(torch.equal(ckpt_a[k], ckpt_b[k]) for k in ckpt_a)

    # extending a finished run: --max-steps only; other flags are refused, naming them
    assert main(["pods", "grpo", "--resume", str(run_b), "--max-steps", "5"]) == 0
    assert [r["step"] for r in _step_rows(str(run_b))] == [1, 2, 3, 4, 5]
    capsys.readouterr()
    assert main(["pods", "grpo", "--resume", str(run_b), "--beta", "0.1", "--n", "4"]) == 2
    err = capsys.readouterr().err
    assert "--beta" in err and "--num-generations" in err


def test_cli_grpo_errors_leave_no_run_folder(tmp_path, capsys):
    argv = ["pods", "grpo", "--n", "4", "--m", "8", "--device", "cpu", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "num_train_generations" in capsys.readouterr().err
    argv = ["pods", "grpo", "--task", "gsm8k", "--device", "cpu", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "data_path" in capsys.readouterr().err
    argv = ["pods", "grpo", "--task", "gsm8k", "--data-path", str(tmp_path / "missing")]
    assert main([*argv, "--device", "cpu", "--out", str(tmp_path)]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["pods", "grpo", "--resume", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


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
