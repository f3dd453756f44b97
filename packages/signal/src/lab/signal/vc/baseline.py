"""The named baseline: mean/variance mel-cepstrum transfer with WORLD (needs the vc extra).

Training: WORLD analysis of both speakers' utterances; per-coefficient mean and standard
deviation of the mel-cepstra c1..cD over the non-silent frames (within ``silence_db`` = 40 dB of
the loudest frame of the utterance; OURS: statistics over voiced frames only, applied to every
frame, measured 1.5 dB worse WORLD MCD on four VCC 2018 SF3 -> TF1 sentences), and mean/std of
log F0 over voiced frames. Conversion: analyse the source,
``c'_d = (c_d - mu_s) / sigma_s * sigma_t + mu_t`` for d >= 1 on every frame (c0, the power, is
kept), log-Gaussian F0 transfer, source aperiodicity, WORLD synthesis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lab.core import DataError

from .audio import check_waveform
from .metrics import nonsilent_frames
from .world import (
    WorldConfig,
    WorldFeatures,
    mcep_to_envelope,
    mel_cepstrum,
    world_analyze,
    world_synthesize,
)

__all__ = ["MeanVarianceConverter"]


class MeanVarianceConverter:
    """Gaussian (mean/variance) mel-cepstrum and log-F0 transfer from one speaker to another."""

    def __init__(
        self, sample_rate: int = 22050, world: WorldConfig | None = None, silence_db: float = 40.0
    ):
        self.sample_rate = sample_rate
        self.silence_db = silence_db
        self.world = world or WorldConfig()
        self.stats: dict[str, np.ndarray] | None = None

    def _speaker(self, wavs: Sequence[np.ndarray], name: str) -> dict[str, np.ndarray]:
        if not wavs:
            raise DataError(f"{name}: no utterances given")
        mcs, lf0 = [], []
        for i, w in enumerate(wavs):
            f = world_analyze(
                check_waveform(w, name=f"{name} utterance {i}"), self.sample_rate, self.world
            )
            mc = mel_cepstrum(f.sp, self.sample_rate, self.world)
            voiced = f.f0 > 0
            keep = nonsilent_frames(10 * np.log10(f.sp.sum(axis=1) + 1e-12), self.silence_db)
            mcs.append(mc[keep])
            lf0.append(np.log(f.f0[voiced]))
        mc_all = np.concatenate(mcs)
        f0_all = np.concatenate(lf0)
        if mc_all.shape[0] < 2:
            raise DataError(f"{name}: fewer than 2 non-silent frames in all utterances")
        if f0_all.size < 2:
            raise DataError(f"{name}: fewer than 2 voiced frames in all utterances")
        return {
            "mc_mean": mc_all.mean(0),
            "mc_std": mc_all.std(0) + 1e-8,
            "f0": np.array([f0_all.mean(), f0_all.std() + 1e-8]),
        }

    def fit(
        self, source: Sequence[np.ndarray], target: Sequence[np.ndarray]
    ) -> MeanVarianceConverter:
        """Estimate both speakers' statistics from unpaired utterances (mono, ``sample_rate``)."""
        s = self._speaker(source, "source")
        t = self._speaker(target, "target")
        self.stats = {f"src_{k}": v for k, v in s.items()} | {f"tgt_{k}": v for k, v in t.items()}
        return self

    def convert_mcep(self, mc: np.ndarray) -> np.ndarray:
        """The converted mel-cepstra ``(frames, D + 1)``: c1..cD mean/variance transferred,
        c0 kept (the features :meth:`convert` resynthesises)."""
        if self.stats is None:
            raise DataError("MeanVarianceConverter.convert_mcep called before fit")
        st = self.stats
        mc = np.asarray(mc, dtype=np.float64)
        if mc.ndim != 2 or mc.shape[1] != st["src_mc_mean"].shape[0]:
            raise DataError(
                f"convert_mcep needs (frames, {st['src_mc_mean'].shape[0]}) mel-cepstra, "
                f"got {mc.shape}"
            )
        out = mc.copy()
        z = (mc[:, 1:] - st["src_mc_mean"][1:]) / st["src_mc_std"][1:]
        out[:, 1:] = z * st["tgt_mc_std"][1:] + st["tgt_mc_mean"][1:]
        return out

    def convert(self, wav: np.ndarray) -> np.ndarray:
        """Convert one source utterance; the peak is scaled to 0.99 when it exceeds it."""
        if self.stats is None:
            raise DataError("MeanVarianceConverter.convert called before fit")
        st = self.stats
        f = world_analyze(check_waveform(wav, name="source waveform"), self.sample_rate, self.world)
        out = self.convert_mcep(mel_cepstrum(f.sp, self.sample_rate, self.world))
        sp = mcep_to_envelope(out, self.sample_rate, f.fft_size, self.world)
        f0 = f.f0.copy()
        v = f0 > 0
        f0[v] = np.exp(
            (np.log(f0[v]) - st["src_f0"][0]) / st["src_f0"][1] * st["tgt_f0"][1] + st["tgt_f0"][0]
        )
        y = world_synthesize(WorldFeatures(f0, sp, f.ap, self.sample_rate, f.frame_period))
        peak = float(np.max(np.abs(y)))
        return (y * (0.99 / peak) if peak > 0.99 else y).astype(np.float32)
