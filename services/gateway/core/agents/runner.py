"""Agents served as models: `agent:<graph>` (on the base model) or `agent:<graph>@<model>` (on
any served model, a fine-tuned one included) on /v1/chat/completions.

A run builds the graph with its tools — LangChain's ChatOpenAI pointed at the gateway's own
OpenAI-compatible API (so every model step gets the same model selection, batching and limits as
any client) and the shared retrieval client — and streams LangGraph's per-node updates: each step
is yielded (and logged with the request id) as it finishes, then the answer. A conversation is a
thread id: a paused run (the support case asking for a date) resumes when the next message
arrives on the same thread, from the checkpointer, in this process or a restarted one. Whatever
goes wrong inside a run ends in the abstention sentence, never an exception to the route.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from langgraph.errors import GraphRecursionError
from langgraph.types import Command

from services.gateway.core.agents import calculate, research, support
from services.gateway.core.agents.steps import AgentTools
from services.gateway.core.catalog import resolve_alias
from services.gateway.core.concurrency import ConcurrencyLimit
from services.gateway.core.generation import Backend, ModelInfo
from services.gateway.core.rag import Citation
from services.gateway.core.serving import Usage
from shared.contracts.errors import InvalidRequestError, NotFoundError
from shared.contracts.prompts import ABSTENTION, Message
from shared.infrastructure.retrieval_client import RetrievalClient
from shared.infrastructure.settings import Settings

log = logging.getLogger("finerag.gateway.agents")

AGENT_PREFIX = "agent:"
GRAPHS: dict[str, ModuleType] = {"research": research, "calculate": calculate, "support": support}


def is_agent_model(model: str) -> bool:
    """Whether a request's `model` names an agent."""
    return model.startswith(AGENT_PREFIX)


@dataclass(frozen=True)
class AgentRequest:
    """One agent request: the conversation, its knowledge base and thread, and where the
    model steps go (`gateway_url`, with `api_key`)."""

    model: str
    messages: list[Message]
    knowledge_base: str | None
    thread_id: str | None
    gateway_url: str
    api_key: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class PreparedAgentRun:
    """A checked agent request: which graph, on which model, on which thread."""

    id: str
    created: int
    model: str
    graph: str
    inner_model: str
    thread_id: str
    request: AgentRequest


