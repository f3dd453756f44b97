"""Reference strategies: sequential LoRA, per-task LoRA, replay, EWC and joint training.

- :class:`SequentialLoRA` (lower bound): one LoRA adapter fine-tuned on each task in turn.
- :class:`PerTaskLoRA`: one adapter and one head per task, chosen by the task id; earlier
  adapters are frozen (and stay bit-identical), so task-aware forgetting is exactly 0.
- :class:`Replay`: sequential LoRA plus a memory of examples from earlier tasks.
- :class:`EWC`: sequential LoRA plus the elastic weight consolidation penalty.
- :class:`JointTraining` (upper bound): after each task, a fresh adapter and head trained on
  the union of every task so far.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import torch
from torch import nn

from lab.core import ConfigError, seeded

from .adapters import LoRAAdapters
from .strategy import Batch, ContinualStrategy
from .stream import Task, TaskStream

__all__ = [
    "EWC",
    "EWCConfig",
    "JointConfig",
    "JointTraining",
    "PerTaskLoRA",
    "Replay",
    "ReplayConfig",
    "SequentialLoRA",
]


class _LoRAStrategy(ContinualStrategy):
    """Base for strategies that keep LoRA adapters in ``self.adapters``."""

    def _setup(self) -> None:
        self.adapters = LoRAAdapters(self.backbone.model, self.lora_config)

    def _adapter_name(self, task_id: int) -> str:
        return f"task_{task_id}"


class SequentialLoRA(_LoRAStrategy):
    """One LoRA adapter (and the shared head) fine-tuned on each task in turn: the lower bound."""

    name: ClassVar[str] = "sequential"
    adapter: ClassVar[str] = "shared"

    def _add_structures(self, task: Task) -> None:
        if self.adapter not in self.adapters.names:
            self.adapters.add(self.adapter, seed=self._seed("adapter"))

    def _before_training(self, task: Task, data: Batch) -> None:
        self.adapters.activate([self.adapter], trainable=[self.adapter])
        self.module["head"].requires_grad_(True)

    def _prepare_eval(self, task_id: int | None) -> None:
        if self.adapter in self.adapters.names:
            self.adapters.activate([self.adapter], trainable=())


class PerTaskLoRA(_LoRAStrategy):
    """One LoRA adapter and one head per task; prediction picks them by the task id.

    Without a task id (class-incremental prediction) every trained adapter scores the input
    and the one with the most confident softmax over its own label space wins (ours). A task
    id that was not trained yet is scored by the base model without adapters and the untrained
    shared head (the random-initialisation baseline, which makes FWT exactly 0).
    """

    name: ClassVar[str] = "per_task"

    def _setup(self) -> None:
        super()._setup()
        self.module["heads"] = nn.ModuleDict()

    @property
    def _heads(self) -> nn.ModuleDict:
        """The per-task heads, keyed by ``str(task_id)``."""
        return cast(nn.ModuleDict, self.module["heads"])

    def _add_structures(self, task: Task) -> None:
        name = self._adapter_name(int(task.task_id))  # type: ignore[arg-type]
        self.adapters.add(name, seed=self._seed("adapter", int(task.task_id)))  # type: ignore[arg-type]
        with seeded(self._seed("head", 1 + int(task.task_id))):  # type: ignore[arg-type]
            head = nn.Linear(self.backbone.hidden_size, self.num_classes)
        self._heads[str(task.task_id)] = head.to(self.device)

    def _before_training(self, task: Task, data: Batch) -> None:
        name = self._adapter_name(int(task.task_id))  # type: ignore[arg-type]
        self.adapters.activate([name], trainable=[name])
        for p in self.module["head"].parameters():
            p.requires_grad_(False)
        for key, head in self._heads.items():
            head.requires_grad_(key == str(task.task_id))

    def _forward_task(self, batch: Batch, task_id: int) -> torch.Tensor:
        name = self._adapter_name(task_id)
        if self.adapters.active != [name]:  # a switch for prediction: nothing trainable
            self.adapters.activate([name], trainable=())
        feats = self.backbone(batch["input_ids"], batch["attention_mask"])
        return self._heads[str(task_id)](feats)

    def _forward(
        self, batch: Batch, task_id: int | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if task_id is not None and str(task_id) in self._heads:
            return self._forward_task(batch, task_id), None
        if task_id is not None or not self.trained_order:
            with self.adapters.disabled():
                feats = self.backbone(batch["input_ids"], batch["attention_mask"])
            return self.module["head"](feats), None
        # class-incremental: the most confident task-specific prediction wins (ours)
        best_conf = None
        best_logits = None
        for tid in self.trained_order:
            logits = self._forward_task(batch, tid)
            mask = self._class_mask(self.label_spaces[tid])
            masked = logits.masked_fill(~mask, float("-inf"))
            conf = masked.softmax(-1).max(-1).values
            if best_conf is None or best_logits is None:  # both are set together
                best_conf, best_logits = conf, masked
            else:
                better = conf > best_conf
                best_conf = torch.where(better, conf, best_conf)
                best_logits = torch.where(better[:, None], masked, best_logits)
        assert best_logits is not None
        return best_logits, None


@dataclass(frozen=True)
class ReplayConfig:
    """Experience replay: ``memory_per_task`` random training examples kept per task (ours:
    stored after the task, mixed into the next tasks' training sets, cross-entropy over every
    class seen so far)."""

    memory_per_task: int = 20

    def __post_init__(self) -> None:
        if self.memory_per_task < 1:
            raise ConfigError(f"memory_per_task must be >= 1, got {self.memory_per_task}")


class Replay(SequentialLoRA):
    """Sequential LoRA trained on the new task plus a memory of earlier tasks' examples."""

    name: ClassVar[str] = "replay"
    config_class: ClassVar[type | None] = ReplayConfig
    config: ReplayConfig

    def _setup(self) -> None:
        super()._setup()
        self.memory: list[tuple[str, int]] = []

    def _training_examples(self, task: Task) -> tuple[list[str], list[int]]:
        texts = list(task.train_texts) + [t for t, _ in self.memory]
        labels = list(task.train_labels) + [y for _, y in self.memory]
        return texts, labels

    def _train_classes(self, task: Task) -> list[int]:
        return sorted({*task.labels, *(c for ls in self.label_spaces.values() for c in ls)})

    def _after_training(self, task: Task, data: Batch) -> None:
        rng = random.Random(self._seed("memory", int(task.task_id)))  # type: ignore[arg-type]
        idx = list(range(task.num_train))
        rng.shuffle(idx)
        keep = idx[: self.config.memory_per_task]
        self.memory += [(task.train_texts[i], task.train_labels[i]) for i in keep]

    def _extra_state(self) -> dict[str, Any]:
        return {
            "memory_texts": [t for t, _ in self.memory],
            "memory_labels": [y for _, y in self.memory],
        }

    def _load_extra_state(self, state: dict[str, Any], stream: TaskStream) -> None:
        self.memory = list(zip(state["memory_texts"], state["memory_labels"], strict=True))


