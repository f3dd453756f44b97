"""The statistics and reference maps of the VC benchmark tools (tools/bench/signal_vc_*.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[3] / "tools" / "bench"


def _load(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def test_paired_statistics_match_a_hand_computed_t_test():
    report = _load("signal_vc_report")
    s = report.paired(np.array([-1.0, -2.0, -3.0]))
    assert s["mean"] == pytest.approx(-2.0)
    assert s["se"] == pytest.approx(1.0 / np.sqrt(3.0))
    # t = -2 / (1 / sqrt 3) = -3.464 with 2 degrees of freedom: two-sided p = 0.0742
    assert s["p"] == pytest.approx(0.0742, abs=1e-3)
    assert (s["n"], s["lower"]) == (3, 3)


def _speaker(mean: np.ndarray, cov: np.ndarray, n: int, seed: int):
    x = np.random.default_rng(seed).multivariate_normal(mean, cov, size=n).T  # (d, frames)
    t = torch.as_tensor(x, dtype=torch.float32)
    return [t], [np.zeros(1)], [t]


def test_gaussian_ot_map_moves_source_frames_onto_the_target_gaussian():
    pytest.importorskip("scipy")
    diag = _load("signal_vc_diag")
    d = 3
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    cs, ct = a @ a.T + 0.5 * np.eye(d), b @ b.T + 0.5 * np.eye(d)
    ms, mt = np.array([1.0, -1.0, 0.5]), np.array([-2.0, 0.0, 3.0])
    src, tgt = _speaker(ms, cs, 40000, 1), _speaker(mt, ct, 40000, 2)
    fresh = np.random.default_rng(3).multivariate_normal(ms, cs, size=40000)
    val = {0: (np.concatenate([np.zeros((len(fresh), 1)), fresh], axis=1), None, None)}
    out = diag.gaussian_ot_map(src, tgt, val)[0]
    assert np.all(out[:, 0] == 0.0)  # c0 kept
    np.testing.assert_allclose(out[:, 1:].mean(0), mt, atol=0.05)
    np.testing.assert_allclose(np.cov(out[:, 1:].T), ct, rtol=0.05, atol=0.05)
    # with diagonal covariances it is the mean/variance transfer
    src_d, tgt_d = (
        _speaker(ms, np.diag(np.diag(cs)), 20000, 4),
        _speaker(mt, np.diag(np.diag(ct)), 20000, 5),
    )
    g = diag.gaussian_ot_map(src_d, tgt_d, val)[0]
    mv = diag.mean_variance(src_d, tgt_d, val)[0]
    np.testing.assert_allclose(g, mv, atol=0.1)
