"""AccuracyMatrix on hand-computed matrices (forgetting's max is NOT on the diagonal here)."""

import numpy as np
import pytest

from lab.core import ConfigError, DataError
from lab.llm.continual import AccuracyMatrix

# R[i, j]: accuracy on task j after training task i. Task 0 peaks after task 1 (0.9 > 0.8),
# so forgetting (max over rows l >= j before the last) differs from -BWT (diagonal only).
R = [[0.8, 0.1, 0.2], [0.9, 0.7, 0.3], [0.6, 0.5, 0.9]]
B = [0.5, 0.2, 0.25]


def test_metrics_match_hand_computation():
    m = AccuracyMatrix.from_rows(R, baseline=B)
    assert m.acc == pytest.approx((0.6 + 0.5 + 0.9) / 3)
    assert m.average_incremental_accuracy == pytest.approx((0.8 + 0.8 + (0.6 + 0.5 + 0.9) / 3) / 3)
    assert m.bwt == pytest.approx(((0.6 - 0.8) + (0.5 - 0.7)) / 2)  # -0.2
    assert m.forgetting == pytest.approx(((0.9 - 0.6) + (0.7 - 0.5)) / 2)  # 0.25
    assert m.forgetting != pytest.approx(-m.bwt)
    assert m.fwt == pytest.approx(((0.1 - 0.2) + (0.3 - 0.25)) / 2)  # -0.025
    s = m.summary()
    assert set(s) == {"acc", "avg_incremental_acc", "bwt", "forgetting", "fwt"}


def test_forgetting_uses_rows_before_the_last_only():
    # the last row holds the maximum of task 0: forgetting of task 0 must be
    # max(R[0,0], R[1,0]) - R[2,0] = 0.5 - 1.0 = -0.5, never 0
    m = AccuracyMatrix.from_rows([[0.5, 0, 0], [0.4, 0.6, 0], [1.0, 0.6, 0.7]])
    assert m.forgetting == pytest.approx(((0.5 - 1.0) + (0.6 - 0.6)) / 2)


def test_forgetting_with_nan_above_the_diagonal():
    # untrained tasks may be NaN (the docstring allows it); forgetting must stay finite
    nan = float("nan")
    m = AccuracyMatrix.from_rows([[0.8, nan, nan], [0.7, 0.9, nan], [0.6, 0.5, 0.9]])
    assert m.forgetting == pytest.approx(((0.8 - 0.6) + (0.9 - 0.5)) / 2)  # 0.3


def test_forgetting_ignores_rows_before_the_task_was_trained():
    # task 1 scored 0.95 by chance before it was trained (row 0): that is not "forgotten";
    # only rows l >= 1 count: max(R[1,1]) - R[2,1] = 0.6 - 0.5
    m = AccuracyMatrix.from_rows([[0.8, 0.95, 0.1], [0.8, 0.6, 0.2], [0.8, 0.5, 0.9]])
    assert m.forgetting == pytest.approx(((0.8 - 0.8) + (0.6 - 0.5)) / 2)  # 0.05, not 0.225


def test_no_forgetting_when_rows_are_constant():
    m = AccuracyMatrix.from_rows([[0.7, 0.5], [0.7, 0.9]])
    assert m.bwt == 0.0 and m.forgetting == 0.0
    assert m.acc == pytest.approx(0.8)


def test_nan_allowed_above_diagonal_but_fwt_needs_it():
    m = AccuracyMatrix.from_rows([[0.7, np.nan], [0.6, 0.9]], baseline=[0.5, 0.5])
    assert m.bwt == pytest.approx(-0.1)
    with pytest.raises(DataError, match=r"R\[j-1, j\]"):
        _ = m.fwt
    assert m.to_dict()["values"][0][1] is None


@pytest.mark.parametrize(
    "rows, match",
    [
        ([[0.5, 0.5]], "square"),
        ([[1.5]], r"\[0, 1\]"),
        ([[0.5, 0.1], [np.nan, 0.2]], "non-finite"),
    ],
)
def test_bad_matrices_raise(rows, match):
    with pytest.raises(DataError, match=match):
        AccuracyMatrix.from_rows(rows)


def test_fwt_needs_baseline_and_bwt_two_tasks():
    with pytest.raises(ConfigError, match="baseline"):
        _ = AccuracyMatrix.from_rows(R).fwt
    with pytest.raises(DataError, match="at least 2 tasks"):
        _ = AccuracyMatrix.from_rows([[0.5]]).bwt
    with pytest.raises(DataError, match="baseline must have 3"):
        AccuracyMatrix.from_rows(R, baseline=[0.1, 0.2])


def test_heatmap_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = AccuracyMatrix.from_rows(R, task_names=["a", "b", "c"]).heatmap(tmp_path / "r.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
