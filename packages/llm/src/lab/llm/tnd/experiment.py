"""Whole TnD experiments: corpus -> tokenizer -> teacher -> age predictor -> student arms.

:func:`prepare` builds everything a seed's arms share (:class:`TnDSetup`); :func:`run_arm`
trains one student arm and summarises its word learning; :func:`run_experiment` runs the modes
of a :class:`TnDExperimentConfig` over its seeds (what ``lab llm tnd run`` does), with
checkpoints and resume in a run folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from lab.core import (
    ConfigError,
    DataError,
    RunDir,
    config_to_dict,
    get_device,
    init_distributed,
    is_main,
    seeded,
)

from .corpus import (
    Corpus,
    build_word_tokenizer,
    check_vocabulary,
    child_directed_corpus,
    load_babylm,
    load_word_list,
    pack_sequences,
)
from .models import Teacher, TeacherConfig, encode_sequences, masked_teacher, train_teacher
from .reward import AgePredictor, AgePredictorConfig, train_age_predictor
from .trainer import MODES, TnDConfig, TnDTrainer, WordLearning

__all__ = [
    "TnDExperimentConfig",
    "TnDSetup",
    "choose_masked_words",
    "prepare",
    "run_arm",
    "run_experiment",
    "summarize",
]


@dataclass(frozen=True)
class TnDExperimentConfig:
    """One experiment: a corpus, a teacher, an age predictor and student arms over seeds.

    Attributes:
        corpus: ``synthetic`` (:func:`child_directed_corpus`) or ``babylm`` (text files).
        data_path: BabyLM file or folder (``corpus="babylm"``).
        word_list: CDI-style word list file (default: the built-in CDI-like list).
        num_train, num_heldout, zipf_exponent, corpus_seed: the synthetic corpus.
        max_lines: read at most this many BabyLM lines.
        seq_words: words per packed training sequence (OURS).
        vocab_size: tokenizer size cap (None: every corpus word).
        modes: student arms (``tnd``, ``trials``, ``demonstrations``, ``clm``, and
            ``tnd_masked``: TnD with a teacher that never produces ``masked_words`` words).
        seeds: one teacher, predictor and set of arms per seed.
        masked_words: size of the masked word set (40 in the paper).
        teacher, predictor, student: component configs (the student's ``mode`` and ``seed``
            are set per arm).
    """

    corpus: Literal["synthetic", "babylm"] = "synthetic"
    data_path: str | None = None
    word_list: str | None = None
    num_train: int = 4000
    num_heldout: int = 600
    zipf_exponent: float = 1.0
    corpus_seed: int = 0
    max_lines: int | None = None
    seq_words: int = 24
    vocab_size: int | None = None
    modes: tuple[str, ...] = ("tnd", "clm")
    seeds: tuple[int, ...] = (0,)
    masked_words: int = 40
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    predictor: AgePredictorConfig = field(default_factory=AgePredictorConfig)
    student: TnDConfig = field(default_factory=TnDConfig)

    def __post_init__(self) -> None:
        if self.corpus not in ("synthetic", "babylm"):
            raise ConfigError(f"corpus must be 'synthetic' or 'babylm', got {self.corpus!r}")
        if self.corpus == "babylm" and not self.data_path:
            raise ConfigError("corpus='babylm' needs data_path (a text file or folder)")
        allowed = (*MODES, "tnd_masked")
        bad = [m for m in self.modes if m not in allowed]
        if bad or not self.modes:
            raise ConfigError(f"modes must be a non-empty subset of {list(allowed)}, got {bad}")
        if not self.seeds:
            raise ConfigError("seeds must not be empty")
        if self.masked_words < 0:
            raise ConfigError(f"masked_words must be >= 0, got {self.masked_words}")
        if "tnd_masked" in self.modes and self.masked_words < 1:
            raise ConfigError("mode 'tnd_masked' needs masked_words >= 1")


@dataclass
class TnDSetup:
    """What every arm of one seed shares."""

    corpus: Corpus
    tokenizer: Any
    train_sequences: list[list[int]]
    heldout_sequences: list[list[int]]
    word_ids: dict[str, int]
    not_single_token: tuple[str, ...]
    teacher: Teacher
    age_predictor: AgePredictor
    predictor_stats: dict[str, float]
    seed: int
    device: torch.device
    info: dict[str, Any] = field(default_factory=dict)


def load_corpus(cfg: TnDExperimentConfig) -> Corpus:
    """The experiment's corpus (generated, or read from ``data_path``)."""
    if cfg.corpus == "synthetic":
        return child_directed_corpus(
            cfg.num_train,
            cfg.num_heldout,
            zipf_exponent=cfg.zipf_exponent,
            seed=cfg.corpus_seed,
        )
    words = load_word_list(cfg.word_list) if cfg.word_list else None
    assert cfg.data_path is not None
    return load_babylm(cfg.data_path, words=words, max_lines=cfg.max_lines, seed=cfg.corpus_seed)


