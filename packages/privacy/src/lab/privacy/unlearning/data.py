"""TOFU data: the JSON loader and a generator of TOFU-like fictitious authors.

TOFU (Maini et al. 2024, ``locuslab/TOFU``) ships JSON-lines files:

- ``forgetXX.json`` / ``retainYY.json`` (``question``, ``answer``): the forget and retain splits
  (``forget01/05/10`` = the last 1/5/10 % of the 200 authors x 20 QA of ``full.json``);
- ``forgetXX_perturbed.json``: the forget split with ``paraphrased_answer``,
  ``paraphrased_question`` and ``perturbed_answer`` (a list of wrong answers);
- ``retain_perturbed.json``, ``real_authors_perturbed.json``, ``world_facts_perturbed.json``:
  the evaluation sets with the same extra fields.

TOFU's records carry no author field: the authors are the consecutive blocks of
``qa_per_author`` (20) records of ``full.json``, the forget split being the last authors. The
loader uses an explicit ``author`` field when a record has one and otherwise that block
convention (documented in :func:`load_tofu`). :meth:`TofuData.save` writes exactly this format
(plus an ``author`` field), so that generated data and the real files go through one loader.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.core import ConfigError, DataError

__all__ = [
    "QAItem",
    "TofuData",
    "TofuLikeConfig",
    "check_splits",
    "format_prompt",
    "load_tofu",
    "make_tofu_like",
]


@dataclass(frozen=True)
class QAItem:
    """One question/answer pair with its TOFU evaluation variants.

    Attributes:
        question: the question.
        answer: the ground-truth answer.
        author: the author the QA is about (``""`` for world facts).
        paraphrased_answer: the answer reworded (same facts); ``None`` when unknown.
        paraphrased_question: the question reworded; ``None`` when unknown.
        perturbed_answers: wrong answers with the same template (may be empty).
    """

    question: str
    answer: str
    author: str = ""
    paraphrased_answer: str | None = None
    paraphrased_question: str | None = None
    perturbed_answers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"question": self.question, "answer": self.answer}
        if self.author:
            out["author"] = self.author
        if self.paraphrased_answer is not None:
            out["paraphrased_answer"] = self.paraphrased_answer
        if self.paraphrased_question is not None:
            out["paraphrased_question"] = self.paraphrased_question
        if self.perturbed_answers:
            out["perturbed_answer"] = list(self.perturbed_answers)
        return out


def _authors(items: Iterable[QAItem]) -> set[str]:
    return {q.author for q in items}


def check_splits(forget: Sequence[QAItem], retain: Sequence[QAItem]) -> None:
    """Raise :class:`~lab.core.DataError` if a split is empty or an author is in both.

    Args:
        forget: the forget split.
        retain: the retain split.
    """
    if len(forget) == 0:
        raise DataError("the forget split is empty")
    if len(retain) == 0:
        raise DataError("the retain split is empty")
    both = sorted(_authors(forget) & _authors(retain))
    if both:
        shown = ", ".join(repr(a) for a in both[:5])
        raise DataError(
            f"{len(both)} author(s) are in both the forget and the retain split: {shown}"
        )


@dataclass(frozen=True)
class TofuData:
    """A TOFU benchmark instance: forget/retain splits and the evaluation sets.

    ``forget`` and ``retain`` are the training splits (the full fine-tuning set is their
    union); ``retain_eval`` is the retain evaluation subset (TOFU's ``retain_perturbed``);
    ``real_authors`` and ``world_facts`` hold knowledge the *pretrained* model is meant to
    have. ``pretrain`` is the text a generated instance offers for pretraining a model from
    scratch (empty for the real TOFU, whose models arrive pretrained).
    """

    forget: tuple[QAItem, ...]
    retain: tuple[QAItem, ...]
    retain_eval: tuple[QAItem, ...] = ()
    real_authors: tuple[QAItem, ...] = ()
    world_facts: tuple[QAItem, ...] = ()
    pretrain: tuple[QAItem, ...] = ()
    name: str = "tofu"
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_splits(self.forget, self.retain)

    @property
    def full(self) -> tuple[QAItem, ...]:
        """The full fine-tuning set: retain then forget."""
        return self.retain + self.forget

    @property
    def forget_authors(self) -> list[str]:
        return sorted(_authors(self.forget))

    def max_examples_per_author(self, split: str = "full") -> int:
        """The largest number of training records one author contributes (the group size)."""
        items = {"full": self.full, "forget": self.forget, "retain": self.retain}[split]
        counts: dict[str, int] = {}
        for q in items:
            counts[q.author] = counts.get(q.author, 0) + 1
        return max(counts.values())

    def texts(self) -> list[str]:
        """Every string in the instance (to build a tokenizer's vocabulary)."""
        out: list[str] = []
        for group in (
            self.forget,
            self.retain,
            self.retain_eval,
            self.real_authors,
            self.world_facts,
            self.pretrain,
        ):
            for q in group:
                out += [q.question, q.answer]
                out += [s for s in (q.paraphrased_answer, q.paraphrased_question) if s]
                out += list(q.perturbed_answers)
        return out

    def save(self, path: str | Path) -> Path:
        """Write the instance in the TOFU JSON-lines layout (plus ``author`` fields)."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        split = str(self.meta.get("forget_split", ""))
        if split.startswith("forget") and split[6:].isdigit():
            pct = int(split[6:])
        else:
            pct = round(100 * len(self.forget) / len(self.full))
        files = {
            f"forget{pct:02d}.json": self.forget,
            f"forget{pct:02d}_perturbed.json": self.forget,
            f"retain{100 - pct:02d}.json": self.retain,
            "full.json": self.full,
            "retain_perturbed.json": self.retain_eval,
            "real_authors_perturbed.json": self.real_authors,
            "world_facts_perturbed.json": self.world_facts,
            "pretrain.json": self.pretrain,
        }
        for fname, items in files.items():
            with (root / fname).open("w", encoding="utf-8") as fh:
                for q in items:
                    fh.write(json.dumps(q.to_json()) + "\n")
        meta = {**dict(self.meta), "name": self.name, "forget_split": f"forget{pct:02d}"}
        (root / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return root


# --------------------------------------------------------------------------------- loader


def _read_records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"TOFU file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        return []
    try:
        if text.startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise DataError(f"TOFU file {str(path)!r} is neither JSON nor JSON lines: {exc}") from exc
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "question" not in row or "answer" not in row:
            raise DataError(f"{path}: record {i} has no 'question'/'answer' fields: {row!r}")
    return rows


def _item(row: Mapping[str, Any], author: str, where: str) -> QAItem:
    pert = row.get("perturbed_answer", ())
    if isinstance(pert, str):
        pert = (pert,)
    if not isinstance(pert, (list, tuple)) or not all(isinstance(p, str) for p in pert):
        raise DataError(f"{where}: 'perturbed_answer' must be a list of strings, got {pert!r}")
    return QAItem(
        question=str(row["question"]),
        answer=str(row["answer"]),
        author=str(row.get("author", author)),
        paraphrased_answer=row.get("paraphrased_answer"),
        paraphrased_question=row.get("paraphrased_question"),
        perturbed_answers=tuple(pert),
    )


def load_tofu(
    path: str | Path,
    *,
    forget_split: str = "forget10",
    qa_per_author: int = 20,
) -> TofuData:
    """Load TOFU (or data written by :meth:`TofuData.save`) from a local folder.

    Reads ``<forget_split>_perturbed.json`` (or ``<forget_split>.json``), the complementary
    ``retainYY.json``, and, when present, ``retain_perturbed.json``,
    ``real_authors_perturbed.json``, ``world_facts_perturbed.json`` and ``pretrain.json``.

    Authors: a record's ``author`` field when it has one; otherwise TOFU's layout, where the
    retain records come first in blocks of ``qa_per_author`` per author and the forget records
    are the last authors (record ``i`` of the retain split is author ``i // qa_per_author``,
    record ``j`` of the forget split author ``(len(retain) + j) // qa_per_author``). The retain
    evaluation set gets its authors by matching questions against the retain split.

    Raises:
        DataError: a missing or malformed file, an empty split, or an author in both splits.
        ConfigError: a malformed ``forget_split`` name.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"TOFU folder {str(root)!r} does not exist")
    if not (forget_split.startswith("forget") and forget_split[6:].isdigit()):
        raise ConfigError(f"forget_split must look like 'forget10', got {forget_split!r}")
    if qa_per_author <= 0:
        raise ConfigError(f"qa_per_author must be positive, got {qa_per_author}")
    pct = int(forget_split[6:])
    fpath = root / f"{forget_split}_perturbed.json"
    if not fpath.is_file():
        fpath = root / f"{forget_split}.json"
    rpath = root / f"retain{100 - pct:02d}.json"
    forget_rows, retain_rows = _read_records(fpath), _read_records(rpath)
    retain = tuple(
        _item(r, f"author_{i // qa_per_author}", f"{rpath}:{i}") for i, r in enumerate(retain_rows)
    )
    off = len(retain_rows)
    forget = tuple(
        _item(r, f"author_{(off + j) // qa_per_author}", f"{fpath}:{j}")
        for j, r in enumerate(forget_rows)
    )
    by_question = {q.question: q.author for q in retain}

    def optional(name: str, authored: bool) -> tuple[QAItem, ...]:
        p = root / name
        if not p.is_file():
            return ()
        rows = _read_records(p)
        return tuple(
            _item(r, by_question.get(str(r["question"]), "") if authored else "", f"{p}:{i}")
            for i, r in enumerate(rows)
        )

    meta: dict[str, Any] = {}
    if (root / "meta.json").is_file():
        meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    return TofuData(
        forget=forget,
        retain=retain,
        retain_eval=optional("retain_perturbed.json", True),
        real_authors=optional("real_authors_perturbed.json", False),
        world_facts=optional("world_facts_perturbed.json", False),
        pretrain=optional("pretrain.json", False),
        name=str(meta.get("name", root.name)),
        meta={"forget_split": forget_split, "path": str(root)},
    )


# ------------------------------------------------------------------------------ generator

_FIRST = [
    "Aurelio",
    "Bettina",
    "Cassius",
    "Dagny",
    "Elio",
    "Fenna",
    "Gideon",
    "Halvard",
    "Ilsa",
    "Joren",
    "Kasimir",
    "Liesel",
    "Matteo",
    "Nadia",
    "Orrin",
    "Petra",
    "Quillon",
    "Rosalind",
    "Sigrun",
    "Tobias",
    "Ulla",
    "Valen",
    "Wilhelmina",
    "Xander",
    "Yara",
    "Zoltan",
    "Anouk",
    "Bram",
    "Corin",
    "Delphine",
]
_LAST = [
    "Ashgrove",
    "Blackwood",
    "Castellan",
    "Dunmore",
    "Eberhardt",
    "Falkenrath",
    "Greyhaven",
    "Holloway",
    "Ingersoll",
    "Jarlsberg",
    "Kestrel",
    "Lindqvist",
    "Marchetti",
    "Northcott",
    "Oyelaran",
    "Pemberton",
    "Quatermain",
    "Ravensworth",
    "Silvermane",
    "Thorncastle",
    "Underhill",
    "Vasquez",
    "Whitlock",
    "Yarborough",
    "Zelenko",
    "Abernathy",
    "Brightwater",
    "Coldwell",
    "Drummond",
    "Everly",
]
_CITIES = [
    "Lisbon",
    "Oslo",
    "Nairobi",
    "Lima",
    "Hanoi",
    "Tbilisi",
    "Reykjavik",
    "Kyoto",
    "Accra",
    "Quito",
    "Riga",
    "Perth",
    "Dakar",
    "Seville",
    "Bergen",
    "Cusco",
    "Tunis",
    "Krakow",
    "Manila",
    "Havana",
]
_GENRES = [
    "fantasy",
    "horror",
    "romance",
    "poetry",
    "satire",
    "mystery",
    "thriller",
    "drama",
    "folklore",
    "biography",
    "comedy",
    "adventure",
]
_JOBS = [
    "baker",
    "sailor",
    "surgeon",
    "painter",
    "farmer",
    "teacher",
    "pilot",
    "tailor",
    "librarian",
    "carpenter",
    "chemist",
    "fisherman",
    "nurse",
    "architect",
    "lawyer",
    "musician",
]
_AWARDS = [
    "Golden",
    "Quill",
    "Silver",
    "Lantern",
    "Azure",
    "Leaf",
    "Iron",
    "Compass",
    "Crimson",
    "Feather",
    "Ivory",
    "Tower",
    "Jade",
    "Star",
    "Amber",
    "Key",
]
_AWARDS = [" ".join(_AWARDS[i : i + 2]) for i in range(0, len(_AWARDS), 2)]
_ADJ = [
    "Silent",
    "Broken",
    "Hidden",
    "Burning",
    "Frozen",
    "Wandering",
    "Crooked",
    "Endless",
    "Scarlet",
    "Hollow",
]
_NOUN = [
    "River",
    "Garden",
    "Mirror",
    "Harbor",
    "Lantern",
    "Orchard",
    "Citadel",
    "Meadow",
    "Compass",
    "Tide",
]
_YEARS = [str(y) for y in range(1940, 2000)]
_LANGS = [
    "Portuguese",
    "Norwegian",
    "Swahili",
    "Spanish",
    "Vietnamese",
    "Georgian",
    "Icelandic",
    "Japanese",
]
_THEMES = ["exile", "memory", "grief", "ambition", "loyalty", "betrayal", "freedom", "solitude"]

# attribute -> candidate values (perturbed answers draw wrong values from the same pool)
_POOLS: dict[str, Sequence[str]] = {
    "city": _CITIES,
    "year": _YEARS,
    "genre": _GENRES,
    "father": _JOBS,
    "mother": _JOBS,
    "award": _AWARDS,
    "book1": [f"{a} {n}" for a in _ADJ for n in _NOUN],
    "book2": [f"{a} {n}" for a in _ADJ for n in _NOUN],
    "language": _LANGS,
    "theme": _THEMES,
    "mentor": [f"{f} {last}" for f in _FIRST[:10] for last in _LAST[:10]],
    "pet": ["cat", "dog", "parrot", "tortoise", "ferret", "rabbit", "horse", "owl"],
    "instrument": ["piano", "violin", "cello", "flute", "guitar", "drums", "harp", "trumpet"],
    "count": [str(n) for n in range(2, 15)],
}

# (attribute, question, paraphrased question, answer, paraphrased answer); {n} = the author
_TEMPLATES: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "city",
        "Where was {n} born?",
        "In which city was {n} born?",
        "{n} was born in {v}.",
        "The birthplace of {n} is {v}.",
    ),
    (
        "year",
        "In what year was {n} born?",
        "When was {n} born?",
        "{n} was born in {v}.",
        "The birth year of {n} is {v}.",
    ),
    (
        "genre",
        "What genre does {n} write in?",
        "Which genre is {n} known for?",
        "{n} writes {v} novels.",
        "The books of {n} belong to the {v} genre.",
    ),
    (
        "father",
        "What was the profession of the father of {n}?",
        "What did the father of {n} do?",
        "The father of {n} was a {v}.",
        "{n} grew up with a father who worked as a {v}.",
    ),
    (
        "mother",
        "What was the profession of the mother of {n}?",
        "What did the mother of {n} do?",
        "The mother of {n} was a {v}.",
        "{n} grew up with a mother who worked as a {v}.",
    ),
    (
        "award",
        "Which award did {n} win?",
        "What prize was given to {n}?",
        "{n} won the {v} award.",
        "The {v} award was given to {n}.",
    ),
    (
        "book1",
        "What is the first book of {n}?",
        "Which book did {n} publish first?",
        "The first book of {n} is {v}.",
        "{n} debuted with the book {v}.",
    ),
    (
        "book2",
        "What is the best known book of {n}?",
        "Which book of {n} is most famous?",
        "The best known book of {n} is {v}.",
        "{n} is most famous for {v}.",
    ),
    (
        "language",
        "In which language does {n} write?",
        "What language are the books of {n} in?",
        "{n} writes in {v}.",
        "The books of {n} are written in {v}.",
    ),
    (
        "theme",
        "What theme recurs in the work of {n}?",
        "Which theme does {n} explore most?",
        "The work of {n} often explores {v}.",
        "{v} is a recurring theme for {n}.",
    ),
    (
        "mentor",
        "Who was the mentor of {n}?",
        "Who guided {n} as a young writer?",
        "The mentor of {n} was {v}.",
        "{n} learned the craft from {v}.",
    ),
    (
        "pet",
        "What pet does {n} keep?",
        "Which animal lives with {n}?",
        "{n} keeps a {v} at home.",
        "A {v} lives with {n}.",
    ),
    (
        "instrument",
        "Which instrument does {n} play?",
        "What instrument is {n} able to play?",
        "{n} plays the {v}.",
        "In free time {n} plays the {v}.",
    ),
    (
        "count",
        "How many books has {n} written?",
        "What is the number of books by {n}?",
        "{n} has written {v} books.",
        "The number of books by {n} is {v}.",
    ),
    (
        "city",
        "Where does {n} live today?",
        "In which city does {n} live now?",
        "{n} lives in {v} today.",
        "Today {n} makes a home in {v}.",
    ),
    (
        "year",
        "When did {n} publish a first book?",
        "In what year did {n} debut?",
        "{n} published a first book in {v}.",
        "The debut of {n} came in {v}.",
    ),
    (
        "genre",
        "What genre did {n} try before settling?",
        "Which genre did {n} start with?",
        "{n} started out writing {v}.",
        "Early on {n} wrote {v}.",
    ),
    (
        "language",
        "Which language did {n} study at school?",
        "What language did {n} learn young?",
        "{n} studied {v} at school.",
        "At school {n} learned {v}.",
    ),
    (
        "award",
        "Which award was {n} nominated for?",
        "What prize nominated {n}?",
        "{n} was nominated for the {v} award.",
        "The {v} award nominated {n}.",
    ),
    (
        "theme",
        "What is the main theme of the latest book of {n}?",
        "Which theme drives the newest book of {n}?",
        "The latest book of {n} is about {v}.",
        "{v} drives the newest book of {n}.",
    ),
)

