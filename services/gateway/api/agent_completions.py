"""Agent models (`agent:<graph>`) on `POST /v1/chat/completions`: the whole answer with its
steps, or a stream with one chunk per step as it finishes, then the answer."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from flask import Response, g, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from services.gateway.api.deps import get_runtime
from services.gateway.api.guards import check_knowledge_base, trade_slot_for
from services.gateway.api.protocol import ChatCompletionRequest
from services.gateway.api.responses import (
    AgentStep,
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    CompletionUsage,
    citations_of,
)
from services.gateway.api.sse import DONE, ChunkWriter, sse_event
from services.gateway.core.agents.runner import AgentAnswer, PreparedAgentRun


def serve_agent(body: ChatCompletionRequest) -> ResponseReturnValue:
    """Run the agent the request names; its model steps call this gateway back."""
    if body.rag is not None:
        check_knowledge_base(body.rag.knowledge_base)
    agents = get_runtime().agents
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    api_key = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    prepared = agents.prepare(body.to_agent(request.host_url, api_key, g.get("request_id")))
    trade_slot_for(agents.limit)
    if not body.stream:
        try:
            *_, answer = agents.run(prepared)
        finally:
            agents.limit.release()
        assert isinstance(answer, AgentAnswer)
        return jsonify(agent_completion(prepared, answer).model_dump(mode="json"))
    events = agent_stream(prepared, agents.run(prepared), body.include_usage)
    response = Response(stream_with_context(events), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    response.call_on_close(agents.limit.release)
    return response


def agent_completion(prepared: PreparedAgentRun, answer: AgentAnswer) -> ChatCompletion:
    """The whole answer, with the run's steps, thread and status."""
    return ChatCompletion(
        id=prepared.id,
        created=prepared.created,
        model=prepared.model,
        choices=[ChatChoice(message=AssistantMessage(content=answer.text), finish_reason="stop")],
        usage=_usage(answer),
        citations=citations_of(answer.citations),
        steps=[AgentStep.model_validate(step) for step in answer.steps],
        thread_id=answer.thread_id,
        agent_status=answer.status,
    )


def agent_stream(
    prepared: PreparedAgentRun,
    events: Iterable[dict[str, Any] | AgentAnswer],
    include_usage: bool,
) -> Iterator[str]:
    """SSE: the role (and thread), a chunk per step, the answer, its end with the citations."""
    writer = ChunkWriter(prepared.id, prepared.created, prepared.model, "chat", include_usage)

    def send(chunk: Any) -> str:
        return sse_event(chunk.model_dump(mode="json"))

    first = writer.chunk(text="", role=True)
    first.thread_id = prepared.thread_id  # type: ignore[union-attr]
    yield send(first)
    for event in events:
        if isinstance(event, dict):
            chunk = writer.chunk()
            chunk.finerag_step = AgentStep.model_validate(event)  # type: ignore[union-attr]
            yield send(chunk)
            continue
        yield send(writer.chunk(text=event.text))
        last = writer.chunk(finish_reason="stop", citations=citations_of(event.citations))
        last.thread_id = event.thread_id  # type: ignore[union-attr]
        last.agent_status = event.status  # type: ignore[union-attr]
        yield send(last)
        if include_usage:
            yield send(writer.usage_chunk(event.usage))
    yield DONE


def _usage(answer: AgentAnswer) -> CompletionUsage:
    return CompletionUsage.of(answer.usage)
