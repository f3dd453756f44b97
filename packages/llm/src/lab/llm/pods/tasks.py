"""Tasks with verifiable rewards: generated arithmetic word problems and GSM8K.

Every task is a list of dicts with a ``prompt`` (string), an ``answer`` (the gold final answer as
a string) and a ``completion`` (a reference completion, used by the SFT warm start); the reward
functions take TRL's signature ``f(prompts, completions, answer, **kw)``.

- :func:`arithmetic_task`: ``difficulty`` = digits per operand; ``num_terms`` operands; word
  problems or bare equations. The answer is always a non-negative integer.
- :func:`load_gsm8k`: the GSM8K JSONL format (``question``, ``answer`` ending in ``#### N``),
  prompts asking for ``<reasoning>...</reasoning><answer>...</answer>``.
- Rewards: :func:`arithmetic_reward`, :func:`gsm8k_correctness_reward`, :func:`gsm8k_format_reward`,
  :func:`gsm8k_tag_reward`.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from lab.core import ConfigError, DataError

__all__ = [
    "GSM8K_SYSTEM_PROMPT",
    "arithmetic_reward",
    "arithmetic_task",
    "extract_answer_tag",
    "extract_gsm8k_answer",
    "extract_last_number",
    "gsm8k_correctness_reward",
    "gsm8k_format_reward",
    "gsm8k_tag_reward",
    "load_gsm8k",
    "normalize_number",
]

_NAMES = ("Ava", "Ben", "Cleo", "Dan", "Eli", "Fay", "Gus", "Hana", "Ivan", "Jo")
_ITEMS = ("apples", "books", "coins", "pens", "cards", "shells", "stamps", "marbles")


def _word_problem(rng: random.Random, terms: list[int], ops: list[str]) -> str:
    name = rng.choice(_NAMES)
    item = rng.choice(_ITEMS)
    parts = [f"{name} has {terms[0]} {item}."]
    for op, t in zip(ops, terms[1:], strict=False):
        if op == "+":
            parts.append(
                rng.choice(
                    [
                        f"{name} gets {t} more.",
                        f"{name} finds {t} more.",
                        f"A friend gives {name} {t} more.",
                    ]
                )
            )
        else:
            parts.append(
                rng.choice([f"{name} gives away {t}.", f"{name} loses {t}.", f"{name} sells {t}."])
            )
    parts.append(f"How many {item} does {name} have now?")
    return " ".join(parts)


def arithmetic_task(
    num_examples: int,
    *,
    difficulty: int = 1,
    num_terms: int = 2,
    operations: Sequence[str] = ("+", "-"),
    style: Literal["word", "equation"] = "word",
    seed: int = 0,
) -> list[dict[str, str]]:
    """Generated arithmetic problems with exact integer answers.

    Args:
        num_examples: how many problems.
        difficulty: digits per operand (1 -> operands 0..9, 2 -> 0..99, ...); the difficulty knob.
        num_terms: operands per problem (>= 2).
        operations: a subset of ``("+", "-")``; subtractions never go below zero (the subtrahend
            is drawn from 0..current total).
        style: ``"word"`` (a short story question) or ``"equation"`` (``"3+5="``).
        seed: RNG seed (the same seed gives the same problems).

    Returns:
        Dicts with ``prompt``, ``answer`` (decimal string) and ``completion`` (``" <answer>"``).
        Word prompts end in ``"\\nAnswer:"``.
    """
    if num_examples < 1:
        raise ConfigError(f"num_examples must be >= 1, got {num_examples}")
    if difficulty < 1:
        raise ConfigError(f"difficulty must be >= 1 (digits per operand), got {difficulty}")
    if num_terms < 2:
        raise ConfigError(f"num_terms must be >= 2, got {num_terms}")
    ops_allowed = tuple(operations)
    if not ops_allowed or any(o not in ("+", "-") for o in ops_allowed):
        raise ConfigError(
            f"operations must be a non-empty subset of ('+', '-'), got {operations!r}"
        )
    if style not in ("word", "equation"):
        raise ConfigError(f"style must be 'word' or 'equation', got {style!r}")
    rng = random.Random(seed)
    hi = 10**difficulty - 1
    out = []
    for _ in range(num_examples):
        total = rng.randint(0, hi)
        terms, ops = [total], []
        for _ in range(num_terms - 1):
            op = rng.choice(ops_allowed)
            t = rng.randint(0, hi) if op == "+" else rng.randint(0, min(total, hi))
            total = total + t if op == "+" else total - t
            terms.append(t)
            ops.append(op)
        if style == "equation":
            prompt = (
                str(terms[0])
                + "".join(f"{o}{t}" for o, t in zip(ops, terms[1:], strict=False))
                + "="
            )
            completion = f"{total}"
        else:
            prompt = f"Question: {_word_problem(rng, terms, ops)}\nAnswer:"
            completion = f" {total}"
        out.append({"prompt": prompt, "answer": str(total), "completion": completion})
    return out


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def normalize_number(text: str) -> str:
    """``"1,234.50"`` -> ``"1234.5"``, ``"$7"`` -> ``"7"``; other text is stripped and returned."""
    t = text.strip().replace(",", "").replace("$", "").rstrip(".")
    try:
        x = float(t)
    except ValueError:
        return t
    return str(int(x)) if x == int(x) else repr(x)


def extract_last_number(text: str) -> str | None:
    """The last number in ``text`` (commas allowed), normalised; None when there is none."""
    found = _NUMBER.findall(text)
    return normalize_number(found[-1]) if found else None


def _first_number(text: str) -> str | None:
    found = _NUMBER.search(text)
    return normalize_number(found.group(0)) if found else None


def arithmetic_reward(
    prompts: Sequence[Any], completions: Sequence[str], answer: Sequence[str], **_: Any
) -> list[float]:
    """1.0 when the first number in the completion equals the answer, else 0.0."""
    return [
        1.0 if _first_number(c) == normalize_number(a) else 0.0
        for c, a in zip(completions, answer, strict=False)
    ]


# ----------------------------------------------------------------------------- GSM8K

GSM8K_SYSTEM_PROMPT = (
    "Respond in the following format:\n<reasoning>\n...\n</reasoning>\n<answer>\n...\n</answer>"
)


def extract_gsm8k_answer(solution: str) -> str:
    """The final answer of a GSM8K reference solution: the text after ``####``, commas removed."""
    if "####" not in solution:
        raise DataError(f"GSM8K solution has no '####' final answer: {solution[-80:]!r}")
    return normalize_number(solution.split("####")[-1])


