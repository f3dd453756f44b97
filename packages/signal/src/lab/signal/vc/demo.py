"""``lab demo`` entry ``signal-vc``: a tiny CLOT-GAN between two synthetic speakers.

Two source-filter "speakers" (different pitch and formants, :mod:`lab.signal.vc.synth`) at
16 kHz, a CPU-sized CLOT-GAN trained for a few dozen steps, and the MFCC-MCD of held-out
utterances before and after conversion (with the untrained, identity generator, i.e. the
per-speaker log-mel mean/variance transfer, as the named baseline). A smoke-level measurement;
tools/bench/signal_vc.py runs VCC 2018.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from lab.core import set_seed
from lab.core.report import DemoResult, demo_size, line_plot, pyplot, save_figure

from .audio import MelConfig, mel_spectrogram
from .clotgan import CLOTGAN, CLOTGANConfig
from .discriminators import DiscriminatorConfig
from .generator import GeneratorConfig
from .metrics import mfcc_mcd
from .synth import SyntheticSpeaker, synthetic_utterances

__all__ = ["demo", "demo_config"]

SR = 16000


def demo_config(seed: int = 0, steps: int = 40) -> CLOTGANConfig:
    """The demo's CPU-sized configuration (16 kHz, 40 mels, small networks)."""
    return CLOTGANConfig(
        mel=MelConfig(sample_rate=SR, n_fft=512, hop_length=128, win_length=512, n_mels=40),
        generator=GeneratorConfig(channels_2d=8, channels_1d=32, n_residual=1),
        discriminator=DiscriminatorConfig(
            cnn_channels=4,
            vit_patch_mels=8,
            vit_patch_frames=4,
            vit_dim=16,
            vit_heads=2,
            vit_layers=1,
            conformer_dim=16,
            conformer_heads=2,
            conformer_layers=1,
            conformer_kernel=7,
        ),
        crop_frames=32,
        max_mask_frames=8,
        batch_size=4,
        ot_iters=20,
        ot_max_points=64,
        steps=steps,
        lr_g=1e-3,
        lr_d=5e-4,
        log_every=5,
        checkpoint_every=0,
        f0_stats=False,
        seed=seed,
    )


def demo(out_dir: Path, *, device: torch.device, seed: int = 0) -> DemoResult:
    """Train a tiny CLOT-GAN on synthetic speakers; report MFCC-MCD before/after; plots."""
    t0 = time.time()
    set_seed(seed)
    out_dir = Path(out_dir)
    src_spk = SyntheticSpeaker(f0=120.0)
    tgt_spk = SyntheticSpeaker(f0=200.0, formants=(850.0, 1500.0, 2900.0))
    src = synthetic_utterances(src_spk, 8, sample_rate=SR, seconds=0.6, seed=seed)
    tgt = synthetic_utterances(tgt_spk, 8, sample_rate=SR, seconds=0.6, seed=seed + 1)
    # parallel held-out pairs (same random draws for both speakers) for scoring
    test_s = synthetic_utterances(src_spk, 3, sample_rate=SR, seconds=0.6, seed=seed + 7)
    test_t = synthetic_utterances(tgt_spk, 3, sample_rate=SR, seconds=0.6, seed=seed + 7)
    # `lab demo --size tiny`: a seconds-long smoke run (3 training steps)
    cfg = demo_config(seed, steps=3) if demo_size() == "tiny" else demo_config(seed)
    untrained = CLOTGAN(cfg, device=device)
    untrained.fit(src[:6], tgt[2:], steps=0, show_progress=False)  # statistics only
    identity = [untrained.convert_wav(w, gl_iters=16) for w in test_s]
    model = CLOTGAN(cfg, device=device)
    history = model.fit(src[:6], tgt[2:], show_progress=False)
    converted = [model.convert_wav(w, gl_iters=16) for w in test_s]
    mc = cfg.mel

    def mean_mcd(outs: list[np.ndarray]) -> float:
        return float(np.mean([mfcc_mcd(r, o, mc) for r, o in zip(test_t, outs, strict=True)]))

    metrics = {
        "mfcc_mcd_no_conversion": mean_mcd(test_s),
        "mfcc_mcd_meanvar_logmel": mean_mcd(identity),
        "mfcc_mcd_clotgan": mean_mcd(converted),
        "final_cycle_loss": history[-1]["cycle"],
        "final_ot_loss": history[-1]["ot"],
        "steps": cfg.steps,
    }
    steps = [h["step"] for h in history]
    plots = [
        line_plot(
            out_dir / "signal_vc_losses.png",
            {k: (steps, [h[k] for h in history]) for k in ("adv", "cycle", "ot", "loss_d")},
            title="CLOT-GAN training (synthetic speakers)",
            xlabel="step",
            ylabel="loss",
        )
    ]
    plt = pyplot("labworks-signal[plots]")
    fig, axes = plt.subplots(1, 3, figsize=(10, 3), dpi=100)
    src_mel = mel_spectrogram(test_s[0], mc, device=device)
    mels = {
        "source": src_mel,
        "converted": model.convert_mel(src_mel),
        "target": mel_spectrogram(test_t[0], mc, device=device),
    }
    for ax, (name, m) in zip(axes, mels.items(), strict=True):
        ax.imshow(m.cpu().numpy(), origin="lower", aspect="auto", cmap="magma")
        ax.set_title(f"{name} log-mel")
    plots.append(save_figure(fig, out_dir / "signal_vc_mels.png"))
    summary = (
        f"MFCC-MCD on held-out synthetic utterances: no conversion "
        f"{metrics['mfcc_mcd_no_conversion']:.2f} dB, log-mel mean/variance transfer "
        f"{metrics['mfcc_mcd_meanvar_logmel']:.2f} dB, CLOT-GAN after {cfg.steps} steps "
        f"{metrics['mfcc_mcd_clotgan']:.2f} dB (Griffin-Lim vocoder)."
    )
    return DemoResult(
        title="CLOT-GAN voice conversion (synthetic speakers)",
        metrics=metrics,
        plots=plots,
        summary=summary,
        seconds=time.time() - t0,
    )
