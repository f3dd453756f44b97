"""TOFU metrics on hand-made inputs (lab.privacy.unlearning.metrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("scipy")

from lab.core import DataError
from lab.privacy.unlearning.metrics import (
    forget_quality,
    model_utility,
    rouge_l_recall,
    truth_ratio,
    truth_ratio_score,
)


def test_truth_ratio_hand_values() -> None:
    para = [1.0, 2.0]
    pert = [[2.0, 3.0], [1.0, 1.0]]
    r = truth_ratio(para, pert)
    np.testing.assert_allclose(r, [math.exp(1.5), math.exp(-1.0)])
    # invariance: adding a constant to every NLL of a question leaves R unchanged
    np.testing.assert_allclose(truth_ratio(np.add(para, 5), np.add(pert, 5)), r)
    with pytest.raises(DataError, match="N, K"):
        truth_ratio([1.0], [1.0, 2.0])
    with pytest.raises(DataError, match="non-finite"):
        truth_ratio([float("nan")], [[1.0]])


def test_truth_ratio_score_hand_values() -> None:
    assert truth_ratio_score([2.0, 4.0]) == pytest.approx((0.5 + 0.75) / 2)
    assert truth_ratio_score([0.5]) == 0.0  # max(0, 1 - 1/R)
    assert truth_ratio_score([2.0, 0.25], forget=True) == pytest.approx((0.5 + 0.25) / 2)


def test_forget_quality_is_the_ks_p_value() -> None:
    a = np.arange(10, dtype=float)
    assert forget_quality(a, a) == pytest.approx(1.0)
    # completely separated samples of 10 and 10: exact two-sided p = 2 / C(20, 10)
    assert forget_quality(a, a + 100) == pytest.approx(2 / math.comb(20, 10), rel=1e-6)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=300), rng.normal(0.5, size=300)
    assert forget_quality(x, y) < 1e-6 < forget_quality(x, rng.normal(size=300))
    with pytest.raises(DataError, match="empty"):
        forget_quality([], a)


def test_model_utility_is_the_harmonic_mean() -> None:
    assert model_utility([1.0, 0.5, 0.25]) == pytest.approx(3 / 7)
    assert model_utility({"a": 0.3, "b": 0.3}) == pytest.approx(0.3)
    assert model_utility([0.9, 0.0, 0.8]) == 0.0
    nine = [0.5] * 8 + [0.05]
    assert model_utility(nine) == pytest.approx(9 / (16 + 20))
    with pytest.raises(DataError, match=">= 0"):
        model_utility([0.5, -0.1])


def test_rouge_l_recall_hand_values() -> None:
    pytest.importorskip("rouge_score")
    r = rouge_l_recall(
        ["the cat sat", "Paris is the capital of France", ""],
        ["the cat sat on the mat", "The capital of France is Paris.", "anything"],
    )
    np.testing.assert_allclose(r, [0.5, 4 / 6, 0.0])
    with pytest.raises(DataError):
        rouge_l_recall(["a"], [])