_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def extract_answer_tag(text: str) -> str | None:
    """The content of the last ``<answer>...</answer>`` block, stripped; None when absent."""
    found = _ANSWER_TAG.findall(text)
    return found[-1].strip() if found else None


def load_gsm8k(
    path: str | Path,
    *,
    split: str = "train",
    limit: int | None = None,
    system_prompt: str = GSM8K_SYSTEM_PROMPT,
) -> list[dict[str, str]]:
    """Read GSM8K from its public JSONL format (openai/grade-school-math).

    Args:
        path: a ``.jsonl`` file, or a folder holding ``<split>.jsonl`` (also searched under
            ``grade_school_math/data/`` and ``gsm8k/``).
        split: ``train`` or ``test`` (used only when ``path`` is a folder).
        limit: keep the first ``limit`` problems.
        system_prompt: put before each question (default asks for reasoning/answer tags).

    Returns:
        Dicts with ``prompt``, ``question``, ``answer`` (the normalised final number),
        ``solution`` (the reference text) and ``completion`` (the solution rewritten in the tag
        format, for SFT).
    """
    p = Path(path)
    if p.is_dir():
        cands = [
            p / f"{split}.jsonl",
            p / "grade_school_math" / "data" / f"{split}.jsonl",
            p / "gsm8k" / f"{split}.jsonl",
        ]
        found = [c for c in cands if c.is_file()]
        if not found:
            raise DataError(
                f"no {split}.jsonl under {str(p)!r} (looked at {[str(c) for c in cands]})"
            )
        p = found[0]
    if not p.is_file():
        raise DataError(f"GSM8K file {str(p)!r} does not exist")
    out: list[dict[str, str]] = []
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{p}:{lineno}: not a JSON line: {exc}") from exc
            if not isinstance(row, dict) or "question" not in row or "answer" not in row:
                raise DataError(f"{p}:{lineno}: expected keys 'question' and 'answer', got {row!r}")
            solution = str(row["answer"])
            final = extract_gsm8k_answer(solution)
            reasoning = re.sub(r"<<.*?>>", "", solution.split("####")[0]).strip()
            out.append(
                {
                    "prompt": f"{system_prompt}\n\nQuestion: {row['question']}\n",
                    "question": str(row["question"]),
                    "answer": final,
                    "solution": solution,
                    "completion": f"<reasoning>\n{reasoning}\n</reasoning>\n<answer>\n{final}\n</answer>",
                }
            )
            if limit is not None and len(out) >= limit:
                break
    if not out:
        raise DataError(f"GSM8K file {str(p)!r} holds no problems")
    return out


def gsm8k_correctness_reward(
    prompts: Sequence[Any], completions: Sequence[str], answer: Sequence[str], **_: Any
) -> list[float]:
    """1.0 when the answer equals the gold one: the ``<answer>`` tag content if present, else the
    last number in the completion (the usual flexible extraction)."""
    out = []
    for c, a in zip(completions, answer, strict=False):
        tag = extract_answer_tag(c)
        pred = normalize_number(tag) if tag is not None else extract_last_number(c)
        out.append(1.0 if pred is not None and pred == normalize_number(a) else 0.0)
    return out


_FORMAT = re.compile(r"^\s*<reasoning>.*?</reasoning>\s*<answer>.*?</answer>\s*$", re.DOTALL)


def gsm8k_format_reward(
    prompts: Sequence[Any], completions: Sequence[str], **_: Any
) -> list[float]:
    """0.1 when the completion is exactly ``<reasoning>...</reasoning><answer>...</answer>``."""
    return [0.1 if _FORMAT.match(c) else 0.0 for c in completions]


def gsm8k_tag_reward(prompts: Sequence[Any], completions: Sequence[str], **_: Any) -> list[float]:
    """0.025 for each of the four tags that occurs exactly once (at most 0.1). OURS: the paper
    mentions tag bonuses without values; this is the common "xml count" bonus."""
    tags = ("<reasoning>", "</reasoning>", "<answer>", "</answer>")
    return [0.025 * sum(c.count(t) == 1 for t in tags) for c in completions]
