"""``lab molecules conformers train`` and ``lab molecules conformers generate``.

lab molecules conformers train --out runs/conformers [--n-train 300] [--epochs 100] [--export m.pt]
lab molecules conformers generate "CCOc1ccccc1C(=O)NCCN(C)C" -n 50 -o out.sdf [--model m.pt]
    [--relax] [--warm-start] [--stereo enumerate|base]
torchrun --nproc_per_node=2 -m lab.molecules.conformers.cli train --out runs/conf
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from lab.core import (
    add_config_arguments,
    cleanup_distributed,
    config_from_args,
    init_distributed,
    is_main,
    save_config,
    set_seed,
)

__all__ = ["main", "register"]


def _train(args: argparse.Namespace) -> int:
    from .data import MoleculeFilter, training_molecules
    from .sampler import TorsionalAdjointSampler, TorsionalConfig

    if args.paper and args.config_file is None:
        tmp = Path(tempfile.mkdtemp(prefix="lab-conformers-")) / "paper.json"
        args.config_file = str(save_config(TorsionalConfig.paper(), tmp))
    cfg = config_from_args(TorsionalConfig, args)
    info = init_distributed(device=args.device)
    set_seed(cfg.seed)
    filt = MoleculeFilter(max_heavy=args.max_heavy, max_torsions=args.max_torsions)
    molecules = training_molecules("train", args.n_train, path=args.smiles, filt=filt)
    sampler = TorsionalAdjointSampler(molecules, cfg, device=info.device)
    summary = sampler.fit(run_dir=args.out, resume=args.resume, time_limit=args.time_limit)
    summary["n_train"] = len(molecules)
    if is_main():
        if args.export is not None:
            sampler.export(
                args.export,
                command=" ".join(sys.argv),
                n_train=len(molecules),
                source=str(args.smiles or "rdkit/Data/NCI/first_5K.smi"),
            )
            summary["export"] = str(args.export)
        print(json.dumps(summary, indent=2))
    cleanup_distributed()
    return 0


def _generate(args: argparse.Namespace) -> int:
    from lab.core import get_device

    from .evaluation import clash_free, keeps_graph, write_sdf
    from .generate import generate_conformers
    from .mmff import mmff_energies

    set_seed(args.seed)
    mol = generate_conformers(
        args.smiles,
        args.n,
        model=args.model,
        relax=args.relax,
        warm_start=args.warm_start,
        stereo=args.stereo,
        max_isomers=args.max_isomers,
        n_steps=args.steps,
        seed=args.seed,
        reject_invalid=args.reject_invalid,
        integrator=args.integrator,
        device=get_device(args.device),
    )
    path = write_sdf(mol, args.output)
    e = mmff_energies(mol)
    summary: dict[str, Any] = {
        "smiles": args.smiles,
        "output": str(path),
        "n_conformers": mol.GetNumConformers(),
        "relaxed": bool(args.relax),
        "warm_start": bool(args.warm_start),
        "stereo": args.stereo,
        "stereoisomers": json.loads(mol.GetProp("stereoisomers"))
        if mol.HasProp("stereoisomers")
        else [],
        "mmff_energy_mean": float(np.mean(e)),
        "mmff_energy_min": float(np.min(e)),
        "keeps_graph": float(keeps_graph(mol).mean()),
        "clash_free": float(clash_free(mol).mean()),
    }
    print(json.dumps(summary, indent=2))
    return 0


def register(subparsers: Any) -> None:
    """Add ``train`` and ``generate`` to an argparse subparsers object (sets ``func`` on
    each)."""
    from .sampler import TorsionalConfig

    t = subparsers.add_parser(
        "train",
        help="train the torsional Adjoint Sampler on RDKit's bundled NCI molecules",
    )
    t.add_argument("--out", type=Path, required=True, help="run directory")
    t.add_argument("--n-train", type=int, default=300, help="training molecules (default 300)")
    t.add_argument(
        "--smiles", type=Path, default=None, help=".smi file (default: RDKit's NCI first_5K.smi)"
    )
    t.add_argument("--max-heavy", type=int, default=22, help="largest heavy-atom count")
    t.add_argument("--max-torsions", type=int, default=7, help="most rotatable torsions")
    t.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    t.add_argument("--time-limit", type=float, default=None, help="stop after N seconds")
    t.add_argument("--export", type=Path, default=None, help="write a small generation model")
    t.add_argument("--paper", action="store_true", help="the paper's (GPU) sizes")
    t.add_argument("--device", default="auto")
    add_config_arguments(t, TorsionalConfig)
    t.set_defaults(func=_train)
    g = subparsers.add_parser("generate", help="generate conformers of a SMILES into an SDF")
    g.add_argument("smiles", help="the molecule (SMILES)")
    g.add_argument("-n", type=int, default=50, help="number of conformers (default 50)")
    g.add_argument("-o", "--output", type=Path, required=True, help="output .sdf")
    g.add_argument("--model", type=Path, default=None, help="checkpoint (default: shipped)")
    g.add_argument("--relax", action="store_true", help="MMFF94-minimise each conformer")
    g.add_argument(
        "--warm-start",
        action="store_true",
        help="build each conformer on its own ETKDG conformer (bond lengths, angles, rings)",
    )
    g.add_argument(
        "--stereo",
        choices=("enumerate", "base"),
        default="enumerate",
        help="unassigned chiral centres / double bonds: spread the conformers over every "
        "stereoisomer (default) or keep the one base conformer's (the paper's scheme)",
    )
    g.add_argument("--max-isomers", type=int, default=32, help="most stereoisomers enumerated")
    g.add_argument("--steps", type=int, default=None, help="SDE steps (default: the model's)")
    g.add_argument(
        "--integrator",
        choices=("euler", "heun"),
        default=None,
        help="SDE integrator (default: the model's, euler for the shipped one)",
    )
    g.add_argument(
        "--reject-invalid",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="resample raw conformers that break the graph or clash (default: on)",
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto")
    g.set_defaults(func=_generate)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m lab.molecules.conformers.cli ...``, e.g. under torchrun)."""
    parser = argparse.ArgumentParser(prog="lab molecules conformers")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
