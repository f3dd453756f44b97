"""The interface every continual strategy implements, and the shared training loop.

A strategy owns a :class:`~lab.llm.continual.Backbone` (frozen) plus what it trains (LoRA
adapters through PEFT, prompts, a classification head). :meth:`ContinualStrategy.train_task`
trains on one :class:`~lab.llm.continual.Task`; :meth:`ContinualStrategy.predict` classifies
texts with the task id (task-incremental: the argmax runs over that task's label space) or
without it (class-incremental: over every class trained so far).

Choices that are ours (config fields in :class:`TrainConfig`): AdamW without weight decay and
a fresh optimizer per task; the cross-entropy of a task runs over that task's label space only
(logit masking, as L2P's and InfLoRA's code do), so head rows of classes outside the task
receive no gradient; the backbone stays in eval mode (no dropout) while adapters train.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from lab.core import ConfigError, DataError, get_device, seeded

from .adapters import LoRAConfig
from .backbone import Backbone
from .stream import Task, TaskStream

__all__ = ["ContinualStrategy", "TaskLog", "TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every strategy (all ours unless a method says so).

    ``head_lr`` (default: ``lr``) is the learning rate of the classification head(s).
    """

    epochs: int = 3
    batch_size: int = 16
    lr: float = 1e-3
    head_lr: float | None = None
    eval_batch_size: int = 128
    max_grad_norm: float | None = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError(
                f"batch sizes must be >= 1, got {self.batch_size} / {self.eval_batch_size}"
            )
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.head_lr is not None and self.head_lr <= 0:
            raise ConfigError(f"head_lr must be > 0 or None, got {self.head_lr}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ConfigError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}")


@dataclass(frozen=True)
class TaskLog:
    """What :meth:`ContinualStrategy.train_task` measured for one task."""

    task_id: int
    seconds: float
    final_loss: float
    trainable_params: int
    steps: int
    extra: dict[str, float] = field(default_factory=dict)


Batch = dict[str, torch.Tensor]


