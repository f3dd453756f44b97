"""Audio front end: WAV I/O, input errors, resampling, log-mel, Griffin-Lim."""

import numpy as np
import pytest
import soundfile as sf
import torch

from lab.core import DataError
from lab.signal.vc import (
    MelConfig,
    griffin_lim,
    list_wavs,
    load_wav,
    mel_filterbank,
    mel_spectrogram,
    resample,
    save_wav,
)

torch.set_num_threads(1)
SR = 16000
CFG = MelConfig(sample_rate=SR, n_fft=512, hop_length=128, win_length=512, n_mels=40)


def _tone(freq=440.0, seconds=0.5, sr=SR, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_wav_round_trip(tmp_path):
    x = _tone()
    path = save_wav(tmp_path / "a.wav", x, SR)
    y, sr = load_wav(path, SR)
    assert sr == SR and y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= 1.0 / 32768 + 1e-6  # 16-bit quantisation only


def test_save_refuses_clipping_and_nan(tmp_path):
    with pytest.raises(DataError, match="peak"):
        save_wav(tmp_path / "b.wav", np.array([0.0, 1.5], dtype=np.float32), SR)
    with pytest.raises(DataError, match="NaN"):
        save_wav(tmp_path / "b.wav", np.array([0.0, np.nan], dtype=np.float32), SR)


def test_wrong_rate_errors_or_resamples(tmp_path):
    path = tmp_path / "r.wav"
    sf.write(path, _tone(sr=8000), 8000)
    with pytest.raises(DataError, match="8000 Hz, expected 16000"):
        load_wav(path, SR)
    y, sr = load_wav(path, SR, resample_to_rate=True)
    assert sr == SR and abs(len(y) - 2 * 4000) <= 1


def test_stereo_errors_or_averages(tmp_path):
    path = tmp_path / "s.wav"
    left, right = _tone(300.0), _tone(300.0, amp=0.25)
    sf.write(path, np.stack([left, right], 1), SR)
    with pytest.raises(DataError, match="2 channels"):
        load_wav(path, SR)
    y, _ = load_wav(path, SR, mono="mean")
    np.testing.assert_allclose(y, 0.5 * (left + right), atol=2e-4)


def test_empty_silent_missing_files(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(DataError, match="empty"):
        load_wav(tmp_path / "empty.wav", SR)
    sf.write(tmp_path / "silent.wav", np.zeros(SR, dtype=np.float32), SR)
    with pytest.raises(DataError, match="silent"):
        load_wav(tmp_path / "silent.wav", SR)
    with pytest.raises(DataError, match="does not exist"):
        load_wav(tmp_path / "missing.wav", SR)
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(DataError, match="cannot be read"):
        load_wav(tmp_path / "junk.wav", SR)
    with pytest.raises(DataError, match="does not exist"):
        list_wavs(tmp_path / "nowhere")
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match=r"no \.wav"):
        list_wavs(tmp_path / "none")


def test_resample_keeps_frequency():
    x = _tone(1000.0, seconds=1.0, sr=22050)
    y = resample(x, 22050, SR)
    assert len(y) == SR
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * SR / len(y) - 1000.0) <= 1.0


def test_mel_matches_librosa_and_shapes():
    import librosa

    x = _tone(523.0, seconds=0.37)
    lm = mel_spectrogram(x, CFG, device="cpu")
    assert lm.shape == (CFG.n_mels, 1 + len(x) // CFG.hop_length)
    ref = librosa.feature.melspectrogram(
        y=x,
        sr=SR,
        n_fft=512,
        hop_length=128,
        win_length=512,
        n_mels=40,
        power=1.0,
        center=True,
        pad_mode="reflect",
    )
    want = np.log(np.maximum(ref, CFG.log_floor))
    # float32 STFT (ours) vs float64 (librosa): bins 60 dB and more below the tone's peak differ
    # by float32 rounding of the leakage (up to ~2e-3 in log); the rest must agree to 1e-3
    loud = want > want.max() - np.log(1e3)
    np.testing.assert_allclose(lm.numpy()[loud], want[loud], atol=1e-3)
    np.testing.assert_allclose(lm.numpy(), want, atol=5e-3)
    batch = mel_spectrogram(np.stack([x, x]), CFG, device="cpu")
    assert batch.shape == (2, *lm.shape)
    # the loudest mel band contains 523 Hz
    fb = mel_filterbank(CFG).numpy()
    band = int(torch.argmax(lm[:, lm.shape[1] // 2]))
    assert fb[band, round(523 * 512 / SR)] > 0
    with pytest.raises(DataError, match="too short"):
        mel_spectrogram(x[:100], CFG)


def test_griffin_lim_recovers_the_tone():
    x = _tone(440.0, seconds=0.5)
    lm = mel_spectrogram(x, CFG, device="cpu")
    y = griffin_lim(lm, CFG, n_iter=16, device="cpu").numpy()
    assert y.shape == (CFG.hop_length * (lm.shape[1] - 1),)
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    peak = np.argmax(spec) * SR / len(y)
    assert abs(peak - 440.0) < 15.0

    # more iterations fit the magnitudes at least as well as one (spectral convergence)
    def sc(n):
        w = griffin_lim(lm, CFG, n_iter=n, momentum=0.0, device="cpu")
        return float((mel_spectrogram(w, CFG) - lm)[:, 2:-2].abs().mean())

    assert sc(20) < sc(1)
