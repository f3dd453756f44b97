"""``lab signal vc``: train a CLOT-GAN converter and convert WAV files.

The domain CLI hooks this in with :func:`register`::

    lab signal vc train --source DIR --target DIR [--steps 2000 ...] [--out runs]
    lab signal vc train --source DIR --target DIR --resume runs/clotgan/<stamp>
    lab signal vc convert IN.wav -o OUT.wav --model runs/clotgan/<stamp>/model.pt [--vocoder world]

``--resample`` and ``--mono`` accept WAVs of another rate or with several channels (refused
otherwise). A run folder is made only after the device, the config and every WAV are checked.

Every field of :class:`~lab.signal.vc.CLOTGANConfig` is a flag (nested ones as
``--generator.channels-2d 128``, ``--discriminator.kinds cnn vit``); ``--config FILE`` reads a
JSON/YAML file first. Under ``torchrun`` training is data parallel (gradients averaged).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from lab.core import (
    LabError,
    RunDir,
    add_config_arguments,
    cleanup_distributed,
    config_from_args,
    config_from_dict,
    init_distributed,
    is_distributed,
    is_main,
    set_seed,
)

from .clotgan import CLOTGAN, CLOTGANConfig, load_utterances

__all__ = ["register"]


def _run_dir(args: argparse.Namespace, cfg: CLOTGANConfig) -> RunDir:
    if is_main():
        run = RunDir.create("clotgan", root=args.out, config=cfg)
        path = str(run.path)
    else:
        path = ""
    if is_distributed():
        import torch.distributed as dist

        box = [path]
        dist.broadcast_object_list(box, src=0)
        path = box[0]
    return RunDir(path)


def _train(args: argparse.Namespace) -> int:
    try:
        return _train_model(args)
    finally:
        cleanup_distributed()  # every rank, also after an error, before the process exits


def _train_model(args: argparse.Namespace) -> int:
    try:
        info = init_distributed(device=args.device)
        if args.resume is not None:
            opened = RunDir.open(args.resume)
            run: RunDir | None = opened
            cfg = config_from_dict(CLOTGANConfig, opened.load_config_dict())
        else:
            run = None
            cfg = config_from_args(CLOTGANConfig, args)
        set_seed(cfg.seed)
        model = CLOTGAN(cfg, device=info.device)
        # every WAV is read and checked before a new run folder is made
        source = load_utterances(args.source, cfg, "source")
        target = load_utterances(args.target, cfg, "target")
        if run is None:
            run = _run_dir(args, cfg)
        if is_main():
            print(f"run folder: {run.path}")
        history = model.fit(source, target, run_dir=run, resume=args.resume is not None)
        if is_main():
            path = model.save(run.path / "model.pt")
            summary: dict[str, Any] = {"model": str(path), "steps": model.trained_steps}
            if history:
                summary["last"] = history[-1]
            print(json.dumps(summary, indent=2))
    except LabError as exc:
        print(f"error: {exc}")
        return 2
    return 0


def _convert(args: argparse.Namespace) -> int:
    try:
        model = CLOTGAN.load(args.model, device=args.device)
        if args.mono or args.resample:  # this file's reading choices, over the model's own
            model.config = replace(
                model.config,
                mono=model.config.mono or args.mono,
                resample=model.config.resample or args.resample,
            )
        out = model.convert_file(args.input, args.output, vocoder=args.vocoder)
    except LabError as exc:
        print(f"error: {exc}")
        return 2
    print(f"wrote {out}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``vc`` (with ``train`` and ``convert``) to the domain CLI's subparsers."""
    vc = subparsers.add_parser("vc", help="CLOT-GAN non-parallel voice conversion")
    cmds = vc.add_subparsers(dest="vc_command", metavar="COMMAND", required=True)
    tr = cmds.add_parser("train", help="train on two unpaired WAV folders")
    tr.add_argument("--source", type=Path, required=True, help="folder of source-speaker WAVs")
    tr.add_argument("--target", type=Path, required=True, help="folder of target-speaker WAVs")
    add_config_arguments(tr, CLOTGANConfig)
    tr.add_argument("--out", type=Path, default=Path("runs"), help="runs root (default: runs)")
    tr.add_argument(
        "--resume", type=Path, default=None, metavar="RUN", help="continue a run folder"
    )
    tr.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    tr.set_defaults(func=_train)
    cv = cmds.add_parser("convert", help="convert a WAV file with a trained model")
    cv.add_argument("input", type=Path, metavar="IN.wav")
    cv.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.wav")
    cv.add_argument("--model", type=Path, required=True, help="model.pt (or a checkpoint)")
    cv.add_argument("--vocoder", choices=["griffin_lim", "world"], default="griffin_lim")
    cv.add_argument(
        "--mono", action="store_true", help="average the channels of a multi-channel input"
    )
    cv.add_argument(
        "--resample", action="store_true", help="resample an input of another sample rate"
    )
    cv.add_argument("--device", default="auto")
    cv.set_defaults(func=_convert)