@dataclass
class AgentAnswer:
    """The end of a run: the answer (or the question a paused run asks) and how it went."""

    text: str
    status: str  # answered | abstained | waiting | handed_over
    thread_id: str
    citations: list[Citation]
    steps: list[dict[str, Any]]
    usage: Usage
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class AgentService:
    """Runs the agent graphs for the completions route."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        *,
        retrieval: RetrievalClient | None,
        checkpointer: Any,
    ) -> None:
        self._settings = settings
        self._backend = backend
        self._retrieval = retrieval
        self._checkpointer = checkpointer
        self.limit = ConcurrencyLimit(settings.agent_max_concurrency)

    def list_models(self) -> list[ModelInfo]:
        """One model per graph, on the base model."""
        base = self._settings.base_model
        return [ModelInfo(id=f"{AGENT_PREFIX}{name}", parent=base) for name in GRAPHS]

    def prepare(self, request: AgentRequest) -> PreparedAgentRun:
        """Check the graph, the model it runs on and the conversation.

        Raises:
            NotFoundError: no such graph, or the model after `@` is not served.
            InvalidRequestError: no knowledge base, or the last message is not the user's.
        """
        graph, _, inner = request.model[len(AGENT_PREFIX) :].partition("@")
        if graph not in GRAPHS:
            raise NotFoundError(
                f"The model {request.model!r} does not exist; agents are "
                f"{', '.join(AGENT_PREFIX + g for g in GRAPHS)}.",
                param="model",
                code="model_not_found",
            )
        inner = resolve_alias(self._settings, inner or self._settings.base_model)
        self._backend.check_model(inner)
        if request.knowledge_base is None:
            raise InvalidRequestError(
                "An agent needs a knowledge base: send rag.knowledge_base.", param="rag"
            )
        if not request.messages or request.messages[-1]["role"] != "user":
            raise InvalidRequestError("The last message must be the user's.", param="messages")
        return PreparedAgentRun(
            id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
            created=int(time.time()),
            model=request.model,
            graph=graph,
            inner_model=inner,
            thread_id=request.thread_id or f"thread-{uuid.uuid4().hex[:20]}",
            request=request,
        )

    def run(self, prepared: PreparedAgentRun) -> Iterator[dict[str, Any] | AgentAnswer]:
        """Each step as it finishes, then the AgentAnswer; never raises."""
        started = time.monotonic()
        tools = self._tools(prepared)
        steps: list[dict[str, Any]] = []
        try:
            for step in self._stream(prepared, tools):
                steps.append(step)
                yield step
            answer = self._answer(prepared, tools, steps)
        except GraphRecursionError:
            answer = self._abstention(prepared, tools, steps, "the step budget is spent")
        except Exception as exc:  # a bug or a broken checkpointer: still an answer, never a 500
            log.exception("agent run failed", extra={"thread_id": prepared.thread_id})
            answer = self._abstention(prepared, tools, steps, f"{type(exc).__name__}: {exc}")
        answer.seconds = round(time.monotonic() - started, 3)
        log.info(
            "agent answered",
            extra={
                "agent": prepared.graph,
                "thread_id": prepared.thread_id,
                "status": answer.status,
                "steps": len(steps),
                "seconds": answer.seconds,
            },
        )
        yield answer

    def _graph(self, prepared: PreparedAgentRun, tools: AgentTools) -> tuple[Any, dict[str, Any]]:
        graph = GRAPHS[prepared.graph].build(tools, self._checkpointer)
        config = {
            "configurable": {"thread_id": prepared.thread_id},
            # LangGraph's own guard, past ours (as_node's budget): a loop can never run on.
            "recursion_limit": 2 * self._settings.agent_max_steps + 10,
        }
        return graph, config

    def _stream(self, prepared: PreparedAgentRun, tools: AgentTools) -> Iterator[dict[str, Any]]:
        graph, config = self._graph(prepared, tools)
        messages = prepared.request.messages
        question = messages[-1]["content"]
        if graph.get_state(config).interrupts:  # the thread waits for this message
            start: Any = Command(resume=question)
        else:
            history = [m for m in messages[:-1] if m["role"] in ("user", "assistant")]
            start = GRAPHS[prepared.graph].start(question, history)
        for update in graph.stream(start, config, stream_mode="updates"):
            for node, delta in update.items():
                if node.startswith("__") or not isinstance(delta, dict):
                    continue  # "__interrupt__": the pause, read from the state below
                for step in delta.get("steps", []):
                    log.info(
                        "agent step",
                        extra={
                            "agent": prepared.graph,
                            "thread_id": prepared.thread_id,
                            # Prefixed: a step's "name" would overwrite the log record's own.
                            **{f"step_{key}": value for key, value in step.items()},
                        },
                    )
                    yield step

    def _answer(
        self, prepared: PreparedAgentRun, tools: AgentTools, steps: list[dict[str, Any]]
    ) -> AgentAnswer:
        graph, config = self._graph(prepared, tools)
        state = graph.get_state(config)
        values = state.values
        if state.interrupts:
            ask = state.interrupts[0].value
            text = str(ask.get("ask") if isinstance(ask, dict) else ask)
            status = "waiting"
        else:
            text = str(values.get("answer") or ABSTENTION)
            status = str(values.get("status") or "abstained")
        extra = {"decision": values["decision"]} if values.get("decision") else {}
        return AgentAnswer(
            text=text,
            status=status,
            thread_id=prepared.thread_id,
            citations=_citations(values.get("sources", [])),
            steps=steps,
            usage=Usage(tools.usage["prompt"], tools.usage["completion"]),
            extra=extra,
        )

    def _abstention(
        self, prepared: PreparedAgentRun, tools: AgentTools, steps: list[dict[str, Any]], why: str
    ) -> AgentAnswer:
        steps.append({"name": "abstain", "input": why, "output": ABSTENTION, "ok": False, "ms": 0})
        usage = Usage(tools.usage["prompt"], tools.usage["completion"])
        return AgentAnswer(ABSTENTION, "abstained", prepared.thread_id, [], steps, usage)

    def _tools(self, prepared: PreparedAgentRun) -> AgentTools:
        return AgentTools(
            chat=self._chat_model(prepared),
            retrieval=self._retrieval,
            knowledge_base=prepared.request.knowledge_base,
            top_k=self._settings.agent_top_k,
            max_steps=self._settings.agent_max_steps,
        )

    def _chat_model(self, prepared: PreparedAgentRun) -> Any:
        """ChatOpenAI on the gateway's API, greedy, one try per step (a failure is a step's)."""
        from langchain_openai import ChatOpenAI

        settings, request = self._settings, prepared.request
        key = settings.agent_api_key.get_secret_value() if settings.agent_api_key else None
        base = (settings.agent_gateway_url or request.gateway_url).rstrip("/")
        headers = {"X-Request-ID": request.request_id} if request.request_id else {}
        return ChatOpenAI(
            model=prepared.inner_model,
            base_url=base if base.endswith("/v1") else f"{base}/v1",
            api_key=key or request.api_key or "unused",
            temperature=0,
            seed=0,
            max_tokens=settings.agent_step_max_tokens,
            timeout=settings.request_timeout_s,
            max_retries=0,
            default_headers=headers,
        )


def _citations(sources: list[dict[str, Any]]) -> list[Citation]:
    return [
        Citation(
            index,
            s["chunk_id"],
            s["doc_id"],
            s["source"],
            s.get("section") or s.get("title", ""),
            float(s["score"]),
        )
        for index, s in enumerate(sources, start=1)
    ]
