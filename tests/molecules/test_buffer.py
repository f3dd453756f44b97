"""ReplayBuffer: FIFO order, capacity, sampling, state round trip."""

from __future__ import annotations

import pytest
import torch

from lab.core import ConfigError, DataError
from lab.molecules import ReplayBuffer


def test_fifo_overwrites_oldest_first() -> None:
    buf = ReplayBuffer(5, 2, device="cpu")
    for k in range(3):  # 9 rows into capacity 5 -> rows 4..8 survive
        x = torch.arange(3 * k, 3 * k + 3, dtype=torch.float32).unsqueeze(-1).repeat(1, 2)
        buf.add(x, -x, x[:, 0])
    assert len(buf) == 5 and buf.total_added == 9
    assert sorted(buf.x[:, 0].tolist()) == [4.0, 5.0, 6.0, 7.0, 8.0]
    assert torch.equal(buf.adjoint, -buf.x)
    xs, adj = buf.sample(1000, generator=torch.Generator().manual_seed(0))
    assert set(xs[:, 0].tolist()) == {4.0, 5.0, 6.0, 7.0, 8.0}
    assert torch.equal(adj, -xs)


def test_batch_larger_than_capacity_keeps_newest() -> None:
    buf = ReplayBuffer(3, 1, device="cpu")
    x = torch.arange(7.0).unsqueeze(-1)
    buf.add(x, x)
    assert sorted(buf.x[:, 0].tolist()) == [4.0, 5.0, 6.0] and buf.total_added == 7


def test_state_round_trip_and_errors() -> None:
    buf = ReplayBuffer(4, 3, device="cpu")
    buf.add(torch.randn(3, 3), torch.randn(3, 3))
    other = ReplayBuffer(4, 3, device="cpu")
    other.load_state_dict(buf.state_dict())
    assert torch.equal(other.x, buf.x) and len(other) == 3
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(other.sample(8, generator=g1)[0], buf.sample(8, generator=g2)[0])
    with pytest.raises(DataError, match="empty"):
        ReplayBuffer(2, 3, device="cpu").sample(1)
    with pytest.raises(DataError, match=r"\[B, 3\]"):
        buf.add(torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ConfigError, match="capacity"):
        ReplayBuffer(0, 3)
    with pytest.raises(DataError, match="shape"):
        ReplayBuffer(5, 3, device="cpu").load_state_dict(buf.state_dict())


def test_duplicates_and_one_shuffled_epoch_pass() -> None:
    buf = ReplayBuffer(10, 2)
    x = torch.arange(8.0).view(4, 2)
    buf.add(x, -x, duplicates=2)
    assert len(buf) == 8 and buf.total_added == 8
    assert torch.equal(buf.x[:8], x.repeat_interleave(2, dim=0))
    batches = buf.epoch_batches(3, generator=torch.Generator().manual_seed(0))
    assert [b[0].shape[0] for b in batches] == [3, 3, 2]
    seen = torch.cat([b[0] for b in batches])
    # every stored pair exactly once: each configuration twice, adjoints still paired
    assert sorted(seen[:, 0].tolist()) == sorted(buf.x[:8, 0].tolist())
    assert all(torch.equal(a, -b) for b, a in batches)
    with pytest.raises(ConfigError, match="duplicates"):
        buf.add(x, x, duplicates=0)


def test_epoch_buffer_sampling_takes_one_pass_of_steps() -> None:
    from lab.molecules import EGNNConfig
    from lab.molecules.particles import AdjointSampler, AdjointSamplingConfig, HarmonicCluster

    cfg = AdjointSamplingConfig(
        n_steps=5,
        egnn=EGNNConfig(hidden=8, n_layers=1),
        epochs=3,
        samples_per_epoch=8,
        grad_steps_per_epoch=50,
        batch_size=6,
        buffer_capacity=40,
        buffer_sampling="epoch",
        duplicates=2,
    )
    sampler = AdjointSampler(HarmonicCluster(3, 2), cfg, device="cpu")
    summary = sampler.fit(show_progress=False)
    # buffer holds 16, 32, 40 pairs after the epochs: ceil(16/6) + ceil(32/6) + ceil(40/6) steps
    assert summary["energy_evals"] == 24 and summary["grad_steps"] == 3 + 6 + 7
    with pytest.raises(ConfigError, match="buffer_sampling"):
        AdjointSamplingConfig(buffer_sampling="fifo")  # type: ignore[arg-type]
