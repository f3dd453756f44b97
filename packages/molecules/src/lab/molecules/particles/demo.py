"""``lab demo`` entry: a small Adjoint Sampler on DW-4, trained on a CPU in well under a minute."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from lab.core.report import DemoResult, demo_size

from ..egnn import EGNNConfig
from ..sde import simulate
from .cli import reference_samples, start_configurations
from .energies import DoubleWell
from .mala import MALAConfig, mala
from .metrics import energy_w2, interatomic_distance_w1
from .plots import distance_histogram, energy_histogram
from .sampler import AdjointSampler, AdjointSamplingConfig

__all__ = ["DEMO_CONFIG", "demo"]

#: The demo's sampler: 2 EGNN layers of width 32, 30 epochs of 64 energy calls and 20 steps.
DEMO_CONFIG = AdjointSamplingConfig(
    n_steps=50,
    egnn=EGNNConfig(hidden=32, n_layers=2),
    epochs=30,
    samples_per_epoch=64,
    grad_steps_per_epoch=20,
    batch_size=128,
    lr=3e-3,
    ema_decay=0.95,
)


def demo(out_dir: Path, *, device: torch.device, seed: int) -> DemoResult:
    """Train a small sampler on DW-4 and compare its energies with the reference and the base
    process (the untrained SDE); the reference is ``$LABWORKS_DATA/particles/dw4_test.npy``
    when present, else MALA chains."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    energy = DoubleWell()
    tiny = demo_size() == "tiny"  # `lab demo --size tiny`: a seconds-long smoke run
    overrides = {"epochs": 3, "grad_steps_per_epoch": 5, "n_steps": 20} if tiny else {}
    config = AdjointSamplingConfig(**{**DEMO_CONFIG.__dict__, "seed": seed, **overrides})
    n_draw = 300 if tiny else 2000
    start = time.perf_counter()
    sampler = AdjointSampler(energy, config, device=device)
    summary = sampler.fit(show_progress=False)
    gen = torch.Generator(device=sampler.device).manual_seed(seed + 1)
    x = sampler.sample(n_draw, generator=gen).cpu().double()
    base = (
        simulate(
            None,
            sampler.schedule,
            n_samples=n_draw,
            n_particles=4,
            dim=2,
            n_steps=config.n_steps,
            generator=gen,
            device=sampler.device,
        )
        .cpu()
        .double()
    )
    reference = reference_samples("dw4", energy)
    source = "dw4_test.npy"
    if reference is None:
        n_chains, n_mala = (50, 100) if tiny else (400, 600)
        source = f"MALA ({n_chains} chains x {n_mala} steps)"
        chains = start_configurations("dw4", energy, n_chains, device="cpu")
        res = mala(
            energy,
            chains,
            MALAConfig(
                n_steps=n_mala, burn_in=n_mala // 2, step_size=1e-2, thin=10 if tiny else 30
            ),
            generator=torch.Generator().manual_seed(seed),
            show_progress=False,
        )
        reference = res.samples
    reference = reference.double()
    energy = energy.to("cpu")
    e_as, e_base, e_ref = energy(x), energy(base), energy(reference)
    metrics = {
        "energy_w2": energy_w2(e_as, e_ref),
        "energy_w2_base": energy_w2(e_base, e_ref),
        "distance_w1": interatomic_distance_w1(x, reference, 4, 2),
        "distance_w1_base": interatomic_distance_w1(base, reference, 4, 2),
        "energy_evals": summary["energy_evals"],
        "grad_steps": summary["grad_steps"],
        "train_seconds": summary["seconds"],
    }
    plots = [
        energy_histogram(
            out_dir / "dw4_energy.png",
            {"adjoint sampling": e_as, "reference": e_ref, "base process": e_base},
            title="DW-4 energies",
        ),
        distance_histogram(
            out_dir / "dw4_distances.png",
            {"adjoint sampling": x, "reference": reference},
            4,
            2,
            title="DW-4 interatomic distances",
        ),
    ]
    text = (
        f"Adjoint Sampling on DW-4 ({summary['energy_evals']} energy evaluations, "
        f"{summary['grad_steps']} gradient steps, {time.perf_counter() - start:.0f}s): energy W2 "
        f"{metrics['energy_w2']:.2f} vs {metrics['energy_w2_base']:.2f} for the untrained base "
        f"process; reference: {source}. A tiny network and budget: the paper's 0.55 needs the "
        "full-size run (tools/bench/molecules_particles.py --paper)."
    )
    return DemoResult(title="Adjoint Sampling on DW-4", metrics=metrics, plots=plots, summary=text)
