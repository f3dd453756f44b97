"""Objective voice-conversion metrics: MCD (WORLD and MFCC), MSD and F0 RMSE.

Mel-cepstral distortion between aligned frames ``c`` (reference) and ``c'`` (converted)::

    MCD = (10 sqrt(2) / ln 10) * mean_t sqrt( sum_{d=1..D} (c_{t,d} - c'_{t,d})^2 )   [dB]

with c0 (the power term) excluded. :func:`world_metrics` states its parameters: WORLD envelopes
(DIO + StoneMask + CheapTrick, 5 ms frames) to mel-cepstra of order 24 (c1..c24 enter the sum)
with the all-pass constant of the sample rate (0.455 at 22.05 kHz, 0.42 at 16 kHz), frames
aligned by DTW (librosa, Euclidean distance on c1..cD), and the silent frames of each signal
dropped before alignment (frame energy more than ``silence_db`` = 40 dB below the utterance's
loudest frame; OUR choice). :func:`mfcc_mcd` is the cheaper DCT-of-log-mel variant: NOT
comparable with WORLD MCD; its parameters are in its docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lab.core import ConfigError, DataError

from .audio import MelConfig, check_waveform, mel_spectrogram
from .world import WorldConfig, mel_cepstrum, world_analyze

__all__ = [
    "MCD_CONSTANT",
    "MetricConfig",
    "dtw_path",
    "f0_rmse",
    "mcd",
    "mfcc",
    "mfcc_mcd",
    "modulation_spectrum",
    "msd",
    "nonsilent_frames",
    "world_metrics",
]

#: 10 * sqrt(2) / ln(10): converts a natural-log cepstral Euclidean distance to decibels.
MCD_CONSTANT = 10.0 * math.sqrt(2.0) / math.log(10.0)


@dataclass(frozen=True)
class MetricConfig:
    """Parameters of :func:`world_metrics` (all stated with every reported number).

    ``silence_db``: frames whose energy is more than this many dB below the loudest frame are
    dropped before DTW (OURS). ``msd_fft``/``msd_hop``: segment length and hop (frames) of the
    modulation spectrum (OURS).
    """

    world: WorldConfig = field(default_factory=WorldConfig)
    silence_db: float = 40.0
    msd_fft: int = 64
    msd_hop: int = 32

    def __post_init__(self) -> None:
        if self.silence_db <= 0:
            raise ConfigError(f"silence_db must be positive, got {self.silence_db}")
        if self.msd_fft < 4 or not 0 < self.msd_hop <= self.msd_fft:
            raise ConfigError(f"need msd_fft >= 4 and 0 < msd_hop <= msd_fft ({self})")


def _as_frames(c: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(c, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] < 2:
        raise DataError(f"{name}: expected (frames >= 1, coefficients >= 2), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name}: holds NaN or infinite values")
    return arr


def dtw_path(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DTW alignment (librosa, Euclidean frame distance) of ``a (Ta, D)`` and ``b (Tb, D)``.

    Returns index arrays ``(ia, ib)`` in increasing time order.
    """
    import librosa

    _, wp = librosa.sequence.dtw(X=np.asarray(a).T, Y=np.asarray(b).T, metric="euclidean")
    wp = wp[::-1]
    return wp[:, 0].astype(np.int64), wp[:, 1].astype(np.int64)


def mcd(
    c_ref: np.ndarray, c_conv: np.ndarray, *, align: bool = True, exclude_c0: bool = True
) -> float:
    """Mel-cepstral distortion (dB) between two cepstral sequences ``(frames, order + 1)``.

    With ``align=True`` the frames are DTW-aligned on the coefficients that enter the sum (c1..
    when ``exclude_c0``); with ``align=False`` both must have the same number of frames.
    """
    a = _as_frames(c_ref, "c_ref")
    b = _as_frames(c_conv, "c_conv")
    if a.shape[1] != b.shape[1]:
        raise DataError(f"cepstral orders differ: {a.shape[1]} vs {b.shape[1]} coefficients")
    if exclude_c0:
        a, b = a[:, 1:], b[:, 1:]
    if align:
        ia, ib = dtw_path(a, b)
        a, b = a[ia], b[ib]
    elif a.shape[0] != b.shape[0]:
        raise DataError(f"align=False needs equal lengths, got {a.shape[0]} vs {b.shape[0]} frames")
    dist = np.sqrt(np.sum((a - b) ** 2, axis=1))
    return float(MCD_CONSTANT * dist.mean())


def f0_rmse(
    f0_ref: np.ndarray,
    f0_conv: np.ndarray,
    path: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    unit: str = "hz",
) -> float:
    """RMSE of F0 on frames voiced (F0 > 0) in both signals, in Hz or (``unit="cents"``) cents.

    ``path``: an alignment ``(i_ref, i_conv)`` (e.g. from :func:`dtw_path` on mel-cepstra);
    without it both contours must have equal length. No frame voiced in both raises DataError.
    """
    a = np.asarray(f0_ref, dtype=np.float64).ravel()
    b = np.asarray(f0_conv, dtype=np.float64).ravel()
    if path is not None:
        a, b = a[path[0]], b[path[1]]
    elif a.shape != b.shape:
        raise DataError(f"F0 contours differ in length ({a.size} vs {b.size}); pass a DTW path")
    if np.any(a < 0) or np.any(b < 0) or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise DataError("F0 contours must be finite and >= 0 (0 marks unvoiced frames)")
    voiced = (a > 0) & (b > 0)
    if not voiced.any():
        raise DataError("no frame is voiced in both F0 contours")
    if unit == "hz":
        diff = a[voiced] - b[voiced]
    elif unit == "cents":
        diff = 1200.0 * np.log2(a[voiced] / b[voiced])
    else:
        raise ConfigError(f"unit must be 'hz' or 'cents', got {unit!r}")
    return float(np.sqrt(np.mean(diff**2)))


