"""Benchmark: soft stability of explanations (lab.explain), with named baselines in the same run.

Sections (CPU defaults; ``--paper`` for larger GPU sizes):

1. digits CNN (scikit-learn's bundled digits, 16 patches of 2x2, top 4): mean SCA stability
   rate vs radius for Captum attributions; baseline: random masks (ratio method / random).
2. text (TinyTextClassifier on a planted-keyword task, 16 tokens with 2-4 label keywords and
   one distractor keyword of the other class, top 4): the same, plus the label's planted
   keywords as an oracle explanation.
3. mild smoothing: test accuracy and stability rate vs lambda (baseline: lambda = 1).
4. soft vs hard: SCA rate vs the fraction of explanations that are hard-stable (exhaustive
   search) and the MuS certified fraction (the prior work's baseline), per radius.
5. throughput: batched SCA vs a per-sample loop over the same masks (baseline); the two must
   give identical rates; the ratio is loop time / batched time (target >= 10x).

Writes runs/bench/explain_stability.json. Sections 1-4 need Captum (``labworks-explain[bench]``);
``--sections throughput`` runs without it (its explanation is then a seeded random top-4 mask
instead of Integrated Gradients; the timing does not depend on which mask it is).

    python tools/bench/explain_stability.py            # CPU sizes
    python tools/bench/explain_stability.py --paper    # more images, eps = delta = 0.05
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path

import torch

from lab.core import get_device, set_seed
from lab.explain import (
    AttributionConfig,
    MaskedClassifier,
    MuSConfig,
    PatchMasker,
    SCAConfig,
    SmallCNN,
    Smoothed,
    SmoothingConfig,
    TinyTextClassifier,
    TokenMasker,
    TrainConfig,
    accuracy,
    explanation_mask,
    hard_stability_radius,
    load_digits_tensors,
    mus_certified_radius,
    planted_keyword_data,
    sample_perturbations,
    stability_curve,
    train_classifier,
    train_test_split,
)


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else float("nan")


def curves(g, items, methods, k, radii, sca, device, seed):
    """Mean SCA rate per method and radius, and the masks used."""
    out, masks = {}, {}
    for method in methods:
        rates = {r: [] for r in radii}
        masks[method] = []
        for i, (x, planted) in enumerate(items):
            if method == "planted":
                alpha = planted.to(device)
            else:
                alpha = explanation_mask(
                    method,
                    g,
                    x,
                    k,
                    config=AttributionConfig(seed=seed + i),
                    seed=seed + i,
                    device=device,
                )
            masks[method].append(alpha)
            for est in stability_curve(
                g, x, alpha, list(radii), sca, generator=seed + i, device=device
            ):
                rates[est.radius].append(est.rate)
        out[method] = {str(r): mean(v) for r, v in rates.items()}
    return out, masks


def ratios_to(base, table):
    return {
        m: {r: (v / base[r] if base[r] > 0 else float("inf")) for r, v in row.items()}
        for m, row in table.items()
        if row is not base
    }


def have_captum() -> bool:
    try:
        importlib.import_module("captum.attr")
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--paper", action="store_true", help="larger sizes (GPU)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/bench/explain_stability.json"))
    p.add_argument(
        "--sections",
        default="digits,text,smoothing,soft_hard,throughput",
        help="comma-separated subset to run; results are merged into an existing --out file",
    )
    args = p.parse_args(argv)
    sections = set(args.sections.split(","))
    unknown = sections - {"digits", "text", "smoothing", "soft_hard", "throughput"}
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}")
    if sections & {"smoothing", "soft_hard"}:
        sections.add("digits")
    captum = have_captum()
    if not captum and sections - {"throughput"}:
        p.error(
            f"sections {sorted(sections - {'throughput'})} explain with Captum, which is not "
            "installed: pip install 'labworks-explain[bench]' (--sections throughput runs "
            "without it)"
        )
    dev = get_device(args.device)
    set_seed(args.seed)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    n_img = 100 if args.paper else 12
    eps = 0.05 if args.paper else 0.1
    sca = SCAConfig(eps=eps, delta=eps, batch_size=4096)
    radii = [0, 1, 2, 4, 8]
    result: dict = {
        "device": str(dev),
        "paper": args.paper,
        "eps": eps,
        "delta": eps,
        "n_images": n_img,
    }
    t_all = time.perf_counter()

    # 1. digits
    images, labels = load_digits_tensors()
    tr, te = train_test_split(len(labels), 0.25, args.seed)
    model = SmallCNN()
    train_classifier(
        model, images[tr], labels[tr], TrainConfig(epochs=10), seed=args.seed, device=dev
    )
    acc = accuracy(model, images[te], labels[te], device=dev)
    g = MaskedClassifier(model, PatchMasker((8, 8), (4, 4)))
    items = [(images[int(i)].to(dev), None) for i in te[:n_img]]
    methods = ["integrated_gradients", "lime", "kernel_shap", "random"]
    if "digits" in sections:
        table, dmasks = curves(g, items, methods, 4, radii, sca, dev, args.seed)
        result["digits"] = {
            "test_accuracy": acc,
            "rates": table,
            "ratio_to_random": ratios_to(table["random"], table),
        }
        print(f"[digits] accuracy {acc:.3f}")
        for m, row in table.items():
            print(f"  {m:22s}" + " ".join(f"r={r}:{row[str(r)]:.3f}" for r in radii))

    if "text" in sections:
        text_section(result, args, radii, sca, dev, n_img)
    if "smoothing" in sections:
        smoothing_section(result, args, g, images, labels, te, items, dmasks, sca, dev, n_img)
    if "soft_hard" in sections:
        soft_hard_section(result, args, g, items, dmasks, table, dev)
    if "throughput" in sections:
        x = items[0][0]
        explainer = "integrated_gradients" if captum else "random"
        alpha = (
            dmasks["integrated_gradients"][0]
            if "digits" in sections
            else explanation_mask(explainer, g, x, 4, device=dev, seed=args.seed)
        )
        throughput_section(result, g, x, alpha, sca, dev)
        result["throughput"]["explanation"] = explainer
    result["seconds"] = time.perf_counter() - t_all
    args.out.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(args.out.read_text()) if args.out.is_file() else {}
    merged.update(result)
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"wrote {args.out} ({result['seconds']:.0f} s)")


def text_section(result, args, radii, sca, dev, n_img):
    """2. text with planted keywords."""
    L = 16
    inputs, tlabels, planted = planted_keyword_data(
        1200, length=L, vocab_size=64, distractors=1, seed=args.seed
    )
    tmodel = TinyTextClassifier(64, 2, dim=32)
    train_classifier(
        tmodel,
        {k: v[:900] for k, v in inputs.items()},
        tlabels[:900],
        TrainConfig(epochs=10, lr=1e-2),
        seed=args.seed,
        device=dev,
    )
    tacc = accuracy(tmodel, {k: v[900:] for k, v in inputs.items()}, tlabels[900:], device=dev)
    gt = MaskedClassifier(tmodel, TokenMasker(L))
    titems = [({k: v[900 + i] for k, v in inputs.items()}, planted[900 + i]) for i in range(n_img)]
    ttable, _ = curves(
        gt,
        titems,
        ["integrated_gradients", "lime", "planted", "random"],
        4,
        radii,
        sca,
        dev,
        args.seed,
    )
    result["text"] = {
        "test_accuracy": tacc,
        "rates": ttable,
        "ratio_to_random": ratios_to(ttable["random"], ttable),
    }
    print(f"[text] accuracy {tacc:.3f}")
    for m, row in ttable.items():
        print(f"  {m:22s}" + " ".join(f"r={r}:{row[str(r)]:.3f}" for r in radii))


def smoothing_section(result, args, g, images, labels, te, items, dmasks, sca, dev, n_img):
    """3. lambda sweep (digits, IG masks): accuracy and stability vs lambda."""
    lams = [1.0, 0.875, 0.75, 0.5, 0.25]
    n_draws = 64 if args.paper else 32
    n_lam_img = n_img if args.paper else 8
    n_acc = len(te) if args.paper else 150
    sweep = []
    ones = torch.ones(1, 16, dtype=torch.long, device=dev)
    for lam in lams:
        sm = Smoothed(g, SmoothingConfig(lam=lam, n_draws=n_draws, batch_size=8192), seed=args.seed)
        correct = sum(
            int(sm(images[int(i)].to(dev), ones).argmax().item() == int(labels[int(i)]))
            for i in te[:n_acc]
        )
        rates = {r: [] for r in (1, 4, 8)}
        for i in range(n_lam_img):
            x, alpha = items[i][0], dmasks["integrated_gradients"][i]
            for est in stability_curve(
                sm, x, alpha, [1, 4, 8], sca, generator=args.seed + i, device=dev
            ):
                rates[est.radius].append(est.rate)
        row = {
            "lambda": lam,
            "accuracy": correct / n_acc,
            **{f"rate_r{r}": mean(v) for r, v in rates.items()},
        }
        sweep.append(row)
        print(
            f"[smoothing] lambda={lam}: "
            + ", ".join(f"{k}={v:.3f}" for k, v in row.items() if k != "lambda")
        )
    result["smoothing"] = {
        "n_draws": n_draws,
        "n_images": n_lam_img,
        "n_accuracy": n_acc,
        "sweep": sweep,
    }


def soft_hard_section(result, args, g, items, dmasks, table, dev):
    """4. soft vs hard vs MuS (digits, IG and random masks)."""
    hard_radii = [1, 2, 3, 4]
    soft_hard = {}
    for method in ("integrated_gradients", "random"):
        hard_r, mus_r = [], []
        for i, (x, _) in enumerate(items):
            alpha = dmasks[method][i]
            hard_r.append(hard_stability_radius(g, x, alpha, max(hard_radii), device=dev))
            mus_r.append(
                mus_certified_radius(
                    g, x, alpha, MuSConfig(lam=0.25, q=64), seed=args.seed + i, device=dev
                ).radius
            )
        soft_hard[method] = {
            "soft_rate": {
                str(r): table[method].get(str(r)) for r in hard_radii if str(r) in table[method]
            },
            "hard_stable_fraction": {str(r): mean(h >= r for h in hard_r) for r in hard_radii},
            "mus_certified_fraction": {str(r): mean(r < m for m in mus_r) for r in hard_radii},
            "mean_hard_radius": mean(hard_r),
            "mean_mus_radius": mean(mus_r),
        }
        print(f"[soft/hard/MuS] {method}: {soft_hard[method]}")
    result["soft_vs_hard"] = soft_hard


def throughput_section(result, g, x, alpha, sca, dev):
    """5. throughput: batched SCA vs a per-sample loop on the same masks.

    Repetitions alternate between the two and the minimum time of each is kept (the machine
    may be shared); both must return the same rate.
    """
    r, reps, n = 4, 5, sca.n_samples

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    t_batched, t_loop = [], []
    for rep in range(reps):
        sync()
        t0 = time.perf_counter()
        batched = stability_curve(g, x, alpha, [r], sca, generator=100 + rep, device=dev)[0].rate
        sync()
        t_batched.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with torch.no_grad():
            ref = g(x, alpha.view(1, -1)).argmax(-1)
            masks = sample_perturbations(alpha, r, n, generator=100 + rep, device=dev)
            stable = sum(int(g(x, m.view(1, -1)).argmax(-1) == ref) for m in masks)
        sync()
        t_loop.append(time.perf_counter() - t0)
        assert stable / n == batched, (stable / n, batched)
    tb, tl = min(t_batched), min(t_loop)
    result["throughput"] = {
        "n_samples": n,
        "repetitions": reps,
        "batched_s_min": tb,
        "per_sample_loop_s_min": tl,
        "speedup": tl / tb,
        "batched_masks_per_s": n / tb,
    }
    print(f"[throughput] batched {tb * 1e3:.1f} ms, loop {tl * 1e3:.1f} ms, speedup {tl / tb:.1f}x")


if __name__ == "__main__":
    main()