def prepare(
    cfg: TnDExperimentConfig,
    seed: int,
    *,
    corpus: Corpus | None = None,
    device: torch.device | str | None = None,
    run_dir: RunDir | None = None,
    show_progress: bool | None = None,
) -> TnDSetup:
    """Corpus, tokenizer, teacher (log-spaced checkpoints) and age predictor for one seed.

    With a ``run_dir`` the teacher checkpoints go to ``<run>/teacher`` and the predictor to
    ``<run>/age_predictor.pt``; both are reused when present (resume). Under torchrun every
    rank trains the same (seeded) teacher and predictor, and only rank 0 reads and writes these
    files.
    """
    info = init_distributed(device=device)
    dev = info.device if info.world_size > 1 else get_device(device)
    if not is_main():
        run_dir = None
    corpus = load_corpus(cfg) if corpus is None else corpus
    if cfg.word_list and cfg.corpus == "synthetic":
        words = load_word_list(cfg.word_list)
        corpus = dataclasses.replace(corpus, words=tuple(words), categories=words)
    tok = build_word_tokenizer(corpus.train, words=corpus.words, vocab_size=cfg.vocab_size)
    chk = check_vocabulary(tok, corpus.words)
    if not chk.ids:
        raise DataError("no tracked word is a single token of the tokenizer")
    train = encode_sequences(tok, pack_sequences(corpus.train, cfg.seq_words))
    held = encode_sequences(tok, pack_sequences(corpus.heldout, cfg.seq_words))
    tcfg = dataclasses.replace(cfg.teacher, seed=seed)
    teacher_dir = None
    if run_dir is not None:
        (run_dir.path / "teacher").mkdir(parents=True, exist_ok=True)
        teacher_dir = RunDir.open(run_dir.path / "teacher")
    teacher = train_teacher(
        train,
        tok,
        tcfg,
        device=dev,
        run_dir=teacher_dir,
        resume=teacher_dir is not None,
        show_progress=show_progress,
    )
    prompts = [
        tok.decode(s[: cfg.student.prompt_length + 1], skip_special_tokens=False)
        for s in train
        if len(s) >= cfg.student.prompt_length + 2
    ]
    pcfg = dataclasses.replace(cfg.predictor, seed=seed)
    ppath = None if run_dir is None else run_dir.path / "age_predictor.pt"
    if ppath is not None and ppath.is_file():
        rm = AgePredictor(tok, pcfg, device=dev)
        payload = torch.load(ppath, map_location=dev, weights_only=True)
        rm.load_state_dict(payload["state"])
        stats = dict(payload["stats"])
    else:
        with seeded(seed):
            rm, stats = train_age_predictor(
                teacher, tok, prompts, pcfg, device=dev, show_progress=show_progress
            )
        if ppath is not None:
            torch.save({"state": rm.state_dict(), "stats": stats}, ppath)
    return TnDSetup(
        corpus=corpus,
        tokenizer=tok,
        train_sequences=train,
        heldout_sequences=held,
        word_ids=dict(chk.ids),
        not_single_token=chk.not_single_token,
        teacher=teacher,
        age_predictor=rm,
        predictor_stats=stats,
        seed=seed,
        device=dev,
        info={"vocab_size": len(tok), "train_sequences": len(train), "heldout": len(held)},
    )


