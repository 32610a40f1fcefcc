"""The `openai` backend against a mock upstream: names mapped, SSE parsed, errors mapped."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from services.gateway.core.generation import GenerationRequest
from services.gateway.core.openai_backend import OpenAIBackend
from shared.contracts.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from shared.infrastructure.settings import Settings
from shared.models.generation.events import Finished, SamplingParams, TextDelta


def _sse(*chunks: dict) -> bytes:
    return b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"


def _backend(tmp_path: Path, handler) -> OpenAIBackend:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        base_model=str(tmp_path / "no-tokenizer-here"),
        serve_backend="openai",
        upstream_url="http://upstream.test/v1",
        upstream_api_key="upstream-secret",
        upstream_models={"acme-ft": "acme-upstream"},
        max_context_tokens=1000,
    )
    return OpenAIBackend(settings, transport=httpx.MockTransport(handler))


def test_chat_is_forwarded_streaming_with_the_mapped_name(tmp_path: Path):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = _sse(
            {"choices": [{"delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
            {"choices": [{"delta": {"content": "Hel"}, "finish_reason": None}]},
            {"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2}},
        )
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    backend = _backend(tmp_path, handler)
    params = SamplingParams(5, temperature=0.5, seed=9, stop=("END",))
    events = list(
        backend.generate(
            GenerationRequest("acme-ft", params, messages=[{"role": "user", "content": "hi"}])
        )
    )
    assert events == [TextDelta("Hel"), TextDelta("lo"), Finished("stop", 11, 2)]
    sent = json.loads(seen[0].content)
    assert seen[0].url.path == "/v1/chat/completions"
    assert seen[0].headers["Authorization"] == "Bearer upstream-secret"
    assert sent["model"] == "acme-upstream"
    assert sent["stream"] is True
    assert sent["seed"] == 9
    assert sent["stop"] == ["END"]
    assert backend.context_window() == 1000


def test_text_completion_is_forwarded(tmp_path: Path):
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/completions"
        assert json.loads(request.content)["prompt"] == "once"
        body = _sse({"choices": [{"text": " upon", "finish_reason": "length"}]})
        return httpx.Response(200, content=body)

    events = list(
        _backend(tmp_path, handler).generate(
            GenerationRequest("m", SamplingParams(2), prompt="once")
        )
    )
    assert events[0] == TextDelta(" upon")
    assert isinstance(events[-1], Finished)
    assert events[-1].reason == "length"


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, InvalidRequestError), (404, NotFoundError), (500, ServiceUnavailableError)],
)
def test_upstream_errors_become_domain_errors(tmp_path: Path, status: int, error: type):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": {"message": "nope"}})

    with pytest.raises(error):
        _backend(tmp_path, handler).generate(GenerationRequest("m", SamplingParams(2), prompt="x"))


def test_unreachable_upstream_is_503(tmp_path: Path):
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    backend = _backend(tmp_path, handler)
    with pytest.raises(ServiceUnavailableError):
        backend.generate(GenerationRequest("m", SamplingParams(2), prompt="x"))
    with pytest.raises(ServiceUnavailableError):
        backend.check_ready()


def test_mapped_names_are_served_and_others_come_from_the_registry(tmp_path: Path):
    backend = _backend(tmp_path, lambda r: httpx.Response(200, json={"data": []}))
    backend.check_model("acme-ft")
    with pytest.raises(NotFoundError):
        backend.check_model("unknown")
    backend.check_ready()
