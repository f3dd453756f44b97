"""Issue 22 item 3: no certificate for outputs that carry no prediction; lazy masks; big N warns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.core import DataError
from lab.explain import (
    MaskedClassifier,
    SCAConfig,
    TabularMasker,
    exact_stability_rate,
    hard_stability,
    soft_stability,
    stability_curve,
)

N_FEAT = 12
ALPHA = torch.tensor([1, 1, 1] + [0] * (N_FEAT - 3))


def _clf(fn):
    return MaskedClassifier(fn, TabularMasker(N_FEAT))


def _two_class(z: torch.Tensor) -> torch.Tensor:
    s = z.float().sum(1) - 4.5
    return torch.stack([-s, s], 1)


def test_one_column_model_is_refused_with_its_shape():
    sigmoid = _clf(lambda z: torch.sigmoid(z.float().sum(1, keepdim=True) - 4.5))
    with pytest.raises(DataError, match=r">= 2 classes.*\(1, 1\)"):
        soft_stability(sigmoid, torch.ones(N_FEAT), ALPHA, 2)
    with pytest.raises(DataError, match=">= 2 classes"):
        exact_stability_rate(sigmoid, torch.ones(N_FEAT), ALPHA, 1)
    with pytest.raises(DataError, match=">= 2 classes"):
        hard_stability(sigmoid, torch.ones(N_FEAT), ALPHA, 1)


def test_non_finite_logits_are_refused_with_their_count():
    nan = _clf(lambda z: torch.full((z.shape[0], 3), float("nan")))
    with pytest.raises(DataError, match=r"3 NaN or \+inf values"):
        soft_stability(nan, torch.ones(N_FEAT), ALPHA, 2)

    def some_inf(z: torch.Tensor) -> torch.Tensor:
        out = _two_class(z)
        out[z[:, 5] == 1, 0] = float("inf")
        return out

    with pytest.raises(DataError, match=r"NaN or \+inf"):
        stability_curve(_clf(some_inf), torch.ones(N_FEAT), ALPHA, [0, 4], generator=0)


def test_minus_inf_marks_an_excluded_class_but_one_finite_logit_is_refused():
    # a continual model masks classes it has not seen with -inf: argmax over the rest is fine
    def excluded(z: torch.Tensor) -> torch.Tensor:
        return torch.cat([_two_class(z), torch.full((z.shape[0], 2), float("-inf"))], 1)

    x = torch.ones(N_FEAT)
    plain = exact_stability_rate(_clf(_two_class), x, ALPHA, 2).rate
    assert exact_stability_rate(_clf(excluded), x, ALPHA, 2).rate == pytest.approx(plain)

    def one_left(z: torch.Tensor) -> torch.Tensor:
        out = excluded(z)
        out[:, 1] = float("-inf")
        return out

    with pytest.raises(DataError, match="fewer than 2 finite values"):
        soft_stability(_clf(one_left), x, ALPHA, 2)


def test_numpy_integer_radii_are_accepted():
    clf = _clf(_two_class)
    x = torch.ones(N_FEAT)
    py = stability_curve(clf, x, ALPHA, [1, 3], generator=0)
    npy = stability_curve(clf, x, ALPHA, list(np.array([1, 3])), generator=0)
    assert [e.rate for e in py] == [e.rate for e in npy]
    assert all(type(e.radius) is int for e in npy)
    assert soft_stability(clf, x, ALPHA, np.int64(2), generator=0).radius == 2
    assert exact_stability_rate(clf, x, ALPHA, np.int32(2)).rate == pytest.approx(
        exact_stability_rate(clf, x, ALPHA, 2).rate
    )


def test_masks_are_built_lazily_per_batch(monkeypatch):
    import lab.explain.stability as st

    drawn: list[int] = []
    real = st.sample_perturbations

    def spy(alpha, radius, num_samples, **kw):
        drawn.append(num_samples)
        return real(alpha, radius, num_samples, **kw)

    monkeypatch.setattr(st, "sample_perturbations", spy)
    rows: list[int] = []

    def model(z: torch.Tensor) -> torch.Tensor:
        rows.append(z.shape[0])
        return _two_class(z)

    cfg = SCAConfig(eps=0.01, delta=0.1, batch_size=128)  # N = 14 979 masks per radius
    ests = stability_curve(_clf(model), torch.ones(N_FEAT), ALPHA, [2, 5], cfg, generator=0)
    assert [e.n_samples for e in ests] == [14979, 14979]
    # never more than one chunk of masks alive, never more than batch_size rows per call
    assert max(drawn) == st.MASK_CHUNK and sum(drawn) == 2 * 14979
    assert max(rows) <= 128 and sum(rows) == 2 * 14979 + 1  # + the reference prediction
    # the estimate does not depend on the batch size
    again = stability_curve(
        _clf(_two_class), torch.ones(N_FEAT), ALPHA, [2, 5], SCAConfig(0.01, 0.1, 999), generator=0
    )
    assert [e.n_stable for e in again] == [e.n_stable for e in ests]


def test_eps_that_asks_for_more_than_a_million_samples_warns():
    with pytest.warns(UserWarning, match=r"N = 1,497,867"):
        cfg = SCAConfig(eps=0.001, delta=0.1)
    assert cfg.n_samples > 1_000_000
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SCAConfig(eps=0.01, delta=0.1)