@dataclass(frozen=True)
class EWCConfig:
    """Elastic weight consolidation on the shared adapter and head.

    ``ewc_lambda`` weighs ``lambda/2 * sum_k sum_i F_k,i (theta_i - theta*_k,i)^2`` over every
    earlier task ``k``; ``F_k`` is the diagonal empirical Fisher (squared per-example
    gradients of the task's cross-entropy at the true labels) over at most ``fisher_samples``
    training examples. Both defaults are ours.
    """

    ewc_lambda: float = 1000.0
    fisher_samples: int = 200

    def __post_init__(self) -> None:
        if self.ewc_lambda < 0:
            raise ConfigError(f"ewc_lambda must be >= 0, got {self.ewc_lambda}")
        if self.fisher_samples < 1:
            raise ConfigError(f"fisher_samples must be >= 1, got {self.fisher_samples}")


class EWC(SequentialLoRA):
    """Sequential LoRA with the EWC penalty anchoring the parameters of earlier tasks."""

    name: ClassVar[str] = "ewc"
    config_class: ClassVar[type | None] = EWCConfig
    config: EWCConfig

    def _setup(self) -> None:
        super()._setup()
        self.fishers: list[dict[str, torch.Tensor]] = []
        self.anchors: list[dict[str, torch.Tensor]] = []

    def _named_trainable(self) -> dict[str, nn.Parameter]:
        return {n: p for n, p in self.module.named_parameters() if p.requires_grad}

    def _penalty(self) -> torch.Tensor | None:
        if not self.fishers:
            return None
        params = self._named_trainable()
        total = torch.zeros((), device=self.device)
        for fisher, anchor in zip(self.fishers, self.anchors, strict=True):
            for n, f in fisher.items():
                total = total + (f * (params[n] - anchor[n]) ** 2).sum()
        return 0.5 * self.config.ewc_lambda * total

    def _after_training(self, task: Task, data: Batch) -> None:
        params = self._named_trainable()
        fisher = {n: torch.zeros_like(p) for n, p in params.items()}
        mask = self._class_mask(task.labels)
        n = min(self.config.fisher_samples, data["labels"].shape[0])
        for i in range(n):
            batch = self._to_device(data, slice(i, i + 1))
            logits, _ = self._forward(batch, task.task_id)
            loss = nn.functional.cross_entropy(
                logits.masked_fill(~mask, float("-inf")), batch["labels"]
            )
            grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
            for (name, _), g in zip(params.items(), grads, strict=True):
                if g is not None:
                    fisher[name] += g.detach() ** 2 / n
        self.fishers.append(fisher)
        self.anchors.append({k: p.detach().clone() for k, p in params.items()})

    def _extra_state(self) -> dict[str, Any]:
        return {"fishers": self.fishers, "anchors": self.anchors}

    def _load_extra_state(self, state: dict[str, Any], stream: TaskStream) -> None:
        self.fishers = [{k: v.to(self.device) for k, v in f.items()} for f in state["fishers"]]
        self.anchors = [{k: v.to(self.device) for k, v in a.items()} for a in state["anchors"]]


