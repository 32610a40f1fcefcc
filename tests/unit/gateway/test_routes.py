"""The routes over a scripted backend: wire shapes, auth, limits, RAG citations, feedback."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from services.gateway.app import create_app
from shared.contracts.schemas import SearchHit, SearchRequest, SearchResponse
from shared.infrastructure.settings import Settings
from tests.unit.gateway.fakes import ScriptedBackend, fake_runtime

KEY = "unit-key-1"
AUTH = {"Authorization": f"Bearer {KEY}"}


class OneDocRetrieval:
    def search(self, kb: str, request: SearchRequest) -> SearchResponse:
        hit = SearchHit(
            chunk_id="c1",
            doc_id="pricing.md",
            source="kb/pricing.md",
            section="Plans",
            text="The Pro plan costs $12.",
            score=0.8,
        )
        return SearchResponse(hits=[hit])

    def list_collections(self) -> list[dict]:
        return [{"name": "acme", "points": 1}]


def _client(tmp_path: Path, backend: ScriptedBackend | None = None, **settings) -> FlaskClient:
    backend = backend or ScriptedBackend()
    settings.setdefault("api_keys", KEY)
    runtime = fake_runtime(tmp_path, backend, retrieval=OneDocRetrieval(), **settings)
    app = create_app(runtime.settings, runtime=runtime)
    return app.test_client()


def _chat(client: FlaskClient, **body):
    payload = {"model": "base", "messages": [{"role": "user", "content": "hi there"}], **body}
    response = client.post("/v1/chat/completions", json=payload, headers=AUTH)
    response.get_data()
    response.close()  # as a WSGI server does: this gives the concurrency slot back
    return response


def test_chat_completion_shape(tmp_path: Path):
    response = _chat(_client(tmp_path), max_tokens=5)
    assert response.status_code == 200
    body = response.json
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "echo: hi there"}
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    assert "citations" not in body


def test_rag_answer_carries_citations(tmp_path: Path):
    backend = ScriptedBackend()
    response = _chat(_client(tmp_path, backend), rag={"knowledge_base": "acme", "top_k": 2})
    assert response.status_code == 200
    assert response.json["citations"] == [
        {
            "index": 1,
            "chunk_id": "c1",
            "doc_id": "pricing.md",
            "source": "kb/pricing.md",
            "section": "Plans",
            "score": 0.8,
        }
    ]
    sent = backend.requests[0].messages
    assert sent is not None
    assert "The Pro plan costs $12." in sent[-1]["content"]


def test_streamed_chat_is_sse_ending_with_done(tmp_path: Path):
    response = _chat(_client(tmp_path), stream=True, stream_options={"include_usage": True})
    assert response.mimetype == "text/event-stream"
    lines = [line for line in response.get_data(as_text=True).split("\n\n") if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "echo: hi there"
    assert chunks[-1]["usage"]["total_tokens"] == 6


def test_text_completion(tmp_path: Path):
    response = _client(tmp_path).post(
        "/v1/completions", json={"model": "tuned", "prompt": "once upon"}, headers=AUTH
    )
    assert response.json["object"] == "text_completion"
    assert response.json["choices"][0]["text"] == "echo: once upon"


def test_default_max_tokens_and_context_check(tmp_path: Path):
    backend = ScriptedBackend(window=50)
    client = _client(tmp_path, backend, default_max_tokens=2)
    assert _chat(client).json["choices"][0]["message"]["content"] == "echo: hi"
    response = _chat(client, max_tokens=49)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "context_length_exceeded"


def test_models_and_unknown_model(tmp_path: Path):
    client = _client(tmp_path)
    listed = client.get("/v1/models", headers=AUTH).json
    agents = ["agent:research", "agent:calculate", "agent:support"]
    assert [m["id"] for m in listed["data"]] == ["base", "tuned", *agents]
    assert client.get("/v1/models/tuned", headers=AUTH).json["parent"] == "base"
    assert client.get("/v1/models/nope", headers=AUTH).status_code == 404
    assert _chat(client, model="nope").status_code == 404


def test_without_keys_configured_everything_is_open(tmp_path: Path):
    client = _client(tmp_path, api_keys="")
    assert client.get("/v1/models").status_code == 200


def test_every_route_but_health_needs_the_key(tmp_path: Path):
    client = _client(tmp_path)
    for rule in client.application.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<path:model>", "base")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(path, method=method, json={})
            assert response.status_code == (200 if rule.rule == "/health" else 401), path


def test_rate_limit_per_key(tmp_path: Path):
    client = _client(tmp_path, rate_limit_per_minute=2)
    assert client.get("/v1/models", headers=AUTH).status_code == 200
    assert client.get("/v1/models", headers=AUTH).status_code == 200
    limited = client.get("/v1/models", headers=AUTH)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json["error"]["type"] == "rate_limit_error"


def test_concurrency_cap_answers_503_at_once(tmp_path: Path):
    backend = ScriptedBackend()
    backend.gate.clear()  # hold generation: the first request keeps its slot
    client = _client(tmp_path, backend, max_concurrency=1)
    app = client.application
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            lambda: app.test_client().post(
                "/v1/chat/completions",
                json={"model": "base", "messages": [{"role": "user", "content": "slow"}]},
                headers=AUTH,
            )
        )
        while not backend.requests:  # the first request is generating
            threading.Event().wait(0.01)
        second = _chat(client)
        assert second.status_code == 503
        assert second.json["error"]["code"] == "overloaded"
        backend.gate.set()
        done = first.result()
        assert done.status_code == 200
        done.close()
    assert _chat(client).status_code == 200  # the slot was given back


def test_feedback_round_trip(tmp_path: Path):
    client = _client(tmp_path)
    completion_id = _chat(client).json["id"]
    stored = client.post(
        "/v1/feedback",
        json={"completion_id": completion_id, "rating": "down", "correction": "Better."},
        headers=AUTH,
    )
    assert stored.status_code == 201
    missing = client.post("/v1/feedback", json={"completion_id": "x", "rating": "up"}, headers=AUTH)
    assert missing.status_code == 404
    bad = client.post("/v1/feedback", json={"completion_id": "x", "rating": 5}, headers=AUTH)
    assert bad.status_code == 400


def test_ready_and_metrics(tmp_path: Path):
    client = _client(tmp_path)
    ready = client.get("/ready", headers=AUTH).json
    assert ready["checks"] == {"model": "ok", "retrieval": "ok"}
    _chat(client)
    text = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    assert 'finerag_gateway_requests_total{route="/v1/chat/completions",status="200"} 1.0' in text


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_non_object_bodies_are_400(tmp_path: Path, body: bytes):
    response = _client(tmp_path).post(
        "/v1/chat/completions", data=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_app_builds_without_loading_a_model(tmp_path: Path):
    app = create_app(Settings(_env_file=None, data_dir=tmp_path))
    assert app.test_client().get("/health").status_code == 200
