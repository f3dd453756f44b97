"""Corpora for TnD: a grammar-generated child-directed corpus and loaders for real ones.

- :data:`CDI_WORDS`: a CDI-like vocabulary (MacArthur-Bates CDI style categories; 380+ words,
  every one a single word so a word-level tokenizer gives it one token).
- :func:`child_directed_corpus`: utterances from a small grammar of child-directed speech whose
  slots draw words with Zipf-distributed probabilities; returns a :class:`Corpus` with the exact
  per-word counts of its training split.
- :func:`load_babylm`: real corpora as text files, one utterance per line (BabyLM style).
- :func:`load_word_list`: a CDI-style word list (``word`` or ``word,category`` per line, or CSV).
- :func:`build_word_tokenizer`: a word-level tokenizer built locally (``tokenizers``).
- :func:`check_vocabulary`: which words of a list the tokenizer represents as one token; the
  others are reported (and logged), never dropped silently.
- :func:`pack_sequences`: utterances joined with `` . `` into fixed-length training sequences,
  each starting with ``<bos>``.

The grammar, the category lists and the packing into sequences are OURS (the paper trains on
BabyLM/BookCorpus with the GPT-2 tokenizer).
"""

from __future__ import annotations

import csv
import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lab.core import ConfigError, DataError

from ..models import wrap_causal_tokenizer

__all__ = [
    "CDI_WORDS",
    "SEPARATOR",
    "Corpus",
    "VocabularyCheck",
    "build_word_tokenizer",
    "check_vocabulary",
    "child_directed_corpus",
    "load_babylm",
    "load_word_list",
    "pack_sequences",
    "word_counts",
]

log = logging.getLogger("lab.llm.tnd")

#: token that separates utterances inside a packed training sequence
SEPARATOR = "."

_TRANSITIVE = [
    "eat",
    "drink",
    "push",
    "pull",
    "throw",
    "catch",
    "kick",
    "hug",
    "kiss",
    "bite",
    "wash",
    "open",
    "close",
    "find",
    "hold",
    "carry",
    "read",
    "draw",
    "build",
    "break",
    "fix",
    "cut",
    "pour",
    "feed",
    "tickle",
    "touch",
    "wipe",
    "help",
    "chase",
    "bring",
    "see",
    "want",
]
_INTRANSITIVE = [
    "run",
    "jump",
    "sleep",
    "walk",
    "sit",
    "stand",
    "dance",
    "sing",
    "swim",
    "cry",
    "laugh",
    "play",
    "fall",
    "climb",
    "ride",
    "hide",
    "go",
    "come",
    "stop",
    "wait",
]

