"""TorsionalAdjointSampler and CartesianAdjointSampler: targets, buffers, resume, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lab.core import ConfigError
from lab.core.testing import assert_state_dicts_equal, run_torchrun, slow
from lab.molecules import EGNNConfig
from lab.molecules.conformers import (
    CartesianAdjointSampler,
    CartesianConfig,
    MMFFEnergy,
    MoleculeGraph,
    TorsionalAdjointSampler,
    TorsionalConfig,
    TorsionNetConfig,
    torsion_energy,
    wrapped_normal_score,
)

torch.set_num_threads(1)
TINY = TorsionalConfig(
    n_steps=5,
    eval_steps=5,
    net=TorsionNetConfig(hidden=8, n_layers=1, n_rbf=4, time_features=2),
    epochs=2,
    molecules_per_epoch=2,
    copies_per_molecule=4,
    grad_steps_per_epoch=3,
    batch_molecules=2,
    batch_copies=4,
    buffer_per_molecule=32,
)


@pytest.fixture(scope="module")
def mols() -> list[MoleculeGraph]:
    return [MoleculeGraph.from_smiles(s) for s in ("CCCCO", "CC(=O)NCCc1ccccc1", "COCCOC")]


def test_buffer_holds_the_torus_lean_adjoint(mols: list[MoleculeGraph]) -> None:
    s = TorsionalAdjointSampler(mols, TINY, device="cpu")
    summary = s.fit(show_progress=False)
    assert summary["epochs"] == 2 and summary["grad_steps"] == 6
    assert summary["energy_evals"] == 2 * 2 * 4
    assert sum(len(b) for b in s.buffers.values()) == 16
    idx, buf = next(iter(s.buffers.items()))
    g = mols[idx]
    phi = buf.x[: len(buf)].double()
    _, grad = torsion_energy(g, MMFFEnergy(g), phi)
    expected = (grad / TINY.tau).clamp(-200, 200) + wrapped_normal_score(phi, s.schedule.kappa1)
    assert torch.allclose(buf.adjoint[: len(buf)].double(), expected, rtol=1e-4, atol=1e-3)
    assert ((phi >= -torch.pi) & (phi < torch.pi)).all()


def test_rigid_training_molecules_are_rejected(mols: list[MoleculeGraph]) -> None:
    with pytest.raises(ConfigError, match="rotatable"):
        TorsionalAdjointSampler([*mols, MoleculeGraph.from_smiles("c1ccccc1")], TINY)


def test_resume_is_exact(mols: list[MoleculeGraph], tmp_path: Path) -> None:
    straight = TorsionalAdjointSampler(mols, TINY, device="cpu")
    straight.fit(show_progress=False)
    first = TorsionalAdjointSampler(mols, TINY, device="cpu")
    first.fit(epochs=1, run_dir=tmp_path / "run", show_progress=False)
    resumed = TorsionalAdjointSampler(mols, TINY, device="cpu")
    resumed.fit(run_dir=tmp_path / "run", resume=True, show_progress=False)
    assert resumed.epoch == 2
    assert_state_dicts_equal(resumed.model.state_dict(), straight.model.state_dict())
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]


def test_export_round_trip_reproduces_samples(mols: list[MoleculeGraph], tmp_path: Path) -> None:
    s = TorsionalAdjointSampler(mols, TINY, device="cpu")
    s.fit(show_progress=False)
    path = s.export(tmp_path / "m.pt", note="test")
    loaded = TorsionalAdjointSampler.from_checkpoint(path)
    assert loaded.train_smiles == s.train_smiles and loaded.config == s.config
    g = MoleculeGraph.from_smiles("CCOCCN")
    a = s.sample(g, 6, generator=torch.Generator().manual_seed(5))
    b = loaded.sample(g, 6, generator=torch.Generator().manual_seed(5))
    assert a.shape == (6, g.n_torsions) and torch.equal(a, b)
    rigid = loaded.sample(MoleculeGraph.from_smiles("c1ccccc1"), 3)
    assert rigid.shape == (3, 0)
    assert path.stat().st_size < 2_000_000


CART = CartesianConfig(
    n_steps=5,
    egnn=EGNNConfig(hidden=8, n_layers=1),
    epochs=2,
    molecules_per_epoch=2,
    copies_per_molecule=4,
    grad_steps_per_epoch=2,
    batch_molecules=2,
    batch_copies=4,
)


def test_cartesian_sampler_trains_and_samples_com_free(mols: list[MoleculeGraph]) -> None:
    s = CartesianAdjointSampler(mols[:2], CART, device="cpu")
    out = s.fit(show_progress=False)
    assert out["energy_evals"] == 16 and out["grad_steps"] == 4
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in s.history)
    x = s.sample(mols[0], 5)
    assert x.shape == (5, mols[0].n_atoms, 3)
    assert x.mean(1).abs().max() < 1e-5
    # the buffer's adjoint is centre-of-mass free and clipped per atom at 150 + |x|/kappa
    buf = next(iter(s.buffers.values()))
    a = buf.adjoint[: len(buf)].view(len(buf), -1, 3)
    assert a.sum(1).abs().max() < 1e-3


def test_cartesian_sampler_shares_the_checkpointed_loop(
    mols: list[MoleculeGraph], tmp_path: Path
) -> None:
    """The Cartesian sampler trains in the shared loop: checkpoints, exact resume, reload."""
    straight = CartesianAdjointSampler(mols[:2], CART, device="cpu")
    straight.fit(show_progress=False)
    first = CartesianAdjointSampler(mols[:2], CART, device="cpu")
    first.fit(epochs=1, run_dir=tmp_path / "run", show_progress=False)
    resumed = CartesianAdjointSampler(mols[:2], CART, device="cpu")
    resumed.fit(run_dir=tmp_path / "run", resume=True, show_progress=False)
    assert resumed.epoch == 2 and resumed.energy_evals == straight.energy_evals == 16
    assert_state_dicts_equal(resumed.model.state_dict(), straight.model.state_dict())
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    latest = sorted((tmp_path / "run" / "checkpoints").glob("step_*.pt"))[-1]
    loaded = CartesianAdjointSampler.from_checkpoint(latest, mols[:2], device="cpu")
    assert_state_dicts_equal(loaded.ema.state_dict(), resumed.ema.state_dict())
    gen = torch.Generator().manual_seed(3)
    a = loaded.sample(mols[0], 3, generator=gen)
    b = resumed.sample(mols[0], 3, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@slow
def test_torsional_training_under_torchrun(tmp_path: Path) -> None:
    script = Path(__file__).with_name("_conf_ddp_script.py")
    proc = run_torchrun(script, [str(tmp_path / "run")], nproc=2, timeout=300)
    rows = [json.loads(x[7:]) for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert sorted(r["rank"] for r in rows) == [0, 1]
    assert rows[0]["param_sum"] == pytest.approx(rows[1]["param_sum"], rel=1e-12)
    assert rows[0]["buffer_keys"] != rows[1]["buffer_keys"] or rows[0]["first"] != rows[1]["first"]


def test_torsional_heun_is_the_trapezoid_rule_in_time(mols: list[MoleculeGraph]) -> None:
    """With a control u(t) = t (no dependence on phi) and the same noise, Heun differs from
    Euler-Maruyama by exactly sum_k dk (t_{k+1} - t_k) / 2 (mod 2 pi); the base process does not
    depend on the integrator; an unknown integrator is refused."""
    from lab.molecules import GeometricNoiseSchedule, time_grid
    from lab.molecules.conformers import GraphBatch, simulate_torsions, wrap

    batch = GraphBatch(mols[:2], 3, device="cpu")
    sched = GeometricNoiseSchedule(0.0314, 3.14159)

    def control(t: torch.Tensor, phi: torch.Tensor, b: GraphBatch) -> torch.Tensor:
        return t[b.torsion_sample] if t.numel() > 1 else t.expand_as(phi)

    def run(integrator: str, ctrl: object) -> torch.Tensor:
        gen = torch.Generator().manual_seed(11)
        return simulate_torsions(
            ctrl, batch, sched, n_steps=12, generator=gen, integrator=integrator
        )

    ts = time_grid(12, "uniform", dtype=torch.float64)
    dk = sched.kappa(ts[1:]) - sched.kappa(ts[:-1])
    shift = float((dk * (ts[1:] - ts[:-1]) / 2).sum())
    gap = wrap(run("heun", control) - run("euler", control) - shift)
    assert gap.abs().max() < 1e-4
    assert torch.equal(run("heun", None), run("euler", None))
    with pytest.raises(ConfigError, match="integrator"):
        run("rk4", control)
