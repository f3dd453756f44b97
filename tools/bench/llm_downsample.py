"""Benchmark: PODS max-variance down-sampling, O(n log n) prefix+suffix vs brute force.

Baseline: ``max_variance_downsample_bruteforce`` (every m-subset). Same rewards, same run; the
script checks that both reach the same variance and reports the speed-up ratio, plus the
throughput of the batched rule on 10^6 rewards.

    python tools/bench/llm_downsample.py            # CPU defaults
    python tools/bench/llm_downsample.py --paper    # adds n=64, m=16 groups on the GPU if present
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

from lab.core import get_device
from lab.llm.pods import (
    max_variance_downsample,
    max_variance_downsample_bruteforce,
    subset_variance,
)


def _time(fn, repeat: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--paper", action="store_true", help="add paper-sized groups (n=64, m=16) on the GPU"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/bench/llm_downsample.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    rows = []
    for n, m, kind in [
        (8, 2, "binary"),
        (12, 4, "real"),
        (16, 4, "binary"),
        (16, 8, "real"),
        (20, 5, "real"),
    ]:
        groups = 20
        r = (
            rng.integers(0, 2, (groups, n)).astype(float)
            if kind == "binary"
            else rng.normal(size=(groups, n))
        )
        fast = _time(lambda r=r, m=m: max_variance_downsample(r, m), 5)
        t0 = time.perf_counter()
        bf = np.stack([max_variance_downsample_bruteforce(r[g], m) for g in range(groups)])
        slow = time.perf_counter() - t0
        v_fast = subset_variance(r, max_variance_downsample(r, m))
        v_bf = subset_variance(r, bf)
        rows.append(
            {
                "n": n,
                "m": m,
                "rewards": kind,
                "groups": groups,
                "subsets_per_group": math.comb(n, m),
                "ours_s": fast,
                "bruteforce_s": slow,
                "speedup": slow / fast,
                "same_variance": bool(np.allclose(v_fast, v_bf, rtol=1e-12, atol=1e-12)),
            }
        )
        print(
            f"n={n:3d} m={m:2d} {kind:6s}: ours {fast * 1e3:8.3f} ms, brute force {slow * 1e3:10.1f} ms, "
            f"ratio {slow / fast:9.0f}x, same variance: {rows[-1]['same_variance']}"
        )
    big = {}
    dev = get_device("auto") if args.paper else torch.device("cpu")
    shapes = [(1000, 1000, 250), (1, 10**6, 64)] + ([(4096, 64, 16)] if args.paper else [])
    for G, n, m in shapes:
        r = torch.rand(G, n, dtype=torch.float64, device=dev)
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

        def run(r=r, m=m, sync=sync):
            max_variance_downsample(r, m)
            sync()

        sec = _time(run, 3)
        big[f"{G}x{n}_m{m}"] = {
            "seconds": sec,
            "rewards_per_second": G * n / sec,
            "device": str(dev),
        }
        print(f"{G}x{n} (m={m}) on {dev}: {sec * 1e3:.1f} ms ({G * n / sec / 1e6:.1f} M rewards/s)")
    res = {
        "benchmark": "llm_downsample",
        "baseline": "brute force over all m-subsets",
        "rows": rows,
        "large": big,
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
