"""torchrun with two gloo processes: ranks stay identical and draw different prompts."""

from pathlib import Path

from lab.core.testing import run_torchrun


def test_grpo_under_torchrun_two_processes():
    proc = run_torchrun(Path(__file__).with_name("ddp_grpo_script.py"), nproc=2, timeout=300)
    assert "DDP-OK steps=2" in proc.stdout
