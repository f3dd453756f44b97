"""Check the DW-4 reference file against long MALA, and where the shipped model's error lies.

The distance-W1 target of issue 20 is scored against ``dw4_test.npy``. This benchmark asks
whether that file is the DW-4 Boltzmann density at tau = 1 and how the shipped Adjoint
Sampling model (``--pretrained dw4``) differs from it:

1. The file (and ``dw4_val.npy``): mean energy, virial ``E[x . grad E]`` (exact: tau x 6 on
   the centre-of-mass-free space) and the fraction of particle pairs closer than 4 (the
   short-distance mode of the pair potential), each with its naive SE.
2. MALA (``lab.molecules.mala``) with ``--chains`` chains from each of three starts (a
   square of side 2.5, 4 and 5.5: every pair short, mixed, every pair long), ``--steps``
   steps of which ``--burn-in`` adapt the step size; the same statistics for the whole run
   and for the first and second halves of the kept samples (a drift between halves means the
   chains have not mixed between the modes).
3. Energy W2 and interatomic-distance W1 of the pooled MALA samples, of ``dw4_val.npy`` and
   of 2,000 samples of the shipped model (200 SDE steps) against the file and against the
   pooled MALA samples.

    python tools/bench/molecules_dw4_reference.py --out runs/bench/molecules_dw4_reference.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from lab.core import set_seed
from lab.molecules.particles import AdjointSampler, MALAConfig, mala
from lab.molecules.particles.data import lattice_start, load_reference
from lab.molecules.particles.energies import DoubleWell, energy_and_grad
from lab.molecules.particles.metrics import (
    energy_w2,
    interatomic_distance_w1,
    pair_fraction_below,
)
from lab.molecules.particles.pretrained import pretrained_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def describe(energy: DoubleWell, x: torch.Tensor) -> dict[str, float]:
    """Mean energy, virial and short-pair fraction, each with its naive (i.i.d.) SE."""
    x = x.double()
    e, g = energy_and_grad(energy, x)
    v = (x * g).sum(-1)
    short = pair_fraction_below(x, 4, 2, 4.0)
    n = x.shape[0]
    out = {"n": n}
    for name, t in (("energy", e), ("virial", v), ("short_pairs", short)):
        out[name] = float(t.mean())
        out[name + "_se"] = float(t.std() / n**0.5)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--chains", type=int, default=1000, help="MALA chains per start")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--burn-in", type=int, default=2000)
    p.add_argument("--thin", type=int, default=40)
    p.add_argument("--n-model", type=int, default=2000, help="samples of the shipped model")
    p.add_argument("--eval-steps", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=None, help="particles folder (LABWORKS_DATA)")
    p.add_argument(
        "--out", type=Path, default=ROOT / "runs" / "bench" / "molecules_dw4_reference.json"
    )
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    set_seed(args.seed)
    start = time.perf_counter()
    energy = DoubleWell().double()
    ref = load_reference("dw4", args.data, dtype=torch.float64)
    val = load_reference("dw4_val", args.data, dtype=torch.float64)
    res: dict = {"file_test": describe(energy, ref), "file_val": describe(energy, val)}
    pools = []
    for k, spacing in enumerate((2.5, 4.0, 5.5)):
        g = torch.Generator().manual_seed(args.seed * 100 + k + 1)
        x0 = lattice_start(args.chains, 4, 2, spacing=spacing, generator=g, dtype=torch.float64)
        r = mala(
            energy,
            x0,
            MALAConfig(n_steps=args.steps, burn_in=args.burn_in, step_size=1e-2, thin=args.thin),
            generator=g,
        )
        half = r.samples.shape[0] // 2
        res[f"mala_start_{spacing}"] = {
            "accept_rate": r.accept_rate,
            "all": describe(energy, r.samples),
            "first_half": describe(energy, r.samples[:half]),
            "second_half": describe(energy, r.samples[half:]),
        }
        pools.append(r.samples)
    pool = torch.cat(pools)
    perm = torch.randperm(pool.shape[0], generator=torch.Generator().manual_seed(args.seed))
    mala_ref, mala_other = pool[perm[: pool.shape[0] // 2]], pool[perm[pool.shape[0] // 2 :]]
    sampler = AdjointSampler.from_checkpoint(pretrained_checkpoint("dw4"), DoubleWell())
    model = sampler.sample(
        args.n_model,
        n_steps=args.eval_steps,
        generator=torch.Generator().manual_seed(args.seed),
    ).double()
    res["shipped_model"] = describe(energy, model)
    scores = {}
    for name, x in (
        ("shipped model", model),
        ("dw4_val.npy", val[: args.n_model]),
        ("MALA pool", mala_other[: args.n_model]),
    ):
        for rname, r_ in (("dw4_test.npy", ref), ("MALA pool", mala_ref)):
            if name == rname:
                continue
            scores[f"{name} vs {rname}"] = {
                "energy_w2": energy_w2(energy(x), energy(r_)),
                "distance_w1": interatomic_distance_w1(x.float(), r_.float(), 4, 2),
            }
    res["scores"] = scores
    res.update(
        command="python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        load=os.getloadavg(),
        machine=platform.platform(),
        seconds_total=time.perf_counter() - start,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
