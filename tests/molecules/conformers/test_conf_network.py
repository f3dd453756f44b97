"""Control networks: periodicity, packing consistency, Cartesian equivariance, the regulariser."""

from __future__ import annotations

import math

import pytest
import torch

from lab.molecules import EGNNConfig, random_orthogonal
from lab.molecules.conformers import (
    GraphBatch,
    GraphEGNN,
    MoleculeGraph,
    TorsionControlNet,
    TorsionNetConfig,
    bond_length_penalty,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def graphs() -> list[MoleculeGraph]:
    return [MoleculeGraph.from_smiles("CCCCO"), MoleculeGraph.from_smiles("CC(=O)Nc1ccc(CCO)cc1")]


def _net() -> TorsionControlNet:
    torch.manual_seed(0)
    net = TorsionControlNet(TorsionNetConfig(hidden=16, n_layers=2, out_gain=1.0))
    return net.double()


def test_control_is_invariant_to_two_pi_shifts(graphs: list[MoleculeGraph]) -> None:
    net = _net()
    batch = GraphBatch(graphs, [3, 2])
    gen = torch.Generator().manual_seed(0)
    phi = torch.randn(batch.n_torsions, generator=gen, dtype=torch.float64)
    k = torch.randint(-3, 4, phi.shape, generator=gen).double()
    t = torch.rand(batch.n_samples, generator=gen, dtype=torch.float64)
    u = net(t, phi, batch)
    assert u.shape == (batch.n_torsions,)
    assert torch.allclose(net(t, phi + 2 * math.pi * k, batch), u, atol=1e-9)
    assert not torch.allclose(net(t, phi + 0.5, batch), u, atol=1e-6)  # it does see phi


def test_packed_batch_equals_separate_molecules(graphs: list[MoleculeGraph]) -> None:
    net = _net()
    batch = GraphBatch(graphs, [2, 3])
    phi = torch.randn(batch.n_torsions, dtype=torch.float64)
    t = torch.rand(batch.n_samples, dtype=torch.float64)
    u = batch.split(net(t, phi, batch))
    parts = batch.split(phi)
    for m, g in enumerate(graphs):
        single = GraphBatch([g], batch.copies[m])
        ts = t[:2] if m == 0 else t[2:]
        assert torch.allclose(net(ts, parts[m].reshape(-1), single), u[m].reshape(-1), atol=1e-10)


def test_graph_egnn_is_rotation_equivariant_and_com_free(graphs: list[MoleculeGraph]) -> None:
    g = graphs[1]
    torch.manual_seed(0)
    net = GraphEGNN(EGNNConfig(hidden=16, n_layers=2, out_gain=1.0)).double()
    x = torch.randn(3, g.n_atoms * 3, dtype=torch.float64)
    t = torch.rand(3, dtype=torch.float64)
    v = net(t, x, g).view(3, g.n_atoms, 3)
    q = random_orthogonal(3, generator=torch.Generator().manual_seed(2)).double()
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    xr = (x.view(3, g.n_atoms, 3) @ q.T + shift).reshape(3, -1)
    vr = net(t, xr, g).view(3, g.n_atoms, 3)
    assert torch.allclose(vr, v @ q.T, atol=1e-9)
    assert v.sum(1).abs().max() < 1e-9
    assert v.abs().max() > 1e-6


def test_bond_penalty_is_zero_in_tolerance_and_closed_form_outside() -> None:
    g = MoleculeGraph.from_smiles("CCO")
    x = g.coords0.unsqueeze(0).clone()
    assert bond_length_penalty(g, x).item() == 0.0
    # stretch the O-H bond by 0.3 A along the bond: penalty = w * (0.3 - tol)^2
    i, j = next(
        (a, b)
        for a, b in g.bond_index.tolist()
        if {g.mol.GetAtomWithIdx(a).GetSymbol(), g.mol.GetAtomWithIdx(b).GetSymbol()} == {"O", "H"}
    )
    h, o = (j, i) if g.mol.GetAtomWithIdx(j).GetSymbol() == "H" else (i, j)
    u = (x[0, h] - x[0, o]) / (x[0, h] - x[0, o]).norm()
    x[0, h] += 0.3 * u
    val = bond_length_penalty(g, x, tolerance=0.1, weight=100.0).item()
    assert val == pytest.approx(100.0 * 0.2**2, rel=1e-9)
