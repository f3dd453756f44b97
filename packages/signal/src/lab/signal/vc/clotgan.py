"""CLOT-GAN (Dhar, Akhter, Jana, Das 2025): non-parallel mel-to-mel voice conversion.

A 2D-1D-2D GLU generator ``G: X -> Y`` and its inverse ``F: Y -> X`` (for the cycle), several
discriminators per domain (PatchGAN CNN, ViT, Conformer) combined by a collective learning rule,
least-squares adversarial, cycle-consistency and identity losses, and an optimal-transport loss:
a debiased Sinkhorn divergence between converted and real mel frames.

Fixed by the paper: the generator/discriminator kinds, the loss terms, mel-to-mel conversion.
OURS (config fields, see docs/signal-vc.md): the collective rule (``combine``,
``softmax_temperature``), the Sinkhorn settings (``ot_epsilon``, ``ot_iters``,
``ot_max_points``, ``ot_value``, ``ot_reference``: the batch's real crops or a sample of all
the speaker's training frames), ``lambda_ot``, the OT term in both directions, all network
sizes, per-speaker mean/std normalisation of log-mels over all training frames or only the
non-silent ones (``stats_silence_db``), crops of
``crop_frames`` frames (shorter utterances are edge-padded), and the vocoders (Griffin-Lim; or
WORLD driven by the converted-minus-source log-mel difference, optionally smoothed along the
mel axis by keeping its first ``world_lifter`` DCT coefficients, with log-Gaussian F0 transfer).
Taken from MaskCycleGAN-VC: widths of the masks (``max_mask_frames``), ``lambda_cycle=10``,
``lambda_identity=5``, Adam(0.5, 0.999), ``lr_g=2e-4``, ``lr_d=1e-4``.

Data parallelism: under ``torchrun`` every rank samples its own crops (seed + rank), gradients
are averaged over ranks before each optimizer step (``lab.core.all_reduce_mean``), and rank 0
writes checkpoints; the result equals one process with a ``world_size``-times larger batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from lab.core import (
    ConfigError,
    DataError,
    RunDir,
    all_reduce_mean,
    atomic_save,
    config_from_dict,
    config_to_dict,
    get_device,
    is_distributed,
    is_main,
    load_checkpoint,
    progress,
    rank,
    save_checkpoint,
    seeded,
    world_size,
)

from .audio import MelConfig, check_waveform, griffin_lim, list_wavs, load_wav, mel_spectrogram
from .discriminators import DiscriminatorConfig, build_discriminator
from .generator import Generator, GeneratorConfig, frame_mask
from .losses import combine_losses, lsgan_d_loss, lsgan_g_loss, ot_loss
from .world import WorldConfig

__all__ = [
    "CLOTGAN",
    "CLOTGANConfig",
    "CLOTGANNetworks",
    "SpeakerStats",
    "load_utterances",
    "log_gaussian_f0",
    "speaker_stats",
]

_FORMAT = "lab.signal.vc.clotgan/1"

AudioSource = str | Path | Sequence[np.ndarray]


@dataclass(frozen=True)
class CLOTGANConfig:
    """Everything that defines a CLOT-GAN model and its training (see the module docstring)."""

    features: Literal["logmel", "mcep"] = field(
        default="logmel",
        metadata={
            "help": "what the generator converts: log-mel frames (the paper) or WORLD "
            "mel-cepstra c1..cD, D = world.mcep_order (OURS, as CycleGAN-VC/VC2)"
        },
    )
    mel: MelConfig = field(default_factory=MelConfig)
    world: WorldConfig = field(default_factory=WorldConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    combine: Literal["mean", "softmax"] = field(
        default="softmax", metadata={"help": "collective rule over discriminators (OURS)"}
    )
    softmax_temperature: float = 1.0
    lambda_cycle: float = 10.0
    lambda_identity: float = 5.0
    identity_steps: int = field(
        default=0, metadata={"help": "use the identity loss only for the first N steps (0: always)"}
    )
    lambda_ot: float = field(default=1.0, metadata={"help": "weight of the Sinkhorn loss (0: off)"})
    ot_epsilon: float = 0.1
    ot_iters: int = 50
    ot_max_points: int = 256
    ot_value: Literal["transport", "entropic"] = "entropic"
    ot_reference: Literal["batch", "pool"] = field(
        default="batch",
        metadata={
            "help": "real frames the OT loss compares with: the batch's crops, or ot_max_points "
            "frames drawn from all of the speaker's training frames (OURS)"
        },
    )
    max_mask_frames: int = 25
    crop_frames: int = 64
    batch_size: int = 4
    steps: int = 2000
    lr_g: float = 2e-4
    lr_d: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    checkpoint_every: int = 250
    log_every: int = 10
    f0_stats: bool = field(
        default=True, metadata={"help": "also store log-F0 stats (needs the vc extra)"}
    )
    stats_silence_db: float = field(
        default=0.0,
        metadata={
            "help": "compute the log-mel mean/std only over frames within this many dB of the "
            "utterance's loudest frame (0: all frames; OURS)"
        },
    )
    world_lifter: int = field(
        default=0,
        metadata={
            "help": "WORLD vocoding: keep the first N DCT coefficients (along mel) of the "
            "converted-minus-source log-mel before it scales the envelope (0: no smoothing; OURS)"
        },
    )
    resample: bool = field(
        default=False, metadata={"help": "resample WAVs of another rate instead of refusing them"}
    )
    mono: bool = field(
        default=False,
        metadata={"help": "average the channels of multi-channel WAVs instead of refusing them"},
    )
    seed: int = 0

    def __post_init__(self) -> None:
        if self.features not in ("logmel", "mcep"):
            raise ConfigError(f"features must be 'logmel' or 'mcep', got {self.features!r}")
        if self.features == "mcep" and not self.f0_stats:
            raise ConfigError("features='mcep' needs f0_stats=True (WORLD resynthesis uses them)")
        if self.combine not in ("mean", "softmax"):
            raise ConfigError(f"combine must be 'mean' or 'softmax', got {self.combine!r}")
        if self.softmax_temperature <= 0:
            raise ConfigError(
                f"softmax_temperature must be positive, got {self.softmax_temperature}"
            )
        for name in ("lambda_cycle", "lambda_identity", "lambda_ot"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.ot_epsilon <= 0 or self.ot_iters < 1:
            raise ConfigError(
                f"need ot_epsilon > 0 and ot_iters >= 1 ({self.ot_epsilon}, {self.ot_iters})"
            )
        if self.crop_frames < 4 or self.batch_size < 1 or self.steps < 0:
            raise ConfigError(
                f"need crop_frames >= 4, batch_size >= 1, steps >= 0 "
                f"({self.crop_frames}, {self.batch_size}, {self.steps})"
            )
        if not 0 <= self.max_mask_frames <= self.crop_frames:
            raise ConfigError(
                f"max_mask_frames must be in [0, crop_frames], got {self.max_mask_frames}"
            )
        if self.ot_reference not in ("batch", "pool"):
            raise ConfigError(f"ot_reference must be 'batch' or 'pool', got {self.ot_reference!r}")
        if self.ot_reference == "pool" and self.ot_max_points < 1:
            raise ConfigError("ot_reference='pool' needs ot_max_points >= 1 (the pool sample size)")
        if self.stats_silence_db < 0:
            raise ConfigError(f"stats_silence_db must be >= 0, got {self.stats_silence_db}")
        if self.world_lifter < 0:
            raise ConfigError(f"world_lifter must be >= 0, got {self.world_lifter}")
        if self.checkpoint_every < 0 or self.log_every < 1:
            raise ConfigError("checkpoint_every must be >= 0 and log_every >= 1")

    @property
    def n_features(self) -> int:
        """Rows of a feature frame: ``mel.n_mels`` or the mel-cepstral order (c1..cD)."""
        return self.mel.n_mels if self.features == "logmel" else self.world.mcep_order


@dataclass(frozen=True)
class SpeakerStats:
    """Per-speaker normalisation statistics: feature (log-mel bin or mel-cepstral coefficient)
    mean/std, log-F0 mean/std."""

    mel_mean: np.ndarray
    mel_std: np.ndarray
    logf0_mean: float = float("nan")
    logf0_std: float = float("nan")


def speaker_stats(
    mels: Sequence[torch.Tensor], f0s: Sequence[np.ndarray] | None = None
) -> SpeakerStats:
    """Statistics over all frames of a speaker's features ``(rows, frames)`` (and voiced F0)."""
    if not mels:
        raise DataError("speaker_stats needs at least one utterance")
    allm = torch.cat([m.detach().cpu().double() for m in mels], dim=1)
    mean = allm.mean(dim=1).numpy()
    std = allm.std(dim=1).clamp_min(1e-3).numpy()
    lm, ls = float("nan"), float("nan")
    if f0s is not None:
        voiced = np.concatenate([np.log(f[f > 0]) for f in f0s])
        if voiced.size < 2:
            raise DataError("speaker_stats: fewer than 2 voiced frames in the F0 contours")
        lm, ls = float(voiced.mean()), float(voiced.std())
    return SpeakerStats(mean.astype(np.float32), std.astype(np.float32), lm, ls)


