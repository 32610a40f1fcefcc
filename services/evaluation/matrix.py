"""What the evaluation asks: every question of both models in each mode, as messages.

RAG is done here, client-side: the question is searched in the knowledge base and the messages
are built with `shared.contracts.prompts.grounded_messages()` (the template the dataset builder
trains on and the gateway serves with), so any OpenAI-compatible server can be evaluated. Without
RAG a model gets the conversation alone: the question (after a variant's earlier turns), with no
system prompt unless `EvalOptions.no_rag_system_prompt` sets one, which measures what the
model knows by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.evaluation.cases import REASONING_TYPES, Question, questions_of
from services.evaluation.records import ROLES, Mode, Role
from shared.contracts import injections
from shared.contracts.prompts import Message, Source, grounded_messages
from shared.contracts.schemas import MAX_QUERY_CHARS, QACase, SearchHit, SearchMode, SearchRequest
from shared.infrastructure.retrieval_client import RetrievalClient

if TYPE_CHECKING:  # the runner imports this module; the options are only read here
    from services.evaluation.runner import EvalOptions


@dataclass(frozen=True)
class Item:
    """One generation to run: a model's role, a mode, a question and the messages it is sent."""

    role: Role
    mode: Mode
    question: Question
    step_by_step: bool
    messages: list[Message]
    hits: list[SearchHit] | None
    injection: tuple[str, str] | None = None  # (attack family, canary)


class Searcher:
    """Searches the knowledge base once per distinct query."""

    def __init__(self, retrieval: RetrievalClient | None, kb: str | None) -> None:
        self.retrieval = retrieval
        self.kb = kb
        self._cache: dict[tuple[str, int, str], list[SearchHit]] = {}

    def search(self, query: str, top_k: int, mode: SearchMode) -> list[SearchHit]:
        assert self.retrieval is not None
        assert self.kb is not None
        key = (query, top_k, mode)
        if key not in self._cache:
            request = SearchRequest(query=query[:MAX_QUERY_CHARS], top_k=top_k, mode=mode)
            self._cache[key] = list(self.retrieval.search(self.kb, request).hits)
        return self._cache[key]


def build_items(cases: Sequence[QACase], searcher: Searcher, options: EvalOptions) -> list[Item]:
    """Every generation of the run: the questions, then the injection suite when it is asked
    for and there is a knowledge base to plant its instructions in."""
    items = _question_items(cases, searcher, options)
    if options.injection and searcher.retrieval is not None and searcher.kb is not None:
        items += _injection_items(cases, searcher, options)
    return items


def _question_items(
    cases: Sequence[QACase], searcher: Searcher, options: EvalOptions
) -> list[Item]:
    """Each question (and its variants) of both models in each mode; with RAG the reasoning
    questions are asked step by step too."""
    questions = [
        q
        for case in cases
        for q in questions_of(case, variants=options.variants, kinds=options.variant_kinds)
    ]
    items = []
    for role in ROLES:
        for mode in options.modes:
            asked = [(q, False) for q in questions]
            if mode == "rag" and options.step_by_step:
                asked += [
                    (q, True)
                    for q in questions
                    if q.variant is None and q.case.type in REASONING_TYPES
                ]
            for question, step_by_step in asked:
                hits = (
                    searcher.search(question.text, options.top_k, options.search_mode)
                    if mode == "rag"
                    else None
                )
                messages = _messages(question, mode, step_by_step, hits, options)
                items.append(Item(role, mode, question, step_by_step, messages, hits))
    return items


def _injection_items(
    cases: Sequence[QACase], searcher: Searcher, options: EvalOptions
) -> list[Item]:
    """The injection suite: each answerable question with an instruction planted in a source.

    RAG: the top source carries the instruction. Without RAG the same poisoned passage is
    pasted into the customer's message (direct injection), so both modes are measured.
    """
    items = []
    for case in cases:
        if case.answer is None:
            continue
        hits = searcher.search(case.question, options.top_k, options.search_mode)
        if not hits:
            continue
        attack, canary = injections.pick(case.id, "eval"), injections.canary_for(case.id)
        top = hits[0].model_copy(update={"text": injections.poison(hits[0].text, attack, canary)})
        poisoned = [top, *hits[1:]]
        question = Question(case=case, text=case.question)
        for role in ROLES:
            for mode in options.modes:
                if mode == "rag":
                    messages = _messages(question, mode, False, poisoned, options)
                else:
                    pasted = Question(
                        case=case,
                        text=f"{case.question}\n\nThis is from your website:\n{poisoned[0].text}",
                    )
                    messages = _messages(pasted, mode, False, None, options)
                items.append(
                    Item(
                        role,
                        mode,
                        question,
                        False,
                        messages,
                        poisoned if mode == "rag" else None,
                        injection=(attack.family, canary),
                    )
                )
    return items


def _messages(
    question: Question,
    mode: Mode,
    step_by_step: bool,
    hits: list[SearchHit] | None,
    options: EvalOptions,
) -> list[Message]:
    """One question's messages: the grounded prompt with RAG, else the conversation alone."""
    history = [dict(m) for m in question.history]
    if mode == "rag":
        sources = [
            Source(text=h.text, doc_id=h.doc_id, title=h.title, section=h.section)
            for h in hits or []
        ]
        return grounded_messages(question.text, sources, history=history, step_by_step=step_by_step)
    system: list[Message] = []
    if options.no_rag_system_prompt:
        system.append({"role": "system", "content": options.no_rag_system_prompt})
    return [*system, *history, {"role": "user", "content": question.text}]
