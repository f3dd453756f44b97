"""Benchmark: SCA estimates against exact enumeration of Delta_r (lab.explain).

On the digits CNN (16 patches, top-4 Integrated-Gradients or random masks, so m = 12 and
|Delta_8| = 3,797) every stability rate can be computed exactly. For each image and radius we
compare SCA (eps = delta = 0.1, N = 150) with the exact rate (the named baseline), report the
mean absolute error, the share of estimates within eps (Hoeffding promises >= 1 - delta) and the
time ratio exact / SCA. The same for the mildly smoothed classifier: SCA on ``Smoothed``
(Monte-Carlo, 64 draws) against ``exact_stability_rate(ExactSmoothed)``, which enumerates every
keep pattern as well.

Writes runs/bench/explain_sca_exact.json.

    python tools/bench/explain_sca_exact.py            # CPU sizes
    python tools/bench/explain_sca_exact.py --paper    # more images and eps = delta = 0.05
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from lab.core import get_device, set_seed
from lab.explain import (
    ExactSmoothed,
    MaskedClassifier,
    PatchMasker,
    SCAConfig,
    SmallCNN,
    Smoothed,
    SmoothingConfig,
    TrainConfig,
    exact_stability_rate,
    explanation_mask,
    load_digits_tensors,
    stability_curve,
    train_classifier,
    train_test_split,
)


def compare(classifier, exact_classifier, items, radii, sca, dev, seed):
    errs, within, t_sca, t_exact = [], [], 0.0, 0.0
    for i, (x, alpha) in enumerate(items):
        t0 = time.perf_counter()
        est = stability_curve(classifier, x, alpha, radii, sca, generator=seed + i, device=dev)
        t_sca += time.perf_counter() - t0
        for e in est:
            t0 = time.perf_counter()
            ex = exact_stability_rate(
                exact_classifier, x, alpha, e.radius, batch_size=4096, device=dev
            )
            t_exact += time.perf_counter() - t0
            errs.append(abs(e.rate - ex.rate))
            within.append(abs(e.rate - ex.rate) <= sca.eps)
    return {
        "n_estimates": len(errs),
        "mean_abs_error": sum(errs) / len(errs),
        "max_abs_error": max(errs),
        "share_within_eps": sum(within) / len(within),
        "sca_s": t_sca,
        "exact_s": t_exact,
        "time_ratio_exact_over_sca": t_exact / t_sca,
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--paper", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/bench/explain_sca_exact.json"))
    args = p.parse_args()
    dev = get_device(args.device)
    set_seed(args.seed)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    n_img = 100 if args.paper else 10
    eps = 0.05 if args.paper else 0.1
    sca = SCAConfig(eps=eps, delta=eps, batch_size=4096)
    radii = [1, 2, 4, 8]
    images, labels = load_digits_tensors()
    tr, te = train_test_split(len(labels), 0.25, args.seed)
    model = SmallCNN()
    train_classifier(
        model, images[tr], labels[tr], TrainConfig(epochs=10), seed=args.seed, device=dev
    )
    g = MaskedClassifier(model, PatchMasker((8, 8), (4, 4)))
    result: dict = {
        "device": str(dev),
        "eps": eps,
        "delta": eps,
        "n_samples": sca.n_samples,
        "radii": radii,
    }
    for method in ("integrated_gradients", "random"):
        items = []
        for i in range(n_img):
            x = images[int(te[i])].to(dev)
            items.append((x, explanation_mask(method, g, x, 4, seed=args.seed + i, device=dev)))
        result[method] = compare(g, g, items, radii, sca, dev, args.seed)
        print(f"[{method}] {result[method]}")
        if method == "integrated_gradients":
            lam = 0.5
            sm = Smoothed(g, SmoothingConfig(lam=lam, n_draws=64, batch_size=8192), seed=args.seed)
            ex = ExactSmoothed(g, lam, batch_size=8192)
            n_sm = min(n_img, 4) if not args.paper else n_img
            result["smoothed_lambda_0.5"] = compare(
                sm, ex, items[:n_sm], [1, 4], sca, dev, args.seed
            )
            print(f"[smoothed lambda={lam}] {result['smoothed_lambda_0.5']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
