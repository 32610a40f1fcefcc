"""The OpenAI-compatible chat client over a mock transport: replies, finish reasons, errors."""

from __future__ import annotations

import json

import httpx
import pytest

from services.evaluation.chat_clients import ChatRequest, HttpChatClient, openai_base_url
from shared.contracts.errors import AuthenticationError, NotFoundError, ServiceUnavailableError

MESSAGES = [{"role": "user", "content": "How much is the Aurora X2?"}]


def _client(handler, **kwargs) -> HttpChatClient:
    return HttpChatClient("http://gw:8000", transport=httpx.MockTransport(handler), **kwargs)


def _completion(text: str, reason: str) -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": reason}]}  # fmt: skip


def test_base_urls():
    assert openai_base_url("http://gw:8000") == "http://gw:8000/v1"
    assert openai_base_url("http://vllm:8000/v1/") == "http://vllm:8000/v1"


def test_greedy_requests_and_finish_reasons_in_order():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer k"
        reason = "length" if body["model"] == "base" else "stop"
        return httpx.Response(200, json=_completion(f"from {body['model']}", reason))

    client = _client(handler, api_key="k", concurrency=3)
    results = client.complete(
        [ChatRequest("tuned", MESSAGES, 16), ChatRequest("base", MESSAGES, 16)] * 3
    )
    assert [(r.text, r.finish_reason) for r in results] == [
        ("from tuned", "stop"), ("from base", "length"),
    ] * 3  # fmt: skip
    assert all(b["temperature"] == 0 and b["max_tokens"] == 16 for b in seen)
    assert seen[0]["messages"] == MESSAGES


def test_a_request_the_server_refuses_is_an_error_result_not_a_crash():
    def handler(request: httpx.Request) -> httpx.Response:
        error = {"error": {"message": "over the context", "type": "invalid_request_error"}}
        return httpx.Response(400, json=error)

    [result] = _client(handler).complete([ChatRequest("m", MESSAGES, 8)])
    assert result.finish_reason == "error"
    assert result.error == "HTTP 400: over the context"


def test_server_errors_are_retried_then_reported():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            return httpx.Response(503, text="busy")
        return httpx.Response(200, json=_completion("ok", "stop"))

    [result] = _client(handler, retries=2).complete([ChatRequest("m", MESSAGES, 8)])
    assert result.text == "ok"
    assert len(calls) == 3
    calls.clear()
    [failed] = _client(lambda r: httpx.Response(500, text="down"), retries=1).complete(
        [ChatRequest("m", MESSAGES, 8)]
    )
    assert failed.finish_reason == "error"
    assert "HTTP 500" in (failed.error or "")


def test_unknown_models_and_bad_keys_stop_the_run():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "base"}, {"id": "tuned"}]})
        return httpx.Response(404, json={"error": {"message": "The model 'x' does not exist."}})

    client = _client(handler)
    client.check_models(["base", "tuned"])
    with pytest.raises(NotFoundError, match=r"does not serve the model 'x'; it serves \['base'"):
        client.check_models(["x"])
    with pytest.raises(NotFoundError, match="does not exist"):
        client.complete([ChatRequest("x", MESSAGES, 8)])
    with pytest.raises(AuthenticationError):
        _client(lambda r: httpx.Response(401, json={"error": {"message": "no"}})).list_models()


def test_an_unreachable_endpoint_is_a_clear_error():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(ServiceUnavailableError, match="unreachable"):
        _client(handler).check_models(["m"])
