"""PODS down-sampling rules: brute-force optimality, invariances, types, speed, errors."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import torch

from lab.core import ConfigError, DataError
from lab.llm.pods import (
    downsample,
    max_reward_downsample,
    max_variance_downsample,
    max_variance_downsample_bruteforce,
    random_downsample,
    subset_variance,
)


def _brute_best(r: np.ndarray, m: int) -> float:
    return max(r[list(c)].var() for c in itertools.combinations(range(len(r)), m))


@pytest.mark.parametrize("kind", ["binary", "real", "ties", "small_ints"])
def test_equals_bruteforce_variance(kind):
    rng = np.random.default_rng(0)
    for _trial in range(40):
        n = int(rng.integers(1, 9))
        if kind == "binary":
            r = rng.integers(0, 2, n).astype(float)
        elif kind == "real":
            r = rng.normal(size=n)
        elif kind == "ties":
            r = rng.choice([0.0, 0.5, 1.0], size=n)
        else:
            r = rng.integers(-3, 4, n).astype(float) * 1.1
        for m in range(1, n + 1):
            idx = max_variance_downsample(r, m)
            assert idx.shape == (m,)
            assert len(set(idx.tolist())) == m, "indices must be distinct"
            np.testing.assert_allclose(r[idx].var(), _brute_best(r, m), rtol=1e-12, atol=1e-12)
            bf = max_variance_downsample_bruteforce(r, m)
            np.testing.assert_allclose(r[bf].var(), r[idx].var(), rtol=1e-12, atol=1e-12)


def test_binary_rewards_pick_balanced_mix():
    r = np.array([1, 1, 1, 1, 1, 1, 0, 0, 1, 1], dtype=float)  # 8 correct, 2 wrong
    idx = max_variance_downsample(r, 4)
    assert sorted(r[idx].tolist()) == [0, 0, 1, 1]
    r = np.array([1, 0, 0, 0, 0, 0], dtype=float)
    assert sorted(r[max_variance_downsample(r, 4)].tolist()) == [0, 0, 0, 1]


def test_batched_equals_per_group_and_torch_matches_numpy():
    rng = np.random.default_rng(1)
    r = rng.normal(size=(7, 12))
    batched = max_variance_downsample(r, 5)
    assert isinstance(batched, np.ndarray) and batched.shape == (7, 5)
    for g in range(7):
        assert set(batched[g].tolist()) == set(max_variance_downsample(r[g], 5).tolist())
    t = torch.tensor(r, dtype=torch.float32)
    out = max_variance_downsample(t, 5)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.long and out.device == t.device
    np.testing.assert_allclose(subset_variance(r, out), subset_variance(r, batched), rtol=1e-6)


def test_shift_and_scale_invariance():
    rng = np.random.default_rng(2)
    r = rng.normal(size=(20, 16))
    base = max_variance_downsample(r, 4)
    for a, b in [(1.0, 100.0), (3.5, -7.0), (0.01, 1e4), (1e3, 0.0)]:
        moved = max_variance_downsample(a * r + b, 4)
        # distinct real rewards: the optimal subset is unique, so the sets agree exactly
        for g in range(20):
            assert set(moved[g].tolist()) == set(base[g].tolist()), (a, b, g)
    # a negative scale maps the best subset to itself too (variance is even in the sign)
    neg = max_variance_downsample(-2.0 * r, 4)
    np.testing.assert_allclose(subset_variance(r, neg), subset_variance(r, base), rtol=1e-12)


def test_million_rewards_under_a_second():
    rng = np.random.default_rng(3)
    r = torch.from_numpy(rng.random((1000, 1000)))
    max_variance_downsample(r[:2], 8)  # warm-up
    t0 = time.perf_counter()
    idx = max_variance_downsample(r, 250)
    dt = time.perf_counter() - t0
    assert idx.shape == (1000, 250)
    assert dt < 1.0, f"10^6 rewards took {dt:.2f}s"
    one = torch.from_numpy(rng.random(10**6))
    t0 = time.perf_counter()
    max_variance_downsample(one, 64)
    assert time.perf_counter() - t0 < 1.0


def test_max_variance_beats_other_rules():
    rng = np.random.default_rng(4)
    r = rng.normal(size=(50, 16))
    v = subset_variance(r, max_variance_downsample(r, 4))
    assert (v >= subset_variance(r, max_reward_downsample(r, 4)) - 1e-12).all()
    assert (v >= subset_variance(r, random_downsample(r, 4, seed=0)) - 1e-12).all()


def test_max_reward_and_random():
    r = np.array([[0.1, 0.9, 0.5, 0.9, 0.2]])
    assert max_reward_downsample(r, 2).tolist() == [[1, 3]]
    a = random_downsample(np.zeros((3, 10)), 4, seed=5)
    b = random_downsample(np.zeros((3, 10)), 4, seed=5)
    assert (a == b).all() and a.shape == (3, 4)
    assert all(len(set(row.tolist())) == 4 for row in a)
    # uniform: every index is chosen about equally often
    g = torch.Generator().manual_seed(0)
    counts = np.bincount(
        random_downsample(torch.zeros(4000, 5), 2, generator=g).flatten().numpy(), minlength=5
    )
    assert np.abs(counts / counts.sum() - 0.2).max() < 0.02
    assert (downsample(r, 2, "max_reward") == max_reward_downsample(r, 2)).all()


def test_bad_input():
    with pytest.raises(ConfigError, match="m=5"):
        max_variance_downsample([1.0, 2.0, 3.0], 5)
    with pytest.raises(ConfigError, match="m must be >= 1"):
        max_variance_downsample([1.0, 2.0], 0)
    with pytest.raises(DataError, match="finite"):
        max_variance_downsample([1.0, float("nan"), 2.0], 2)
    with pytest.raises(DataError, match="shape"):
        max_variance_downsample(np.zeros((2, 2, 2)), 1)
    with pytest.raises(ConfigError, match="unknown down-sampling rule"):
        downsample([1.0, 2.0], 1, "median")
