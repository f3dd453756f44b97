"""Run by test_conf_sampler.py under torchrun (2 gloo processes)."""

from __future__ import annotations

import json
import sys

import torch

from lab.core import cleanup_distributed, init_distributed, rank
from lab.molecules.conformers import (
    MoleculeGraph,
    TorsionalAdjointSampler,
    TorsionalConfig,
    TorsionNetConfig,
)

torch.set_num_threads(1)
init_distributed(device="cpu")
cfg = TorsionalConfig(
    n_steps=4,
    net=TorsionNetConfig(hidden=8, n_layers=1, n_rbf=4, time_features=2),
    epochs=2,
    molecules_per_epoch=4,
    copies_per_molecule=2,
    grad_steps_per_epoch=2,
    batch_molecules=2,
    batch_copies=2,
)
mols = [MoleculeGraph.from_smiles(s) for s in ("CCCCO", "COCCOC", "CCNCCO", "CCOCC")]
s = TorsionalAdjointSampler(mols, cfg, device="cpu")
s.fit(run_dir=sys.argv[1], show_progress=False)
flat = torch.cat([p.detach().reshape(-1) for p in s.model.parameters()])
first = next(iter(s.buffers.values())).x[0].tolist()
out = {
    "rank": rank(),
    "param_sum": float(flat.double().sum()),
    "buffer_keys": sorted(s.buffers),
    "first": first,
}
print("RESULT " + json.dumps(out), flush=True)
cleanup_distributed()
