import json
import random

import numpy as np
import pytest
import torch

from lab.core import DataError, RunDir, load_checkpoint, save_checkpoint, set_seed
from lab.core._rundir import interrupted_message
from lab.core.testing import assert_state_dicts_equal


def _make():
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    return model, opt, sched


def _step(model, opt, sched):
    # every source of randomness a real loop uses: torch (data + dropout), numpy, python
    x = torch.randn(8, 4)
    noise = float(np.random.randn()) + random.random()
    y = x.sum(1, keepdim=True) + noise
    loss = ((model(x) - y) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()


def test_resume_is_bit_exact(tmp_path):
    set_seed(0)
    model, opt, sched = _make()
    for _ in range(10):
        _step(model, opt, sched)
    reference = {k: v.clone() for k, v in model.state_dict().items()}

    set_seed(0)
    model, opt, sched = _make()
    for _ in range(4):
        _step(model, opt, sched)
    path = save_checkpoint(
        tmp_path / "ck.pt",
        model=model,
        optimizer=opt,
        scheduler=sched,
        step=4,
        extra={"best": 1.5, "history": [1, 2]},
    )
    # scramble everything: a new process would start from other states
    set_seed(12345)
    model, opt, sched = _make()
    state = load_checkpoint(path, model=model, optimizer=opt, scheduler=sched)
    assert state.step == 4 and state.extra == {"best": 1.5, "history": [1, 2]}
    for _ in range(state.step, 10):
        _step(model, opt, sched)
    assert_state_dicts_equal(model.state_dict(), reference)
    assert sched.get_last_lr() == [1e-2 * 0.5**3]


def test_checkpoint_is_weights_only_loadable(tmp_path):
    model, opt, _ = _make()
    path = save_checkpoint(tmp_path / "c.pt", model=model, optimizer=opt, step=1)
    payload = torch.load(path, weights_only=True)
    assert payload["step"] == 1


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    model, _, _ = _make()
    path = save_checkpoint(tmp_path / "c.pt", model=model, step=1)
    before = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, model=model, step=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind


def test_load_errors(tmp_path):
    model, _, _ = _make()
    with pytest.raises(DataError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt", model=model)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="cannot be read"):
        load_checkpoint(junk, model=model)
    torch.save({"foo": 1}, tmp_path / "foreign.pt")
    with pytest.raises(DataError, match="not a labworks checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    p = save_checkpoint(tmp_path / "noopt.pt", model=model)
    with pytest.raises(DataError, match="no optimizer"):
        load_checkpoint(p, model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_rundir_layout_and_metrics(tmp_path):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Cfg:
        lr: float = 0.1

    run = RunDir.create("exp", root=tmp_path, config=Cfg())
    assert run.path.parent == tmp_path / "exp"
    assert run.plots.is_dir() and run.checkpoints.is_dir()
    assert json.loads(run.config_file.read_text()) == {"lr": 0.1}
    run.log(step=0, loss=torch.tensor(2.5))
    run.log({"step": 1}, loss=float("nan"))
    # flushed per line: readable by another reader right away
    lines = run.metrics_file.read_text().splitlines()
    assert [json.loads(x) for x in lines] == [{"step": 0, "loss": 2.5}, {"step": 1, "loss": "nan"}]
    assert list(run.metrics()) == [{"step": 0, "loss": 2.5}, {"step": 1, "loss": "nan"}]
    other = RunDir.create("exp", root=tmp_path)
    assert other.path != run.path  # same second: distinct folders


def test_rundir_latest_checkpoint_and_reopen(tmp_path):
    run = RunDir.create("r", root=tmp_path)
    assert run.latest_checkpoint() is None
    model, _, _ = _make()
    for s in (5, 100, 20):
        save_checkpoint(run.checkpoint_path(s), model=model, step=s)
    assert run.latest_checkpoint() == run.checkpoint_path(100)
    again = RunDir.open(run.path)
    assert load_checkpoint(again.latest_checkpoint(), model=model).step == 100
    with pytest.raises(DataError):
        RunDir.open(tmp_path / "nope")


@pytest.mark.parametrize("bad", ["", "a/b", ".."])
def test_rundir_bad_name(tmp_path, bad):
    from lab.core import ConfigError

    with pytest.raises(ConfigError):
        RunDir.create(bad, root=tmp_path)


def _entries(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_failed_command_leaves_no_empty_run_folder(tmp_path):
    root = tmp_path / "runs"
    run = RunDir.create("exp", root=root, config={"a": 1})
    with pytest.raises(DataError), run:
        raise DataError("bad input")
    # the run folder and the parents create() made for it are gone again
    assert not root.exists()


def test_failed_command_keeps_a_folder_that_holds_results(tmp_path):
    other = RunDir.create("exp", root=tmp_path)  # a sibling run: the parent must stay
    run = RunDir.create("exp", root=tmp_path)
    with pytest.raises(RuntimeError), run:
        run.log(step=1, loss=0.5)
        raise RuntimeError("diverged")
    assert run.path.is_dir() and other.path.is_dir()
    empty = RunDir.create("exp", root=tmp_path)
    with pytest.raises(RuntimeError), empty:
        raise RuntimeError("x")
    assert not empty.path.exists() and (tmp_path / "exp").is_dir()


def test_reopened_run_is_never_removed(tmp_path):
    path = RunDir.create("exp", root=tmp_path).path
    with pytest.raises(ValueError), RunDir.open(path):
        raise ValueError("x")
    assert path.is_dir()


def test_interrupt_carries_the_resume_hint(tmp_path):
    run = RunDir.create("exp", root=tmp_path)
    with pytest.raises(KeyboardInterrupt) as info, run:
        run.log(step=1)
        raise KeyboardInterrupt
    assert interrupted_message(info.value) == f"interrupted; continue with --resume {run.path}"
    with pytest.raises(KeyboardInterrupt) as info, run.guard(resume="--out {path} --resume"):
        raise KeyboardInterrupt
    assert (
        interrupted_message(info.value) == f"interrupted; continue with --out {run.path} --resume"
    )
    with pytest.raises(KeyboardInterrupt) as info, run.guard(resume=None):
        raise KeyboardInterrupt
    assert interrupted_message(info.value) == f"interrupted; partial results in {run.path}"
    # interrupted before anything was written: the folder goes, and the message says so
    fresh = RunDir.create("exp", root=tmp_path)
    with pytest.raises(KeyboardInterrupt) as info, fresh:
        raise KeyboardInterrupt
    assert not fresh.path.exists()
    assert "before anything was saved" in interrupted_message(info.value)
    assert interrupted_message(KeyboardInterrupt()) == "interrupted"


def test_successful_block_keeps_even_an_unused_folder(tmp_path):
    run = RunDir.create("exp", root=tmp_path)
    with run:
        pass
    assert run.path.is_dir()
