"""DP-SGD training of a causal LM with Opacus: the DP base model of DP2Unlearning.

:func:`train_dp` calls Opacus' ``PrivacyEngine.make_private_with_epsilon`` (the noise
multiplier is found for the target (epsilon, delta) after ``epochs`` epochs), samples batches by
Poisson sampling, splits each logical batch into physical ones with ``BatchMemoryManager`` and
accounts with the PRV (default) or RDP accountant. It reports the example-level guarantee and
the author-level one by group privacy (:func:`group_privacy`).

Hugging Face pitfalls handled here (see the package docs):

- GPT-2's position embedding gets ``position_ids`` of shape ``[1, T]`` when none are passed,
  which breaks per-sample gradients; every forward pass passes ``[B, T]`` ids.
- Tied input/output embeddings (GPT-2's default) are fine in Opacus' ``hooks`` mode, which this
  module uses (the two per-sample contributions are summed; see the tests); ghost clipping
  would reject them.
- ``generate()`` does not work through ``GradSampleModule``: the returned model is the
  unwrapped Hugging Face module, with Opacus' hooks removed.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import InitVar, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from lab.core import (
    ConfigError,
    DataError,
    RunDir,
    get_device,
    load_checkpoint,
    progress,
    require,
    save_checkpoint,
)

from ..randomness import entropy_generator, resolve_simulation_seed
from .data import QAItem
from .models import unwrap_model
from .training import Cost, QABatch, encode_qa, example_losses

__all__ = [
    "DPConfig",
    "DPResult",
    "epsilon_for",
    "group_privacy",
    "per_sample_gradients",
    "train_dp",
    "train_dp_classifier",
]


# Opacus' module hooks on the embedding (whose input needs no grad) make torch warn on every
# backward pass; the per-sample gradients are right (see the tests), so the warning is muted.
_HOOK_WARNING = "Full backward hook is firing"


def _opacus() -> Any:
    return require("opacus", "labworks-privacy[unlearning]")


@dataclass(frozen=True)
class DPConfig:
    """DP-SGD with Opacus.

    Attributes:
        target_epsilon: example-level epsilon after ``epochs`` epochs.
        delta: example-level delta (the paper uses 1e-9..1e-12 for TOFU-sized data; OURS default
            1e-5 suits the small generated sets; keep ``delta << 1 / n``).
        epochs: training epochs (the noise multiplier is calibrated for them).
        batch_size: expected logical batch size (sampling rate = batch_size / n).
        max_physical_batch_size: the largest batch run at once (``BatchMemoryManager``).
        max_grad_norm: per-sample clipping norm C (paper: 1.0).
        lr: learning rate of the wrapped optimizer.
        optimizer: ``"adamw"`` or ``"sgd"`` (OURS default AdamW).
        accountant: ``"prv"`` (paper, default) or ``"rdp"``.
        max_length: longest prompt + answer allowed.
        max_noise_multiplier: refuse a target epsilon that needs a larger sigma (``None``:
            only Opacus' own limit).
        secure_mode: Opacus' ``secure_mode`` (noise and Poisson sampling from
            ``torchcsprng``'s ``/dev/urandom`` generator, and Opacus' defence against
            floating-point attacks). Needs the ``torchcsprng`` package, which has no release
            for current PyTorch/Python (not installable here); ``True`` without it is a
            ConfigError. Default ``False``: see ``simulation_seed``.
        simulation_seed: ``None`` (default): the Poisson sampler's and the noise's torch
            generators are seeded with 63 bits of OS entropy that are never stored (a
            checkpoint stores the generator states, so keep checkpoints as secret as the
            data). The generators themselves are torch's (not a CSPRNG), and without
            ``secure_mode`` Opacus' floating-point hardening is off: state of the art for
            research, not a production guarantee. An integer makes noise and sampling
            reproducible and VOIDS the guarantee (anyone who knows the seed can subtract
            the noise): simulations and tests only.
        seed: deprecated name of ``simulation_seed`` (init-only; DeprecationWarning).
    """

    target_epsilon: float = 8.0
    delta: float = 1e-5
    epochs: int = 3
    batch_size: int = 64
    max_physical_batch_size: int = 32
    max_grad_norm: float = 1.0
    lr: float = 1e-3
    optimizer: Literal["adamw", "sgd"] = "adamw"
    accountant: Literal["prv", "rdp"] = "prv"
    max_length: int = 64
    max_noise_multiplier: float | None = None
    secure_mode: bool = False
    simulation_seed: int | None = None
    seed: InitVar[int | None] = None

    def __post_init__(self, seed: int | None) -> None:
        object.__setattr__(
            self,
            "simulation_seed",
            resolve_simulation_seed(self.simulation_seed, seed, "DPConfig"),
        )
        if not (self.target_epsilon > 0 and math.isfinite(self.target_epsilon)):
            raise ConfigError(
                f"target_epsilon must be positive and finite, got {self.target_epsilon}"
            )
        if not 0 < self.delta < 1:
            raise ConfigError(f"delta must be in (0, 1), got {self.delta}")
        if self.epochs <= 0:
            raise ConfigError(f"epochs must be positive, got {self.epochs}")
        if self.batch_size <= 0 or self.max_physical_batch_size <= 0:
            raise ConfigError(
                f"batch sizes must be positive, got batch_size={self.batch_size}, "
                f"max_physical_batch_size={self.max_physical_batch_size}"
            )
        if not self.max_grad_norm > 0:
            raise ConfigError(f"max_grad_norm must be positive, got {self.max_grad_norm}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.optimizer not in ("adamw", "sgd"):
            raise ConfigError(f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        if self.accountant not in ("prv", "rdp"):
            raise ConfigError(f"accountant must be 'prv' or 'rdp', got {self.accountant!r}")


@dataclass(frozen=True)
class DPResult:
    """What :func:`train_dp` and :func:`train_dp_classifier` return.

    Attributes:
        model: the trained model with Opacus' wrapper and hooks removed (for a Hugging Face
            model ``generate()`` works).
        epsilon: the example-level epsilon spent (from the accountant).
        delta: the example-level delta.
        noise_multiplier: sigma chosen by ``make_private_with_epsilon``.
        sample_rate: Poisson sampling rate q.
        steps: logical (noise-adding) steps taken.
        group_size: the most records one author contributes (k).
        author_epsilon: the author-level epsilon by group privacy.
        author_delta: the author-level delta by group privacy (may exceed 1: vacuous).
        cost: optimizer steps, tokens and seconds.
        accountant: the accountant's name.
        randomness: where the noise and the Poisson sample came from: ``"secure_mode
            (torchcsprng)"``, ``"os-entropy seed"`` (the default; see
            :class:`DPConfig`) or ``"simulation seed N (no privacy guarantee)"``.
    """

    model: Any
    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    group_size: int
    author_epsilon: float
    author_delta: float
    cost: Cost
    accountant: str
    randomness: str = "os-entropy seed"

    def privacy_report(self) -> dict[str, float | int | str]:
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate,
            "steps": self.steps,
            "group_size": self.group_size,
            "author_epsilon": self.author_epsilon,
            "author_delta": self.author_delta,
            "accountant": self.accountant,
            "randomness": self.randomness,
        }


def group_privacy(epsilon: float, delta: float, k: int) -> tuple[float, float]:
    """The (epsilon, delta) for groups of ``k`` records from an example-level guarantee.

    Standard group privacy: ``(k * eps, k * exp((k - 1) * eps) * delta)``. The delta bound can
    exceed 1 (then the guarantee is vacuous; it is returned as is, not clamped).
    """
    if k < 1:
        raise ConfigError(f"group size must be >= 1, got {k}")
    if epsilon < 0 or not 0 <= delta <= 1:
        raise ConfigError(f"need epsilon >= 0 and delta in [0, 1], got ({epsilon}, {delta})")
    return k * epsilon, k * math.exp((k - 1) * epsilon) * delta


def epsilon_for(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str = "prv"
) -> float:
    """Epsilon of ``steps`` Poisson-subsampled Gaussian steps with Opacus' accountant."""
    acc = _opacus().accountants.create_accountant(mechanism=accountant)
    acc.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
    return float(acc.get_epsilon(delta=delta))