def choose_masked_words(
    corpus: Corpus, word_ids: Mapping[str, int], k: int
) -> tuple[list[str], list[str]]:
    """``k`` content words to hide from the teacher, and ``k`` frequency-matched controls (OURS).

    The ``2k`` most frequent content words of the training split (categories other than
    function words and routines) are sorted by frequency and split alternately: ranks
    0, 2, 4, ... are masked, ranks 1, 3, 5, ... are the controls. Frequent words are taken so
    that both sets are learned within a short run; the alternation matches their frequencies.

    Returns:
        ``(masked, control)``, each sorted alphabetically.
    """
    if k < 1:
        raise ConfigError(f"the masked word set needs k >= 1, got {k}")
    function_cats = {
        "pronouns",
        "question_words",
        "prepositions",
        "quantifiers",
        "helping_verbs",
        "connecting_words",
        "games_routines",
    }
    cands = [
        w
        for w in corpus.words
        if w in word_ids
        and corpus.categories.get(w) not in function_cats
        and corpus.frequencies.get(w, 0) > 0
    ]
    if len(cands) < 2 * k:
        raise ConfigError(
            f"only {len(cands)} candidate content words; {2 * k} needed for {k} masked words "
            "and their controls"
        )
    cands.sort(key=lambda w: (-corpus.frequencies[w], w))
    top = cands[: 2 * k]
    return sorted(top[0::2]), sorted(top[1::2])


def summarize(
    learning: WordLearning,
    *,
    fixed_steps: Sequence[int] = (),
) -> dict[str, Any]:
    """A JSON-able summary of one arm's word learning."""
    return {
        "steps": list(learning.steps),
        "mean_surprisal": learning.mean_surprisal(),
        "aoa": {w: (None if not math.isfinite(a) else a) for w, a in learning.aoa_steps().items()},
        "fraction_learned": learning.fraction_learned(),
        "fraction_learned_by": {str(s): learning.fraction_learned(s) for s in fixed_steps},
        "mean_log10_aoa": learning.mean_log10_aoa(),
        "num_words": len(learning.aoa),
        "missing_words": list(learning.missing),
        "chance": learning.chance,
    }