class CLOTGANNetworks(nn.Module):
    """All trainable parts plus the speaker statistics (buffers, saved with the model)."""

    src_mean: torch.Tensor
    src_std: torch.Tensor
    tgt_mean: torch.Tensor
    tgt_std: torch.Tensor
    f0_stats: torch.Tensor

    def __init__(self, cfg: CLOTGANConfig):
        super().__init__()
        m = cfg.n_features
        self.g_xy = Generator(m, cfg.generator)
        self.g_yx = Generator(m, cfg.generator)
        kinds = cfg.discriminator.kinds
        self.d_y = nn.ModuleDict({k: build_discriminator(k, m, cfg.discriminator) for k in kinds})
        self.d_x = nn.ModuleDict({k: build_discriminator(k, m, cfg.discriminator) for k in kinds})
        for name in ("src_mean", "src_std", "tgt_mean", "tgt_std"):
            self.register_buffer(name, torch.zeros(m) if "mean" in name else torch.ones(m))
        self.register_buffer("f0_stats", torch.full((4,), float("nan")))

    def generator_parameters(self) -> list[nn.Parameter]:
        return list(self.g_xy.parameters()) + list(self.g_yx.parameters())

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.d_x.parameters()) + list(self.d_y.parameters())

    def set_stats(self, src: SpeakerStats, tgt: SpeakerStats) -> None:
        dev = self.src_mean.device
        self.src_mean.copy_(torch.as_tensor(src.mel_mean, device=dev))
        self.src_std.copy_(torch.as_tensor(src.mel_std, device=dev))
        self.tgt_mean.copy_(torch.as_tensor(tgt.mel_mean, device=dev))
        self.tgt_std.copy_(torch.as_tensor(tgt.mel_std, device=dev))
        f0 = [src.logf0_mean, src.logf0_std, tgt.logf0_mean, tgt.logf0_std]
        self.f0_stats.copy_(torch.tensor(f0, device=dev))


