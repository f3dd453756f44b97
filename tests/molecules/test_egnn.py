"""EGNN: E(n) and permutation equivariance in float64, near-zero initial output."""

from __future__ import annotations

import pytest
import torch

from lab.core import ConfigError, DataError
from lab.molecules import EGNN, EGNNConfig, assert_equivariant

torch.set_num_threads(1)


def _model(n: int, d: int, **kw: object) -> EGNN:
    torch.manual_seed(0)
    cfg = EGNNConfig(hidden=16, n_layers=3, out_gain=1.0, coords_range=3.0, **kw)  # type: ignore[arg-type]
    return EGNN(n, d, cfg).double()


@pytest.mark.parametrize(
    ("n", "d", "kw"),
    [
        (4, 2, {}),
        (5, 3, {}),
        (4, 3, {"attention": False, "tanh": False, "aggregation": "sum"}),
    ],
)
def test_egnn_is_equivariant(n: int, d: int, kw: dict[str, object]) -> None:
    model = _model(n, d, **kw)
    out = model(torch.rand(3, dtype=torch.float64), torch.randn(3, n * d, dtype=torch.float64))
    assert out.abs().max().item() > 1e-3  # a non-trivial field, so the check means something
    assert_equivariant(model, n, d, atol=1e-10, rtol=1e-8)


def test_output_is_com_free_and_time_dependent() -> None:
    model = _model(4, 3)
    x = torch.randn(2, 12, dtype=torch.float64)
    a, b = (
        model(torch.zeros(2, dtype=torch.float64), x),
        model(torch.ones(2, dtype=torch.float64), x),
    )
    assert a.view(2, 4, 3).mean(1).abs().max().item() < 1e-12
    assert (a - b).abs().max().item() > 1e-6


def test_default_last_layer_is_near_zero() -> None:
    torch.manual_seed(0)
    model = EGNN(4, 3, EGNNConfig(hidden=16, n_layers=2))
    out = model(0.5, torch.randn(8, 12))
    assert out.abs().max().item() < 0.05


def test_assert_equivariant_detects_a_non_equivariant_field() -> None:
    w = torch.randn(6, 6, dtype=torch.float64)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda t, x: x @ w, 3, 2)


def test_bad_inputs() -> None:
    model = _model(4, 2)
    with pytest.raises(DataError, match=r"expected \[B, 8\]"):
        model(0.1, torch.zeros(2, 9, dtype=torch.float64))
    with pytest.raises(ConfigError, match="times"):
        model(torch.zeros(3, dtype=torch.float64), torch.zeros(2, 8, dtype=torch.float64))
    with pytest.raises(ConfigError):
        EGNNConfig(aggregation="max")  # type: ignore[arg-type]
