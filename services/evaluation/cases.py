"""The questions an evaluation asks: read from evaluation-format JSONL, selected, varied.

A case is asked once as written, and once per customer-style variant (`variants` of the
evaluation format: typo, paraphrase, terse, follow_up with earlier `turns`, or any kind a user
brings). Every variant keeps the case's reference answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shared.contracts.errors import InvalidRequestError
from shared.contracts.prompts import Message
from shared.contracts.qa_data import read_qa_file
from shared.contracts.schemas import QACase

QUESTION_TYPES = ("factual", "unanswerable", "multi_hop", "arithmetic")
REASONING_TYPES = ("multi_hop", "arithmetic")


@dataclass(frozen=True)
class Question:
    """One thing to ask: a case as written (`variant` None) or one of its variants."""

    case: QACase
    text: str
    variant: str | None = None  # the variant's kind
    variant_index: int | None = None
    history: tuple[Message, ...] = field(default_factory=tuple)


def read_cases(path: Path) -> list[QACase]:
    """Evaluation-format JSONL; a missing file or a bad line is an error that names it."""
    return read_qa_file(path, param="qa")


def select_cases(
    cases: Sequence[QACase],
    *,
    types: Sequence[str] | None = None,
    ids: set[str] | None = None,
    limit: int | None = None,
) -> list[QACase]:
    """Keep the cases of `types` (and in `ids`), then at most `limit` of them spread evenly over
    the question types (in file order within a type), so a small run still covers every type."""
    if types:
        unknown = sorted(set(types) - set(QUESTION_TYPES))
        if unknown:
            raise InvalidRequestError(
                f"unknown question type(s) {unknown}; the types are {list(QUESTION_TYPES)}",
                param="types",
            )
    chosen = [c for c in cases if (not types or c.type in types) and (ids is None or c.id in ids)]
    if limit is None or limit >= len(chosen):
        return chosen
    queues: dict[str, list[QACase]] = {}
    for case in chosen:
        queues.setdefault(case.type, []).append(case)
    picked: set[str] = set()
    while len(picked) < limit:
        for queue in queues.values():
            if queue and len(picked) < limit:
                picked.add(queue.pop(0).id)
    return [c for c in chosen if c.id in picked]


def questions_of(
    case: QACase, *, variants: bool = True, kinds: Sequence[str] | None = None
) -> list[Question]:
    """The case as written, then its variants (only `kinds` when given)."""
    out = [Question(case, case.question)]
    if not variants:
        return out
    for index, variant in enumerate(case.variants):
        kind = str(variant.get("kind") or "variant")
        if kinds and kind not in kinds:
            continue
        turns = variant.get("turns") or []
        history = tuple({"role": str(t["role"]), "content": str(t["content"])} for t in turns)
        out.append(Question(case, str(variant["question"]), kind, index, history))
    return out


def validation_case_ids(dataset_dir: Path) -> set[str]:
    """Case ids of a dataset's validation split (`validation_groups` of its card.json)."""
    card_path = dataset_dir / "card.json"
    if not card_path.is_file():
        raise InvalidRequestError(f"{dataset_dir} has no card.json: not a dataset folder")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        return {str(group) for group in card["validation_groups"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidRequestError(f"{card_path}: no readable validation_groups ({exc})") from None


def dataset_top_k(dataset_dir: Path) -> int | None:
    """How many sources the dataset's grounded prompts carry (its card's `grounded.top_k`).

    Evaluating with the same depth is what makes served prompts comparable with trained ones.
    """
    card_path = dataset_dir / "card.json"
    if not card_path.is_file():
        return None
    try:
        grounded = json.loads(card_path.read_text(encoding="utf-8")).get("grounded") or {}
        return int(grounded["top_k"]) if grounded.get("top_k") else None
    except (ValueError, TypeError, AttributeError):
        return None
