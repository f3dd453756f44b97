"""Run by test_tnd_distributed.py under torchrun (2 gloo processes): TnD data parallelism.

Argument: an output folder. Rank 0 writes ``clm_state.pt`` (the student after a ``clm`` run
with per-rank batch 2), ``clm_surprisal.json`` and ``result.json`` (checks of a ``tnd`` run).
"""

import dataclasses
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from lab.core import RunDir, cleanup_distributed, rank, set_seed
from lab.llm.tnd import TnDTrainer, clm_loss, prepare
from lab.llm.tnd.models import sample_batch

sys.path.insert(0, str(Path(__file__).parent))
from tnd_ddp_common import DDP_CFG

torch.set_num_threads(1)


def gathered(t: torch.Tensor) -> list[torch.Tensor]:
    out = [torch.zeros_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(out, t)
    return out


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def main() -> int:
    out = Path(sys.argv[1])
    setup = prepare(DDP_CFG, seed=0, device="cpu", show_progress=False)
    set_seed(0)  # rank offset: ranks sample different trials

    def trainer(run_dir=None, **kw):
        return TnDTrainer(
            dataclasses.replace(DDP_CFG.student, **kw),
            setup.tokenizer,
            setup.train_sequences,
            setup.heldout_sequences,
            setup.word_ids,
            teacher=setup.teacher.model,
            teacher_step=setup.teacher.step,
            age_predictor=setup.age_predictor,
            device="cpu",
            run_dir=run_dir,
            show_progress=False,
        )

    # 1. clm arm, per-rank batch 2 (the test compares it with one process at batch 4)
    tr = trainer(mode="clm", batch_size=2)
    assert dist.is_initialized() and dist.get_world_size() == 2
    tr.train()
    if rank() == 0:
        torch.save(tr.student.state_dict(), out / "clm_state.pt")
        (out / "clm_surprisal.json").write_text(json.dumps(tr.surprisal))
        (out / "clm_history.json").write_text(json.dumps(tr.history))

    # 2. tnd arm: identical ranks, different prompts, metrics once on rank 0
    run_dir = RunDir.open(out / "tnd_run") if (out / "tnd_run").is_dir() else None
    tr = trainer(mode="tnd", run_dir=run_dir)
    ids, att = sample_batch(setup.heldout_sequences, 16, seed=5, step=0, pad_id=0)
    before = float(clm_loss(tr.student.lm, ids, att))
    p0 = flat(tr.student)
    assert torch.equal(*gathered(p0)), "ranks start different"
    prompts = tr.prompts(3)
    prompt_ids = torch.tensor(
        [i for p in prompts for i in setup.tokenizer(p, add_special_tokens=False)["input_ids"]]
        + [0] * 64
    )[:64]
    hist = tr.train()
    p1 = flat(tr.student)
    after = float(clm_loss(tr.student.lm, ids, att))
    same = torch.equal(*gathered(p1))
    c = tr.last_batch.completion_ids.flatten()
    local = torch.nn.functional.pad(c, (0, 4096 - int(c.numel())), value=-1)
    g = gathered(local)
    counts = torch.tensor([tr.trial_counts[k] for k in sorted(tr.word_ids)])
    res = {
        "identical": same,
        "moved": not torch.equal(p0, p1),
        "before": before,
        "after": after,
        "prompts_differ": not torch.equal(*gathered(prompt_ids)),
        "rollouts_differ": not torch.equal(g[0], g[1]),
        "counts_equal": torch.equal(*gathered(counts)),
        "interactions": tr.interactions,
        "steps": len(hist),
        "finite": all(
            torch.isfinite(torch.tensor(h[k])).item()
            for h in hist
            for k in ("clm_loss", "policy_loss", "value_loss")
            if k in h
        ),
        "metrics_equal": torch.equal(
            *gathered(torch.tensor([h["clm_loss"] for h in hist], dtype=torch.float64))
        ),
    }
    if rank() == 0:
        (out / "result.json").write_text(json.dumps(res))
        print(f"DDP-TND-OK {json.dumps(res)}")
    cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
