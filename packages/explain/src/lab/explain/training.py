"""A small supervised training loop and accuracy, for the demo, CLI, benchmark and tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lab.core import DataError, get_device, progress

from ._validate import check_positive_int
from .maskers import extract_logits

__all__ = ["TrainConfig", "accuracy", "train_classifier"]


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (OURS; small defaults that train the demo models in seconds on a CPU).

    Args:
        epochs: passes over the training set.
        batch_size: minibatch size.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)


def _forward(
    model: torch.nn.Module, inputs: torch.Tensor | Mapping[str, torch.Tensor]
) -> torch.Tensor:
    out = model(**inputs) if isinstance(inputs, Mapping) else model(inputs)
    return extract_logits(out)


def _take(inputs: torch.Tensor | Mapping[str, torch.Tensor], idx: torch.Tensor):
    if isinstance(inputs, Mapping):
        return {k: v[idx] for k, v in inputs.items()}
    return inputs[idx]


def _length(inputs: torch.Tensor | Mapping[str, torch.Tensor]) -> int:
    if isinstance(inputs, Mapping):
        return len(next(iter(inputs.values())))
    return len(inputs)


def train_classifier(
    model: torch.nn.Module,
    inputs: torch.Tensor | Mapping[str, torch.Tensor],
    labels: torch.Tensor,
    config: TrainConfig | None = None,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> list[float]:
    """Train ``model`` with Adam and cross-entropy; return the mean loss per epoch.

    ``inputs`` is a tensor (first dimension = examples) or a mapping of such tensors, passed to
    the model as keyword arguments. The model is moved to ``device`` and left in eval mode.
    """
    cfg = config or TrainConfig()
    dev = get_device(device)
    if _length(inputs) != len(labels) or len(labels) == 0:
        raise DataError(f"{_length(inputs)} inputs but {len(labels)} labels")
    model.to(dev).train()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    losses = []
    for _ in progress(range(cfg.epochs), desc="train"):
        perm = torch.randperm(len(labels), generator=gen)
        total = 0.0
        for idx in torch.split(perm, cfg.batch_size):
            batch = _take(inputs, idx)
            batch = (
                {k: v.to(dev) for k, v in batch.items()}
                if isinstance(batch, Mapping)
                else batch.to(dev)
            )
            loss = F.cross_entropy(_forward(model, batch), labels[idx].to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item()) * len(idx)
        losses.append(total / len(labels))
    model.eval()
    return losses


@torch.no_grad()
def accuracy(
    model: torch.nn.Module,
    inputs: torch.Tensor | Mapping[str, torch.Tensor],
    labels: torch.Tensor,
    *,
    batch_size: int = 512,
    device: str | torch.device | None = None,
) -> float:
    """Fraction of correct argmax predictions."""
    dev = get_device(device)
    correct = 0
    for idx in torch.split(torch.arange(len(labels)), batch_size):
        batch = _take(inputs, idx)
        batch = (
            {k: v.to(dev) for k, v in batch.items()}
            if isinstance(batch, Mapping)
            else batch.to(dev)
        )
        correct += int((_forward(model, batch).argmax(dim=-1).cpu() == labels[idx]).sum().item())
    return correct / len(labels)
