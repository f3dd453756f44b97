"""Word surprisal, sigmoid fits, age of acquisition and the frequency-AoA correlation."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lab.core import ConfigError, DataError
from lab.llm.tnd import (
    age_of_acquisition,
    fit_sigmoid,
    frequency_aoa_correlation,
    log_spaced_steps,
    word_surprisal,
)

torch.set_num_threads(1)


def _curve(x, lo, hi, k, x0):
    return lo + (hi - lo) / (1 + np.exp(k * (x - x0)))


def test_aoa_recovers_planted_midpoints_of_noisy_sigmoids():
    rng = np.random.default_rng(0)
    steps = np.array(log_spaced_steps(10_000, 16), dtype=float)
    x = np.log10(steps)
    chance = 9.0
    errors = []
    for _ in range(25):
        x0 = rng.uniform(1.0, 3.0)
        k = rng.uniform(2.5, 6.0)
        lo = rng.uniform(1.0, 5.0)
        y = _curve(x, lo, chance, k, x0) + rng.normal(0, 0.2, len(x))
        res = age_of_acquisition(steps, y, chance=chance)
        assert res.learned
        # with hi == chance, the midpoint between chance and the minimum is the sigmoid's x0
        # (up to the curve not quite reaching lo inside the evaluated range)
        lo_seen = _curve(x.max(), lo, chance, k, x0)
        x_true = x0 + math.log(1 / ((0.5 * (chance + lo_seen) - lo) / (chance - lo)) - 1) / k
        errors.append(abs(res.log10_aoa - x_true))
        assert res.aoa == pytest.approx(10**res.log10_aoa)
    assert np.median(errors) < 0.05
    assert max(errors) < 0.15


def test_noise_free_fit_is_exact():
    x = np.linspace(0, 4, 12)
    y = _curve(x, 2.0, 8.0, 3.0, 1.7)
    f = fit_sigmoid(x, y)
    assert f.x0 == pytest.approx(1.7, abs=1e-3)
    assert f.lo == pytest.approx(2.0, abs=1e-3)
    assert f.hi == pytest.approx(8.0, abs=1e-3)
    assert f.rmse < 1e-3
    assert f.inverse(5.0) == pytest.approx(1.7, abs=1e-3)


def test_flat_or_rising_curve_is_not_learned():
    steps = log_spaced_steps(1000, 10)
    flat = age_of_acquisition(steps, [8.0 + 0.01 * (i % 2) for i in range(len(steps))], chance=8)
    assert not flat.learned and math.isnan(flat.aoa)
    x = np.log10(steps)
    rising = age_of_acquisition(steps, _curve(x, 8.0, 3.0, 3.0, 1.5), chance=8.0)
    assert not rising.learned
    # learned only after the last evaluated step -> not learned
    late = age_of_acquisition(steps, _curve(x, 2.0, 8.0, 4.0, 4.5), chance=8.0)
    assert not late.learned


def test_word_whose_sigmoid_midpoint_is_beyond_the_last_step_is_not_learned():
    # the curve falls 1.2 bits by the last step and crosses the cutoff (midpoint between chance
    # and the minimum seen) inside the range, but its own midpoint x0 lies 0.3 decades later
    steps = log_spaced_steps(1000, 12)
    x = np.log10(steps)
    x0 = x.max() + 0.3
    y = _curve(x, 2.0, 8.6, 5.0, x0)
    assert 8.6 - y.min() > 1.0  # it would pass the min_drop rule
    res = age_of_acquisition(steps, y, chance=8.6)
    assert res.fit.x0 > x.max()
    assert not res.learned and math.isnan(res.aoa)
    # the same word evaluated 0.6 decades longer is learned, near its midpoint
    steps2 = log_spaced_steps(4000, 14)
    res2 = age_of_acquisition(steps2, _curve(np.log10(steps2), 2.0, 8.6, 5.0, x0), chance=8.6)
    assert res2.learned


def test_aoa_bad_input():
    with pytest.raises(DataError, match="> 0"):
        age_of_acquisition([0, 1, 2, 3], [1, 2, 3, 4], chance=5)
    with pytest.raises(DataError, match="at least 4"):
        fit_sigmoid([1, 2, 3], [1, 2, 3])
    with pytest.raises(DataError, match="finite"):
        fit_sigmoid([1, 2, 3, 4], [1, float("nan"), 3, 4])
    with pytest.raises(ConfigError, match="chance"):
        age_of_acquisition([1, 2, 3, 4], [1, 2, 3, 4], chance=float("inf"))


class BigramModel(torch.nn.Module):
    """A 'language model' whose next-token distribution is a fixed bigram table."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.logp = torch.nn.Parameter(table.log(), requires_grad=False)
        self.calls = 0

    def forward(self, input_ids, attention_mask=None, position_ids=None, **kw):
        self.calls += 1
        return SimpleNamespace(logits=self.logp[input_ids])


