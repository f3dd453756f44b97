import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from lab.core import ConfigError, DataError
from lab.signal.rul import (
    CMAPSSConfig,
    CMAPSSSubset,
    SimulatorConfig,
    exponential_smoothing,
    identify_conditions,
    load_cmapss,
    piecewise_rul,
    prepare_rul_data,
    read_cmapss_table,
    read_rul_file,
    simulate_turbofan,
)

DATA = os.environ.get("LABWORKS_DATA", "")
needs_data = pytest.mark.skipif(
    not DATA
    or (
        not (Path(DATA) / "cmapss" / "train_FD001.txt.gz").exists()
        and not (Path(DATA) / "cmapss" / "train_FD001.txt").exists()
    ),
    reason="needs real C-MAPSS files under $LABWORKS_DATA/cmapss",
)


def _row(unit, cycle, value=1.0):
    return " ".join(
        [str(unit), str(cycle), "0.0", "0.0", "100.0"] + [f"{value + i:.2f}" for i in range(21)]
    )


def _write(path: Path, lines, gz=False):
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_plain_and_gzip_read_the_same(tmp_path):
    lines = [_row(1, 1), _row(1, 2), _row(2, 1)]
    a = read_cmapss_table(_write(tmp_path / "a.txt", lines))
    b = read_cmapss_table(_write(tmp_path / "b.txt.gz", lines, gz=True))
    assert a.shape == (3, 26)
    np.testing.assert_array_equal(a, b)
    assert a[2, 0] == 2 and a[1, 1] == 2 and a[0, 5] == 1.0


def test_malformed_line_names_file_and_line(tmp_path):
    bad_cols = _write(tmp_path / "cols.txt", [_row(1, 1), _row(1, 2) + " 7.0"])
    with pytest.raises(DataError, match=r"cols\.txt:2: expected 26 columns, found 27"):
        read_cmapss_table(bad_cols)
    bad_num = _write(
        tmp_path / "num.txt.gz",
        [_row(1, 1), _row(1, 2), _row(1, 3).replace("100.0", "abc")],
        gz=True,
    )
    with pytest.raises(DataError, match=r"num\.txt\.gz:3: non-numeric value 'abc'"):
        read_cmapss_table(bad_num)
    nan = _write(tmp_path / "nan.txt", [_row(1, 1).replace("100.0", "nan")])
    with pytest.raises(DataError, match=r"nan\.txt:1: non-finite"):
        read_cmapss_table(nan)
    gap = _write(tmp_path / "gap.txt", [_row(1, 1), _row(1, 3)])
    with pytest.raises(DataError, match=r"gap\.txt:2: unit 1 cycle 3"):
        read_cmapss_table(gap)
    rul = _write(tmp_path / "RUL.txt", ["12", "x"])
    with pytest.raises(DataError, match=r"RUL\.txt:2: non-numeric value 'x'"):
        read_rul_file(rul)


def test_missing_files_and_unknown_subset(tmp_path):
    with pytest.raises(ConfigError, match="FD009"):
        load_cmapss("FD009", tmp_path)
    with pytest.raises(DataError, match="train_FD001"):
        load_cmapss("FD001", tmp_path)


def test_identify_conditions_rounds_settings():
    s = np.array(
        [
            [0.0007, -0.0004, 100.0],
            [-0.0019, 0.0003, 100.0],
            [42.0049, 0.8405, 100.0],
            [24.9987, 0.6218, 60.0],
        ]
    )
    keys = identify_conditions(s)
    np.testing.assert_array_equal(keys, [[0, 0, 100], [0, 0, 100], [42, 0.84, 100], [25, 0.62, 60]])


def test_exponential_smoothing_matches_recursion_and_stays_in_unit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 2))
    units = np.array([1, 1, 1, 1, 2, 2, 2, 2, 2])
    a = 0.3
    out = exponential_smoothing(x, units, a)
    for start, stop in ((0, 4), (4, 9)):
        num, den = np.zeros(2), 0.0
        for i in range(start, stop):  # pandas ewm(alpha, adjust=True)
            num = (1 - a) * num + x[i]
            den = (1 - a) * den + 1
            np.testing.assert_allclose(out[i], num / den, rtol=1e-12)
    assert np.allclose(out[4], x[4])  # a new unit starts fresh
    np.testing.assert_allclose(exponential_smoothing(x, units, 1.0), x)


def test_piecewise_rul():
    np.testing.assert_array_equal(
        piecewise_rul(np.array([300, 125, 124, 0]), 125), [125, 125, 124, 0]
    )
    np.testing.assert_array_equal(piecewise_rul(np.array([300, 0]), None), [300, 0])


def _sim(**kw):
    return simulate_turbofan(SimulatorConfig(n_train_units=12, n_test_units=6, **kw), seed=3)


