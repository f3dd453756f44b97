"""Shared pytest helpers for every labworks domain (import in tests; needs pytest).

- ``slow`` and ``gpu`` markers (registered in the workspace ``pyproject.toml``); ``gpu`` also
  skips when CUDA is absent, so a GPU test never fails on a CPU machine.
- :func:`available_devices` and :data:`device_params` to parametrise a test over every device
  this machine has (CUDA cases carry the ``gpu`` marker).
- :func:`free_port` and :func:`run_torchrun` to launch multi-process tests on CPU (gloo).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
import torch

from ._device import cuda_available

__all__ = [
    "assert_state_dicts_equal",
    "available_devices",
    "device_params",
    "free_port",
    "gpu",
    "gpu_marks",
    "run_torchrun",
    "slow",
]

slow = pytest.mark.slow

#: The marks a GPU-only test carries: ``gpu`` (selected by ``-m gpu``) and a skip without CUDA.
gpu_marks = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="needs a CUDA device"),
]

F = TypeVar("F", bound=Callable[..., Any])


def gpu(fn: F) -> F:
    """Decorator for a GPU-only test: marked ``gpu`` and skipped when CUDA is absent."""
    for mark in gpu_marks:
        fn = mark(fn)
    return fn


def available_devices() -> list[str]:
    """``["cpu"]`` plus ``"cuda"`` when CUDA is available."""
    return ["cpu"] + (["cuda"] if cuda_available() else [])


#: ``@pytest.mark.parametrize("device", device_params)``: cpu always, cuda marked ``gpu``.
device_params = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=gpu_marks),
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_torchrun(
    script: str | Path,
    args: Sequence[str] = (),
    *,
    nproc: int = 2,
    timeout: float = 240.0,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m torch.distributed.run --nproc_per_node=nproc script args`` on loopback."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        "--nnodes=1",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        str(script),
        *args,
    ]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)
    if proc.returncode != 0:
        raise AssertionError(
            f"torchrun failed with exit code {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def assert_state_dicts_equal(
    a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], *, atol: float = 0.0, rtol: float = 0.0
) -> None:
    """Assert two state dicts have the same keys and (bit-)equal tensors (``atol=rtol=0``)."""
    assert a.keys() == b.keys(), f"keys differ: {sorted(set(a) ^ set(b))}"
    for k in a:
        ta, tb = a[k].detach().cpu(), b[k].detach().cpu()
        assert ta.shape == tb.shape, f"{k}: shape {tuple(ta.shape)} != {tuple(tb.shape)}"
        if atol == 0.0 and rtol == 0.0:
            assert torch.equal(ta, tb), (
                f"{k}: tensors differ (max abs diff {(ta - tb).abs().max().item():.3g})"
            )
        else:
            try:
                torch.testing.assert_close(ta, tb, atol=atol, rtol=rtol)
            except AssertionError as exc:
                raise AssertionError(f"{k}: {exc}") from None