def run_arm(
    setup: TnDSetup,
    student: TnDConfig,
    *,
    name: str | None = None,
    teacher_model: Any | None = None,
    run_dir: RunDir | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
    fixed_steps: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Train one student arm on a prepared seed and summarise it.

    Args:
        setup: from :func:`prepare`.
        student: the arm's :class:`TnDConfig` (its ``seed`` is used as given).
        name: label in the result (default: the mode).
        teacher_model: replaces the teacher (e.g. a :func:`masked_teacher`).
        run_dir: checkpoints and metrics of this arm; ``resume`` continues from its latest.
        fixed_steps: report the fraction of words learned by these corpus steps (default:
            a quarter, half and all of ``corpus_steps``).
    """
    teacher = setup.teacher.model if teacher_model is None else teacher_model
    tr = TnDTrainer(
        student,
        setup.tokenizer,
        setup.train_sequences,
        setup.heldout_sequences,
        setup.word_ids,
        teacher=teacher,
        teacher_step=setup.teacher.step,
        age_predictor=setup.age_predictor,
        device=setup.device,
        run_dir=run_dir,
        show_progress=show_progress,
    )
    resume_from = None
    if resume and run_dir is not None and run_dir.latest_checkpoint() is not None:
        resume_from = "latest"
    history = tr.train(resume_from=resume_from)
    learning = tr.word_learning()
    n = student.corpus_steps
    fixed = list(fixed_steps) if fixed_steps is not None else [max(1, n // 4), max(1, n // 2), n]
    out = summarize(learning, fixed_steps=fixed)
    out.update(
        name=name or student.mode,
        mode=student.mode,
        seed=student.seed,
        params=tr.student.num_parameters(),
        seconds=float(tr.history[-1]["seconds"]) if tr.history else 0.0,
        steps_run=len(history),
        interactions=tr.interactions,
        trial_counts=dict(tr.trial_counts),
        demo_counts=dict(tr.demo_counts),
        final_clm_loss=float(tr.history[-1]["clm_loss"]) if tr.history else float("nan"),
    )
    return out


def run_experiment(
    cfg: TnDExperimentConfig,
    *,
    device: torch.device | str | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
    corpus: Corpus | None = None,
) -> dict[str, Any]:
    """Every mode of ``cfg`` for every seed; writes ``results.json`` when ``out_dir`` is given.

    ``corpus``: the result of :func:`load_corpus` when the caller already loaded it (the CLI
    does, to validate the data before it creates the run folder); None loads it here.

    Folder layout: ``<out>/seed_<s>/{teacher/, age_predictor.pt, <mode>/}``; finished arms keep
    ``result.json`` and are skipped on resume, unfinished ones continue from their latest
    checkpoint. Under torchrun (``torchrun --nproc_per_node N -m lab.core.cli llm tnd run``)
    each arm trains data-parallel (see :class:`lab.llm.tnd.TnDTrainer`); rank 0 writes the
    files.
    """
    root = Path(out_dir) if out_dir is not None else None
    if corpus is None:
        corpus = load_corpus(cfg)
    report: dict[str, Any] = {"config": config_to_dict(cfg), "runs": {}, "seeds": {}}
    for seed in cfg.seeds:
        seed_dir = None
        if root is not None:
            (root / f"seed_{seed}").mkdir(parents=True, exist_ok=True)
            seed_dir = RunDir.open(root / f"seed_{seed}")
        setup = prepare(
            cfg, seed, corpus=corpus, device=device, run_dir=seed_dir, show_progress=show_progress
        )
        masked: list[str] = []
        control: list[str] = []
        if "tnd_masked" in cfg.modes:
            masked, control = choose_masked_words(setup.corpus, setup.word_ids, cfg.masked_words)
        report["seeds"][str(seed)] = {
            "predictor": setup.predictor_stats,
            "teacher_final_loss": float(np.mean(setup.teacher.losses[-20:])),
            "not_single_token": list(setup.not_single_token),
            "masked_words": masked,
            "control_words": control,
            **setup.info,
        }
        for mode in cfg.modes:
            arm_dir = None
            if seed_dir is not None:
                p = seed_dir.path / mode
                if (p / "result.json").is_file() and resume:
                    res = json.loads((p / "result.json").read_text())
                    report["runs"].setdefault(mode, []).append(res)
                    continue
                p.mkdir(exist_ok=True)
                arm_dir = RunDir.open(p)
            arm_mode: Any = "tnd" if mode == "tnd_masked" else mode
            student = dataclasses.replace(cfg.student, mode=arm_mode, seed=seed)
            teacher_model = (
                masked_teacher(setup.teacher.model, setup.tokenizer, masked)
                if mode == "tnd_masked"
                else None
            )
            res = run_arm(
                setup,
                student,
                name=mode,
                teacher_model=teacher_model,
                run_dir=arm_dir,
                resume=resume,
                show_progress=show_progress,
            )
            if arm_dir is not None and is_main():
                (arm_dir.path / "result.json").write_text(json.dumps(res))
            report["runs"].setdefault(mode, []).append(res)
    if root is not None and is_main():
        (root / "results.json").write_text(json.dumps(report, indent=1))
    return report
