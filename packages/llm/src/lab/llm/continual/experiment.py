"""One configurable experiment (stream x methods x seeds), shared by the CLI, demo and benchmark."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from lab.core import ConfigError, config_to_dict, get_device

from .adapters import LoRAConfig
from .backbone import (
    Backbone,
    TransformerBackboneConfig,
    build_transformer_backbone,
    build_word_tokenizer,
    load_hf_backbone,
    load_minilm,
)
from .baselines import EWCConfig, JointConfig, ReplayConfig, TaskAwareJointConfig
from .inflora import InfLoRAConfig
from .l2p import L2PConfig
from .olora import OLoRAConfig
from .runner import METHODS, ContinualResult, make_strategy, run_stream
from .strategy import TrainConfig
from .stream import SyntheticStreamConfig, TaskStream, bbc_news_stream, synthetic_stream

__all__ = ["ContinualExperimentConfig", "build_stream", "run_experiment"]


@dataclass(frozen=True)
class ContinualExperimentConfig:
    """Everything ``lab llm continual`` runs: the stream, the backbone, methods and settings.

    ``methods`` takes names from :data:`~lab.llm.continual.METHODS` or ``all``.
    """

    stream: Literal["synthetic", "bbc"] = "synthetic"
    methods: tuple[str, ...] = ("sequential", "per_task", "olora", "inflora")
    seeds: tuple[int, ...] = (0,)
    backbone: Literal["tiny", "minilm", "hf"] = "tiny"
    hf_path: str = ""
    bbc_path: str = ""
    bbc_max_per_class: int | None = 60
    bbc_test_fraction: float = 0.25
    query_encoder: Literal["backbone", "minilm"] = "backbone"
    max_length: int = 64
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=5, lr=1e-2))
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    tiny: TransformerBackboneConfig = field(default_factory=TransformerBackboneConfig)
    synthetic: SyntheticStreamConfig = field(default_factory=SyntheticStreamConfig)
    olora: OLoRAConfig = field(default_factory=OLoRAConfig)
    inflora: InfLoRAConfig = field(default_factory=InfLoRAConfig)
    # ours: the tiny backbone is not pretrained, so L2P reads the text positions by default
    l2p: L2PConfig = field(default_factory=lambda: L2PConfig(feature="tokens"))
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    ewc: EWCConfig = field(default_factory=EWCConfig)
    joint: JointConfig = field(default_factory=JointConfig)
    joint_task_aware: TaskAwareJointConfig = field(default_factory=TaskAwareJointConfig)

    def __post_init__(self) -> None:
        methods = tuple(self.methods)
        if methods == ("all",):
            methods = tuple(METHODS)
        bad = [m for m in methods if m not in METHODS]
        if bad or not methods:
            raise ConfigError(
                f"unknown method(s) {bad or methods} (choose from {sorted(METHODS)} or all)"
            )
        object.__setattr__(self, "methods", methods)
        if not self.seeds:
            raise ConfigError("seeds must name at least one seed")
        if self.backbone == "hf" and not self.hf_path:
            raise ConfigError("backbone='hf' needs hf_path (a local Hugging Face model folder)")

    def method_config(self, method: str) -> Any:
        """The method-specific config block for ``method`` (None for those without one)."""
        return (
            getattr(self, method, None)
            if method in ("olora", "inflora", "l2p", "replay", "ewc", "joint", "joint_task_aware")
            else None
        )


def build_stream(cfg: ContinualExperimentConfig, *, seed: int = 0) -> TaskStream:
    """The stream ``cfg`` names (the synthetic stream uses its own seed field plus ``seed``)."""
    if cfg.stream == "synthetic":
        from dataclasses import replace

        return synthetic_stream(replace(cfg.synthetic, seed=cfg.synthetic.seed + seed))
    return bbc_news_stream(
        cfg.bbc_path or None,
        max_per_class=cfg.bbc_max_per_class,
        test_fraction=cfg.bbc_test_fraction,
        seed=seed,
    )


class _Backbones:
    """Fresh backbones per run (strategies take ownership); tokenizer and files loaded once."""

    def __init__(self, cfg: ContinualExperimentConfig, stream: TaskStream, device: torch.device):
        self.cfg, self.device = cfg, device
        self.tokenizer = None
        if cfg.backbone == "tiny":
            self.tokenizer = build_word_tokenizer(
                stream.all_texts(), vocab_size=cfg.tiny.vocab_size
            )
        self.query: Backbone | None = None

    def backbone(self, seed: int) -> Backbone:
        cfg = self.cfg
        if cfg.backbone == "tiny":
            from dataclasses import replace

            tiny = replace(cfg.tiny, max_length=cfg.max_length)
            return build_transformer_backbone(
                (), tiny, seed=seed, device=self.device, tokenizer=self.tokenizer
            )
        if cfg.backbone == "minilm":
            return load_minilm(max_length=cfg.max_length, device=self.device)
        return load_hf_backbone(cfg.hf_path, max_length=cfg.max_length, device=self.device)

    def query_encoder(self) -> Backbone | None:
        if self.cfg.query_encoder != "minilm":
            return None
        if self.query is None:
            self.query = load_minilm(max_length=self.cfg.max_length, device=self.device)
        return self.query


def run_experiment(
    cfg: ContinualExperimentConfig,
    *,
    device: torch.device | str | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Run every method of ``cfg`` on its stream for every seed.

    Writes ``results.json`` (and checkpoints per method/seed under ``checkpoints/``) into
    ``out_dir`` when given; ``resume=True`` continues interrupted runs from those checkpoints.
    Returns ``{"config": ..., "stream": ..., "runs": {method: [result per seed]}}``.
    """
    dev = get_device(device)
    out = Path(out_dir) if out_dir is not None else None
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in cfg.methods}
    stream_info: list[str] = []
    started = time.perf_counter()
    for seed in cfg.seeds:
        stream = build_stream(cfg, seed=seed)
        stream_info.append(stream.summary())
        factory = _Backbones(cfg, stream, dev)
        for method in cfg.methods:
            from dataclasses import replace

            train = replace(cfg.train, seed=seed)
            strategy = make_strategy(
                method,
                factory.backbone(seed),
                stream,
                train=train,
                lora=cfg.lora,
                config=cfg.method_config(method),
                query_encoder=factory.query_encoder() if method == "l2p" else None,
                device=dev,
            )
            ck = out / "checkpoints" / f"{method}-seed{seed}" if out is not None else None
            result: ContinualResult = run_stream(
                strategy, stream, checkpoint_dir=ck, resume=resume, show_progress=show_progress
            )
            runs[method].append({"seed": seed, **result.to_dict()})
    report = {
        "config": config_to_dict(cfg),
        "device": str(dev),
        "stream": stream_info[0],
        "seconds": time.perf_counter() - started,
        "runs": runs,
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