def load_utterances(source: AudioSource, cfg: CLOTGANConfig, name: str) -> list[np.ndarray]:
    """The utterances of one speaker: every WAV of a folder (read by :func:`load_wav` with the
    config's ``resample`` and ``mono`` choices) or a checked list of waveforms."""
    sr = cfg.mel.sample_rate
    if isinstance(source, (str, Path)):
        mono: Literal["error", "mean"] = "mean" if cfg.mono else "error"
        return [
            load_wav(p, sr, mono=mono, resample_to_rate=cfg.resample)[0] for p in list_wavs(source)
        ]
    wavs = [check_waveform(w, name=f"{name} utterance {i}") for i, w in enumerate(source)]
    if not wavs:
        raise DataError(f"{name}: no utterances given")
    return wavs


class _CropSampler:
    """Random ``crop_frames`` crops of normalised log-mels (edge-padded when shorter)."""

    def __init__(self, mels: list[torch.Tensor], crop: int, seed: int):
        self.mels = mels
        self.crop = crop
        self.gen = torch.Generator().manual_seed(seed)
        self._frames: torch.Tensor | None = None

    def frames(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``(1, n_mels, n)``: ``n`` frames drawn without replacement (all if fewer) from all
        utterances."""
        if self._frames is None:
            self._frames = torch.cat(self.mels, dim=1)
        total = self._frames.shape[1]
        idx = torch.randperm(total, generator=generator)[: min(n, total)]
        return self._frames[:, idx.to(self._frames.device)][None]

    def sample(self, batch: int) -> torch.Tensor:
        out = []
        for _ in range(batch):
            m = self.mels[int(torch.randint(len(self.mels), (1,), generator=self.gen))]
            t = m.shape[1]
            if t < self.crop:
                m = torch.nn.functional.pad(m[None], (0, self.crop - t), mode="replicate")[0]
                t = self.crop
            s = int(torch.randint(t - self.crop + 1, (1,), generator=self.gen))
            out.append(m[:, s : s + self.crop])
        return torch.stack(out)


def _loud_frames(mels: list[torch.Tensor], silence_db: float) -> list[torch.Tensor]:
    """The frames of each log-mel within ``silence_db`` dB of its loudest frame (all if 0)."""
    if silence_db <= 0:
        return mels
    out = []
    for m in mels:
        energy_db = (10.0 / np.log(10.0)) * torch.logsumexp(2.0 * m.double(), dim=0)
        out.append(m[:, energy_db > energy_db.max() - silence_db])
    return out


def _world_mcep(wav: np.ndarray, cfg: CLOTGANConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WORLD mel-cepstra ``(frames, D + 1)``, F0 and the non-silent frames of one utterance
    (frames within ``stats_silence_db`` dB of the loudest envelope power; all when 0)."""
    from .metrics import nonsilent_frames
    from .world import mel_cepstrum, world_analyze

    sr = cfg.mel.sample_rate
    feats = world_analyze(wav, sr, cfg.world)
    mc = mel_cepstrum(feats.sp, sr, cfg.world)
    if cfg.stats_silence_db > 0:
        keep = nonsilent_frames(10 * np.log10(feats.sp.sum(axis=1) + 1e-12), cfg.stats_silence_db)
    else:
        keep = np.ones(mc.shape[0], dtype=bool)
    return mc, feats.f0, keep


def log_gaussian_f0(
    f0: np.ndarray, src_mean: float, src_std: float, tgt_mean: float, tgt_std: float
) -> np.ndarray:
    """Log-Gaussian F0 transfer of voiced frames (F0 > 0; unvoiced stay 0):
    ``exp((log f0 - src_mean) / src_std * tgt_std + tgt_mean)``."""
    out = np.asarray(f0, dtype=np.float64).copy()
    v = out > 0
    out[v] = np.exp((np.log(out[v]) - src_mean) / src_std * tgt_std + tgt_mean)
    return out


def _limit_peak(out: np.ndarray) -> np.ndarray:
    """Scale to a 0.99 peak when the peak exceeds it (never clip); refuse non-finite audio."""
    peak = float(np.max(np.abs(out)))
    if not np.isfinite(peak):
        raise DataError("conversion produced non-finite samples")
    if peak > 0.99:
        out = out * (0.99 / peak)
    return np.asarray(out, dtype=np.float32)


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.abs(a - b))


