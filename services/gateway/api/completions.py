"""`POST /v1/chat/completions` and `POST /v1/completions`: validate, call the core, answer."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue

from services.gateway.api.agent_completions import serve_agent
from services.gateway.api.deps import get_runtime
from services.gateway.api.guards import check_knowledge_base
from services.gateway.api.protocol import ChatCompletionRequest, CompletionRequestBody, parse_body
from services.gateway.api.responses import completion_response
from services.gateway.api.sse import ChunkWriter, stream_events
from services.gateway.core.agents.runner import is_agent_model
from shared.contracts.wire_json import read_json

completions_bp = Blueprint("completions", __name__)


def _serve(body: ChatCompletionRequest | CompletionRequestBody) -> ResponseReturnValue:
    if isinstance(body, ChatCompletionRequest) and is_agent_model(body.model):
        return serve_agent(body)
    if isinstance(body, ChatCompletionRequest) and body.rag is not None:
        check_knowledge_base(body.rag.knowledge_base)
    service = get_runtime().completions
    core_request = body.to_core()
    prepared = service.prepare(core_request)
    if not body.stream:
        answer = completion_response(service.collect(prepared), core_request.kind)
        return jsonify(answer.model_dump(mode="json"))
    writer = ChunkWriter(
        prepared.id, prepared.created, prepared.model, core_request.kind, body.include_usage
    )
    events = stream_events(writer, service.stream(prepared), prepared.citations)
    response = Response(stream_with_context(events), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # proxies must not hold chunks back
    return response


@completions_bp.post("/v1/chat/completions")
def chat_completions() -> ResponseReturnValue:
    """OpenAI chat completions, with optional `rag` (answers carry `citations`)."""
    return _serve(parse_body(ChatCompletionRequest, read_json(request.get_data())))


@completions_bp.post("/v1/completions")
def completions() -> ResponseReturnValue:
    """OpenAI text completions (the prompt is used as given, no chat template)."""
    return _serve(parse_body(CompletionRequestBody, read_json(request.get_data())))
