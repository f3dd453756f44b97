"""Run by test_sampler.py under torchrun (2 gloo processes): data-parallel Adjoint Sampling."""

from __future__ import annotations

import json
import sys

import torch

from lab.core import cleanup_distributed, init_distributed, rank, world_size
from lab.molecules import EGNNConfig
from lab.molecules.particles import AdjointSampler, AdjointSamplingConfig, HarmonicCluster

torch.set_num_threads(1)
info = init_distributed(device="cpu")
cfg = AdjointSamplingConfig(
    sigma_max=1.0,
    n_steps=10,
    epochs=2,
    samples_per_epoch=16,
    grad_steps_per_epoch=3,
    batch_size=16,
    egnn=EGNNConfig(hidden=8, n_layers=1),
)
sampler = AdjointSampler(HarmonicCluster(3, 2), cfg, device="cpu")
summary = sampler.fit(run_dir=sys.argv[1], show_progress=False)
flat = torch.cat([p.detach().reshape(-1) for p in sampler.model.parameters()])
out = {
    "rank": rank(),
    "world": world_size(),
    "buffer": len(sampler.buffer),
    "energy_evals": summary["energy_evals"],
    "grad_steps": summary["grad_steps"],
    "param_sum": float(flat.double().sum()),
    "first_x": float(sampler.buffer.x[0, 0]),
}
print("RESULT " + json.dumps(out), flush=True)
cleanup_distributed()