def per_sample_gradients(model: Any, batch: QABatch) -> dict[str, torch.Tensor]:
    """Per-example gradients of the per-example answer NLL, computed by Opacus' hooks.

    Wraps ``model`` in a ``GradSampleModule`` (hooks mode) for one forward/backward and removes
    the hooks again. Returns ``{parameter name: [B, *shape]}``; tied parameters appear once
    (under their first name) with both uses summed.
    """
    gsm = _opacus().GradSampleModule(model)
    try:
        model.zero_grad(set_to_none=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_HOOK_WARNING)
            example_losses(gsm, batch).mean().backward()
        out = {}
        seen: set[int] = set()
        for name, p in model.named_parameters():
            if id(p) in seen or not p.requires_grad:
                continue
            seen.add(id(p))
            gs = p.grad_sample
            out[name] = (
                (gs if gs is not None else torch.zeros(len(batch), *p.shape)).detach().clone()
            )
        return out
    finally:
        for p in model.parameters():
            p.grad_sample = None
        gsm._close()
        model.zero_grad(set_to_none=True)


def train_dp(
    model: Any,
    tokenizer: Any,
    items: list[QAItem] | tuple[QAItem, ...],
    config: DPConfig | None = None,
    *,
    group_size: int | None = None,
    device: torch.device | str | None = None,
    run_dir: RunDir | str | Path | None = None,
    resume: bool = False,
) -> DPResult:
    """Train ``model`` with DP-SGD on QA pairs (Opacus, Poisson sampling, PRV/RDP accounting).

    Args:
        model: a Hugging Face causal LM (trained in place; the unwrapped model is returned).
        tokenizer: its tokenizer.
        items: the training records (the full TOFU set for the DP base).
        config: :class:`DPConfig`.
        group_size: the most records one author contributes, for the author-level guarantee
            (default: counted from ``items``' ``author`` fields).
        device: where to train.
        run_dir: checkpoints are written there at the end of each epoch.
        resume: continue from the latest epoch checkpoint (the accountant's history is
            restored with it, so the reported epsilon covers the whole run).

    Raises:
        ConfigError: a target epsilon that cannot be met (Opacus finds no noise multiplier,
            or it exceeds ``max_noise_multiplier``).
        DataError: empty data.
    """
    cfg = config or DPConfig()
    if len(items) == 0:
        raise DataError("cannot train on an empty set of QA pairs")
    if group_size is None:
        counts: dict[str, int] = {}
        for q in items:
            counts[q.author] = counts.get(q.author, 0) + 1
        group_size = max(counts.values())
    data = encode_qa(
        tokenizer, [q.question for q in items], [q.answer for q in items], max_length=cfg.max_length
    )
    dataset = torch.utils.data.TensorDataset(data.input_ids, data.attention_mask, data.labels)

    def batch_loss(gsm: Any, tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, int]:
        b = QABatch(*tensors)
        return example_losses(gsm, b).mean(), b.n_tokens

    return _dp_loop(
        model,
        dataset,
        cfg,
        batch_loss=batch_loss,
        group_size=group_size,
        device=device,
        run_dir=run_dir,
        resume=resume,
        what="QA pairs",
    )