class ContinualStrategy:
    """Base class: one interface, ``train_task`` and ``predict``.

    Args:
        backbone: the feature extractor; the strategy takes ownership (freezes it, injects
            adapters into it).
        num_classes: size of the global label space (the head's width).
        num_tasks: length of the stream, when a method needs it (InfLoRA's threshold schedule).
        train: optimisation settings.
        lora: LoRA settings (ignored by methods without LoRA).
        config: the method's own config (see each subclass's ``config_class``).
        device: where to train; ``None`` picks CUDA when available.
    """

    name: ClassVar[str] = "base"
    config_class: ClassVar[type | None] = None

    def __init__(
        self,
        backbone: Backbone,
        *,
        num_classes: int,
        num_tasks: int | None = None,
        train: TrainConfig | None = None,
        lora: LoRAConfig | None = None,
        config: Any | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        if not isinstance(backbone, Backbone):
            raise ConfigError(f"backbone must be a lab.llm.continual.Backbone, got {backbone!r}")
        if num_classes < 2:
            raise ConfigError(f"num_classes must be >= 2, got {num_classes}")
        if num_tasks is not None and num_tasks < 1:
            raise ConfigError(f"num_tasks must be >= 1, got {num_tasks}")
        if self.config_class is not None:
            if config is None:
                config = self.default_config()
            elif not isinstance(config, self.config_class):
                raise ConfigError(
                    f"{type(self).__name__} takes a {self.config_class.__name__}, got {config!r}"
                )
        self.config = config
        self.train_config = train or TrainConfig()
        self.lora_config = lora or LoRAConfig()
        self.device = get_device(device)
        self.num_classes = int(num_classes)
        self.num_tasks = num_tasks
        self.backbone = backbone.to(self.device)
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.backbone.eval()
        self.module = nn.ModuleDict({"backbone": self.backbone})
        with seeded(self._seed("head")):
            self.module["head"] = nn.Linear(backbone.hidden_size, self.num_classes)
        self.module.to(self.device)
        self.label_spaces: dict[int, tuple[int, ...]] = {}
        self.trained_order: list[int] = []
        self.logs: list[TaskLog] = []
        self._setup()

    @classmethod
    def default_config(cls) -> Any:
        """The method's config when none is given (``config_class()``; ``None`` without one)."""
        return cls.config_class() if cls.config_class is not None else None

    # ------------------------------------------------------------------ hooks for subclasses

    def _setup(self) -> None:
        """Build method-specific modules that exist before any task."""

    def _add_structures(self, task: Task) -> None:
        """Create the modules task ``task`` needs (no data used; replayed on resume)."""

    def _before_training(self, task: Task, data: Batch) -> None:
        """Activate/freeze what trains on ``task``; data-dependent initialisation."""
        self.module["head"].requires_grad_(True)

    def _after_training(self, task: Task, data: Batch) -> None:
        """Update method state after ``task`` (Fisher, subspaces, memory, ...)."""

    def _training_examples(self, task: Task) -> tuple[list[str], list[int]]:
        return list(task.train_texts), list(task.train_labels)

    def _train_classes(self, task: Task) -> list[int]:
        """Classes whose logits enter the training cross-entropy (default: the task's)."""
        return list(task.labels)

    def _training_masks(self, task: Task, n: int) -> torch.Tensor | None:
        """Per-example label spaces ``(n, C)`` (bool) for the ``n`` training examples.

        ``None`` (default): every example uses :meth:`_train_classes`. A strategy whose
        examples come from several tasks returns each example's own task's label space.
        """
        del task, n
        return None

    def _penalty(self) -> torch.Tensor | None:
        """A regulariser added to every training step's loss."""
        return None

    def _prepare_eval(self, task_id: int | None) -> None:
        """Activate what prediction with (or without) ``task_id`` uses."""

    def _forward(
        self, batch: Batch, task_id: int | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits over every class ``(n, C)`` and an optional auxiliary loss."""
        feats = self.backbone(batch["input_ids"], batch["attention_mask"])
        return self.module["head"](feats), None

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any], stream: TaskStream) -> None:
        del state, stream

    # ------------------------------------------------------------------ helpers

    def _seed(self, what: str, index: int = 0) -> int:
        salt = sum((i + 1) * ord(c) for i, c in enumerate(what))
        return (self.train_config.seed * 1_000_003 + salt * 7919 + index) % (2**32 - 1)

    def _encode(self, texts: Sequence[str]) -> Batch:
        """Tensors for ``texts`` (CPU), one row per text."""
        out: Batch = {}
        bs = self.train_config.eval_batch_size
        chunks = [self.backbone.tokenize(texts[s : s + bs]) for s in range(0, len(texts), bs)]
        width = max(c["input_ids"].shape[1] for c in chunks)
        pad = self.backbone.tokenizer.pad_token_id
        for key, fill in (("input_ids", pad), ("attention_mask", 0)):
            out[key] = torch.cat(
                [
                    nn.functional.pad(c[key], (0, width - c[key].shape[1]), value=fill)
                    for c in chunks
                ]
            )
        return out

    def _to_device(self, data: Batch, idx: torch.Tensor | slice) -> Batch:
        batch = {k: v[idx].to(self.device) for k, v in data.items()}
        # trim padding columns shared by the whole batch
        if "attention_mask" in batch:
            used = int(batch["attention_mask"].sum(1).max().item())
            width = max(used, 1)
            for k in ("input_ids", "attention_mask"):
                batch[k] = batch[k][:, :width]
        return batch

    def _class_mask(self, classes: Sequence[int]) -> torch.Tensor:
        mask = torch.zeros(self.num_classes, dtype=torch.bool, device=self.device)
        mask[list(classes)] = True
        return mask

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters that the next optimisation step would update."""
        seen: set[int] = set()
        out = []
        for p in self.module.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                out.append(p)
        return out

    # ------------------------------------------------------------------ public interface

    def train_task(self, task: Task) -> TaskLog:
        """Train on ``task`` and return what was measured.

        Raises:
            DataError: the task was trained already, or uses a class id outside the head.
        """
        if not isinstance(task, Task):
            raise DataError(f"train_task expects a Task, got {task!r}")
        tid = int(task.task_id) if task.task_id is not None else len(self.trained_order)
        if tid in self.label_spaces:
            raise DataError(f"task id {tid} ({task.name!r}) was trained already")
        bad = [c for c in task.labels if c >= self.num_classes]
        if bad:
            raise DataError(
                f"task {task.name!r} uses class id(s) {bad} but the head has {self.num_classes} classes"
            )
        if task.task_id is None:
            task = Task(
                task.name,
                task.labels,
                task.train_texts,
                task.train_labels,
                task.test_texts,
                task.test_labels,
                task_id=tid,
            )
        start = time.perf_counter()
        self._add_structures(task)
        texts, labels = self._training_examples(task)
        data = self._encode(texts)
        data["labels"] = torch.tensor(labels, dtype=torch.long)
        example_masks = self._training_masks(task, len(labels))
        if example_masks is not None:
            if example_masks.shape != (len(labels), self.num_classes):
                raise ConfigError(
                    f"{type(self).__name__}: training masks of shape "
                    f"{tuple(example_masks.shape)}, expected {(len(labels), self.num_classes)}"
                )
            data["class_mask"] = example_masks.bool()
        self.backbone.eval()
        self._before_training(task, data)
        params = self.trainable_parameters()
        if not params:
            raise ConfigError(f"{type(self).__name__} has nothing to train on task {tid}")
        n_params = sum(p.numel() for p in params)
        cfg = self.train_config
        head_ids = {
            id(p)
            for key in ("head", "heads")
            if key in self.module
            for p in self.module[key].parameters()
        }
        groups = [
            {"params": [p for p in params if id(p) not in head_ids], "lr": cfg.lr},
            {"params": [p for p in params if id(p) in head_ids], "lr": cfg.head_lr or cfg.lr},
        ]
        opt = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=0.0)
        mask = self._class_mask(self._train_classes(task))
        gen = torch.Generator().manual_seed(self._seed("batches", len(self.trained_order)))
        n = data["labels"].shape[0]
        steps, last = 0, float("nan")
        for _ in range(cfg.epochs):
            perm = torch.randperm(n, generator=gen)
            for s in range(0, n, cfg.batch_size):
                batch = self._to_device(data, perm[s : s + cfg.batch_size])
                logits, aux = self._forward(batch, tid)
                logits = logits.masked_fill(~batch.get("class_mask", mask), float("-inf"))
                loss = nn.functional.cross_entropy(logits, batch["labels"])
                if aux is not None:
                    loss = loss + aux
                pen = self._penalty()
                if pen is not None:
                    loss = loss + pen
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                opt.step()
                steps += 1
                last = float(loss.detach())
        self.label_spaces[tid] = tuple(task.labels)
        self._after_training(task, data)
        self.trained_order.append(tid)
        for p in self.module.parameters():
            p.requires_grad_(False)
        log = TaskLog(tid, time.perf_counter() - start, last, n_params, steps)
        self.logs.append(log)
        return log

    @torch.no_grad()
    def _logits_for(self, data: Batch, task_id: int | None) -> torch.Tensor:
        self.module.eval()
        self._prepare_eval(task_id)
        bs = self.train_config.eval_batch_size
        n = data["input_ids"].shape[0]
        out = []
        for s in range(0, n, bs):
            logits, _ = self._forward(self._to_device(data, slice(s, s + bs)), task_id)
            out.append(logits.float())
        return torch.cat(out)

    def _allowed(self, task_id: int | None, labels: Sequence[int] | None = None) -> list[int]:
        if labels is not None:
            return list(labels)
        if task_id is not None:
            return list(self.label_spaces[task_id])
        seen = sorted({c for ls in self.label_spaces.values() for c in ls})
        return seen or list(range(self.num_classes))

    @torch.no_grad()
    def logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        task_id: int | None = None,
    ) -> torch.Tensor:
        """Class logits ``(B, C)`` for tokenised inputs ``(B, L)`` (e.g. ``backbone.tokenize``).

        Classes outside the label space that :meth:`predict` would use (the task's with
        ``task_id``, every trained class without) are ``-inf``, so ``argmax`` equals
        :meth:`predict`. The attention mask may have holes: this is the ``model(**inputs)``
        that feature-masking tools such as ``lab.explain.TokenMasker`` call. No padding is
        trimmed, so masked positions inside a sequence stay masked.

        Raises:
            DataError: no task trained yet, a task id that was never trained, or shapes that
                do not match.
        """
        if not self.trained_order:
            raise DataError(f"{type(self).__name__} has not been trained on any task yet")
        if task_id is not None and task_id not in self.label_spaces:
            raise DataError(
                f"task id {task_id!r} was never trained (trained: {self.trained_order})"
            )
        if input_ids.dim() != 2 or input_ids.shape != attention_mask.shape:
            raise DataError(
                f"input_ids and attention_mask must both be (B, L), got "
                f"{tuple(input_ids.shape)} and {tuple(attention_mask.shape)}"
            )
        self.module.eval()
        self._prepare_eval(task_id)
        batch = {
            "input_ids": input_ids.to(self.device),
            "attention_mask": attention_mask.to(self.device),
        }
        out, _ = self._forward(batch, task_id)
        mask = self._class_mask(self._allowed(task_id)).to(out.device)
        return out.float().masked_fill(~mask, float("-inf"))

    def predict(self, texts: Sequence[str], task_id: int | None = None) -> torch.Tensor:
        """Global class ids for ``texts`` (CPU ``long`` tensor).

        With ``task_id`` the argmax runs over that task's label space (task-incremental);
        without it over every class trained so far (class-incremental).

        Raises:
            DataError: no task trained yet, no text, or a task id that was never trained.
        """
        if not self.trained_order:
            raise DataError(f"{type(self).__name__} has not been trained on any task yet")
        if task_id is not None and task_id not in self.label_spaces:
            raise DataError(
                f"task id {task_id!r} was never trained (trained: {self.trained_order})"
            )
        if isinstance(texts, str) or len(texts) == 0:
            raise DataError("predict expects a non-empty sequence of texts")
        logits = self._logits_for(self._encode(list(texts)), task_id)
        mask = self._class_mask(self._allowed(task_id)).to(logits.device)
        return logits.masked_fill(~mask, float("-inf")).argmax(-1).cpu()

    def evaluate(self, task: Task, *, use_task_id: bool = True) -> float:
        """Test accuracy on ``task``; works for tasks not trained yet (for FWT).

        With ``use_task_id`` the argmax runs over the task's label space, and a task that was
        not trained yet is scored by the current model as is (a per-task method then uses
        its base model). Without it the argmax runs over every class trained so far (every
        class before the first task).
        """
        data = self._encode(list(task.test_texts))
        logits = self._logits_for(data, task.task_id if use_task_id else None)
        allowed = self._allowed(None, task.labels if use_task_id else None)
        mask = self._class_mask(allowed).to(logits.device)
        pred = logits.masked_fill(~mask, float("-inf")).argmax(-1).cpu()
        return float((pred == torch.tensor(task.test_labels)).float().mean())

    # ------------------------------------------------------------------ checkpoint support

    def state(self) -> dict[str, Any]:
        """What :func:`lab.core.save_checkpoint` needs besides ``self.module``'s weights."""
        return {
            "trained_order": list(self.trained_order),
            "label_spaces": {str(k): list(v) for k, v in self.label_spaces.items()},
            "logs": [
                {
                    "task_id": g.task_id,
                    "seconds": g.seconds,
                    "final_loss": g.final_loss,
                    "trainable_params": g.trainable_params,
                    "steps": g.steps,
                }
                for g in self.logs
            ],
            "extra": self._extra_state(),
        }

    def rebuild(self, state: dict[str, Any], stream: TaskStream) -> None:
        """Re-create the modules of the tasks in ``state`` (before loading the weights)."""
        if self.trained_order:
            raise DataError("rebuild needs a fresh strategy (this one has trained tasks)")
        for tid in state["trained_order"]:
            self._add_structures(stream.task(int(tid)))
            self.label_spaces[int(tid)] = tuple(state["label_spaces"][str(tid)])
            self.trained_order.append(int(tid))
        self.logs = [TaskLog(**g) for g in state["logs"]]
        self._load_extra_state(state["extra"], stream)
