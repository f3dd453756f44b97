"""The non-private all-pairs estimator: known answers, unbiasedness, variance formula, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from lab.core import DataError
from lab.privacy.collision import (
    collision_probability,
    collision_variance,
    dirichlet_distribution,
    estimate_collision,
    exact_collision_probability,
    sample_categorical,
    uniform_distribution,
    zipf_distribution,
)
from lab.privacy.collision._hashing import encode_categories

DISTS = {
    "uniform": uniform_distribution(8),
    "zipf": zipf_distribution(12, 1.2),
    "dirichlet": dirichlet_distribution(10, 0.5, seed=3),
}


def _brute(values):
    pairs = list(itertools.combinations(values, 2))
    return sum(a == b for a, b in pairs) / len(pairs)


def test_known_answers():
    assert collision_probability([1, 1, 2, 2]) == pytest.approx(1 / 3)
    assert collision_probability(["a", "b", "c"]) == 0.0
    assert collision_probability(np.array([5, 5, 5])) == 1.0


@pytest.mark.parametrize("kind", ["list-int", "str", "tuple", "tensor", "numpy-str"])
def test_counts_equal_brute_force_pairs(kind):
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 6, size=40).tolist()
    values = {
        "list-int": raw,
        "str": [f"v{x}" for x in raw],
        "tuple": [(x, x % 2) for x in raw],
        "tensor": torch.tensor(raw),
        "numpy-str": np.array([f"v{x}" for x in raw]),
    }[kind]
    assert collision_probability(values) == pytest.approx(_brute(raw), abs=1e-15)


@pytest.mark.parametrize("name", list(DISTS))
def test_unbiased_and_variance_formula(name):
    p = DISTS[name]
    c = exact_collision_probability(p)
    n, trials = 30, 4000
    draws = sample_categorical(p, n * trials, seed=11).reshape(trials, n).numpy()
    est = np.array([collision_probability(row) for row in draws])
    var = collision_variance(p, n)
    assert abs(est.mean() - c) < 3 * np.sqrt(var / trials)
    # sample variance of 4000 draws: relative sd ~ sqrt(2/4000 * kurtosis-ish) < 5%
    assert est.var(ddof=1) / var == pytest.approx(1.0, abs=0.12)


def test_interval_covers_truth():
    p = DISTS["zipf"]
    c = exact_collision_probability(p)
    hits = 0
    for seed in range(100):
        e = estimate_collision(sample_categorical(p, 400, seed=seed))
        hits += e.ci_low <= c <= e.ci_high
    assert hits >= 88  # nominal 95 of 100


def test_bad_inputs_are_named():
    with pytest.raises(DataError, match="at least 2"):
        collision_probability([1])
    with pytest.raises(DataError, match=r"\[1\]"):
        collision_probability([[1], [2]])
    with pytest.raises(DataError, match="NaN"):
        collision_probability([1.0, float("nan")])
    with pytest.raises(DataError, match="NaN"):
        collision_probability(np.array([1.0, np.nan]))
    with pytest.raises(DataError, match="1-D"):
        collision_probability(np.zeros((2, 2), dtype=int))
    with pytest.raises(DataError, match="sequence"):
        collision_probability("abc")


def test_category_ids_are_consistent():
    a = encode_categories([3, "x", 3.0, ("t", 1)])
    b = encode_categories(np.array([3], dtype=np.int64))
    assert a[0] == a[2] == b[0] == 3  # integral floats equal their int, as in Python
    assert len(set(a.tolist())) == 3
    assert encode_categories(np.array(["x"]))[0] == a[1]  # numpy str == python str
