"""torchrun with two gloo processes: TnD data parallelism.

The ``clm`` arm on 2 ranks with per-rank batch 2 must take the same steps as one process with
batch 4 (the ranks' slices form the single-process batch, and the loss is normalised by the
token count of all ranks); the ``tnd`` arm must keep the ranks bit-identical while they draw
different prompts and trials, and write metrics and checkpoints once.
"""

import dataclasses
import json
import sys
from pathlib import Path

import torch

from lab.core import RunDir
from lab.core.testing import run_torchrun
from lab.llm.tnd import TnDTrainer, prepare

sys.path.insert(0, str(Path(__file__).parent))
from tnd_ddp_common import DDP_CFG

torch.set_num_threads(1)


def test_tnd_under_torchrun_two_processes(tmp_path):
    (tmp_path / "tnd_run").mkdir()
    RunDir.open(tmp_path / "tnd_run")
    proc = run_torchrun(
        Path(__file__).with_name("ddp_tnd_script.py"), [str(tmp_path)], nproc=2, timeout=300
    )
    assert "DDP-TND-OK" in proc.stdout, proc.stdout + proc.stderr
    res = json.loads((tmp_path / "result.json").read_text())
    assert res["identical"] and res["moved"], res
    assert res["prompts_differ"] and res["rollouts_differ"], res
    assert res["counts_equal"] and res["metrics_equal"] and res["finite"], res
    assert res["steps"] == 9 and res["interactions"] == 3, res
    assert res["after"] < res["before"], res
    # rank 0 alone logs: one line per corpus step; checkpoints at step 6 and the end
    lines = (tmp_path / "tnd_run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 9, len(lines)
    ck = sorted(p.name for p in (tmp_path / "tnd_run" / "checkpoints").glob("*.pt"))
    assert len(ck) == 2, ck

    # the same clm run in one process with batch 2 x 2
    setup = prepare(DDP_CFG, seed=0, device="cpu", show_progress=False)
    tr = TnDTrainer(
        dataclasses.replace(DDP_CFG.student, mode="clm", batch_size=4),
        setup.tokenizer,
        setup.train_sequences,
        setup.heldout_sequences,
        setup.word_ids,
        device="cpu",
        show_progress=False,
    )
    tr.train()
    ddp_state = torch.load(tmp_path / "clm_state.pt", weights_only=True)
    for k, v in tr.student.state_dict().items():
        torch.testing.assert_close(ddp_state[k], v, atol=2e-5, rtol=1e-4, msg=k)
    hist = json.loads((tmp_path / "clm_history.json").read_text())
    for a, b in zip(hist, tr.history, strict=True):
        assert abs(a["clm_loss"] - b["clm_loss"]) < 1e-4, (a, b)
    sur = {int(k): v for k, v in json.loads((tmp_path / "clm_surprisal.json").read_text()).items()}
    assert sorted(sur) == sorted(tr.surprisal)
    for s, d in tr.surprisal.items():
        assert d.keys() == sur[s].keys()
        for w in d:
            assert abs(d[w] - sur[s][w]) < 1e-3, (s, w, d[w], sur[s][w])


def test_sample_batch_shards_form_the_single_process_batch():
    import pytest

    from lab.core import ConfigError
    from lab.llm.tnd.models import sample_batch

    seqs = [list(range(1, 2 + i % 7)) for i in range(50)]
    full, full_att = sample_batch(seqs, 6, seed=3, step=11, pad_id=0)
    parts = [
        sample_batch(seqs, 2, seed=3, step=11, pad_id=0, shard=r, num_shards=3) for r in range(3)
    ]
    rows = [r[a.bool()].tolist() for ids, att in parts for r, a in zip(ids, att, strict=True)]
    assert rows == [r[a.bool()].tolist() for r, a in zip(full, full_att, strict=True)]
    with pytest.raises(ConfigError, match="shard"):
        sample_batch(seqs, 2, seed=3, step=11, pad_id=0, shard=3, num_shards=3)


def test_clm_loss_sum_over_token_count_is_the_mean():
    from lab.llm.tnd.models import clm_loss_from_logits, clm_token_count

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 6, 11, generator=g)
    ids = torch.randint(0, 11, (3, 6), generator=g)
    att = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    mean = clm_loss_from_logits(logits, ids, att)
    total = clm_loss_from_logits(logits, ids, att, reduction="sum")
    assert int(clm_token_count(att)) == 3 + 5 + 2
    torch.testing.assert_close(total / clm_token_count(att), mean)