def test_word_surprisal_on_a_known_distribution():
    V = 6
    g = torch.Generator().manual_seed(0)
    table = torch.softmax(torch.randn(V, V, generator=g), -1)
    model = BigramModel(table)
    seqs = [[0, 3, 4, 3], [0, 4, 4], [0, 5, 3, 4, 2]]
    got = word_surprisal(model, seqs, {"three": 3, "four": 4, "one": 1}, batch_size=2)

    def bits(p, n):
        return -math.log2(float(table[p, n]))

    # occurrences of 3: (0->3), (4->3), (5->3); of 4: (3->4), (0->4), (4->4), (3->4)
    exp3 = (bits(0, 3) + bits(4, 3) + bits(5, 3)) / 3
    exp4 = (bits(3, 4) + bits(0, 4) + bits(4, 4) + bits(3, 4)) / 4
    assert got.surprisal["three"] == pytest.approx(exp3, rel=1e-6)
    assert got.surprisal["four"] == pytest.approx(exp4, rel=1e-6)
    assert got.counts == {"three": 3, "four": 4, "one": 0}
    assert got.missing == ("one",)
    assert "one" not in got.surprisal
    assert model.calls == 2  # batches of 2 sequences
    # a uniform model gives exactly log2(V) bits for every word
    uni = word_surprisal(BigramModel(torch.full((V, V), 1 / V)), seqs, {"three": 3})
    assert uni.surprisal["three"] == pytest.approx(math.log2(V))


def test_word_surprisal_bad_input():
    m = BigramModel(torch.full((3, 3), 1 / 3))
    with pytest.raises(DataError, match="no sequences"):
        word_surprisal(m, [], {"a": 1})
    with pytest.raises(DataError, match="no words"):
        word_surprisal(m, [[0, 1]], {})


def test_frequency_aoa_correlation_sign_and_filtering():
    freq = {"a": 1000, "b": 100, "c": 10, "d": 1, "e": 5}
    aoa = {"a": 10.0, "b": 30.0, "c": 100.0, "d": 400.0, "e": float("nan")}
    r = frequency_aoa_correlation(freq, aoa)
    assert r["n"] == 4
    assert r["spearman"] == pytest.approx(-1.0)
    assert r["pearson"] < -0.95
    with pytest.raises(DataError, match="at least 3"):
        frequency_aoa_correlation({"a": 1, "b": 2}, {"a": 1.0, "b": 2.0})
    with pytest.raises(DataError, match="constant"):
        frequency_aoa_correlation({"a": 1, "b": 1, "c": 1}, {"a": 1.0, "b": 2.0, "c": 3.0})


def test_log_spaced_steps():
    s = log_spaced_steps(1000, 7)
    assert s[0] == 1 and s[-1] == 1000
    assert s == sorted(set(s))
    ratios = np.diff(np.log10(s))
    assert ratios.max() - ratios.min() < 0.05
    assert log_spaced_steps(3, 10) == [1, 2, 3]
    with pytest.raises(ConfigError):
        log_spaced_steps(0, 3)
