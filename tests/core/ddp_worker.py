"""Worker launched by test_distributed.py under torchrun (2 CPU processes, gloo)."""

import sys
from pathlib import Path

import torch

from lab.core import (
    all_reduce_mean,
    cleanup_distributed,
    init_distributed,
    is_main,
    rank,
    set_seed,
    world_size,
    wrap_ddp,
)


def toy_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def combined_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(16, 3, generator=g)
    return x, x.sin().sum(1, keepdim=True)


def main(out: Path, steps: int) -> None:
    info = init_distributed()
    assert info.backend == "gloo" and info.world_size == world_size() == 2
    assert is_main() == (rank() == 0)
    # different init per rank on purpose: DDP must broadcast rank 0's parameters
    set_seed(0)
    model = wrap_ddp(toy_model(), device="cpu")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = combined_batch()
    shard = slice(rank() * 8, (rank() + 1) * 8)
    for _ in range(steps):
        loss = ((model(x[shard]) - y[shard]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    mean_rank = all_reduce_mean(torch.tensor([float(rank())]))
    torch.save(
        {
            "params": {k: v.detach() for k, v in model.module.state_dict().items()},
            "mean_rank": mean_rank,
        },
        out / f"rank{rank()}.pt",
    )
    cleanup_distributed()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
