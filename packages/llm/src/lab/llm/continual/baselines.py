"""Reference strategies: sequential LoRA, per-task LoRA, replay, EWC and joint training.

- :class:`SequentialLoRA` (lower bound): one LoRA adapter fine-tuned on each task in turn.
- :class:`PerTaskLoRA`: one adapter and one head per task, chosen by the task id; earlier
  adapters are frozen (and stay bit-identical), so task-aware forgetting is exactly 0.
- :class:`Replay`: sequential LoRA plus a memory of examples from earlier tasks.
- :class:`EWC`: sequential LoRA plus the elastic weight consolidation penalty.
- :class:`JointTraining` (upper bound): after each task, a fresh adapter and head trained on
  the union of every task so far; trained for class-incremental prediction (one
  cross-entropy over every class seen) or, as :class:`TaskAwareJointTraining`, for
  task-aware prediction (each example's cross-entropy over its own task's label space).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

import torch
from torch import nn

from lab.core import ConfigError, seeded

from .adapters import LoRAAdapters, _lora_weight
from .strategy import Batch, ContinualStrategy
from .stream import Task, TaskStream

__all__ = [
    "EWC",
    "JOINT_PROTOCOLS",
    "EWCConfig",
    "JointConfig",
    "JointTraining",
    "PerTaskLoRA",
    "Replay",
    "ReplayConfig",
    "SequentialLoRA",
    "TaskAwareJointConfig",
    "TaskAwareJointTraining",
]


class _LoRAStrategy(ContinualStrategy):
    """Base for strategies that keep LoRA adapters in ``self.adapters``."""

    def _setup(self) -> None:
        self.adapters = LoRAAdapters(self.backbone.model, self.lora_config)

    def _adapter_name(self, task_id: int) -> str:
        return f"task_{task_id}"

    @torch.no_grad()
    def _input_covariances(self, data: Batch, samples: int) -> dict[str, torch.Tensor]:
        """``sum x x^T / n`` of each adapted layer's inputs over the non-padding tokens of the
        first ``samples`` examples of ``data`` (with the adapters active now)."""
        layers = dict(self.adapters.layers())
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        current: dict[str, torch.Tensor] = {}

        def hook(name: str) -> Callable[[nn.Module, tuple[Any, ...]], None]:
            def fn(module: nn.Module, args: tuple[Any, ...]) -> None:
                x = args[0]
                keep = current["mask"].reshape(-1).bool()
                flat = x.reshape(-1, x.shape[-1])
                if flat.shape[0] == keep.shape[0]:
                    flat = flat[keep]
                flat = flat.double()
                sums[name] = sums.get(name, 0) + flat.T @ flat
                counts[name] = counts.get(name, 0) + flat.shape[0]

            return fn

        handles = [m.register_forward_pre_hook(hook(n)) for n, m in layers.items()]
        try:
            self.module.eval()
            n = min(samples, data["input_ids"].shape[0])
            bs = self.train_config.eval_batch_size
            for s in range(0, n, bs):
                batch = self._to_device(data, slice(s, min(s + bs, n)))
                current["mask"] = batch["attention_mask"]
                self.backbone(batch["input_ids"], batch["attention_mask"])
        finally:
            for h in handles:
                h.remove()
        return {k: (v / counts[k]) for k, v in sums.items()}

    @torch.no_grad()
    def _design_a(
        self,
        name: str,
        covs: dict[str, torch.Tensor],
        scale: float,
        bases: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """InfLoRA's design of adapter ``name``: per layer, ``A`` = ``scale`` times the top-``r``
        left singular vectors of ``(I - M M^T) C`` (``C`` from ``covs``, ``M`` from ``bases``
        when given, then ``A`` projected once more onto the complement of ``span(M)``); ``B``
        zeroed."""
        r = self.lora_config.r
        for lname, layer in self.adapters.layers():
            cov = covs[lname]
            m = None if bases is None else bases.get(lname)
            proj = None
            if m is not None:
                proj = (
                    torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
                    - m.double() @ m.double().T
                )
                cov = proj @ cov
            u, _, _ = torch.linalg.svd(cov, full_matrices=False)
            a = u[:, :r].T
            if proj is not None:
                a = a @ proj  # exact: A x = 0 on span(M) (ours)
            weight = _lora_weight(layer, "lora_A", name)
            weight.data.copy_((a * scale).to(weight.dtype))
            _lora_weight(layer, "lora_B", name).data.zero_()

    def _freeze_a(self, name: str) -> None:
        """Only ``B`` of adapter ``name`` trains (after :meth:`LoRAAdapters.activate`)."""
        for _, layer in self.adapters.layers():
            _lora_weight(layer, "lora_A", name).requires_grad_(False)


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
        name = self._adapter_name(task.require_id())
        self.adapters.add(name, seed=self._seed("adapter", task.require_id()))
        with seeded(self._seed("head", 1 + task.require_id())):
            head = nn.Linear(self.backbone.hidden_size, self.num_classes)
        self._heads[str(task.task_id)] = head.to(self.device)

    def _before_training(self, task: Task, data: Batch) -> None:
        name = self._adapter_name(task.require_id())
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
        rng = random.Random(self._seed("memory", task.require_id()))
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


#: The evaluation protocols a joint-training bound can be trained for.
JOINT_PROTOCOLS = ("class_incremental", "task_aware")


@dataclass(frozen=True)
class JointConfig:
    """Joint (multi-task) training on the union of every task seen so far.

    Attributes:
        from_scratch: re-initialise the adapter and head before each task (ours; ``False``
            continues training the previous task's model on the growing union).
        protocol: which prediction protocol the model is trained for (ours, both):

            - ``"class_incremental"``: one cross-entropy over every class seen so far, the
              objective of prediction without a task id; the upper bound of class-incremental
              accuracy.
            - ``"task_aware"``: each example's cross-entropy runs over its own task's label
              space (logits of other classes masked, exactly what prediction with the task id
              does); the upper bound of task-aware accuracy. The model never learns to tell
              apart classes of different tasks, so its class-incremental accuracy is no bound.

        adapter_init: how the fresh adapter starts (ours, both): ``"lora"`` is PEFT's LoRA
            (random ``A``, zero ``B``, both trained); ``"inflora"`` is InfLoRA's
            parameterisation with all the data at once: ``A`` = ``a_scale`` times the top-``r``
            left singular vectors of the union's input covariance per adapted layer (over at
            most ``covariance_samples`` examples), frozen, and only ``B`` trained. The bound
            of a method is joint training of the same parameterisation.
        a_scale: the scale of ``A`` with ``adapter_init="inflora"`` (InfLoRA's code: 1/sqrt 3).
        covariance_samples: examples behind the covariances with ``adapter_init="inflora"``.

    The budget is the same as every other strategy's (:class:`TrainConfig`): ``epochs`` passes
    over the union with the same batch size and learning rates, so the final model sees each
    training example ``epochs`` times and takes as many optimisation steps as a sequential
    method takes over the whole stream; one LoRA adapter of the same rank and one head.
    """

    from_scratch: bool = True
    protocol: Literal["class_incremental", "task_aware"] = "class_incremental"
    adapter_init: Literal["lora", "inflora"] = "lora"
    a_scale: float = 1.0 / math.sqrt(3.0)
    covariance_samples: int = 512

    def __post_init__(self) -> None:
        if self.protocol not in JOINT_PROTOCOLS:
            raise ConfigError(
                f"joint training protocol must be one of {JOINT_PROTOCOLS}, got {self.protocol!r}"
            )
        if self.adapter_init not in ("lora", "inflora"):
            raise ConfigError(
                f"joint adapter_init must be 'lora' or 'inflora', got {self.adapter_init!r}"
            )
        if self.a_scale <= 0:
            raise ConfigError(f"a_scale must be > 0, got {self.a_scale}")
        if self.covariance_samples < 1:
            raise ConfigError(f"covariance_samples must be >= 1, got {self.covariance_samples}")


@dataclass(frozen=True)
class TaskAwareJointConfig(JointConfig):
    """:class:`JointConfig` whose ``protocol`` defaults to ``"task_aware"`` (the config of
    :class:`TaskAwareJointTraining`, so that its command-line flags start from that default)."""

    protocol: Literal["class_incremental", "task_aware"] = "task_aware"


class JointTraining(SequentialLoRA):
    """The upper bound: after task ``t``, a model trained on the data of tasks ``0..t``.

    Trained for the class-incremental protocol by default; ``JointConfig(protocol=
    "task_aware")`` (or :class:`TaskAwareJointTraining`) trains the bound of task-aware
    methods (see :class:`JointConfig`).
    """

    name: ClassVar[str] = "joint"
    config_class: ClassVar[type | None] = JointConfig
    config: JointConfig

    def _setup(self) -> None:
        super()._setup()
        self.seen_tasks: list[Task] = []
        self.adapter_now: str | None = None
        self._fresh = False

    def _add_structures(self, task: Task) -> None:
        self.seen_tasks.append(task)
        if self.adapter_now is None or self.config.from_scratch:
            name = f"joint_{task.task_id}"
            old = self.adapter_now
            self.adapters.add(name, seed=self._seed("adapter", len(self.seen_tasks)))
            self.adapter_now = name
            self._fresh = True
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

    def _training_masks(self, task: Task, n: int) -> torch.Tensor | None:
        if self.config.protocol != "task_aware":
            return None
        rows = [self._class_mask(k.labels).cpu().expand(k.num_train, -1) for k in self.seen_tasks]
        masks = torch.cat(rows)
        assert masks.shape[0] == n  # the rows follow _training_examples' order
        return masks

    def _before_training(self, task: Task, data: Batch) -> None:
        assert self.adapter_now is not None
        name = self.adapter_now
        if self.config.adapter_init == "inflora" and self._fresh:
            with self.adapters.disabled():
                covs = self._input_covariances(data, self.config.covariance_samples)
            self._design_a(name, covs, self.config.a_scale)
        self._fresh = False
        self.adapters.activate([name], trainable=[name])
        if self.config.adapter_init == "inflora":
            self._freeze_a(name)
        self.module["head"].requires_grad_(True)

    def _prepare_eval(self, task_id: int | None) -> None:
        if self.adapter_now is not None:
            self.adapters.activate([self.adapter_now], trainable=())


class TaskAwareJointTraining(JointTraining):
    """Joint training for the task-aware protocol: the bound of methods given the task id.

    :class:`JointTraining` with ``JointConfig(protocol="task_aware")`` (default:
    :class:`TaskAwareJointConfig`), under its own method name (``joint_task_aware``) so that
    one run can report both bounds.

    Raises:
        ConfigError: a config whose protocol is not ``"task_aware"``.
    """

    name: ClassVar[str] = "joint_task_aware"

    @classmethod
    def default_config(cls) -> JointConfig:
        return TaskAwareJointConfig()

    def _setup(self) -> None:
        if self.config.protocol != "task_aware":
            raise ConfigError(
                f"TaskAwareJointTraining needs JointConfig(protocol='task_aware'), got "
                f"{self.config!r}"
            )
        super()._setup()
