"""Diagnostic: F0 analysis on VCC 2018 (issue 21 item 4): voiced-frame misses, octave errors
and the F0 RMSE decomposition of log-Gaussian F0 transfer, for DIO at 71 Hz, DIO at 50 Hz and
Harvest at 50 Hz (the reference).

    LABWORKS_DATA=/path/to/data python tools/bench/signal_vc_f0.py

Per speaker (held-out sentences 30026-30035): fraction of frames voiced, fraction of
Harvest-voiced frames left unvoiced (``missed``), fraction of frames voiced in both whose F0
differs from Harvest's by more than a factor 1.4 (``octave``), median F0. Per pair and method:
training log-F0 statistics (source 30001-30012, target 30013-30025) and, on the DTW path of the
test sentences (c1..c24 of frames within 40 dB of the loudest), the F0 RMSE of no conversion
and of the transfer with ``RMSE^2 = bias^2 + s_ref^2 + s_conv^2 - 2 rho s_ref s_conv``.
Writes runs/bench/signal_vc_f0.json.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path

import numpy as np

from lab.signal.vc import (
    WorldConfig,
    dtw_path,
    load_wav,
    log_gaussian_f0,
    mel_cepstrum,
    nonsilent_frames,
    world_analyze,
)

warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

SR = 22050
TEST = range(30026, 30036)
METHODS = {
    "dio71": WorldConfig(f0_method="dio", f0_floor=71.0),
    "dio50": WorldConfig(f0_method="dio", f0_floor=50.0),
    "harvest50": WorldConfig(f0_method="harvest", f0_floor=50.0),
}


def speaker_table(data: Path, spk: str) -> dict:
    wavs = [load_wav(data / spk / f"{i}.wav", SR)[0] for i in TEST]
    f0 = {k: [world_analyze(w, SR, c).f0 for w in wavs] for k, c in METHODS.items()}
    ref = f0["harvest50"]
    ref_voiced = np.concatenate([r > 0 for r in ref])
    out = {}
    for k, fs in f0.items():
        allf = np.concatenate(fs)
        miss = np.concatenate([(r > 0) & (f == 0) for r, f in zip(ref, fs, strict=True)])
        both = np.concatenate([(r > 0) & (f > 0) for r, f in zip(ref, fs, strict=True)])
        ratio = np.concatenate(fs)[both] / np.concatenate(ref)[both]
        out[k] = {
            "voiced": float(np.mean(allf > 0)),
            "missed": float(miss.sum() / ref_voiced.sum()),
            "octave": float(np.mean((ratio < 1 / 1.4) | (ratio > 1.4))),
            "median_hz": float(np.median(allf[allf > 0])),
        }
    return out


def log_f0_stats(data: Path, spk: str, ids: range, cfg: WorldConfig) -> tuple[float, float]:
    v = []
    for i in ids:
        f = world_analyze(load_wav(data / spk / f"{i}.wav", SR)[0], SR, cfg).f0
        v.append(np.log(f[f > 0]))
    lv = np.concatenate(v)
    return float(lv.mean()), float(lv.std())


def pair_table(data: Path, src: str, tgt: str, cfg: WorldConfig) -> dict:
    sm, ss = log_f0_stats(data, src, range(30001, 30013), cfg)
    tm, ts = log_f0_stats(data, tgt, range(30013, 30026), cfg)
    rows: dict[str, list] = {"no_conversion": [], "transfer": []}
    for i in TEST:
        fs = world_analyze(load_wav(data / src / f"{i}.wav", SR)[0], SR, cfg)
        ft = world_analyze(load_wav(data / tgt / f"{i}.wav", SR)[0], SR, cfg)
        cs, ct = mel_cepstrum(fs.sp, SR, cfg), mel_cepstrum(ft.sp, SR, cfg)
        ks = np.flatnonzero(nonsilent_frames(10 * np.log10(fs.sp.sum(1) + 1e-12)))
        kt = np.flatnonzero(nonsilent_frames(10 * np.log10(ft.sp.sum(1) + 1e-12)))
        a_, b_ = dtw_path(ct[kt, 1:25], cs[ks, 1:25])
        it, is_ = kt[a_], ks[b_]
        for name, f0c in (
            ("no_conversion", fs.f0),
            ("transfer", log_gaussian_f0(fs.f0, sm, ss, tm, ts)),
        ):
            a, b = ft.f0[it], f0c[is_]
            m = (a > 0) & (b > 0)
            rows[name].append((a[m], b[m]))
    out: dict = {
        "train_src_hz": float(np.exp(sm)),
        "train_src_logstd": ss,
        "train_tgt_hz": float(np.exp(tm)),
        "train_tgt_logstd": ts,
    }
    for name, r in rows.items():
        a = np.concatenate([x for x, _ in r])
        b = np.concatenate([y for _, y in r])
        out[name] = {
            "f0_rmse_hz": float(np.sqrt(np.mean((a - b) ** 2))),
            "bias_hz": float(np.mean(b - a)),
            "std_ref_hz": float(a.std()),
            "std_conv_hz": float(b.std()),
            "corr": float(np.corrcoef(a, b)[0, 1]),
            "frames": int(a.size),
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--pairs", nargs="+", default=["VCC2SF3:VCC2TF1", "VCC2SM3:VCC2TM1"])
    p.add_argument("--out", type=Path, default=Path("runs/bench/signal_vc_f0.json"))
    args = p.parse_args()
    if args.data is None:
        root = os.environ.get("LABWORKS_DATA")
        if not root:
            raise SystemExit("set $LABWORKS_DATA or pass --data DIR (the vcc2018 folder)")
        args.data = Path(root) / "vcc2018"
    pairs = [tuple(x.split(":")) for x in args.pairs]
    res: dict = {"speakers": {}, "pairs": {}}
    for spk in sorted({s for pair in pairs for s in pair}):
        res["speakers"][spk] = speaker_table(args.data, spk)
        print(spk, json.dumps(res["speakers"][spk]), flush=True)
    for src, tgt in pairs:
        for k in ("dio71", "harvest50"):
            key = f"{src}->{tgt} {k}"
            res["pairs"][key] = pair_table(args.data, src, tgt, METHODS[k])
            print(key, json.dumps(res["pairs"][key]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
