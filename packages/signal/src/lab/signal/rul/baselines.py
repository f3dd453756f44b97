"""Baselines that RUL papers compare against, in the same API as :class:`~lab.signal.rul.MKDPINN`.

- :class:`RidgeRUL`: ridge regression on flattened windows (closed form with scipy).
- :class:`CNNRUL`: a 1-D CNN over the window (Li, Ding, Sun 2018 style: conv layers along time,
  then a dense head).
- :class:`LSTMRUL`: a stacked LSTM, last hidden state to a dense head.

The two MKDPINN ablations are configurations, not classes: ``MKDPINNConfig(physics_weight=0)``
(no physics term) and training with :func:`~lab.signal.training.train_rul` alone instead of
:func:`~lab.signal.meta.meta_train` first (no meta-learning).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import linalg
from torch import nn

from lab.core import ConfigError, DataError

from .cmapss import WindowSet

__all__ = ["CNNRUL", "LSTMRUL", "CNNConfig", "LSTMConfig", "RidgeRUL"]


class RidgeRUL:
    """Ridge regression on flattened, standardised windows plus the scaled cycle index.

    ``fit`` solves ``(X'X + alpha I) w = X'y`` on centred data (intercept unpenalised).
    """

    def __init__(self, alpha: float = 1.0, *, use_time: bool = True):
        if alpha < 0:
            raise ConfigError(f"ridge alpha must be >= 0, got {alpha}")
        self.alpha = float(alpha)
        self.use_time = use_time
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0

    def _design(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if self.use_time:
            flat = np.concatenate([flat, np.asarray(t, dtype=np.float64).reshape(-1, 1)], axis=1)
        return flat

    def fit(self, data: WindowSet) -> RidgeRUL:
        if len(data) == 0:
            raise DataError("cannot fit ridge regression on an empty window set")
        X = self._design(data.x, data.t)
        y = data.y.astype(np.float64)
        mx, my = X.mean(axis=0), y.mean()
        Xc = X - mx
        A = Xc.T @ Xc + self.alpha * np.eye(X.shape[1])
        self.coef_ = linalg.solve(A, Xc.T @ (y - my), assume_a="pos")
        self.intercept_ = float(my - mx @ self.coef_)
        return self

    def predict(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        if self.coef_ is None:
            raise DataError("RidgeRUL.predict called before fit")
        X = self._design(x, t)
        if X.shape[1] != len(self.coef_):
            raise DataError(f"ridge was fitted on {len(self.coef_)} inputs, got {X.shape[1]}")
        return X @ self.coef_ + self.intercept_


class _MSEModel(nn.Module):
    def loss(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        u = self(x, t)
        data = torch.mean((u - y) ** 2)
        return data, {"data": float(data.detach()), "physics": 0.0}


@dataclass(frozen=True)
class CNNConfig:
    """1-D CNN baseline: ``n_layers`` conv layers (``channels``, kernel ``kernel``, tanh),
    flattened, dropout, dense ``head`` units, linear output times ``output_scale`` (OURS: keeps
    the raw-RUL target within reach of a unit-scale output on short CPU budgets)."""

    n_features: int = 14
    window: int = 15
    channels: int = 10
    kernel: int = 10
    n_layers: int = 4
    head: int = 100
    dropout: float = 0.5
    output_scale: float = 100.0

    def __post_init__(self) -> None:
        if (
            min(self.n_features, self.window, self.channels, self.kernel, self.n_layers, self.head)
            < 1
        ):
            raise ConfigError(f"CNNConfig sizes must be >= 1: {self}")


class CNNRUL(_MSEModel):
    """1-D CNN over time (same-padding convolutions), then dense layers; ignores ``t``."""

    def __init__(self, config: CNNConfig | None = None):
        super().__init__()
        c = self.config = config or CNNConfig()
        layers: list[nn.Module] = []
        ch = c.n_features
        for _ in range(c.n_layers):
            layers += [nn.Conv1d(ch, c.channels, c.kernel, padding="same"), nn.Tanh()]
            ch = c.channels
        self.conv = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(c.dropout),
            nn.Linear(ch * c.window, c.head),
            nn.Tanh(),
            nn.Linear(c.head, 1),
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x.transpose(1, 2))).squeeze(-1) * self.config.output_scale


@dataclass(frozen=True)
class LSTMConfig:
    """LSTM baseline: ``n_layers`` LSTM layers of ``hidden`` units, dense ``head``, linear
    output times ``output_scale`` (OURS, as for the CNN)."""

    n_features: int = 14
    hidden: int = 64
    n_layers: int = 2
    head: int = 32
    dropout: float = 0.1
    output_scale: float = 100.0

    def __post_init__(self) -> None:
        if min(self.n_features, self.hidden, self.n_layers, self.head) < 1:
            raise ConfigError(f"LSTMConfig sizes must be >= 1: {self}")


class LSTMRUL(_MSEModel):
    """Stacked LSTM; the last step's hidden state goes through a dense head; ignores ``t``."""

    def __init__(self, config: LSTMConfig | None = None):
        super().__init__()
        c = self.config = config or LSTMConfig()
        self.lstm = nn.LSTM(
            c.n_features,
            c.hidden,
            c.n_layers,
            batch_first=True,
            dropout=c.dropout if c.n_layers > 1 else 0.0,
        )
        self.head = nn.Sequential(nn.Linear(c.hidden, c.head), nn.ReLU(), nn.Linear(c.head, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1]).squeeze(-1) * self.config.output_scale
