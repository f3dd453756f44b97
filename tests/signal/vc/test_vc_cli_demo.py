"""`lab signal vc train/convert` on WAV folders, torchrun data parallelism, and the demo."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from lab.core import config_to_dict
from lab.core.testing import run_torchrun, slow
from lab.signal.cli import main
from lab.signal.vc import (
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


def _config(steps: int) -> CLOTGANConfig:
    return CLOTGANConfig(
        mel=MelConfig(sample_rate=SR, n_fft=512, hop_length=128, win_length=512, n_mels=16),
        generator=GeneratorConfig(channels_2d=2, channels_1d=8, n_residual=1),
        discriminator=DiscriminatorConfig(
            kinds=("cnn", "conformer"),
            cnn_channels=2,
            conformer_dim=8,
            conformer_heads=2,
            conformer_layers=1,
            conformer_kernel=3,
        ),
        crop_frames=8,
        max_mask_frames=2,
        batch_size=2,
        ot_iters=5,
        ot_max_points=16,
        steps=steps,
        checkpoint_every=2,
        log_every=1,
        f0_stats=False,
    )


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    dirs = []
    for name, spk, seed in (("src", SyntheticSpeaker(), 0), ("tgt", SyntheticSpeaker(f0=190.0), 1)):
        d = tmp_path / name
        for i, w in enumerate(synthetic_utterances(spk, 2, sample_rate=SR, seconds=0.3, seed=seed)):
            save_wav(d / f"{i}.wav", w, SR)
        dirs.append(d)
    return dirs[0], dirs[1]


def test_cli_train_resume_convert(tmp_path, capsys):
    src, tgt = _folders(tmp_path)
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(config_to_dict(_config(2))))
    args = ["vc", "train", "--source", str(src), "--target", str(tgt), "--config", str(cfg_file)]
    assert main([*args, "--out", str(tmp_path / "runs"), "--device", "cpu"]) == 0
    run = next((tmp_path / "runs" / "clotgan").iterdir())
    assert (run / "model.pt").is_file() and (run / "checkpoints").is_dir()
    # resume a finished run with more steps from its config
    cfg = json.loads((run / "config.json").read_text())
    cfg["steps"] = 4
    (run / "config.json").write_text(json.dumps(cfg))
    assert main([*args, "--resume", str(run), "--device", "cpu"]) == 0
    assert '"steps": 4' in capsys.readouterr().out
    out = tmp_path / "out.wav"
    rc = main(
        [
            "vc",
            "convert",
            str(src / "0.wav"),
            "-o",
            str(out),
            "--model",
            str(run / "model.pt"),
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    y, sr = load_wav(out, SR)
    assert sr == SR and len(y) > 0.25 * SR
    # a wrong sample rate is a clear error, not a crash
    import soundfile as sf

    sf.write(tmp_path / "r8k.wav", np.sin(np.arange(4000) / 3.0).astype(np.float32) * 0.3, 8000)
    rc = main(
        [
            "vc",
            "convert",
            str(tmp_path / "r8k.wav"),
            "-o",
            str(out),
            "--model",
            str(run / "model.pt"),
        ]
    )
    msg = capsys.readouterr().out
    assert rc == 2 and "8000 Hz, expected 16000" in msg and "--resample" in msg
    rc = main(
        ["vc", "convert", str(tmp_path / "r8k.wav"), "-o", str(out), "--model",
         str(run / "model.pt"), "--resample", "--device", "cpu"]
    )  # fmt: skip
    assert rc == 0 and load_wav(out, SR)[1] == SR
    # the MKDPINN subcommands are untouched
    with pytest.raises(SystemExit):
        main(["rul", "--help"])


_DDP_SCRIPT = """
import sys, json, torch
from lab.core import init_distributed, rank, config_from_dict
from lab.signal.vc import CLOTGAN, CLOTGANConfig
from lab.signal.vc.synth import SyntheticSpeaker, synthetic_utterances
torch.set_num_threads(1)
cfg = config_from_dict(CLOTGANConfig, json.loads(open(sys.argv[1]).read()))
init_distributed(device="cpu")
src = synthetic_utterances(SyntheticSpeaker(), 2, sample_rate=16000, seconds=0.3, seed=0)
tgt = synthetic_utterances(SyntheticSpeaker(f0=190.0), 2, sample_rate=16000, seconds=0.3, seed=1)
m = CLOTGAN(cfg, device="cpu")
m.fit(src, tgt, show_progress=False)
s = sum(float(p.double().sum()) for p in m.nets.parameters())
print(f"RANK{rank()} {s:.10f}")
"""


@slow
def test_torchrun_two_ranks_stay_in_sync(tmp_path):
    cfg_file = tmp_path / "cfg.json"
    cfg = replace(
        _config(3),
        generator=GeneratorConfig(
            channels_2d=2, channels_1d=8, n_residual=1, zero_init_output=False
        ),
    )
    cfg_file.write_text(json.dumps(config_to_dict(cfg)))
    script = tmp_path / "ddp.py"
    script.write_text(_DDP_SCRIPT)
    proc = run_torchrun(script, [str(cfg_file)], nproc=2, timeout=300)
    sums = dict(line.split() for line in proc.stdout.splitlines() if line.startswith("RANK"))
    assert set(sums) == {"RANK0", "RANK1"} and sums["RANK0"] == sums["RANK1"]


@slow
def test_demo_runs_and_measures(tmp_path):
    from lab.signal.vc.demo import demo

    res = demo(tmp_path, device=torch.device("cpu"), seed=0)
    m = res.metrics
    assert m["mfcc_mcd_clotgan"] < m["mfcc_mcd_no_conversion"]
    assert all(Path(p).is_file() for p in res.plots)
    assert sys.modules["lab.signal.vc.demo"].demo_config().steps == m["steps"]


def test_cli_train_checks_every_wav_before_making_a_run_folder(tmp_path, capsys):
    import soundfile as sf

    src, tgt = _folders(tmp_path)
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_text(json.dumps(config_to_dict(_config(1))))
    runs = tmp_path / "runs"
    stereo = np.stack([np.sin(np.arange(SR // 4) / 5.0)] * 2, axis=1).astype(np.float32) * 0.3
    sf.write(tgt / "stereo.wav", stereo, SR)
    base = ["vc", "train", "--source", str(src), "--target", str(tgt), "--config", str(cfg_file)]
    base += ["--out", str(runs), "--device", "cpu"]
    assert main(base) == 2
    msg = capsys.readouterr().out
    assert "2 channels" in msg and "--mono" in msg
    assert not (runs / "clotgan").exists() or not any((runs / "clotgan").iterdir())
    assert main(["vc", "train", "--source", str(tmp_path / "nowhere"), *base[4:]]) == 2
    assert not (runs / "clotgan").exists() or not any((runs / "clotgan").iterdir())
    assert main([*base, "--mono"]) == 0  # averaged channels are accepted
    (run,) = list((runs / "clotgan").iterdir())
    assert json.loads((run / "config.json").read_text())["mono"] is True