def train_dp_classifier(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    config: DPConfig | None = None,
    *,
    attention_mask: torch.Tensor | None = None,
    group_size: int = 1,
    device: torch.device | str | None = None,
    run_dir: RunDir | str | Path | None = None,
    resume: bool = False,
) -> DPResult:
    """Train any classifier with DP-SGD (the same Opacus loop and accounting as :func:`train_dp`).

    ``model(inputs)`` (or ``model(inputs, attention_mask)`` when a mask is given) must return
    logits ``[B, C]``; the loss is the mean cross-entropy. Every layer must be one Opacus can
    compute per-sample gradients for (``nn.Linear``, ``nn.Embedding``, ``nn.LayerNorm``,
    convolutions, ...; ``opacus.validators.ModuleValidator`` names the ones it cannot).
    ``config.max_length`` is not used here. Token counts in ``cost`` are the attention-mask
    sums, or the number of examples without a mask.

    Args:
        model: the classifier (trained in place; returned unwrapped, in eval mode).
        inputs: ``[N, ...]`` features or token ids.
        labels: ``[N]`` integer class labels.
        config: :class:`DPConfig` (epsilon, delta, epochs, batch size, clipping norm, ...).
        attention_mask: optional ``[N, T]`` mask passed as the model's second argument.
        group_size: records per individual for the group-level guarantee (1: example level).
        device: where to train.
        run_dir: epoch checkpoints (model, optimizer, accountant history, RNG states).
        resume: continue from the latest checkpoint in ``run_dir``.

    Raises:
        DataError: empty data, mismatched lengths, non-integer or negative labels.
        ConfigError: as :func:`train_dp`.
    """
    cfg = config or DPConfig()
    n = int(inputs.shape[0]) if inputs.dim() > 0 else 0
    if n == 0:
        raise DataError("cannot train a classifier on an empty set of examples")
    if labels.shape != (n,):
        raise DataError(f"labels must have shape ({n},) to match inputs, got {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex():
        raise DataError(f"labels must be integer class ids, got dtype {labels.dtype}")
    if int(labels.min()) < 0:
        raise DataError(f"labels must be >= 0, got {int(labels.min())}")
    if attention_mask is not None and attention_mask.shape[0] != n:
        raise DataError(f"attention_mask has {attention_mask.shape[0]} rows, inputs have {n}")
    if group_size < 1:
        raise ConfigError(f"group_size must be >= 1, got {group_size}")
    tensors = (inputs, labels) if attention_mask is None else (inputs, labels, attention_mask)
    dataset = torch.utils.data.TensorDataset(*tensors)

    def batch_loss(gsm: Any, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, int]:
        x, y = batch[0], batch[1]
        if len(batch) == 3:
            logits = gsm(x, batch[2])
            tokens = int(batch[2].sum())
        else:
            logits = gsm(x)
            tokens = int(x.shape[0])
        if logits.dim() != 2 or logits.shape[0] != x.shape[0]:
            raise DataError(f"the model must return logits [B, C], got {tuple(logits.shape)}")
        if int(y.max()) >= logits.shape[1]:
            raise DataError(f"label {int(y.max())} is outside the {logits.shape[1]} model classes")
        return torch.nn.functional.cross_entropy(logits, y), tokens

    return _dp_loop(
        model,
        dataset,
        cfg,
        batch_loss=batch_loss,
        group_size=group_size,
        device=device,
        run_dir=run_dir,
        resume=resume,
        what="examples",
    )


def _dp_loop(
    model: Any,
    dataset: torch.utils.data.TensorDataset,
    cfg: DPConfig,
    *,
    batch_loss: Any,
    group_size: int,
    device: torch.device | str | None,
    run_dir: RunDir | str | Path | None,
    resume: bool,
    what: str,
) -> DPResult:
    """The DP-SGD loop shared by :func:`train_dp` and :func:`train_dp_classifier`.

    ``batch_loss(gsm, tensors) -> (mean loss, tokens)`` runs one non-empty physical batch.
    """
    opacus = _opacus()
    from opacus.utils.batch_memory_manager import BatchMemoryManager
    from opacus.validators.errors import UnsupportedError

    dev = get_device(device)
    n = len(dataset)
    if cfg.batch_size > n:
        raise ConfigError(f"batch_size={cfg.batch_size} exceeds the {n} training {what}")
    _check_supported(model)
    engine = _privacy_engine(opacus, cfg)
    if cfg.simulation_seed is None:
        gen = entropy_generator()
    else:
        gen = torch.Generator().manual_seed(cfg.simulation_seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, generator=gen)
    model.to(dev)
    model.train()
    if cfg.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    if cfg.secure_mode:
        noise_gen = None  # Opacus draws from its torchcsprng generator
    elif cfg.simulation_seed is None:
        noise_gen = entropy_generator(dev)
    else:
        noise_gen = torch.Generator(device=dev).manual_seed(cfg.simulation_seed + 1)
    try:
        gsm, dp_opt, dp_loader = engine.make_private_with_epsilon(
            module=model,
            optimizer=opt,
            data_loader=loader,
            target_epsilon=cfg.target_epsilon,
            target_delta=cfg.delta,
            epochs=cfg.epochs,
            max_grad_norm=cfg.max_grad_norm,
            poisson_sampling=True,
            grad_sample_mode="hooks",
            noise_generator=noise_gen,
        )
    except (NotImplementedError, UnsupportedError) as exc:
        raise ConfigError(
            f"Opacus cannot train {type(model).__name__} with DP-SGD: {exc}. Replace the "
            "layers it names, e.g. `model = opacus.validators.ModuleValidator.fix(model)`"
        ) from exc
    except ValueError as exc:
        raise ConfigError(
            f"target epsilon {cfg.target_epsilon} (delta {cfg.delta}) cannot be met with "
            f"sampling rate {cfg.batch_size / n:.4g} over {cfg.epochs} epochs: {exc}"
        ) from exc
    sigma = float(dp_opt.noise_multiplier)
    if cfg.max_noise_multiplier is not None and sigma > cfg.max_noise_multiplier:
        gsm._close()
        raise ConfigError(
            f"target epsilon {cfg.target_epsilon} needs noise multiplier {sigma:.4g}, more than "
            f"max_noise_multiplier={cfg.max_noise_multiplier}"
        )
    sample_rate = 1 / len(loader)  # what make_private_with_epsilon calibrated sigma for
    rd = None
    if run_dir is not None:
        rd = run_dir if isinstance(run_dir, RunDir) else RunDir.open(_mk(run_dir))
    start_epoch, done = 0, Cost()
    if resume and rd is not None and (latest := rd.latest_checkpoint()) is not None:
        st = load_checkpoint(latest, model=model, optimizer=opt)
        start_epoch = st.step
        engine.accountant.history = [tuple(h) for h in st.extra["history"]]
        c = st.extra["cost"]
        done = Cost(int(c["steps"]), int(c["tokens"]), float(c["seconds"]))
        if "noise_gen" in st.extra and noise_gen is not None:
            noise_gen.set_state(st.extra["noise_gen"])
        if "sampler_gen" in st.extra:
            dp_loader.batch_sampler.generator.set_state(st.extra["sampler_gen"])
    t0 = time.perf_counter()
    tokens = 0
    steps_before = sum(h[2] for h in engine.accountant.history)
    for epoch in progress(
        range(start_epoch, cfg.epochs), desc="dp-sgd", total=cfg.epochs - start_epoch
    ):
        with BatchMemoryManager(
            data_loader=dp_loader,
            max_physical_batch_size=cfg.max_physical_batch_size,
            optimizer=dp_opt,
        ) as mem_loader:
            for batch in mem_loader:
                tensors = tuple(t.to(dev) for t in batch)
                dp_opt.zero_grad(set_to_none=True)
                if tensors[0].shape[0] == 0:
                    # an empty Poisson batch (many models cannot run on it): zero per-sample
                    # gradients, so that the step still adds noise and is accounted
                    for p in dp_opt.params:
                        p.grad_sample = torch.zeros((0, *p.shape), device=p.device, dtype=p.dtype)
                else:
                    loss, n_tok = batch_loss(gsm, tensors)
                    if not torch.isfinite(loss):
                        raise DataError(f"dp-sgd: loss became {loss.item()} in epoch {epoch}")
                    with warnings.catch_warnings():
                        warnings.filterwarnings("ignore", message=_HOOK_WARNING)
                        loss.backward()
                    tokens += n_tok
                dp_opt.step()
        if rd is not None:
            steps_now = sum(h[2] for h in engine.accountant.history)
            extra: dict[str, Any] = {
                "history": [list(h) for h in engine.accountant.history],
                "cost": (
                    done + Cost(steps_now - steps_before, tokens, time.perf_counter() - t0)
                ).as_dict(),
                "sampler_gen": dp_loader.batch_sampler.generator.get_state(),
            }
            if noise_gen is not None:
                extra["noise_gen"] = noise_gen.get_state()
            save_checkpoint(
                rd.checkpoint_path(epoch + 1),
                model=model,
                optimizer=opt,
                step=epoch + 1,
                extra=extra,
            )
    steps = int(sum(h[2] for h in engine.accountant.history))
    eps = float(engine.get_epsilon(cfg.delta))
    cost = done + Cost(steps - steps_before, tokens, time.perf_counter() - t0)
    gsm._close()
    for p in model.parameters():
        p.grad_sample = None
    plain = unwrap_model(gsm)
    plain.eval()
    a_eps, a_delta = group_privacy(eps, cfg.delta, group_size)
    return DPResult(
        model=plain,
        epsilon=eps,
        delta=cfg.delta,
        noise_multiplier=sigma,
        sample_rate=sample_rate,
        steps=steps,
        group_size=group_size,
        author_epsilon=a_eps,
        author_delta=a_delta,
        cost=cost,
        accountant=cfg.accountant,
        randomness=(
            "secure_mode (torchcsprng)"
            if cfg.secure_mode
            else "os-entropy seed"
            if cfg.simulation_seed is None
            else f"simulation seed {cfg.simulation_seed} (no privacy guarantee)"
        ),
    )


def _privacy_engine(opacus: Any, cfg: DPConfig) -> Any:
    """Opacus' PrivacyEngine; a missing ``torchcsprng`` under ``secure_mode`` is a ConfigError."""
    with warnings.catch_warnings():
        # Opacus warns "Secure RNG turned off" on every engine; DPConfig documents it instead.
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        try:
            return opacus.PrivacyEngine(accountant=cfg.accountant, secure_mode=cfg.secure_mode)
        except ImportError as exc:
            raise ConfigError(
                "secure_mode=True needs the 'torchcsprng' package, which is not installed (it "
                "has no release for current PyTorch/Python). Train with secure_mode=False and "
                "no simulation_seed (noise seeded from OS entropy; see DPConfig) or install "
                f"torchcsprng from source: {exc}"
            ) from exc


def _check_supported(model: Any) -> None:
    """Refuse a model with layers Opacus cannot privatise, naming each layer.

    Opacus' own error (an ``UnsupportedModuleError``, a ValueError, whose message names no
    layer) would otherwise surface from ``make_private_with_epsilon``.
    """
    from opacus.utils.module_utils import trainable_modules
    from opacus.validators import ModuleValidator

    bad = []
    for name, sub in trainable_modules(model):
        validator = ModuleValidator.VALIDATORS.get(type(sub))
        errors = validator(sub) if validator is not None else []
        if errors:
            reason = str(errors[0]).split(". ")[0].strip()
            bad.append(f"'{name or '<model>'}' ({type(sub).__name__}: {reason})")
    if bad:
        raise ConfigError(
            f"Opacus cannot train {len(bad)} layer(s) of {type(model).__name__} with DP-SGD: "
            + "; ".join(bad)
            + ". Replace them before training, e.g. "
            "`model = opacus.validators.ModuleValidator.fix(model)` (BatchNorm -> GroupNorm)"
        )


def _mk(path: str | Path) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p
