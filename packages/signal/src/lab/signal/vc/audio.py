"""Audio I/O, resampling, the log-mel front end and Griffin-Lim synthesis.

Everything here is torch (GPU-capable) except file I/O (soundfile) and the mel filterbank
(librosa's, built once on the CPU and moved to the requested device). torchaudio is NOT used.

Input checks (``load_wav`` / :func:`check_waveform`): a missing file, a file soundfile cannot
read, an empty signal, a non-finite sample, a silent signal (peak below ``silence_peak``) and a
sample rate other than the one asked for raise :class:`lab.core.DataError` naming the file and the
value. Two documented conversions are opt-in: ``mono="mean"`` averages the channels of a
multi-channel file (the default ``"error"`` refuses it) and ``resample=True`` converts another
sample rate with :func:`resample` (polyphase, scipy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from lab.core import ConfigError, DataError, get_device

__all__ = [
    "MelConfig",
    "check_waveform",
    "griffin_lim",
    "list_wavs",
    "load_wav",
    "mel_filterbank",
    "mel_spectrogram",
    "mel_to_linear",
    "resample",
    "save_wav",
]


@dataclass(frozen=True)
class MelConfig:
    """Log-mel front end: ``log(max(mel @ |STFT|, floor))`` (natural log of mel magnitudes).

    Defaults follow MaskCycleGAN-VC / MelGAN (22.05 kHz, 1024-point FFT, hop 256, 80 mels)
    except ``fmax``: ``None`` means ``sample_rate / 2`` (OURS; MelGAN uses 8 kHz), so that a
    Griffin-Lim resynthesis keeps the band above 8 kHz that WORLD mel-cepstra at 22.05 kHz see.
    """

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = None
    log_floor: float = 1e-5

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ConfigError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.win_length > self.n_fft:
            raise ConfigError(f"win_length {self.win_length} exceeds n_fft {self.n_fft}")
        if self.hop_length <= 0 or self.n_mels <= 0:
            raise ConfigError(f"hop_length and n_mels must be positive ({self})")
        fmax = self.sample_rate / 2 if self.fmax is None else self.fmax
        if not 0 <= self.fmin < fmax <= self.sample_rate / 2:
            raise ConfigError(
                f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={self.fmax}"
            )
        if self.log_floor <= 0:
            raise ConfigError(f"log_floor must be positive, got {self.log_floor}")


def check_waveform(
    wav: np.ndarray, *, name: str = "waveform", silence_peak: float = 1e-4
) -> np.ndarray:
    """Validate a mono float waveform; return it as float32 (1-D).

    Raises :class:`DataError` for a non-1-D array, an empty one, NaN/inf samples, or a silent
    signal (absolute peak below ``silence_peak``; pass 0 to accept silence).
    """
    arr = np.asarray(wav)
    if arr.ndim != 1:
        raise DataError(f"{name}: expected a mono 1-D waveform, got shape {arr.shape}")
    if arr.size == 0:
        raise DataError(f"{name}: the waveform is empty (0 samples)")
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(f"{name}: expected float samples in [-1, 1], got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name}: the waveform holds NaN or infinite samples")
    peak = float(np.max(np.abs(arr)))
    if peak < silence_peak:
        raise DataError(
            f"{name}: the waveform is silent (peak {peak:.3g} < silence_peak {silence_peak:g})"
        )
    return arr.astype(np.float32, copy=False)


def resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Polyphase resampling (``scipy.signal.resample_poly``, Kaiser window) to ``target_sr``."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ConfigError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr:
        return np.asarray(wav, dtype=np.float32)
    from scipy.signal import resample_poly

    ratio = Fraction(int(target_sr), int(orig_sr))
    out = resample_poly(np.asarray(wav, dtype=np.float64), ratio.numerator, ratio.denominator)
    return out.astype(np.float32)


def load_wav(
    path: str | Path,
    sample_rate: int | None = None,
    *,
    mono: Literal["error", "mean"] = "error",
    resample_to_rate: bool = False,
    silence_peak: float = 1e-4,
) -> tuple[np.ndarray, int]:
    """Read a WAV (any format soundfile reads) as float32 in [-1, 1]; return ``(wav, rate)``.

    Args:
        path: the audio file.
        sample_rate: the rate the caller needs; ``None`` accepts the file's rate.
        mono: ``"error"`` (default) refuses multi-channel files; ``"mean"`` averages channels.
        resample_to_rate: resample a file whose rate differs from ``sample_rate`` instead of
            raising.
        silence_peak: files whose absolute peak is below this are refused as silent.

    Raises:
        DataError: missing/unreadable file, multi-channel with ``mono="error"``, wrong rate
            without ``resample_to_rate``, empty, non-finite or silent audio.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise DataError(f"audio file {str(path)!r} does not exist")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise DataError(f"audio file {str(path)!r} cannot be read: {exc}") from exc
    if data.shape[1] > 1:
        if mono == "error":
            raise DataError(
                f"audio file {str(path)!r} has {data.shape[1]} channels; average them with "
                "mono='mean' (command line: --mono)"
            )
        if mono != "mean":
            raise ConfigError(f"mono must be 'error' or 'mean', got {mono!r}")
        wav = data.mean(axis=1)
    else:
        wav = data[:, 0]
    if wav.size == 0:
        raise DataError(f"audio file {str(path)!r} is empty (0 samples)")
    if sample_rate is not None and sr != sample_rate:
        if not resample_to_rate:
            raise DataError(
                f"audio file {str(path)!r} has sample rate {sr} Hz, expected {sample_rate} Hz "
                "(convert it with resample_to_rate=True; command line: --resample)"
            )
        wav = resample(wav, sr, sample_rate)
        sr = sample_rate
    wav = check_waveform(wav, name=f"audio file {str(path)!r}", silence_peak=silence_peak)
    return wav, int(sr)