#: CDI-like categories -> words (all single lower-case words, no word in two categories)
CDI_WORDS: dict[str, tuple[str, ...]] = {
    "animals": tuple(
        [
            "dog",
            "cat",
            "bird",
            "fish",
            "duck",
            "cow",
            "pig",
            "horse",
            "sheep",
            "chicken",
            "bear",
            "lion",
            "tiger",
            "monkey",
            "elephant",
            "giraffe",
            "zebra",
            "frog",
            "turtle",
            "bunny",
            "mouse",
            "owl",
            "bee",
            "butterfly",
            "ant",
            "squirrel",
            "deer",
            "donkey",
            "goose",
            "lamb",
            "kitty",
            "puppy",
            "pony",
            "penguin",
            "wolf",
            "fox",
            "snake",
            "spider",
            "rooster",
            "alligator",
        ]
    ),
    "vehicles": tuple(
        [
            "car",
            "truck",
            "bus",
            "train",
            "boat",
            "airplane",
            "bike",
            "tractor",
            "motorcycle",
            "helicopter",
            "stroller",
            "firetruck",
        ]
    ),
    "toys": tuple(
        [
            "ball",
            "doll",
            "block",
            "balloon",
            "book",
            "puzzle",
            "crayon",
            "bubbles",
            "teddy",
            "kite",
            "drum",
            "game",
            "present",
            "toy",
            "pen",
            "chalk",
        ]
    ),
    "food_drink": tuple(
        [
            "apple",
            "banana",
            "cookie",
            "milk",
            "juice",
            "water",
            "bread",
            "cheese",
            "cake",
            "candy",
            "cereal",
            "egg",
            "grape",
            "cracker",
            "carrot",
            "peas",
            "pizza",
            "soup",
            "toast",
            "butter",
            "jelly",
            "orange",
            "pear",
            "popsicle",
            "noodles",
            "pretzel",
            "yogurt",
            "beans",
            "corn",
            "potato",
            "sandwich",
            "pancake",
            "muffin",
            "coffee",
            "tea",
            "hamburger",
            "raisin",
            "strawberry",
            "watermelon",
            "pumpkin",
        ]
    ),
    "clothing": tuple(
        [
            "shoe",
            "sock",
            "hat",
            "coat",
            "shirt",
            "pants",
            "dress",
            "boots",
            "diaper",
            "jacket",
            "mittens",
            "pajamas",
            "sweater",
            "belt",
            "scarf",
            "button",
        ]
    ),
    "body_parts": tuple(
        [
            "nose",
            "eye",
            "ear",
            "mouth",
            "hand",
            "foot",
            "head",
            "tummy",
            "arm",
            "leg",
            "finger",
            "toe",
            "tooth",
            "hair",
            "knee",
            "cheek",
            "chin",
            "face",
        ]
    ),
    "household": tuple(
        [
            "cup",
            "spoon",
            "bowl",
            "plate",
            "fork",
            "knife",
            "bottle",
            "blanket",
            "pillow",
            "towel",
            "brush",
            "comb",
            "soap",
            "clock",
            "lamp",
            "phone",
            "box",
            "bag",
            "basket",
            "key",
            "light",
            "picture",
            "door",
            "window",
            "trash",
            "tissue",
            "bucket",
            "glasses",
        ]
    ),
    "furniture_rooms": tuple(
        [
            "bed",
            "chair",
            "table",
            "couch",
            "bathtub",
            "kitchen",
            "bedroom",
            "stairs",
            "sink",
            "oven",
            "refrigerator",
            "crib",
        ]
    ),
    "outside": tuple(
        [
            "tree",
            "flower",
            "sun",
            "moon",
            "star",
            "rain",
            "snow",
            "sky",
            "grass",
            "rock",
            "stick",
            "sand",
            "garden",
            "street",
            "house",
            "cloud",
        ]
    ),
    "places": tuple(
        ["park", "school", "store", "zoo", "beach", "farm", "church", "home", "party", "pool"]
    ),
    "people": tuple(
        [
            "mommy",
            "daddy",
            "baby",
            "grandma",
            "grandpa",
            "brother",
            "sister",
            "teacher",
            "doctor",
            "boy",
            "girl",
            "friend",
            "man",
            "lady",
        ]
    ),
    "games_routines": tuple(
        [
            "hi",
            "bye",
            "yes",
            "please",
            "thanks",
            "peekaboo",
            "goodnight",
            "shh",
            "hello",
            "uhoh",
            "okay",
            "wow",
        ]
    ),
    "action_words": tuple(_TRANSITIVE + _INTRANSITIVE + ["look", "say"]),
    "descriptive_words": tuple(
        [
            "big",
            "little",
            "hot",
            "cold",
            "wet",
            "dry",
            "dirty",
            "clean",
            "soft",
            "hard",
            "happy",
            "sad",
            "sleepy",
            "hungry",
            "thirsty",
            "red",
            "blue",
            "green",
            "yellow",
            "pink",
            "white",
            "black",
            "brown",
            "new",
            "old",
            "fast",
            "slow",
            "loud",
            "quiet",
            "pretty",
            "yucky",
            "broken",
            "tired",
        ]
    ),
    "time_words": tuple(
        ["now", "later", "today", "tomorrow", "tonight", "yesterday", "morning", "soon"]
    ),
    "pronouns": tuple(
        ["i", "you", "we", "they", "he", "she", "it", "my", "your", "his", "her", "our", "their"]
    ),
    "question_words": tuple(["what", "where", "who", "why", "how", "when"]),
    "prepositions": tuple(
        ["in", "on", "under", "over", "behind", "into", "near", "up", "down", "with", "at", "to"]
    ),
    "quantifiers": tuple(
        ["the", "a", "all", "some", "more", "another", "every", "no", "two", "three"]
    ),
    "helping_verbs": tuple(
        [
            "can",
            "will",
            "could",
            "would",
            "should",
            "might",
            "must",
            "gonna",
            "wanna",
            "is",
            "are",
            "do",
        ]
    ),
    "connecting_words": tuple(["and", "but", "because", "so", "then", "if"]),
}

_NOUN_CATS = (
    "animals",
    "vehicles",
    "toys",
    "food_drink",
    "clothing",
    "body_parts",
    "household",
    "furniture_rooms",
    "outside",
)

