"""Training examples of the agents' own steps, so the adapter that serves them learns them.

A case with known sub-tasks (the sample domain's multi-hop and arithmetic questions carry them)
gives the research agent's decomposition and the calculate agent's extraction, in the exact
prompts and answer formats the agents use (`shared.contracts.agent_prompts`): the same adapter gets
better at the steps it is asked to do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shared.contracts.agent_prompts import (
    Extraction,
    Quantity,
    decompose_messages,
    extract_messages,
    format_extraction,
    format_sub_questions,
)
from shared.contracts.prompts import Message, Source
from shared.contracts.schemas import QACase, SearchHit

SourcesFor = Callable[[QACase], tuple[list[SearchHit], list[int]]]


def subtask_examples(
    case: QACase, sources_for: SourcesFor, questions: Sequence[str] = (), orders: int = 1
) -> list[tuple[list[Message], str]]:
    """(messages with the target answer, kind) for each sub-task the case knows, asked as each
    of `questions` (phrasings of the case's question; default: the question as written).

    `orders`: each extraction also over its sources rotated (up to one order per source), so
    each value is cited from other positions: the model learns to find the value wherever the
    search put it, not the position the one order had. Each order cites other numbers, so no
    two of its examples have the same target (the builder drops near duplicates)."""
    subtasks = case.subtasks
    if subtasks is None:
        return []
    phrasings = list(dict.fromkeys(q for q in questions if q.strip())) or [case.question]
    examples: list[tuple[list[Message], str]] = []
    if subtasks.sub_questions:
        target = format_sub_questions(subtasks.sub_questions)
        for question in phrasings:
            messages = decompose_messages(question)
            examples.append(
                ([*messages, {"role": "assistant", "content": target}], "agent_decompose")
            )
    if subtasks.calculation and subtasks.quantities:
        hits, _ = sources_for(case)
        for shift in range(max(1, min(orders, len(hits)))):
            rotated = hits[shift:] + hits[:shift]
            for question in phrasings:
                extraction = _extraction(case, rotated, question)
                if extraction is None:
                    return examples
                examples.append((extraction, "agent_extract"))
    return examples


def _extraction(case: QACase, hits: Sequence[SearchHit], question: str) -> list[Message] | None:
    """The extract step over `hits` (the case's grounded sources), each value cited where a
    source states it; None when a value is in none of them (no example, not a wrong citation)."""
    assert case.subtasks is not None
    assert case.subtasks.calculation is not None
    quantities = []
    for wanted in case.subtasks.quantities:
        index = next(
            (
                i
                for i, hit in enumerate(hits, start=1)
                if hit.doc_id == wanted.doc_id and wanted.text in hit.text
            ),
            None,
        )
        if index is None:
            return None
        quantities.append(Quantity(wanted.name, wanted.text, index))
    sources = [Source(text=h.text, doc_id=h.doc_id, title=h.title, section=h.section) for h in hits]
    target = format_extraction(Extraction(quantities, case.subtasks.calculation))
    messages = extract_messages(question, sources)
    return [*messages, {"role": "assistant", "content": target}]
