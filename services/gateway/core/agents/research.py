"""The research agent: split the question, retrieve and answer each part with its citations,
compose the answer, then check every cited fact against its source (retry once, else abstain).

    decompose → retrieve → answer_part ─(more parts)→ retrieve …
                             └─(all parts)→ compose → check ─(a fact not in its source)→ compose
    any failed step, a spent budget, or a second failed check → abstain

A chain of parts (the last asks about what an earlier one found) is answered by its last part;
other parts are composed by the model.

Sources are numbered once for the whole run: each part's hits are appended to the list, so a
`[n]` means the same source in every part's answer and in the composed one. A part's search
carries the previous part's answer, so "the price of that product" finds that product.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

from services.gateway.core.agents.grounding import recite, unsupported_facts
from services.gateway.core.agents.steps import (
    AgentState,
    AgentTools,
    StepResult,
    abstain,
    as_node,
    failed,
    hit_record,
)
from shared.contracts.agent_prompts import AgentParseError, decompose_messages, parse_sub_questions
from shared.contracts.prompts import (
    Message,
    Source,
    grounded_messages,
    is_abstention,
    strip_citations,
)

MAX_COMPOSE_ATTEMPTS = 2
# A part that refers back to what an earlier part found.
_FOLLOW_UP = re.compile(r"\b(that|this|those|these|its|it|them|their|the same)\b", re.IGNORECASE)


class ResearchState(AgentState, total=False):
    """The research agent's state."""

    sub_questions: list[str]
    notes: list[dict[str, str]]  # each part's question and answer
    attempts: int
    problems: list[str]


def start(question: str, history: list[Message]) -> dict[str, Any]:
    """The state a new question starts from."""
    return {
        "question": question,
        "history": history,
        "sources": [],
        "sub_questions": [],
        "notes": [],
        "attempts": 0,
        "problems": [],
        "answer": "",
        "status": "",
        "failure": "",
        "spent": 0,
    }


def decompose(state: ResearchState, tools: AgentTools) -> StepResult:
    """The model splits the question; an unreadable split asks the question whole."""
    question = state["question"]
    reply = tools.ask(decompose_messages(question))
    try:
        parts = parse_sub_questions(reply)
    except AgentParseError:
        parts = [question]
    return StepResult({"sub_questions": parts}, input=question, output=parts)


def retrieve(state: ResearchState, tools: AgentTools) -> StepResult:
    """Search for the next part (with the previous part's answer, which names what it found)."""
    notes, sources = state["notes"], state["sources"]
    part = state["sub_questions"][len(notes)]
    query = part if not notes else f"{part} {strip_citations(notes[-1]['answer'])}"
    hits = tools.search(query)
    known = {source["chunk_id"] for source in sources}
    added = [hit_record(hit) for hit in hits if hit.chunk_id not in known]
    return StepResult(
        {"sources": sources + added}, input=query, output=[hit.chunk_id for hit in hits]
    )


def answer_part(state: ResearchState, tools: AgentTools) -> StepResult:
    """The model answers one part from every source so far, after the earlier parts."""
    notes = state["notes"]
    part = state["sub_questions"][len(notes)]
    reply = tools.ask(grounded_messages(part, _sources(state), history=_history(notes)))
    return StepResult(
        {"notes": [*notes, {"question": part, "answer": reply}]}, input=part, output=reply
    )


def compose(state: ResearchState, tools: AgentTools) -> StepResult:
    """The answer to the whole question (a retry asks step by step, facts first).

    Parts are answered in the order they must be, so when the last part asks about what an
    earlier one found ("What is the price of that model?"), its answer answers the question:
    it is taken as it is. Asked to compose instead, the small model declined such chains it
    had answered part by part (11 of 38 multi-hop answers, `benchmarks/agent_finetuned.py`).
    Parts that do not chain (a comparison) are composed by the model."""
    notes, attempts = state["notes"], state.get("attempts", 0) + 1
    last = notes[-1]
    chained = len(notes) == 1 or (
        _FOLLOW_UP.search(last["question"]) is not None and not is_abstention(last["answer"])
    )
    if chained and attempts == 1:
        answer = last["answer"]
    else:
        messages = grounded_messages(
            state["question"],
            _sources(state),
            history=[*state.get("history", []), *_history(notes)],
            step_by_step=attempts > 1,
        )
        answer = tools.ask(messages)
    return StepResult({"answer": answer, "attempts": attempts}, input=attempts, output=answer)


def check(state: ResearchState, _tools: AgentTools) -> StepResult:
    """Every cited fact must be in its source (a fact cited to the wrong source is re-cited
    to the one that states it); out of attempts, the run abstains."""
    answer = state["answer"]
    texts = [source["text"] for source in state["sources"]]
    problems = unsupported_facts(answer, texts)
    update: dict[str, Any] = {"problems": problems}
    repaired = recite(answer, texts) if problems else None
    if repaired is not None and not unsupported_facts(repaired, texts):
        update = {"problems": [], "answer": repaired, "status": "answered"}
        return StepResult(update, input=answer, output=f"re-cited: {repaired}")
    if not problems:
        update["status"] = "abstained" if is_abstention(answer) else "answered"
    elif state.get("attempts", 0) >= MAX_COMPOSE_ATTEMPTS:
        update["failure"] = "cited facts are not in their sources: " + "; ".join(problems)
    return StepResult(update, input=answer, output=problems or "every cited fact is in its source")


def _sources(state: ResearchState) -> list[Source]:
    return [
        Source(text=s["text"], doc_id=s["doc_id"], title=s["title"], section=s["section"])
        for s in state["sources"]
    ]


def _history(notes: list[dict[str, str]]) -> list[Message]:
    turns: list[Message] = []
    for note in notes:
        turns += [
            {"role": "user", "content": note["question"]},
            {"role": "assistant", "content": note["answer"]},
        ]
    return turns


def _unless_failed(then: Callable[[Any], str] | str) -> Callable[[Any], str]:
    def route(state: Any) -> str:
        if failed(state):
            return "abstain"
        return then(state) if callable(then) else then

    return route


def _after_part(state: ResearchState) -> str:
    return "retrieve" if len(state["notes"]) < len(state["sub_questions"]) else "compose"


def _after_check(state: ResearchState) -> str:
    return "compose" if state.get("problems") else END


def build(tools: AgentTools, checkpointer: Any = None) -> Any:
    """The compiled research graph."""
    graph = StateGraph(ResearchState)
    nodes = {
        "decompose": decompose,
        "retrieve": retrieve,
        "answer_part": answer_part,
        "compose": compose,
        "check": check,
    }
    for name, node in nodes.items():
        graph.add_node(name, as_node(name, node, tools))
    graph.add_node("abstain", as_node("abstain", abstain, tools, budgeted=False))
    graph.add_edge(START, "decompose")
    graph.add_conditional_edges("decompose", _unless_failed("retrieve"))
    graph.add_conditional_edges("retrieve", _unless_failed("answer_part"))
    graph.add_conditional_edges("answer_part", _unless_failed(_after_part))
    graph.add_conditional_edges("compose", _unless_failed("check"))
    graph.add_conditional_edges("check", _unless_failed(_after_check))
    graph.add_edge("abstain", END)
    return graph.compile(checkpointer=checkpointer)
