"""Metrics: MCD closed forms, F0 RMSE, MSD, MFCC-MCD, WORLD metrics and the baseline."""

import math

import numpy as np
import pytest

from lab.core import DataError
from lab.signal.vc import (
    MCD_CONSTANT,
    MelConfig,
    f0_rmse,
    mcd,
    mfcc_mcd,
    msd,
)
from lab.signal.vc.synth import SyntheticSpeaker, synthetic_utterances

SR = 16000
MEL = MelConfig(sample_rate=SR, n_fft=512, hop_length=128, win_length=512, n_mels=40)


def test_mcd_constant():
    assert pytest.approx(6.141851463713754, rel=1e-12) == MCD_CONSTANT


def test_mcd_identity_is_zero():
    c = np.random.default_rng(0).standard_normal((50, 25))
    assert mcd(c, c) == 0.0
    assert mcd(c, c, align=False) == 0.0


def test_mcd_constant_offset_closed_form():
    rng = np.random.default_rng(1)
    c = rng.standard_normal((40, 25))
    delta = 0.3
    # offset on c1..c24: MCD = (10 sqrt(2) / ln 10) * delta * sqrt(24)
    expected = 10 * math.sqrt(2) / math.log(10) * delta * math.sqrt(24)
    assert mcd(c, c + delta, align=False) == pytest.approx(expected, rel=1e-12)
    # an offset on c0 alone is excluded
    shifted = c.copy()
    shifted[:, 0] += 5.0
    assert mcd(c, shifted, align=False) == 0.0
    # ... unless c0 is included
    assert mcd(c, shifted, align=False, exclude_c0=False) == pytest.approx(MCD_CONSTANT * 5.0)
    # with DTW: on a constant sequence every alignment costs the same
    flat = np.tile(rng.standard_normal(25), (30, 1))
    assert mcd(flat, flat[:17] + delta) == pytest.approx(expected, rel=1e-9)


def test_mcd_dtw_undoes_time_stretch():
    rng = np.random.default_rng(2)
    c = np.cumsum(rng.standard_normal((60, 25)) * 0.1, axis=0)
    stretched = np.repeat(c, 2, axis=0)  # each frame twice: DTW aligns exactly
    assert mcd(c, stretched) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(DataError, match="equal lengths"):
        mcd(c, stretched, align=False)
    with pytest.raises(DataError, match="orders differ"):
        mcd(c, c[:, :10])


def test_f0_rmse_voiced_frames_only():
    ref = np.array([0.0, 100.0, 110.0, 120.0, 0.0])
    conv = np.array([200.0, 103.0, 106.0, 0.0, 0.0])
    # voiced in both: frames 1, 2 -> errors 3 and 4
    assert f0_rmse(ref, conv) == pytest.approx(math.sqrt((9 + 16) / 2))
    assert f0_rmse(ref, 2 * np.where(ref > 0, ref, 0), unit="cents") == pytest.approx(1200.0)
    path = (np.array([1, 2]), np.array([0, 0]))
    assert f0_rmse(ref, np.array([105.0]), path) == pytest.approx(math.sqrt((25 + 25) / 2))
    with pytest.raises(DataError, match="no frame is voiced"):
        f0_rmse(np.zeros(3), np.ones(3))
    with pytest.raises(DataError, match="differ in length"):
        f0_rmse(ref, conv[:3])


def test_msd_zero_for_identical_and_positive_for_smoothed():
    rng = np.random.default_rng(3)
    c = rng.standard_normal((200, 25))
    assert msd(c, c) == 0.0
    kernel = np.ones(5) / 5
    smooth = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), 0, c)
    assert msd(c, smooth) > 3.0  # over-smoothing removes fast modulation (many dB)
    assert msd(c, c + 1.0) == pytest.approx(0.0, abs=1e-9)  # mean removed: offsets do not count


def test_mfcc_mcd_zero_on_same_audio_and_grows_with_speaker_change():
    a = synthetic_utterances(SyntheticSpeaker(), 1, sample_rate=SR, seconds=0.6, seed=0)[0]
    b = synthetic_utterances(
        SyntheticSpeaker(f0=210.0, formants=(850.0, 1500.0, 2900.0)), 1, sample_rate=SR, seconds=0.6
    )[0]
    assert mfcc_mcd(a, a, MEL) == pytest.approx(0.0, abs=1e-9)
    assert mfcc_mcd(a, b, MEL) > 1.0


def test_world_metrics_and_baseline():
    pytest.importorskip("pyworld", reason="needs the vc extra (pyworld, pysptk)")
    pytest.importorskip("pysptk", reason="needs the vc extra (pyworld, pysptk)")
    from lab.signal.vc import MeanVarianceConverter, all_pass_constant, world_metrics

    assert all_pass_constant(22050) == 0.455 and all_pass_constant(16000) == 0.42
    spk_a = SyntheticSpeaker(f0=120.0)
    spk_b = SyntheticSpeaker(f0=200.0, formants=(850.0, 1500.0, 2900.0))
    a = synthetic_utterances(spk_a, 4, sample_rate=SR, seconds=0.6, seed=0)
    b = synthetic_utterances(spk_b, 4, sample_rate=SR, seconds=0.6, seed=1)
    same = world_metrics(a[0], a[0], SR)
    assert same["mcd"] == 0.0 and same["f0_rmse"] == 0.0 and same["msd"] == 0.0
    before = world_metrics(b[3], a[3], SR)
    conv = MeanVarianceConverter(SR).fit(a[:3], b[:3]).convert(a[3])
    after = world_metrics(b[3], conv, SR)
    assert before["mcd"] > 3.0
    # the Gaussian transfer moves pitch and envelope towards the target speaker
    assert after["f0_rmse"] < 0.5 * before["f0_rmse"]
    assert after["mcd"] < before["mcd"]