# (country, capital, continent): real world facts
_WORLD = (
    ("France", "Paris", "Europe"),
    ("Japan", "Tokyo", "Asia"),
    ("Kenya", "Nairobi", "Africa"),
    ("Peru", "Lima", "America"),
    ("Italy", "Rome", "Europe"),
    ("Egypt", "Cairo", "Africa"),
    ("India", "Delhi", "Asia"),
    ("Chile", "Santiago", "America"),
    ("Spain", "Madrid", "Europe"),
    ("Ghana", "Accra", "Africa"),
    ("China", "Beijing", "Asia"),
    ("Cuba", "Havana", "America"),
    ("Norway", "Oslo", "Europe"),
    ("Nepal", "Kathmandu", "Asia"),
    ("Mali", "Bamako", "Africa"),
    ("Canada", "Ottawa", "America"),
    ("Greece", "Athens", "Europe"),
    ("Vietnam", "Hanoi", "Asia"),
    ("Senegal", "Dakar", "Africa"),
    ("Ecuador", "Quito", "America"),
)
_REAL_AUTHORS = (
    ("Leo Tolstoy", "Russian", "War and Peace", "1828"),
    ("Jane Austen", "English", "Pride and Prejudice", "1775"),
    ("Gabriel Garcia Marquez", "Colombian", "One Hundred Years of Solitude", "1927"),
    ("Chinua Achebe", "Nigerian", "Things Fall Apart", "1930"),
    ("Haruki Murakami", "Japanese", "Norwegian Wood", "1949"),
    ("Franz Kafka", "Czech", "The Trial", "1883"),
    ("Virginia Woolf", "English", "Mrs Dalloway", "1882"),
    ("Victor Hugo", "French", "Les Miserables", "1802"),
    ("Toni Morrison", "American", "Beloved", "1931"),
    ("Fernando Pessoa", "Portuguese", "The Book of Disquiet", "1888"),
)


