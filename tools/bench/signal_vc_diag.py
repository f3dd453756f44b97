"""Diagnostics for CLOT-GAN on the mel-cepstral path, without the vocoder (fast on a CPU).

Trains CLOT-GAN (``features="mcep"``, the CPU config of ``signal_vc.py`` with overrides) on
cached WORLD features of the benchmark's training split and scores a **validation** split that
the benchmark's test sentences never enter: the source speaker's recordings of 30013-30025
(never a generator input in training) against the target speaker's recordings of the same
sentences (seen in training only as unpaired target data). The score is the vocoder-free
feature MCD (c1..c24 as converted against the real target's, on the DTW path of source and
target over non-silent frames), every ``--eval-every`` steps: a learning curve. Training
continues from the run folder's checkpoints between evaluations (optimizers and samplers
restored), so the curve is the curve of one uninterrupted run.

    python tools/bench/signal_vc_diag.py --pair VCC2SF3:VCC2TF1 --steps 1000 --eval-every 100 \
        --tag base
    python tools/bench/signal_vc_diag.py --pair VCC2SF3:VCC2TF1 --steps 1000 --ot-reference pool

Writes runs/bench/vc_diag/<source>_<target>_<tag>.json (the curve, the config, no conversion
and the mean/variance transfer on the same split). WORLD features are cached in
runs/bench/vc_diag/cache_<speaker>.npz.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from signal_vc import SR, SRC_IDS, TGT_IDS, cpu_config, load

from lab.core import RunDir, set_seed
from lab.signal.vc import (
    CLOTGAN,
    GeneratorConfig,
    WorldConfig,
    dtw_path,
    mcd,
    mel_cepstrum,
    nonsilent_frames,
    world_analyze,
)

warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

VAL_IDS = TGT_IDS  # 30013-30025: the source's recordings never enter training


def features(data: Path, spk: str, ids: list[int], world: WorldConfig, cache: Path) -> dict:
    """WORLD c0..cD, F0 and the 40 dB non-silent mask per utterance (cached per speaker)."""
    path = cache / f"cache_{spk}_{world.f0_method}{world.f0_floor:g}_{world.mcep_order}.npz"
    store: dict[str, np.ndarray] = dict(np.load(path)) if path.exists() else {}
    changed = False
    for i, w in zip(ids, load(data, spk, ids), strict=True):
        if f"mc{i}" in store:
            continue
        f = world_analyze(w, SR, world)
        store[f"mc{i}"] = mel_cepstrum(f.sp, SR, world)
        store[f"f0{i}"] = f.f0
        store[f"e{i}"] = 10 * np.log10(f.sp.sum(1) + 1e-12)
        changed = True
    if changed:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, **store)
    return {i: (store[f"mc{i}"], store[f"f0{i}"], store[f"e{i}"]) for i in ids}


class CachedCLOTGAN(CLOTGAN):
    """CLOT-GAN whose training features come from the cache instead of WORLD analysis."""

    cached: ClassVar[dict[str, tuple[list, list, list]]] = {}

    def _features(self, source, name):  # type: ignore[no-untyped-def,override]
        return self.cached[name]


def as_training(feats: dict, silence_db: float) -> tuple[list, list, list]:
    mels, f0s, loud = [], [], []
    for mc, f0, e in feats.values():
        f = torch.as_tensor(mc[:, 1:].T.copy(), dtype=torch.float32)
        keep = torch.as_tensor(nonsilent_frames(e, silence_db))
        mels.append(f)
        f0s.append(f0)
        loud.append(f[:, keep] if bool(keep.any()) else f)
    return mels, f0s, loud


def val_paths(src: dict, tgt: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    paths = []
    for i in src:
        (cs, _, es), (ct, _, et) = src[i], tgt[i]
        ks = np.flatnonzero(nonsilent_frames(es, 40.0))
        kt = np.flatnonzero(nonsilent_frames(et, 40.0))
        a, b = dtw_path(cs[ks, 1:25], ct[kt, 1:25])
        paths.append((ks[a], kt[b]))
    return paths


def feature_mcd(conv: list[np.ndarray], tgt: dict, paths: list) -> tuple[float, list[float]]:
    per = [
        mcd(ct[i_t, :25], c[i_s, :25], align=False)
        for c, (ct, _, _), (i_s, i_t) in zip(conv, tgt.values(), paths, strict=True)
    ]
    return float(np.mean(per)), [float(v) for v in per]


def mean_variance(src_tr, tgt_tr, src_val: dict) -> list[np.ndarray]:
    """Per-coefficient mean/variance transfer of c1..cD with the same statistics as CLOT-GAN."""
    s = torch.cat(src_tr[2], 1).double()
    t = torch.cat(tgt_tr[2], 1).double()
    sm, ss, tm, ts = s.mean(1), s.std(1), t.mean(1), t.std(1)
    out = []
    for mc, _, _ in src_val.values():
        c = mc.copy()
        c[:, 1:] = ((torch.as_tensor(mc[:, 1:]) - sm) / ss * ts + tm).numpy()
        out.append(c)
    return out


def parallel_bound(
    src_tr: dict, tgt_tr: dict, src_val: dict, context: int, ridge: float
) -> list[np.ndarray]:
    """A PARALLEL-data reference (not a non-parallel method): ridge regression from the
    source's c1..cD with +-``context`` neighbouring frames to the DTW-aligned target c1..cD,
    fitted on the training sentence pairs, applied to the validation sources. It says how much
    of the oracle's gap a frame-wise converter can close at all when it is told the answer."""

    def stack(c: np.ndarray) -> np.ndarray:
        pad = np.pad(c, ((context, context), (0, 0)), mode="edge")
        cols = [pad[k : k + len(c)] for k in range(2 * context + 1)]
        return np.concatenate([*cols, np.ones((len(c), 1))], axis=1)

    xs, ys = [], []
    for i in src_tr:
        (cs, _, es), (ct, _, et) = src_tr[i], tgt_tr[i]
        ks = np.flatnonzero(nonsilent_frames(es, 40.0))
        kt = np.flatnonzero(nonsilent_frames(et, 40.0))
        a, b = dtw_path(cs[ks, 1:25], ct[kt, 1:25])
        xs.append(stack(cs[:, 1:])[ks[a]])
        ys.append(ct[kt[b], 1:])
    x, y = np.concatenate(xs), np.concatenate(ys)
    w = np.linalg.solve(x.T @ x + ridge * len(x) * np.eye(x.shape[1]), x.T @ y)
    out = []
    for mc, _, _ in src_val.values():
        c = mc.copy()
        c[:, 1:] = stack(mc[:, 1:]) @ w
        out.append(c)
    return out


