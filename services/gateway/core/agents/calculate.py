"""The calculate agent: extract the quantities with their citations, compute with the
calculator tool, and answer with the working shown.

    retrieve → extract → verify → compute → answer
    any failed step (an extraction that cannot be parsed, a value not in its cited source, a
    number the question never gave, a calculator error) → abstain

The model only reads: it names the numbers and writes the calculation. The arithmetic is the
calculator's (`calculator.evaluate`, exact, no `eval`), so a small model that reads well
answers sums it could not do in its head.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from typing import Any

from langgraph.graph import END, START, StateGraph

from services.gateway.core.agents.calculator import CalculatorError, evaluate, format_result
from services.gateway.core.agents.steps import (
    AgentState,
    AgentTools,
    StepFailed,
    StepResult,
    abstain,
    as_node,
    failed,
    hit_record,
)
from shared.contracts.agent_prompts import (
    AgentParseError,
    Extraction,
    Quantity,
    extract_messages,
    numbers_in,
    parse_extraction,
)
from shared.contracts.prompts import Message, Source, cite, is_abstention

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Numbers a calculation may use without a source: percentages and unit conversions.
_FREE_NUMBERS = {Decimal(1), Decimal(100)}


class CalculateState(AgentState, total=False):
    """The calculate agent's state."""

    quantities: list[dict[str, Any]]
    calculation: str
    result: str


def start(question: str, history: list[Message]) -> dict[str, Any]:
    """The state a new question starts from."""
    return {
        "question": question,
        "history": history,
        "sources": [],
        "quantities": [],
        "calculation": "",
        "result": "",
        "answer": "",
        "status": "",
        "failure": "",
        "spent": 0,
    }


def retrieve(state: CalculateState, tools: AgentTools) -> StepResult:
    """Search the knowledge base for the question."""
    hits = tools.search(state["question"])
    return StepResult(
        {"sources": [hit_record(hit) for hit in hits]},
        input=state["question"],
        output=[hit.chunk_id for hit in hits],
    )


def extract(state: CalculateState, tools: AgentTools) -> StepResult:
    """The model names each number with its citation, and the calculation over them."""
    sources = [
        Source(text=s["text"], doc_id=s["doc_id"], title=s["title"], section=s["section"])
        for s in state["sources"]
    ]
    reply = tools.ask(extract_messages(state["question"], sources))
    if is_abstention(reply):
        raise StepFailed("the sources do not give the numbers (the model abstained)")
    try:
        extraction = parse_extraction(reply)
    except AgentParseError as exc:
        raise StepFailed(f"the extraction cannot be parsed: {exc}") from exc
    quantities = [
        {"name": q.name, "text": q.text, "citation": q.citation} for q in extraction.quantities
    ]
    update = {"quantities": quantities, "calculation": extraction.calculation}
    return StepResult(update, input=state["question"], output=reply)


def verify(state: CalculateState, _tools: AgentTools) -> StepResult:
    """Each value must be written in the source it cites; each other number in the question."""
    extraction = _extraction(state)
    sources = state["sources"]
    for quantity in extraction.quantities:
        if not 1 <= quantity.citation <= len(sources):
            raise StepFailed(f"{quantity.name} cites [{quantity.citation}], which is no source")
        if quantity.value not in numbers_in(sources[quantity.citation - 1]["text"]):
            raise StepFailed(f"{quantity.name} = {quantity.text} is not in [{quantity.citation}]")
    literals = numbers_in(_NAME.sub(" ", extraction.calculation))
    unknown = literals - numbers_in(state["question"]) - _FREE_NUMBERS
    if unknown:
        raise StepFailed(f"the calculation uses numbers from nowhere: {sorted(unknown)}")
    return StepResult({}, input=extraction.calculation, output="every value is in its source")


def compute(state: CalculateState, _tools: AgentTools) -> StepResult:
    """The calculator's result, written in the unit of the quantities."""
    extraction = _extraction(state)
    names = {q.name: q.value for q in extraction.quantities}
    try:
        value = evaluate(extraction.calculation, names)
    except CalculatorError as exc:
        raise StepFailed(f"the calculator refused: {exc}") from exc
    unit = next((q.unit for q in extraction.quantities if q.unit in ("$", "kg", "months")), "")
    result = format_result(value, unit)
    return StepResult({"result": result}, input=extraction.calculation, output=result)


def answer(state: CalculateState, _tools: AgentTools) -> StepResult:
    """The working (each value with its citation, the calculation), then the answer line."""
    extraction = _extraction(state)
    citations = [q.citation for q in extraction.quantities]
    lines = [f"{q.name} = {q.text} [{q.citation}]" for q in extraction.quantities]
    lines.append(f"{extraction.calculation} = {state['result']}")
    lines.append("Answer: " + cite(f"{state['result']}.", citations))
    text = "\n".join(lines)
    return StepResult({"answer": text, "status": "answered"}, output=text)


def _extraction(state: CalculateState) -> Extraction:
    return Extraction(
        [Quantity(q["name"], q["text"], int(q["citation"])) for q in state["quantities"]],
        state["calculation"],
    )


def _unless_failed(then: str) -> Any:
    return lambda state: "abstain" if failed(state) else then


def build(tools: AgentTools, checkpointer: Any = None) -> Any:
    """The compiled calculate graph."""
    graph = StateGraph(CalculateState)
    order = [
        ("retrieve", retrieve),
        ("extract", extract),
        ("verify", verify),
        ("compute", compute),
        ("answer", answer),
    ]
    for name, node in order:
        graph.add_node(name, as_node(name, node, tools))
    graph.add_node("abstain", as_node("abstain", abstain, tools, budgeted=False))
    graph.add_edge(START, "retrieve")
    for (name, _), (following, _) in itertools.pairwise(order):
        graph.add_conditional_edges(name, _unless_failed(following))
    graph.add_conditional_edges("answer", _unless_failed(END))
    graph.add_edge("abstain", END)
    return graph.compile(checkpointer=checkpointer)