def _sync_grads(params: Sequence[nn.Parameter]) -> None:
    if is_distributed() and world_size() > 1:
        for p in params:
            if p.grad is not None:
                all_reduce_mean(p.grad)


def _broadcast(module: nn.Module) -> None:
    if is_distributed() and world_size() > 1:
        import torch.distributed as dist

        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


class CLOTGAN:
    """Train and apply a CLOT-GAN source->target converter.

    Example:
        >>> model = CLOTGAN(CLOTGANConfig(steps=2000))          # doctest: +SKIP
        >>> history = model.fit("wavs/source", "wavs/target")    # doctest: +SKIP
        >>> model.save("clotgan.pt")                              # doctest: +SKIP
        >>> wav = CLOTGAN.load("clotgan.pt").convert_wav(src_wav) # doctest: +SKIP
    """

    def __init__(
        self, config: CLOTGANConfig | None = None, *, device: str | torch.device | None = None
    ):
        self.config = config or CLOTGANConfig()
        self.device = get_device(device)
        with seeded(self.config.seed):  # initial weights depend on the seed only
            self.nets = CLOTGANNetworks(self.config).to(self.device)
        self.trained_steps = 0

    # ------------------------------------------------------------------ data
    def _features(
        self, source: AudioSource, name: str
    ) -> tuple[list[torch.Tensor], list[np.ndarray] | None, list[torch.Tensor]]:
        """Features ``(rows, frames)`` per utterance, the F0 contours (when ``f0_stats``) and
        the frames the speaker statistics use (``stats_silence_db``)."""
        cfg = self.config
        wavs = load_utterances(source, cfg, name)
        if cfg.features == "mcep":
            feats, f0s, loud = [], [], []
            for w in wavs:
                mc, f0, keep = _world_mcep(w, cfg)
                f = torch.as_tensor(mc[:, 1:].T.copy(), dtype=torch.float32, device=self.device)
                feats.append(f)
                f0s.append(f0)
                loud.append(f[:, torch.as_tensor(keep, device=self.device)] if keep.any() else f)
            return feats, f0s, loud
        mels = [mel_spectrogram(w, cfg.mel, device=self.device) for w in wavs]
        f0s_mel = None
        if cfg.f0_stats:
            from .world import world_analyze

            f0s_mel = [world_analyze(w, cfg.mel.sample_rate, cfg.world).f0 for w in wavs]
        return mels, f0s_mel, _loud_frames(mels, cfg.stats_silence_db)

    # -------------------------------------------------------------- training
    def fit(
        self,
        source: AudioSource,
        target: AudioSource,
        *,
        run_dir: RunDir | None = None,
        resume: bool = False,
        steps: int | None = None,
        show_progress: bool | None = None,
    ) -> list[dict[str, float]]:
        """Train on two unpaired sets of utterances (folders of WAVs or lists of waveforms).

        Args:
            source: source-speaker WAV folder or list of mono float waveforms at
                ``config.mel.sample_rate``.
            target: the same for the target speaker.
            run_dir: where checkpoints (every ``checkpoint_every`` steps) and metrics go.
            resume: continue from the latest checkpoint in ``run_dir``.
            steps: total steps (default ``config.steps``).
            show_progress: force the progress bar on/off (default: automatic).

        Returns:
            The logged loss records (one per ``log_every`` steps of this call).
        """
        cfg = self.config
        total = cfg.steps if steps is None else steps
        src_mels, src_f0, src_loud = self._features(source, "source")
        tgt_mels, tgt_f0, tgt_loud = self._features(target, "target")
        nets = self.nets
        nets.set_stats(speaker_stats(src_loud, src_f0), speaker_stats(tgt_loud, tgt_f0))
        xs = [(m - nets.src_mean[:, None]) / nets.src_std[:, None] for m in src_mels]
        ys = [(m - nets.tgt_mean[:, None]) / nets.tgt_std[:, None] for m in tgt_mels]
        opt_g = torch.optim.Adam(
            nets.generator_parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2)
        )
        opt_d = torch.optim.Adam(
            nets.discriminator_parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2)
        )
        seed = cfg.seed + 1000 * rank()
        samp_x = _CropSampler(xs, cfg.crop_frames, seed)
        samp_y = _CropSampler(ys, cfg.crop_frames, seed + 1)
        gen = torch.Generator().manual_seed(seed + 2)
        start = 0
        if resume:
            if run_dir is None:
                raise ConfigError("resume=True needs a run_dir holding checkpoints")
            ckpt = run_dir.latest_checkpoint()
            if ckpt is None:
                raise DataError(f"run {str(run_dir.path)!r} holds no checkpoint to resume from")
            state = load_checkpoint(ckpt, model=nets, optimizer=opt_g, map_location=self.device)
            opt_d.load_state_dict(state.extra["opt_d"])
            samp_x.gen.set_state(state.extra["sampler_x"])
            samp_y.gen.set_state(state.extra["sampler_y"])
            gen.set_state(state.extra["sampler_ot"])
            start = state.step
        _broadcast(nets)
        history: list[dict[str, float]] = []
        bar = progress(
            range(start, total),
            total=total,
            initial=start,
            desc="clotgan",
            disable=None if show_progress is None else not show_progress,
        )
        nets.train()
        for step in bar:
            rec = self._train_step(samp_x, samp_y, gen, opt_g, opt_d, step)
            if (step + 1) % cfg.log_every == 0 or step + 1 == total:
                rec["step"] = float(step + 1)
                history.append(rec)
                bar.set_postfix(g=f"{rec['loss_g']:.3f}", d=f"{rec['loss_d']:.3f}")
                if run_dir is not None and is_main():
                    run_dir.log(rec)
            if (
                run_dir is not None
                and is_main()
                and cfg.checkpoint_every
                and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == total)
            ):
                save_checkpoint(
                    run_dir.checkpoint_path(step + 1),
                    model=nets,
                    optimizer=opt_g,
                    step=step + 1,
                    extra={
                        "opt_d": opt_d.state_dict(),
                        "sampler_x": samp_x.gen.get_state(),
                        "sampler_y": samp_y.gen.get_state(),
                        "sampler_ot": gen.get_state(),
                    },
                )
        nets.eval()
        self.trained_steps = max(total, start)
        return history

    def _train_step(
        self,
        samp_x: _CropSampler,
        samp_y: _CropSampler,
        gen: torch.Generator,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        step: int,
    ) -> dict[str, float]:
        cfg = self.config
        nets = self.nets
        dev = self.device
        x = samp_x.sample(cfg.batch_size).to(dev)
        y = samp_y.sample(cfg.batch_size).to(dev)
        b, _, t = x.shape
        mx = frame_mask(b, t, cfg.max_mask_frames, generator=gen, device=dev)
        my = frame_mask(b, t, cfg.max_mask_frames, generator=gen, device=dev)
        # ---- generators
        for p in nets.discriminator_parameters():
            p.requires_grad_(False)
        fake_y = nets.g_xy(x, mx)
        fake_x = nets.g_yx(y, my)
        cyc_x = nets.g_yx(fake_y)
        cyc_y = nets.g_xy(fake_x)
        adv_y = [lsgan_g_loss(d(fake_y)) for d in nets.d_y.values()]
        adv_x = [lsgan_g_loss(d(fake_x)) for d in nets.d_x.values()]
        a_y, w_y = combine_losses(adv_y, cfg.combine, cfg.softmax_temperature)
        a_x, w_x = combine_losses(adv_x, cfg.combine, cfg.softmax_temperature)
        adv = a_x + a_y
        cyc = _l1(cyc_x, x) + _l1(cyc_y, y)
        loss_g = adv + cfg.lambda_cycle * cyc
        ident = torch.zeros((), device=dev)
        if cfg.lambda_identity > 0 and (cfg.identity_steps == 0 or step < cfg.identity_steps):
            ident = _l1(nets.g_xy(y), y) + _l1(nets.g_yx(x), x)
            loss_g = loss_g + cfg.lambda_identity * ident
        ot = torch.zeros((), device=dev)
        if cfg.lambda_ot > 0:
            kw: dict[str, Any] = dict(
                epsilon=cfg.ot_epsilon,
                n_iters=cfg.ot_iters,
                max_points=cfg.ot_max_points,
                value=cfg.ot_value,
                generator=gen,
            )
            if cfg.ot_reference == "pool":
                ref_y = samp_y.frames(cfg.ot_max_points, gen)
                ref_x = samp_x.frames(cfg.ot_max_points, gen)
            else:
                ref_y, ref_x = y, x
            ot = ot_loss(fake_y, ref_y, **kw) + ot_loss(fake_x, ref_x, **kw)
            loss_g = loss_g + cfg.lambda_ot * ot
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        _sync_grads(nets.generator_parameters())
        opt_g.step()
        for p in nets.discriminator_parameters():
            p.requires_grad_(True)
        # ---- discriminators (each on its own least-squares loss; summed)
        fy, fx = fake_y.detach(), fake_x.detach()
        d_losses = [lsgan_d_loss(d(y), d(fy)) for d in nets.d_y.values()]
        d_losses += [lsgan_d_loss(d(x), d(fx)) for d in nets.d_x.values()]
        loss_d = torch.stack(d_losses).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        _sync_grads(nets.discriminator_parameters())
        opt_d.step()
        rec = {
            "loss_g": float(loss_g.detach()),
            "loss_d": float(loss_d.detach()),
            "adv": float(adv.detach()),
            "cycle": float(cyc.detach()),
            "identity": float(ident.detach()),
            "ot": float(ot.detach()),
        }
        for k, wy, wx in zip(cfg.discriminator.kinds, w_y.tolist(), w_x.tolist(), strict=True):
            rec[f"w_{k}"] = 0.5 * (wy + wx)
        return rec

    # ------------------------------------------------------------- inference
    @torch.no_grad()
    def convert_mel(self, logmel: torch.Tensor) -> torch.Tensor:
        """Convert source features ``(rows, frames)`` to the target speaker (same shape): a
        log-mel ``(n_mels, frames)``, or with ``features="mcep"`` mel-cepstra c1..cD
        ``(mcep_order, frames)`` (see :meth:`convert_mcep` for WORLD's ``(frames, D + 1)``)."""
        nets = self.nets
        lm = torch.as_tensor(logmel, dtype=torch.float32, device=self.device)
        rows = self.config.n_features
        if lm.ndim != 2 or lm.shape[0] != rows:
            raise DataError(
                f"convert_mel needs ({rows}, frames) {self.config.features} features, "
                f"got {tuple(lm.shape)}"
            )
        nets.eval()
        x = (lm - nets.src_mean[:, None]) / nets.src_std[:, None]
        y = nets.g_xy(x[None])[0]
        return y * nets.tgt_std[:, None] + nets.tgt_mean[:, None]

    def convert_mcep(self, mc: np.ndarray) -> np.ndarray:
        """Convert WORLD mel-cepstra ``(frames, D + 1)`` (``features="mcep"``): c1..cD through
        the generator (per-speaker normalised), c0 (the power) kept from the source."""
        if self.config.features != "mcep":
            raise ConfigError("convert_mcep needs a model trained with features='mcep'")
        arr = np.asarray(mc, dtype=np.float64)
        d = self.config.world.mcep_order
        if arr.ndim != 2 or arr.shape[1] != d + 1:
            raise DataError(f"convert_mcep needs (frames, {d + 1}) mel-cepstra, got {arr.shape}")
        out = arr.copy()
        out[:, 1:] = self.convert_mel(torch.as_tensor(arr[:, 1:].T.copy())).cpu().numpy().T
        return out

    def convert_wav(
        self,
        wav: np.ndarray,
        *,
        vocoder: Literal["griffin_lim", "world"] = "griffin_lim",
        gl_iters: int = 64,
    ) -> np.ndarray:
        """Convert a mono waveform at ``config.mel.sample_rate``; returns float32 audio.

        ``vocoder="griffin_lim"``: Griffin-Lim on the converted log-mel. ``vocoder="world"``
        (OURS, needs the vc extra and F0 stats): WORLD analysis of the source, envelope
        multiplied by ``exp(2 * (converted - source log-mel))`` (first smoothed along the mel
        axis when ``config.world_lifter > 0``) interpolated to WORLD's frames and frequency
        bins, log-Gaussian F0 transfer, WORLD synthesis. An output whose peak
        exceeds 0.99 is scaled to a 0.99 peak (documented; never clipped).
        """
        cfg = self.config
        w = check_waveform(wav, name="source waveform")
        if cfg.features == "mcep":
            if vocoder != "world":
                raise ConfigError("a features='mcep' model resynthesises with vocoder='world' only")
            out = self._world_mcep_vocode(w)
            return _limit_peak(out)
        src = mel_spectrogram(w, cfg.mel, device=self.device)
        conv = self.convert_mel(src)
        if vocoder == "griffin_lim":
            out = griffin_lim(conv, cfg.mel, n_iter=gl_iters, device=self.device).cpu().numpy()
        elif vocoder == "world":
            out = self._world_vocode(w, (conv - src).cpu().numpy())
        else:
            raise ConfigError(f"vocoder must be 'griffin_lim' or 'world', got {vocoder!r}")
        return _limit_peak(out)

    def _f0_transfer(self, f0: np.ndarray) -> np.ndarray:
        f0s = self.nets.f0_stats.cpu().numpy()
        if not np.all(np.isfinite(f0s)):
            raise ConfigError("this model holds no F0 statistics (trained with f0_stats=False)")
        sm, ss, tm, ts = (float(v) for v in f0s)
        return log_gaussian_f0(f0, sm, ss, tm, ts)

    def _world_mcep_vocode(self, wav: np.ndarray) -> np.ndarray:
        from .world import (
            WorldFeatures,
            mcep_to_envelope,
            mel_cepstrum,
            world_analyze,
            world_synthesize,
        )

        cfg = self.config
        sr = cfg.mel.sample_rate
        feats = world_analyze(wav, sr, cfg.world)
        mc = self.convert_mcep(mel_cepstrum(feats.sp, sr, cfg.world))
        sp = mcep_to_envelope(mc, sr, feats.fft_size, cfg.world)
        f0 = self._f0_transfer(feats.f0)
        return world_synthesize(WorldFeatures(f0, sp, feats.ap, sr, feats.frame_period))

    def _world_vocode(self, wav: np.ndarray, diff: np.ndarray) -> np.ndarray:
        import librosa

        from .world import WorldFeatures, world_analyze, world_synthesize

        cfg = self.config
        sr = cfg.mel.sample_rate
        feats = world_analyze(wav, sr, cfg.world)
        f0 = self._f0_transfer(feats.f0)
        if 0 < cfg.world_lifter < diff.shape[0]:
            from scipy.fft import dct, idct

            coef = dct(diff, axis=0, norm="ortho")
            coef[cfg.world_lifter :] = 0.0
            diff = idct(coef, axis=0, norm="ortho")
        n_w = feats.sp.shape[0]
        t_mel = np.arange(diff.shape[1]) * cfg.mel.hop_length / sr
        t_w = np.arange(n_w) * feats.frame_period / 1000.0
        diff_t = np.stack([np.interp(t_w, t_mel, row) for row in diff])  # (n_mels, n_w)
        fmax = cfg.mel.fmax if cfg.mel.fmax is not None else sr / 2
        centres = librosa.mel_frequencies(cfg.mel.n_mels + 2, fmin=cfg.mel.fmin, fmax=fmax)[1:-1]
        freqs = np.linspace(0, sr / 2, feats.sp.shape[1])
        gain = np.stack([np.interp(freqs, centres, diff_t[:, j]) for j in range(n_w)])
        sp = feats.sp * np.exp(2.0 * gain)
        return world_synthesize(WorldFeatures(f0, sp, feats.ap, sr, feats.frame_period))

    def convert_file(
        self,
        in_path: str | Path,
        out_path: str | Path,
        *,
        vocoder: Literal["griffin_lim", "world"] = "griffin_lim",
    ) -> Path:
        """WAV -> WAV conversion (input checked by :func:`load_wav`)."""
        from .audio import save_wav

        cfg = self.config
        wav, _ = load_wav(
            in_path,
            cfg.mel.sample_rate,
            mono="mean" if cfg.mono else "error",
            resample_to_rate=cfg.resample,
        )
        return save_wav(
            out_path, self.convert_wav(wav, vocoder=vocoder), self.config.mel.sample_rate
        )

    # ------------------------------------------------------------ save/load
    def save(self, path: str | Path) -> Path:
        """Write config, weights and speaker statistics to one file (atomic)."""
        payload = {
            "format": _FORMAT,
            "config": config_to_dict(self.config),
            "state": self.nets.state_dict(),
            "trained_steps": self.trained_steps,
        }
        return atomic_save(payload, path)

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device | None = None) -> CLOTGAN:
        """Read a model written by :meth:`save` (or a training checkpoint of :meth:`fit` plus
        its run's ``config.json`` next to the ``checkpoints`` folder)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"model file {str(path)!r} does not exist")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise DataError(f"model file {str(path)!r} cannot be read: {exc}") from exc
        if isinstance(payload, dict) and payload.get("format") == _FORMAT:
            cfg = config_from_dict(CLOTGANConfig, payload["config"])
            state, steps = payload["state"], int(payload["trained_steps"])
        elif isinstance(payload, dict) and "model" in payload and "step" in payload:
            run = RunDir(path.parent.parent)
            cfg = config_from_dict(CLOTGANConfig, run.load_config_dict())
            state, steps = payload["model"], int(payload["step"])
        else:
            raise DataError(f"{str(path)!r} is not a CLOT-GAN model or checkpoint")
        model = cls(cfg, device=device)
        model.nets.load_state_dict(state)
        model.nets.eval()
        model.trained_steps = steps
        return model

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.nets.parameters())
        return f"CLOTGAN(discriminators={self.config.discriminator.kinds}, params={n}, steps={self.trained_steps})"