# slot name -> words it draws from
_SLOTS: dict[str, tuple[str, ...]] = {
    "NOUN": tuple(w for c in _NOUN_CATS for w in CDI_WORDS[c]),
    "ANIMAL": CDI_WORDS["animals"],
    "FOOD": CDI_WORDS["food_drink"],
    "FURN": CDI_WORDS["furniture_rooms"],
    "PLACE": CDI_WORDS["places"],
    "PERSON": CDI_WORDS["people"],
    "ROUTINE": CDI_WORDS["games_routines"],
    "VT": tuple(_TRANSITIVE),
    "VI": tuple(_INTRANSITIVE),
    "ADJ": CDI_WORDS["descriptive_words"],
    "TIME": CDI_WORDS["time_words"],
    "SUBJ": ("i", "you", "we", "they", "he", "she", "it"),
    "POSS": ("my", "your", "his", "her", "our", "their"),
    "QWORD": CDI_WORDS["question_words"],
    "PREP": ("in", "on", "under", "over", "behind", "into", "near", "up", "down", "with"),
    "ART": ("the", "a"),
    "QUANT": ("all", "some", "more", "another", "every", "no", "two", "three"),
    "HELP": ("can", "will", "could", "would", "should", "might", "must", "gonna", "wanna"),
    "CONJ": CDI_WORDS["connecting_words"],
}

# templates of child-directed utterances; upper-case names are slots, the rest literal words
_TEMPLATES: tuple[str, ...] = (
    "look at ART ADJ NOUN",
    "do you want ART FOOD",
    "ART ANIMAL HELP VI TIME",
    "QWORD is ART NOUN PREP ART FURN",
    "SUBJ HELP VT ART NOUN",
    "PERSON HELP VT POSS NOUN PREP ART FURN",
    "is ART NOUN ADJ",
    "SUBJ see QUANT NOUN",
    "say ROUTINE to PERSON",
    "PERSON HELP VI CONJ PERSON HELP VI",
    "SUBJ HELP go to ART PLACE TIME",
    "ROUTINE PERSON",
    "are you ADJ",
    "where is POSS NOUN",
    "ART ADJ ANIMAL HELP VT ART FOOD",
)


@dataclass(frozen=True)
class Corpus:
    """A corpus of utterances plus the word list whose acquisition is measured.

    Attributes:
        train: training utterances (one per entry, words separated by spaces).
        heldout: held-out utterances for word surprisal.
        words: the tracked words (a CDI-like list).
        categories: word -> category.
        frequencies: word -> count in ``train`` (every tracked word, 0 when absent).
        probabilities: word -> planted per-slot probability mass summed over slots (generated
            corpora only; empty for loaded ones).
    """

    train: tuple[str, ...]
    heldout: tuple[str, ...]
    words: tuple[str, ...]
    categories: Mapping[str, str]
    frequencies: Mapping[str, int]
    probabilities: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.train:
            raise DataError("corpus has no training utterances")
        if not self.heldout:
            raise DataError("corpus has no held-out utterances")


def word_counts(texts: Iterable[str], words: Iterable[str] | None = None) -> dict[str, int]:
    """Whitespace-token counts of ``texts`` (restricted to ``words`` when given, zeros kept)."""
    c: Counter[str] = Counter()
    for t in texts:
        c.update(t.split())
    if words is None:
        return dict(c)
    return {w: int(c.get(w, 0)) for w in words}


