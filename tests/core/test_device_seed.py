import random

import numpy as np
import pytest
import torch

from lab.core import DeviceError, LabError, get_device, seeded, set_seed
from lab.core.testing import device_params


def test_auto_picks_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_device() == torch.device("cpu")
    assert get_device("auto") == torch.device("cpu")
    assert get_device(" AUTO ") == torch.device("cpu")


def test_auto_picks_cuda_local_rank(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert get_device(None) == torch.device("cuda", 2)


def test_force_cpu_switch(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LABWORKS_FORCE_CPU", "1")
    assert get_device() == torch.device("cpu")


def test_explicit_cuda_without_cuda_is_named_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="'cuda:1'"):
        get_device("cuda:1")
    with pytest.raises(LabError):
        get_device(torch.device("cuda"))


def test_cuda_index_out_of_range(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceError, match="only 1 CUDA"):
        get_device("cuda:3")


def test_unknown_device_string():
    with pytest.raises(DeviceError, match="'gpu0'"):
        get_device("gpu0")


@pytest.mark.parametrize("device", device_params)
def test_explicit_devices_resolve(device):
    assert get_device(device).type == device


def _draw():
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_set_seed_reproducible_and_returns_seed():
    assert set_seed(123) == 123
    a = _draw()
    set_seed(123)
    assert _draw() == a
    set_seed(124)
    assert _draw() != a


def test_set_seed_none_draws_a_seed():
    s = set_seed(None)
    assert 0 <= s < 2**32
    first = _draw()
    set_seed(s, rank_offset=False)
    assert _draw() == first


def test_set_seed_rank_offset(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    assert set_seed(10) == 13
    assert set_seed(10, rank_offset=False) == 10


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "7", True])
def test_bad_seed_rejected(bad):
    with pytest.raises(LabError, match="seed"):
        set_seed(bad)


def test_seeded_restores_outer_state():
    set_seed(5)
    with seeded(99) as s:
        assert s == 99
        inner = _draw()
    after = _draw()
    set_seed(5)
    assert _draw() == after  # the outer stream continued as if the block never ran
    with seeded(99):
        assert _draw() == inner


def test_deterministic_flag():
    try:
        set_seed(1, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
