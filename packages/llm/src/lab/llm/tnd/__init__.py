"""lab.llm.tnd: Trial-and-Demonstration (TnD) language learning from scratch (Ma, Wang, Chai 2025).

A student causal LM learns from a corpus, from its own *trials* (sampled continuations scored
by a neural age predictor) and from a teacher's *demonstrations* (continuations of the same
prompts), with PPO (clipped policy and value losses, shared with :mod:`lab.llm.policy_gradient`)
and causal-LM steps; word acquisition is measured per word.

- corpora: :func:`child_directed_corpus` (grammar, CDI-like vocabulary, Zipf frequencies),
  :func:`load_babylm`, :func:`load_word_list`, :func:`build_word_tokenizer`,
  :func:`check_vocabulary`, :func:`pack_sequences`;
- teacher and student: :class:`TeacherConfig`, :func:`train_teacher` (log-spaced checkpoints),
  :class:`StudentLM` (value head), :func:`masked_teacher`;
- reward: :class:`AgePredictor`, :func:`train_age_predictor`, :func:`competence_scores`
  (subtract / divide / binary);
- training: :class:`TnDConfig`, :class:`TnDTrainer` (modes ``tnd``, ``trials``,
  ``demonstrations``, ``clm``);
- word learning: :func:`word_surprisal`, :func:`age_of_acquisition`, :func:`fit_sigmoid`,
  :func:`frequency_aoa_correlation`, :class:`WordLearning`;
- experiments: :class:`TnDExperimentConfig`, :func:`run_experiment`, :func:`prepare`,
  :func:`run_arm`.
"""

from __future__ import annotations

from .corpus import (
    CDI_WORDS,
    Corpus,
    VocabularyCheck,
    build_word_tokenizer,
    check_vocabulary,
    child_directed_corpus,
    load_babylm,
    load_word_list,
    pack_sequences,
    word_counts,
)
from .experiment import (
    TnDExperimentConfig,
    TnDSetup,
    choose_masked_words,
    prepare,
    run_arm,
    run_experiment,
)
from .models import (
    StudentLM,
    Teacher,
    TeacherConfig,
    clm_loss,
    encode_sequences,
    log_spaced_steps,
    masked_teacher,
    train_teacher,
)
from .reward import (
    BASELINES,
    SCORE_VARIANTS,
    AgePredictor,
    AgePredictorConfig,
    age_predictor_data,
    competence_scores,
    train_age_predictor,
)
from .trainer import MODES, TnDConfig, TnDTrainer, WordLearning
from .words import (
    AoAResult,
    SigmoidFit,
    WordSurprisal,
    age_of_acquisition,
    fit_sigmoid,
    frequency_aoa_correlation,
    word_surprisal,
)

__all__ = [
    "BASELINES",
    "CDI_WORDS",
    "MODES",
    "SCORE_VARIANTS",
    "AgePredictor",
    "AgePredictorConfig",
    "AoAResult",
    "Corpus",
    "SigmoidFit",
    "StudentLM",
    "Teacher",
    "TeacherConfig",
    "TnDConfig",
    "TnDExperimentConfig",
    "TnDSetup",
    "TnDTrainer",
    "VocabularyCheck",
    "WordLearning",
    "WordSurprisal",
    "age_of_acquisition",
    "age_predictor_data",
    "build_word_tokenizer",
    "check_vocabulary",
    "child_directed_corpus",
    "choose_masked_words",
    "clm_loss",
    "competence_scores",
    "encode_sequences",
    "fit_sigmoid",
    "frequency_aoa_correlation",
    "load_babylm",
    "load_word_list",
    "log_spaced_steps",
    "masked_teacher",
    "pack_sequences",
    "prepare",
    "run_arm",
    "run_experiment",
    "train_age_predictor",
    "train_teacher",
    "word_counts",
    "word_surprisal",
]