def child_directed_corpus(
    num_train: int = 4000,
    num_heldout: int = 600,
    *,
    zipf_exponent: float = 1.0,
    seed: int = 0,
) -> Corpus:
    """Child-directed utterances from a grammar with a CDI-like vocabulary (OURS).

    Every template slot draws a word from its list with probability proportional to
    ``1 / rank ** zipf_exponent``, the ranks being a seeded permutation of the slot's words, so
    word frequencies are Zipf-distributed within each slot. The training and held-out splits
    are drawn independently from the same grammar.

    Args:
        num_train: training utterances.
        num_heldout: held-out utterances.
        zipf_exponent: exponent ``s`` of the Zipf law (0 = uniform).
        seed: generator seed.

    Returns:
        A :class:`Corpus`; ``frequencies`` are the exact counts in ``train``.
    """
    if num_train < 1 or num_heldout < 1:
        raise ConfigError(f"num_train and num_heldout must be >= 1, got {num_train}, {num_heldout}")
    if not (zipf_exponent >= 0 and math.isfinite(zipf_exponent)):
        raise ConfigError(f"zipf_exponent must be a finite number >= 0, got {zipf_exponent}")
    rng = np.random.default_rng(seed)
    probs: dict[str, np.ndarray] = {}
    for slot, ws in _SLOTS.items():
        ranks = rng.permutation(len(ws)) + 1
        p = 1.0 / ranks.astype(np.float64) ** zipf_exponent
        probs[slot] = p / p.sum()
    template_tokens = [t.split() for t in _TEMPLATES]

    def sample(n: int) -> tuple[str, ...]:
        out = []
        for t in rng.integers(len(template_tokens), size=n):
            words = []
            for tok in template_tokens[int(t)]:
                if tok in _SLOTS:
                    ws = _SLOTS[tok]
                    words.append(ws[int(rng.choice(len(ws), p=probs[tok]))])
                else:
                    words.append(tok)
            out.append(" ".join(words))
        return tuple(out)

    train = sample(num_train)
    heldout = sample(num_heldout)
    cats = {w: c for c, ws in CDI_WORDS.items() for w in ws}
    words = tuple(cats)
    planted: dict[str, float] = dict.fromkeys(words, 0.0)
    for slot, ws in _SLOTS.items():
        for w, p in zip(ws, probs[slot], strict=True):
            planted[w] += float(p)
    return Corpus(
        train=train,
        heldout=heldout,
        words=words,
        categories=cats,
        frequencies=word_counts(train, words),
        probabilities=planted,
    )


def _clean_word(raw: str) -> str:
    # CDI forms annotate senses, e.g. "chicken (animal)" or "drink (beverage)"; OURS: drop the
    # annotation and a trailing '*', lower-case
    w = raw.split("(")[0].strip().rstrip("*").strip().lower()
    return w


def load_word_list(path: str | Path) -> dict[str, str]:
    """A CDI-style word list: ``word`` or ``word,category`` per line, or a CSV with a header.

    A CSV header with a ``word`` (or ``definition``/``item``) column and optionally a
    ``category`` column is recognised. Sense annotations in parentheses are removed
    (``"chicken (animal)"`` -> ``"chicken"``; OURS).

    Returns:
        word -> category (``"unknown"`` when the file has none), in file order.

    Raises:
        DataError: missing file, no words, or a word that appears twice.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"word list {str(p)!r} does not exist")
    lines = [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise DataError(f"word list {str(p)!r} is empty")
    rows = list(csv.reader(lines))
    header = [h.strip().lower() for h in rows[0]]
    wcol, ccol = 0, 1
    for name in ("word", "definition", "item", "item_definition"):
        if name in header:
            wcol = header.index(name)
            ccol = header.index("category") if "category" in header else -1
            rows = rows[1:]
            break
    out: dict[str, str] = {}
    for i, r in enumerate(rows, 1):
        if not r or not r[wcol].strip():
            continue
        w = _clean_word(r[wcol])
        if not w:
            raise DataError(f"{p}: row {i} has no word: {r!r}")
        if w in out:
            raise DataError(f"{p}: word {w!r} appears more than once (row {i})")
        cat = r[ccol].strip() if 0 <= ccol < len(r) and r[ccol].strip() else "unknown"
        out[w] = cat
    if not out:
        raise DataError(f"word list {str(p)!r} holds no words")
    return out


def load_babylm(
    path: str | Path,
    *,
    words: Mapping[str, str] | Sequence[str] | None = None,
    heldout_fraction: float = 0.1,
    max_lines: int | None = None,
    lowercase: bool = True,
    seed: int = 0,
) -> Corpus:
    """A real corpus from text files with one utterance per line (BabyLM ``*.train`` style).

    Args:
        path: a text file, or a folder whose ``*.train``, ``*.txt`` files are read (sorted).
        words: the tracked word list (a ``word -> category`` mapping or a list); default: the
            CDI-like list :data:`CDI_WORDS`.
        heldout_fraction: share of lines (shuffled with ``seed``) kept for word surprisal.
        max_lines: read at most this many non-empty lines (None: all).
        lowercase: lower-case the text (the CDI words are lower case).
        seed: shuffle seed of the split.

    Raises:
        DataError: no file, no non-empty line, or too few lines for both splits.
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in (".train", ".txt", ".dev", ".test"))
        if not files:
            raise DataError(f"no .train/.txt files in {str(p)!r}")
    elif p.is_file():
        files = [p]
    else:
        raise DataError(f"corpus path {str(p)!r} does not exist")
    if not 0 < heldout_fraction < 1:
        raise ConfigError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
    lines: list[str] = []
    for f in files:
        with f.open(encoding="utf-8", errors="strict") as fh:
            for ln in fh:
                t = " ".join(ln.split())
                if t:
                    lines.append(t.lower() if lowercase else t)
                    if max_lines is not None and len(lines) >= max_lines:
                        break
        if max_lines is not None and len(lines) >= max_lines:
            break
    if len(lines) < 2:
        raise DataError(f"corpus {str(p)!r} has {len(lines)} non-empty lines; need at least 2")
    order = np.random.default_rng(seed).permutation(len(lines))
    n_held = max(1, round(heldout_fraction * len(lines)))
    held = tuple(lines[i] for i in order[:n_held])
    train = tuple(lines[i] for i in order[n_held:])
    if words is None:
        cats = {w: c for c, ws in CDI_WORDS.items() for w in ws}
    elif isinstance(words, Mapping):
        cats = dict(words)
    else:
        cats = dict.fromkeys(words, "unknown")
    if not cats:
        raise DataError("the tracked word list is empty")
    tracked = tuple(cats)
    return Corpus(train, held, tracked, cats, word_counts(train, tracked))


