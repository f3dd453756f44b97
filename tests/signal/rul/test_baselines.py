import numpy as np
import pytest
import torch

from lab.core import DataError
from lab.signal.rul import CNNRUL, LSTMRUL, CNNConfig, LSTMConfig, RidgeRUL, WindowSet


def _windows(n=200, w=5, f=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, w, f)).astype(np.float32)
    t = rng.uniform(0, 2, size=n).astype(np.float32)
    return x, t


def test_ridge_recovers_an_exact_linear_target():
    x, t = _windows()
    coef = np.random.default_rng(1).normal(size=5 * 3)
    y = (x.reshape(len(x), -1) @ coef + 4.0 * t + 7.0).astype(np.float32)
    ws = WindowSet(
        x, t, y, np.zeros(len(x), np.int64), np.zeros(len(x), np.int64), np.zeros(len(x), np.int64)
    )
    model = RidgeRUL(alpha=1e-8).fit(ws)
    np.testing.assert_allclose(model.coef_[:-1], coef, atol=1e-4)
    assert model.coef_[-1] == pytest.approx(4.0, abs=1e-4)
    assert model.intercept_ == pytest.approx(7.0, abs=1e-4)
    # a large penalty shrinks the coefficients towards zero
    assert np.abs(RidgeRUL(alpha=1e6).fit(ws).coef_).max() < 0.1 * np.abs(coef).max()
    with pytest.raises(DataError, match="before fit"):
        RidgeRUL().predict(x, t)


@pytest.mark.parametrize(
    "make",
    [
        lambda: CNNRUL(CNNConfig(n_features=3, window=5, kernel=3)),
        lambda: LSTMRUL(LSTMConfig(n_features=3, hidden=8)),
    ],
)
def test_neural_baselines_fit_a_simple_target(make):
    torch.manual_seed(0)
    x, t = _windows(n=256)
    y = torch.from_numpy(x[:, -1, 0] * 10.0 + 50.0)
    xt, tt = torch.from_numpy(x), torch.from_numpy(t)
    model = make()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(150):
        loss, parts = model.loss(xt, tt, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        final = float(((model(xt, tt) - y) ** 2).mean())
    assert parts["physics"] == 0.0
    assert final < 0.05 * first