@dataclass(frozen=True)
class JointConfig:
    """Joint training: ``from_scratch=True`` (ours) re-initialises the adapter and head before
    each task and trains on the union of all tasks so far; ``False`` continues training."""

    from_scratch: bool = True


class JointTraining(SequentialLoRA):
    """The upper bound: after task ``t``, a model trained on the data of tasks ``0..t``."""

    name: ClassVar[str] = "joint"
    config_class: ClassVar[type | None] = JointConfig
    config: JointConfig

    def _setup(self) -> None:
        super()._setup()
        self.seen_tasks: list[Task] = []
        self.adapter_now: str | None = None

    def _add_structures(self, task: Task) -> None:
        self.seen_tasks.append(task)
        if self.adapter_now is None or self.config.from_scratch:
            name = f"joint_{task.task_id}"
            old = self.adapter_now
            self.adapters.add(name, seed=self._seed("adapter", len(self.seen_tasks)))
            self.adapter_now = name
            if old is not None:
                self.adapters.activate([name], trainable=())
                self.adapters.delete(old)
                with seeded(self._seed("head")):
                    fresh = nn.Linear(self.backbone.hidden_size, self.num_classes)
                self.module["head"].load_state_dict(fresh.state_dict())

    def _training_examples(self, task: Task) -> tuple[list[str], list[int]]:
        texts = [t for k in self.seen_tasks for t in k.train_texts]
        labels = [y for k in self.seen_tasks for y in k.train_labels]
        return texts, labels

    def _train_classes(self, task: Task) -> list[int]:
        return sorted({c for k in self.seen_tasks for c in k.labels})

    def _before_training(self, task: Task, data: Batch) -> None:
        assert self.adapter_now is not None
        self.adapters.activate([self.adapter_now], trainable=[self.adapter_now])
        self.module["head"].requires_grad_(True)

    def _prepare_eval(self, task_id: int | None) -> None:
        if self.adapter_now is not None:
            self.adapters.activate([self.adapter_now], trainable=())