def build_word_tokenizer(
    texts: Iterable[str],
    *,
    words: Iterable[str] = (),
    vocab_size: int | None = None,
) -> Any:
    """A word-level tokenizer (whitespace split) built locally with the ``tokenizers`` library.

    The vocabulary holds ``<pad>`` (id 0), ``<eos>``, ``<bos>``, ``<unk>``, the separator
    :data:`SEPARATOR`, every word of ``words`` and then the most frequent words of ``texts`` up
    to ``vocab_size`` entries in all (None: every word of ``texts``). Unknown words map to
    ``<unk>``. Left padding (what :func:`lab.llm.generate_completions` expects).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(t.split())
    if not counts:
        raise DataError("cannot build a tokenizer from empty texts")
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    vocab: dict[str, int] = {}
    for w in [*specials, SEPARATOR, *words]:
        vocab.setdefault(w, len(vocab))
    limit = vocab_size if vocab_size is not None else len(vocab) + len(counts)
    if limit < len(vocab):
        raise ConfigError(
            f"vocab_size={vocab_size} is smaller than the specials plus the tracked words ({len(vocab)})"
        )
    for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= limit:
            break
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return wrap_causal_tokenizer(tok)


@dataclass(frozen=True)
class VocabularyCheck:
    """Which words a tokenizer represents as exactly one token (``ids``) and which it does not."""

    ids: Mapping[str, int]
    not_single_token: tuple[str, ...]


def check_vocabulary(tokenizer: Any, words: Iterable[str]) -> VocabularyCheck:
    """Split ``words`` into those that encode to one (non-unknown) token and the others.

    Words that are not one token are returned in ``not_single_token`` and logged as a warning:
    word surprisal and age of acquisition are defined here for single-token words only.
    """
    ids: dict[str, int] = {}
    bad: list[str] = []
    unk = tokenizer.unk_token_id
    for w in words:
        enc = tokenizer(w, add_special_tokens=False)["input_ids"]
        if len(enc) == 1 and enc[0] != unk:
            ids[w] = int(enc[0])
        else:
            bad.append(w)
    if bad:
        shown = ", ".join(repr(b) for b in bad[:20])
        log.warning(
            "%d of %d words are not single tokens and are excluded from word learning: %s%s",
            len(bad),
            len(bad) + len(ids),
            shown,
            " ..." if len(bad) > 20 else "",
        )
    return VocabularyCheck(ids, tuple(bad))


def pack_sequences(utterances: Sequence[str], seq_words: int = 24) -> list[str]:
    """Join consecutive utterances with `` . `` and cut into texts of ``seq_words`` words (OURS).

    Each returned text starts with ``<bos>``; the last, shorter piece is kept when it holds at
    least 2 words.
    """
    if seq_words < 2:
        raise ConfigError(f"seq_words must be >= 2, got {seq_words}")
    if not utterances:
        raise DataError("no utterances to pack")
    stream: list[str] = []
    for u in utterances:
        stream.extend(u.split())
        stream.append(SEPARATOR)
    out = []
    for s in range(0, len(stream), seq_words):
        piece = stream[s : s + seq_words]
        if len(piece) >= 2:
            out.append("<bos> " + " ".join(piece))
    return out
