"""Synthetic "speakers" for tests and the demo: source-filter vowels with speaker formants.

Each utterance is a glottal-like harmonic source (F0 gliding around the speaker's mean pitch,
harmonics falling at -12 dB/octave, plus a little noise) passed through the speaker's formant
resonators (second-order IIR filters), with syllable-like amplitude envelopes separated by short
pauses. Two speakers differ in pitch and formant frequencies, which is what a converter must
learn to map. This is a test generator, not a speech model.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from lab.core import ConfigError

__all__ = ["SyntheticSpeaker", "synthetic_utterances"]


@dataclass(frozen=True)
class SyntheticSpeaker:
    """Pitch (Hz) and formant frequencies/bandwidths (Hz) of a synthetic speaker."""

    f0: float = 120.0
    formants: tuple[float, ...] = (700.0, 1200.0, 2600.0)
    bandwidths: tuple[float, ...] = (90.0, 110.0, 160.0)

    def __post_init__(self) -> None:
        if self.f0 <= 0 or len(self.formants) != len(self.bandwidths) or not self.formants:
            raise ConfigError(f"invalid synthetic speaker {self}")


def _resonate(x: np.ndarray, freq: float, bw: float, sr: int) -> np.ndarray:
    from scipy.signal import lfilter

    r = np.exp(-np.pi * bw / sr)
    theta = 2 * np.pi * freq / sr
    a = [1.0, -2 * r * np.cos(theta), r * r]
    return lfilter([1.0 - r], a, x)


def synthetic_utterances(
    speaker: SyntheticSpeaker,
    n: int,
    *,
    sample_rate: int = 16000,
    seconds: float = 1.0,
    seed: int = 0,
) -> list[np.ndarray]:
    """``n`` float32 utterances of ``seconds`` each, peak-normalised to 0.5."""
    if n < 1 or seconds <= 0:
        raise ConfigError(f"need n >= 1 and seconds > 0, got {n}, {seconds}")
    rng = np.random.default_rng(seed)
    length = int(seconds * sample_rate)
    t = np.arange(length) / sample_rate
    out = []
    for _ in range(n):
        glide = rng.uniform(-0.15, 0.15)
        f0 = speaker.f0 * (1 + glide * t / seconds + 0.03 * np.sin(2 * np.pi * 5 * t))
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        src = np.zeros(length)
        k = 1
        while k * f0.max() < sample_rate / 2 and k <= 40:
            src += np.sin(k * phase) / k**2
            k += 1
        src += 0.01 * rng.standard_normal(length)
        y = sum(
            _resonate(src, f, b, sample_rate)
            for f, b in zip(speaker.formants, speaker.bandwidths, strict=True)
        )
        n_syl = int(rng.integers(2, 4))
        env = np.zeros(length)
        edges = np.linspace(0, length, n_syl + 1).astype(int)
        for a, b in itertools.pairwise(edges):
            core = int(0.8 * (b - a))
            env[a : a + core] = np.hanning(core)
        y = np.asarray(y) * env
        out.append((0.5 * y / np.max(np.abs(y))).astype(np.float32))
    return out