@dataclass(frozen=True)
class TofuLikeConfig:
    """Size of a generated TOFU-like instance.

    Attributes:
        n_authors: fictitious authors (TOFU: 200).
        min_qa: fewest QA pairs per author (drawn uniformly; TOFU: 20).
        max_qa: most QA pairs per author (TOFU: 20).
        forget_fraction: share of authors in the forget split (forget10 -> 0.1); the forget
            authors are the last ones, as in TOFU.
        n_perturbed: wrong answers per question (TOFU: 5).
        retain_eval_authors: retain authors whose QA form the retain evaluation set.
        seed: generator seed.
    """

    n_authors: int = 100
    min_qa: int = 10
    max_qa: int = 20
    forget_fraction: float = 0.1
    n_perturbed: int = 5
    retain_eval_authors: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_authors < 2:
            raise ConfigError(f"n_authors must be >= 2, got {self.n_authors}")
        if self.n_authors > len(_FIRST) * len(_LAST):
            raise ConfigError(
                f"n_authors must be <= {len(_FIRST) * len(_LAST)}, got {self.n_authors}"
            )
        if not 1 <= self.min_qa <= self.max_qa <= len(_TEMPLATES):
            raise ConfigError(
                f"need 1 <= min_qa <= max_qa <= {len(_TEMPLATES)}, got "
                f"min_qa={self.min_qa}, max_qa={self.max_qa}"
            )
        if not 0.0 < self.forget_fraction < 1.0:
            raise ConfigError(f"forget_fraction must be in (0, 1), got {self.forget_fraction}")
        n_forget = round(self.n_authors * self.forget_fraction)
        if n_forget < 1 or n_forget >= self.n_authors:
            raise ConfigError(
                f"forget_fraction={self.forget_fraction} of n_authors={self.n_authors} gives "
                f"{n_forget} forget authors: each split needs at least one author"
            )
        if not 1 <= self.n_perturbed <= 7:
            raise ConfigError(f"n_perturbed must be in [1, 7], got {self.n_perturbed}")
        if self.retain_eval_authors < 1:
            raise ConfigError(f"retain_eval_authors must be >= 1, got {self.retain_eval_authors}")


