import importlib.util
from pathlib import Path

import torch

from lab.core import all_reduce_mean, init_distributed, is_main, set_seed, world_size, wrap_ddp
from lab.core.testing import assert_state_dicts_equal, run_torchrun

WORKER = Path(__file__).with_name("ddp_worker.py")


def _worker_module():
    spec = importlib.util.spec_from_file_location("ddp_worker", WORKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_single_process_fallbacks(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = init_distributed()
    assert info.world_size == 1 and info.backend is None and info.is_main
    assert is_main() and world_size() == 1
    t = torch.tensor([2.0, 4.0])
    assert torch.equal(all_reduce_mean(t), torch.tensor([2.0, 4.0]))
    model = torch.nn.Linear(2, 2)
    assert wrap_ddp(model, device="cpu") is model


def test_torchrun_two_ranks_match_single_process(tmp_path):
    steps = 5
    run_torchrun(WORKER, [str(tmp_path), str(steps)], nproc=2)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    # both ranks end bit-identical
    assert_state_dicts_equal(r0["params"], r1["params"])
    assert float(r0["mean_rank"]) == float(r1["mean_rank"]) == 0.5

    # equal to one process training on the combined batch from rank 0's initialisation
    mod = _worker_module()
    set_seed(0, rank_offset=False)
    model = mod.toy_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = mod.combined_batch()
    for _ in range(steps):
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert_state_dicts_equal(r0["params"], model.state_dict(), atol=1e-6, rtol=1e-5)
    # and training actually moved the parameters
    set_seed(0, rank_offset=False)
    fresh = mod.toy_model().state_dict()
    assert any(not torch.allclose(fresh[k], model.state_dict()[k]) for k in fresh)
