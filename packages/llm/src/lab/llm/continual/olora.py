"""O-LoRA: orthogonal subspace learning for continual learning (Wang et al., 2023).

Each task gets its own LoRA adapter; the adapters of earlier tasks stay active and frozen, and
the new adapter's ``A`` is pushed orthogonal to every earlier ``A``:

    loss = task loss + lambda1 * sum_layers sum_{i<t} sum |A_i A_t^T|
                     + lambda2 * sum_{new LoRA tensors} ||P||_2

as in the public code (cmnfriend/O-LoRA): the sum of absolute entries of ``A_i A_t^T`` per
adapted layer, and the L2 norm of each new LoRA tensor. lambda1 = 0.5 is the paper's setting;
lambda2 = 0 is ours (the code exposes it as ``lamda_2``). Not to be confused with PEFT's
``init_lora_weights='olora'``, which is an initialisation (OLoRA), not this method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from lab.core import ConfigError

from .adapters import _lora_dict, _lora_weight
from .baselines import _LoRAStrategy
from .strategy import Batch
from .stream import Task

__all__ = ["OLoRA", "OLoRAConfig", "orthogonality_loss"]


@dataclass(frozen=True)
class OLoRAConfig:
    """O-LoRA's weights: ``lambda_orth`` (lambda1) and ``lambda_l2`` (lambda2)."""

    lambda_orth: float = 0.5
    lambda_l2: float = 0.0

    def __post_init__(self) -> None:
        if self.lambda_orth < 0 or self.lambda_l2 < 0:
            raise ConfigError(
                f"O-LoRA weights must be >= 0, got lambda_orth={self.lambda_orth}, "
                f"lambda_l2={self.lambda_l2}"
            )


def orthogonality_loss(old: list[torch.Tensor], new: torch.Tensor) -> torch.Tensor:
    """``sum_i sum |A_i A_new^T|`` for one layer (each ``A`` is ``r x d_in``)."""
    total = new.new_zeros(())
    for a in old:
        total = total + (a @ new.T).abs().sum()
    return total


class OLoRA(_LoRAStrategy):
    """One adapter per task; earlier adapters frozen but active; orthogonality penalty."""

    name: ClassVar[str] = "olora"
    config_class: ClassVar[type | None] = OLoRAConfig
    config: OLoRAConfig

    def _add_structures(self, task: Task) -> None:
        name = self._adapter_name(task.require_id())
        self.adapters.add(name, seed=self._seed("adapter", task.require_id()))
        self._current = name

    def _before_training(self, task: Task, data: Batch) -> None:
        self._current = self._adapter_name(task.require_id())
        self.adapters.activate(self.adapters.names, trainable=[self._current])
        self.module["head"].requires_grad_(True)

    def _prepare_eval(self, task_id: int | None) -> None:
        if self.adapters.names:
            self.adapters.activate(self.adapters.names, trainable=())

    def overlap(self, name: str | None = None) -> float:
        """``sum_layers sum_{i<t} sum |A_i A_t^T|`` for adapter ``name`` (default: the last)."""
        names = self.adapters.names
        name = name or names[-1]
        earlier = names[: names.index(name)]
        with torch.no_grad():
            return float(self._orth(name, earlier))

    def _orth(self, name: str, earlier: list[str]) -> torch.Tensor:
        if not earlier:
            return torch.zeros((), device=self.device)
        total = torch.zeros((), device=self.device)
        for _, layer in self.adapters.layers():
            lora_a = _lora_dict(layer, "lora_A")
            if name in lora_a:
                olds = [_lora_weight(layer, "lora_A", e) for e in earlier if e in lora_a]
                total = total + orthogonality_loss(olds, _lora_weight(layer, "lora_A", name))
        return total

    def _penalty(self) -> torch.Tensor | None:
        cfg = self.config
        names = self.adapters.names
        earlier = names[: names.index(self._current)]
        total = cfg.lambda_orth * self._orth(self._current, earlier) if cfg.lambda_orth else None
        if cfg.lambda_l2:
            l2 = sum(p.norm(p=2) for p in self.adapters.parameters(self._current))
            total = l2 * cfg.lambda_l2 if total is None else total + cfg.lambda_l2 * l2
        return total