def save_wav(path: str | Path, wav: np.ndarray | torch.Tensor, sample_rate: int) -> Path:
    """Write a mono waveform as 16-bit PCM WAV. Samples outside [-1, 1] raise (no clipping)."""
    import soundfile as sf

    if isinstance(wav, torch.Tensor):
        wav = wav.detach().cpu().numpy()
    arr = np.asarray(wav, dtype=np.float32)
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"save_wav needs a non-empty 1-D waveform, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError("save_wav: the waveform holds NaN or infinite samples")
    peak = float(np.max(np.abs(arr)))
    if peak > 1.0:
        raise DataError(f"save_wav: peak {peak:.3f} exceeds 1.0; normalise before writing")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), arr, int(sample_rate), subtype="PCM_16")
    return path


def list_wavs(folder: str | Path) -> list[Path]:
    """The ``*.wav`` files of a folder, sorted; :class:`DataError` when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"audio folder {str(folder)!r} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")
    if not files:
        raise DataError(f"audio folder {str(folder)!r} holds no .wav files")
    return files


_FB_CACHE: dict[tuple[MelConfig, str, torch.dtype], torch.Tensor] = {}


def mel_filterbank(
    cfg: MelConfig, *, device: str | torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """librosa's Slaney-normalised mel filterbank, shape ``(n_mels, n_fft // 2 + 1)``."""
    dev = get_device(device)
    key = (cfg, str(dev), dtype)
    if key not in _FB_CACHE:
        import librosa

        fb = librosa.filters.mel(
            sr=cfg.sample_rate,
            n_fft=cfg.n_fft,
            n_mels=cfg.n_mels,
            fmin=cfg.fmin,
            fmax=cfg.fmax if cfg.fmax is not None else cfg.sample_rate / 2,
        )
        _FB_CACHE[key] = torch.as_tensor(fb, dtype=dtype, device=dev)
    return _FB_CACHE[key]


