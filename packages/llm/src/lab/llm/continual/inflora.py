"""InfLoRA: interference-free low-rank adaptation (Liang & Li, CVPR 2024).

For task ``t`` each adapted layer gets ``Delta W = B_t A_t`` with ``A_t`` fixed before training
and only ``B_t`` trained (PEFT's zero init of ``B``). ``A_t`` comes from the new task's input
covariance ``C_t`` (inputs of the layer, collected with the current model) with the earlier
tasks' input subspace ``M`` projected out: the top-``r`` left singular vectors of
``(I - M M^T) C_t``, scaled by ``1/sqrt(3)`` as in the public code (liangyanshuo/InfLoRA). So
``Delta W x = 0`` for every ``x`` in ``span(M)``. After the task, ``M`` grows by DualGPM with a
threshold rising linearly from 0.95 (first task) towards 1.0:
``threshold_t = start + (end - start) * t / T``.

Ours: padding tokens are left out of the covariances; ``A_t`` is projected once more onto the
complement of ``span(M)`` after the SVD (so the update is zero on ``span(M)`` even when ``r``
exceeds the rank of the projected covariance); only DualGPM's "remove" representation (store
the bases of ``M`` itself) is kept, which spans the same space as the code's "retain" variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from lab.core import ConfigError

from .baselines import _LoRAStrategy
from .strategy import Batch
from .stream import Task, TaskStream

__all__ = ["InfLoRA", "InfLoRAConfig", "dualgpm_update"]


@dataclass(frozen=True)
class InfLoRAConfig:
    """DualGPM threshold schedule (paper: 0.95 -> 1.0) and the scale of ``A`` (code: 1/sqrt 3)."""

    threshold_start: float = 0.95
    threshold_end: float = 1.0
    a_scale: float = 1.0 / math.sqrt(3.0)
    covariance_samples: int = 512

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold_start <= 1.0 or not 0.0 < self.threshold_end <= 1.0:
            raise ConfigError(
                f"thresholds must be in (0, 1], got {self.threshold_start}, {self.threshold_end}"
            )
        if self.a_scale <= 0:
            raise ConfigError(f"a_scale must be > 0, got {self.a_scale}")
        if self.covariance_samples < 1:
            raise ConfigError(f"covariance_samples must be >= 1, got {self.covariance_samples}")


def dualgpm_update(
    bases: torch.Tensor | None, activation: torch.Tensor, threshold: float
) -> torch.Tensor:
    """One DualGPM step ("remove" form): grow the orthonormal ``bases`` (``d x k``) of a layer.

    ``activation`` is the task's ``d x d`` input matrix. First task: keep the ``r`` leading
    left singular vectors with ``r = #{cumsum(s^2)/sum(s^2) < threshold}`` (at least 1).
    Later tasks: project out ``span(bases)``, then add the fewest leading singular vectors of
    the residual that raise the captured energy (relative to the whole activation) to the
    threshold; none when it is reached already.
    """
    act = activation.double()
    if bases is None:
        u, s, _ = torch.linalg.svd(act, full_matrices=False)
        ratio = s**2 / (s**2).sum()
        r = int((torch.cumsum(ratio, 0) < threshold).sum())
        return u[:, : max(r, 1)].to(activation.dtype)
    m = bases.double()
    _, s1, _ = torch.linalg.svd(act, full_matrices=False)
    total = (s1**2).sum()
    resid = act - m @ (m.T @ act)
    u, s, _ = torch.linalg.svd(resid, full_matrices=False)
    accumulated = float((total - (s**2).sum()) / total)
    ratio = s**2 / total
    r = 0
    for v in ratio.tolist():
        if accumulated < threshold:
            accumulated += v
            r += 1
        else:
            break
    if r == 0:
        return bases
    grown = torch.cat([m, u[:, :r]], dim=1)
    # keep the bases orthonormal (QR guards against round-off in the residual's vectors)
    q, _ = torch.linalg.qr(grown)
    return q[:, : min(q.shape[1], q.shape[0])].to(activation.dtype)


class InfLoRA(_LoRAStrategy):
    """One adapter per task; ``A_t`` designed outside earlier tasks' input subspace, ``B_t`` trained."""

    name: ClassVar[str] = "inflora"
    config_class: ClassVar[type | None] = InfLoRAConfig
    config: InfLoRAConfig

    def _setup(self) -> None:
        super()._setup()
        if self.num_tasks is None:
            raise ConfigError("InfLoRA needs num_tasks (its DualGPM threshold schedule uses it)")
        self.bases: dict[str, torch.Tensor] = {}

    def _add_structures(self, task: Task) -> None:
        name = self._adapter_name(task.require_id())
        self.adapters.add(name, seed=self._seed("adapter", task.require_id()))

    def _before_training(self, task: Task, data: Batch) -> None:
        name = self._adapter_name(task.require_id())
        earlier = [n for n in self.adapters.names if n != name]
        if earlier:
            self.adapters.activate(earlier, trainable=())
            covs = self._input_covariances(data, self.config.covariance_samples)
        else:
            with self.adapters.disabled():
                covs = self._input_covariances(data, self.config.covariance_samples)
        self._design_a(name, covs, self.config.a_scale, self.bases)
        self.adapters.activate(self.adapters.names, trainable=[name])
        self._freeze_a(name)
        self.module["head"].requires_grad_(True)

    def _after_training(self, task: Task, data: Batch) -> None:
        self.adapters.activate(self.adapters.names, trainable=())
        covs = self._input_covariances(data, self.config.covariance_samples)
        t = len(self.trained_order)
        assert self.num_tasks is not None
        cfg = self.config
        thr = cfg.threshold_start + (cfg.threshold_end - cfg.threshold_start) * t / self.num_tasks
        for lname, cov in covs.items():
            self.bases[lname] = dualgpm_update(self.bases.get(lname), cov, thr).float()

    def _prepare_eval(self, task_id: int | None) -> None:
        if self.adapters.names:
            self.adapters.activate(self.adapters.names, trainable=())

    def subspace_dims(self) -> dict[str, int]:
        """Dimension of the stored input subspace per adapted layer."""
        return {k: int(v.shape[1]) for k, v in self.bases.items()}

    def _extra_state(self) -> dict[str, Any]:
        return {"bases": {k: v.cpu() for k, v in self.bases.items()}}

    def _load_extra_state(self, state: dict[str, Any], stream: TaskStream) -> None:
        self.bases = {k: v.to(self.device) for k, v in state["bases"].items()}