def gaussian_ot_map(src_tr, tgt_tr, src_val: dict) -> list[np.ndarray]:
    """NON-parallel linear reference: the optimal-transport (Monge) map between Gaussians
    fitted to the source's and the target's non-silent c1..cD frames,
    ``y = m_t + A (x - m_s)``, ``A = S^-1/2 (S^1/2 T S^1/2)^1/2 S^-1/2`` (full covariances;
    the mean/variance transfer is its diagonal special case). It is the best that matching the
    frame distributions up to second order can do with a linear map."""
    from scipy.linalg import sqrtm

    s = torch.cat(src_tr[2], 1).double().numpy()
    t = torch.cat(tgt_tr[2], 1).double().numpy()
    ms, mt = s.mean(1), t.mean(1)
    cs, ct = np.cov(s), np.cov(t)
    r = np.real(sqrtm(cs))
    ri = np.linalg.inv(r)
    a = ri @ np.real(sqrtm(r @ ct @ r)) @ ri
    out = []
    for mc, _, _ in src_val.values():
        c = mc.copy()
        c[:, 1:] = (mc[:, 1:] - ms) @ a.T + mt
        out.append(c)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--pair", default="VCC2SF3:VCC2TF1")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", default="base")
    p.add_argument("--out", type=Path, default=Path("runs/bench/vc_diag"))
    p.add_argument("--lr-g", type=float, default=None)
    p.add_argument("--lr-d", type=float, default=None)
    p.add_argument("--lambda-ot", type=float, default=None)
    p.add_argument("--lambda-cycle", type=float, default=None)
    p.add_argument("--lambda-identity", type=float, default=None)
    p.add_argument("--ot-reference", choices=["batch", "pool"], default=None)
    p.add_argument("--ot-epsilon", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--combine", choices=["mean", "softmax"], default=None)
    p.add_argument("--kinds", nargs="+", default=None, help="discriminator kinds")
    p.add_argument("--gen", type=int, nargs=3, default=None, metavar=("C2D", "C1D", "NRES"))
    p.add_argument("--output-init-scale", type=float, default=None)
    p.add_argument("--resume", action="store_true", help="continue the curve of the same tag")
    p.add_argument(
        "--parallel-bound",
        action="store_true",
        help="only score the parallel ridge-regression reference (training pairs 30001-30012)",
    )
    args = p.parse_args()
    torch.set_num_threads(1)
    data = args.data or Path(os.environ["LABWORKS_DATA"]) / "vcc2018"
    src, tgt = args.pair.split(":")
    world = WorldConfig(mcep_order=24, f0_floor=50.0, f0_method="harvest")
    cfg = cpu_config(args.steps, args.seed, world, "mcep")
    over = {
        "lr_g": args.lr_g,
        "lr_d": args.lr_d,
        "lambda_ot": args.lambda_ot,
        "lambda_cycle": args.lambda_cycle,
        "lambda_identity": args.lambda_identity,
        "ot_reference": args.ot_reference,
        "ot_epsilon": args.ot_epsilon,
        "batch_size": args.batch_size,
        "combine": args.combine,
    }
    cfg = replace(cfg, **{k: v for k, v in over.items() if v is not None})
    if args.kinds:
        cfg = replace(cfg, discriminator=replace(cfg.discriminator, kinds=tuple(args.kinds)))
    if args.gen or args.output_init_scale is not None:
        g = cfg.generator
        if args.gen:
            g = replace(g, channels_2d=args.gen[0], channels_1d=args.gen[1], n_residual=args.gen[2])
        if args.output_init_scale is not None:
            g = replace(g, output_init_scale=args.output_init_scale)
        cfg = replace(cfg, generator=GeneratorConfig(**asdict(g)))
    cfg = replace(cfg, checkpoint_every=args.eval_every)
    t0 = time.time()
    f_src_tr = features(data, src, SRC_IDS, world, args.out)
    f_tgt_tr = features(data, tgt, TGT_IDS, world, args.out)
    f_src_val = features(data, src, VAL_IDS, world, args.out)
    f_tgt_val = f_tgt_tr  # same recordings (target side of the validation pairs)
    print(f"features {time.time() - t0:.0f} s", flush=True)
    src_tr = as_training(f_src_tr, cfg.stats_silence_db)
    tgt_tr = as_training(f_tgt_tr, cfg.stats_silence_db)
    paths = val_paths(f_src_val, f_tgt_val)
    res: dict = {"pair": args.pair, "tag": args.tag, "config": asdict(cfg), "curve": []}
    res["command"] = "python tools/bench/signal_vc_diag.py " + " ".join(sys.argv[1:])
    nc, nc_per = feature_mcd([v[0] for v in f_src_val.values()], f_tgt_val, paths)
    mv, mv_per = feature_mcd(mean_variance(src_tr, tgt_tr, f_src_val), f_tgt_val, paths)
    res["no_conversion"], res["mean_variance"] = nc, mv
    res["no_conversion_per"], res["mean_variance_per"] = nc_per, mv_per
    print(f"val feature MCD: no conversion {nc:.3f}, mean/variance {mv:.3f}", flush=True)
    if args.parallel_bound:
        f_tgt_par = features(data, tgt, SRC_IDS, world, args.out)
        bound: dict = {"pair": args.pair, "no_conversion": nc, "mean_variance": mv}
        gm = feature_mcd(gaussian_ot_map(src_tr, tgt_tr, f_src_val), f_tgt_val, paths)[0]
        bound["gaussian_ot_map"] = gm
        print(f"non-parallel Gaussian OT map (full covariance): {gm:.3f}")
        for ctx in (0, 2, 5):
            conv = parallel_bound(f_src_tr, f_tgt_par, f_src_val, ctx, 1e-3)
            bound[f"ridge_context{ctx}"] = feature_mcd(conv, f_tgt_val, paths)[0]
            print(f"parallel ridge, context +-{ctx}: {bound[f'ridge_context{ctx}']:.3f}")
        bp = args.out / f"{src}_{tgt}_parallel_bound.json"
        bp.write_text(json.dumps(bound, indent=1) + "\n")
        return
    CachedCLOTGAN.cached = {"source": src_tr, "target": tgt_tr}
    name = f"{src}_{tgt}_{args.tag}_s{args.seed}"
    run_path = args.out / "runs" / name
    out_path = args.out / f"{name}.json"
    start = 0
    if args.resume and out_path.exists():
        old = json.loads(out_path.read_text())
        same = {k: v for k, v in json.loads(json.dumps(res["config"])).items() if k != "steps"}
        if {k: v for k, v in old["config"].items() if k != "steps"} != same:
            raise SystemExit(f"--resume: {out_path} was written with another config")
        res["curve"], hist = old["curve"], old["history"]
        start = res["curve"][-1]["step"] if res["curve"] else 0
    else:
        hist = []
    run_path.mkdir(parents=True, exist_ok=True)
    run = RunDir.open(run_path)
    set_seed(args.seed)
    model = CachedCLOTGAN(cfg, device="cpu")
    for k in range(start + args.eval_every, args.steps + 1, args.eval_every):
        t1 = time.time()
        hist += model.fit(None, None, run_dir=run, resume=run.latest_checkpoint() is not None, steps=k,
                          show_progress=False)  # fmt: skip
        conv = [model.convert_mcep(v[0]) for v in f_src_val.values()]
        m, per = feature_mcd(conv, f_tgt_val, paths)
        last = hist[-1]
        res["curve"].append(
            {"step": k, "feature_mcd": m, "per": per, "seconds": time.time() - t1,
             "ot": last["ot"], "cycle": last["cycle"], "adv": last["adv"]}
        )  # fmt: skip
        res["history"] = hist
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(res, indent=1) + "\n")
        print(f"step {k}: val feature MCD {m:.3f} ({time.time() - t1:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
