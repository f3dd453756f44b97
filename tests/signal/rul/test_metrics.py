import math

import numpy as np
import pytest

from lab.core import DataError
from lab.signal.rul import phm08_score, rmse


def test_rmse_hand_values():
    assert rmse([1, 2, 3], [1, 2, 3]) == 0.0
    # errors 3, -4 -> sqrt((9 + 16) / 2)
    assert rmse([13, 6], [10, 10]) == pytest.approx(math.sqrt(12.5))


def test_phm08_score_hand_values():
    # late by 10 -> e^1 - 1; early by 13 -> e^1 - 1; exact -> 0
    assert phm08_score([110, 87, 50], [100, 100, 50]) == pytest.approx(2 * (math.e - 1))
    # asymmetric: being late by 20 costs more than being early by 20
    late = phm08_score([120], [100])
    early = phm08_score([80], [100])
    assert late == pytest.approx(math.exp(2.0) - 1)
    assert early == pytest.approx(math.exp(20 / 13) - 1)
    assert late > early


def test_score_is_a_sum_over_engines():
    pred = np.array([105.0, 95.0, 70.0])
    true = np.array([100.0, 100.0, 60.0])
    total = phm08_score(pred, true)
    assert total == pytest.approx(
        sum(phm08_score([p], [t]) for p, t in zip(pred, true, strict=False))
    )


@pytest.mark.parametrize("fn", [rmse, phm08_score])
def test_metrics_reject_bad_input(fn):
    with pytest.raises(DataError, match="length"):
        fn([1, 2], [1])
    with pytest.raises(DataError, match="empty"):
        fn([], [])
    with pytest.raises(DataError, match="not finite"):
        fn([1, float("nan")], [1, 2])
