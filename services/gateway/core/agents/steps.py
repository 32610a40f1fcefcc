"""What every agent graph shares: its tools (the model, retrieval), the step records it
returns, its step budget, and the one way a failed step becomes an abstention.

A node is a plain function `(state, tools) -> StepResult`. `as_node` wraps it for LangGraph:
it spends one step of the budget, times the work, records the step (name, input, output) in
the state's `steps`, and turns a `StepFailed` (a model answer that cannot be parsed, a tool
error, a retrieval timeout) into the state's `failure`, which every graph routes to `abstain`.
"""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from shared.contracts.errors import FineRAGError
from shared.contracts.prompts import ABSTENTION, Message
from shared.contracts.schemas import MAX_QUERY_CHARS, SearchHit, SearchRequest
from shared.infrastructure.retrieval_client import RetrievalClient

log = logging.getLogger("finerag.gateway.agents")

MAX_RECORDED_CHARS = 2000  # a step's input and output as returned and logged


class StepFailed(Exception):
    """A step could not do its work; the message says why (it is shown to the caller)."""


class AgentState(TypedDict, total=False):
    """The fields every graph's state has."""

    question: str
    history: list[Message]
    sources: list[dict[str, Any]]  # retrieved hits, numbered [1].. in this order
    answer: str
    status: str  # answered | abstained | waiting | handed_over
    failure: str
    spent: int  # steps of the budget spent in this run
    steps: Annotated[list[dict[str, Any]], operator.add]


@dataclass(frozen=True)
class StepResult:
    """What a node changes in the state, and what its step record shows."""

    update: dict[str, Any]
    input: Any = None
    output: Any = None


@dataclass
class AgentTools:
    """The model (a LangChain chat model) and the knowledge base one run reaches."""

    chat: Any  # a LangChain chat model: ChatOpenAI on the gateway's API, a fake in tests
    retrieval: RetrievalClient | None
    knowledge_base: str | None
    top_k: int = 3
    max_steps: int = 16
    usage: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})

    def ask(self, messages: Sequence[Message]) -> str:
        """The model's reply to `messages`; StepFailed when the call fails."""
        try:
            reply = self.chat.invoke([(m["role"], m["content"]) for m in messages])
        except Exception as exc:  # the model's client raises its own errors; all end the step
            raise StepFailed(f"the model call failed: {type(exc).__name__}: {exc}") from exc
        usage = getattr(reply, "usage_metadata", None) or {}
        self.usage["prompt"] += int(usage.get("input_tokens", 0))
        self.usage["completion"] += int(usage.get("output_tokens", 0))
        return str(reply.content)

    def search(self, query: str) -> list[SearchHit]:
        """The knowledge base's hits for `query`; StepFailed when retrieval fails."""
        if self.retrieval is None or self.knowledge_base is None:
            raise StepFailed("no knowledge base to search (send rag.knowledge_base)")
        request = SearchRequest(query=query.strip()[:MAX_QUERY_CHARS], top_k=self.top_k)
        try:
            return list(self.retrieval.search(self.knowledge_base, request).hits)
        except FineRAGError as exc:
            raise StepFailed(f"retrieval failed: {exc.message}") from exc
        except Exception as exc:  # a timeout or a broken connection of any client
            raise StepFailed(f"retrieval failed: {type(exc).__name__}: {exc}") from exc


Node = Callable[[Any, AgentTools], StepResult]


def as_node(name: str, node: Node, tools: AgentTools, *, budgeted: bool = True) -> Any:
    """`node` as a LangGraph node that spends budget, records its step and never raises
    (`budgeted=False` for the closing steps, which must run when the budget is spent)."""

    def run(state: Any) -> dict[str, Any]:
        spent = int(state.get("spent", 0)) + 1
        started = time.monotonic()
        if budgeted and spent > tools.max_steps:
            reason = f"the step budget of {tools.max_steps} steps is spent"
            result = StepResult({"failure": reason}, output=reason)
            ok = False
        else:
            try:
                result, ok = node(state, tools), True
            except StepFailed as exc:
                result, ok = StepResult({"failure": str(exc)}, output=str(exc)), False
        record = {
            "name": name,
            "input": _clip(result.input),
            "output": _clip(result.output),
            "ok": ok,
            "ms": round((time.monotonic() - started) * 1000, 1),
        }
        return {**result.update, "spent": spent, "steps": [record]}

    return run


def failed(state: Any) -> bool:
    """Whether a step failed (the graph goes to `abstain`)."""
    return bool(state.get("failure"))


def abstain(state: Any, _tools: AgentTools) -> StepResult:
    """The last step after a failure: the template's abstention sentence, no citations."""
    reason = state.get("failure") or "the answer could not be checked against its sources"
    return StepResult(
        {"answer": ABSTENTION, "status": "abstained", "sources": []},
        input=reason,
        output=ABSTENTION,
    )


def hit_record(hit: SearchHit) -> dict[str, Any]:
    """A hit as the state keeps it (plain JSON, for the checkpointer)."""
    return hit.model_dump(mode="json")


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_RECORDED_CHARS:
        return value[:MAX_RECORDED_CHARS] + "…"
    if isinstance(value, list):
        return [_clip(v) for v in value]
    if isinstance(value, dict):
        return {k: _clip(v) for k, v in value.items()}
    return value
