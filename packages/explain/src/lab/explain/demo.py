"""The explain demo for ``lab demo``: stability of digit explanations versus radius.

Trains the small CNN on scikit-learn's bundled digits (seconds), explains 12 test images as the
top 4 of 16 patches (2x2 pixels) with Integrated Gradients and LIME (Captum) and with random
masks, and estimates stability rates with SCA (eps = delta = 0.1) at r = 0, 1, 2, 4, 8. Then
a short lambda sweep: accuracy and stability of the mildly smoothed classifier, and the MuS
certified fraction. Writes two PNG plots.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import torch

from lab.core import RunDir
from lab.core.report import DemoResult, demo_size, line_plot

from .digits import load_digits_tensors, train_test_split
from .experiment import StabilityRunConfig, run_stability
from .maskers import MaskedClassifier, PatchMasker
from .smoothing import Smoothed, SmoothingConfig
from .stability import SCAConfig, stability_curve

__all__ = ["demo"]


def demo(out_dir: Path, *, device: torch.device, seed: int) -> DemoResult:
    """Run the demo into ``out_dir`` and return its measured metrics and plots."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    methods = (
        ("integrated_gradients", "lime", "random")
        if importlib.util.find_spec("captum")
        else ("random",)
    )
    tiny = demo_size() == "tiny"  # `lab demo --size tiny`: a seconds-long smoke run
    radii = (0, 1, 2, 4, 8)
    cfg = StabilityRunConfig(
        n_images=2 if tiny else 12,
        methods=methods,
        radii=radii,
        mus_lam=0.25,
        seed=seed,
        epochs=1 if tiny else 10,
    )
    run = RunDir.create("explain-demo", root=out_dir, config=cfg)
    summary = run_stability(cfg, run, device=device)
    series = {
        m: (list(radii), [summary["methods"][m]["mean_rate"][str(r)] for r in radii])
        for m in methods
    }
    for m in methods:
        series[f"{m}, MuS certified"] = (
            list(radii),
            [summary["methods"][m]["mus_certified_fraction"][str(r)] for r in radii],
        )
    plot1 = line_plot(
        out_dir / "stability_vs_radius.png",
        series,
        title="digits CNN: stability vs radius (top 4/16)",
        xlabel="radius r",
        ylabel="mean stability rate / MuS certified fraction",
    )

    # lambda sweep on the first method's masks (from the run's log): accuracy and tau_4.
    images, labels = load_digits_tensors()
    _, test_idx = train_test_split(len(labels), cfg.test_fraction, cfg.seed)
    from lab.core import load_checkpoint

    from .digits import SmallCNN

    model = SmallCNN()
    ckpt = run.latest_checkpoint()
    assert ckpt is not None
    load_checkpoint(ckpt, model=model, restore_rng=False)
    model.to(device).eval()
    base = MaskedClassifier(model, PatchMasker((8, 8), cfg.grid))
    rows = [r for r in run.metrics() if r.get("method") == methods[0]][:6]
    lams = [1.0, 0.75, 0.5]
    accs, taus = [], []
    n_acc = 10 if tiny else 100
    for lam in lams:
        sm = Smoothed(base, SmoothingConfig(lam=lam, n_draws=16), seed=seed)
        correct = 0
        xs = images[test_idx[:n_acc]].to(device)
        ones = torch.ones(1, base.n_features, dtype=torch.long, device=device)
        for x, y in zip(xs, labels[test_idx[:n_acc]], strict=True):
            correct += int(sm(x, ones).argmax().item() == int(y))
        accs.append(correct / n_acc)
        rates = []
        for row in rows:
            x = images[row["index"]].to(device)
            alpha = torch.tensor(row["mask"], device=device)
            rates.append(
                stability_curve(sm, x, alpha, [4], SCAConfig(), generator=seed, device=device)[
                    0
                ].rate
            )
        taus.append(sum(rates) / len(rates))
    plot2 = line_plot(
        out_dir / "smoothing_lambda_sweep.png",
        {"accuracy": (lams, accs), "stability rate r=4": (lams, taus)},
        title="mild smoothing: accuracy and stability vs lambda",
        xlabel="lambda (keep probability)",
        ylabel="value",
    )
    metrics: dict[str, float] = {"test_accuracy": summary["test_accuracy"]}
    for m in methods:
        for r in radii:
            metrics[f"{m}_tau_r{r}"] = summary["methods"][m]["mean_rate"][str(r)]
        metrics[f"{m}_mus_certified_r1"] = summary["methods"][m]["mus_certified_fraction"]["1"]
    for lam, a, t in zip(lams, accs, taus, strict=True):
        metrics[f"smoothed_lambda{lam}_accuracy"] = a
        metrics[f"smoothed_lambda{lam}_tau_r4"] = t
    text = ", ".join(
        f"{m}: " + "/".join(f"{summary['methods'][m]['mean_rate'][str(r)]:.2f}" for r in radii)
        for m in methods
    )
    return DemoResult(
        title="soft stability of digit explanations (SCA)",
        metrics=metrics,
        plots=(plot1, plot2),
        summary=(
            f"Small CNN on scikit-learn digits (test accuracy {summary['test_accuracy']:.3f}); "
            f"explanations = top 4 of 16 patches; mean SCA stability rate at r = {list(radii)}: {text}. "
            f"Smoothing lambda {lams}: accuracy {[round(a, 3) for a in accs]}, tau_4 "
            f"{[round(t, 3) for t in taus]}."
        ),
        seconds=time.perf_counter() - start,
    )
