"""Cleaning and splitting a dataset's examples: over-long and duplicate ones out, then the split.

An `Example` carries the group it derives from and every form of its question because the split
needs both: whole groups go to validation, and a training example is dropped when any form of its
question is also a validation question, so no validation question (or a variant) is trained on.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.contracts.chat_data import Message

# Tokens of a rendered conversation (the chat template applied).
TokenCounter = Callable[[Sequence[Message]], int]


@dataclass
class Example:
    """One training conversation and where it came from."""

    messages: list[Message]
    group: str  # the question (or file line) it derives from: the unit of the split
    kind: str  # grounded | unanswerable | abstain_removed | closed_book | chat | alpaca
    question_forms: tuple[str, ...] = ()  # the question and its variants (for leak checks)


@dataclass(frozen=True)
class Split:
    """What cleaning and splitting left, and what it dropped (the data card reports both)."""

    train: list[Example]
    validation: list[Example]
    dropped: dict[str, int]  # too_long, exact_duplicate, near_duplicate, validation_leak
    token_lengths: dict[str, float]  # of the examples that fit; empty when tokens are not counted


def clean_and_split(
    examples: Sequence[Example],
    count_tokens: TokenCounter | None,
    *,
    max_seq_len: int,
    near_duplicate_jaccard: float,
    val_ratio: float,
    seed: int,
) -> Split:
    """Drop over-long examples (when tokens are counted) and duplicates, then split by group."""
    kept = list(examples)
    dropped: dict[str, int] = {"too_long": 0}
    lengths: list[int] = []
    if count_tokens is not None:
        kept, lengths, dropped["too_long"] = _drop_too_long(kept, count_tokens, max_seq_len)
    kept, dropped["exact_duplicate"], dropped["near_duplicate"] = _dedupe(
        kept, near_duplicate_jaccard
    )
    train, validation, dropped["validation_leak"] = _split_by_group(kept, val_ratio, seed)
    return Split(train, validation, dropped, _length_stats(lengths))


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9$%.,]+", " ", text.lower()).strip()


def _shingles(text: str, n: int = 3) -> set[str]:
    words = _normalise(text).split()
    return {" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def _drop_too_long(
    examples: Sequence[Example], count_tokens: TokenCounter, max_seq_len: int
) -> tuple[list[Example], list[int], int]:
    """Drop examples over max_seq_len, never truncate them: a cut conversation loses its target.

    Returns the examples that fit, their token lengths and how many were dropped.
    """
    fitting: list[Example] = []
    lengths: list[int] = []
    too_long = 0
    for example in examples:
        length = count_tokens(example.messages)
        if length > max_seq_len:
            too_long += 1
            continue
        lengths.append(length)
        fitting.append(example)
    return fitting, lengths, too_long


def _dedupe(examples: Sequence[Example], threshold: float) -> tuple[list[Example], int, int]:
    """Drop exact duplicates, then near duplicates (same target, near-identical question)."""
    seen: set[str] = set()
    exact = near = 0
    kept: list[Example] = []
    by_target: dict[str, list[set[str]]] = {}
    for example in examples:
        key = hashlib.sha256(
            json.dumps(example.messages, sort_keys=True).encode("utf-8")
        ).hexdigest()
        if key in seen:
            exact += 1
            continue
        seen.add(key)
        question = next(m["content"] for m in reversed(example.messages) if m["role"] == "user")
        question = question.rsplit("Question:", 1)[-1]
        target = _normalise(example.messages[-1]["content"])
        shingles = _shingles(question)
        bucket = by_target.setdefault(target, [])
        if any(len(shingles & other) / len(shingles | other) >= threshold for other in bucket):
            near += 1
            continue
        bucket.append(shingles)
        kept.append(example)
    return kept, exact, near


def _split_by_group(
    examples: Sequence[Example], val_ratio: float, seed: int
) -> tuple[list[Example], list[Example], int]:
    """Split by group; then drop train examples whose question is a validation form."""
    groups = sorted({e.group for e in examples})
    random.Random(seed).shuffle(groups)
    val_groups = set(groups[: round(len(groups) * val_ratio)])
    validation = [e for e in examples if e.group in val_groups]
    val_forms = {_normalise(f) for e in validation for f in e.question_forms if f}
    train, leaked = [], 0
    for example in examples:
        if example.group in val_groups:
            continue
        if {_normalise(f) for f in example.question_forms if f} & val_forms:
            leaked += 1
            continue
        train.append(example)
    return train, validation, leaked


def _length_stats(lengths: Sequence[int]) -> dict[str, float]:
    if not lengths:
        return {}
    ordered = sorted(lengths)
    return {
        "min": ordered[0],
        "mean": round(statistics.fmean(ordered), 1),
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
    }
