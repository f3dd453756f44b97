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
