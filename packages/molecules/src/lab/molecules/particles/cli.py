"""``lab molecules particles``: train or load an Adjoint Sampler, sample, evaluate; MALA.

lab molecules particles sample --energy dw4 --out runs/dw4 [--epochs 200 ...]
lab molecules particles sample --energy lj13 --checkpoint runs/lj13/checkpoints/step_000000200.pt
lab molecules particles sample --energy dw4 --pretrained dw4 --out runs/dw4_is --importance
lab molecules particles mala --energy lj55 --out lj55_mala.npy --n-chains 1000 --n-steps 20000
torchrun --nproc_per_node=2 -m lab.molecules.particles.cli sample --energy lj13 --out runs/lj13
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab.core import (
    ConfigError,
    DataError,
    RunDir,
    add_config_arguments,
    cleanup_distributed,
    config_from_args,
    get_device,
    init_distributed,
    is_main,
    save_config,
    set_seed,
)

from .data import REFERENCE_FILES, data_dir, exact_samples, lattice_start, load_reference
from .energies import HarmonicCluster, IsotropicGaussian, ParticleEnergy, make_energy
from .mala import MALAConfig, mala
from .metrics import configuration_w2, energy_w2, interatomic_distance_w1, virial
from .pretrained import PRETRAINED, pretrained_checkpoint, pretrained_provenance
from .sampler import AdjointSampler, AdjointSamplingConfig

__all__ = [
    "EVAL_STEPS",
    "eval_steps",
    "evaluate",
    "main",
    "reference_samples",
    "register",
    "start_configurations",
]

ENERGIES = ("dw4", "lj13", "lj55", "gaussian", "harmonic")
#: Grid spacing of the MALA start configurations per benchmark (DW-4: the square of side 4).
START_SPACING = {"dw4": 4.0, "lj13": 1.1, "lj55": 1.1, "gaussian": 0.5, "harmonic": 0.5}


def start_configurations(
    name: str,
    energy: ParticleEnergy,
    n_chains: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = "cpu",
) -> torch.Tensor:
    """Lattice starts for MALA chains on a named benchmark energy."""
    return lattice_start(
        n_chains,
        energy.n_particles,
        energy.dim,
        spacing=START_SPACING.get(name, 1.0),
        noise=0.1,
        generator=generator,
        device=device,
    )


def reference_samples(
    name: str,
    energy: ParticleEnergy,
    *,
    path: str | Path | None = None,
    n: int = 10_000,
    generator: torch.Generator | None = None,
) -> torch.Tensor | None:
    """Reference configurations: the data file for dw4/lj13 (and lj55 if present), exact
    samples for the Gaussian targets, ``None`` when there is none."""
    if path is not None and str(path).endswith(".npy"):
        return load_reference(name, path)
    if isinstance(energy, (IsotropicGaussian, HarmonicCluster)):
        return exact_samples(energy, n, generator=generator)
    folder = data_dir(path)
    if (
        folder is not None
        and name in REFERENCE_FILES
        and (folder / REFERENCE_FILES[name][0]).is_file()
    ):
        return load_reference(name, folder)
    return None


def evaluate(
    energy: ParticleEnergy,
    x: torch.Tensor,
    reference: torch.Tensor | None,
    *,
    config_w2_samples: int = 500,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """The benchmark metrics of samples ``x`` (against ``reference`` when given)."""
    x = x.detach().cpu().double()
    energy = energy.to("cpu")
    e = energy(x)
    out: dict[str, Any] = {
        "n_samples": x.shape[0],
        "energy_mean": float(e.mean()),
        "energy_std": float(e.std()),
        "virial": virial(energy, x),
        "virial_expected": energy.tau * energy.d_eff(True),
    }
    if reference is not None:
        ref = reference.detach().cpu().double()
        out["energy_w2"] = energy_w2(e, energy(ref))
        out["distance_w1"] = interatomic_distance_w1(x, ref, energy.n_particles, energy.dim)
        out["configuration_w2"] = configuration_w2(
            x,
            ref,
            energy.n_particles,
            energy.dim,
            max_samples=config_w2_samples,
            generator=generator,
        )
    return out


#: Evaluation SDE steps per benchmark when ``--eval-steps`` is not given (DW-4: the paper's
#: 200; a trained sampler's steps cost no energy evaluations). Others: the training steps.
EVAL_STEPS: dict[str, int] = {"dw4": 200}
CPU_SYSTEMS = ("dw4", "lj13", "lj55")


def _sampler_config(args: argparse.Namespace) -> AdjointSamplingConfig:
    """The config of ``sample``: the benchmarked CPU config of ``--energy`` (dw4, lj13, lj55;
    the dataclass defaults otherwise) or the paper's sizes with ``--paper``, then ``--config``,
    then flags."""
    if args.config_file is None and (args.paper or args.energy in CPU_SYSTEMS):
        base = (
            AdjointSamplingConfig.paper(args.energy)
            if args.paper
            else AdjointSamplingConfig.cpu(args.energy)
        )
        tmp = Path(tempfile.mkdtemp(prefix="lab-molecules-")) / "base.json"
        args.config_file = str(save_config(base, tmp))
    return config_from_args(AdjointSamplingConfig, args)


def eval_steps(args: argparse.Namespace, config: AdjointSamplingConfig) -> int:
    """SDE steps of the evaluation samples: ``--eval-steps``, else :data:`EVAL_STEPS`, else
    the training steps."""
    if args.eval_steps is not None:
        if args.eval_steps < 1:
            raise ConfigError(f"--eval-steps must be >= 1, got {args.eval_steps}")
        return int(args.eval_steps)
    return EVAL_STEPS.get(args.energy, config.n_steps)


def _sample(args: argparse.Namespace) -> int:
    # validate everything before the run folder exists: a failed command leaves no folder
    if args.checkpoint is not None and args.pretrained is not None:
        raise ConfigError("give --checkpoint or --pretrained, not both")
    if args.n_samples < 1:
        raise ConfigError(f"--n-samples must be >= 1, got {args.n_samples}")
    if args.proposals is not None and (not args.importance or args.proposals < 1):
        raise ConfigError(f"--proposals {args.proposals} needs --importance and must be >= 1")
    cfg = _sampler_config(args)
    steps = eval_steps(args, cfg)
    checkpoint = args.checkpoint
    if args.pretrained is not None:
        checkpoint = pretrained_checkpoint(args.pretrained)
        if args.energy != args.pretrained:
            raise ConfigError(
                f"--pretrained {args.pretrained} is a model of {args.pretrained}, "
                f"not of --energy {args.energy}"
            )
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise DataError(f"checkpoint {str(checkpoint)!r} does not exist")
    info = init_distributed(device=args.device)
    device = info.device
    set_seed(cfg.seed)
    energy = make_energy(args.energy, tau=args.tau)
    reference = reference_samples(args.energy, energy, path=args.reference)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if checkpoint is not None:
        sampler = AdjointSampler.from_checkpoint(checkpoint, energy, device=device)
        summary: dict[str, Any] = {"checkpoint": str(checkpoint)}
        if args.pretrained is not None:
            summary["pretrained"] = args.pretrained
            summary["provenance"] = pretrained_provenance(args.pretrained)
    else:
        sampler = AdjointSampler(energy, cfg, device=device)
        summary = sampler.fit(run_dir=RunDir.open(out), resume=args.resume)
    if is_main():
        gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
        importance: dict[str, Any] = {}
        if args.importance:
            res = sampler.sample_importance(
                args.n_samples, n_proposals=args.proposals, generator=gen, n_steps=steps
            )
            x = res.samples
            np.save(out / "proposals.npy", res.proposals.cpu().numpy())
            np.save(out / "log_weights.npy", res.log_weights.cpu().numpy())
            importance = {
                "importance": {
                    "proposals": res.proposals.shape[0],
                    "ess": res.ess,
                    "n_unique": res.n_unique,
                    "energy_evals": res.energy_evals,
                }
            }
        else:
            x = sampler.sample(args.n_samples, generator=gen, n_steps=steps)
        np.save(out / "samples.npy", x.cpu().numpy())
        metrics = {
            **summary,
            **importance,
            "eval_steps": steps,
            **evaluate(energy, x, reference, config_w2_samples=args.w2_samples),
        }
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        if args.plots:
            from .plots import distance_histogram, energy_histogram

            xs = {"adjoint sampling": x.cpu().double()}
            if reference is not None:
                xs["reference"] = reference.double()
            energy_histogram(
                out / "energy_hist.png",
                {k: energy.cpu()(v) for k, v in xs.items()},
                title=f"{args.energy}: energy",
            )
            distance_histogram(
                out / "distance_hist.png",
                xs,
                energy.n_particles,
                energy.dim,
                title=f"{args.energy}: interatomic distances",
            )
        print(json.dumps(metrics, indent=2))
    cleanup_distributed()
    return 0


def _mala(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix != ".npy":
        raise DataError(f"--out must name a .npy file, got {str(out)!r}")
    cfg = config_from_args(MALAConfig, args)
    device = get_device(args.device)
    set_seed(args.seed)
    energy = make_energy(args.energy, tau=args.tau).to(device)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    x0 = start_configurations(args.energy, energy, args.n_chains, generator=None, device=device)
    res = mala(energy, x0, cfg, generator=gen)
    samples = res.samples if res.samples.shape[0] else res.final
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, samples.cpu().numpy().astype(np.float32))
    e = energy(samples)
    info = {
        "file": str(out),
        "n_samples": samples.shape[0],
        "accept_rate": res.accept_rate,
        "energy_evals": res.energy_evals,
        "energy_mean": float(e.mean()),
        "energy_std": float(e.std()),
        "virial": virial(energy, samples),
        "virial_expected": energy.tau * energy.d_eff(True),
    }
    out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))
    return 0


def register(subparsers: Any) -> None:
    """Add ``sample`` and ``mala`` to an argparse subparsers object (sets ``func`` on each)."""
    s = subparsers.add_parser(
        "sample", help="train (or load) an Adjoint Sampler, sample and evaluate"
    )
    s.add_argument("--energy", choices=ENERGIES, required=True)
    s.add_argument("--out", type=Path, required=True, help="output folder (run directory)")
    s.add_argument("--tau", type=float, default=1.0, help="temperature (default: 1)")
    s.add_argument(
        "--checkpoint", type=Path, default=None, help="load this checkpoint instead of training"
    )
    s.add_argument(
        "--resume", action="store_true", help="resume training from --out's latest checkpoint"
    )
    s.add_argument(
        "--pretrained",
        default=None,
        metavar="NAME",
        help="sample from a shipped model instead of training (shipped: "
        + (", ".join(sorted(PRETRAINED)) or "none yet")
        + ")",
    )
    s.add_argument(
        "--paper",
        action="store_true",
        help="the paper's (GPU) sizes for dw4/lj13/lj55 (default: the benchmarked CPU config)",
    )
    s.add_argument(
        "--eval-steps",
        type=int,
        default=None,
        help="SDE steps of the evaluation samples (default: 200 for dw4, else --n-steps)",
    )
    s.add_argument("--n-samples", type=int, default=2000, help="samples to draw (default: 2000)")
    s.add_argument(
        "--importance",
        action="store_true",
        help="resample the output by path importance weights (OURS; Euler-Maruyama proposals, "
        "one energy evaluation each; corrects mode weights)",
    )
    s.add_argument(
        "--proposals",
        type=int,
        default=None,
        help="importance proposals (default: 4 x --n-samples)",
    )
    s.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="reference folder or .npy file (default: $LABWORKS_DATA/particles)",
    )
    s.add_argument(
        "--w2-samples",
        type=int,
        default=500,
        help="samples per side in the configuration W2 (N x M alignments; default 500)",
    )
    s.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    s.add_argument("--plots", action=argparse.BooleanOptionalAction, default=True)
    add_config_arguments(s, AdjointSamplingConfig)
    s.set_defaults(func=_sample)
    m = subparsers.add_parser("mala", help="parallel MALA chains: reference samples for an energy")
    m.add_argument("--energy", choices=ENERGIES, required=True)
    m.add_argument("--out", type=Path, required=True, help="output .npy file")
    m.add_argument("--tau", type=float, default=1.0)
    m.add_argument("--n-chains", type=int, default=1000)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--device", default="auto")
    add_config_arguments(m, MALAConfig)
    m.set_defaults(func=_mala)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lab molecules particles", description="Adjoint Sampling for particle systems."
    )
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (``python -m lab.molecules.particles.cli sample ...``, e.g. under
    torchrun); ``lab molecules particles ...`` is the same parser."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
