"""LoRA adapters through PEFT, with the re-freezing PEFT does not do.

PEFT facts this module works around (peft 0.21): ``add_adapter`` does not activate the new
adapter, and ``set_adapter`` marks every parameter of the adapters it activates as trainable,
so after each switch the adapters that must stay fixed have to be frozen again.
:meth:`LoRAAdapters.activate` does both in one call: it activates a list of adapters and
leaves exactly the named ones trainable.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import torch
from torch import nn

from lab.core import ConfigError, DataError, seeded

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel
    from peft.tuners.tuners_utils import BaseTuner

__all__ = ["LoRAAdapters", "LoRAConfig"]


@dataclass(frozen=True)
class LoRAConfig:
    """LoRA hyper-parameters (PEFT ``LoraConfig``).

    ``target_modules=None`` uses PEFT's per-architecture default (BERT: query/value, GPT-2:
    c_attn, Llama: q_proj/v_proj). Defaults r=8, alpha=32 follow O-LoRA's settings.
    """

    r: int = 8
    alpha: float = 32.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ConfigError(f"LoRA r must be >= 1, got {self.r}")
        if self.alpha <= 0:
            raise ConfigError(f"LoRA alpha must be > 0, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"LoRA dropout must be in [0, 1), got {self.dropout}")


def _peft_config(cfg: LoRAConfig) -> LoraConfig:
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.r,
        # peft annotates lora_alpha as int but only uses it in float arithmetic (scaling =
        # alpha / r); LoRAConfig.alpha is a float, and int() would change a non-integer alpha,
        # so the value passes unchanged under peft's annotation (a cast, not an ignore: the
        # check then holds whether or not peft's types are visible to mypy)
        lora_alpha=cast(int, cfg.alpha),
        lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules) if cfg.target_modules else None,
        bias="none",
    )


def _lora_dict(layer: nn.Module, attr: Literal["lora_A", "lora_B"]) -> nn.ModuleDict:
    """A PEFT ``LoraLayer``'s ``lora_A`` / ``lora_B``: adapter name -> factor module."""
    return cast(nn.ModuleDict, getattr(layer, attr))


def _lora_weight(layer: nn.Module, attr: Literal["lora_A", "lora_B"], name: str) -> torch.Tensor:
    """The weight of adapter ``name``'s ``lora_A`` (``r x d_in``) or ``lora_B`` (``d_out x r``)."""
    return cast(torch.Tensor, _lora_dict(layer, attr)[name].weight)


class LoRAAdapters:
    """Named LoRA adapters injected into one model with PEFT.

    The first :meth:`add` wraps ``model`` with ``peft.get_peft_model`` (in place: the
    original module tree now holds the LoRA layers); later ones call ``add_adapter``. Every
    adapter is created under :func:`lab.core.seeded` so that its initial factors depend only
    on the seed given.
    """

    def __init__(self, model: nn.Module, config: LoRAConfig) -> None:
        self.base = model
        self.config = config
        self.peft: PeftModel | None = None

    @property
    def names(self) -> list[str]:
        """Adapter names in creation order."""
        return [] if self.peft is None else list(self.peft.peft_config)

    def add(self, name: str, *, seed: int) -> None:
        """Create adapter ``name`` (not activated; see :meth:`activate`)."""
        from peft import get_peft_model

        if name in self.names:
            raise ConfigError(f"adapter {name!r} exists already")
        if not name or name.startswith("lora_"):
            raise ConfigError(
                f"adapter name {name!r} is empty or collides with PEFT's 'lora_' prefix"
            )
        with seeded(seed):
            if self.peft is None:
                try:
                    self.peft = get_peft_model(
                        self.base, _peft_config(self.config), adapter_name=name
                    )
                except ValueError as exc:
                    raise ConfigError(
                        f"cannot add LoRA to {type(self.base).__name__}: {exc}"
                    ) from exc
            else:
                self.peft.add_adapter(name, _peft_config(self.config))
        self.activate(self.active or [name], trainable=())

    @property
    def active(self) -> list[str]:
        """The active adapters."""
        if self.peft is None:
            return []
        return list(cast("BaseTuner", self.peft.base_model).active_adapters)

    def delete(self, name: str) -> None:
        """Delete adapter ``name``."""
        if name not in self.names:
            raise DataError(f"no adapter {name!r} (have {self.names})")
        assert self.peft is not None
        self.peft.delete_adapter(name)

    def layers(self) -> Iterator[tuple[str, nn.Module]]:
        """``(qualified name, peft LoraLayer)`` for every layer holding LoRA factors."""
        from peft.tuners.lora import LoraLayer

        if self.peft is None:
            return iter(())
        modules: Iterator[tuple[str, nn.Module]] = self.peft.named_modules()
        return ((n, m) for n, m in modules if isinstance(m, LoraLayer))

    def parameters(self, name: str) -> list[nn.Parameter]:
        """Every parameter of adapter ``name``."""
        if name not in self.names:
            raise DataError(f"no adapter {name!r} (have {self.names})")
        out = []
        for _, layer in self.layers():
            for attr in cast("tuple[str, ...]", layer.adapter_layer_names):
                holder = getattr(layer, attr)
                if name in holder:
                    sub = holder[name]
                    out += list(sub.parameters()) if isinstance(sub, nn.Module) else [sub]
        return out

    def factors(self, name: str) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """``(layer name, A, B)`` per layer: ``A`` is ``r x d_in``, ``B`` is ``d_out x r``."""
        if name not in self.names:
            raise DataError(f"no adapter {name!r} (have {self.names})")
        return [
            (n, _lora_weight(layer, "lora_A", name), _lora_weight(layer, "lora_B", name))
            for n, layer in self.layers()
            if name in _lora_dict(layer, "lora_A")
        ]

    def activate(self, names: Sequence[str], *, trainable: Sequence[str] = ()) -> None:
        """Activate ``names`` (their LoRA updates add up) and leave only ``trainable`` trainable.

        PEFT's ``set_adapter`` sets ``requires_grad=True`` on every activated adapter; this
        method re-freezes all adapters not in ``trainable`` right after it.
        """
        if self.peft is None:
            raise DataError("no adapter has been added yet")
        unknown = [n for n in (*names, *trainable) if n not in self.names]
        if unknown:
            raise DataError(f"unknown adapter(s) {unknown} (have {self.names})")
        if not names:
            raise ConfigError("activate needs at least one adapter name")
        bad = [n for n in trainable if n not in names]
        if bad:
            raise ConfigError(f"trainable adapter(s) {bad} are not among the active {list(names)}")
        cast("BaseTuner", self.peft.base_model).set_adapter(list(names))
        keep = set(trainable)
        for _, layer in self.layers():
            for attr in cast("tuple[str, ...]", layer.adapter_layer_names):
                holder = getattr(layer, attr)
                for key in list(holder.keys()):
                    sub = holder[key]
                    params = sub.parameters() if isinstance(sub, nn.Module) else [sub]
                    for p in params:
                        p.requires_grad_(key in keep)

    def disabled(self) -> AbstractContextManager[Any]:
        """Context manager: run the base model with every adapter switched off."""
        if self.peft is None:
            from contextlib import nullcontext

            return nullcontext()
        return self.peft.disable_adapter()

    def scaling(self, name: str) -> float:
        """alpha / r of adapter ``name``."""
        for _, layer in self.layers():
            scaling = cast("dict[str, float]", layer.scaling)
            if name in scaling:
                return float(scaling[name])
        raise DataError(f"no adapter {name!r} (have {self.names})")