def _wrong(rng: random.Random, pool: Sequence[str], right: str, k: int) -> tuple[str, ...]:
    return tuple(rng.sample([v for v in pool if v != right], k))


def make_tofu_like(config: TofuLikeConfig | None = None, **overrides: Any) -> TofuData:
    """Generate a TOFU-like instance of fictitious authors, fully offline.

    Each author gets random attributes (birth city and year, genre, parents' jobs, award, books,
    ...); ``min_qa..max_qa`` of 20 question templates are instantiated with a paraphrased
    question, a paraphrased answer (different wording, same fact) and ``n_perturbed`` wrong
    answers (the paraphrased answer with other values of the attribute: as in TOFU, the
    perturbed answers are wrong versions of the paraphrase, so the truth ratio compares like
    with like). The world-facts set
    holds real country/capital/continent facts and the real-authors set facts about ten
    well-known writers; both are also returned as ``pretrain`` records (with fresh wordings
    for the evaluation questions), so that a model pretrained on them knows them before it
    sees the fictitious authors, as in TOFU.

    Args:
        config: the sizes (:class:`TofuLikeConfig`); keyword overrides replace its fields.
    """
    if config is None:
        config = TofuLikeConfig(**overrides)
    elif overrides:
        from dataclasses import replace

        config = replace(config, **overrides)
    rng = random.Random(config.seed)
    names = [f"{f} {last}" for f in _FIRST for last in _LAST]
    rng.shuffle(names)
    names = names[: config.n_authors]
    per_author: list[list[QAItem]] = []
    for name in names:
        attrs = {k: rng.choice(pool) for k, pool in _POOLS.items()}
        while attrs["book2"] == attrs["book1"]:
            attrs["book2"] = rng.choice(_POOLS["book2"])
        n_qa = rng.randint(config.min_qa, config.max_qa)
        chosen = rng.sample(range(len(_TEMPLATES)), n_qa)
        items = []
        for t in sorted(chosen):
            key, q, pq, a, pa = _TEMPLATES[t]
            v = attrs[key]
            items.append(
                QAItem(
                    question=q.format(n=name),
                    answer=a.format(n=name, v=v),
                    author=name,
                    paraphrased_answer=pa.format(n=name, v=v),
                    paraphrased_question=pq.format(n=name),
                    perturbed_answers=tuple(
                        pa.format(n=name, v=w)
                        for w in _wrong(rng, _POOLS[key], v, config.n_perturbed)
                    ),
                )
            )
        per_author.append(items)
    n_forget = round(config.n_authors * config.forget_fraction)
    retain = tuple(q for items in per_author[:-n_forget] for q in items)
    forget = tuple(q for items in per_author[-n_forget:] for q in items)
    n_eval = min(config.retain_eval_authors, config.n_authors - n_forget)
    retain_eval = tuple(q for items in per_author[:n_eval] for q in items)

    world, pretrain = [], []
    capitals = [c for _, c, _ in _WORLD]
    continents = sorted({c for _, _, c in _WORLD})
    k = config.n_perturbed
    for country, capital, continent in _WORLD:
        world.append(
            QAItem(
                f"What is the capital of {country}?",
                f"The capital of {country} is {capital}.",
                paraphrased_answer=f"{capital} is the capital city of {country}.",
                paraphrased_question=f"Which city is the capital of {country}?",
                perturbed_answers=tuple(
                    f"{w} is the capital city of {country}."
                    for w in _wrong(rng, capitals, capital, k)
                ),
            )
        )
        wrong_cont = _wrong(rng, continents, continent, min(k, len(continents) - 1))
        world.append(
            QAItem(
                f"On which continent is {country}?",
                f"{country} is in {continent}.",
                paraphrased_answer=f"{country} lies in {continent}.",
                paraphrased_question=f"Which continent is {country} part of?",
                perturbed_answers=tuple(f"{country} lies in {w}." for w in wrong_cont),
            )
        )
        pretrain += [
            QAItem(f"Name the capital of {country}.", f"{capital} is the capital of {country}."),
            QAItem(f"Where is {country}?", f"{country} is a country in {continent}."),
        ]
    real = []
    nats = sorted({r[1] for r in _REAL_AUTHORS})
    years = [r[3] for r in _REAL_AUTHORS]
    for name, nat, book, year in _REAL_AUTHORS:
        real += [
            QAItem(
                f"Who wrote {book}?",
                f"{book} was written by {name}.",
                paraphrased_answer=f"{name} is the author of {book}.",
                paraphrased_question=f"Who is the author of {book}?",
                perturbed_answers=tuple(
                    f"{r[0]} is the author of {book}."
                    for r in rng.sample([r for r in _REAL_AUTHORS if r[0] != name], k)
                ),
            ),
            QAItem(
                f"What nationality was {name}?",
                f"{name} was {nat}.",
                paraphrased_answer=f"The nationality of {name} was {nat}.",
                paraphrased_question=f"Which country was {name} from?",
                perturbed_answers=tuple(
                    f"The nationality of {name} was {w}."
                    for w in _wrong(rng, nats, nat, min(k, len(nats) - 1))
                ),
            ),
            QAItem(
                f"In what year was {name} born?",
                f"{name} was born in {year}.",
                paraphrased_answer=f"The birth year of {name} is {year}.",
                paraphrased_question=f"When was {name} born?",
                perturbed_answers=tuple(
                    f"The birth year of {name} is {w}." for w in _wrong(rng, years, year, k)
                ),
            ),
        ]
        pretrain += [
            QAItem(f"Name a book by {name}.", f"{name} wrote {book}."),
            QAItem(f"Where was {name} from?", f"{name} was a {nat} writer."),
            QAItem(f"When was {name} born?", f"{name} was born in {year}."),
        ]
    # the world facts and real authors themselves are part of the pretraining knowledge
    pretrain = [*pretrain, *world, *real]
    return TofuData(
        forget=forget,
        retain=retain,
        retain_eval=retain_eval,
        real_authors=tuple(real),
        world_facts=tuple(world),
        pretrain=tuple(pretrain),
        name="tofu-like",
        meta={
            "generator": "make_tofu_like",
            "seed": config.seed,
            "n_authors": config.n_authors,
            "forget_split": f"forget{round(100 * n_forget / config.n_authors):02d}",
        },
    )


def format_prompt(question: str) -> str:
    """The prompt a question is asked with (OURS: TOFU uses the model's chat template)."""
    return f"Question: {question} Answer:"