def test_windows_never_cross_units_and_labels_are_right():
    sub = _sim()
    # encode the unit id into sensor 2 so that any cross-unit window would be visible
    train = sub.train.copy()
    train[:, 5 + 1] = train[:, 0] * 1000.0
    sub = CMAPSSSubset("T", train, sub.test, sub.test_rul)
    cfg = CMAPSSConfig(window=10, alpha=1.0, val_fraction=0.25, rul_cap=60.0)
    data = prepare_rul_data(sub, cfg)
    for ws in (data.train, data.val):
        col = ws.x[:, :, 0]  # sensor 2 is the first kept sensor
        assert np.all(col.max(axis=1) == col.min(axis=1))  # one unit per window
        # label: capped cycles to the unit's last cycle
        last = {u: sub.train[sub.train[:, 0] == u, 1].max() for u in np.unique(ws.unit)}
        expect = np.minimum([last[u] - c for u, c in zip(ws.unit, ws.cycle, strict=False)], 60.0)
        np.testing.assert_array_equal(ws.y, expect)
        # windows per unit = cycles - window + 1
        for u in np.unique(ws.unit):
            assert (ws.unit == u).sum() == (sub.train[:, 0] == u).sum() - 10 + 1
    assert not set(data.train.units) & set(data.val.units)
    assert len(data.val.units) == 3
    # the time input is the scaled cycle of the window's last row
    np.testing.assert_allclose(data.train.t, data.train.cycle * cfg.time_scale, rtol=1e-6)


def test_scaler_sees_training_units_only():
    sub = _sim(n_conditions=3)
    cfg = CMAPSSConfig(window=5, val_fraction=0.25, split_seed=1)
    base = prepare_rul_data(sub, cfg)
    # perturb test engines and validation engines: scaler and training windows must not move
    test = sub.test.copy()
    test[:, 5:] *= 3.0
    val_units = base.val.units
    train = sub.train.copy()
    m = np.isin(train[:, 0], val_units)
    train[m, 5:] += 50.0
    other = prepare_rul_data(CMAPSSSubset("T", train, test, sub.test_rul), cfg)
    np.testing.assert_array_equal(base.scaler.mean, other.scaler.mean)
    np.testing.assert_array_equal(base.scaler.std, other.scaler.std)
    np.testing.assert_array_equal(base.train.x, other.train.x)
    assert not np.allclose(base.test.x, other.test.x)
    # scaled training sensors are standardised per condition (before smoothing)
    assert len(base.scaler.conditions) == 3
    # the official-code option fits on validation units too and then differs
    widened = prepare_rul_data(
        CMAPSSSubset("T", train, test, sub.test_rul),
        CMAPSSConfig(
            window=5, val_fraction=0.25, split_seed=1, fit_scaler_on_validation_units=True
        ),
    )
    assert not np.allclose(widened.scaler.mean, base.scaler.mean)


def test_test_set_is_last_window_per_engine_with_explicit_capping():
    sub = _sim()
    rul = sub.test_rul.copy()
    rul[0] = 400.0
    sub = CMAPSSSubset("T", sub.train, sub.test, rul)
    capped = prepare_rul_data(sub, CMAPSSConfig(window=5, rul_cap=125.0))
    raw = prepare_rul_data(sub, CMAPSSConfig(window=5, rul_cap=125.0, cap_test_labels=False))
    assert len(capped.test) == sub.n_test_units
    np.testing.assert_array_equal(raw.test.y, rul)
    np.testing.assert_array_equal(capped.test.y, np.minimum(rul, 125.0))
    last_cycles = [sub.test[sub.test[:, 0] == u, 1].max() for u in capped.test.unit]
    np.testing.assert_array_equal(capped.test.cycle, last_cycles)
    # every window of the test engines is labelled from the RUL file
    u0 = capped.test.unit[0]
    ws = raw.test_all.subset(raw.test_all.unit == u0)
    np.testing.assert_array_equal(ws.y, 400.0 + ws.cycle.max() - ws.cycle)


def test_short_test_units_pad_or_raise():
    sub = _sim()
    n_short = min(int((sub.test[:, 0] == u).sum()) for u in np.unique(sub.test[:, 0]))
    w = n_short + 3
    data = prepare_rul_data(sub, CMAPSSConfig(window=w))
    assert data.test.x.shape[1] == w and len(data.test) == sub.n_test_units
    with pytest.raises(DataError, match=f"fewer than window {w}"):
        prepare_rul_data(sub, CMAPSSConfig(window=w, short_test_units="error"))


def test_unseen_test_condition_is_an_error():
    sub = _sim(n_conditions=1)
    test = sub.test.copy()
    test[0, 2] = 42.0
    with pytest.raises(DataError, match="never visit"):
        prepare_rul_data(CMAPSSSubset("T", sub.train, test, sub.test_rul))


def test_config_validation():
    with pytest.raises(ConfigError, match="sensors"):
        CMAPSSConfig(sensors=(0, 2))
    with pytest.raises(ConfigError, match="alpha"):
        CMAPSSConfig(alpha=0.0)


@needs_data
def test_real_fd001_and_fd002():
    fd1 = load_cmapss("FD001", Path(DATA) / "cmapss")
    assert fd1.train.shape == (20631, 26) and fd1.n_train_units == 100
    assert fd1.n_test_units == 100 and fd1.test_rul[:3].tolist() == [112.0, 98.0, 69.0]
    d1 = prepare_rul_data(fd1)
    assert len(d1.scaler.conditions) == 1 and len(d1.test) == 100
    assert d1.test.y.max() == 125.0
    fd2 = load_cmapss("FD002", Path(DATA) / "cmapss")
    d2 = prepare_rul_data(fd2, CMAPSSConfig(window=30))
    assert len(d2.scaler.conditions) == 6 and len(d2.test) == 259
