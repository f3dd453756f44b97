"""CLOT-GAN training on synthetic speakers: losses fall, save/load, resume, conversion, CLI."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from lab.core import ConfigError, DataError, RunDir
from lab.signal.vc import (
    CLOTGAN,
    CLOTGANConfig,
    DiscriminatorConfig,
    GeneratorConfig,
    MelConfig,
    load_wav,
    save_wav,
)
from lab.signal.vc.synth import SyntheticSpeaker, synthetic_utterances

torch.set_num_threads(1)
SR = 16000
A = SyntheticSpeaker(f0=120.0)
B = SyntheticSpeaker(f0=190.0, formants=(850.0, 1500.0, 2900.0))


def tiny_config(**kw):
    cfg = CLOTGANConfig(
        mel=MelConfig(sample_rate=SR, n_fft=512, hop_length=128, win_length=512, n_mels=24),
        generator=GeneratorConfig(
            channels_2d=4, channels_1d=16, n_residual=1, zero_init_output=False
        ),
        discriminator=DiscriminatorConfig(
            cnn_channels=4,
            vit_patch_mels=8,
            vit_patch_frames=4,
            vit_dim=8,
            vit_heads=2,
            vit_layers=1,
            conformer_dim=8,
            conformer_heads=2,
            conformer_layers=1,
            conformer_kernel=3,
        ),
        crop_frames=16,
        max_mask_frames=4,
        batch_size=2,
        ot_iters=10,
        ot_max_points=32,
        steps=40,
        lr_g=2e-3,
        lr_d=1e-3,
        log_every=1,
        checkpoint_every=10,
        f0_stats=False,
    )
    return replace(cfg, **kw)


@pytest.fixture(scope="module")
def speakers():
    return (
        synthetic_utterances(A, 3, sample_rate=SR, seconds=0.5, seed=0),
        synthetic_utterances(B, 3, sample_rate=SR, seconds=0.5, seed=1),
    )


def test_short_training_lowers_the_losses(speakers):
    src, tgt = speakers
    model = CLOTGAN(tiny_config(), device="cpu")
    hist = model.fit(src, tgt, show_progress=False)
    assert len(hist) == 40 and model.trained_steps == 40
    first = {
        k: np.mean([h[k] for h in hist[:8]]) for k in ("cycle", "identity", "loss_g", "loss_d")
    }
    last = {
        k: np.mean([h[k] for h in hist[-8:]]) for k in ("cycle", "identity", "loss_g", "loss_d")
    }
    assert last["cycle"] < 0.7 * first["cycle"]
    assert last["identity"] < 0.7 * first["identity"]
    assert last["loss_g"] < first["loss_g"]
    assert last["loss_d"] < first["loss_d"]
    w = [hist[-1][f"w_{k}"] for k in ("cnn", "vit", "conformer")]
    assert sum(w) == pytest.approx(1.0) and all(0 < x < 1 for x in w)
    # per-speaker statistics are stored: the source mean is the source frames' mean
    from lab.signal.vc import mel_spectrogram

    mels = torch.cat([mel_spectrogram(s, model.config.mel) for s in src], dim=1)
    torch.testing.assert_close(model.nets.src_mean, mels.mean(1), atol=1e-4, rtol=1e-4)


def test_save_load_resume_and_wav_conversion(speakers, tmp_path):
    src, tgt = speakers
    cfg = tiny_config(steps=8, checkpoint_every=4)
    run = RunDir.create("clotgan", root=tmp_path, config=cfg)
    full = CLOTGAN(cfg, device="cpu")
    full.fit(src, tgt, show_progress=False)
    # interrupted after 4 steps, resumed to 8: the same weights as the uninterrupted run
    torch.manual_seed(123)
    part = CLOTGAN(cfg, device="cpu")
    part.fit(src, tgt, run_dir=run, steps=4, show_progress=False)
    resumed = CLOTGAN(cfg, device="cpu")
    resumed.fit(src, tgt, run_dir=run, resume=True, show_progress=False)
    for (k, a), b in zip(
        full.nets.state_dict().items(), resumed.nets.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, equal_nan=True, msg=k)
    assert len(list(run.metrics())) == 8
    # save / load round trip converts identically
    path = resumed.save(tmp_path / "model.pt")
    loaded = CLOTGAN.load(path)
    x = torch.randn(24, 23)
    torch.testing.assert_close(loaded.convert_mel(x), resumed.convert_mel(x))
    ckpt_model = CLOTGAN.load(run.latest_checkpoint())
    torch.testing.assert_close(ckpt_model.convert_mel(x), resumed.convert_mel(x))
    # WAV -> WAV
    save_wav(tmp_path / "in.wav", src[0], SR)
    out = loaded.convert_file(tmp_path / "in.wav", tmp_path / "out.wav")
    y, sr = load_wav(out, SR)
    assert sr == SR and abs(len(y) - len(src[0])) < cfg.mel.hop_length
    with pytest.raises(ConfigError, match="no F0 statistics"):
        loaded.convert_wav(src[0], vocoder="world")
    with pytest.raises(DataError, match="does not exist"):
        CLOTGAN.load(tmp_path / "nope.pt")
    with pytest.raises(DataError, match="no checkpoint"):
        CLOTGAN(cfg).fit(src, tgt, run_dir=RunDir.create("x", root=tmp_path), resume=True)


def test_config_errors():
    with pytest.raises(ConfigError, match="combine"):
        CLOTGANConfig(combine="max")
    with pytest.raises(ConfigError, match="max_mask_frames"):
        CLOTGANConfig(crop_frames=16, max_mask_frames=20)
    with pytest.raises(ConfigError, match="lambda_ot"):
        CLOTGANConfig(lambda_ot=-1.0)


def test_ot_reference_pool(speakers):
    from lab.signal.vc.clotgan import _CropSampler

    mels = [torch.arange(6.0).reshape(2, 3), 10 + torch.arange(4.0).reshape(2, 2)]
    samp = _CropSampler(mels, crop=2, seed=0)
    got = samp.frames(4, torch.Generator().manual_seed(0))
    assert got.shape == (1, 2, 4)
    pool = {tuple(c.tolist()) for c in torch.cat(mels, dim=1).T}
    cols = [tuple(c.tolist()) for c in got[0].T]
    assert len(set(cols)) == 4 and set(cols) <= pool  # distinct frames of the pool
    assert samp.frames(100, torch.Generator()).shape == (1, 2, 5)  # all when fewer
    # same seed, same first generator step; only the OT reference differs
    src, tgt = speakers
    hb = CLOTGAN(tiny_config(steps=1), device="cpu").fit(src, tgt, show_progress=False)
    cfg = tiny_config(steps=1, ot_reference="pool")
    hp = CLOTGAN(cfg, device="cpu").fit(src, tgt, show_progress=False)
    assert hb[0]["cycle"] == pytest.approx(hp[0]["cycle"])
    assert hb[0]["ot"] != pytest.approx(hp[0]["ot"], rel=1e-3)
    with pytest.raises(ConfigError, match="ot_reference"):
        CLOTGANConfig(ot_reference="all")
    with pytest.raises(ConfigError, match="pool sample size"):
        CLOTGANConfig(ot_reference="pool", ot_max_points=0)


def test_world_lifter_smooths_the_envelope_gain(speakers):
    pytest.importorskip("pyworld")
    src, tgt = speakers
    model = CLOTGAN(tiny_config(steps=0, f0_stats=True), device="cpu")
    model.fit(src, tgt, show_progress=False)
    n_mels, frames = model.config.mel.n_mels, 20
    zero = np.zeros((n_mels, frames))
    const = np.full((n_mels, frames), 0.3)
    ripple = np.tile(((-1.0) ** np.arange(n_mels))[:, None], (1, frames))
    w = src[0]
    plain = {k: model._world_vocode(w, d) for k, d in (("const", const), ("ripple", ripple))}
    model.config = replace(model.config, world_lifter=1)
    # a gain constant over mel bins has only a DCT coefficient 0: unchanged by the lifter
    np.testing.assert_allclose(model._world_vocode(w, const), plain["const"], atol=1e-6)
    # the alternating (highest-quefrency) ripple is removed: as if no gain were applied
    np.testing.assert_allclose(
        model._world_vocode(w, ripple), model._world_vocode(w, zero), atol=1e-6
    )
    assert np.max(np.abs(plain["ripple"] - model._world_vocode(w, zero))) > 1e-3
    with pytest.raises(ConfigError, match="world_lifter"):
        CLOTGANConfig(world_lifter=-1)


def test_stats_silence_db_excludes_quiet_frames(speakers):
    src, tgt = speakers
    # silence appended to every source utterance: counted by default, excluded at 40 dB
    quiet = [np.concatenate([w, np.zeros(4000, np.float32)]) for w in src]
    m_all = CLOTGAN(tiny_config(steps=0), device="cpu")
    m_all.fit(quiet, tgt, show_progress=False)
    m_40 = CLOTGAN(tiny_config(steps=0, stats_silence_db=40.0), device="cpu")
    m_40.fit(quiet, tgt, show_progress=False)
    from lab.signal.vc import mel_spectrogram

    cfg = m_40.config.mel
    loud = []
    for w in quiet:
        m = mel_spectrogram(w, cfg).double()
        e = 10 * torch.log10(torch.exp(2 * m).sum(0))
        loud.append(m[:, e > e.max() - 40])
    want = torch.cat(loud, dim=1).mean(1).float()
    torch.testing.assert_close(m_40.nets.src_mean, want, atol=1e-4, rtol=1e-4)
    assert (m_all.nets.src_mean - m_40.nets.src_mean).abs().max() > 1.0  # silence drags it down
    with pytest.raises(ConfigError, match="stats_silence_db"):
        CLOTGANConfig(stats_silence_db=-1.0)


def test_mcep_features_train_convert_and_reload(tmp_path):
    from lab.signal.vc import MeanVarianceConverter, WorldConfig, mel_cepstrum, world_analyze

    src = synthetic_utterances(A, 3, sample_rate=SR, seconds=0.4, seed=0)
    tgt = synthetic_utterances(B, 3, sample_rate=SR, seconds=0.4, seed=1)
    world = WorldConfig(mcep_order=24, f0_floor=55.0)  # Harvest
    cfg = tiny_config(features="mcep", world=world, f0_stats=True, steps=3, stats_silence_db=40.0)
    assert cfg.n_features == 24
    model = CLOTGAN(cfg, device="cpu")
    model.fit(src, tgt, show_progress=False)
    stats = model.nets.f0_stats.numpy()
    # log-F0 statistics of the two synthetic speakers (120 Hz and 190 Hz)
    assert np.exp(stats[0]) == pytest.approx(120.0, rel=0.05)
    assert np.exp(stats[2]) == pytest.approx(190.0, rel=0.05)
    mc = mel_cepstrum(world_analyze(src[0], SR, world).sp, SR, world)
    conv = model.convert_mcep(mc)
    assert conv.shape == mc.shape and np.array_equal(conv[:, 0], mc[:, 0])  # c0 kept
    assert not np.allclose(conv[:, 1:], mc[:, 1:])
    y = model.convert_wav(src[0], vocoder="world")
    assert y.dtype == np.float32 and abs(len(y) - len(src[0])) < 0.02 * SR
    # F0 of the output follows the target's log-F0 statistics
    f0_out = world_analyze(y, SR, world).f0
    assert np.median(f0_out[f0_out > 0]) == pytest.approx(190.0, rel=0.1)
    with pytest.raises(ConfigError, match="world"):
        model.convert_wav(src[0], vocoder="griffin_lim")
    with pytest.raises(DataError, match="25"):
        model.convert_mcep(mc[:, :10])
    path = model.save(tmp_path / "m.pt")
    again = CLOTGAN.load(path, device="cpu")
    assert again.config.features == "mcep" and again.config.world.f0_floor == 55.0
    np.testing.assert_allclose(again.convert_mcep(mc), conv, atol=1e-5)
    # the baseline's feature conversion is the same mean/variance map it resynthesises
    base = MeanVarianceConverter(SR, world=world).fit(src, tgt)
    bm = base.convert_mcep(mc)
    assert np.array_equal(bm[:, 0], mc[:, 0])
    with pytest.raises(ConfigError, match="f0_stats"):
        tiny_config(features="mcep", f0_stats=False)