def modulation_spectrum(c: np.ndarray, n_fft: int = 64, hop: int = 32) -> np.ndarray:
    """Log modulation spectrum (dB) of each cepstral trajectory: ``(n_fft // 2 + 1, D)``.

    The mean-removed trajectories are cut into Hann-windowed segments of ``n_fft`` frames (hop
    ``hop``; a shorter sequence is zero-padded), and the power spectra are averaged (Welch).
    """
    x = _as_frames(c, "cepstra")
    x = x - x.mean(axis=0, keepdims=True)
    if x.shape[0] < n_fft:
        x = np.pad(x, ((0, n_fft - x.shape[0]), (0, 0)))
    starts = range(0, x.shape[0] - n_fft + 1, hop)
    win = np.hanning(n_fft)[:, None]
    power = np.mean([np.abs(np.fft.rfft(x[s : s + n_fft] * win, axis=0)) ** 2 for s in starts], 0)
    return 10.0 * np.log10(power + 1e-10)


def msd(
    c_ref: np.ndarray,
    c_conv: np.ndarray,
    *,
    exclude_c0: bool = True,
    n_fft: int = 64,
    hop: int = 32,
) -> float:
    """Modulation spectrum distance (dB): RMSE between the log modulation spectra of the
    cepstral trajectories (c1.. when ``exclude_c0``), over modulation frequencies and dims."""
    a = _as_frames(c_ref, "c_ref")
    b = _as_frames(c_conv, "c_conv")
    if exclude_c0:
        a, b = a[:, 1:], b[:, 1:]
    ma = modulation_spectrum(a, n_fft, hop)
    mb = modulation_spectrum(b, n_fft, hop)
    return float(np.sqrt(np.mean((ma - mb) ** 2)))


def nonsilent_frames(energy_db: np.ndarray, silence_db: float = 40.0) -> np.ndarray:
    """Boolean mask of frames within ``silence_db`` dB of the loudest frame."""
    e = np.asarray(energy_db, dtype=np.float64)
    return e > e.max() - silence_db


def world_metrics(
    ref_wav: np.ndarray,
    conv_wav: np.ndarray,
    sample_rate: int,
    cfg: MetricConfig | None = None,
) -> dict[str, float]:
    """WORLD MCD (DTW), F0 RMSE (Hz, on the same DTW path) and MSD of one utterance pair.

    Returns ``{"mcd", "f0_rmse", "msd", "frames"}`` (``f0_rmse`` is NaN when no aligned frame
    is voiced in both). Settings: see :class:`MetricConfig` and the module docstring.
    """
    cfg = cfg or MetricConfig()
    feats = []
    for name, wav in (("reference", ref_wav), ("converted", conv_wav)):
        w = world_analyze(check_waveform(wav, name=name), sample_rate, cfg.world)
        mc = mel_cepstrum(w.sp, sample_rate, cfg.world)
        keep = nonsilent_frames(10 * np.log10(w.sp.sum(axis=1) + 1e-12), cfg.silence_db)
        feats.append((mc[keep], w.f0[keep]))
    (ca, fa), (cb, fb) = feats
    ia, ib = dtw_path(ca[:, 1:], cb[:, 1:])
    d = np.sqrt(np.sum((ca[ia, 1:] - cb[ib, 1:]) ** 2, axis=1))
    try:
        f0 = f0_rmse(fa, fb, (ia, ib))
    except DataError:
        f0 = float("nan")
    return {
        "mcd": float(MCD_CONSTANT * d.mean()),
        "f0_rmse": f0,
        "msd": msd(ca, cb, n_fft=cfg.msd_fft, hop=cfg.msd_hop),
        "frames": float(len(ia)),
    }


def mfcc(
    wav: np.ndarray, mel_cfg: MelConfig | None = None, n_mfcc: int = 25
) -> tuple[np.ndarray, np.ndarray]:
    """Mel-frequency cepstra ``(frames, n_mfcc)`` and the per-frame mel energy in dB.

    ``c_k = DCT-II(ln M)_k / (2 N)`` over the ``N`` natural-log mel magnitudes ``ln M`` of
    :func:`mel_spectrogram`: the cosine-series coefficients of the log-magnitude spectrum on
    the mel axis (``ln M(w) = c_0 + 2 sum_k c_k cos(k w)``), the same units as mel-cepstra, so
    the MCD constant applies. (The orthonormal DCT used by some toolkits is ``sqrt(2N)`` times
    larger and inflates MCD by that factor.)
    """
    from scipy.fft import dct

    mel_cfg = mel_cfg or MelConfig()
    lm = mel_spectrogram(check_waveform(wav), mel_cfg, device="cpu").numpy().T
    c = dct(lm, type=2, axis=1)[:, :n_mfcc] / (2 * lm.shape[1])
    energy = 20 * np.log10(np.exp(lm).sum(axis=1) + 1e-12)
    return c, energy


def mfcc_mcd(
    ref_wav: np.ndarray,
    conv_wav: np.ndarray,
    mel_cfg: MelConfig | None = None,
    *,
    n_mfcc: int = 25,
    silence_db: float = 40.0,
) -> float:
    """MFCC-MCD (dB): :func:`mcd` on :func:`mfcc` features (c1..c24 with the default 25
    coefficients), silent frames dropped, DTW-aligned. Not comparable with WORLD MCD."""
    ca, ea = mfcc(ref_wav, mel_cfg, n_mfcc)
    cb, eb = mfcc(conv_wav, mel_cfg, n_mfcc)
    return mcd(ca[nonsilent_frames(ea, silence_db)], cb[nonsilent_frames(eb, silence_db)])
