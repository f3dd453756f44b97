"""Adjoint Sampling on DW-4, LJ-13 and LJ-55 against MALA and the untrained base process.

For each system, in one run:

- Adjoint Sampling (AS) is trained with a CPU-sized config (``--paper``: the paper's sizes,
  for a GPU) and evaluated on fresh samples; samples per second after training are measured
  (a trained sampler's new samples cost no energy evaluations).
- MALA (named baseline) gets the SAME number of energy evaluations as AS's training, spread
  over parallel chains started on a lattice (half burn-in with step-size adaptation, then
  thinned samples).
- The base process (the SDE with zero control) shows where training starts.

Each is scored against the reference set: energy W2 (the paper's E-W2), interatomic-distance
W1, configuration W2 (Hungarian + Kabsch + exact OT on a subset), the virial E[x . grad E]
(exact value tau * d_eff), plus energy evaluations, gradient steps and wall time. DW-4 and
LJ-13 use ``$LABWORKS_DATA/particles``; LJ-55 uses a long MALA reference made here (saved
next to the JSON). A micro-benchmark compares our vectorised energy + gradient with a naive
per-pair loop (named baseline) and reports the speed ratio.

    python tools/bench/molecules_particles.py                 # CPU sizes, all three systems
    python tools/bench/molecules_particles.py --systems dw4   # one system
    python tools/bench/molecules_particles.py --paper --device cuda

    python tools/bench/molecules_particles.py --systems dw4 --checkpoint RUN/checkpoints/step_N.pt

Writes ``runs/bench/molecules_particles.json``; under ``runs/bench/molecules_particles/`` the
histograms, every method's evaluation samples (``<system>_adjoint_sampling.npy``,
``<system>_mala.npy``, ``<system>_base_process.npy``: any figure can be re-scored) and the
Adjoint Sampling run (``<system>_as_run/``: config, metrics.jsonl, final checkpoint).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lab.core import get_device, set_seed
from lab.molecules import simulate
from lab.molecules.particles import (
    AdjointSampler,
    AdjointSamplingConfig,
    MALAConfig,
    configuration_w2,
    energy_and_grad,
    energy_w2,
    interatomic_distance_w1,
    load_reference,
    make_energy,
    mala,
    virial,
)
from lab.molecules.particles.cli import EVAL_STEPS as CLI_EVAL_STEPS
from lab.molecules.particles.cli import start_configurations
from lab.molecules.particles.plots import distance_histogram, energy_histogram

#: CPU-sized Adjoint Sampling configs (each system < 15 min on 2 uncontended cores, 1 torch
#: thread): :meth:`AdjointSamplingConfig.cpu`, the defaults of ``lab molecules particles
#: sample`` (why they look as they do: its docstring and docs/benchmarks/molecules.md).
CPU_CONFIGS: dict[str, AdjointSamplingConfig] = {
    name: AdjointSamplingConfig.cpu(name) for name in ("dw4", "lj13", "lj55")
}
#: SDE steps used to draw the evaluation samples after training (DW-4: the paper's 200; a
#: trained sampler's steps cost no energy evaluations). ``None``: the training grid's steps.
EVAL_STEPS: dict[str, int | None] = {"dw4": CLI_EVAL_STEPS["dw4"], "lj13": None, "lj55": None}
#: Evaluation sizes per system on the CPU: samples drawn and the subset of the configuration W2
#: (55-particle Hungarian matchings dominate the LJ-55 run otherwise).
CPU_EVAL_SIZES: dict[str, tuple[int, int]] = {
    "dw4": (2000, 500),
    "lj13": (2000, 200),
    "lj55": (500, 50),
}
#: Paper's published E-W2 for Adjoint Sampling (3 seeds, 2,000 samples).
PAPER_EW2 = {"dw4": 0.55, "lj13": 2.40, "lj55": 30.83}
#: LJ-55 MALA reference: chains x steps (CPU) and the paper-size variant.
LJ55_REF_CPU = {"n_chains": 300, "n_steps": 2000}
LJ55_REF_PAPER = {"n_chains": 10000, "n_steps": 20000}


def naive_energy(name: str, x: torch.Tensor) -> torch.Tensor:
    """The named baseline: the same energy with a python loop over particle pairs."""
    e = make_energy(name)
    n, d = e.n_particles, e.dim
    xs = x.view(-1, n, d)
    total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            r = (xs[:, i] - xs[:, j]).norm(dim=-1)
            if name == "dw4":
                if j > i:
                    total = total + 0.9 * (r - 4) ** 4 - 4 * (r - 4) ** 2
            else:
                total = total + r**-12 - 2 * r**-6
    if name != "dw4":
        com = xs.mean(1, keepdim=True)
        for i in range(n):
            total = total + 0.5 * (xs[:, i] - com[:, 0]).pow(2).sum(-1)
    return total


def energy_speed(
    name: str, device: torch.device, batch: int = 512, reps: int = 5
) -> dict[str, float]:
    energy = make_energy(name).to(device)
    ref = start_configurations(name, energy, batch, device=device).double()
    fast = energy_and_grad(energy, ref)
    slow = energy_and_grad(lambda v: naive_energy(name, v), ref)
    assert torch.allclose(fast[0], slow[0], rtol=1e-9) and torch.allclose(
        fast[1], slow[1], rtol=1e-8, atol=1e-8
    )

    def timed(fn: Any) -> float:
        fn()
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t) / reps

    tv = timed(lambda: energy_and_grad(energy, ref))
    tn = timed(lambda: energy_and_grad(lambda v: naive_energy(name, v), ref))
    return {"batch": batch, "vectorised_s": tv, "naive_pair_loop_s": tn, "speedup": tn / tv}


def score(
    name: str, x: torch.Tensor, ref: torch.Tensor, w2_samples: int, seed: int
) -> dict[str, float]:
    energy = make_energy(name)
    x = x.detach().cpu().double()
    ok = torch.isfinite(energy(x))
    out: dict[str, float] = {"nonfinite": int((~ok).sum())}
    x = x[ok]
    n, d = energy.n_particles, energy.dim
    gen = torch.Generator().manual_seed(seed)
    out.update(
        energy_w2=energy_w2(energy(x), energy(ref)),
        distance_w1=interatomic_distance_w1(x, ref, n, d),
        configuration_w2=configuration_w2(x, ref, n, d, max_samples=w2_samples, generator=gen),
        virial=virial(energy, x),
        energy_mean=float(energy(x).mean()),
        energy_median=float(energy(x).median()),
        # share of samples above the reference's 99.9% energy quantile (e.g. colliding particles)
        high_energy_fraction=float(
            (energy(x) > torch.quantile(energy(ref), 0.999)).double().mean()
        ),
    )
    return out


def lj55_reference(
    out_dir: Path, device: torch.device, paper: bool, seed: int
) -> tuple[torch.Tensor, dict[str, Any]]:
    sizes = LJ55_REF_PAPER if paper else LJ55_REF_CPU
    path = out_dir / f"lj55_mala_reference_{sizes['n_chains']}x{sizes['n_steps']}.npy"
    info: dict[str, Any] = {"source": "MALA", **sizes, "file": str(path)}
    if path.is_file():
        info["reused"] = True
        return torch.from_numpy(np.load(path)).double(), info
    energy = make_energy("lj55").to(device)
    x0 = start_configurations("lj55", energy, sizes["n_chains"], device=device)
    cfg = MALAConfig(
        n_steps=sizes["n_steps"],
        burn_in=sizes["n_steps"] // 2,
        step_size=1e-4,
        thin=max(1, sizes["n_steps"] // 20),
    )
    t = time.perf_counter()
    res = mala(energy, x0, cfg, generator=torch.Generator(device=device).manual_seed(seed + 55))
    info.update(
        seconds=time.perf_counter() - t, accept_rate=res.accept_rate, energy_evals=res.energy_evals
    )
    x = res.samples.detach().cpu()
    np.save(path, x.numpy().astype(np.float32))
    e = make_energy("lj55")(x.double())
    info.update(
        n_samples=x.shape[0],
        energy_mean=float(e.mean()),
        energy_std=float(e.std()),
        virial=virial(make_energy("lj55"), x.double()),
        virial_expected=162.0,
    )
    return x.double(), info


def mala_equal_evals(
    name: str,
    energy: Any,
    budget: int,
    n_eval: int,
    seed: int,
    device: torch.device,
    *,
    progress: bool = False,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """MALA (the named baseline) with ``budget`` energy + gradient evaluations: parallel chains
    started on the lattice, half burn-in with step-size adaptation, thinned to ~``n_eval``."""
    n_chains = int(min(n_eval, max(16, budget // 200)))
    steps = max(2, budget // n_chains - 1)
    burn = steps // 2
    thin = max(1, (steps - burn) * n_chains // n_eval)
    mcfg = MALAConfig(
        n_steps=steps, burn_in=burn, step_size=1e-2 if name == "dw4" else 1e-4, thin=thin
    )
    t = time.perf_counter()
    x0 = start_configurations(name, energy.to(device), n_chains, device=device)
    res = mala(
        energy.to(device),
        x0,
        mcfg,
        generator=torch.Generator(device=device).manual_seed(seed + 2),
        show_progress=progress,
    )
    x = res.samples if res.samples.shape[0] else res.final
    return x, {
        "energy_evals": res.energy_evals,
        "grad_steps": 0,
        "wall_s": time.perf_counter() - t,
        "n_chains": n_chains,
        "n_steps": steps,
        "accept_rate": res.accept_rate,
        "n_samples": int(x.shape[0]),
    }


def run_system(
    name: str, args: argparse.Namespace, device: torch.device, out_dir: Path
) -> dict[str, Any]:
    seed = args.seed
    set_seed(seed)
    energy = make_energy(name)
    n, d = energy.n_particles, energy.dim
    row: dict[str, Any] = {"system": name}
    if name == "lj55":
        ref, row["reference"] = lj55_reference(out_dir, device, args.paper, seed)
    else:
        ref = load_reference(name, args.data_dir, dtype=torch.float64)
        row["reference"] = {"source": f"{name}_test.npy", "n_samples": ref.shape[0]}
    cfg = AdjointSamplingConfig.paper(name) if args.paper else CPU_CONFIGS[name]
    if args.epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=args.epochs)
    cfg = dataclasses.replace(cfg, seed=seed)
    if args.lr_schedule is not None:
        cfg = dataclasses.replace(cfg, lr_schedule=args.lr_schedule)
    if args.lr_min is not None:
        cfg = dataclasses.replace(cfg, lr_min=args.lr_min)
    row["config"] = dataclasses.asdict(cfg)
    n_eval_default, w2_default = (2000, 200) if args.paper else CPU_EVAL_SIZES[name]
    n_eval = args.n_samples or n_eval_default
    w2n = args.w2_samples or w2_default
    eval_steps = args.eval_steps or (None if args.paper else EVAL_STEPS[name])
    row["eval"] = {"n_samples": n_eval, "w2_samples": w2n, "sde_steps": eval_steps or cfg.n_steps}
    row["load_average_start"] = os.getloadavg()

    # ---- Adjoint Sampling: trained here (checkpoints in <out>/<name>_as_run/) or loaded
    if args.checkpoint is not None:
        sampler = AdjointSampler.from_checkpoint(args.checkpoint, energy, device=device)
        cfg = sampler.config
        row["config"] = dataclasses.asdict(cfg)
        row["checkpoint"] = str(args.checkpoint)
        summary = {"energy_evals": sampler.energy_evals, "grad_steps": sampler.grad_steps}
        train_s = math.nan
    else:
        sampler = AdjointSampler(energy, cfg, device=device)
        t = time.perf_counter()
        summary = sampler.fit(run_dir=out_dir / f"{name}_as_run", show_progress=args.progress)
        train_s = time.perf_counter() - t
        row["checkpoint"] = str(out_dir / f"{name}_as_run" / "checkpoints")
    row["eval"]["sde_steps"] = eval_steps or cfg.n_steps
    gen = torch.Generator(device=device).manual_seed(seed + 1)
    t = time.perf_counter()
    x_as = sampler.sample(n_eval, generator=gen, n_steps=eval_steps)
    sample_s = time.perf_counter() - t
    t = time.perf_counter()
    np.save(out_dir / f"{name}_adjoint_sampling.npy", x_as.cpu().numpy())
    as_scores = score(name, x_as, ref, w2n, seed)
    row["scoring_s"] = time.perf_counter() - t
    row["adjoint_sampling"] = {
        **as_scores,
        "energy_evals": summary["energy_evals"],
        "grad_steps": summary["grad_steps"],
        "wall_s": train_s,
        "samples_per_s_after_training": n_eval / sample_s,
        "sampling_s": sample_s,
    }
    budget = summary["energy_evals"]

    # ---- MALA at the same number of energy evaluations
    x_mala, row["mala"] = mala_equal_evals(
        name, energy, budget, n_eval, seed, device, progress=args.progress
    )
    np.save(out_dir / f"{name}_mala.npy", x_mala.cpu().numpy())
    row["mala"] = {**score(name, x_mala, ref, w2n, seed), **row["mala"]}

    # ---- untrained base process
    t = time.perf_counter()
    x_base = simulate(
        None,
        sampler.schedule,
        n_samples=n_eval,
        n_particles=n,
        dim=d,
        n_steps=cfg.n_steps,
        grid=cfg.time_grid,
        generator=gen,
        device=device,
    )
    base_s = time.perf_counter() - t
    np.save(out_dir / f"{name}_base_process.npy", x_base.cpu().numpy())
    row["samples"] = {
        k: str(out_dir / f"{name}_{k}.npy") for k in ("adjoint_sampling", "mala", "base_process")
    }
    row["base_process"] = {
        **score(name, x_base, ref, w2n, seed),
        "energy_evals": 0,
        "grad_steps": 0,
        "wall_s": base_s,
    }

    row["virial_expected"] = energy.tau * energy.d_eff(True)
    row["ratio_energy_w2_as_over_mala"] = (
        row["adjoint_sampling"]["energy_w2"] / row["mala"]["energy_w2"]
    )
    row["paper_energy_w2"] = PAPER_EW2[name]
    row["energy_speed"] = energy_speed(name, device)
    e = energy.to("cpu")
    sets = {
        "adjoint sampling": x_as.cpu().double(),
        "MALA (equal evals)": x_mala.cpu().double(),
        "reference": ref,
    }
    energy_histogram(
        out_dir / f"{name}_energy.png",
        {k: e(v)[torch.isfinite(e(v))] for k, v in sets.items()},
        title=f"{name}: energies",
    )
    distance_histogram(
        out_dir / f"{name}_distances.png", sets, n, d, title=f"{name}: interatomic distances"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--systems", nargs="+", default=["dw4", "lj13", "lj55"], choices=["dw4", "lj13", "lj55"]
    )
    parser.add_argument("--paper", action="store_true", help="the paper's sizes (GPU)")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--data-dir", default=None, help="particles folder (default $LABWORKS_DATA/particles)"
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="override the epochs of the config"
    )
    parser.add_argument(
        "--n-samples", type=int, default=None, help="evaluation samples (CPU: 2000, LJ-55 500)"
    )
    parser.add_argument("--w2-samples", type=int, default=None, help="subset for configuration W2")
    parser.add_argument(
        "--eval-steps", type=int, default=None, help="SDE steps of the evaluation samples"
    )
    parser.add_argument(
        "--lr-schedule",
        choices=["constant", "cosine", "linear"],
        default=None,
        help="override the learning-rate schedule of the config (decays from lr to --lr-min)",
    )
    parser.add_argument(
        "--lr-min", type=float, default=None, help="override the final lr of a decaying schedule"
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="score this Adjoint Sampling checkpoint instead of training (one system); MALA "
        "gets the checkpoint's energy evaluations",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/molecules_particles.json"))
    args = parser.parse_args()
    if args.checkpoint is not None and len(args.systems) != 1:
        parser.error("--checkpoint scores one system: pass --systems NAME")
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    out_dir = args.out.with_suffix("")
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    if args.out.is_file():  # keep other systems' rows from an earlier run
        results = json.loads(args.out.read_text()).get("systems", {})
    for name in args.systems:
        t, c = time.perf_counter(), time.process_time()
        row = run_system(name, args, device, out_dir)
        row["total_wall_s"] = time.perf_counter() - t
        # CPU seconds of this process: on a shared machine, with one torch thread, the honest
        # estimate of the wall time on an idle core
        row["total_cpu_s"] = time.process_time() - c
        row["load_average_end"] = os.getloadavg()
        results[name] = row
        payload = {
            "device": str(device),
            "torch": torch.__version__,
            "threads": args.threads,
            "paper_sizes": args.paper,
            "cpu_count": os.cpu_count(),
            "systems": results,
        }
        args.out.write_text(json.dumps(payload, indent=2, default=float) + "\n")
        a, m, b = row["adjoint_sampling"], row["mala"], row["base_process"]
        print(
            f"[{name}] {row['total_wall_s']:.0f}s  E-W2: AS {a['energy_w2']:.3g} | MALA {m['energy_w2']:.3g} | "
            f"base {b['energy_w2']:.3g} (paper AS {row['paper_energy_w2']})  dist-W1: AS {a['distance_w1']:.3g} | "
            f"MALA {m['distance_w1']:.3g}  conf-W2: AS {a['configuration_w2']:.3g} | MALA {m['configuration_w2']:.3g}  "
            f"virial: AS {a['virial']:.3g} MALA {m['virial']:.3g} (exact {row['virial_expected']})  "
            f"evals {a['energy_evals']}  energy speedup x{row['energy_speed']['speedup']:.1f}",
            flush=True,
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
