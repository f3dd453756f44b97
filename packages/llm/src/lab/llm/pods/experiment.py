"""One complete run: task -> tokenizer/model -> SFT warm start -> GRPO/PODS -> evaluation.

Used by ``lab llm pods grpo``, the demo and ``tools/bench/llm_pods.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from lab.core import (
    ConfigError,
    DataError,
    RunDir,
    config_from_dict,
    config_to_dict,
    get_device,
    is_main,
    set_seed,
)

from ..models import tiny_causal_lm
from .evaluation import evaluate
from .grpo import GRPOConfig, GRPOTrainer
from .models import SFTConfig, build_tokenizer, load_smollm2, sft_warm_start
from .tasks import (
    arithmetic_reward,
    arithmetic_task,
    gsm8k_correctness_reward,
    gsm8k_format_reward,
    gsm8k_tag_reward,
    load_gsm8k,
)

__all__ = ["ExperimentConfig", "build_task", "resume_configs", "run_experiment", "stored_before"]


@dataclass(frozen=True)
class ExperimentConfig:
    """What to train on and with (the GRPO settings themselves are a :class:`GRPOConfig`).

    Attributes:
        task: ``arithmetic`` (generated) or ``gsm8k`` (needs ``data_path``).
        difficulty, num_terms, style: arithmetic knobs (see :func:`lab.llm.arithmetic_task`).
        data_path: GSM8K ``.jsonl`` file or folder with ``train.jsonl``/``test.jsonl``.
        train_size, eval_size: number of training prompts and held-out evaluation problems.
        model: ``tiny-gpt2``, ``tiny-llama`` (built from config, random init) or ``smollm2``
            (the offline SmolLM2-135M-Instruct weights).
        n_layer, n_embd, n_head: tiny model shape.
        sft_steps, sft_batch_size, sft_learning_rate: supervised warm start (0 steps = none).
        eval_max_completion_length: greedy decoding length at evaluation (None: the GRPO one).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
        out: root folder of run directories; name: run name.
        resume: a run directory to resume from its latest checkpoint (skips the warm start and
            the pre-training evaluation, whose stored result is reported). Build the configs of
            a resumed run with :func:`resume_configs`, which reads the run's ``config.json``.
    """

    task: Literal["arithmetic", "gsm8k"] = "arithmetic"
    difficulty: int = 1
    num_terms: int = 2
    style: Literal["word", "equation"] = "word"
    data_path: str | None = None
    train_size: int = 2000
    eval_size: int = 200
    model: Literal["tiny-gpt2", "tiny-llama", "smollm2"] = "tiny-gpt2"
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    sft_steps: int = 200
    sft_batch_size: int = 32
    sft_learning_rate: float = 3e-3
    eval_max_completion_length: int | None = None
    device: str = "auto"
    out: str = "runs"
    name: str = "llm-grpo"
    resume: str | None = None


def build_task(
    cfg: ExperimentConfig, seed: int = 0
) -> tuple[list[dict[str, str]], list[dict[str, str]], list[Any]]:
    """(train examples, eval examples, reward functions) for ``cfg.task``."""
    if cfg.task == "arithmetic":
        kw: dict[str, Any] = {
            "difficulty": cfg.difficulty,
            "num_terms": cfg.num_terms,
            "style": cfg.style,
        }
        train = arithmetic_task(cfg.train_size, seed=seed, **kw)
        held = arithmetic_task(cfg.eval_size, seed=seed + 10_000, **kw)
        return train, held, [arithmetic_reward]
    if cfg.task == "gsm8k":
        if not cfg.data_path:
            raise ConfigError("task='gsm8k' needs data_path (a GSM8K .jsonl file or folder)")
        p = Path(cfg.data_path)
        train = load_gsm8k(p, split="train", limit=cfg.train_size)
        held = (
            load_gsm8k(p, split="test", limit=cfg.eval_size)
            if p.is_dir()
            else train[-cfg.eval_size :]
        )
        return train, held, [gsm8k_correctness_reward, gsm8k_format_reward, gsm8k_tag_reward]
    raise ConfigError(f"unknown task {cfg.task!r}; choose 'arithmetic' or 'gsm8k'")


def resume_configs(
    run_path: str | Path, *, max_steps: int | None = None
) -> tuple[ExperimentConfig, GRPOConfig]:
    """The (experiment, GRPO) configs stored in a run's ``config.json``, set up to resume it.

    Nothing falls back to defaults: a missing or unreadable ``config.json`` is a
    :class:`~lab.core.DataError`. ``max_steps`` (optional) extends or shortens the run; every
    other setting is the stored one.
    """
    run = RunDir(run_path)
    if not run.path.is_dir():
        raise DataError(f"run directory {str(run.path)!r} does not exist")
    data = run.load_config_dict()
    missing = [k for k in ("experiment", "grpo") if not isinstance(data.get(k), dict)]
    if missing:
        raise DataError(
            f"{run.config_file}: no {' or '.join(repr(k) for k in missing)} section; "
            "not a `lab llm pods grpo` run"
        )
    exp = config_from_dict(ExperimentConfig, {**data["experiment"], "resume": str(run.path)})
    grpo = config_from_dict(GRPOConfig, data["grpo"])
    if max_steps is not None:
        grpo = replace(grpo, max_steps=max_steps)
    return exp, grpo


def stored_before(run: RunDir) -> dict[str, Any]:
    """The pre-training evaluation a run logged before its first GRPO step."""
    for row in run.metrics():
        if "before" in row and not row.get("final"):
            before = row["before"]
            assert isinstance(before, dict)
            return before
    raise DataError(
        f"{run.metrics_file} holds no pre-training evaluation (a 'before' row); "
        "it was not written by `lab llm pods grpo`, or by a version before 0.2"
    )


def run_experiment(
    cfg: ExperimentConfig,
    grpo: GRPOConfig,
    *,
    write_run: bool = True,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Build everything, warm-start, train with GRPO/PODS and evaluate before and after.

    Returns a dict with ``before``/``after`` evaluation metrics, ``history`` (per-step metrics),
    wall-clock seconds per phase and the run directory (when ``write_run``).
    """
    set_seed(grpo.seed)
    dev = get_device(cfg.device)
    train, held, rewards = build_task(cfg, seed=grpo.seed)
    if cfg.model == "smollm2":
        model, tok = load_smollm2(device=dev)
    else:
        corpus = (
            [e["prompt"] + e["completion"] for e in train[:2000]] if cfg.task == "gsm8k" else None
        )
        tok = build_tokenizer(corpus)
        arch: Literal["gpt2", "llama"] = "gpt2" if cfg.model == "tiny-gpt2" else "llama"
        model = tiny_causal_lm(
            tok,
            arch=arch,
            n_layer=cfg.n_layer,
            n_embd=cfg.n_embd,
            n_head=cfg.n_head,
            max_positions=1024 if cfg.task == "gsm8k" else 256,
            seed=grpo.seed,
            device=dev,
        )
    run = None
    before: dict[str, Any] | None = None
    if cfg.resume:
        run = RunDir.open(cfg.resume)
        if run.latest_checkpoint() is None:
            raise DataError(f"no checkpoint in {run.checkpoints} to resume from")
        before = stored_before(run)
    elif write_run and is_main():
        run = RunDir.create(
            cfg.name,
            root=cfg.out,
            config={"experiment": config_to_dict(cfg), "grpo": config_to_dict(grpo)},
        )
    t0 = time.perf_counter()
    if cfg.sft_steps > 0 and not cfg.resume:
        sft_warm_start(
            model,
            tok,
            train,
            SFTConfig(
                steps=cfg.sft_steps,
                batch_size=cfg.sft_batch_size,
                learning_rate=cfg.sft_learning_rate,
                seed=grpo.seed,
            ),
            show_progress=show_progress,
        )
    t_sft = time.perf_counter() - t0
    eval_len = cfg.eval_max_completion_length or grpo.max_completion_length
    if before is None:  # a resumed run reports the evaluation stored before its first step
        before = evaluate(model, tok, held, rewards[0], max_completion_length=eval_len)
        if run is not None and is_main():
            run.log({"before": before})
    trainer = GRPOTrainer(
        model,
        rewards,
        args=grpo,
        train_dataset=train,
        processing_class=tok,
        device=dev,
        run_dir=run,
    )
    t1 = time.perf_counter()
    history = trainer.train(resume_from="latest" if cfg.resume else None)
    t_rl = time.perf_counter() - t1
    after = evaluate(trainer.model, tok, held, rewards[0], max_completion_length=eval_len)
    result = {
        "before": before,
        "after": after,
        "history": history,
        "sft_seconds": t_sft,
        "grpo_seconds": t_rl,
        "run_dir": str(run.path) if run else None,
        "trainer": trainer,
    }
    if run is not None and is_main():
        run.log({"final": True, "before": before, "after": after, "grpo_seconds": t_rl})
    return result
