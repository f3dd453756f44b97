"""``lab privacy unlearning ...``: DP2Unlearning steps and TOFU metrics.

:func:`register` adds the command group to an argparse subparsers object; each parsed command
carries ``func(args) -> int`` (``set_defaults``). Artefacts are plain folders: data in the TOFU
JSON layout, models in the ``save_pretrained`` layout (with the tokenizer), and a JSON report
(``privacy.json``, ``cost.json``, metrics) beside them.

    lab privacy unlearning data --out D                      # generate TOFU-like data
    lab privacy unlearning train --data D --split pretrain --out M0
    lab privacy unlearning train --data D --split full --init M0 --out FULL
    lab privacy unlearning dp-train --data D --init M0 --out DPBASE --target-epsilon 8
    lab privacy unlearning sanitize --data D --out DSAN --epsilon-per-token 10
    lab privacy unlearning forget --data D --model DPBASE --method dp2u --out U
    lab privacy unlearning evaluate --data D --model U --reference RFS --out metrics.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from lab.core import (
    ConfigError,
    add_config_arguments,
    config_from_args,
    config_to_dict,
    get_device,
    set_seed,
)

__all__ = ["register"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: auto)")
    p.add_argument("--forget-split", default=None, help="e.g. forget10 (default: from meta.json)")


def _data(args: argparse.Namespace) -> Any:
    from .data import load_tofu

    split = args.forget_split
    if split is None:
        meta = Path(args.data) / "meta.json"
        split = json.loads(meta.read_text())["forget_split"] if meta.is_file() else "forget10"
    return load_tofu(args.data, forget_split=split)


def _deprecated_seed(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)  # until 0.3


def _config_with_simulation_seed(cls: Any, args: argparse.Namespace) -> Any:
    """``config_from_args`` for DPConfig/DPMLMConfig, honouring the deprecated ``--seed``."""
    cfg = config_from_args(cls, args)
    if args.seed is None:
        return cfg
    print(
        f"lab privacy unlearning {args.unlearn_command}: --seed is deprecated (removed in 0.3); "
        "use --simulation-seed (a known seed voids the privacy guarantee)",
        file=sys.stderr,
    )
    if cfg.simulation_seed is not None:
        raise ConfigError("pass either --simulation-seed or --seed, not both")
    return replace(cfg, simulation_seed=args.seed)


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")


def _cmd_data(args: argparse.Namespace) -> int:
    from .data import TofuLikeConfig, make_tofu_like

    cfg = config_from_args(TofuLikeConfig, args)
    data = make_tofu_like(cfg)
    data.save(args.out)
    print(f"wrote {len(data.forget)} forget / {len(data.retain)} retain QA pairs to {args.out}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .models import (
        CausalLMConfig,
        build_word_tokenizer,
        causal_lm_from_config,
        load_causal_lm,
        save_causal_lm,
    )
    from .training import TrainConfig, finetune

    cfg = config_from_args(TrainConfig, args)
    set_seed(cfg.seed)
    data = _data(args)
    dev = get_device(args.device)
    if args.init:
        model, tok = load_causal_lm(args.init, device=dev)
    else:
        tok = build_word_tokenizer(data.texts())
        model = causal_lm_from_config(
            tok, config_from_args(CausalLMConfig, args, prefix="model."), device=dev
        )
    items = {
        "pretrain": data.pretrain,
        "full": data.full,
        "retain": data.retain,
        "forget": data.forget,
    }[args.split]
    _, cost = finetune(model, tok, items, cfg, device=dev, run_dir=args.run_dir, resume=args.resume)
    save_causal_lm(model, tok, args.out)
    _write_json(
        Path(args.out) / "cost.json",
        {"split": args.split, **cost.as_dict(), "config": config_to_dict(cfg)},
    )
    print(f"trained on {len(items)} {args.split} QA pairs ({cost.steps} steps); saved {args.out}")
    return 0


def _cmd_dp_train(args: argparse.Namespace) -> int:
    from .dp_sgd import DPConfig, train_dp
    from .models import load_causal_lm, save_causal_lm

    cfg = _config_with_simulation_seed(DPConfig, args)
    set_seed(cfg.simulation_seed)  # None: a fresh seed from the OS
    data = _data(args)
    model, tok = load_causal_lm(args.init, device=args.device)
    res = train_dp(
        model, tok, data.full, cfg, device=args.device, run_dir=args.run_dir, resume=args.resume
    )
    save_causal_lm(res.model, tok, args.out)
    report = {**res.privacy_report(), **res.cost.as_dict(), "config": config_to_dict(cfg)}
    _write_json(Path(args.out) / "privacy.json", report)
    print(
        f"DP-SGD: ({res.epsilon:.4g}, {res.delta:g})-DP per example, "
        f"({res.author_epsilon:.4g}, {res.author_delta:.3g})-DP per author; saved {args.out}"
    )
    return 0


def _cmd_sanitize(args: argparse.Namespace) -> int:
    from .dp_mlm import DPMLMConfig, DPMLMRewriter, load_masked_lm, sanitize_tofu, train_small_mlm
    from .models import build_word_tokenizer

    cfg = _config_with_simulation_seed(DPMLMConfig, args)
    data = _data(args)
    if args.mlm:
        mlm, tok = load_masked_lm(args.mlm, device=args.device)
    else:
        if not data.pretrain:
            raise ConfigError(
                "no --mlm given and the data has no public pretraining text to train one on"
            )
        tok = build_word_tokenizer(data.texts())
        public = [t for q in data.pretrain for t in (q.question, q.answer)]
        mlm = train_small_mlm(public, tok, device=args.device)
    clean, report = sanitize_tofu(data, DPMLMRewriter(mlm, tok, cfg, device=args.device))
    clean.save(args.out)
    _write_json(Path(args.out) / "privacy.json", {**report, "config": config_to_dict(cfg)})
    print(
        f"sanitised {len(clean.full)} records: record epsilon <= {report['record_epsilon_max']:g}, "
        f"author epsilon {report['author_epsilon']:g}; wrote {args.out}"
    )
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    from .models import load_causal_lm, save_causal_lm
    from .unlearn import UnlearnConfig, unlearn

    cfg = config_from_args(UnlearnConfig, args)
    set_seed(cfg.seed)
    data = _data(args)
    model, tok = load_causal_lm(args.model, device=args.device)
    ref = load_causal_lm(args.reference, device=args.device)[0] if args.reference else None
    res = unlearn(
        model,
        tok,
        data,
        cfg,
        reference=ref,
        device=args.device,
        run_dir=args.run_dir,
        resume=args.resume,
    )
    save_causal_lm(res.model, tok, args.out)
    _write_json(
        Path(args.out) / "cost.json",
        {"method": res.method, **res.cost.as_dict(), "config": config_to_dict(cfg)},
    )
    print(
        f"{res.method}: {res.cost.steps} steps, {res.cost.tokens} tokens, "
        f"{res.cost.seconds:.1f} s; saved {args.out}"
    )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .metrics import EvalConfig, evaluate_model
    from .models import load_causal_lm

    cfg = config_from_args(EvalConfig, args)
    data = _data(args)
    dev = get_device(args.device)
    ref = None
    if args.reference:
        rm, rt = load_causal_lm(args.reference, device=dev)
        ref = evaluate_model(rm, rt, data, config=cfg, device=dev)["forget_truth_ratios"]
    model, tok = load_causal_lm(args.model, device=dev)
    res = evaluate_model(model, tok, data, reference_ratios=ref, config=cfg, device=dev)
    if args.out:
        _write_json(Path(args.out), res)
    for k, v in res.items():
        if not isinstance(v, list):
            print(f"{k}: {v:.4g}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``unlearning {data,train,dp-train,sanitize,forget,evaluate}`` to ``subparsers``."""
    from .data import TofuLikeConfig
    from .dp_mlm import DPMLMConfig
    from .dp_sgd import DPConfig
    from .metrics import EvalConfig
    from .models import CausalLMConfig
    from .training import TrainConfig
    from .unlearn import UnlearnConfig

    un = subparsers.add_parser(
        "unlearning", help="DP2Unlearning: data, training, DP bases, unlearning, TOFU metrics"
    )
    sub = un.add_subparsers(dest="unlearn_command", metavar="STEP", required=True)

    p = sub.add_parser("data", help="generate TOFU-like data (fictitious authors)")
    p.add_argument("--out", required=True, type=Path)
    add_config_arguments(p, TofuLikeConfig)
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("train", help="non-private training (pretrain / full / retain)")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--split", choices=["pretrain", "full", "retain", "forget"], default="full")
    p.add_argument("--init", type=Path, default=None, help="local model dir (default: new model)")
    p.add_argument("--run-dir", type=Path, default=None, help="checkpoint folder")
    p.add_argument("--resume", action="store_true")
    _common(p)
    add_config_arguments(p, TrainConfig)
    add_config_arguments(p, CausalLMConfig, prefix="model.")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("dp-train", help="DP-SGD (Opacus) on the full split: the DP base")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--init", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--run-dir", type=Path, default=None)
    p.add_argument("--resume", action="store_true")
    _common(p)
    _deprecated_seed(p)
    add_config_arguments(p, DPConfig)
    p.set_defaults(func=_cmd_dp_train)

    p = sub.add_parser("sanitize", help="DP-MLM rewrite of the training splits")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--mlm", type=Path, default=None, help="local masked LM dir")
    _common(p)
    _deprecated_seed(p)
    add_config_arguments(p, DPMLMConfig)
    p.set_defaults(func=_cmd_sanitize)

    p = sub.add_parser("forget", help="run an unlearning method (rfs, dp2u, ga, gd, kl, npo)")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--reference", type=Path, default=None, help="KL/NPO reference model dir")
    p.add_argument("--run-dir", type=Path, default=None)
    p.add_argument("--resume", action="store_true")
    _common(p)
    add_config_arguments(p, UnlearnConfig)
    p.set_defaults(func=_cmd_forget)

    ev = sub.add_parser("evaluate", help="TOFU metrics of a model (DP2Unlearning)")
    ev.add_argument("--data", required=True, type=Path)
    ev.add_argument("--model", required=True, type=Path)
    ev.add_argument("--reference", type=Path, default=None, help="RFS model, for forget quality")
    ev.add_argument("--out", type=Path, default=None, help="metrics JSON")
    _common(ev)
    add_config_arguments(ev, EvalConfig)
    ev.set_defaults(func=_cmd_evaluate)
