"""The image stability experiment behind ``lab explain stability`` and the demo.

Train (or load) a :class:`lab.explain.SmallCNN` on an image set (scikit-learn's digits by
default), explain test images with each requested method as top-k patch masks, and estimate
the stability rate with SCA at every radius, optionally of the mildly smoothed classifier and
with the MuS certified radius. Results go to a :class:`lab.core.RunDir`: one JSON line per
(image, method) in ``metrics.jsonl``, the model checkpoint, ``summary.json`` and a plot. A run
that stops part-way resumes from its folder (``--resume``), skipping the rows already logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lab.core import ConfigError, RunDir, get_device, load_checkpoint, progress, save_checkpoint

from .digits import SmallCNN, load_digits_tensors, load_image_npz, train_test_split
from .explanations import CAPTUM_METHODS, AttributionConfig, explanation_mask, k_from_fraction
from .maskers import MaskedClassifier, PatchMasker
from .mus import MuSConfig, mus_certified_radius
from .smoothing import Smoothed, SmoothingConfig
from .stability import SCAConfig, stability_curve
from .training import TrainConfig, accuracy, train_classifier

__all__ = ["StabilityRunConfig", "check_inputs", "run_stability", "summarize"]


@dataclass(frozen=True)
class StabilityRunConfig:
    """Settings of ``lab explain stability`` (every field is a ``--flag``).

    Args:
        data: ``"digits"`` (scikit-learn's bundled digits) or a path to an ``.npz`` file with
            ``images`` and ``labels``.
        grid: patch grid ``(rows, cols)`` (OURS default 4x4: 2x2-pixel patches on 8x8 digits).
        n_images: test images explained.
        methods: explanation methods: Captum names (see ``CAPTUM_METHODS``) and ``random``.
        top_k_fraction: share of features in the explanation (paper: 0.25).
        radii: radii at which the stability rate is estimated.
        eps: SCA tolerance.
        delta: SCA failure probability.
        lam: mild-smoothing keep probability (1.0 = no smoothing).
        n_draws: smoothing draws per evaluation.
        mus_lam: MuS lambda for the certified radius (0 = skip MuS).
        mus_q: MuS quantisation.
        epochs: training epochs when no checkpoint is given.
        test_fraction: share of the data held out for testing.
        checkpoint: a model checkpoint written by an earlier run (skips training).
        batch_size: masks per model call.
        seed: seed of the split, training, explanations and SCA samples.
    """

    data: str = field(
        default="digits",
        metadata={
            "help": "digits (scikit-learn's bundled digits) or a path to an .npz with images and labels"
        },
    )
    grid: tuple[int, int] = field(default=(4, 4), metadata={"help": "patch grid rows cols"})
    n_images: int = field(default=20, metadata={"help": "test images explained"})
    methods: tuple[str, ...] = field(
        default=("integrated_gradients", "random"),
        metadata={
            "help": "explanation methods: Captum names (integrated_gradients, lime, kernel_shap, ...) and random"
        },
    )
    top_k_fraction: float = field(
        default=0.25, metadata={"help": "share of features in the explanation (paper: 0.25)"}
    )
    radii: tuple[int, ...] = field(
        default=(0, 1, 2, 4, 8), metadata={"help": "radii at which the stability rate is estimated"}
    )
    eps: float = field(default=0.1, metadata={"help": "SCA additive tolerance, in (0, 1)"})
    delta: float = field(default=0.1, metadata={"help": "SCA failure probability, in (0, 1)"})
    lam: float = field(
        default=1.0, metadata={"help": "mild-smoothing keep probability (1.0 = no smoothing)"}
    )
    n_draws: int = field(default=64, metadata={"help": "smoothing draws per evaluation"})
    mus_lam: float = field(
        default=0.0, metadata={"help": "MuS lambda for the certified radius (0 = skip MuS)"}
    )
    mus_q: int = field(default=64, metadata={"help": "MuS quantisation levels"})
    epochs: int = field(
        default=10, metadata={"help": "training epochs when no checkpoint is given"}
    )
    test_fraction: float = field(
        default=0.25, metadata={"help": "share of the data held out for testing"}
    )
    checkpoint: str | None = field(
        default=None, metadata={"help": "model checkpoint of an earlier run (skips training)"}
    )
    batch_size: int = field(default=1024, metadata={"help": "masks per model call"})
    seed: int = field(
        default=0, metadata={"help": "seed of the split, training, explanations and SCA samples"}
    )

    def __post_init__(self) -> None:
        for m in self.methods:
            if m != "random" and m not in CAPTUM_METHODS:
                raise ConfigError(
                    f"unknown method {m!r}; known: random, {', '.join(sorted(CAPTUM_METHODS))}"
                )
        if not self.methods:
            raise ConfigError("methods must name at least one method")
        if not self.radii or any(r < 0 for r in self.radii):
            raise ConfigError(f"radii must be non-negative and non-empty, got {self.radii}")
        if self.n_images < 1:
            raise ConfigError(f"n_images must be >= 1, got {self.n_images}")
        SCAConfig(eps=self.eps, delta=self.delta, batch_size=self.batch_size)
        if self.lam < 1.0:
            SmoothingConfig(lam=self.lam, n_draws=self.n_draws)
        if self.mus_lam:
            MuSConfig(lam=self.mus_lam, q=self.mus_q)


def check_inputs(cfg: StabilityRunConfig) -> None:
    """Fail before any work (and before a run folder exists) when the data, the checkpoint or
    an optional dependency that ``cfg`` needs is missing or unreadable."""
    from lab.core import DataError, require

    if cfg.data == "digits":
        require("sklearn.datasets", "labworks-explain[demo]")
    else:
        load_image_npz(Path(cfg.data))  # raises DataError naming the problem
    if cfg.checkpoint is not None and not Path(cfg.checkpoint).is_file():
        raise DataError(f"checkpoint {cfg.checkpoint!r} does not exist")
    if any(m in CAPTUM_METHODS for m in cfg.methods):
        require("captum.attr", "labworks-explain[captum]")


def _load_data(cfg: StabilityRunConfig) -> tuple[torch.Tensor, torch.Tensor]:
    if cfg.data == "digits":
        return load_digits_tensors()
    return load_image_npz(Path(cfg.data))


def _model(
    cfg: StabilityRunConfig,
    run: RunDir,
    images: torch.Tensor,
    labels: torch.Tensor,
    train_idx: torch.Tensor,
    device: torch.device,
) -> SmallCNN:
    n_classes = int(labels.max().item()) + 1
    model = SmallCNN(images.shape[1], n_classes, (images.shape[2], images.shape[3]))
    source = Path(cfg.checkpoint) if cfg.checkpoint else run.latest_checkpoint()
    if source is not None:
        load_checkpoint(source, model=model, restore_rng=False)
        return model.to(device).eval()
    train_classifier(
        model,
        images[train_idx],
        labels[train_idx],
        TrainConfig(epochs=cfg.epochs),
        seed=cfg.seed,
        device=device,
    )
    save_checkpoint(
        run.checkpoint_path(cfg.epochs),
        model=model,
        step=cfg.epochs,
        extra={"n_classes": n_classes},
    )
    return model


def run_stability(
    cfg: StabilityRunConfig, run: RunDir, *, device: str | torch.device | None = None
) -> dict[str, Any]:
    """Run (or resume) the experiment in ``run`` and return its summary (also ``summary.json``)."""
    dev = get_device(device)
    images, labels = _load_data(cfg)
    h, w = images.shape[2], images.shape[3]
    masker = PatchMasker((h, w), cfg.grid)
    for r in cfg.radii:
        k = k_from_fraction(masker.n_features, cfg.top_k_fraction)
        if r > masker.n_features - k:
            raise ConfigError(
                f"radius {r} exceeds the {masker.n_features - k} features outside a "
                f"top-{k} explanation of {masker.n_features} patches"
            )
    train_idx, test_idx = train_test_split(len(labels), cfg.test_fraction, cfg.seed)
    if cfg.n_images > len(test_idx):
        raise ConfigError(f"n_images {cfg.n_images} exceeds the {len(test_idx)} test images")
    model = _model(cfg, run, images, labels, train_idx, dev)
    test_acc = accuracy(model, images[test_idx], labels[test_idx], device=dev)
    base = MaskedClassifier(model, masker)
    classifier: Any = base
    if cfg.lam < 1.0:
        classifier = Smoothed(
            base,
            SmoothingConfig(lam=cfg.lam, n_draws=cfg.n_draws, batch_size=cfg.batch_size),
            seed=cfg.seed,
        )
    sca = SCAConfig(eps=cfg.eps, delta=cfg.delta, batch_size=cfg.batch_size)
    k = k_from_fraction(masker.n_features, cfg.top_k_fraction)
    done = {(row["image"], row["method"]) for row in run.metrics() if "image" in row}
    jobs = [(i, m) for i in range(cfg.n_images) for m in cfg.methods if (i, m) not in done]
    for i, method in progress(jobs, desc="stability"):
        idx = int(test_idx[i])
        x = images[idx].to(dev)
        alpha = explanation_mask(
            method,
            base,
            x,
            k,
            config=AttributionConfig(seed=cfg.seed + i),
            seed=cfg.seed + idx,
            device=dev,
        )
        curve = stability_curve(
            classifier, x, alpha, list(cfg.radii), sca, generator=cfg.seed + idx, device=dev
        )
        row: dict[str, Any] = {
            "image": i,
            "index": idx,
            "method": method,
            "label": int(labels[idx]),
            "reference": curve[0].reference,
            "mask": alpha.tolist(),
            "rates": {str(e.radius): e.rate for e in curve},
        }
        if cfg.mus_lam:
            cert = mus_certified_radius(
                base,
                x,
                alpha,
                MuSConfig(lam=cfg.mus_lam, q=cfg.mus_q, batch_size=cfg.batch_size),
                seed=cfg.seed + idx,
                device=dev,
            )
            row["mus_radius"] = cert.radius
        run.log(row)
    summary = summarize(run, cfg)
    summary["test_accuracy"] = test_acc
    (run.path / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def summarize(run: RunDir, cfg: StabilityRunConfig) -> dict[str, Any]:
    """Mean stability rate per method and radius (and the MuS certified fraction per radius)."""
    rows = [r for r in run.metrics() if "image" in r and r["image"] < cfg.n_images]
    out: dict[str, Any] = {
        "n_images": cfg.n_images,
        "radii": list(cfg.radii),
        "lam": cfg.lam,
        "eps": cfg.eps,
        "delta": cfg.delta,
        "methods": {},
    }
    for method in cfg.methods:
        mine = [r for r in rows if r["method"] == method]
        entry: dict[str, Any] = {
            "mean_rate": {
                str(rad): sum(r["rates"][str(rad)] for r in mine) / max(len(mine), 1)
                for rad in cfg.radii
            },
            "n": len(mine),
        }
        if cfg.mus_lam and mine:
            entry["mus_certified_fraction"] = {
                str(rad): sum(1 for r in mine if rad == 0 or rad < r["mus_radius"]) / len(mine)
                for rad in cfg.radii
            }
        out["methods"][method] = entry
    return out
