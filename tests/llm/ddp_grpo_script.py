"""Run by test_distributed.py under torchrun (2 gloo processes): GRPO data parallelism."""

import sys

import torch
import torch.distributed as dist

from lab.core import cleanup_distributed, rank, set_seed
from lab.llm import tiny_causal_lm
from lab.llm.pods import GRPOConfig, GRPOTrainer, arithmetic_task, build_tokenizer

torch.set_num_threads(1)


def length_reward(prompts, completions, **kw):
    return [float(len(c)) for c in completions]


def main() -> int:
    set_seed(0)  # rank offset: ranks sample different completions
    tok = build_tokenizer()
    model = tiny_causal_lm(tok, n_layer=1, n_embd=32, n_head=2, seed=0)  # same init on every rank
    cfg = GRPOConfig(
        max_steps=2,
        prompts_per_step=2,
        num_generations=4,
        num_train_generations=2,
        max_completion_length=4,
        temperature=1.5,
        learning_rate=1e-2,
    )
    tr = GRPOTrainer(
        model,
        length_reward,
        args=cfg,
        train_dataset=arithmetic_task(50, style="equation"),
        processing_class=tok,
        device="cpu",
    )
    assert dist.is_initialized() and dist.get_world_size() == 2
    prompts = torch.tensor(tr._prompt_indices(0))
    hist = tr.train()
    flat = torch.cat([p.detach().flatten() for p in tr.model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(2)]
    dist.all_gather(gathered, flat)
    assert torch.equal(gathered[0], gathered[1]), "ranks diverged"
    init = torch.cat(
        [
            p.flatten()
            for p in tiny_causal_lm(tok, n_layer=1, n_embd=32, n_head=2, seed=0).parameters()
        ]
    )
    assert not torch.equal(flat, init), "no update happened"
    allp = [torch.zeros_like(prompts) for _ in range(2)]
    dist.all_gather(allp, prompts)
    assert not torch.equal(allp[0], allp[1]), "ranks drew the same prompts"
    # counts are summed over ranks: 2 ranks x 2 prompts x 4 rollouts, 2 of 4 kept per prompt
    assert all(h["excluded"] == 0 for h in hist)
    assert all(h["tokens_generated"] >= h["tokens_trained"] > 0 for h in hist)
    local = int(tr.last_rollouts.completion_mask.sum())
    total = torch.tensor(local)
    dist.all_reduce(total)
    assert hist[-1]["tokens_generated"] == int(total), (hist[-1]["tokens_generated"], int(total))
    if rank() == 0:
        print(f"DDP-OK steps={len(hist)} reward={hist[-1]['reward']:.3f}")
    cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