def _window(cfg: MelConfig, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return torch.hann_window(cfg.win_length, periodic=True, device=device, dtype=dtype)


def _stft(wav: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    return torch.stft(
        wav,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=_window(cfg, wav.device, wav.dtype),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )


def _istft(spec: torch.Tensor, cfg: MelConfig, length: int) -> torch.Tensor:
    """The inverse of :func:`_stft` (same window and centring), cropped to ``length`` samples."""
    return torch.istft(
        spec,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=_window(cfg, spec.device, spec.real.dtype),
        center=True,
        length=length,
    )


def mel_spectrogram(
    wav: np.ndarray | torch.Tensor,
    cfg: MelConfig | None = None,
    *,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Log-mel spectrogram ``(n_mels, frames)`` (or ``(batch, n_mels, frames)`` for a batch).

    ``frames = 1 + len(wav) // hop_length`` (centred STFT with reflect padding). Runs on
    ``device`` (CUDA when available and requested). A waveform shorter than ``n_fft // 2 + 1``
    samples cannot be reflect-padded and raises :class:`DataError`.
    """
    cfg = cfg or MelConfig()
    dev = get_device(device)
    x = torch.as_tensor(np.asarray(wav) if not isinstance(wav, torch.Tensor) else wav)
    x = x.to(device=dev, dtype=torch.float32)
    if x.ndim not in (1, 2):
        raise DataError(
            f"mel_spectrogram needs (samples,) or (batch, samples), got {tuple(x.shape)}"
        )
    if x.shape[-1] <= cfg.n_fft // 2:
        raise DataError(
            f"waveform of {x.shape[-1]} samples is too short for n_fft={cfg.n_fft} "
            f"(needs more than {cfg.n_fft // 2})"
        )
    if not torch.isfinite(x).all():
        raise DataError("mel_spectrogram: the waveform holds NaN or infinite samples")
    mag = _stft(x, cfg).abs()
    mel = torch.matmul(mel_filterbank(cfg, device=dev), mag)
    return torch.log(torch.clamp(mel, min=cfg.log_floor))


def mel_to_linear(logmel: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    """Least-squares linear magnitudes from a log-mel spectrogram (pseudo-inverse, clamped >= 0)."""
    fb = mel_filterbank(cfg, device=logmel.device, dtype=logmel.dtype)
    inv = torch.linalg.pinv(fb)
    return torch.clamp(torch.matmul(inv, torch.exp(logmel)), min=0.0)


def griffin_lim(
    logmel: torch.Tensor,
    cfg: MelConfig | None = None,
    *,
    n_iter: int = 64,
    momentum: float = 0.99,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Waveform from a log-mel spectrogram by fast Griffin-Lim (Perraudin et al. 2013).

    The magnitudes come from :func:`mel_to_linear`; the phase starts random (``seed``) and is
    refined for ``n_iter`` iterations with the given momentum (0 gives classic Griffin-Lim).
    Returns a 1-D float32 tensor of ``hop_length * (frames - 1)`` samples.
    """
    cfg = cfg or MelConfig()
    if n_iter < 1:
        raise ConfigError(f"n_iter must be >= 1, got {n_iter}")
    if not 0 <= momentum < 1:
        raise ConfigError(f"momentum must be in [0, 1), got {momentum}")
    dev = get_device(device)
    lm = torch.as_tensor(logmel).to(device=dev, dtype=torch.float32)
    if lm.ndim != 2 or lm.shape[0] != cfg.n_mels:
        raise DataError(f"griffin_lim needs ({cfg.n_mels}, frames), got {tuple(lm.shape)}")
    mag = mel_to_linear(lm, cfg)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    phase = torch.rand(mag.shape, generator=gen).to(dev) * 2 * math.pi
    spec = mag * torch.exp(1j * phase)
    length = cfg.hop_length * (mag.shape[-1] - 1)
    prev = torch.zeros_like(spec)
    wav = torch.zeros(length, device=dev)
    for _ in range(n_iter):
        wav = _istft(spec, cfg, length)
        rebuilt = _stft(wav, cfg)
        accel = rebuilt - (momentum / (1 + momentum)) * prev
        prev = rebuilt
        spec = mag * torch.exp(1j * torch.angle(accel))
    wav = _istft(spec, cfg, length)
    return wav
