"""AdjointSampler: learns a closed-form target, resumes exactly, counts, handles bad energies."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from lab.core import ConfigError, DataError, RunDir
from lab.core.testing import assert_state_dicts_equal, device_params, run_torchrun
from lab.molecules import EGNNConfig
from lab.molecules.particles import (
    AdjointSampler,
    AdjointSamplingConfig,
    CallableEnergy,
    HarmonicCluster,
    IsotropicGaussian,
    NonFiniteEnergyError,
)
from lab.molecules.particles.sampler import lr_factor

torch.set_num_threads(1)
TINY = AdjointSamplingConfig(
    sigma_max=1.0,
    n_steps=10,
    epochs=4,
    samples_per_epoch=16,
    grad_steps_per_epoch=3,
    batch_size=16,
    checkpoint_every=2,
    egnn=EGNNConfig(hidden=8, n_layers=1),
)


@pytest.mark.parametrize("device", device_params)
def test_short_fit_on_a_gaussian_matches_the_covariance(device: str) -> None:
    target = IsotropicGaussian(4, 3, sigma=0.5)
    cfg = AdjointSamplingConfig(
        sigma_max=1.0,
        n_steps=40,
        epochs=10,
        samples_per_epoch=64,
        grad_steps_per_epoch=20,
        batch_size=64,
        lr=3e-3,
        ema_decay=0.9,
        egnn=EGNNConfig(hidden=16, n_layers=1),
    )
    sampler = AdjointSampler(target, cfg, device=device)
    base = (
        sampler.sample(4000, generator=torch.Generator(device=device).manual_seed(3)).double().cpu()
    )
    truth = target.exact_covariance()
    base_err = ((torch.cov(base.T) - truth).norm() / truth.norm()).item()
    summary = sampler.fit(show_progress=False)
    assert summary["energy_evals"] == 10 * 64 and summary["grad_steps"] == 10 * 20
    x = sampler.sample(4000, generator=torch.Generator(device=device).manual_seed(3)).double().cpu()
    err = ((torch.cov(x.T) - truth).norm() / truth.norm()).item()
    assert base_err > 2.0  # the untrained process is far from the target (kappa1 ~ 1 vs 0.25)
    assert err < 0.10


def test_lr_schedule_values() -> None:
    # constant: the base rate at every step (the default, as before schedules existed)
    assert [lr_factor(s, 10) for s in (0, 5, 9, 20)] == [1.0, 1.0, 1.0, 1.0]
    # cosine from 3e-3 to 1e-4 over 10 steps: closed form at the ends, the middle and a quarter
    lr, lo = 3e-3, 1e-4
    cos = [lr * lr_factor(s, 10, schedule="cosine", lr=lr, lr_min=lo) for s in range(12)]
    assert cos[0] == pytest.approx(lr) and cos[5] == pytest.approx((lr + lo) / 2)
    assert cos[10] == pytest.approx(lo) and cos[11] == pytest.approx(lo)  # held beyond the end
    assert cos[2] == pytest.approx(lo + (lr - lo) * 0.5 * (1 + math.cos(math.pi * 0.2)))
    assert all(a > b for a, b in itertools.pairwise(cos[:11]))
    lin = [lr * lr_factor(s, 10, schedule="linear", lr=lr, lr_min=lo) for s in range(11)]
    assert lin[4] == pytest.approx(lr - (lr - lo) * 0.4) and lin[10] == pytest.approx(lo)
    # warm-up: linear ramp to the peak, then the decay over the remaining steps
    warm = [lr_factor(s, 12, schedule="cosine", lr=1.0, warmup_steps=4) for s in range(13)]
    assert warm[:5] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    assert warm[8] == pytest.approx(0.5) and warm[12] == pytest.approx(0.0)
    with pytest.raises(ConfigError, match="'step'"):
        lr_factor(0, 10, schedule="step")
    with pytest.raises(ConfigError, match="lr_schedule"):
        AdjointSamplingConfig(lr_schedule="exponential")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="lr_min"):
        AdjointSamplingConfig(lr=1e-3, lr_min=2e-3)
    # the sampler's optimiser follows the schedule, one scheduler step per gradient step
    cfg = AdjointSamplingConfig(**{**TINY.__dict__, "lr": 2e-3, "lr_schedule": "linear"})
    sampler = AdjointSampler(HarmonicCluster(3, 2), cfg, device="cpu")
    sampler.fit(epochs=2, show_progress=False)  # 6 of 12 steps: halfway down to lr_min=0
    assert sampler.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert [r["lr"] for r in sampler.history] == pytest.approx([2e-3 * 3 / 4, 1e-3])


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_resume_continues_identically(tmp_path: Path, schedule: str) -> None:
    energy = HarmonicCluster(3, 2)
    cfg = AdjointSamplingConfig(**{**TINY.__dict__, "lr_schedule": schedule, "lr_min": 1e-4})
    full = AdjointSampler(energy, cfg, device="cpu")
    full.fit(run_dir=RunDir.create("full", root=tmp_path), show_progress=False)
    run = RunDir.create("split", root=tmp_path)
    first = AdjointSampler(energy, cfg, device="cpu")
    first.fit(epochs=2, run_dir=run, show_progress=False)
    assert run.latest_checkpoint() is not None and run.latest_checkpoint().name.endswith("2.pt")
    second = AdjointSampler(energy, cfg, device="cpu")
    summary = second.fit(run_dir=run, resume=True, show_progress=False)
    # the scheduler resumed where it stopped (a fresh one would restart at the peak rate)
    assert second.lr_scheduler.last_epoch == full.lr_scheduler.last_epoch == 12
    assert second.optimizer.param_groups[0]["lr"] == full.optimizer.param_groups[0]["lr"]
    if schedule == "cosine":
        assert full.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
        assert [r["lr"] for r in run.metrics()] == [r["lr"] for r in full.history]
    assert summary["epochs"] == 4 and summary["energy_evals"] == full.energy_evals
    assert_state_dicts_equal(second.model.state_dict(), full.model.state_dict())
    assert_state_dicts_equal(second.ema.state_dict(), full.ema.state_dict())
    assert torch.equal(second.buffer.x, full.buffer.x)
    rows = list(run.metrics())
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    loaded = AdjointSampler.from_checkpoint(run.latest_checkpoint(), energy, device="cpu")
    assert_state_dicts_equal(loaded.ema.state_dict(), full.ema.state_dict())
    assert loaded.config.lr_schedule == schedule


def _blows_up(x: torch.Tensor) -> torch.Tensor:
    e = x.pow(2).sum(-1)
    return torch.where(x[:, 0] > 0.3, torch.full_like(e, math.nan), e)


def test_nonfinite_energies_raise_or_are_skipped_and_counted() -> None:
    energy = CallableEnergy(_blows_up, 3, 2, translation_invariant=False)
    with pytest.raises(NonFiniteEnergyError, match=r"of 16 configurations have a non-finite"):
        AdjointSampler(energy, TINY, device="cpu").fit(epochs=1, show_progress=False)
    cfg = AdjointSamplingConfig(**{**TINY.__dict__, "on_nonfinite": "skip"})
    sampler = AdjointSampler(energy, cfg, device="cpu")
    sampler.fit(epochs=2, show_progress=False)
    skipped = sampler.nonfinite_skipped
    assert 0 < skipped < 32 and len(sampler.buffer) == 32 - skipped
    assert sampler.history[-1]["nonfinite_skipped"] == skipped


def test_config_validation_and_paper_sizes() -> None:
    with pytest.raises(ConfigError, match="samples_per_epoch"):
        AdjointSamplingConfig(samples_per_epoch=0)
    with pytest.raises(ConfigError, match="sigma_min"):
        AdjointSamplingConfig(sigma_min=3.0, sigma_max=2.0)
    paper = AdjointSamplingConfig.paper("lj13")
    assert (
        paper.egnn.n_layers,
        paper.egnn.hidden,
        paper.samples_per_epoch,
        paper.grad_steps_per_epoch,
        paper.n_steps,
        paper.lr,
    ) == (5, 128, 512, 100, 1000, 1e-4)
    with pytest.raises(ConfigError, match=r"must be a lab\.molecules ParticleEnergy"):
        AdjointSampler(lambda x: x.sum(-1), TINY)  # type: ignore[arg-type]


def test_data_parallel_under_torchrun(tmp_path: Path) -> None:
    script = Path(__file__).with_name("_ddp_script.py")
    proc = run_torchrun(script, [str(tmp_path / "run")], nproc=2, timeout=240)
    rows = [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert sorted(r["rank"] for r in rows) == [0, 1] and all(r["world"] == 2 for r in rows)
    # each rank simulated its half of the 16 samples per epoch into its own buffer
    assert all(r["buffer"] == 16 for r in rows) and all(r["energy_evals"] == 32 for r in rows)
    assert rows[0]["first_x"] != rows[1]["first_x"]  # different noise on each rank
    assert rows[0]["param_sum"] == pytest.approx(rows[1]["param_sum"], rel=1e-12)  # all-reduced
    ckpts = sorted((tmp_path / "run" / "checkpoints").glob("step_*.pt"))
    ranks = sorted((tmp_path / "run" / "checkpoints" / "ranks").glob("*.pt"))
    assert len(ckpts) == 1 and len(ranks) == 2


def test_checkpoint_without_scheduler_state_still_resumes(tmp_path: Path) -> None:
    # checkpoints written before lr schedules existed hold ``scheduler: None``
    energy = HarmonicCluster(3, 2)
    run = RunDir.create("old", root=tmp_path)
    AdjointSampler(energy, TINY, device="cpu").fit(epochs=2, run_dir=run, show_progress=False)
    path = run.latest_checkpoint()
    payload = torch.load(path, weights_only=True)
    payload["scheduler"] = None
    torch.save(payload, path)
    resumed = AdjointSampler(energy, TINY, device="cpu")
    assert resumed.fit(run_dir=run, resume=True, show_progress=False)["epochs"] == 4
    cosine = AdjointSampler(
        energy, AdjointSamplingConfig(**{**TINY.__dict__, "lr_schedule": "cosine"})
    )
    with pytest.raises(DataError, match="no scheduler state"):
        cosine.load(path)


def test_export_is_a_small_sampling_checkpoint(tmp_path: Path) -> None:
    energy = HarmonicCluster(3, 2)
    sampler = AdjointSampler(energy, TINY, device="cpu")
    sampler.fit(epochs=1, show_progress=False)
    path = sampler.export(tmp_path / "m.pt", command="lab ...")
    again = AdjointSampler.from_checkpoint(path, energy, device="cpu")
    assert again.energy_evals == sampler.energy_evals and again.epoch == 1
    a = sampler.sample(8, generator=torch.Generator().manual_seed(0))
    b = again.sample(8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    payload = torch.load(path, weights_only=True)
    assert payload["optimizer"] is None and payload["extra"]["provenance"]["command"] == "lab ..."


def test_the_shared_training_loop_requires_its_hooks() -> None:
    """AdjointTrainer is abstract: a sampler that leaves out a hook cannot be built."""
    from lab.molecules.training import AdjointTrainer

    class Incomplete(AdjointTrainer):
        def _simulate_epoch(self) -> dict[str, float]:
            return {}

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]
