"""Training and serving must not drift: the prompt served for a case against the prompt the
dataset builder wrote for it.

The dataset's examples carry no case id, so an example is found by its question (the text after
the last "Question: " of its user turn) and its target: the grounded example of an answerable
case (target not the abstention), the abstention example of an unanswerable one. Prompts are
compared as rendered text when a tokenizer is at hand (byte-identical), else as messages. A
mismatch is diagnosed: *template differs* when the messages differ outside the sources block
(system prompt, wording) or a passage given in both renders differently (its fence, its
attributes): real drift between training and serving; else *sources differ*: retrieval gave
other passages (the builder brings in the gold document when search misses it, or the knowledge
base changed since the dataset was built).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from shared.contracts import injections
from shared.contracts.errors import InvalidRequestError
from shared.contracts.prompts import (
    ABSTENTION,
    CHAT_TEMPLATE_KWARGS,
    STEP_BY_STEP_INSTRUCTION,
    Message,
)

_SOURCES_BLOCK = re.compile(r"<sources>\n.*?\n</sources>", re.DOTALL)
# Attribute values are quoted and never hold a quote (a section path may hold ">").
_SOURCE = re.compile(r'<source id="\d+"((?:\s+\w+="[^"]*")*)>\n(.*?)\n</source>', re.DOTALL)
_DOC = re.compile(r'\bdoc="([^"]*)"')
MAX_MISMATCHES = 20


class PromptMismatch(BaseModel):
    """One case whose served prompt differs from its training prompt."""

    case_id: str
    reason: str  # "sources differ" | "template differs"
    offset: int = Field(description="First differing character of the compared text.")
    served: str = Field(description="The served text around the difference.")
    dataset: str = Field(description="The dataset's text around the difference.")


class PromptCheck(BaseModel):
    """How the served RAG prompts compare with the dataset builder's."""

    dataset: str
    compared: int = Field(description="Cases found in the dataset and compared.")
    identical: int
    template_identical: int
    missing: int = Field(description="Cases without an example in the dataset (dropped, or "
                         "not in its question set).")  # fmt: skip
    rendered: bool = Field(description="True: rendered prompt text compared byte for byte; "
                           "false: messages compared (no tokenizer).")  # fmt: skip
    mismatches: list[PromptMismatch] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    outcomes: dict[str, tuple[bool, bool]] = Field(
        default_factory=dict, exclude=True, description="case id -> (identical, same template)"
    )


def _question_of(messages: Sequence[Message]) -> str:
    user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    question = user.rsplit("Question: ", 1)[-1]
    return question.removesuffix("\n\n" + STEP_BY_STEP_INSTRUCTION).strip()


def load_dataset_prompts(dataset_dir: Path) -> tuple[dict[tuple[str, bool], list[Message]], dict]:
    """The prompt messages (target removed) of a dataset's examples, keyed by (question,
    target is the abstention); and the dataset card."""
    files = [dataset_dir / "train.jsonl", dataset_dir / "validation.jsonl"]
    if not any(f.is_file() for f in files):
        raise InvalidRequestError(
            f"{dataset_dir}: no train.jsonl or validation.jsonl (not a dataset folder)",
            param="dataset",
        )
    card_path = dataset_dir / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
    prompts: dict[tuple[str, bool], list[Message]] = {}
    for path in files:
        if not path.is_file():
            continue
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                messages = json.loads(line)["messages"]
                target = messages[-1]
                if target["role"] != "assistant":
                    continue
            except (ValueError, KeyError, IndexError, TypeError):
                raise InvalidRequestError(
                    f"{path.name} line {line_no}: not a chat example", param="dataset"
                ) from None
            if any(injections.mentions_a_canary(m["content"]) for m in messages[:-1]):
                continue  # an injection-training example: its sources differ on purpose
            key = (_question_of(messages[:-1]), target["content"].strip() == ABSTENTION)
            prompts.setdefault(key, [dict(m) for m in messages[:-1]])
    return prompts, card


def _first_difference(a: str, b: str) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def _passages(messages: Sequence[Message]) -> dict[tuple[str, str], str]:
    """(doc, text) of every source in the messages -> its attributes as rendered (id aside)."""
    found = {}
    for message in messages:
        for attrs, text in _SOURCE.findall(message["content"]):
            doc = _DOC.search(attrs)
            found[(doc.group(1) if doc else "", text)] = attrs
    return found


def _same_template(served: Sequence[Message], dataset: Sequence[Message]) -> bool:
    """Equal outside the sources, and every passage given in both rendered the same way."""
    if _mask_sources(served) != _mask_sources(dataset):
        return False
    ours, theirs = _passages(served), _passages(dataset)
    return all(ours[key] == theirs[key] for key in ours.keys() & theirs.keys())


def _mask_sources(messages: Sequence[Message]) -> str:
    return json.dumps(
        [
            {**m, "content": _SOURCES_BLOCK.sub("<sources>…</sources>", m["content"])}
            for m in messages
        ]
    )


def check_prompts(
    served: Sequence[tuple[str, str, bool, Sequence[Message]]],
    dataset_dir: Path,
    *,
    render: Callable[[Sequence[Message]], str] | None,
) -> PromptCheck:
    """Compare each served prompt with the dataset's prompt for the same case.

    Args:
        served: (case id, question, answerable, messages) of each RAG prompt as written.
        dataset_dir: the dataset folder (train.jsonl, validation.jsonl, card.json).
        render: renders messages with the chat template; None compares messages.
    """
    prompts, card = load_dataset_prompts(dataset_dir)
    check = PromptCheck(
        dataset=str(dataset_dir),
        compared=0,
        identical=0,
        template_identical=0,
        missing=0,
        rendered=render is not None,
    )
    kwargs = card.get("chat_template_kwargs")
    if kwargs is not None and kwargs != CHAT_TEMPLATE_KWARGS:
        check.notes.append(
            f"the dataset was rendered with chat_template_kwargs {kwargs}, serving uses "
            f"{CHAT_TEMPLATE_KWARGS}"
        )
    for case_id, question, answerable, messages in served:
        expected = prompts.get((question.strip(), not answerable))
        if expected is None:
            check.missing += 1
            continue
        check.compared += 1
        ours = render(messages) if render else json.dumps(list(messages))
        theirs = render(expected) if render else json.dumps(expected)
        if ours.encode("utf-8") == theirs.encode("utf-8"):
            check.identical += 1
            check.template_identical += 1
            check.outcomes[case_id] = (True, True)
            continue
        same_template = _same_template(messages, expected)
        check.template_identical += same_template
        check.outcomes[case_id] = (False, same_template)
        if len(check.mismatches) < MAX_MISMATCHES:
            at = _first_difference(ours, theirs)
            check.mismatches.append(
                PromptMismatch(
                    case_id=case_id,
                    reason="sources differ" if same_template else "template differs",
                    offset=at,
                    served=ours[max(0, at - 60) : at + 100],
                    dataset=theirs[max(0, at - 60) : at + 100],
                )
            )
    return check
